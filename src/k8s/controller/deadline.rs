//! A pass past its deadline: reported, then retried.

use std::time::Duration;

use jiff::Timestamp;
use kube::ResourceExt;
use kube::runtime::controller::Action;
use tracing::warn;
use trailwarden_core::report::{Failure, Report, Stage, StageFailure};

use super::notices::publish;
use super::written::{previous_with_findings, write_status};
use super::{Context, Error};
use crate::aws::{AwsPort, LastCall};
use crate::k8s::api::TrailPolicy;
use crate::k8s::status;

/// A pass past its deadline, dropped where it stood: reported on the policy (Ready=False,
/// naming what it waited on) and retried with back-off. Every AWS call has its own
/// timeouts; this bounds what they do not (a shared read, a lock, the runtime itself).
pub(super) async fn abandoned<P: AwsPort>(policy: &TrailPolicy, ctx: &Context<P>, last_call: &LastCall) -> Result<Action, Error> {
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
        let previous = previous_with_findings(ctx, policy).await;
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
