//! What a pass tells the world — conditions, Events, drift and findings — judged from
//! what the pass saw and what its writes did. Pure: the Kubernetes side maps a
//! [`Report`] onto the policy's status and publishes its notices.

mod contest;
mod progress;
mod weakened;
pub use contest::{CONTEST_WINDOW, Contest};
pub use progress::progress;
pub use weakened::Weakening;

use strum::{EnumIter, IntoStaticStr};

use crate::observed::{Observed, ObservedTrail};
use crate::plan::{Blocked, Drift, Plan};
use crate::posture::{Check, verdict_of};
use crate::trail::Delivery;
use jiff::Timestamp;

/// The stages of a pass that write or read on their own; each reports its own failure
/// and none stops the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, IntoStaticStr, EnumIter)]
#[strum(serialize_all = "kebab-case")]
pub enum Stage {
    /// Resolving the declared KMS key to its ARN.
    Resolve,
    /// Reading the trail.
    Observe,
    /// Creating or adopting the trail.
    Trail,
    /// StartLogging / StopLogging.
    Logging,
    /// UpdateTrail.
    Settings,
    /// Event selectors and Insights.
    Selectors,
    Tags,
    BucketPosture,
    KeyPosture,
    Notify,
}

impl Stage {
    pub fn name(self) -> &'static str {
        self.into()
    }
}

/// Condition types on a policy's status, in the order they are listed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, IntoStaticStr, EnumIter)]
pub enum ConditionType {
    Ready,
    Synced,
    Logging,
    Compliant,
    /// kstatus: still working towards the declared state (see [`progress`]).
    Reconciling,
    /// kstatus: cannot get there without a person.
    Stalled,
    /// Logging was stopped again soon after trailwarden restarted it (see [`Contest`]).
    Contested,
}

/// Reasons that are not failures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, IntoStaticStr, EnumIter)]
pub enum Reason {
    Reconciled,
    InSync,
    DriftDetected,
    Logging,
    NotLogging,
    TrailAbsent,
    ChecksPass,
    ChecksFailing,
    ChecksUnknown,
    NotEvaluated,
    NotOwned,
    ShadowTrail,
    /// Outside the operator's guardrails.
    Guardrail,
    /// Another live policy names the same trail and owns it.
    Conflict,
    /// Adopting the trail would take away settings the policy lacks (`adoptionMayWeaken`).
    AdoptionWouldWeaken,
    NotObserved,
    DriftObserved,
    TrailCreated,
    TrailRecreated,
    TrailAdopted,
    LoggingRestarted,
    DriftCorrected,
    PostureCorrected,
    NotificationFailed,
    Released,
    TrailLeftAlone,
    TrailRetained,
    TrailDeleted,
    /// The policy asks for less than the operator's floor; it is held at the floor.
    BelowFloor,
    /// A write the policy asked for took something away from the trail.
    TrailWeakened,
    /// The trail's uid tag was removed or changed; it is put back.
    OwnershipTampered,
    /// The declared alias now names another key than the one pinned; the pinned one is kept.
    KeyAliasMoved,
    LoggingContested,
    Uncontested,
}

/// Why something failed: the condition reason, the Event reason and the metric label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, IntoStaticStr, EnumIter)]
pub enum Failure {
    InvalidSpec,
    DeletionPending,
    BucketNotFound,
    KmsKeyNotFound,
    NotFound,
    AccessDenied,
    Throttled,
    InvalidConfiguration,
    AwsUnavailable,
    /// A bucket or key policy changed between the read it was judged from and the put:
    /// the put was not made, and the next pass judges the policy again.
    PolicyChanged,
    AwsError,
    /// Credentials refused: expired, unknown, or a role that could not be assumed.
    CredentialsRefused,
    /// A quota AWS does not raise (five trails per account and region).
    QuotaExceeded,
    /// The organization is not set up for an organization trail from this account.
    OrganizationNotReady,
    /// CloudTrail refuses the bucket, key or topic: its policy does not let CloudTrail deliver.
    DeliveryRefused,
    /// A request reached a region its resource is not in.
    WrongRegion,
    /// A call only the bucket's or key's owner account may make.
    NotResourceOwner,
    KubernetesApi,
    Finalizer,
    /// The pass ran past its deadline and was abandoned.
    PassDeadlineExceeded,
}

impl Failure {
    pub fn name(self) -> &'static str {
        self.into()
    }
}

/// One stage that failed in a pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StageFailure {
    pub stage: Stage,
    pub failure: Failure,
    pub message: String,
}

impl std::fmt::Display for StageFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.stage.name(), self.message)
    }
}

/// One AWS write that succeeded, and the stage that made it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Write {
    pub stage: Stage,
    pub operation: &'static str,
}

/// A condition's state: True, False or Unknown (`None`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConditionState {
    pub type_: ConditionType,
    pub status: Option<bool>,
    pub reason: &'static str,
    pub message: String,
}

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

/// What one pass established and did.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub trail_arn: Option<String>,
    /// The ARN the declared KMS key resolved to in this pass, if it did.
    pub kms_key_arn: Option<String>,
    /// None when the pass could not tell (AWS unreadable, trail not ours).
    pub is_logging: Option<bool>,
    pub delivery: Option<Delivery>,
    /// What still differs after this pass.
    pub drift: Vec<Drift>,
    /// What this pass corrected.
    pub corrected: Vec<Drift>,
    /// AWS writes that succeeded, in order.
    pub applied: Vec<Write>,
    pub failures: Vec<StageFailure>,
    /// Empty when nothing could be judged.
    pub findings: Vec<Check>,
    pub conditions: Vec<ConditionState>,
    pub notices: Vec<Notice>,
    /// The trail this policy owns after the pass (None: none, or not known).
    pub owned_trail_arn: Option<String>,
    /// Since when the trail had not been logging, when the pass found it stopped.
    pub stopped_since: Option<Timestamp>,
    /// What the policy's own writes took away from the trail.
    pub weakened: Vec<Weakening>,
    /// How the policy falls short of the operator's floor (it was held at the floor).
    pub below_floor: Vec<String>,
    /// The restarts of logging within the contest window, this pass's included (None:
    /// not judged in this pass; the last ones stand).
    pub restarts: Option<Vec<Timestamp>>,
    /// The declared alias names another key than the pinned one.
    pub alias_moved: bool,
    /// The key's scheduled deletion, `(key ARN, date)`, as read in this pass: `Some(None)`
    /// when the key was read and none is scheduled, None when the key was not read.
    pub key_deletion: Option<Option<(String, Timestamp)>>,
}

/// What a pass saw and did, as the report needs it.
pub struct PassResult<'a> {
    pub audit: bool,
    pub observed: &'a Observed,
    pub plan: &'a Plan,
    /// The trail as the writes that succeeded left it (None: there is none).
    pub trail: Option<&'a ObservedTrail>,
    /// What still differs from the policy on that trail.
    pub remaining: Vec<Drift>,
    /// Whether the policy had a trail before (a missing one was then deleted out of band).
    pub had_trail: bool,
    pub applied: Vec<Write>,
    pub failures: Vec<StageFailure>,
    /// None when there is no trail of ours to judge.
    pub checks: Option<Vec<Check>>,
    /// How the policy falls short of the operator's floor.
    pub below_floor: Vec<String>,
}

fn condition(type_: ConditionType, status: Option<bool>, reason: impl Into<&'static str>, message: impl Into<String>) -> ConditionState {
    ConditionState { type_, status, reason: reason.into(), message: message.into() }
}

fn not_judged() -> ConditionState {
    condition(ConditionType::Compliant, None, Reason::NotEvaluated, "no trail of this policy could be judged in this pass")
}

fn describe(drift: &[Drift]) -> String {
    drift.iter().map(|d| format!("{} (want {}, found {})", d.field, d.desired, d.observed)).collect::<Vec<_>>().join("; ")
}

impl Report {
    /// AWS could not be read: nothing is known, and nothing is claimed.
    pub fn unobserved(failure: StageFailure) -> Report {
        let reason = failure.failure.name();
        let notice = Notice { severity: Severity::Warning, reason, action: failure.stage.name(), note: failure.to_string() };
        let conditions = [
            (Some(false), reason, failure.to_string()),
            (None, reason, "could not compare the trail with the policy".into()),
            (None, Reason::NotObserved.into(), "could not read the trail's logging state".into()),
        ];
        Report { failures: vec![failure], ..Report::unjudged(None, conditions, notice) }
    }

    /// The trail may not be touched by this policy.
    pub fn blocked(blocked: &Blocked, arn: Option<String>) -> Report {
        let reason: &'static str = blocked.reason().into();
        let notice = Notice { severity: Severity::Warning, reason, action: "Reconcile", note: blocked.to_string() };
        let conditions = [
            (Some(false), reason, blocked.to_string()),
            (None, reason, blocked.summary().into()),
            (None, reason, blocked.summary().into()),
        ];
        Report::unjudged(arn, conditions, notice)
    }

    /// A report of a pass that judged and changed nothing: Ready, Synced and Logging as
    /// given, Compliant not evaluated, one notice.
    fn unjudged(trail_arn: Option<String>, [ready, synced, logging]: [(Option<bool>, &'static str, String); 3], notice: Notice) -> Report {
        Report {
            trail_arn,
            kms_key_arn: None,
            is_logging: None,
            delivery: None,
            drift: vec![],
            corrected: vec![],
            applied: vec![],
            failures: vec![],
            findings: vec![],
            conditions: vec![
                condition(ConditionType::Ready, ready.0, ready.1, ready.2),
                condition(ConditionType::Synced, synced.0, synced.1, synced.2),
                condition(ConditionType::Logging, logging.0, logging.1, logging.2),
                not_judged(),
            ],
            notices: vec![notice],
            owned_trail_arn: None,
            stopped_since: None,
            weakened: vec![],
            below_floor: vec![],
            restarts: None,
            alias_moved: false,
            key_deletion: None,
        }
    }

    /// The trail and its logging state could be read, the rest of it not (`failure`):
    /// nothing is compared, and logging, which needs nothing more, was restarted when it
    /// had stopped (`restart`: that StartLogging's outcome; None when none was made).
    pub fn partly_observed(failure: StageFailure, arn: String, was_logging: bool, restart: Option<Result<(), StageFailure>>) -> Report {
        let mut report = Report::unobserved(failure);
        report.trail_arn = Some(arn);
        let logging = match &restart {
            Some(Ok(())) => {
                report.applied.push(Write { stage: Stage::Logging, operation: "StartLogging" });
                report.notices.push(Notice {
                    severity: Severity::Normal,
                    reason: Reason::LoggingRestarted.into(),
                    action: "StartLogging",
                    note: "logging was stopped; restarted (the rest of the trail could not be read)".into(),
                });
                true
            }
            Some(Err(failed)) => {
                report.notices.push(Notice {
                    severity: Severity::Warning,
                    reason: failed.failure.name(),
                    action: failed.stage.name(),
                    note: failed.to_string(),
                });
                report.failures.push(failed.clone());
                false
            }
            None => was_logging,
        };
        report.is_logging = Some(logging);
        let state = match logging {
            true => condition(ConditionType::Logging, Some(true), Reason::Logging, "the trail is logging"),
            false => condition(ConditionType::Logging, Some(false), Reason::NotLogging, "the trail is not logging"),
        };
        report.conditions.retain(|c| c.type_ != ConditionType::Logging);
        report.conditions.insert(2, state);
        report
    }

    /// The report of a look that found logging on because an earlier look of the same
    /// pass had restarted it (and then gave way to a fresh look): the restart is this
    /// pass's, and said so.
    pub fn restarted_earlier(mut self) -> Report {
        self.applied.insert(0, Write { stage: Stage::Logging, operation: "StartLogging" });
        self.corrected.insert(0, Drift { field: "logging".into(), desired: "true".into(), observed: "false".into() });
        self.notices.insert(0, Notice {
            severity: Severity::Normal,
            reason: Reason::LoggingRestarted.into(),
            action: "StartLogging",
            note: "logging was stopped; restarted".into(),
        });
        self
    }

    /// A trail the floor forbids creating (see [`crate::floor::Held::no_new_trail`]).
    pub fn below_floor(why: String) -> Report {
        let conditions = [
            (Some(false), Reason::BelowFloor.into(), format!("below the operator's floor; no trail is created: {why}")),
            (Some(false), Reason::BelowFloor.into(), "no trail: the policy is below the operator's floor".to_owned()),
            (Some(false), Reason::TrailAbsent.into(), "the trail does not exist".to_owned()),
        ];
        let notice = Notice { severity: Severity::Warning, reason: Reason::BelowFloor.into(), action: "Reconcile", note: why.clone() };
        Report { below_floor: vec![why], ..Report::unjudged(None, conditions, notice) }
    }

    /// A pass that observed a trail the policy may touch and acted (or, in audit mode, only
    /// looked); a trail it may not touch is [`Report::blocked`].
    pub fn of(pass: PassResult<'_>) -> Report {
        let corrected: Vec<Drift> = if pass.applied.is_empty() {
            vec![]
        } else {
            pass.plan.drift.iter().filter(|d| !pass.remaining.iter().any(|r| r.field == d.field)).cloned().collect()
        };
        let mut conditions = vec![];
        let mut notices = vec![];
        if !pass.failures.is_empty() {
            let message = pass.failures.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
            conditions.push(condition(ConditionType::Ready, Some(false), pass.failures[0].failure, message));
        } else if !pass.below_floor.is_empty() {
            let message = format!("held at the operator's floor: {}", pass.below_floor.join("; "));
            conditions.push(condition(ConditionType::Ready, Some(false), Reason::BelowFloor, message));
        } else {
            conditions.push(condition(ConditionType::Ready, Some(true), Reason::Reconciled, "the trail is managed by this policy"));
        }
        if pass.remaining.is_empty() {
            conditions.push(condition(ConditionType::Synced, Some(true), Reason::InSync, "the trail matches the policy"));
        } else {
            let mode = if pass.audit { "audit mode: " } else { "" };
            let message = format!("{mode}{} setting(s) differ: {}", pass.remaining.len(), describe(&pass.remaining));
            conditions.push(condition(ConditionType::Synced, Some(false), Reason::DriftDetected, message));
        }
        // An absent trail logs nothing: Logging is False, not unknown, so that a trail that
        // cannot be recreated is as visible as a stopped one.
        conditions.push(match pass.trail.map(|t| t.status.is_logging) {
            Some(true) => condition(ConditionType::Logging, Some(true), Reason::Logging, "the trail is logging"),
            Some(false) => condition(ConditionType::Logging, Some(false), Reason::NotLogging, "the trail is not logging"),
            None => condition(ConditionType::Logging, Some(false), Reason::TrailAbsent, "the trail does not exist"),
        });
        let findings = match &pass.checks {
            Some(checks) => {
                let (compliant, message) = verdict_of(checks);
                let reason = match compliant {
                    Some(true) => Reason::ChecksPass,
                    Some(false) => Reason::ChecksFailing,
                    None => Reason::ChecksUnknown,
                };
                conditions.push(condition(ConditionType::Compliant, compliant, reason, message));
                checks.clone()
            }
            None => {
                conditions.push(not_judged());
                vec![]
            }
        };
        if pass.audit && !pass.plan.drift.is_empty() {
            notices.push(Notice {
                severity: Severity::Warning,
                reason: Reason::DriftObserved.into(),
                action: "Audit",
                note: format!("audit mode, nothing changed: {}", describe(&pass.plan.drift)),
            });
        }
        notices.extend(remediation_notices(&pass, &corrected));
        let weakened = match pass.observed.trail() {
            Some(before) => weakened::weakened(before, pass.plan, &pass.applied),
            None => vec![],
        };
        if !weakened.is_empty() {
            let note = weakened.iter().map(|w| w.note.as_str()).collect::<Vec<_>>().join("; ");
            notices.push(Notice { severity: Severity::Warning, reason: Reason::TrailWeakened.into(), action: "Correct", note });
        }
        if !pass.below_floor.is_empty() {
            let note = format!("held at the operator's floor: {}", pass.below_floor.join("; "));
            notices.push(Notice { severity: Severity::Warning, reason: Reason::BelowFloor.into(), action: "Reconcile", note });
        }
        for failure in &pass.failures {
            notices.push(Notice {
                severity: Severity::Warning,
                reason: failure.failure.name(),
                action: failure.stage.name(),
                note: failure.to_string(),
            });
        }
        // CloudTrail's stop time; a trail never started has none, and counts from no time.
        let stopped_since = pass.observed.trail().filter(|t| !t.status.is_logging).and_then(|t| t.status.delivery.stop_logging_time);
        Report {
            trail_arn: pass.trail.map(|t| t.arn().to_owned()).or_else(|| pass.observed.arn().map(str::to_owned)),
            owned_trail_arn: pass.trail.map(|t| t.arn().to_owned()),
            stopped_since,
            weakened,
            below_floor: pass.below_floor,
            restarts: None,
            alias_moved: false,
            key_deletion: None,
            kms_key_arn: None,
            is_logging: pass.trail.map(|t| t.status.is_logging),
            delivery: pass.trail.map(|t| t.status.delivery.clone()),
            drift: pass.remaining,
            corrected,
            applied: pass.applied,
            failures: pass.failures,
            findings,
            conditions,
            notices,
        }
    }

    pub fn condition(&self, type_: ConditionType) -> Option<&ConditionState> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }
}

fn remediation_notices(pass: &PassResult<'_>, corrected: &[Drift]) -> Vec<Notice> {
    let done = |name: &str| pass.applied.iter().any(|w| w.operation == name);
    let mut notices = vec![];
    if done("CreateTrail") {
        let (reason, what) =
            if pass.had_trail { (Reason::TrailRecreated, "recreated after it was deleted") } else { (Reason::TrailCreated, "created") };
        let names = pass.applied.iter().map(|w| w.operation).collect::<Vec<_>>().join(", ");
        notices.push(Notice { severity: Severity::Normal, reason: reason.into(), action: "CreateTrail", note: format!("trail {what}: {names}") });
    }
    let edited = !done("CreateTrail");
    if edited && done("AdoptTrail") {
        notices.push(Notice {
            severity: Severity::Normal,
            reason: Reason::TrailAdopted.into(),
            action: "AdoptTrail",
            note: "existing trail adopted and tagged as managed by this policy".into(),
        });
    }
    if edited && done("StartLogging") {
        notices.push(Notice {
            severity: Severity::Normal,
            reason: Reason::LoggingRestarted.into(),
            action: "StartLogging",
            note: "logging was stopped; restarted".into(),
        });
    }
    let settings: Vec<&Drift> = corrected.iter().filter(|d| d.field != "logging").collect();
    if edited && !settings.is_empty() {
        let note = settings.iter().map(|d| format!("{}: {} -> {}", d.field, d.observed, d.desired)).collect::<Vec<_>>().join("; ");
        notices.push(Notice { severity: Severity::Normal, reason: Reason::DriftCorrected.into(), action: "Correct", note });
    }
    let uid_tag = format!("tags.{}", crate::policy::OWNER_UID_TAG);
    if edited && !done("AdoptTrail") && done("AddTags") {
        // The trail is the policy's by the ARN it remembers owning, and its uid tag was
        // removed or changed: someone tried to pull it away from its policy.
        if let Some(tag) = pass.plan.drift.iter().find(|d| d.field == uid_tag) {
            notices.push(Notice {
                severity: Severity::Warning,
                reason: Reason::OwnershipTampered.into(),
                action: "AddTags",
                note: format!(
                    "the trail's tag {} was {} (found {}); put back: the trail stays this policy's",
                    crate::policy::OWNER_UID_TAG,
                    if tag.observed == crate::trail::NONE { "removed" } else { "changed" },
                    tag.observed
                ),
            });
        }
    }
    let fixes: Vec<&str> = pass
        .applied
        .iter()
        .filter(|w| matches!(w.stage, Stage::BucketPosture | Stage::KeyPosture))
        .map(|w| w.operation)
        .collect();
    if !fixes.is_empty() {
        notices.push(Notice {
            severity: Severity::Normal,
            reason: Reason::PostureCorrected.into(),
            action: "Correct",
            note: fixes.join(", "),
        });
    }
    notices
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod eks_doc;
