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
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::runtime::{reflector, watcher};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use tracing::{Instrument, debug, info, info_span, warn};
use trailwarden_core::guardrails::{Breach, Guardrails};
use trailwarden_core::ownership::{self, Claimant, TrailKey};
use trailwarden_core::floor::Floor;
use trailwarden_core::report::{Failure, Notice, Reason, Report, Severity, Stage, StageFailure};
use trailwarden_core::{Blocked, Desired, Scope};

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
    /// The status this replica last wrote per policy uid, less what the next pass rewrites
    /// whole (see [`remembered`]). A pass may start from a cached object that does not show
    /// our previous write yet; building on it would lose that write (the remediation
    /// count, whether the policy had a trail, what was failing).
    written: Mutex<HashMap<String, TrailPolicyStatus>>,
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
    /// Per policy uid, the notices lately published (see [`publish_new`]).
    said: Mutex<HashMap<String, Vec<(u64, std::time::Instant)>>>,
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
        said: Mutex::default(),
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
        Ok(done) => done.map_err(|e| Error::Finalizer(Box::new(e))),
        Err(_elapsed) => abandoned(&policy, &ctx, &last_call).instrument(span).await,
    }
}

/// A pass past its deadline, dropped where it stood: reported on the policy (Ready=False,
/// naming what it waited on) and retried with back-off. Every AWS call has its own
/// timeouts; this bounds what they do not (a shared read, a lock, the runtime itself).
async fn abandoned<P: AwsPort>(policy: &TrailPolicy, ctx: &Context<P>, last_call: &LastCall) -> Result<Action, Error> {
    let failure = StageFailure {
        stage: Stage::Observe,
        failure: Failure::PassDeadlineExceeded,
        message: format!("pass abandoned after {} s; {}", ctx.pass_deadline.as_secs(), last_call.describe()),
    };
    warn!(policy = %policy.name_any(), error = %failure.message, "pass abandoned");
    let report = Report::unobserved(failure.clone());
    ctx.metrics.reconcile.observe(&policy.name_any(), &report, ctx.pass_deadline.as_secs_f64(), None);
    // The record of it is bounded too: a Kubernetes API that does not answer either
    // leaves it to the next pass.
    let record = async {
        publish(ctx, policy, &report.notices).await;
        let previous = previous_with_findings(ctx, policy);
        let failed = status::failed(policy, previous, failure.failure.name(), &failure.message, Timestamp::now());
        write_status(ctx, policy, failed).await
    };
    if tokio::time::timeout(RECORD_DEADLINE, record).await.is_err() {
        warn!(policy = %policy.name_any(), "could not record the abandoned pass in time");
    }
    Err(Error::Stage(failure))
}

/// How long recording an abandoned pass may take.
const RECORD_DEADLINE: Duration = Duration::from_secs(10);

async fn apply<P: AwsPort>(policy: &TrailPolicy, ctx: &Context<P>) -> Result<Action, Error> {
    let started = std::time::Instant::now();
    debug!("reconcile started");
    let desired = match desired(policy) {
        Ok(desired) => desired,
        Err(e) => {
            let note = e.to_string();
            let notice = Notice { severity: Severity::Warning, reason: Failure::InvalidSpec.name(), action: "Reconcile", note: note.clone() };
            publish(ctx, policy, &[notice]).await;
            let failed = status::failed(policy, previous_with_findings(ctx, policy), Failure::InvalidSpec.name(), &note, Timestamp::now());
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

/// After a heal, look again soon: 1 s, then 2, 4, 8 … until the resync comes first.
/// Someone undoing the heal each time is then seen within seconds, not a resync later.
fn next_look<P>(ctx: &Context<P>, policy: &TrailPolicy, healed: bool, resync: Duration) -> Duration {
    let uid = policy.uid().unwrap_or_default();
    let mut suspicion = ctx.suspicion.lock().expect("suspicion lock");
    let looks = match healed {
        true => 0,
        false => match suspicion.get(&uid) {
            Some(n) => n + 1,
            None => return resync,
        },
    };
    let soon = Duration::from_secs(1u64 << looks.min(16));
    if soon >= resync {
        suspicion.remove(&uid);
        return resync;
    }
    suspicion.insert(uid, looks);
    soon
}

/// A contested trail's Warning names who stopped it, when an event said.
fn name_the_contester<P>(ctx: &Context<P>, policy: &TrailPolicy, report: &mut Report) {
    let contested: &str = Reason::LoggingContested.into();
    let Some(notice) = report.notices.iter_mut().find(|n| n.reason == contested) else { return };
    let actor = ctx.events.as_ref().and_then(|events| events.actor(&policy.name_any()));
    notice.note = match actor {
        Some((who, when)) => format!("{} The last CloudTrail call on the trail was made by {who} at {when}.", notice.note),
        None => format!("{} No event named the caller (see CloudTrail's StopLogging records in the account).", notice.note),
    };
}

/// Adds the time the trail was seen not logging, from CloudTrail's stop time (or from
/// where the last count ended) to now, while the policy (or the floor) wants it logging.
fn count_logging_off<P>(ctx: &Context<P>, policy: &TrailPolicy, report: &Report) {
    let uid = policy.uid().unwrap_or_default();
    let mut counted = ctx.off_counted.lock().expect("off lock");
    let wanted = policy.spec.logging || ctx.floor.logging;
    let Some(stopped) = report.stopped_since.filter(|_| wanted) else {
        counted.remove(&uid);
        return;
    };
    let now = Timestamp::now();
    let from = counted.get(&uid).map_or(stopped, |c| (*c).max(stopped));
    ctx.metrics.reconcile.logging_off(&policy.name_any(), now.duration_since(from).as_secs_f64());
    counted.insert(uid, now);
}

/// The guardrail a policy is outside of, if any. The controller's own account is asked
/// (once) only when accounts are restricted and the policy names no role.
async fn breach<P: AwsPort>(ctx: &Context<P>, desired: &Desired) -> Option<Breach> {
    if let Some(breach) = ctx.guardrails.breach(desired) {
        return Some(breach);
    }
    let own = if ctx.guardrails.allowed_accounts.is_empty() || desired.scope.role_arn.is_some() {
        None
    } else {
        own_account(ctx, &desired.scope.region).await
    };
    ctx.guardrails.account(desired, own.as_deref())
}

/// `desired` with what the controller knows of the other live policies: those naming the
/// same trail (same account, region and trail name), and every uid with its name, so that
/// adoption never takes a trail from a live policy. Policies being deleted count: their
/// trail is theirs until they are gone. The controller's own account is asked (once, then
/// remembered) only when another policy names the same trail and one of the two has no role.
async fn with_peers<P: AwsPort>(ctx: &Context<P>, policy: &TrailPolicy, mut desired: Desired) -> Desired {
    let mut named = vec![];
    for other in ctx.policies.state() {
        let (Some(uid), Some(name)) = (other.uid(), other.metadata.name.clone()) else { continue };
        if Some(&uid) == policy.uid().as_ref() {
            continue;
        }
        if other.spec.region == desired.scope.region && other.spec.effective_trail_name(&name) == desired.trail_name {
            let created = other.metadata.creation_timestamp.as_ref().map(|t| t.0);
            let trail_name = other.spec.effective_trail_name(&name).to_owned();
            named.push((scope(&other.spec), trail_name, Claimant { name, uid, created }));
        }
    }
    if !named.is_empty() {
        let own = if desired.scope.role_arn.is_none() || named.iter().any(|(s, _, _)| s.role_arn.is_none()) {
            own_account(ctx, &desired.scope.region).await
        } else {
            None
        };
        let account = |scope: &Scope| scope.role_account().or(own.as_deref()).unwrap_or("(the controller's own)").to_owned();
        let keys: Vec<(TrailKey, Claimant)> = named
            .into_iter()
            .map(|(s, trail_name, c)| (TrailKey { account: account(&s), region: s.region.clone(), trail_name }, c))
            .collect();
        let this = desired.trail_key(&account(&desired.scope));
        desired.peers.rivals = ownership::rivals(&this, &desired.policy_uid, keys.iter().map(|(k, c)| (k, c)));
    }
    desired.peers.live = ctx.live.get();
    desired
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

/// The controller's own account, for policies that name no role (the port asks once).
async fn own_account<P: AwsPort>(ctx: &Context<P>, region: &str) -> Option<String> {
    ctx.port.account_id(&Scope { role_arn: None, external_id: None, region: region.to_owned() }).await.ok()
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
    ctx.retiring.lock().expect("retiring lock").push((policy.name_any(), std::time::Instant::now()));
    let uid = policy.uid().unwrap_or_default();
    ctx.drift_seen.lock().expect("drift lock").remove(&uid);
    ctx.written.lock().expect("status lock").remove(&uid);
    ctx.failures.lock().expect("failures lock").remove(&uid);
    ctx.off_counted.lock().expect("off lock").remove(&uid);
    ctx.suspicion.lock().expect("suspicion lock").remove(&uid);
    ctx.said.lock().expect("said lock").remove(&uid);
    Ok(Action::await_change())
}

/// Seconds from when this policy's drift was first seen to now, when this pass corrected
/// all of it. Drift that persists (audit mode, AWS refusing) keeps its first-seen time.
fn heal_time<P>(ctx: &Context<P>, policy: &TrailPolicy, report: &Report, now: std::time::Instant) -> Option<f64> {
    let uid = policy.uid().unwrap_or_default();
    let mut seen = ctx.drift_seen.lock().expect("drift lock");
    if report.drift.is_empty() && report.corrected.is_empty() {
        seen.remove(&uid);
        return None;
    }
    let first = *seen.entry(uid.clone()).or_insert(now);
    if report.drift.is_empty() {
        seen.remove(&uid);
        return Some(first.elapsed().as_secs_f64());
    }
    None
}

/// The status to build on: the one this replica last wrote, else the object's.
fn previous_status<P>(ctx: &Context<P>, policy: &TrailPolicy) -> Option<TrailPolicyStatus> {
    let written = ctx.written.lock().expect("status lock").get(&policy.uid().unwrap_or_default()).cloned();
    written.or_else(|| policy.status.clone())
}

/// [`previous_status`] for a pass that cannot look: it keeps the findings and drift of the
/// last look, which the remembered status leaves out, from the object.
fn previous_with_findings<P>(ctx: &Context<P>, policy: &TrailPolicy) -> Option<TrailPolicyStatus> {
    let mut previous = previous_status(ctx, policy)?;
    if let Some(object) = &policy.status {
        previous.compliance.clone_from(&object.compliance);
        previous.drift.clone_from(&object.drift);
    }
    Some(previous)
}

/// How long a status that nothing else changed goes without a write: its
/// `lastReconcileTime` is refreshed this often (the time of every look is the metric
/// `trailwarden_policy_last_look_timestamp_seconds`).
const STATUS_REFRESH: jiff::SignedDuration = jiff::SignedDuration::from_secs(3600);

/// Whether `status` says nothing the policy's status (as last seen) does not, but the
/// time of the look, and that time is recent: a pass that changed nothing writes nothing.
fn unchanged(policy: &TrailPolicy, status: &TrailPolicyStatus) -> bool {
    let Some(seen) = &policy.status else { return false };
    let (Some(then), Some(now)) = (&seen.last_reconcile_time, &status.last_reconcile_time) else { return false };
    if now.0.duration_since(then.0) >= STATUS_REFRESH {
        return false;
    }
    untimed(seen) == untimed(status)
}

/// A status without what moves at every look while nothing is wrong: the look's time, and
/// the times of the latest deliveries (CloudTrail delivers every few minutes). Delivery
/// errors, and when logging was started and stopped, stay: they are news.
///
/// The other times are compared to the second, as the apiserver keeps them: the status a
/// pass builds on carries this replica's own, finer ones.
fn untimed(status: &TrailPolicyStatus) -> TrailPolicyStatus {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    let second = |t: &mut Time| t.0 = jiff::Timestamp::from_second(t.0.as_second()).unwrap_or(t.0);
    let mut status = TrailPolicyStatus { last_reconcile_time: None, ..status.clone() };
    if let Some(delivery) = &mut status.delivery {
        delivery.latest_delivery_time = None;
        delivery.latest_digest_delivery_time = None;
        delivery.latest_cloud_watch_logs_delivery_time = None;
        delivery.latest_notification_time = None;
        delivery.start_logging_time.iter_mut().chain(delivery.stop_logging_time.iter_mut()).for_each(second);
    }
    status.conditions.iter_mut().for_each(|c| second(&mut c.last_transition_time));
    status.last_remediation.iter_mut().for_each(|r| second(&mut r.time));
    status.logging_restarts.iter_mut().for_each(second);
    status
}

async fn write_status<P>(ctx: &Context<P>, policy: &TrailPolicy, status: TrailPolicyStatus) -> Result<(), Error> {
    if unchanged(policy, &status) {
        return Ok(());
    }
    let api = Api::<TrailPolicy>::all(ctx.client.clone());
    let body = json!({
        "apiVersion": "trailwarden.dev/v1alpha1",
        "kind": "TrailPolicy",
        "status": status,
    });
    api.patch_status(&policy.name_any(), &PatchParams::apply(MANAGER).force(), &Patch::Apply(&body)).await?;
    ctx.written.lock().expect("status lock").insert(policy.uid().unwrap_or_default(), remembered(status));
    Ok(())
}

/// What of a written status the next pass builds on. Drift and the compliance findings
/// are rewritten whole by every pass that looks; of the findings, only the required ones
/// that failed are read back (to tell a new failure from an old one). The rest would be a
/// second copy of every policy's findings, a third of the controller's memory at scale.
/// A pass that cannot look (an unusable spec) keeps the findings of the object's status.
fn remembered(mut status: TrailPolicyStatus) -> TrailPolicyStatus {
    status.drift.clear();
    status.compliance.retain(|f| f.required && f.status == crate::k8s::api::CheckStatus::Fail);
    status
}

/// How long a notice published for a policy keeps an identical one from being published
/// again by a pass that wrote nothing.
const NOTICE_QUIET: Duration = Duration::from_secs(3600);

/// Notices remembered per policy, at most: enough for the distinct Warnings of one pass.
const NOTICES_REMEMBERED: usize = 16;

/// [`publish`], leaving out each notice identical (reason and note) to one published for
/// the policy within [`NOTICE_QUIET`]: a failure seen at every pass is one Event an hour,
/// not one a minute, and kube-runtime's recorder keeps fewer series.
async fn publish_new<P>(ctx: &Context<P>, policy: &TrailPolicy, notices: &[Notice]) {
    let fresh: Vec<Notice> = {
        let mut said = ctx.said.lock().expect("said lock");
        let recent = said.entry(policy.uid().unwrap_or_default()).or_default();
        recent.retain(|(_, at)| at.elapsed() < NOTICE_QUIET);
        notices
            .iter()
            .filter(|notice| {
                let key = notice_key(notice);
                let new = !recent.iter().any(|(k, _)| *k == key);
                if new {
                    if recent.len() == NOTICES_REMEMBERED {
                        recent.remove(0);
                    }
                    recent.push((key, std::time::Instant::now()));
                }
                new
            })
            .cloned()
            .collect()
    };
    publish(ctx, policy, &fresh).await;
}

fn notice_key(notice: &Notice) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    (notice.reason, notice.action, &notice.note).hash(&mut hasher);
    hasher.finish()
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
            // The API refuses notes over 1 KiB (bytes, not characters).
            note: Some(trailwarden_core::bounded::text(&notice.note, trailwarden_core::bounded::EVENT_NOTE_BYTES)),
            action: notice.action.into(),
            secondary: None,
        };
        if let Err(e) = ctx.recorder.publish(&event, &reference).await {
            warn!(error = %e, reason = notice.reason, "could not publish event");
        }
    }
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
