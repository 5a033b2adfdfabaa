//! One policy, one pass: `Desired → resolve references → observe → plan → apply → status`.
//!
//! This module decides and acts on AWS (through the port) but does not touch
//! Kubernetes: it returns the status to write and the events to publish, and the
//! controller writes them. The clock is passed in.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::api::{Mode, OWNER_TAG, OWNER_UID_TAG, Remediation, TrailPolicy, TrailPolicyStatus};
use crate::aws::{AwsError, AwsPort, ErrorKind};
use crate::desired::{Desired, InvalidSpec};
use crate::observe::{Observed, ObservedTrail, observe};
use crate::posture;
use crate::plan::{Action, Plan, is_ours, plan};
use crate::trail::{Tags, TrailStatus};

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    InvalidSpec(#[from] InvalidSpec),
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("trail {0} is still listed after DeleteTrail; waiting for it to go")]
    DeletionPending(String),
}

/// Every reason [`ReconcileError::reason`] and the controller can give.
pub const ERROR_REASONS: &[&str] = &[
    "InvalidSpec",
    "DeletionPending",
    "BucketNotFound",
    "KmsKeyNotFound",
    "NotFound",
    "AccessDenied",
    "Throttled",
    "InvalidConfiguration",
    "AwsUnavailable",
    "AwsError",
    "KubernetesApi",
    "Finalizer",
];

impl ReconcileError {
    /// A short, stable category: the condition reason, the Event reason and the metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            ReconcileError::InvalidSpec(_) => "InvalidSpec",
            ReconcileError::DeletionPending(_) => "DeletionPending",
            ReconcileError::Aws(e) => match (e.code.as_str(), e.kind) {
                ("S3BucketDoesNotExistException", _) => "BucketNotFound",
                ("KmsKeyNotFoundException" | "KmsKeyDisabledException", _) => "KmsKeyNotFound",
                (_, ErrorKind::NotFound) if e.service == "KMS" => "KmsKeyNotFound",
                (_, ErrorKind::NotFound) => "NotFound",
                (_, ErrorKind::AccessDenied) => "AccessDenied",
                (_, ErrorKind::Throttled) => "Throttled",
                (_, ErrorKind::Invalid) => "InvalidConfiguration",
                (_, ErrorKind::Unavailable) => "AwsUnavailable",
                (_, ErrorKind::Other) => "AwsError",
            },
        }
    }
}

/// Severity of a [`Notice`], as Kubernetes Events know it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Normal,
    Warning,
}

/// Something worth a Kubernetes Event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub severity: Severity,
    pub reason: &'static str,
    pub action: &'static str,
    pub note: String,
}

/// What one pass decided and did.
#[derive(Debug)]
pub struct Outcome {
    /// The status to write (always written, errors included).
    pub status: TrailPolicyStatus,
    pub notices: Vec<Notice>,
    pub plan: Option<Plan>,
    /// AWS writes that succeeded, in order.
    pub applied: Vec<&'static str>,
    pub error: Option<ReconcileError>,
}

/// Reconcile one policy against AWS.
pub async fn reconcile<P: AwsPort>(port: &P, policy: &TrailPolicy, now: Timestamp) -> Outcome {
    let previous = policy.status.clone().unwrap_or_default();
    let mut status = previous.clone();
    status.observed_generation = policy.metadata.generation;
    status.last_reconcile_time = Some(Time(now));
    status.home_region = Some(policy.spec.region.clone());
    let generation = policy.metadata.generation;
    let mut outcome = Outcome { status, notices: vec![], plan: None, applied: vec![], error: None };

    let desired = match Desired::from_policy(policy) {
        Ok(desired) => desired,
        Err(e) => return outcome.failed(e.into(), generation, now),
    };
    outcome.status.trail_name = Some(desired.trail_name.clone());

    let desired = match resolve_kms_key(port, desired).await {
        Ok(desired) => desired,
        Err(e) => return outcome.failed(e.into(), generation, now),
    };
    let observed = match observe(port, &desired).await {
        Ok(observed) => observed,
        Err(e) => return outcome.failed(e.into(), generation, now),
    };
    let plan = plan(&desired, &observed);
    let (mut trail_arn, mut trail_status) = match &observed {
        Observed::Present(t) => (Some(t.arn().to_owned()), Some(t.status.clone())),
        Observed::Shadow { arn, .. } => (Some(arn.clone()), None),
        Observed::Absent => (None, None),
    };

    if let Some(blocked) = &plan.blocked {
        outcome.status.trail_arn = trail_arn;
        outcome.status.drift = vec![];
        let s = &mut outcome.status;
        set_condition(s, "Ready", Some(false), blocked.reason(), &blocked.to_string(), generation, now);
        set_condition(s, "Synced", None, blocked.reason(), "not managed by this policy", generation, now);
        set_condition(s, "Logging", None, blocked.reason(), "not managed by this policy", generation, now);
        outcome.notices.push(Notice {
            severity: Severity::Warning,
            reason: blocked.reason(),
            action: "Reconcile",
            note: blocked.to_string(),
        });
        outcome.plan = Some(plan);
        return outcome.with_compliance_placeholder(generation, now);
    }

    let audit = desired.mode == Mode::Audit;
    let mut judged: Option<ObservedTrail> = match &observed {
        Observed::Present(t) => Some(t.clone()),
        _ => None,
    };
    if audit || plan.actions.is_empty() {
        if audit && !plan.drift.is_empty() {
            outcome.notices.push(Notice {
                severity: Severity::Warning,
                reason: "DriftObserved",
                action: "Audit",
                note: format!("audit mode, nothing changed: {}", describe_drift(&plan)),
            });
        }
        outcome.status.drift = plan.drift.clone();
    } else {
        let recreated = matches!(observed, Observed::Absent) && previous.trail_arn.is_some();
        match apply(port, &desired, &plan, trail_arn.clone()).await {
            Ok(applied) => {
                trail_arn = applied.trail_arn.clone();
                trail_status = Some(logging_after(trail_status, &plan));
                judged = Some(trail_after(&desired, &observed, trail_arn.clone().unwrap_or_default(), trail_status.clone()));
                outcome.applied = applied.done.clone();
                outcome.status.drift = vec![];
                outcome.notices.extend(remediation_notices(&plan, recreated));
                outcome.status.remediation_count += 1;
                outcome.status.last_remediation = Some(Remediation {
                    time: Time(now),
                    actions: applied.done.iter().map(|a| a.to_string()).collect(),
                });
            }
            Err((done, e)) => {
                outcome.applied = done;
                outcome.status.drift = plan.drift.clone();
                outcome.status.trail_arn = trail_arn;
                outcome.plan = Some(plan);
                return outcome.failed(e.into(), generation, now);
            }
        }
    }

    let logging = trail_status.as_ref().map(|s| s.is_logging);
    let s = &mut outcome.status;
    s.trail_arn = trail_arn;
    s.is_logging = logging;
    if let Some(ts) = trail_status {
        s.delivery = Some(ts.delivery);
    }
    set_condition(s, "Ready", Some(true), "Reconciled", "the trail is managed by this policy", generation, now);
    if s.drift.is_empty() {
        set_condition(s, "Synced", Some(true), "InSync", "the trail matches the policy", generation, now);
    } else {
        let message = format!("audit mode: {} setting(s) differ: {}", s.drift.len(), describe_drift(&plan));
        set_condition(s, "Synced", Some(false), "DriftDetected", &message, generation, now);
    }
    match logging {
        Some(true) => set_condition(s, "Logging", Some(true), "Logging", "the trail is logging", generation, now),
        Some(false) => set_condition(s, "Logging", Some(false), "NotLogging", "the trail is not logging", generation, now),
        None => set_condition(s, "Logging", None, "TrailAbsent", "the trail does not exist", generation, now),
    }
    outcome.plan = Some(plan);
    match judged {
        Some(trail) => {
            let checks = posture::evaluate(&desired, &trail, now);
            let (compliant, message) = posture::verdict_of(&checks);
            let reason = match compliant {
                Some(true) => "ChecksPass",
                Some(false) => "ChecksFailing",
                None => "ChecksUnknown",
            };
            let s = &mut outcome.status;
            s.compliance = checks.into_iter().map(|c| c.finding).collect();
            set_condition(s, "Compliant", compliant, reason, &message, generation, now);
            outcome
        }
        None => outcome.with_compliance_placeholder(generation, now),
    }
}

/// The trail as it stands once every planned action has succeeded.
fn trail_after(desired: &Desired, observed: &Observed, arn: String, status: Option<TrailStatus>) -> ObservedTrail {
    let mut trail = match observed {
        Observed::Present(t) => t.clone(),
        _ => ObservedTrail {
            description: crate::trail::TrailDescription {
                name: desired.trail_name.clone(),
                arn: arn.clone(),
                home_region: desired.scope.region.clone(),
                settings: desired.settings.clone(),
                has_custom_event_selectors: !desired.selectors.is_aws_default(),
                has_insight_selectors: !desired.insights.is_empty(),
            },
            status: TrailStatus::default(),
            selectors: desired.selectors.clone(),
            insights: desired.insights.clone(),
            tags: desired.all_tags(),
        },
    };
    trail.description.arn = arn;
    trail.description.settings = desired.settings.clone();
    trail.selectors = desired.selectors.clone();
    trail.insights = desired.insights.clone();
    if let Some(status) = status {
        trail.status = status;
    }
    trail
}

impl Outcome {
    fn failed(mut self, error: ReconcileError, generation: Option<i64>, now: Timestamp) -> Self {
        let reason = error.reason();
        let message = error.to_string();
        let s = &mut self.status;
        set_condition(s, "Ready", Some(false), reason, &message, generation, now);
        set_condition(s, "Synced", None, reason, "could not compare the trail with the policy", generation, now);
        self.notices.push(Notice { severity: Severity::Warning, reason, action: "Reconcile", note: message });
        self.error = Some(error);
        self.with_compliance_placeholder(generation, now)
    }

    /// No trail of ours to judge in this pass (absent, not ours, or AWS refused).
    fn with_compliance_placeholder(mut self, generation: Option<i64>, now: Timestamp) -> Self {
        let s = &mut self.status;
        s.compliance.clear();
        set_condition(s, "Compliant", None, "NotEvaluated", "no trail of this policy could be judged in this pass", generation, now);
        self
    }
}

async fn resolve_kms_key<P: AwsPort>(port: &P, desired: Desired) -> Result<Desired, AwsError> {
    let Some(key) = desired.settings.kms_key.clone() else {
        return Ok(desired);
    };
    let arn = port.resolve_kms_key(&desired.scope, &key).await?;
    Ok(desired.with_kms_key_arn(Some(arn)))
}

struct Applied {
    trail_arn: Option<String>,
    done: Vec<&'static str>,
}

/// Runs the plan's actions in order, stopping at the first refusal so nothing after a
/// failed step is attempted on a half-known trail. Every action is idempotent: the next
/// pass re-plans from what AWS then reports.
async fn apply<P: AwsPort>(
    port: &P,
    desired: &Desired,
    plan: &Plan,
    mut trail_arn: Option<String>,
) -> Result<Applied, (Vec<&'static str>, AwsError)> {
    let scope = &desired.scope;
    let mut done = vec![];
    for action in &plan.actions {
        let arn = trail_arn.clone().unwrap_or_default();
        let result = match action {
            Action::CreateTrail { name, settings, tags } => {
                port.create_trail(scope, name, settings, tags).await.map(|created| trail_arn = Some(created))
            }
            Action::AdoptTrail { tags } | Action::AddTags(tags) => port.add_tags(scope, &arn, tags).await,
            Action::UpdateTrail(settings) => port.update_trail(scope, &arn, settings).await,
            Action::PutEventSelectors(selectors) => port.put_event_selectors(scope, &arn, selectors).await,
            Action::StartLogging => port.start_logging(scope, &arn).await,
            Action::StopLogging => port.stop_logging(scope, &arn).await,
            Action::PutInsightSelectors(insights) => port.put_insight_selectors(scope, &arn, insights).await,
        };
        match result {
            Ok(()) => done.push(action.name()),
            Err(e) => return Err((done, e)),
        }
    }
    Ok(Applied { trail_arn, done })
}

fn logging_after(before: Option<TrailStatus>, plan: &Plan) -> TrailStatus {
    let mut status = before.unwrap_or_default();
    for action in &plan.actions {
        match action {
            Action::StartLogging => status.is_logging = true,
            Action::StopLogging => status.is_logging = false,
            _ => {}
        }
    }
    status
}

fn describe_drift(plan: &Plan) -> String {
    plan.drift
        .iter()
        .map(|d| format!("{} (want {}, found {})", d.field, d.desired, d.observed))
        .collect::<Vec<_>>()
        .join("; ")
}

fn remediation_notices(plan: &Plan, recreated: bool) -> Vec<Notice> {
    let names: Vec<&str> = plan.actions.iter().map(Action::name).collect();
    if plan.actions.iter().any(|a| matches!(a, Action::CreateTrail { .. })) {
        let (reason, what) = if recreated { ("TrailRecreated", "recreated after it was deleted") } else { ("TrailCreated", "created") };
        return vec![Notice { severity: Severity::Normal, reason, action: "CreateTrail", note: format!("trail {what}: {}", names.join(", ")) }];
    }
    let mut notices = vec![];
    if plan.actions.iter().any(|a| matches!(a, Action::AdoptTrail { .. })) {
        notices.push(Notice {
            severity: Severity::Normal,
            reason: "TrailAdopted",
            action: "AdoptTrail",
            note: "existing trail adopted and tagged as managed by this policy".into(),
        });
    }
    if plan.actions.contains(&Action::StartLogging) {
        notices.push(Notice {
            severity: Severity::Normal,
            reason: "LoggingRestarted",
            action: "StartLogging",
            note: "logging was stopped; restarted".into(),
        });
    }
    let corrected: Vec<_> = plan.drift.iter().filter(|d| d.field != "logging").collect();
    if !corrected.is_empty() {
        let note = corrected.iter().map(|d| format!("{}: {} -> {}", d.field, d.observed, d.desired)).collect::<Vec<_>>().join("; ");
        notices.push(Notice { severity: Severity::Normal, reason: "DriftCorrected", action: "Correct", note });
    }
    notices
}

/// Sets a condition, keeping its transition time when its status did not change.
pub fn set_condition(
    status: &mut TrailPolicyStatus,
    type_: &str,
    value: Option<bool>,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: Timestamp,
) {
    let value = match value {
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
        reason: reason.to_owned(),
        message: message.chars().take(32_000).collect(),
        observed_generation: generation,
        last_transition_time: transition,
    });
    status.conditions.sort_by_key(|c| condition_order(&c.type_));
}

fn condition_order(type_: &str) -> usize {
    ["Ready", "Synced", "Logging", "Compliant"].iter().position(|t| *t == type_).unwrap_or(usize::MAX)
}

/// What became of the trail when its policy went away.
#[derive(Debug, PartialEq, Eq)]
pub enum Cleanup {
    /// Audit mode: AWS is never written to, so nothing was done.
    AuditOnly,
    NoTrail,
    NotOurs { arn: String },
    Retained { arn: String },
    Deleted { arn: String },
}

impl Cleanup {
    pub fn notice(&self) -> Notice {
        let (reason, note) = match self {
            Cleanup::AuditOnly => ("Released", "audit mode: the trail was not touched".to_owned()),
            Cleanup::NoTrail => ("Released", "no trail to clean up".to_owned()),
            Cleanup::NotOurs { arn } => ("TrailLeftAlone", format!("trail {arn} is not managed by this policy; left as it is")),
            Cleanup::Retained { arn } => ("TrailRetained", format!("deletionPolicy Retain: trail {arn} kept, our tags removed")),
            Cleanup::Deleted { arn } => ("TrailDeleted", format!("deletionPolicy Delete: trail {arn} deleted")),
        };
        Notice { severity: Severity::Normal, reason, action: "Cleanup", note }
    }
}

/// Honours `deletionPolicy` for a policy being deleted. An error keeps the finalizer, so
/// a refusing AWS is retried, never skipped.
pub async fn cleanup<P: AwsPort>(port: &P, policy: &TrailPolicy) -> Result<Cleanup, ReconcileError> {
    let desired = Desired::from_policy(policy)?;
    if desired.mode == Mode::Audit {
        return Ok(Cleanup::AuditOnly);
    }
    let scope = &desired.scope;
    let trails = port.describe_trails(scope).await?;
    let Some(trail) = trails.into_iter().find(|t| t.name == desired.trail_name && t.home_region == scope.region) else {
        return Ok(Cleanup::NoTrail);
    };
    let tags: Tags = port.list_tags(scope, &trail.arn).await?;
    if !is_ours(&desired, &tags) {
        return Ok(Cleanup::NotOurs { arn: trail.arn });
    }
    match desired.deletion_policy {
        crate::api::DeletionPolicy::Retain => {
            port.remove_tags(scope, &trail.arn, &[OWNER_TAG.to_owned(), OWNER_UID_TAG.to_owned()]).await?;
            Ok(Cleanup::Retained { arn: trail.arn })
        }
        crate::api::DeletionPolicy::Delete => {
            port.delete_trail(scope, &trail.arn).await?;
            let still_there = port.describe_trails(scope).await?.iter().any(|t| t.arn == trail.arn);
            if still_there {
                return Err(ReconcileError::DeletionPending(trail.arn));
            }
            Ok(Cleanup::Deleted { arn: trail.arn })
        }
    }
}

/// When to look again after a successful pass: `resyncSeconds` plus up to 10% jitter, so
/// many policies created together do not all hit AWS in the same second.
pub fn next_resync(resync_seconds: u32, seed: &str, now: Timestamp) -> Duration {
    let base = Duration::from_secs(u64::from(resync_seconds.max(1)));
    let spread = base.as_millis() as u64 / 10;
    if spread == 0 {
        return base;
    }
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in seed.bytes().chain(now.as_nanosecond().to_le_bytes()) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3);
    }
    base + Duration::from_millis(hash % spread)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_ten_percent() {
        let now = Timestamp::now();
        for seed in ["a", "b", "c", "policy-uid"] {
            let d = next_resync(60, seed, now);
            assert!(d >= Duration::from_secs(60) && d < Duration::from_secs(66), "{d:?}");
        }
    }

    #[test]
    fn condition_keeps_transition_time_while_status_holds() {
        let t0 = Timestamp::from_second(1_000).unwrap();
        let t1 = Timestamp::from_second(2_000).unwrap();
        let mut status = TrailPolicyStatus::default();
        set_condition(&mut status, "Ready", Some(true), "Reconciled", "ok", Some(1), t0);
        set_condition(&mut status, "Ready", Some(true), "Reconciled", "ok", Some(2), t1);
        assert_eq!(status.conditions[0].last_transition_time, Time(t0));
        set_condition(&mut status, "Ready", Some(false), "NotOwned", "no", Some(2), t1);
        assert_eq!(status.conditions[0].last_transition_time, Time(t1));
        assert_eq!(status.conditions.len(), 1);
    }

    #[test]
    fn error_reasons_name_what_to_fix() {
        let aws = |service, code: &str, kind| {
            ReconcileError::Aws(AwsError { service, operation: "X", kind, code: code.into(), message: String::new() })
        };
        assert_eq!(aws("CloudTrail", "S3BucketDoesNotExistException", ErrorKind::Invalid).reason(), "BucketNotFound");
        assert_eq!(aws("KMS", "NotFoundException", ErrorKind::NotFound).reason(), "KmsKeyNotFound");
        assert_eq!(aws("CloudTrail", "AccessDeniedException", ErrorKind::AccessDenied).reason(), "AccessDenied");
        assert_eq!(aws("CloudTrail", "ThrottlingException", ErrorKind::Throttled).reason(), "Throttled");
    }
}
