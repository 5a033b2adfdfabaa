//! The controller's Kubernetes client lets go of the connections a burst opened: no more
//! than its cap stay idle, none once idle past its timeout, and it still answers after.
//! Connections are counted by a TCP relay between the client and the bed's apiserver.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ListParams};
use tokio::net::{TcpListener, TcpStream};
use trailwarden::k8s::client::{self, IdleConnections};

use crate::support::{self, eventually};

/// Requests sent at once: far more connections than either cap below keeps.
const BURST: usize = 32;

#[tokio::test]
async fn idle_apiserver_connections_beyond_the_cap_are_closed() {
    let relay = Relay::to_bed_apiserver().await;
    let idle = IdleConnections { timeout: Duration::from_secs(3600), max: 2 };
    let kube = client::build(relay.config().await, idle).expect("client");
    burst(&kube).await;
    assert!(relay.peak() > idle.max, "the burst opened {} connections, not more than the cap; nothing was tested", relay.peak());
    eventually("the connections beyond the cap are closed", Duration::from_secs(30), || async {
        (relay.open() <= idle.max).then_some(())
    })
    .await;
}

#[tokio::test]
async fn apiserver_connections_idle_past_the_timeout_are_closed_and_the_client_still_answers() {
    let relay = Relay::to_bed_apiserver().await;
    let idle = IdleConnections { timeout: Duration::from_secs(1), ..IdleConnections::DEFAULT };
    let kube = client::build(relay.config().await, idle).expect("client");
    burst(&kube).await;
    assert!(relay.peak() > 1, "the burst opened {} connection; nothing was tested", relay.peak());
    eventually("every idle connection is closed", Duration::from_secs(30), || async { (relay.open() == 0).then_some(()) }).await;
    Api::<Namespace>::all(kube).list(&ListParams::default().limit(1)).await.expect("a request after the pool emptied");
}

async fn burst(kube: &kube::Client) {
    let namespaces: Api<Namespace> = Api::all(kube.clone());
    let one = ListParams::default().limit(1);
    let requests = (0..BURST).map(|_| namespaces.list(&one));
    for answer in futures::future::join_all(requests).await {
        answer.expect("list namespaces through the relay");
    }
}

/// A TCP relay to the bed's apiserver that counts the connections open through it.
struct Relay {
    address: std::net::SocketAddr,
    open: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

impl Relay {
    async fn to_bed_apiserver() -> Self {
        support::kube().await;
        let upstream = bed_config().await.cluster_url;
        let upstream = format!("{}:{}", upstream.host().expect("apiserver host"), upstream.port_u16().expect("apiserver port"));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("relay listens");
        let relay = Self { address: listener.local_addr().expect("relay address"), open: Arc::default(), peak: Arc::default() };
        let (open, peak) = (relay.open.clone(), relay.peak.clone());
        tokio::spawn(async move {
            while let Ok((mut down, _)) = listener.accept().await {
                let now = open.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                let (open, upstream) = (open.clone(), upstream.clone());
                tokio::spawn(async move {
                    if let Ok(mut up) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
                    }
                    open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        relay
    }

    /// The bed's kubeconfig, aimed at the relay (the same host, so TLS still verifies).
    async fn config(&self) -> kube::Config {
        let mut config = bed_config().await;
        config.cluster_url = format!("https://{}", self.address).parse().expect("relay URL");
        config
    }

    fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
}

async fn bed_config() -> kube::Config {
    kube::Config::infer().await.expect("the bed's kubeconfig")
}
