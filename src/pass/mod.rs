//! One policy, one pass, as named stages, each in its own file:
//!
//! ```text
//! observe  the accounts (acting, trail owner), AWS → Observed (fatal: nothing known, nothing claimed;
//!          a trail the policy may not touch ends the pass here, reported as blocked)
//! resolve  the declared KMS key → its ARN and facts          (a failure is reported, never fatal)
//! observe  the bucket's facts (in its region, as its owner when the pass can be)
//! plan     pure: drift, trail actions, posture fixes           (trailwarden_core)
//! apply    logging first, then each stage on its own           (skipped whole in Audit mode)
//! report   built from what apply returned (`Applied`), never from the plan
//! ```
//!
//! The pass touches AWS only through the port and knows nothing of Kubernetes: the
//! controller maps the [`Report`] onto the policy's status and Events.

mod apply;
pub mod cleanup;
mod judge;
mod notify;
mod observe;
mod plan;
mod report;
mod resolve;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use jiff::Timestamp;
use trailwarden_core::{Desired, Observed};
use trailwarden_core::report::{Notice, Reason, Report, Severity, Stage, StageFailure};

use crate::aws::{AwsError, AwsPort, AwsResult};

pub use cleanup::{Cleanup, cleanup};
pub use judge::{Judgement, judge};

/// What the pass needs to know from before it: the previous status's memory.
#[derive(Clone, Debug, Default)]
pub struct History {
    /// The policy had a trail at its last look (so a missing one was deleted out of band).
    pub had_trail: bool,
    /// Ids of the required checks that failed at the last look.
    pub failing_before: Vec<String>,
    /// When trailwarden restarted logging lately (see [`trailwarden_core::report::Contest`]).
    pub restarts: Vec<Timestamp>,
}

/// A failed AWS call, reported under the stage that made it.
pub(crate) fn failed(stage: Stage, error: &AwsError) -> StageFailure {
    StageFailure { stage, failure: error.category(), message: error.to_string() }
}

/// Reconciles one policy against AWS: `resolve → observe → plan → apply → report`, then
/// announces what changed on the policy's topic.
///
/// A port that shares recent reads between passes is looked through first; facts read
/// there may only conclude that nothing is to be written, or that a trail is to be
/// created (see [`Writes::NotFromShared`]). A pass that would write otherwise looks again
/// through [`AwsPort::fresh`] (the trail's facts and key, and the bucket's when it would
/// fix it) and plans and writes from that.
pub async fn run<P: AwsPort>(port: &P, desired: Desired, history: &History, now: Timestamp) -> Report {
    let mut report = shared_then_fresh(port, desired, history, now).await;
    report.contest(&history.restarts, now);
    report
}

/// The pass's looks: through the shared reads first, then afresh when it must write.
///
/// A look that restarted logging and then gave way to another keeps the restart in
/// `restarted`: the report of the look that ends the pass names it.
async fn shared_then_fresh<P: AwsPort>(port: &P, desired: Desired, history: &History, now: Timestamp) -> Report {
    let mut restarted = None;
    let report = looks(port, desired, history, now, &mut restarted).await;
    match restarted {
        Some(Ok(())) => report.restarted_earlier(),
        _ => report,
    }
}

async fn looks<P: AwsPort>(port: &P, desired: Desired, history: &History, now: Timestamp, restarted: &mut Option<AwsResult<()>>) -> Report {
    if port.fresh(true).is_none() {
        return look(port, desired, history, now, Writes::Allowed, restarted).await.unwrap_or_else(|_| unreachable!("writes allowed"));
    }
    let posture = match look(port, desired.clone(), history, now, Writes::NotFromShared, restarted).await {
        Ok(report) => return report,
        Err(posture) => posture,
    };
    if !posture {
        let fresh = port.fresh(false).expect("a port that shares reads has a fresh view");
        // Err: the bucket or key needs a fix after all, planned from fresh facts of theirs too.
        if let Ok(report) = look(&fresh, desired.clone(), history, now, Writes::TrailOnly, restarted).await {
            return report;
        }
    }
    let fresh = port.fresh(true).expect("a port that shares reads has a fresh view");
    look(&fresh, desired, history, now, Writes::Allowed, restarted).await.unwrap_or_else(|_| unreachable!("writes allowed"))
}

/// Whether a look may go on to write.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Writes {
    Allowed,
    /// The trail's facts are fresh, the bucket's and key's may be shared: a plan that
    /// fixes the bucket or key ends the look (`Err(true)`).
    TrailOnly,
    /// The facts may be shared ones: a plan with writes ends the look, saying whether it
    /// would fix the bucket or key (`Err(true)`) or only the trail (`Err(false)`).
    ///
    /// Save one: creating a trail the shared list does not show, with no key to resolve
    /// and no posture fix. CreateTrail is refused when a trail of that name exists, so
    /// that write cannot act on an out-of-date fact; when refused, the look ends
    /// (`Err(false)`) and the pass looks again afresh. Every other write of such a plan
    /// goes to the trail just created.
    NotFromShared,
}

/// Whether the plan only creates a trail and writes to it, judged from nothing but its
/// absence (no key to resolve, no bucket or key fix).
fn creates_only(resolved: &resolve::Resolved, observation: &observe::Observation, plan: &plan::Planned) -> bool {
    matches!(observation.observed, Observed::Absent) && resolved.key.is_none() && !plan.fixes_posture()
}

/// `restarted`: the outcome of the StartLogging this look (or an earlier one of the pass)
/// made before its other reads.
async fn look<P: AwsPort>(
    port: &P,
    desired: Desired,
    history: &History,
    now: Timestamp,
    writes: Writes,
    restarted: &mut Option<AwsResult<()>>,
) -> Result<Report, bool> {
    // The trail first: a trail the policy may not touch costs no key or posture reads.
    let observed = match observe::accounts(port, &desired).await {
        Ok(accounts) => observe::trail(port, &desired, &accounts.owner).await.map(|observed| (accounts, observed)),
        Err(error) => Err(observe::Unread { error, partial: None }),
    };
    let (accounts, observed) = match observed {
        Ok(seen) => seen,
        // Restarting on a partial read is a write: never from shared reads.
        Err(observe::Unread { partial: Some(_), .. }) if writes == Writes::NotFromShared => return Err(false),
        Err(observe::Unread { error, partial: Some(partial) }) => return Ok(first_aid(port, &desired, partial, &error).await),
        Err(observe::Unread { error, .. }) => return Ok(Report::unobserved(failed(Stage::Observe, &error))),
    };
    if let Some(blocked) = trailwarden_core::plan::blocked(&desired, &observed) {
        return Ok(Report::blocked(&blocked, observed.arn().map(str::to_owned)));
    }
    // Logging first, before any other read: a stopped trail is restarted whatever the
    // key, the bucket or any later read would say, and however long they take. A look
    // through shared reads leaves that to the fresh look that follows at once.
    let stopped = observed.trail().filter(|t| !t.status.is_logging && (desired.logging || desired.floor.logging) && !desired.audit());
    let restart = match (stopped, writes) {
        (None, _) => None,
        (Some(_), Writes::NotFromShared) => return Err(false),
        (Some(trail), _) => Some(port.start_logging(&desired.scope, trail.arn()).await),
    };
    if restart.is_some() {
        restarted.clone_from(&restart);
    }
    let resolved = resolve::resolve(port, desired, &accounts.acting, observed.trail()).await;
    if let (Some(why), None) = (&resolved.no_new_trail, observed.trail()) {
        return Ok(Report::below_floor(why.clone()));
    }
    let resolved = Arc::new(resolved);
    let kms_key_arn = resolved.key.as_ref().and_then(|k| k.as_ref().ok()).map(|k| k.arn.clone());
    let seen = Seen { accounts, observed, restart };
    let mut report = stages(port, resolved.clone(), seen, history, now, writes).await?;
    if report.applied.iter().any(|w| w.operation == "StartLogging") || report.failures.iter().any(|f| f.stage == Stage::Logging) {
        // This look's report names the restart (made now or by an earlier look).
        *restarted = None;
    }
    if let Some(moved) = &resolved.alias_moved {
        report.alias_moved = true;
        report.notices.push(Notice { severity: Severity::Warning, reason: Reason::KeyAliasMoved.into(), action: "Resolve", note: moved.clone() });
    }
    Ok(Report { kms_key_arn, ..report })
}

/// A trail whose logging state was read and whose rest was not: logging is restarted if
/// it stopped and the trail is the policy's (by its uid tag, or the ARN the policy
/// remembers owning), and nothing else is done. In Audit mode nothing is.
async fn first_aid<P: AwsPort>(port: &P, desired: &Desired, partial: observe::Partial, error: &AwsError) -> Report {
    let failure = failed(Stage::Observe, error);
    let ours = match &partial.tags {
        Some(tags) => trailwarden_core::plan::is_ours(desired, &partial.arn, tags),
        None => desired.remembered.trail_arn.as_deref() == Some(partial.arn.as_str()),
    };
    let wants_logging = desired.logging || desired.floor.logging;
    let restart = match ours && wants_logging && !partial.is_logging && !desired.audit() {
        true => Some(port.start_logging(&desired.scope, &partial.arn).await.map_err(|e| failed(Stage::Logging, &e))),
        false => None,
    };
    Report::partly_observed(failure, partial.arn, partial.is_logging, restart)
}

/// What the look has seen and done before the bucket and key: the accounts, the trail,
/// and the StartLogging made at once if it had stopped.
struct Seen {
    accounts: observe::Accounts,
    observed: Observed,
    restart: Option<AwsResult<()>>,
}

/// `observe` (the rest) `→ plan → apply → report` and the announcement.
async fn stages<P: AwsPort>(
    port: &P,
    resolved: Arc<resolve::Resolved>,
    seen: Seen,
    history: &History,
    now: Timestamp,
    writes: Writes,
) -> Result<Report, bool> {
    let Seen { accounts, observed, restart } = seen;
    let observation = Arc::new(observe::around(port, &resolved, accounts, observed).await);
    let plan = Arc::new(off_runtime({
        let (resolved, observation) = (resolved.clone(), observation.clone());
        move || plan::plan(&resolved, &observation)
    })
    .await);
    match writes {
        Writes::NotFromShared if plan.writes(&resolved.desired) && !creates_only(&resolved, &observation, &plan) => {
            return Err(plan.fixes_posture());
        }
        Writes::TrailOnly if plan.fixes_posture() => return Err(true),
        _ => {}
    }
    let applied = apply::apply(port, &resolved, &observation, &plan, restart).await;
    if writes == Writes::NotFromShared && applied.outdated {
        return Err(false);
    }
    let mut report = off_runtime({
        let (resolved, observation, plan, history) = (resolved.clone(), observation.clone(), plan.clone(), history.clone());
        move || report::report(&resolved, &observation, &plan, applied, &history, now)
    })
    .await;
    notify::announce(port, &resolved.desired, &observation, history, &mut report, now).await;
    Ok(report)
}

/// Runs a posture stage on the blocking pool. Planning fixes and judging checks parse and
/// match policy documents that whoever can edit the bucket or key wrote; the matching is
/// linear and capped, but a crafted document must still never hold a runtime worker that
/// the lease renewal and `/healthz` need.
async fn off_runtime<T: Send + 'static>(stage: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(stage).await {
        Ok(value) => value,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}
