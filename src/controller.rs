//! Kubernetes wiring: the kube-rs Controller over TrailPolicies, the finalizer that
//! honours `deletionPolicy`, status writes, Events, and the requeue and back-off policy.
//! All decisions are made in [`crate::reconcile`]; this module only carries them out.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use futures::StreamExt;
use jiff::Timestamp;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::runtime::{Predicate, WatchStreamExt, predicates, reflector, watcher};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::api::{FINALIZER, Mode, TrailPolicy, TrailPolicyStatus};
use crate::aws::AwsPort;
use crate::http::Readiness;
use crate::metrics::Metrics;
use crate::reconcile::{self, Notice, ReconcileError, Severity};

/// Field manager for the status we write with server-side apply.
const MANAGER: &str = "trailwarden";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Reconcile(#[from] ReconcileError),
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Finalizer(Box<kube::runtime::finalizer::Error<Error>>),
}

impl Error {
    /// Category for logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Reconcile(e) => e.reason(),
            Error::Kube(_) => "KubernetesApi",
            Error::Finalizer(e) => match e.as_ref() {
                kube::runtime::finalizer::Error::ApplyFailed(inner)
                | kube::runtime::finalizer::Error::CleanupFailed(inner) => inner.reason(),
                _ => "Finalizer",
            },
        }
    }
}

#[derive(Clone)]
pub struct ControllerOptions {
    /// Only watch TrailPolicies with these labels (e.g. to shard, or to isolate tests).
    pub label_selector: Option<String>,
    /// This replica's name in Events (the pod name in a cluster).
    pub instance: String,
    pub metrics: Metrics,
    /// Set once the CRD is served and the watch has listed every policy.
    pub readiness: Arc<Readiness>,
}

struct Context<P> {
    client: Client,
    port: P,
    recorder: Recorder,
    metrics: Metrics,
    policies: reflector::Store<TrailPolicy>,
    /// Consecutive failures per policy uid, for exponential back-off.
    failures: Mutex<HashMap<String, u32>>,
    /// When drift was first seen per policy uid, until it is corrected (heal time).
    drift_seen: Mutex<HashMap<String, std::time::Instant>>,
}

/// Runs the controller until `shutdown` completes.
pub async fn run<P: AwsPort>(
    client: Client,
    port: P,
    options: ControllerOptions,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> anyhow::Result<()> {
    let policies = Api::<TrailPolicy>::all(client.clone());
    policies
        .list(&ListParams::default().limit(1))
        .await
        .context("cannot list TrailPolicies: is the CRD installed (`trailwarden crd | kubectl apply -f -`) and may we read it?")?;
    let mut watch = watcher::Config::default();
    if let Some(selector) = &options.label_selector {
        watch = watch.labels(selector);
    }
    let reporter = Reporter { controller: "trailwarden".into(), instance: Some(options.instance.clone()) };
    let (reader, writer) = reflector::store();
    let context = Arc::new(Context {
        recorder: Recorder::new(client.clone(), reporter),
        client,
        port,
        metrics: options.metrics.clone(),
        policies: reader.clone(),
        failures: Mutex::default(),
        drift_seen: Mutex::default(),
    });
    info!(selector = options.label_selector.as_deref().unwrap_or(""), "watching TrailPolicies");
    let readiness = options.readiness.clone();
    let synced = reader.clone();
    tokio::spawn(async move {
        // The Controller waits on the same store; with two waiters one wake-up can be
        // lost (seen with kube-runtime 5.0), so look again every second.
        loop {
            match tokio::time::timeout(Duration::from_secs(1), synced.wait_until_ready()).await {
                Err(_elapsed) => continue,
                Ok(Ok(())) => {
                    info!("watch synced; ready");
                    readiness.set(true);
                }
                Ok(Err(e)) => warn!(error = %e, "watch never synced"),
            }
            break;
        }
    });
    // Our own status writes change the object too; reconciling on them would loop. Spec
    // changes (generation, which deletion also bumps) and finalizer changes are what
    // matter; AWS-side drift is found by the periodic resync.
    let triggers = watcher(policies, watch)
        .default_backoff()
        .reflect(writer)
        .touched_objects()
        .predicate_filter(predicates::generation.combine(predicates::finalizers), Default::default());
    Controller::for_stream(triggers, reader)
        .graceful_shutdown_on(shutdown)
        .run(reconcile_policy, error_policy, context)
        .for_each(|result| async move {
            match result {
                Ok((policy, _)) => debug!(policy = %policy.name, "reconciled"),
                Err(e) => debug!(error = %e, "reconcile failed"),
            }
        })
        .await;
    info!("controller stopped");
    Ok(())
}

async fn reconcile_policy<P: AwsPort>(policy: Arc<TrailPolicy>, ctx: Arc<Context<P>>) -> Result<Action, Error> {
    let api = Api::<TrailPolicy>::all(ctx.client.clone());
    let span = info_span!("reconcile", policy = %policy.name_any(), region = %policy.spec.region);
    finalizer(&api, FINALIZER, policy, |event| async {
        match event {
            Finalizer::Apply(policy) => apply(&policy, &ctx).await,
            Finalizer::Cleanup(policy) => cleanup(&policy, &ctx).await,
        }
    })
    .instrument(span)
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

async fn apply<P: AwsPort>(policy: &TrailPolicy, ctx: &Context<P>) -> Result<Action, Error> {
    let started = std::time::Instant::now();
    debug!("reconcile started");
    let outcome = reconcile::reconcile(&ctx.port, policy, Timestamp::now()).await;
    let healed_after = heal_time(ctx, policy, &outcome, started);
    ctx.metrics.reconcile.observe(&policy.name_any(), &outcome, started.elapsed().as_secs_f64(), healed_after);
    ctx.metrics.policies.set(ctx.policies.state().len() as i64);
    let drift: Vec<&str> = outcome.status.drift.iter().map(|d| d.field.as_str()).collect();
    let account = policy.spec.account.as_ref().map(|a| a.role_arn.as_str()).unwrap_or("self");
    let trail_arn = outcome.status.trail_arn.as_deref().unwrap_or("");
    match &outcome.error {
        None if !outcome.applied.is_empty() => {
            info!(trail_arn, account, actions = ?outcome.applied, elapsed_ms = started.elapsed().as_millis() as u64, "trail remediated")
        }
        None if !drift.is_empty() => info!(trail_arn, account, ?drift, mode = ?policy.spec.mode, "drift observed, not corrected"),
        None => debug!(trail_arn, account, "reconcile finished: trail in sync"),
        Some(e) => warn!(trail_arn, account, reason = e.reason(), error = %e, actions = ?outcome.applied, "reconcile failed"),
    }
    write_status(ctx, policy, &outcome.status).await?;
    publish(ctx, policy, &outcome.notices).await;
    match outcome.error {
        Some(e) => Err(e.into()),
        None => {
            ctx.failures.lock().expect("failures lock").remove(&policy.uid().unwrap_or_default());
            let seed = policy.uid().unwrap_or_default();
            Ok(Action::requeue(reconcile::next_resync(policy.spec.resync_seconds, &seed, Timestamp::now())))
        }
    }
}

async fn cleanup<P: AwsPort>(policy: &TrailPolicy, ctx: &Context<P>) -> Result<Action, Error> {
    let done = reconcile::cleanup(&ctx.port, policy).await?;
    info!(outcome = ?done, deletion_policy = ?policy.spec.deletion_policy, "policy deleted");
    publish(ctx, policy, &[done.notice()]).await;
    let checks: Vec<String> = policy.status.iter().flat_map(|s| s.compliance.iter().map(|c| c.id.clone())).collect();
    ctx.metrics.reconcile.forget(&policy.name_any(), &checks);
    ctx.drift_seen.lock().expect("drift lock").remove(&policy.uid().unwrap_or_default());
    Ok(Action::await_change())
}

/// Seconds from when this policy's drift was first seen to now, when this pass corrected
/// it. Drift that persists (audit mode, AWS refusing) keeps its first-seen time.
fn heal_time<P>(ctx: &Context<P>, policy: &TrailPolicy, outcome: &reconcile::Outcome, now: std::time::Instant) -> Option<f64> {
    let uid = policy.uid().unwrap_or_default();
    let drift = outcome.plan.as_ref().is_some_and(|p| !p.drift.is_empty());
    let mut seen = ctx.drift_seen.lock().expect("drift lock");
    if !drift {
        seen.remove(&uid);
        return None;
    }
    let first = *seen.entry(uid.clone()).or_insert(now);
    let corrected = policy.spec.mode == Mode::Enforce && outcome.error.is_none() && !outcome.applied.is_empty();
    if corrected {
        seen.remove(&uid);
        return Some(first.elapsed().as_secs_f64());
    }
    None
}

async fn write_status<P>(ctx: &Context<P>, policy: &TrailPolicy, status: &TrailPolicyStatus) -> Result<(), Error> {
    let api = Api::<TrailPolicy>::all(ctx.client.clone());
    let body = json!({
        "apiVersion": "trailwarden.dev/v1alpha1",
        "kind": "TrailPolicy",
        "status": status,
    });
    api.patch_status(&policy.name_any(), &PatchParams::apply(MANAGER).force(), &Patch::Apply(&body)).await?;
    Ok(())
}

async fn publish<P>(ctx: &Context<P>, policy: &TrailPolicy, notices: &[Notice]) {
    let reference = policy.object_ref(&());
    for notice in notices {
        let event = Event {
            type_: match notice.severity {
                Severity::Normal => EventType::Normal,
                Severity::Warning => EventType::Warning,
            },
            reason: notice.reason.into(),
            note: Some(notice.note.chars().take(1000).collect()),
            action: notice.action.into(),
            secondary: None,
        };
        if let Err(e) = ctx.recorder.publish(&event, &reference).await {
            warn!(error = %e, reason = notice.reason, "could not publish event");
        }
    }
}

/// Exponential back-off per policy: 2 s, 4 s, 8 s … capped at 5 minutes, so a refusing
/// AWS is retried without ever hot-looping.
fn error_policy<P>(policy: Arc<TrailPolicy>, error: &Error, ctx: Arc<Context<P>>) -> Action {
    let failures = {
        let mut map = ctx.failures.lock().expect("failures lock");
        let n = map.entry(policy.uid().unwrap_or_default()).or_insert(0);
        *n = n.saturating_add(1);
        *n
    };
    let delay = backoff(failures);
    warn!(policy = %policy.name_any(), reason = error.reason(), error = %error, failures, retry_in_s = delay.as_secs(), "will retry");
    Action::requeue(delay)
}

fn backoff(failures: u32) -> Duration {
    Duration::from_secs(2u64.saturating_pow(failures.min(16)).min(300))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_then_caps() {
        assert_eq!(backoff(1), Duration::from_secs(2));
        assert_eq!(backoff(2), Duration::from_secs(4));
        assert_eq!(backoff(8), Duration::from_secs(256));
        assert_eq!(backoff(9), Duration::from_secs(300));
        assert_eq!(backoff(100), Duration::from_secs(300));
    }
}
