//! The Kubernetes client: kube's default stack (the cluster's address, its retry of
//! overloaded answers, authentication, extra headers, TLS, connect/read/write timeouts),
//! over a connection pool that lets idle connections go.
//!
//! kube's own pool has no timer, so hyper never closes an idle connection: each burst of
//! status writes (up to `--max-concurrent-reconciles` at once) opens connections that then
//! stay open, each with its TLS state and buffers, for the life of the process (about 70 at
//! 1,000 policies). Here a connection idle for 20 s is closed and at most 16 are kept
//! ([`IdleConnections::DEFAULT`]); the watches' long requests are not idle and are not touched.
//! (kube's request tracing spans are left out: nothing reads them.)

use std::time::Duration;

use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use kube::client::{Body, ConfigExt, retry::RetryPolicy};
use kube::{Client, Config};
use tower::{BoxError, ServiceBuilder, retry::RetryLayer};

/// What the pool keeps of the connections it no longer uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdleConnections {
    /// How long a connection may stay idle before it is closed.
    pub timeout: Duration,
    /// How many idle connections are kept at most; one more is closed when it comes back.
    pub max: usize,
}

impl IdleConnections {
    /// The controller's: as the AWS side's pool (`aws::sdk`), enough for the writes of a
    /// pass burst to reuse, few enough to hold nothing worth counting.
    pub const DEFAULT: Self = Self { timeout: Duration::from_secs(20), max: 16 };
}

/// Why the client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no Kubernetes configuration (in-cluster or kubeconfig): {0}")]
    Config(#[from] kube::config::InferConfigError),
    #[error("Kubernetes client: {0}")]
    Build(#[from] kube::Error),
    /// kube's own client refuses it too in this build (no proxy feature): said, not ignored.
    #[error("a proxy to the apiserver ({0}) is not supported: reach the apiserver directly")]
    Proxy(String),
}

/// The client to the cluster this process runs in (or the kubeconfig's current context).
pub async fn connect() -> Result<Client, ClientError> {
    build(Config::infer().await?, IdleConnections::DEFAULT)
}

/// The client for `config`; see the module comment for how it differs from kube's default.
pub fn build(config: Config, idle: IdleConnections) -> Result<Client, ClientError> {
    if let Some(proxy) = &config.proxy_url {
        return Err(ClientError::Proxy(proxy.to_string()));
    }
    let mut plain = HttpConnector::new();
    plain.enforce_http(false);
    let mut connector = hyper_timeout::TimeoutConnector::new(config.rustls_https_connector_with_connector(plain)?);
    connector.set_connect_timeout(config.connect_timeout);
    connector.set_read_timeout(config.read_timeout);
    connector.set_write_timeout(config.write_timeout);
    connector.set_reset_reader_on_write(config.reset_reader_on_write);
    let pool: hyper_util::client::legacy::Client<_, Body> = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(idle.timeout)
        .pool_max_idle_per_host(idle.max)
        .build(connector);
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(config.default_retry.then(|| RetryLayer::new(RetryPolicy::server_retry())))
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .map_err(BoxError::from)
        .service(pool);
    Ok(Client::new(service, config.default_namespace))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proxy_to_the_apiserver_is_refused_not_ignored() {
        let mut config = Config::new("https://127.0.0.1:6443".parse().unwrap());
        config.proxy_url = Some("http://proxy.example:3128".parse().unwrap());
        let error = build(config, IdleConnections::DEFAULT).err().expect("refused");
        assert!(error.to_string().contains("proxy.example:3128"), "{error}");
    }
}
