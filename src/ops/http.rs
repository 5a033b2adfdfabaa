//! `/metrics`, `/healthz` and `/readyz` on one small HTTP/1 listener.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tracing::{debug, info};

use crate::ops::metrics::Metrics;
use crate::ops::progress::Progress;

/// Whether this replica is ready: the CRD is served and, when leading, the watch has
/// listed every policy once; and the controller's own AWS identity answers (STS
/// GetCallerIdentity), so that a broken IRSA trust shows at install, not at the first policy.
#[derive(Debug, Default)]
pub struct Readiness {
    watching: AtomicBool,
    /// None until the first answer: the account, or why it could not be told.
    aws: Mutex<Option<Result<String, String>>>,
}

impl Readiness {
    pub fn set(&self, ready: bool) {
        self.watching.store(ready, Ordering::Relaxed);
    }

    /// Records what asking AWS who we are gave.
    pub fn aws_identity(&self, answer: Result<String, String>) {
        *self.aws.lock().expect("readiness lock") = Some(answer);
    }

    /// What keeps the replica from being ready, if anything.
    pub fn why_not(&self) -> Option<String> {
        match &*self.aws.lock().expect("readiness lock") {
            None => return Some("the controller's AWS identity has not answered yet (sts:GetCallerIdentity)".into()),
            Some(Err(why)) => return Some(format!("the controller's AWS identity does not work: {why}")),
            Some(Ok(_)) => {}
        }
        (!self.watching.load(Ordering::Relaxed)).then(|| "the TrailPolicy watch has not synced yet".into())
    }
}

type Body = UnsyncBoxBody<Bytes, Infallible>;

fn respond(status: StatusCode, content_type: &str, body: String) -> Response<Body> {
    respond_with(status, content_type, Full::new(Bytes::from(body)).boxed_unsync())
}

fn respond_with(status: StatusCode, content_type: &str, body: Body) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(body)
        .expect("static response parts are valid")
}

/// `/metrics`, sent as it is written (`Metrics::page`): a page of thousands of policies'
/// series is never held whole.
fn metrics_page(metrics: &Metrics) -> Body {
    let chunks = metrics.page().map(|chunk| Ok::<_, Infallible>(Frame::data(Bytes::from(chunk))));
    StreamBody::new(futures::stream::iter(chunks)).boxed_unsync()
}

fn route(path: &str, metrics: &Metrics, readiness: &Readiness, progress: &Progress) -> Response<Body> {
    match path {
        "/metrics" => respond_with(StatusCode::OK, "text/plain; version=0.0.4", metrics_page(metrics)),
        "/healthz" => match progress.stalled() {
            None => respond(StatusCode::OK, "text/plain", "ok\n".into()),
            Some(since) => respond(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain",
                format!("stalled: passes in flight and none finished for {} s\n", since.as_secs()),
            ),
        },
        "/readyz" => match readiness.why_not() {
            None => respond(StatusCode::OK, "text/plain", "ready\n".into()),
            Some(why) => respond(StatusCode::SERVICE_UNAVAILABLE, "text/plain", format!("not ready: {why}\n")),
        },
        _ => respond(StatusCode::NOT_FOUND, "text/plain", "not found\n".into()),
    }
}

/// Binds `addr` (so a bad address fails at start-up) and serves until the task is dropped.
pub async fn serve(
    addr: SocketAddr,
    metrics: Metrics,
    readiness: Arc<Readiness>,
    progress: Arc<Progress>,
) -> anyhow::Result<impl std::future::Future<Output = ()>> {
    let listener = TcpListener::bind(addr).await?;
    info!(addr = %listener.local_addr()?, "serving /metrics /healthz /readyz");
    Ok(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let (metrics, readiness, progress) = (metrics.clone(), readiness.clone(), progress.clone());
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<Incoming>| {
                    let response = route(request.uri().path(), &metrics, &readiness, &progress);
                    async move { Ok::<_, Infallible>(response) }
                });
                if let Err(e) = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await {
                    debug!(error = %e, "http connection ended");
                }
            });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readyz_follows_readiness_and_metrics_render() {
        let metrics = Metrics::new();
        let readiness = Readiness::default();
        let progress = Progress::new(std::time::Duration::from_secs(60), &metrics);
        assert_eq!(route("/readyz", &metrics, &readiness, &progress).status(), StatusCode::SERVICE_UNAVAILABLE);
        readiness.set(true);
        assert_eq!(route("/readyz", &metrics, &readiness, &progress).status(), StatusCode::SERVICE_UNAVAILABLE, "AWS not asked yet");
        readiness.aws_identity(Err("InvalidIdentityToken: no OpenIDConnect provider found".into()));
        assert!(readiness.why_not().is_some_and(|why| why.contains("InvalidIdentityToken")));
        readiness.aws_identity(Ok("111122223333".into()));
        assert_eq!(route("/readyz", &metrics, &readiness, &progress).status(), StatusCode::OK);
        assert_eq!(route("/healthz", &metrics, &readiness, &progress).status(), StatusCode::OK);
        assert_eq!(route("/nope", &metrics, &readiness, &progress).status(), StatusCode::NOT_FOUND);
        let build_info = format!(
            "trailwarden_build_info{{revision=\"{}\",version=\"{}\"}} 1",
            env!("TRAILWARDEN_GIT_REVISION"),
            env!("CARGO_PKG_VERSION")
        );
        assert!(metrics.render().contains(&build_info), "{}", metrics.render());
        assert_ne!(env!("TRAILWARDEN_GIT_REVISION"), "", "the revision is always named");
    }
}
