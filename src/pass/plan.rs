//! Stage `plan`: the trail's plan (drift and ordered actions) and the posture fixes that
//! `manage` allows. Pure; the rules live in `trailwarden_core`.

use trailwarden_core::Plan;
use trailwarden_core::posture::TrailRef;
use trailwarden_core::posture::bucket::BucketFix;
use trailwarden_core::posture::key::KeyFix;

use super::observe::Observation;
use super::resolve::Resolved;

/// Everything the pass means to write.
pub struct Planned {
    pub trail: Plan,
    pub bucket_fixes: Vec<BucketFix>,
    pub key_fixes: Vec<KeyFix>,
}

impl Planned {
    /// Whether applying it would write to AWS (in audit mode nothing is ever written).
    pub fn writes(&self, desired: &trailwarden_core::Desired) -> bool {
        !desired.audit() && (!self.trail.actions.is_empty() || !self.bucket_fixes.is_empty() || !self.key_fixes.is_empty())
    }
}

impl Planned {
    /// Whether it fixes the bucket or the key (their facts must then be fresh too).
    pub fn fixes_posture(&self) -> bool {
        !self.bucket_fixes.is_empty() || !self.key_fixes.is_empty()
    }
}

pub fn plan(resolved: &Resolved, observation: &Observation) -> Planned {
    let desired = &resolved.desired;
    let trail = trailwarden_core::plan(desired, &observation.observed);
    let arn = observation.trail_arn(desired);
    let (mut bucket_fixes, mut key_fixes) = if desired.audit() {
        (vec![], vec![])
    } else {
        let trail = TrailRef::new(desired, &arn, &observation.account).in_organization(observation.organization_id.as_deref());
        observation.facts.fixes(desired, trail)
    };
    // Only the owner's account may fix its bucket or key: without a role there, nothing
    // is planned (the checks say what could not be judged and why).
    if !observation.bucket_reach.as_owner {
        bucket_fixes.clear();
    }
    if resolved.key_reach.as_ref().is_some_and(|r| !r.as_owner) {
        key_fixes.clear();
    }
    Planned { trail, bucket_fixes, key_fixes }
}
