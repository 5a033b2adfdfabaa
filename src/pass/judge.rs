//! One policy judged without changing anything: what `trailwarden check` prints. The
//! same `resolve` and `observe` stages as a pass, and the same checks, with no writes.

use jiff::Timestamp;
use serde::Serialize;
use trailwarden_core::posture::{self, Check, TrailRef, verdict_of};
use trailwarden_core::{Desired, Observed};

use super::{observe, resolve};
use crate::aws::{AwsError, AwsPort};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Judgement {
    pub policy: String,
    pub trail_arn: String,
    /// False when a required check fails, None when one could not be evaluated.
    pub compliant: Option<bool>,
    pub findings: Vec<Check>,
}

pub async fn judge<P: AwsPort>(port: &P, desired: Desired, now: Timestamp) -> Result<Judgement, AwsError> {
    let accounts = observe::accounts(port, &desired).await?;
    let resolved = resolve::resolve(port, desired, &accounts.acting, None).await;
    // `check` judges the trail it names whoever owns it: every fact is read.
    let observed = observe::trail(port, &resolved.desired, &accounts.owner).await?;
    let observation = observe::around(port, &resolved, accounts, observed).await;
    let desired = &resolved.desired;
    let trail_arn = observation.trail_arn(desired);
    let mut checks = match &observation.observed {
        Observed::Present(trail) => posture::trail::evaluate(desired, trail, now),
        Observed::Shadow { arn, home_region } => {
            vec![posture::trail::missing(format!("trail {arn} lives in {home_region}, not in {}", desired.scope.region))]
        }
        Observed::Absent => {
            vec![posture::trail::missing(format!("no trail named {} in {}", desired.trail_name, desired.scope.region))]
        }
    };
    let trail = TrailRef::new(desired, &trail_arn, &observation.account).in_organization(observation.organization_id.as_deref());
    checks.extend(observation.facts.checks(desired, trail));
    let (compliant, _) = verdict_of(&checks);
    Ok(Judgement { policy: desired.policy_name.clone(), trail_arn, compliant, findings: checks })
}
