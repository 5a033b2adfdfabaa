//! Stage `report`: what the pass established, from what `apply` returned — the trail as
//! the successful writes left it, the writes themselves and the stages that failed.
//! What still differs is planned afresh against that trail, so a refused write shows as
//! drift that remains, never as a correction.

use jiff::Timestamp;
use trailwarden_core::posture::{self, TrailRef};
use trailwarden_core::report::{PassResult, Report};
use trailwarden_core::{Observed, plan};

use super::History;
use super::apply::Applied;
use super::observe::Observation;
use super::plan::Planned;
use super::resolve::Resolved;

pub fn report(
    resolved: &Resolved,
    observation: &Observation,
    planned: &Planned,
    applied: Applied,
    history: &History,
    now: Timestamp,
) -> Report {
    let desired = &resolved.desired;
    let Applied { trail, facts, writes, failures, .. } = applied;
    let remaining = match &trail {
        Some(t) => plan(desired, &Observed::Present(Box::new(t.clone()))).drift,
        None => planned.trail.drift.clone(),
    };
    let checks = trail.as_ref().map(|t| {
        let mut checks = posture::trail::evaluate(desired, t, now);
        let trail = TrailRef::new(desired, t.arn(), &observation.account).in_organization(observation.organization_id.as_deref());
        checks.extend(facts.checks(desired, trail));
        checks
    });
    let key_deletion = match &facts.key {
        Some(Ok(key)) => Some(key.deletion_date.map(|date| (key.arn.clone(), date))),
        _ => None,
    };
    let report = Report::of(PassResult {
        audit: desired.audit(),
        observed: &observation.observed,
        plan: &planned.trail,
        trail: trail.as_ref(),
        remaining,
        had_trail: history.had_trail,
        applied: writes,
        failures,
        checks,
        below_floor: resolved.below_floor.clone(),
    });
    Report { key_deletion, ..report }
}
