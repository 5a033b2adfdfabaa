//! The apiserver out of reach. A leader cut off from it stops at its renew deadline —
//! reconciles in flight included — before the standby may take the lease, so the AWS
//! writes of the two never overlap. A single replica rides an outage out: it keeps
//! healing from what it knows, and resumes watching when the apiserver is back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::api::{Api, PostParams};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use trailwarden::api::TrailPolicy;
use trailwarden::aws::AwsPort;

use crate::replica::{Replica, WAIT, account_with_bucket, policy, wait_synced};
use crate::support::{self, eventually};

/// A TCP proxy between one replica and the apiserver. Down, it drops every connection
/// and every new one at once, as a partition or a stopped apiserver would; up again, it
/// relays as before.
struct Link {
    port: u16,
    up: Arc<AtomicBool>,
    relays: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Link {
    async fn to(target: String) -> Link {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let relays: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (is_up, registry) = (up.clone(), relays.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !is_up.load(Ordering::SeqCst) {
                    continue; // dropped: the connection closes at once
                }
                let target = target.clone();
                let relay = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                registry.lock().unwrap().push(relay);
            }
        });
        Link { port, up, relays }
    }

    fn down(&self) {
        self.up.store(false, Ordering::SeqCst);
        for relay in self.relays.lock().unwrap().drain(..) {
            relay.abort();
        }
    }

    fn up(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// The bed's kubeconfig with the apiserver reached through `link`; returns its path.
fn kubeconfig_through(link: &Link) -> (String, String) {
    let path = std::env::var("KUBECONFIG").unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let server = text.lines().find_map(|l| l.trim().strip_prefix("server: https://")).expect("server line").to_owned();
    let through = text.replace(&format!("server: https://{server}"), &format!("server: https://127.0.0.1:{}", link.port));
    let out = format!("{}/{}.kubeconfig", std::env::var("TRAILWARDEN_BED_DIR").unwrap(), support::unique_name("partition"));
    std::fs::write(&out, through).unwrap();
    (out, server)
}

#[tokio::test]
async fn a_leader_cut_off_from_the_apiserver_stops_writing_before_another_starts() {
    let client = support::kube().await;
    let aws = support::aws().await;
    let apiserver = std::fs::read_to_string(std::env::var("KUBECONFIG").unwrap()).unwrap();
    let target = apiserver.lines().find_map(|l| l.trim().strip_prefix("server: https://")).unwrap().to_owned();
    let link = Link::to(target).await;
    let (kubeconfig, _) = kubeconfig_through(&link);
    let label = support::unique_name("partition");
    let lease = support::unique_name("lease");
    let args = [
        "--leader-election", "--lease-name", &lease, "--lease-namespace", "default",
        "--lease-duration-seconds", "6", "--lease-renew-deadline-seconds", "3",
    ];
    let mut old = Replica::start_with(&format!("{label}-old"), &label, &args, &[("KUBECONFIG", &kubeconfig)]);
    eventually("the first replica leads", WAIT, || async { old.is_leader().await.then_some(()) }).await;
    let new = Replica::start(&format!("{label}-new"), &label, &args);
    eventually("the second replica stands by", WAIT, || async { (new.get("/readyz").await?.0 == 200).then_some(()) }).await;

    let (account, scope, bucket) = account_with_bucket(&aws).await;
    let name = support::unique_name("partition");
    let api = Api::<TrailPolicy>::all(client.clone());
    api.create(&PostParams::default(), &policy(&name, &label, &account, &bucket)).await.unwrap();
    wait_synced(&api, &name).await;
    let arn = api.get(&name).await.unwrap().status.unwrap().trail_arn.unwrap();

    // Someone keeps stopping the trail, so whichever replica leads writes at every pass.
    let breaker = {
        let (aws, scope, arn) = (aws.clone(), scope.clone(), arn.clone());
        tokio::spawn(async move {
            loop {
                let _ = aws.stop_logging(&scope, &arn).await;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(6)).await;
    let cut_at = jiff::Timestamp::now();
    link.down();
    eventually("the standby takes over", WAIT, || async { new.is_leader().await.then_some(()) }).await;
    let exit = tokio::time::timeout(WAIT, old.child.wait()).await.expect("the cut-off leader exits").unwrap();
    assert!(!exit.success(), "a leader that lost its lease exits non-zero, to restart as a standby: {exit}");
    eventually("the new leader heals", WAIT, || async { new.writes().iter().any(|(t, _)| *t > cut_at).then_some(()) }).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    breaker.abort();

    let last_old = old.writes().into_iter().map(|(t, _)| t).max().expect("the old leader wrote");
    let first_new = new.writes().into_iter().map(|(t, _)| t).min().expect("the new leader wrote");
    let secs = |t: jiff::Timestamp| t.duration_since(cut_at).as_secs_f64();
    println!(
        "partition (lease 6 s, renew deadline 3 s): cut at {cut_at}; old leader's last AWS write {last_old} ({:+.2} s), \
         new leader's first AWS write {first_new} ({:+.2} s)",
        secs(last_old),
        secs(first_new)
    );
    assert!(last_old < first_new, "the old leader wrote at {last_old}, after the new one started at {first_new}");
    let logged = std::fs::read_to_string(&old.log).unwrap();
    assert!(logged.contains("renew deadline"), "the old leader says why it stopped");
}

#[tokio::test]
async fn a_lone_controller_rides_out_an_apiserver_outage_and_resumes_watching() {
    let client = support::kube().await;
    let aws = support::aws().await;
    let target = std::fs::read_to_string(std::env::var("KUBECONFIG").unwrap())
        .unwrap()
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: https://"))
        .unwrap()
        .to_owned();
    let link = Link::to(target).await;
    let (kubeconfig, _) = kubeconfig_through(&link);
    let label = support::unique_name("outage");
    let mut lone = Replica::start_with(&format!("{label}-lone"), &label, &[], &[("KUBECONFIG", &kubeconfig)]);
    let (account, scope, bucket) = account_with_bucket(&aws).await;
    let name = support::unique_name("outage");
    let api = Api::<TrailPolicy>::all(client.clone());
    api.create(&PostParams::default(), &policy(&name, &label, &account, &bucket)).await.unwrap();
    wait_synced(&api, &name).await;
    let arn = api.get(&name).await.unwrap().status.unwrap().trail_arn.unwrap();
    let starts = |r: &Replica| r.writes().iter().filter(|(_, op)| op == "StartLogging").count();
    let before = starts(&lone);

    // 20 s without the apiserver; logging is stopped in the middle of it.
    link.down();
    tokio::time::sleep(Duration::from_secs(5)).await;
    aws.stop_logging(&scope, &arn).await.unwrap();
    let ((), healed) = eventually("healed while the apiserver is away", WAIT, || async {
        aws.get_trail_status(&scope, &arn).await.ok()?.is_logging.then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(15).saturating_sub(healed)).await;
    assert!(lone.child.try_wait().unwrap().is_none(), "the controller keeps running through the outage");
    link.up();

    // Back: the watch resumes (a spec change is acted on) and the break was written once.
    let tags = serde_json::json!({"spec": {"tags": {"outage": "over"}}});
    api.patch(&name, &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&tags)).await.unwrap();
    eventually("the watch resumed: a new declared tag is applied", WAIT, || async {
        (aws.list_tags(&scope, &arn).await.ok()?.get("outage").map(String::as_str) == Some("over")).then_some(())
    })
    .await;
    wait_synced(&api, &name).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(starts(&lone) - before, 1, "one StartLogging for one stop: no duplicate writes after the outage");
    let writes = lone.writes().len();
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(lone.writes().len(), writes, "in sync after the outage: no writes");
    println!("apiserver outage of 20 s: logging restored {:.1} s after the stop, during the outage", healed.as_secs_f64());
}
