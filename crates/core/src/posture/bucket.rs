//! The trail's log bucket: not public, access-logged, versioned, and open to CloudTrail
//! for exactly this trail.

use strum::IntoStaticStr;

use super::document::{self, CLOUDTRAIL, Document};
pub use super::owner_only;
use super::{Check, CheckId, TrailRef, Verdict, check_known};

/// A fact, or why it could not be read (no permission, a bucket in another account).
pub type Known<T> = Result<T, String>;

/// What trailwarden reads about the log bucket. Each fact is read on its own, so one
/// that cannot be read makes only its own checks Unknown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BucketFacts {
    pub name: String,
    /// The bucket's region (GetBucketLocation; an empty constraint means us-east-1).
    pub region: String,
    /// BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets
    /// (all false when the bucket has no configuration).
    pub public_access_block: Known<[bool; 4]>,
    /// The bucket policy document, if the bucket has one.
    pub policy: Known<Option<String>>,
    /// ACL grantees that make the bucket public (AllUsers, AuthenticatedUsers).
    pub public_acl_grantees: Known<Vec<String>>,
    pub versioning_enabled: Known<bool>,
    pub mfa_delete_enabled: Known<bool>,
    /// The bucket server access logs go to, if any.
    pub access_log_target: Known<Option<String>>,
    /// The Object Ownership setting (None: no ownership controls, which S3 treats as
    /// ObjectWriter, ACLs honoured).
    pub object_ownership: Known<Option<String>>,
    /// The lifecycle rules (none when the bucket has no lifecycle configuration).
    pub lifecycle: Known<Vec<LifecycleRule>>,
    /// The default encryption's algorithm (AES256, aws:kms, aws:kms:dsse), None when S3
    /// reports none.
    pub encryption: Known<Option<String>>,
    /// Object Lock, None when the bucket has none.
    pub object_lock: Known<Option<ObjectLock>>,
}

/// What the policy requires of the log bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BucketPosture {
    /// trailwarden may fix the bucket, not only report on it.
    pub manage: bool,
    pub require_public_access_block: bool,
    pub require_versioning: bool,
    pub require_mfa_delete: bool,
    pub require_access_logging: bool,
    /// The days no lifecycle rule may delete the logs before (0: not checked).
    pub retention_days: u32,
    /// An Object Lock default retention the bucket must have (none required if None).
    pub object_lock: Option<LockRequirement>,
}

/// PCI DSS 10.5.1: a year of audit log history.
pub const DEFAULT_RETENTION_DAYS: u32 = 365;

impl Default for BucketPosture {
    fn default() -> Self {
        BucketPosture {
            manage: false,
            require_public_access_block: true,
            require_versioning: true,
            require_mfa_delete: false,
            require_access_logging: false,
            retention_days: DEFAULT_RETENTION_DAYS,
            object_lock: None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, IntoStaticStr)]
pub enum BucketCheck {
    #[strum(serialize = "BKT-EXISTS")]
    Exists,
    #[strum(serialize = "BKT-READABLE")]
    Readable,
    #[strum(serialize = "BKT-PUBLIC-ACCESS-BLOCK")]
    PublicAccessBlock,
    #[strum(serialize = "BKT-NOT-PUBLIC")]
    NotPublic,
    #[strum(serialize = "BKT-ACCESS-LOGGING")]
    AccessLogging,
    #[strum(serialize = "BKT-VERSIONING")]
    Versioning,
    #[strum(serialize = "BKT-MFA-DELETE")]
    MfaDelete,
    #[strum(serialize = "BKT-CLOUDTRAIL-POLICY")]
    CloudTrailPolicy,
    #[strum(serialize = "BKT-ACLS-DISABLED")]
    AclsDisabled,
    #[strum(serialize = "BKT-LOG-RETENTION")]
    LogRetention,
    #[strum(serialize = "BKT-DEFAULT-ENCRYPTION")]
    DefaultEncryption,
    #[strum(serialize = "BKT-OBJECT-LOCK")]
    ObjectLock,
}

impl CheckId for BucketCheck {
    fn controls(self) -> &'static [&'static str] {
        match self {
            BucketCheck::Readable => &["CloudTrail.6", "CloudTrail.7"],
            BucketCheck::Exists => &["CloudTrail delivery", "PCI DSS 10.3.2"],
            BucketCheck::PublicAccessBlock => &["CloudTrail.6", "CIS v1.4 3.3", "S3.8"],
            BucketCheck::NotPublic => &["CloudTrail.6", "CIS v1.4 3.3"],
            BucketCheck::AccessLogging => &["CloudTrail.7", "CIS v1.4 3.6", "CIS 3.4"],
            BucketCheck::Versioning => &["S3.14"],
            BucketCheck::MfaDelete => &["CIS 2.1.2"],
            BucketCheck::CloudTrailPolicy => &["CloudTrail delivery"],
            BucketCheck::AclsDisabled => &["S3.12"],
            BucketCheck::LogRetention => &["PCI DSS 10.5.1"],
            BucketCheck::DefaultEncryption => &["CIS v1.4 2.1.1"],
            BucketCheck::ObjectLock => &["PCI DSS 10.3.2", "CloudTrail log integrity"],
        }
    }
}

/// The Object Ownership setting that turns ACLs off.
pub const OWNER_ENFORCED: &str = "BucketOwnerEnforced";

/// A correction to the bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BucketFix {
    /// Turn on all four Block Public Access settings.
    BlockPublicAccess,
    EnableVersioning,
    /// The whole new bucket policy (`after`: the old one with this trail's statements
    /// replaced), and the policy it was judged from (`before`, None when the bucket had
    /// none). The put is refused if the bucket's policy is no longer `before` when it is
    /// about to be made: another writer's statements are never lost — but for `removed`,
    /// the statements (by label) that denied CloudTrail the trail's delivery.
    PutBucketPolicy { before: Option<String>, after: String, removed: Vec<String> },
    /// Object Ownership BucketOwnerEnforced: ACLs off. CloudTrail's
    /// `bucket-owner-full-control` writes are still accepted.
    DisableAcls,
    /// The lifecycle rules `rules` (by id) made to keep the logs `days` at least: shorter
    /// expirations lengthened, an expiration by date removed (a rule left with nothing to
    /// do goes). Every other rule is kept as it is.
    LengthenLifecycle { rules: Vec<String>, days: u32 },
    /// Object Lock on (it cannot be turned off again), with this default retention.
    SetObjectLock(LockRequirement),
}

impl BucketFix {
    /// The S3 operation that carries it out.
    pub fn name(&self) -> &'static str {
        match self {
            BucketFix::BlockPublicAccess => "PutPublicAccessBlock",
            BucketFix::EnableVersioning => "PutBucketVersioning",
            BucketFix::PutBucketPolicy { .. } => "PutBucketPolicy",
            BucketFix::DisableAcls => "PutBucketOwnershipControls",
            BucketFix::LengthenLifecycle { .. } => "PutBucketLifecycleConfiguration",
            BucketFix::SetObjectLock(_) => "PutObjectLockConfiguration",
        }
    }

    /// What the fix changes, when its name does not say.
    pub fn describe(&self) -> Option<String> {
        match self {
            BucketFix::PutBucketPolicy { removed, .. } if !removed.is_empty() => {
                Some(format!("removed statement {} denying CloudTrail the trail's delivery", removed.join(", ")))
            }
            BucketFix::LengthenLifecycle { rules, days } => {
                Some(format!("lifecycle rules {} made to keep the logs {days} days", rules.join(", ")))
            }
            BucketFix::SetObjectLock(r) => Some(format!("Object Lock on, default retention {} days {}", r.days, r.mode.as_s3())),
            _ => None,
        }
    }

    /// The facts once this fix has been carried out.
    pub fn applied_to(&self, mut facts: BucketFacts) -> BucketFacts {
        match self {
            BucketFix::BlockPublicAccess => facts.public_access_block = Ok([true; 4]),
            BucketFix::EnableVersioning => facts.versioning_enabled = Ok(true),
            BucketFix::PutBucketPolicy { after, .. } => facts.policy = Ok(Some(after.clone())),
            BucketFix::DisableAcls => facts.object_ownership = Ok(Some(OWNER_ENFORCED.into())),
            BucketFix::SetObjectLock(r) => {
                facts.object_lock = Ok(Some(ObjectLock { enabled: true, default_retention: Some((r.mode, r.days)) }));
            }
            BucketFix::LengthenLifecycle { rules, days } => {
                if let Ok(lifecycle) = &mut facts.lifecycle {
                    lifecycle.retain_mut(|r| {
                        if rules.contains(&r.id) {
                            r.expiration_days = r.expiration_days.map(|d| d.max(*days));
                            r.noncurrent_days = r.noncurrent_days.map(|d| d.max(*days));
                            r.expiration_date = None;
                        }
                        r.expiration_days.is_some() || r.noncurrent_days.is_some() || !rules.contains(&r.id)
                    });
                }
            }
        }
        facts
    }
}

/// The placeholder organization id used to ask whether the org-trail path is covered.
const ORG_PLACEHOLDER: &str = "o-0123456789";

pub fn checks(facts: &BucketFacts, trail: TrailRef<'_>, posture: &BucketPosture) -> Vec<Check> {
    let name = &facts.name;
    vec![
        check_known(
            BucketCheck::PublicAccessBlock,
            posture.require_public_access_block,
            facts.public_access_block.as_ref().map(|flags| {
                if flags.iter().all(|f| *f) {
                    Ok(format!("bucket {name} blocks public access (all four settings)"))
                } else {
                    Err(format!("bucket {name} does not turn on all four Block Public Access settings"))
                }
            }),
        ),
        check_known(
            BucketCheck::NotPublic, true, not_public(facts)),
        check_known(
            BucketCheck::AccessLogging,
            posture.require_access_logging,
            facts.access_log_target.as_ref().map(|target| match target {
                Some(t) if t != name => Ok(format!("server access logs go to {t}")),
                Some(_) => Err(format!("bucket {name} logs access into itself")),
                None => Err(format!("bucket {name} has no server access logging")),
            }),
        ),
        check_known(
            BucketCheck::Versioning,
            posture.require_versioning,
            facts.versioning_enabled.as_ref().map(|on| {
                if *on { Ok("versioning is enabled".into()) } else { Err(format!("bucket {name} is not versioned")) }
            }),
        ),
        check_known(
            BucketCheck::MfaDelete,
            posture.require_mfa_delete,
            facts.mfa_delete_enabled.as_ref().map(|on| {
                if *on {
                    Ok("MFA delete is enabled".into())
                } else {
                    Err("MFA delete is off (only the root user with MFA can turn it on; trailwarden reports it only)".into())
                }
            }),
        ),
        check_known(BucketCheck::CloudTrailPolicy, true, cloudtrail_policy(facts, trail)),
        // Reported for information; under `manage` trailwarden also turns ACLs off.
        check_known(
            BucketCheck::AclsDisabled,
            false,
            facts.object_ownership.as_ref().map(|ownership| match ownership.as_deref() {
                Some(OWNER_ENFORCED) => Ok("ACLs are disabled (Object Ownership BucketOwnerEnforced)".into()),
                other => Err(format!("bucket {name} still honours ACLs (Object Ownership {})", other.unwrap_or("not set"))),
            }),
        ),
        check_known(
            BucketCheck::LogRetention,
            posture.retention_days > 0,
            retention::retention(facts, trail.prefix, posture),
        ),
        check_known(BucketCheck::DefaultEncryption, true, at_rest::encryption(facts)),
        check_known(BucketCheck::ObjectLock, posture.object_lock.is_some(), at_rest::object_lock(facts, posture.object_lock)),
    ]
}

fn parsed(facts: &BucketFacts) -> Result<Option<Document>, String> {
    match facts.policy.as_ref().map_err(Clone::clone)? {
        Some(text) => Document::parse(text).map(Some),
        None => Ok(None),
    }
}

fn not_public(facts: &BucketFacts) -> Result<Verdict, String> {
    let doc = parsed(facts)?;
    let grantees = facts.public_acl_grantees.as_ref().map_err(Clone::clone)?;
    let mut problems = vec![];
    if let Some(doc) = &doc {
        for (i, s) in doc.statements().iter().enumerate() {
            // Each reads what it cannot evaluate as public; only the conditions S3 itself
            // counts as limiting (a fixed source ARN, account, VPC, a narrow IP range...) keep
            // a grant to anyone private.
            if s.may_allow() && s.anyone() && (s.has_not_principal() || !s.limits_public_access()) {
                problems.push(format!("policy statement {} allows anyone", s.label(i)));
            }
        }
    }
    problems.extend(grantees.iter().map(|g| format!("the ACL grants {g}")));
    Ok(if problems.is_empty() { Ok("no public policy statement or ACL grant".into()) } else { Err(problems.join("; ")) })
}

fn cloudtrail_policy(facts: &BucketFacts, trail: TrailRef<'_>) -> Result<Verdict, String> {
    let doc = parsed(facts)?.unwrap_or_else(Document::empty);
    Ok(cloudtrail_policy_of(&doc, &facts.name, trail))
}

/// Whether `doc` lets CloudTrail check the ACL and write this trail's logs. A grant counts
/// only if it surely applies (see [`document::Statement`]); a Deny without conditions that
/// may apply takes it away.
fn cloudtrail_policy_of(doc: &Document, bucket: &str, trail: TrailRef<'_>) -> Verdict {
    let statements = doc.statements();
    let partition = trail.arn.split(':').nth(1).unwrap_or("aws");
    let bucket_arn = format!("arn:{partition}:s3:::{bucket}");
    let object = |path: &str| format!("{bucket_arn}/{path}trailwarden-probe.json.gz");
    let for_cloudtrail = |action: &str| -> Vec<_> {
        statements.iter().filter(|s| s.allows() && s.to_service(CLOUDTRAIL) && s.grants_action(action)).collect()
    };
    let mut denied = vec![];
    let mut deny = |action: &str, resource: &str, what: &str| {
        let by: Vec<String> =
            statements.iter().enumerate().filter(|(_, s)| s.denies(CLOUDTRAIL, action, resource)).map(|(i, s)| s.label(i)).collect();
        if !by.is_empty() {
            denied.push(format!("{action} on {what} is denied to cloudtrail.amazonaws.com by statement {}", by.join(", ")));
        }
    };
    let mut missing = vec![];
    if !for_cloudtrail("s3:GetBucketAcl").iter().any(|s| s.covers(&bucket_arn) && s.limited_to_source(trail.arn)) {
        missing.push("s3:GetBucketAcl on the bucket for cloudtrail.amazonaws.com, limited by aws:SourceArn to this trail".to_owned());
    }
    deny("s3:GetBucketAcl", &bucket_arn, "the bucket");
    let writes = for_cloudtrail("s3:PutObject");
    let owner_acl = |s: &document::Statement<'_>| s.condition(&["StringEquals"], "s3:x-amz-acl").contains(&"bucket-owner-full-control");
    let path = document::log_path(trail.prefix, trail.account);
    if !writes.iter().any(|s| s.covers(&object(&path)) && owner_acl(s) && s.limited_to_source(trail.arn)) {
        missing.push(format!(
            "s3:PutObject on {bucket_arn}/{path}* for cloudtrail.amazonaws.com with s3:x-amz-acl=bucket-owner-full-control, limited by aws:SourceArn to this trail"
        ));
    }
    deny("s3:PutObject", &object(&path), &format!("{bucket_arn}/{path}*"));
    if trail.organization {
        // The organization's own id when known (a landing zone's policy names it), else
        // any id: trailwarden's own statement covers `o-*`.
        let org_id = trail.organization_id.unwrap_or(ORG_PLACEHOLDER);
        let org_path = document::log_path(trail.prefix, &format!("{org_id}/{}", trail.account));
        if !writes.iter().any(|s| s.covers(&object(&org_path)) && owner_acl(s)) {
            missing.push(format!("s3:PutObject on the organization path {bucket_arn}/[prefix/]AWSLogs/<org-id>/* for cloudtrail.amazonaws.com"));
        }
        deny("s3:PutObject", &object(&org_path), "the organization path");
    }
    let mut problems = vec![];
    if !missing.is_empty() {
        problems.push(format!("the bucket policy lacks: {}", missing.join("; ")));
    }
    problems.extend(denied);
    if problems.is_empty() {
        Ok("CloudTrail may check the ACL and write this trail's logs, and only this trail".into())
    } else {
        Err(problems.join("; "))
    }
}

/// The statements of `doc` (by index) that deny CloudTrail what the trail's delivery needs.
fn denying_cloudtrail(doc: &Document, bucket: &str, trail: TrailRef<'_>) -> Vec<usize> {
    let partition = trail.arn.split(':').nth(1).unwrap_or("aws");
    let bucket_arn = format!("arn:{partition}:s3:::{bucket}");
    let mut paths = vec![document::log_path(trail.prefix, trail.account)];
    if trail.organization {
        let org_id = trail.organization_id.unwrap_or(ORG_PLACEHOLDER);
        paths.push(document::log_path(trail.prefix, &format!("{org_id}/{}", trail.account)));
    }
    let objects: Vec<String> = paths.iter().map(|p| format!("{bucket_arn}/{p}trailwarden-probe.json.gz")).collect();
    doc.statements()
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            s.denies(CLOUDTRAIL, "s3:GetBucketAcl", &bucket_arn) || objects.iter().any(|o| s.denies(CLOUDTRAIL, "s3:PutObject", o))
        })
        .map(|(i, _)| i)
        .collect()
}

/// Corrections `manage: true` allows, for checks that failed on facts we could read.
pub fn fixes(facts: &BucketFacts, trail: TrailRef<'_>, posture: &BucketPosture) -> Vec<BucketFix> {
    let mut fixes = vec![];
    if !posture.manage {
        return fixes;
    }
    if posture.require_public_access_block && facts.public_access_block.as_ref().is_ok_and(|f| !f.iter().all(|x| *x)) {
        fixes.push(BucketFix::BlockPublicAccess);
    }
    if posture.require_versioning && facts.versioning_enabled == Ok(false) {
        fixes.push(BucketFix::EnableVersioning);
    }
    if matches!(cloudtrail_policy(facts, trail), Ok(Err(_))) {
        // Only a policy we could read and parse is rewritten: never overwrite the unknown.
        // Our statements go in; a statement that still denies CloudTrail the trail's
        // delivery (an unconditional Deny: see `Statement::denies`) goes out, as `manage`
        // means the bucket is kept fit for the trail. Nothing is written unless the result
        // passes: a write every pass that fixes nothing is worse than none.
        if let (Ok(doc), Ok(before)) = (parsed(facts), &facts.policy) {
            let doc = doc.unwrap_or_else(Document::empty);
            let ours = document::bucket_statements(&facts.name, trail);
            let mut repaired = doc.with_our_statements(ours.clone());
            let mut removed = vec![];
            if cloudtrail_policy_of(&repaired, &facts.name, trail).is_err() {
                let denying = denying_cloudtrail(&doc, &facts.name, trail);
                removed = denying.iter().map(|i| doc.statements()[*i].label(*i)).collect();
                repaired = doc.without(&denying).with_our_statements(ours);
            }
            if cloudtrail_policy_of(&repaired, &facts.name, trail).is_ok() {
                fixes.push(BucketFix::PutBucketPolicy { before: before.clone(), after: repaired.to_json(), removed });
            }
        }
    }
    if facts.object_ownership.as_ref().is_ok_and(|o| o.as_deref() != Some(OWNER_ENFORCED)) {
        fixes.push(BucketFix::DisableAcls);
    }
    if let Some(required) = at_rest::lock_fix(facts, posture.object_lock) {
        fixes.push(BucketFix::SetObjectLock(required));
    }
    if let (Ok(rules), true) = (&facts.lifecycle, posture.retention_days > 0) {
        let days = posture.retention_days;
        let rules: Vec<String> = retention::offending(rules, trail.prefix, days).into_iter().map(|(r, _)| r.id.clone()).collect();
        if !rules.is_empty() {
            fixes.push(BucketFix::LengthenLifecycle { rules, days });
        }
    }
    fixes
}

pub mod at_rest;
pub mod retention;
pub use at_rest::{LockMode, LockRequirement, ObjectLock};
pub use retention::LifecycleRule;

#[cfg(test)]
mod tests;
