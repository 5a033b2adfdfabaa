//! `Report → TrailPolicyStatus`: the one place the domain's report becomes the CRD's
//! status — conditions with their transition times, the remediation record, delivery
//! and findings in the CRD's wire types.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use strum::IntoEnumIterator;
use trailwarden_core::bounded;
use trailwarden_core::posture::{Check, CheckStatus};
use trailwarden_core::report::{ConditionState, ConditionType, Report, progress};
use trailwarden_core::policy::Remembered;
use trailwarden_core::trail::Delivery;

use super::api::{self, TrailPolicy, TrailPolicyStatus};
use crate::pass::History;

/// What the next pass needs to remember from this status.
pub fn history(status: Option<&TrailPolicyStatus>) -> History {
    let Some(status) = status else { return History::default() };
    History {
        had_trail: status.trail_arn.is_some(),
        failing_before: status
            .compliance
            .iter()
            .filter(|f| f.required && f.status == api::CheckStatus::Fail)
            .map(|f| f.id.clone())
            .collect(),
        restarts: status.logging_restarts.iter().map(|t| t.0).collect(),
    }
}

/// The status after a pass: `previous` (the status as last written) carried forward with
/// this report applied.
pub fn status(
    policy: &TrailPolicy,
    previous: Option<TrailPolicyStatus>,
    trail_name: &str,
    report: &Report,
    now: Timestamp,
) -> TrailPolicyStatus {
    let generation = policy.metadata.generation;
    let mut s = previous.unwrap_or_default();
    // A digest describes the copy the watch saw, not what this pass makes of it.
    s.seen_digest = None;
    // The log verifier's record is the verifier's to write (a field of its own manager):
    // a pass that carried an older copy forward would undo its newer one.
    s.log_integrity = None;
    s.observed_generation = generation;
    s.trail_name = Some(trail_name.to_owned());
    s.home_region = Some(policy.spec.region.clone());
    s.last_reconcile_time = Some(Time(now));
    if report.trail_arn.is_some() {
        s.trail_arn = report.trail_arn.clone();
    }
    if report.owned_trail_arn.is_some() {
        s.owned_trail_arn = report.owned_trail_arn.clone();
    }
    if let Some(restarts) = &report.restarts {
        s.logging_restarts = restarts.iter().copied().map(Time).collect();
    }
    s.pinned_kms_key = pin(policy, s.pinned_kms_key.take(), report);
    if report.kms_key_arn.is_some() {
        s.kms_key_arn = report.kms_key_arn.clone();
    }
    s.is_logging = report.is_logging;
    if let Some(delivery) = &report.delivery {
        s.delivery = Some(self::delivery(delivery));
    }
    s.drift = report.drift.iter().map(drift).collect();
    s.compliance = report.findings.iter().map(finding).collect();
    if !report.applied.is_empty() {
        s.remediation_count += 1;
        s.last_remediation = Some(api::Remediation {
            time: Time(now),
            actions: report.applied.iter().map(|w| w.operation.to_owned()).collect(),
        });
    }
    for condition in &report.conditions {
        set_condition(&mut s, condition, generation, now);
    }
    let audit = policy.spec.mode == api::Mode::Audit;
    for condition in progress(&report.conditions, audit) {
        set_condition(&mut s, &condition, generation, now);
    }
    s
}

/// The key the declared alias is pinned to: kept while the spec is unchanged, pinned
/// afresh from this pass's key after a change (or when none was), none for a key declared
/// by id or ARN.
fn pin(policy: &TrailPolicy, pinned: Option<api::PinnedKey>, report: &Report) -> Option<api::PinnedKey> {
    let declared = policy.spec.kms_key_id.as_deref().filter(|k| k.starts_with("alias/") || k.contains(":alias/"))?;
    let generation = policy.metadata.generation.unwrap_or_default();
    match pinned {
        Some(pin) if pin.alias == declared && pin.generation == generation => Some(pin),
        _ => report.kms_key_arn.clone().map(|arn| api::PinnedKey { alias: declared.to_owned(), arn, generation }),
    }
}

/// What the policy's status remembers that a trail's tags or a key's alias cannot take
/// away: the trail it owns, and the key its alias was pinned to (for this spec only).
pub fn remembered(policy: &TrailPolicy, status: Option<&TrailPolicyStatus>) -> Remembered {
    let Some(status) = status else { return Remembered { log_integrity: standing(policy), ..Remembered::default() } };
    let generation = policy.metadata.generation.unwrap_or_default();
    let pinned_key = status
        .pinned_kms_key
        .as_ref()
        .filter(|pin| pin.generation == generation && policy.spec.kms_key_id.as_deref() == Some(pin.alias.as_str()))
        .map(|pin| (pin.alias.clone(), pin.arn.clone()));
    Remembered { trail_arn: status.owned_trail_arn.clone(), pinned_key, log_integrity: standing(policy) }
}

/// The log verifier's record as the object shows it (the status a pass builds on may be
/// this replica's own last write, which never holds it).
fn standing(policy: &TrailPolicy) -> Option<trailwarden_core::integrity::Standing> {
    let record = policy.status.as_ref()?.log_integrity.as_ref()?;
    Some(trailwarden_core::integrity::Standing {
        verified_through: record.verified_through.as_ref().map(|t| t.0),
        first_finding: record.findings.first().map(|f| format!("{} {}: {}", f.problem, f.object, f.detail)),
        error: record.error.clone(),
    })
}

/// How long a status that nothing else changed goes without a write: its
/// `lastReconcileTime` is refreshed this often (the time of every look is the metric
/// `trailwarden_policy_last_look_timestamp_seconds`). With the log verifier's record, two
/// writes per policy in this time: a third of a write per policy per hour at rest.
pub const STATUS_REFRESH: jiff::SignedDuration = jiff::SignedDuration::from_secs(6 * 3600);

/// Whether `status` says nothing `seen` (the policy's status as last seen) does not, but the
/// time of the look, and that time is recent: a pass that changed nothing writes nothing.
pub fn unchanged(seen: Option<&TrailPolicyStatus>, status: &TrailPolicyStatus) -> bool {
    let Some(seen) = seen else { return false };
    let (Some(then), Some(now)) = (&seen.last_reconcile_time, &status.last_reconcile_time) else { return false };
    if now.0.duration_since(then.0) >= STATUS_REFRESH {
        return false;
    }
    seen.seen_digest.unwrap_or_else(|| digest(seen)) == digest(status)
}

/// What [`unchanged`] compares: the status without its times of the look, hashed.
pub fn digest(status: &TrailPolicyStatus) -> api::StatusDigest {
    let untimed = serde_json::to_vec(&untimed(status)).expect("a status serializes to JSON");
    let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &untimed);
    api::StatusDigest(hash.as_ref().try_into().expect("SHA-256 is 32 bytes"))
}

/// Of a written status, what passes read back: all but the drift and the findings, which
/// every pass that looks rewrites whole, save the required findings that fail (to tell a
/// new failure from an old one). The drift and the findings are most of a status: about
/// 5 KB a policy, nearly all of it the findings.
pub fn read_back(status: &mut TrailPolicyStatus) {
    status.drift = Vec::new();
    status.compliance.retain(|f| f.required && f.status == api::CheckStatus::Fail);
    status.compliance.shrink_to_fit();
}

/// The watch's copy of a status: [`read_back`], with the digest of the whole for
/// [`unchanged`]. A pass that cannot look reads the findings from the apiserver instead.
pub fn slim(status: &mut TrailPolicyStatus) {
    status.seen_digest = Some(digest(status));
    read_back(status);
}

/// A status without what moves at every look while nothing is wrong: the look's time, and
/// the times of the latest deliveries (CloudTrail delivers every few minutes). Delivery
/// errors, and when logging was started and stopped, stay: they are news.
///
/// The other times are compared to the second, as the apiserver keeps them: the status a
/// pass builds on carries this replica's own, finer ones.
fn untimed(status: &TrailPolicyStatus) -> TrailPolicyStatus {
    let second = |t: &mut Time| t.0 = jiff::Timestamp::from_second(t.0.as_second()).unwrap_or(t.0);
    let mut status = TrailPolicyStatus { last_reconcile_time: None, log_integrity: None, ..status.clone() };
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

/// The status when the pass could not even start (the spec is unusable, the API refused).
pub fn failed(
    policy: &TrailPolicy,
    previous: Option<TrailPolicyStatus>,
    reason: &'static str,
    message: &str,
    now: Timestamp,
) -> TrailPolicyStatus {
    let generation = policy.metadata.generation;
    let mut s = previous.unwrap_or_default();
    // The log verifier's record is the verifier's to write (a field of its own manager):
    // a pass that carried an older copy forward would undo its newer one.
    s.log_integrity = None;
    s.observed_generation = generation;
    s.last_reconcile_time = Some(Time(now));
    s.is_logging = None;
    let state = |type_, status| ConditionState { type_, status, reason, message: message.to_owned() };
    let ready = state(ConditionType::Ready, Some(false));
    set_condition(&mut s, &ready, generation, now);
    for type_ in [ConditionType::Synced, ConditionType::Logging, ConditionType::Compliant] {
        set_condition(&mut s, &state(type_, None), generation, now);
    }
    for condition in progress(std::slice::from_ref(&ready), false) {
        set_condition(&mut s, &condition, generation, now);
    }
    s
}

fn drift(d: &trailwarden_core::Drift) -> api::Drift {
    // Values are bounded: a policy of 500 selectors must not push the status past etcd's limit.
    api::Drift {
        field: d.field.clone(),
        desired: bounded::text(&d.desired, bounded::DRIFT_VALUE_BYTES),
        observed: bounded::text(&d.observed, bounded::DRIFT_VALUE_BYTES),
    }
}

fn finding(c: &Check) -> api::ComplianceFinding {
    api::ComplianceFinding {
        id: c.id.to_owned(),
        status: match c.status {
            CheckStatus::Pass => api::CheckStatus::Pass,
            CheckStatus::Fail => api::CheckStatus::Fail,
            CheckStatus::Unknown => api::CheckStatus::Unknown,
        },
        controls: c.controls.iter().map(|c| (*c).to_owned()).collect(),
        message: c.message.clone(),
        required: c.required,
    }
}

fn delivery(d: &Delivery) -> api::Delivery {
    let t = |t: &Option<Timestamp>| t.map(Time);
    api::Delivery {
        latest_delivery_time: t(&d.latest_delivery_time),
        latest_delivery_error: d.latest_delivery_error.clone(),
        latest_digest_delivery_time: t(&d.latest_digest_delivery_time),
        latest_digest_delivery_error: d.latest_digest_delivery_error.clone(),
        latest_cloud_watch_logs_delivery_time: t(&d.latest_cloud_watch_logs_delivery_time),
        latest_cloud_watch_logs_delivery_error: d.latest_cloud_watch_logs_delivery_error.clone(),
        latest_notification_time: t(&d.latest_notification_time),
        latest_notification_error: d.latest_notification_error.clone(),
        start_logging_time: t(&d.start_logging_time),
        stop_logging_time: t(&d.stop_logging_time),
    }
}

/// Sets a condition, keeping its transition time when its status did not change.
pub fn set_condition(status: &mut TrailPolicyStatus, state: &ConditionState, generation: Option<i64>, now: Timestamp) {
    let type_: &'static str = state.type_.into();
    let value = match state.status {
        Some(true) => "True",
        Some(false) => "False",
        None => "Unknown",
    };
    let transition = status
        .conditions
        .iter()
        .find(|c| c.type_ == type_ && c.status == value)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or(Time(now));
    status.conditions.retain(|c| c.type_ != type_);
    status.conditions.push(Condition {
        type_: type_.to_owned(),
        status: value.to_owned(),
        reason: state.reason.to_owned(),
        message: state.message.chars().take(32_000).collect(),
        observed_generation: generation,
        last_transition_time: transition,
    });
    let order = |t: &str| ConditionType::iter().position(|c| <&str>::from(c) == t).unwrap_or(usize::MAX);
    status.conditions.sort_by_key(|c| order(&c.type_));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready(status: Option<bool>, reason: &'static str) -> ConditionState {
        ConditionState { type_: ConditionType::Ready, status, reason, message: "m".into() }
    }

    #[test]
    fn condition_keeps_transition_time_while_status_holds() {
        let t0 = Timestamp::from_second(1_000).unwrap();
        let t1 = Timestamp::from_second(2_000).unwrap();
        let mut status = TrailPolicyStatus::default();
        set_condition(&mut status, &ready(Some(true), "Reconciled"), Some(1), t0);
        set_condition(&mut status, &ready(Some(true), "Reconciled"), Some(2), t1);
        assert_eq!(status.conditions[0].last_transition_time, Time(t0));
        set_condition(&mut status, &ready(Some(false), "NotOwned"), Some(2), t1);
        assert_eq!(status.conditions[0].last_transition_time, Time(t1));
        assert_eq!(status.conditions.len(), 1);
    }

    fn finding(id: &str, status: api::CheckStatus, required: bool) -> api::ComplianceFinding {
        api::ComplianceFinding { id: id.into(), status, controls: vec!["CIS 3.1".into()], message: format!("{id} judged"), required }
    }

    /// A status as a pass writes it: findings of every kind, drift, delivery times.
    fn written(at: i64) -> TrailPolicyStatus {
        TrailPolicyStatus {
            trail_arn: Some("arn:aws:cloudtrail:us-east-1:111111111111:trail/t".into()),
            last_reconcile_time: Some(Time(Timestamp::from_second(at).unwrap())),
            delivery: Some(api::Delivery { latest_delivery_time: Some(Time(Timestamp::from_second(at - 5).unwrap())), ..Default::default() }),
            drift: vec![api::Drift { field: "isLogging".into(), desired: "true".into(), observed: "false".into() }],
            compliance: vec![
                finding("CT-LOGGING", api::CheckStatus::Fail, true),
                finding("CT-KMS", api::CheckStatus::Pass, true),
                finding("S3-VERSIONING", api::CheckStatus::Fail, false),
            ],
            ..Default::default()
        }
    }

    #[test]
    fn the_watchs_slim_copy_keeps_what_passes_read_back_and_still_tells_any_change() {
        let mut seen = written(1_000);
        slim(&mut seen);
        assert_eq!(seen.compliance.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(), ["CT-LOGGING"], "the failing required finding stays");
        assert!(seen.drift.is_empty());

        // A minute later, the same judgement: nothing to write.
        assert!(unchanged(Some(&seen), &written(1_060)));
        // A finding the copy no longer holds changed: a write.
        let mut passing_now = written(1_060);
        passing_now.compliance[2].status = api::CheckStatus::Pass;
        assert!(!unchanged(Some(&seen), &passing_now));
        let mut reworded = written(1_060);
        reworded.compliance[1].message = "CT-KMS judged again".into();
        assert!(!unchanged(Some(&seen), &reworded));
        // The drift it dropped went away: a write.
        let mut healed = written(1_060);
        healed.drift.clear();
        assert!(!unchanged(Some(&seen), &healed));
        // Nothing changed, but the status is due its refresh.
        assert!(!unchanged(Some(&seen), &written(1_000 + STATUS_REFRESH.as_secs())));
    }

    #[test]
    fn a_status_someone_else_edited_is_written_back() {
        let mut forged = written(1_000);
        forged.compliance.iter_mut().for_each(|f| f.status = api::CheckStatus::Pass);
        slim(&mut forged);
        assert!(!unchanged(Some(&forged), &written(1_060)));
    }

    #[test]
    fn conditions_are_listed_in_a_stable_order() {
        let now = Timestamp::from_second(1_000).unwrap();
        let mut status = TrailPolicyStatus::default();
        for type_ in [ConditionType::Compliant, ConditionType::Logging, ConditionType::Ready, ConditionType::Synced] {
            set_condition(&mut status, &ConditionState { type_, status: None, reason: "X", message: String::new() }, None, now);
        }
        let types: Vec<&str> = status.conditions.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, ["Ready", "Synced", "Logging", "Compliant"]);
    }

    #[test]
    fn a_policy_that_needs_a_person_is_stalled_and_one_being_corrected_is_reconciling() {
        let policy: TrailPolicy = serde_json::from_value(serde_json::json!({
            "apiVersion": "trailwarden.dev/v1alpha1", "kind": "TrailPolicy", "metadata": {"name": "p", "generation": 3},
            "spec": {"region": "us-east-1", "s3": {"bucketName": "logs"}},
        }))
        .unwrap();
        let now = Timestamp::from_second(1_000).unwrap();
        let s = failed(&policy, None, "InvalidSpec", "bad", now);
        let get = |s: &TrailPolicyStatus, t: &str| s.conditions.iter().find(|c| c.type_ == t).map(|c| (c.status.clone(), c.reason.clone()));
        assert_eq!(get(&s, "Stalled"), Some(("True".into(), "InvalidSpec".into())));
        assert_eq!(get(&s, "Reconciling"), Some(("False".into(), "InvalidSpec".into())));
        assert_eq!(s.observed_generation, Some(3));
    }

    #[test]
    fn drift_values_in_status_are_bounded_in_bytes() {
        let huge = "ü".repeat(100_000);
        let d = drift(&trailwarden_core::Drift { field: "selectors".into(), desired: huge.clone(), observed: "[]".into() });
        assert!(d.desired.len() <= bounded::DRIFT_VALUE_BYTES, "{} bytes", d.desired.len());
        assert_eq!(d.observed, "[]");
    }
}
