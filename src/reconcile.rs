//! One policy, one pass: `Desired → resolve references → observe → plan → apply → status`.
//!
//! This module decides and acts on AWS (through the port) but does not touch
//! Kubernetes: it returns the status to write and the events to publish, and the
//! controller writes them. The clock is passed in.

use std::time::Duration;

use jiff::Timestamp;
use kube::ResourceExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::api::{Mode, OWNER_TAG, OWNER_UID_TAG, Remediation, TrailPolicy, TrailPolicyStatus};
use crate::aws::{AwsError, AwsPort, ErrorKind};
use crate::desired::{Desired, InvalidSpec};
use crate::observe::{Observed, ObservedTrail, observe};
use crate::posture::{self, Fix, bucket::TrailRef};
use crate::resources::{BucketFacts, KeyFacts};
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
    let mut status = policy.status.clone().unwrap_or_default();
    status.observed_generation = policy.metadata.generation;
    status.last_reconcile_time = Some(Time(now));
    status.home_region = Some(policy.spec.region.clone());
    let mut outcome = Outcome { status, notices: vec![], plan: None, applied: vec![], error: None };
    let generation = policy.metadata.generation;
    match run(port, policy, &mut outcome, now).await {
        Ok(()) => outcome,
        Err(e) => outcome.failed(e, generation, now),
    }
}

/// The pass itself; whatever it did before an error is already in `outcome`.
async fn run<P: AwsPort>(port: &P, policy: &TrailPolicy, outcome: &mut Outcome, now: Timestamp) -> Result<(), ReconcileError> {
    let generation = policy.metadata.generation;
    let previous_arn = policy.status.as_ref().and_then(|s| s.trail_arn.clone());
    outcome.status.trail_name = Some(policy.spec.effective_trail_name(&policy.name_any()).to_owned());
    let (desired, key) = resolve(port, policy).await?;
    let observed = observe(port, &desired).await?;
    let plan = plan(&desired, &observed);
    // Kept in the outcome from here on, so even a failed pass reports what it planned.
    outcome.plan = Some(plan.clone());
    let (mut trail_arn, mut trail_status) = match &observed {
        Observed::Present(t) => (Some(t.arn().to_owned()), Some(t.status.clone())),
        Observed::Shadow { arn, .. } => (Some(arn.clone()), None),
        Observed::Absent => (None, None),
    };
    outcome.status.trail_arn = trail_arn.clone();

    if let Some(blocked) = &plan.blocked {
        outcome.report_blocked(blocked, generation, now);
        return Ok(());
    }

    let account = port.account_id(&desired.scope).await?;
    let arn_for_posture = trail_arn.clone().unwrap_or_else(|| expected_trail_arn(&desired, &account));
    let mut facts = PostureFacts::read(port, &desired, key).await;
    let audit = desired.mode == Mode::Audit;
    let fixes = if audit { vec![] } else { facts.fixes(&desired, &arn_for_posture, &account) };

    // What differs stays in the status unless this pass corrects it.
    outcome.status.drift = plan.drift.clone();
    if audit || (plan.actions.is_empty() && fixes.is_empty()) {
        if audit && !plan.drift.is_empty() {
            outcome.notices.push(Notice {
                severity: Severity::Warning,
                reason: "DriftObserved",
                action: "Audit",
                note: format!("audit mode, nothing changed: {}", describe_drift(&plan)),
            });
        }
    } else {
        let recreated = matches!(observed, Observed::Absent) && previous_arn.is_some();
        // Posture first: a bucket or key that locks CloudTrail out makes CreateTrail fail.
        apply_fixes(port, &desired, &facts, &fixes, outcome).await?;
        trail_arn = apply(port, &desired, &plan, trail_arn, outcome).await?;
        trail_status = Some(logging_after(trail_status, &plan));
        outcome.status.drift = vec![];
        outcome.notices.extend(remediation_notices(&plan, recreated));
        if !fixes.is_empty() {
            outcome.notices.push(Notice {
                severity: Severity::Normal,
                reason: "PostureCorrected",
                action: "Correct",
                note: fixes.iter().map(Fix::name).collect::<Vec<_>>().join(", "),
            });
            facts = facts.reread(port, &desired).await;
        }
        outcome.status.remediation_count += 1;
        outcome.status.last_remediation =
            Some(Remediation { time: Time(now), actions: outcome.applied.iter().map(|a| a.to_string()).collect() });
    }

    let judged = match (&observed, outcome.applied.is_empty()) {
        (Observed::Present(t), true) => Some(t.as_ref().clone()),
        (_, false) => {
            trail_arn.clone().map(|arn| ObservedTrail::as_desired(&desired, arn, trail_status.clone().unwrap_or_default()))
        }
        _ => None,
    };
    outcome.report_trail(trail_arn, trail_status, &plan, generation, now);
    if let Some(trail) = judged {
        let trail_arn = trail.arn().to_owned();
        let mut checks = posture::evaluate(&desired, &trail, now);
        checks.extend(facts.checks(&desired, &trail_arn, &account));
        outcome.report_posture(checks, generation, now);
    } else {
        outcome.report_not_judged(generation, now);
    }
    if !audit {
        notify(port, policy, &desired, &account, &plan, outcome, now).await;
    }
    Ok(())
}

/// Announces this pass's remediations and newly failing checks on the policy's topic.
/// Best effort: a refused publish is reported as a warning Event, never fails the pass.
async fn notify<P: AwsPort>(
    port: &P,
    policy: &TrailPolicy,
    desired: &Desired,
    account: &str,
    plan: &Plan,
    outcome: &mut Outcome,
    now: Timestamp,
) {
    let Some(topic) = policy.spec.notify.as_ref().map(|n| n.sns_topic_arn.as_str()) else { return };
    let before = policy.status.as_ref().map(|s| s.compliance.as_slice()).unwrap_or_default();
    let trail_arn = outcome.status.trail_arn.clone().unwrap_or_default();
    let cx = crate::notify::Context {
        policy: &desired.policy_name,
        trail_arn: &trail_arn,
        account,
        region: &desired.scope.region,
        now,
    };
    let corrected = if outcome.applied.is_empty() { &[][..] } else { &plan.drift[..] };
    for message in crate::notify::messages(&cx, &outcome.applied, corrected, before, &outcome.status.compliance) {
        if let Err(e) = port.publish(&desired.scope, topic, &message.subject(), &message.body()).await {
            outcome.notices.push(Notice {
                severity: Severity::Warning,
                reason: "NotificationFailed",
                action: "Notify",
                note: format!("could not publish to {topic}: {e}"),
            });
        }
    }
}

/// One policy judged without changing anything: what `trailwarden check` prints.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Judgement {
    pub policy: String,
    pub trail_arn: String,
    /// False when a required check fails, None when one could not be evaluated.
    pub compliant: Option<bool>,
    pub findings: Vec<crate::api::ComplianceFinding>,
}

/// Evaluates every posture check of one policy against AWS, reading only.
pub async fn judge<P: AwsPort>(port: &P, policy: &TrailPolicy, now: Timestamp) -> Result<Judgement, ReconcileError> {
    let (desired, key) = resolve(port, policy).await?;
    let observed = observe(port, &desired).await?;
    let account = port.account_id(&desired.scope).await?;
    let facts = PostureFacts::read(port, &desired, key).await;
    let (trail_arn, mut checks) = match &observed {
        Observed::Present(trail) => (trail.arn().to_owned(), posture::evaluate(&desired, trail, now)),
        Observed::Shadow { arn, home_region } => {
            let why = format!("trail {arn} lives in {home_region}, not in {}", desired.scope.region);
            (arn.clone(), vec![posture::check_known::<String>("CT-EXISTS", &["CIS 3.1", "CloudTrail.1"], true, Ok(Err(why)))])
        }
        Observed::Absent => {
            let why = format!("no trail named {} in {}", desired.trail_name, desired.scope.region);
            (expected_trail_arn(&desired, &account), vec![posture::check_known::<String>("CT-EXISTS", &["CIS 3.1", "CloudTrail.1"], true, Ok(Err(why)))])
        }
    };
    checks.extend(facts.checks(&desired, &trail_arn, &account));
    let (compliant, _) = posture::verdict_of(&checks);
    Ok(Judgement {
        policy: desired.policy_name.clone(),
        trail_arn,
        compliant,
        findings: checks.into_iter().map(|c| c.finding).collect(),
    })
}

/// The policy as Desired, its KMS key described once: the key's ARN is what AWS reports
/// (so it replaces the alias or id declared), and its facts feed the posture checks.
async fn resolve<P: AwsPort>(port: &P, policy: &TrailPolicy) -> Result<(Desired, Option<KeyFacts>), ReconcileError> {
    let desired = Desired::from_policy(policy)?;
    let key = match &desired.settings.kms_key {
        Some(declared) => Some(port.describe_key(&desired.scope, declared).await?),
        None => None,
    };
    Ok((desired.with_kms_key_arn(key.as_ref().map(|k| k.arn.clone())), key))
}

/// The ARN CloudTrail will give the trail once created.
fn expected_trail_arn(desired: &Desired, account: &str) -> String {
    let region = &desired.scope.region;
    let partition = if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    };
    format!("arn:{partition}:cloudtrail:{region}:{account}:trail/{}", desired.trail_name)
}

/// The log bucket's and the key's facts, as read in this pass.
struct PostureFacts {
    bucket: Result<BucketFacts, String>,
    key: Option<KeyFacts>,
}

impl PostureFacts {
    async fn read<P: AwsPort>(port: &P, desired: &Desired, key: Option<KeyFacts>) -> Self {
        let bucket = port.describe_bucket(&desired.scope, &desired.settings.bucket).await.map_err(|e| e.to_string());
        PostureFacts { bucket, key }
    }

    /// Reads both again after fixes, so the report shows what is now true.
    async fn reread<P: AwsPort>(self, port: &P, desired: &Desired) -> Self {
        let key = match self.key {
            Some(old) => Some(port.describe_key(&desired.scope, &old.arn).await.unwrap_or(old)),
            None => None,
        };
        Self::read(port, desired, key).await
    }

    fn trail_ref<'a>(desired: &'a Desired, trail_arn: &'a str, account: &'a str) -> TrailRef<'a> {
        TrailRef {
            arn: trail_arn,
            account,
            prefix: desired.settings.key_prefix.as_deref(),
            organization: desired.settings.organization,
        }
    }

    fn fixes(&self, desired: &Desired, trail_arn: &str, account: &str) -> Vec<Fix> {
        let mut fixes = vec![];
        if let Ok(bucket) = &self.bucket {
            fixes.extend(posture::bucket::fixes(bucket, Self::trail_ref(desired, trail_arn, account), &desired.posture.bucket));
        }
        if let Some(key) = &self.key {
            fixes.extend(posture::key::fixes(key, trail_arn, account, &desired.posture.kms));
        }
        fixes
    }

    fn checks(&self, desired: &Desired, trail_arn: &str, account: &str) -> Vec<posture::Check> {
        let mut checks = vec![];
        let bucket_region = match &self.bucket {
            Ok(bucket) => {
                let trail = Self::trail_ref(desired, trail_arn, account);
                checks.extend(posture::bucket::checks(bucket, trail, &desired.posture.bucket));
                Some(bucket.region.as_str())
            }
            Err(why) => {
                checks.push(posture::check_known::<&str>(
                    "BKT-READABLE",
                    &["CloudTrail.6", "CloudTrail.7"],
                    true,
                    Err(why.as_str()),
                ));
                None
            }
        };
        if let Some(key) = &self.key {
            checks.extend(posture::key::checks(key, trail_arn, account, bucket_region, &desired.posture.kms));
        }
        checks
    }
}

async fn apply_fixes<P: AwsPort>(
    port: &P,
    desired: &Desired,
    facts: &PostureFacts,
    fixes: &[Fix],
    outcome: &mut Outcome,
) -> Result<(), ReconcileError> {
    let scope = &desired.scope;
    let bucket = &desired.settings.bucket;
    let key = facts.key.as_ref().map(|k| k.arn.as_str()).unwrap_or_default();
    for fix in fixes {
        match fix {
            Fix::BlockPublicAccess => port.block_public_access(scope, bucket).await?,
            Fix::EnableVersioning => port.enable_bucket_versioning(scope, bucket).await?,
            Fix::PutBucketPolicy(policy) => port.put_bucket_policy(scope, bucket, policy).await?,
            Fix::EnableKeyRotation => port.enable_key_rotation(scope, key).await?,
            Fix::PutKeyPolicy(policy) => port.put_key_policy(scope, key, policy).await?,
        }
        outcome.applied.push(fix.name());
    }
    Ok(())
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
        self.report_not_judged(generation, now);
        self
    }

    fn report_blocked(&mut self, blocked: &crate::plan::Blocked, generation: Option<i64>, now: Timestamp) {
        let s = &mut self.status;
        s.drift = vec![];
        set_condition(s, "Ready", Some(false), blocked.reason(), &blocked.to_string(), generation, now);
        set_condition(s, "Synced", None, blocked.reason(), "not managed by this policy", generation, now);
        set_condition(s, "Logging", None, blocked.reason(), "not managed by this policy", generation, now);
        self.notices.push(Notice {
            severity: Severity::Warning,
            reason: blocked.reason(),
            action: "Reconcile",
            note: blocked.to_string(),
        });
        self.report_not_judged(generation, now);
    }

    fn report_trail(
        &mut self,
        trail_arn: Option<String>,
        trail_status: Option<TrailStatus>,
        plan: &Plan,
        generation: Option<i64>,
        now: Timestamp,
    ) {
        let logging = trail_status.as_ref().map(|s| s.is_logging);
        let s = &mut self.status;
        s.trail_arn = trail_arn;
        s.is_logging = logging;
        if let Some(ts) = trail_status {
            s.delivery = Some(ts.delivery);
        }
        set_condition(s, "Ready", Some(true), "Reconciled", "the trail is managed by this policy", generation, now);
        if s.drift.is_empty() {
            set_condition(s, "Synced", Some(true), "InSync", "the trail matches the policy", generation, now);
        } else {
            let message = format!("audit mode: {} setting(s) differ: {}", s.drift.len(), describe_drift(plan));
            set_condition(s, "Synced", Some(false), "DriftDetected", &message, generation, now);
        }
        match logging {
            Some(true) => set_condition(s, "Logging", Some(true), "Logging", "the trail is logging", generation, now),
            Some(false) => set_condition(s, "Logging", Some(false), "NotLogging", "the trail is not logging", generation, now),
            None => set_condition(s, "Logging", None, "TrailAbsent", "the trail does not exist", generation, now),
        }
    }

    fn report_posture(&mut self, checks: Vec<posture::Check>, generation: Option<i64>, now: Timestamp) {
        let (compliant, message) = posture::verdict_of(&checks);
        let reason = match compliant {
            Some(true) => "ChecksPass",
            Some(false) => "ChecksFailing",
            None => "ChecksUnknown",
        };
        let s = &mut self.status;
        s.compliance = checks.into_iter().map(|c| c.finding).collect();
        set_condition(s, "Compliant", compliant, reason, &message, generation, now);
    }

    /// No trail of ours to judge in this pass (absent, not ours, or AWS refused).
    fn report_not_judged(&mut self, generation: Option<i64>, now: Timestamp) {
        let s = &mut self.status;
        s.compliance.clear();
        set_condition(s, "Compliant", None, "NotEvaluated", "no trail of this policy could be judged in this pass", generation, now);
    }
}

/// Runs the plan's actions in order, stopping at the first refusal so nothing after a
/// failed step is attempted on a half-known trail. Every action is idempotent: the next
/// pass re-plans from what AWS then reports. Returns the trail's ARN.
async fn apply<P: AwsPort>(
    port: &P,
    desired: &Desired,
    plan: &Plan,
    mut trail_arn: Option<String>,
    outcome: &mut Outcome,
) -> Result<Option<String>, ReconcileError> {
    let scope = &desired.scope;
    for action in &plan.actions {
        let arn = trail_arn.clone().unwrap_or_default();
        match action {
            Action::CreateTrail { name, settings, tags } => {
                trail_arn = Some(port.create_trail(scope, name, settings, tags).await?);
                outcome.status.trail_arn = trail_arn.clone();
            }
            Action::AdoptTrail { tags } | Action::AddTags(tags) => port.add_tags(scope, &arn, tags).await?,
            Action::UpdateTrail(settings) => port.update_trail(scope, &arn, settings).await?,
            Action::PutEventSelectors(selectors) => port.put_event_selectors(scope, &arn, selectors).await?,
            Action::StartLogging => port.start_logging(scope, &arn).await?,
            Action::StopLogging => port.stop_logging(scope, &arn).await?,
            Action::PutInsightSelectors(insights) => port.put_insight_selectors(scope, &arn, insights).await?,
        }
        outcome.applied.push(action.name());
    }
    Ok(trail_arn)
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
