//! What the controller keeps of the heals it makes and of a trail someone works against:
//! how long a heal took, the quicker looks after it, the contested trail's caller, and the
//! time its logging was off.

use std::time::Duration;

use jiff::Timestamp;
use kube::ResourceExt;
use trailwarden_core::report::{Reason, Report};

use super::Context;
use crate::k8s::api::TrailPolicy;

/// After a heal, look again soon: 1 s, then 2, 4, 8 … until the resync comes first.
/// Someone undoing the heal each time is then seen within seconds, not a resync later.
pub(super) fn next_look<P>(ctx: &Context<P>, policy: &TrailPolicy, healed: bool, resync: Duration) -> Duration {
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
pub(super) fn name_the_contester<P>(ctx: &Context<P>, policy: &TrailPolicy, report: &mut Report) {
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
pub(super) fn count_logging_off<P>(ctx: &Context<P>, policy: &TrailPolicy, report: &Report) {
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

/// Seconds from when this policy's drift was first seen to now, when this pass corrected
/// all of it. Drift that persists (audit mode, AWS refusing) keeps its first-seen time.
pub(super) fn heal_time<P>(ctx: &Context<P>, policy: &TrailPolicy, report: &Report, now: std::time::Instant) -> Option<f64> {
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
