//! Kubernetes wiring: the kube-rs Controller over TrailPolicies, fed by the trigger
//! sources; the finalizer that honours `deletionPolicy`; status writes, Events, metrics,
//! and the requeue and back-off policy. Every decision is made by the pass
//! ([`crate::pass`]); this module only carries them out.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use futures::StreamExt;
use jiff::Timestamp;
use kube::api::{Api, ListParams};
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::events::Reporter;
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::runtime::{reflector, watcher};
use kube::{Client, ResourceExt};
use tracing::{Instrument, debug, info, info_span, warn};
use trailwarden_core::guardrails::Guardrails;
use trailwarden_core::floor::Floor;
use trailwarden_core::report::{Failure, Notice, Reason, Report, Severity};
use trailwarden_core::{Blocked, Desired};

mod attack;
mod deadline;
mod notices;
mod peers;
mod written;

use attack::{count_logging_off, heal_time, name_the_contester, next_look};
use deadline::abandoned;
use notices::{publish, publish_new};
use peers::{breach, with_peers};
use written::{previous_status, previous_with_findings, write_status};

use super::api::{FINALIZER, TrailPolicy, TrailPolicyStatus};
use super::desired::{desired, scope};
use super::status;
use super::turns::Turns;
use super::retry::{retry_in, stale_finalizers};
pub use super::retry::Error;
use crate::aws::{AwsPort, LastCall};
use crate::ops::http::Readiness;
use crate::ops::metrics::Metrics;
use crate::ops::progress::Progress;
use crate::pass;
use crate::triggers::{self, SourceContext};

/// Field manager for the status we write with server-side apply.
const MANAGER: &str = "trailwarden";

#[derive(Clone)]
pub struct ControllerOptions {
    /// Only watch TrailPolicies with these labels (e.g. to shard, or to isolate tests).
    pub label_selector: Option<String>,
    /// This replica's name in Events (the pod name in a cluster).
    pub instance: String,
    pub metrics: Metrics,
    /// Set once the CRD is served and the watch has listed every policy.
    pub readiness: Arc<Readiness>,
    /// The queue AWS events arrive on (`--events-queue-url`); the resync alone without it.
    pub events: Option<crate::triggers::events::EventQueue>,
    /// Passes run at once (`--max-concurrent-reconciles`); a quarter of them at most for
    /// one account and region.
    pub concurrency: u16,
    /// What the operator lets any policy do (`--allowed-accounts` and friends).
    pub guardrails: Guardrails,
    /// What the operator requires of every policy (`--floor` and friends).
    pub floor: Floor,
    /// Longest a pass may take (`--pass-deadline-seconds`).
    pub pass_deadline: Duration,
    /// Passes in flight and finished, for `/healthz`.
    pub progress: Arc<Progress>,
    /// The log verifier (`--verify-logs-interval-seconds` above 0).
    pub verify_logs: Option<crate::integrity::continuous::VerifyOptions>,
}

struct Context<P> {
    client: Client,
    port: P,
    recorder: crate::k8s::recorder::NoteKeeper,
    metrics: Metrics,
    policies: reflector::Store<TrailPolicy>,
    /// Consecutive failures per policy uid, for exponential back-off.
    failures: Mutex<HashMap<String, u32>>,
    /// When drift was first seen per policy uid, until it is corrected (heal time).
    drift_seen: Mutex<HashMap<String, std::time::Instant>>,
    /// The status this replica last wrote per policy uid, less what the next pass rewrites
    /// whole (see [`status::read_back`]). A pass may start from a cached object that does not show
    /// our previous write yet; building on it would lose that write (the remediation
    /// count, whether the policy had a trail, what was failing). Boxed: a status is 752
    /// bytes, and a table keeps room for the most policies it held.
    written: Mutex<HashMap<String, Box<TrailPolicyStatus>>>,
    /// The events queue, to time the passes its events asked for.
    events: Option<crate::triggers::events::EventQueue>,
    /// Each account and region's share of the concurrent passes.
    turns: Turns,
    /// Every live policy by uid, as the watch reports them.
    live: triggers::policy::Live,
    guardrails: Guardrails,
    floor: Floor,
    pass_deadline: Duration,
    progress: Arc<Progress>,
    /// Per policy uid, up to when its trail's time without logging has been counted.
    off_counted: Mutex<HashMap<String, Timestamp>>,
    /// Per policy uid, how many looks since its last heal: the next look comes sooner
    /// after a heal (1 s, then 2, 4, … up to the resync), so that someone undoing it is
    /// seen before the resync.
    suspicion: Mutex<HashMap<String, u32>>,
    /// Deleted policies, by name, and when: their deletion's series go after [`RETIRE_AFTER`].
    retiring: Mutex<Vec<(String, std::time::Instant)>>,
}

/// How long the series of what a policy's deletion did to its trail outlive it: long
/// enough for an alert over 15 minutes to see it.
const RETIRE_AFTER: Duration = Duration::from_secs(30 * 60);

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
        .context("cannot list TrailPolicies: is the CRD installed (`trailwarden crd --all | kubectl apply -f -`) and may we read it?")?;
    let mut watch = watcher::Config::default();
    if let Some(selector) = &options.label_selector {
        watch = watch.labels(selector);
    }
    let reporter = Reporter { controller: "trailwarden".into(), instance: Some(options.instance.clone()) };
    let (reader, writer) = reflector::store();
    let context = Arc::new(Context {
        recorder: crate::k8s::recorder::NoteKeeper::new(client.clone(), reporter),
        client,
        port,
        metrics: options.metrics.clone(),
        policies: reader.clone(),
        failures: Mutex::default(),
        drift_seen: Mutex::default(),
        written: Mutex::default(),
        events: options.events.clone(),
        turns: Turns::new(usize::from(options.concurrency) / 4),
        live: triggers::policy::Live::default(),
        guardrails: options.guardrails.clone(),
        floor: options.floor.clone(),
        pass_deadline: options.pass_deadline,
        progress: options.progress.clone(),
        off_counted: Mutex::default(),
        suspicion: Mutex::default(),
        retiring: Mutex::default(),
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
    let sources = SourceContext {
        client: context.client.clone(),
        policies: reader.clone(),
        label_selector: options.label_selector.clone(),
        events: options.events.clone(),
    };
    let releasing = tokio::spawn(release_unused(context.clone()));
    let mut controller = Controller::for_stream(triggers::policy::changes(policies, watch, writer, context.live.clone()), reader);
    for requests in triggers::sources(&sources) {
        controller = controller.reconcile_on(requests);
    }
    if let Some(verify) = options.verify_logs.clone() {
        let recorder = crate::k8s::recorder::NoteKeeper::new(
            context.client.clone(),
            Reporter { controller: "trailwarden".into(), instance: Some(options.instance.clone()) },
        );
        controller = controller.reconcile_on(crate::integrity::continuous::spawn(context.client.clone(), context.policies.clone(), recorder, verify));
    }
    controller
        .with_config(controller::Config::default().concurrency(options.concurrency))
        .graceful_shutdown_on(shutdown)
        .run(reconcile_policy, error_policy, context)
        .for_each(|result| async move {
            match result {
                Ok((policy, _)) => debug!(policy = %policy.name, "reconciled"),
                Err(e) => debug!(error = %e, "reconcile failed"),
            }
        })
        .await;
    releasing.abort();
    info!("controller stopped");
    Ok(())
}

async fn reconcile_policy<P: AwsPort>(policy: Arc<TrailPolicy>, ctx: Arc<Context<P>>) -> Result<Action, Error> {
    let Some(_turn) = ctx.turns.take(&resync_group(&policy)) else {
        // Its account and region have their share of passes running: give the slot to
        // another account's policy and come back shortly.
        return Ok(Action::requeue(Duration::from_millis(200)));
    };
    let _in_flight = ctx.progress.started();
    let api = Api::<TrailPolicy>::all(ctx.client.clone());
    let span = info_span!("reconcile", policy = %policy.name_any(), region = %policy.spec.region);
    let last_call = LastCall::default();
    // Boxed: the pass's future is large, and the deadline and call tracking around it
    // would otherwise put it on the stack of whoever polls the controller.
    let pass = Box::pin(finalizer(&api, FINALIZER, policy.clone(), |event| async {
        match event {
            Finalizer::Apply(policy) => apply(&policy, &ctx).await,
            Finalizer::Cleanup(policy) => cleanup(&policy, &ctx).await,
        }
    }));
    match tokio::time::timeout(ctx.pass_deadline, last_call.track(pass).instrument(span.clone())).await {
        // The policy is gone: our finalizer was the last, and its removal went through on an
        // earlier try, or the watch showed us the policy after the apiserver had let it go
        // (seen deleting 10,000 at once: the same cleanup retried for 30 s). Nothing is left to do.
        Ok(Err(kube::runtime::finalizer::Error::RemoveFinalizer(kube::Error::Api(e)))) if e.code == 404 => {
            debug!(policy = %policy.name_any(), "policy already gone when its finalizer was removed");
            Ok(Action::await_change())
        }
        Ok(done) => done.map_err(|e| Error::Finalizer(Box::new(e))),
        Err(_elapsed) => abandoned(&policy, &ctx, &last_call).instrument(span).await,
    }
}

async fn apply<P: AwsPort>(policy: &TrailPolicy, ctx: &Context<P>) -> Result<Action, Error> {
    let started = std::time::Instant::now();
    debug!("reconcile started");
    let desired = match desired(policy) {
        Ok(desired) => desired,
        Err(e) => {
            let note = e.to_string();
            let notice = Notice { severity: Severity::Warning, reason: Failure::InvalidSpec.name(), action: "Reconcile", note: note.clone() };
            publish(ctx, policy, &[notice]).await;
            let failed = status::failed(policy, previous_with_findings(ctx, policy).await, Failure::InvalidSpec.name(), &note, Timestamp::now());
            write_status(ctx, policy, failed).await?;
            return Err(e.into());
        }
    };
    let trail_name = desired.trail_name.clone();
    let account = desired.scope.role_account().unwrap_or("self").to_owned();
    let previous = previous_status(ctx, policy);
    let history = status::history(previous.as_ref());
    let desired = Desired { remembered: status::remembered(policy, previous.as_ref()), floor: ctx.floor.clone(), ..desired };
    let report = match breach(ctx, &desired).await {
        // Outside the guardrails: not one AWS call for it.
        Some(breach) => Report::blocked(&Blocked::Guardrail(breach), None),
        // With the other policies naming the same trail: the pass decides which one owns it
        // (the trail's uid tag first, then age) and, if not this one, writes nothing.
        None => pass::run(&ctx.port, with_peers(ctx, policy, desired).await, &history, Timestamp::now()).await,
    };
    let mut report = report;
    name_the_contester(ctx, policy, &mut report);
    let healed_after = heal_time(ctx, policy, &report, started);
    ctx.metrics.reconcile.observe(&policy.name_any(), &report, started.elapsed().as_secs_f64(), healed_after);
    count_logging_off(ctx, policy, &report);
    ctx.metrics.reconcile.declared(&policy.name_any(), policy.spec.logging);
    ctx.metrics.policies.set(ctx.policies.state().len() as i64);
    log(&report, &account, started);
    // Events first: they are the other record, so they go out even when the status
    // cannot be written, and whoever sees the status change finds its Events already there.
    if report.applied.is_empty() {
        // A pass that wrote nothing repeats what the last one said: said once an hour.
        publish_new(ctx, policy, &report.notices).await;
    } else {
        publish(ctx, policy, &report.notices).await;
    }
    write_status(ctx, policy, status::status(policy, previous, &trail_name, &report, Timestamp::now())).await?;
    if let Some(events) = &ctx.events {
        events.reconciled(&policy.name_any());
    }
    // A heal of a trail that exists (not its first creation): someone may undo it.
    let created = report.applied.iter().any(|w| w.operation == "CreateTrail") && !history.had_trail;
    let healed = !report.applied.is_empty() && !created;
    if let Some(failure) = report.failures.into_iter().next() {
        return Err(Error::Stage(failure));
    }
    ctx.failures.lock().expect("failures lock").remove(&policy.uid().unwrap_or_default());
    let resync = triggers::resync::next_resync(policy.spec.resync_seconds, &resync_group(policy), Timestamp::now());
    Ok(Action::requeue(next_look(ctx, policy, healed, resync)))
}

/// How often what is kept for accounts no policy uses any more is dropped.
const RELEASE_EVERY: Duration = Duration::from_secs(60);

/// Every [`RELEASE_EVERY`], tells the port which scopes the policies still use, so the
/// clients and credentials of the others go (a deleted account's, a changed role's), and
/// drops the last series of policies deleted [`RETIRE_AFTER`] ago.
async fn release_unused<P: AwsPort>(ctx: Arc<Context<P>>) {
    let mut every = tokio::time::interval(RELEASE_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let in_use = ctx.policies.state().iter().map(|p| scope(&p.spec)).collect();
        ctx.port.release_unused(&in_use).await;
        ctx.retiring.lock().expect("retiring lock").retain(|(policy, deleted)| {
            let keep = deleted.elapsed() < RETIRE_AFTER;
            if !keep {
                ctx.metrics.reconcile.retire(policy);
            }
            keep
        });
    }
}

/// The policies resynced together: one account (by role) and region.
fn resync_group(policy: &TrailPolicy) -> String {
    let role = policy.spec.account.as_ref().map_or("self", |a| a.role_arn.as_str());
    format!("{role}/{}", policy.spec.region)
}

fn log(report: &Report, account: &str, started: std::time::Instant) {
    let trail_arn = report.trail_arn.as_deref().unwrap_or("");
    let actions: Vec<&str> = report.applied.iter().map(|w| w.operation).collect();
    let drift: Vec<&str> = report.drift.iter().map(|d| d.field.as_str()).collect();
    let elapsed_ms = started.elapsed().as_millis() as u64;
    for failure in &report.failures {
        warn!(trail_arn, account, stage = failure.stage.name(), reason = failure.failure.name(), error = %failure.message, "stage failed");
    }
    if !actions.is_empty() {
        info!(trail_arn, account, ?actions, elapsed_ms, "trail remediated");
    } else if !drift.is_empty() {
        info!(trail_arn, account, ?drift, "drift observed, not corrected");
    } else {
        debug!(trail_arn, account, elapsed_ms, "reconcile finished");
    }
}

async fn cleanup<P: AwsPort>(policy: &TrailPolicy, ctx: &Context<P>) -> Result<Action, Error> {
    let desired = desired(policy)?;
    if let Some(breach) = breach(ctx, &desired).await {
        // A policy outside the guardrails never had its trail touched; its deletion
        // (deletionPolicy: Delete, say) touches nothing either.
        warn!(%breach, "policy deleted outside the guardrails; its trail is left alone");
        let note = format!("policy deleted; its trail is left alone: {breach}");
        publish(ctx, policy, &[Notice { severity: Severity::Warning, reason: Reason::Guardrail.into(), action: "Delete", note }]).await;
    } else {
        let desired = Desired { remembered: status::remembered(policy, previous_status(ctx, policy).as_ref()), ..desired };
        let done = match pass::cleanup(&ctx.port, &desired).await {
            Ok(done) => done,
            Err(e) => {
                // The policy stays Terminating until cleanup succeeds; its gauges must not
                // keep saying all is well meanwhile.
                ctx.metrics.reconcile.cleanup_failing(&policy.name_any());
                return Err(e.into());
            }
        };
        info!(outcome = ?done, deletion_policy = ?policy.spec.deletion_policy, "policy deleted");
        if let Some(change) = done.weakening() {
            ctx.metrics.reconcile.weakened(&policy.name_any(), change);
        }
        publish(ctx, policy, &[done.notice()]).await;
    }
    if let Some(events) = &ctx.events {
        events.forget(&policy.name_any());
    }
    ctx.metrics.reconcile.forget(&policy.name_any());
    ctx.metrics.integrity.forget(&policy.name_any());
    ctx.retiring.lock().expect("retiring lock").push((policy.name_any(), std::time::Instant::now()));
    let uid = policy.uid().unwrap_or_default();
    forget(&ctx.drift_seen, &uid);
    forget(&ctx.written, &uid);
    forget(&ctx.failures, &uid);
    forget(&ctx.off_counted, &uid);
    forget(&ctx.suspicion, &uid);
    ctx.recorder.forget(&uid);
    Ok(Action::await_change())
}

/// Drops a deleted policy's entry from one of the per-policy maps, and the room it took.
fn forget<V>(map: &Mutex<HashMap<String, V>>, uid: &str) {
    let mut map = map.lock().expect("per-policy map lock");
    map.remove(uid);
    crate::ops::sparse::shrink_if_sparse(&mut map);
}

/// Exponential back-off per policy: 2 s, 4 s, 8 s … capped at 5 minutes, so a refusing
/// AWS is retried without ever hot-looping — but never later than the policy's resync: a
/// stage that keeps failing must not stretch the time in which new drift (logging
/// stopped, say) is healed.
fn error_policy<P>(policy: Arc<TrailPolicy>, error: &Error, ctx: Arc<Context<P>>) -> Action {
    let failures = {
        let mut map = ctx.failures.lock().expect("failures lock");
        let n = map.entry(policy.uid().unwrap_or_default()).or_insert(0);
        *n = n.saturating_add(1);
        *n
    };
    if stale_finalizers(error) && failures <= 3 {
        // The pass started from a cached object whose finalizers had changed already (its
        // own finalizer added by the pass before, not yet seen by the watch under load):
        // look again shortly rather than back off. A refusal that persists backs off.
        debug!(policy = %policy.name_any(), failures, "finalizers changed since the cached object; looking again");
        return Action::requeue(Duration::from_millis(500));
    }
    let resync = triggers::resync::next_resync(policy.spec.resync_seconds, &resync_group(&policy), Timestamp::now());
    let delay = retry_in(error, failures).min(resync);
    warn!(policy = %policy.name_any(), reason = error.category().name(), error = %error, failures, retry_in_s = delay.as_secs(), "will retry");
    Action::requeue(delay)
}
