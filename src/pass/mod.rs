//! One policy, one pass, as named stages, each in its own file:
//!
//! ```text
//! resolve  the declared KMS key → its ARN and facts          (a failure is reported, never fatal)
//! observe  AWS → Observed trail, account, bucket facts         (fatal: nothing known, nothing claimed)
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

use jiff::Timestamp;
use trailwarden_core::Desired;
use trailwarden_core::report::{Report, Stage, StageFailure};

use crate::aws::{AwsError, AwsPort};

pub use cleanup::{Cleanup, cleanup};
pub use judge::{Judgement, judge};

/// What the pass needs to know from before it: the previous status's memory.
#[derive(Clone, Debug, Default)]
pub struct History {
    /// The policy had a trail at its last look (so a missing one was deleted out of band).
    pub had_trail: bool,
    /// Ids of the required checks that failed at the last look.
    pub failing_before: Vec<String>,
}

/// A failed AWS call, reported under the stage that made it.
pub(crate) fn failed(stage: Stage, error: &AwsError) -> StageFailure {
    StageFailure { stage, failure: error.category(), message: error.to_string() }
}

/// Reconciles one policy against AWS: `resolve → observe → plan → apply → report`, then
/// announces what changed on the policy's topic.
pub async fn run<P: AwsPort>(port: &P, desired: Desired, history: &History, now: Timestamp) -> Report {
    let resolved = resolve::resolve(port, desired).await;
    let key_arn = resolved.key.as_ref().and_then(|k| k.as_ref().ok()).map(|k| k.arn.clone());
    let unobserved = |error: &AwsError| Report { kms_key_arn: key_arn.clone(), ..Report::unobserved(failed(Stage::Observe, error)) };
    let observed = match observe::trail(port, &resolved.desired).await {
        Ok(observed) => observed,
        Err(error) => return unobserved(&error),
    };
    if let Some(blocked) = trailwarden_core::plan::blocked(&resolved.desired, &observed) {
        return Report { kms_key_arn: key_arn, ..Report::blocked(&blocked, observed.arn().map(str::to_owned)) };
    }
    let observation = match observe::around(port, &resolved, observed).await {
        Ok(observation) => observation,
        Err(error) => return unobserved(&error),
    };
    let (resolved, observation, plan) = off_runtime(move || {
        let plan = plan::plan(&resolved, &observation);
        (resolved, observation, plan)
    })
    .await;
    let applied = apply::apply(port, &resolved, &observation, &plan).await;
    let (resolved, observation, mut report) = {
        let history = history.clone();
        off_runtime(move || {
            let report = report::report(&resolved, &observation, &plan, applied, &history, now);
            (resolved, observation, report)
        })
        .await
    };
    notify::announce(port, &resolved.desired, &observation, history, &mut report, now).await;
    report.kms_key_arn = key_arn;
    report
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
