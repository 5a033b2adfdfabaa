//! What a pass tells the world — conditions, Events, drift and findings — judged from
//! what the pass saw and what its writes did. Pure: the Kubernetes side maps a
//! [`Report`] onto the policy's status and publishes its notices.

mod contest;
mod notices;
mod partial;
mod progress;
mod weakened;
pub use contest::{CONTEST_WINDOW, Contest};
pub use progress::progress;
pub use weakened::Weakening;

use strum::{EnumIter, IntoStaticStr};

use crate::observed::{Observed, ObservedTrail};
use crate::plan::{Drift, Plan};
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    pub stage: Stage,
    pub operation: &'static str,
    /// What the write changed, when its name does not say (a lifecycle rule lengthened).
    pub detail: Option<String>,
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
        notices.extend(notices::remediation_notices(&pass, &corrected));
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


#[cfg(test)]
mod tests;
#[cfg(test)]
mod eks_doc;
