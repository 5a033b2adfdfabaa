//! The KMS key that encrypts the trail's log files: usable, rotated, in the bucket's
//! region, and open to CloudTrail for exactly this trail.

use strum::IntoStaticStr;

use super::bucket::Known;
use super::document::{self, CLOUDTRAIL, Document};
use super::{Check, CheckId, TrailRef, Verdict, check_known};

/// What trailwarden reads about the trail's KMS key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyFacts {
    pub arn: String,
    /// KeyState, e.g. Enabled, Disabled, PendingDeletion.
    pub state: Known<String>,
    /// When KMS will delete the key, while its deletion is scheduled.
    pub deletion_date: Option<jiff::Timestamp>,
    /// KeySpec, e.g. SYMMETRIC_DEFAULT.
    pub spec: Known<String>,
    pub rotation_enabled: Known<bool>,
    /// The key's default policy document.
    pub policy: Known<String>,
}

/// What the policy requires of the KMS key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KmsPosture {
    /// trailwarden may fix the key, not only report on it.
    pub manage: bool,
    pub require_rotation: bool,
}

impl Default for KmsPosture {
    fn default() -> Self {
        KmsPosture { manage: false, require_rotation: true }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, IntoStaticStr)]
pub enum KeyCheck {
    #[strum(serialize = "KMS-KEY-READABLE")]
    Readable,
    #[strum(serialize = "KMS-KEY-ENABLED")]
    Enabled,
    #[strum(serialize = "KMS-KEY-SYMMETRIC")]
    Symmetric,
    #[strum(serialize = "KMS-KEY-ROTATION")]
    Rotation,
    #[strum(serialize = "KMS-KEY-CLOUDTRAIL-POLICY")]
    CloudTrailPolicy,
    #[strum(serialize = "KMS-KEY-REGION")]
    Region,
}

impl CheckId for KeyCheck {
    fn controls(self) -> &'static [&'static str] {
        match self {
            KeyCheck::Readable => &["CloudTrail.2"],
            KeyCheck::Enabled => &["KMS.3"],
            KeyCheck::Symmetric => &["CloudTrail.2"],
            KeyCheck::Rotation => &["CIS 3.6", "CIS v1.4 3.8", "KMS.4"],
            KeyCheck::CloudTrailPolicy | KeyCheck::Region => &["CloudTrail delivery"],
        }
    }
}

/// A correction to the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyFix {
    /// A key pending deletion: the deletion cancelled (the key is then disabled).
    CancelKeyDeletion,
    /// A disabled key enabled again.
    EnableKey,
    EnableKeyRotation,
    /// The whole new key policy (`after`: the old one with this trail's statements
    /// replaced), and the policy it was judged from (`before`). The put is refused if the
    /// key's policy is no longer `before` when it is about to be made.
    PutKeyPolicy { before: String, after: String },
}

impl KeyFix {
    /// The KMS operation that carries it out.
    pub fn name(&self) -> &'static str {
        match self {
            KeyFix::CancelKeyDeletion => "CancelKeyDeletion",
            KeyFix::EnableKey => "EnableKey",
            KeyFix::EnableKeyRotation => "EnableKeyRotation",
            KeyFix::PutKeyPolicy { .. } => "PutKeyPolicy",
        }
    }

    /// The facts once this fix has been carried out.
    pub fn applied_to(&self, mut facts: KeyFacts) -> KeyFacts {
        match self {
            KeyFix::CancelKeyDeletion => {
                facts.state = Ok("Disabled".into());
                facts.deletion_date = None;
            }
            KeyFix::EnableKey => facts.state = Ok("Enabled".into()),
            KeyFix::EnableKeyRotation => facts.rotation_enabled = Ok(true),
            KeyFix::PutKeyPolicy { after, .. } => facts.policy = Ok(after.clone()),
        }
        facts
    }
}

fn region_of(arn: &str) -> &str {
    arn.split(':').nth(3).unwrap_or_default()
}

pub fn checks(facts: &KeyFacts, trail: TrailRef<'_>, bucket_region: Option<&str>, posture: &KmsPosture) -> Vec<Check> {
    let key = &facts.arn;
    let mut checks = vec![
        check_known(
            KeyCheck::Enabled,
            true,
            facts.state.as_ref().map(|s| match (s.as_str(), facts.deletion_date) {
                ("Enabled", _) => Ok(format!("key {key} is enabled")),
                ("PendingDeletion", Some(date)) => Err(format!(
                    "key {key} is scheduled for deletion on {date}: CloudTrail cannot encrypt with it, and every log file \
                     encrypted with it becomes unreadable then (cancel with kms:CancelKeyDeletion)"
                )),
                (s, _) => Err(format!("key {key} is {s}: CloudTrail cannot encrypt with it")),
            }),
        ),
        check_known(
            KeyCheck::Symmetric,
            true,
            facts.spec.as_ref().map(|s| {
                if s == "SYMMETRIC_DEFAULT" { Ok("symmetric key".into()) } else { Err(format!("key spec {s}: CloudTrail needs a symmetric key")) }
            }),
        ),
        check_known(
            KeyCheck::Rotation,
            posture.require_rotation,
            facts.rotation_enabled.as_ref().map(|on| {
                if *on { Ok("automatic rotation is on".into()) } else { Err(format!("key {key} does not rotate")) }
            }),
        ),
        check_known(KeyCheck::CloudTrailPolicy, true, cloudtrail_policy(facts, trail.arn, trail.account)),
    ];
    if let Some(region) = bucket_region {
        let verdict = if region_of(key) == region {
            Ok(format!("key and bucket are both in {region}"))
        } else {
            Err(format!("key is in {} but the bucket is in {region}: CloudTrail needs them in one region", region_of(key)))
        };
        checks.push(check_known(KeyCheck::Region, true, Ok::<_, String>(verdict)));
    }
    checks
}

fn cloudtrail_policy(facts: &KeyFacts, trail_arn: &str, account: &str) -> Result<Verdict, String> {
    let doc = Document::parse(facts.policy.as_ref().map_err(Clone::clone)?)?;
    Ok(cloudtrail_policy_of(&doc, &facts.arn, trail_arn, account))
}

/// Whether `doc` lets CloudTrail encrypt this trail's logs with the key. A grant counts
/// only if it surely applies (see [`document::Statement`]); a Deny without conditions that
/// may apply takes it away.
fn cloudtrail_policy_of(doc: &Document, key_arn: &str, trail_arn: &str, account: &str) -> Verdict {
    let statements = doc.statements();
    let for_cloudtrail = |action: &'static str| {
        statements.iter().filter(move |s| s.allows() && s.to_service(CLOUDTRAIL) && s.grants_action(action))
    };
    // Each value must surely match: one over the length cap does not count.
    let context_ok = |s: &document::Statement<'_>| {
        let values = s.condition(&["StringLike", "StringEquals", "ArnLike", "ArnEquals"], "kms:EncryptionContext:aws:cloudtrail:arn");
        values.iter().any(|v| document::wildcard(v, trail_arn).sure())
    };
    let mut missing = vec![];
    if !for_cloudtrail("kms:GenerateDataKey").any(|s| context_ok(s) && s.limited_to_source(trail_arn)) {
        missing.push(format!(
            "kms:GenerateDataKey* for cloudtrail.amazonaws.com with the kms:EncryptionContext:aws:cloudtrail:arn condition (arn:…:cloudtrail:*:{account}:trail/*) and aws:SourceArn limited to this trail"
        ));
    }
    if for_cloudtrail("kms:DescribeKey").next().is_none() {
        missing.push("kms:DescribeKey for cloudtrail.amazonaws.com".into());
    }
    let mut problems = vec![];
    if !missing.is_empty() {
        problems.push(format!("the key policy lacks: {}", missing.join("; ")));
    }
    for action in ["kms:GenerateDataKey", "kms:DescribeKey"] {
        let by: Vec<String> =
            statements.iter().enumerate().filter(|(_, s)| s.denies(CLOUDTRAIL, action, key_arn)).map(|(i, s)| s.label(i)).collect();
        if !by.is_empty() {
            problems.push(format!("{action} is denied to cloudtrail.amazonaws.com by statement {}", by.join(", ")));
        }
    }
    if problems.is_empty() { Ok("CloudTrail may encrypt this trail's logs with the key".into()) } else { Err(problems.join("; ")) }
}

/// Corrections `manage: true` allows. The account-root statement, like every statement
/// that is not this trail's, is kept: only this trail's statement ids (and the legacy
/// unsuffixed ones) are replaced, so trails sharing the key do not undo each other.
pub fn fixes(facts: &KeyFacts, trail: TrailRef<'_>, posture: &KmsPosture) -> Vec<KeyFix> {
    let (trail_arn, account) = (trail.arn, trail.account);
    let mut fixes = vec![];
    if !posture.manage {
        return fixes;
    }
    // A key alive again before anything else: KMS refuses every other change to a key
    // that is disabled or pending deletion.
    match facts.state.as_deref() {
        Ok("PendingDeletion") => fixes.extend([KeyFix::CancelKeyDeletion, KeyFix::EnableKey]),
        Ok("Disabled") => fixes.push(KeyFix::EnableKey),
        _ => {}
    }
    if posture.require_rotation && facts.rotation_enabled == Ok(false) {
        fixes.push(KeyFix::EnableKeyRotation);
    }
    // Only a policy we could read and parse is rewritten, and only when our statements are
    // enough (a foreign Deny stays: rewriting around it would fix nothing, every pass).
    if matches!(cloudtrail_policy(facts, trail_arn, account), Ok(Err(_)))
        && let Ok(before) = &facts.policy
        && let Ok(doc) = Document::parse(before)
    {
        let repaired = doc.with_our_statements(document::key_statements(account, trail_arn));
        if cloudtrail_policy_of(&repaired, &facts.arn, trail_arn, account).is_ok() {
            fixes.push(KeyFix::PutKeyPolicy { before: before.clone(), after: repaired.to_json() });
        }
    }
    fixes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::posture::CheckStatus;
    use serde_json::json;

    const TRAIL: &str = "arn:aws:cloudtrail:us-east-1:111122223333:trail/audit";
    const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    fn trail() -> TrailRef<'static> {
        TrailRef { arn: TRAIL, account: "111122223333", prefix: None, organization: false, organization_id: None }
    }

    fn root_only() -> serde_json::Value {
        json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "Enable IAM User Permissions", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"}
        ]})
    }

    fn facts(policy: String) -> KeyFacts {
        KeyFacts {
            arn: KEY.into(),
            state: Ok("Enabled".into()),
            deletion_date: None,
            spec: Ok("SYMMETRIC_DEFAULT".into()),
            rotation_enabled: Ok(true),
            policy: Ok(policy),
        }
    }

    fn status(checks: &[Check], id: &str) -> CheckStatus {
        checks.iter().find(|c| c.id == id).unwrap().status
    }

    fn good() -> String {
        Document::parse(&root_only().to_string()).unwrap().with_our_statements(document::key_statements("111122223333", TRAIL)).to_json()
    }

    #[test]
    fn a_hardened_key_passes() {
        let checks = checks(&facts(good()), trail(), Some("us-east-1"), &KmsPosture::default());
        assert!(checks.iter().all(|c| c.status == CheckStatus::Pass), "{checks:#?}");
    }

    #[test]
    fn the_default_key_policy_locks_cloudtrail_out() {
        let checks = checks(&facts(root_only().to_string()), trail(), None, &KmsPosture::default());
        assert_eq!(status(&checks, "KMS-KEY-CLOUDTRAIL-POLICY"), CheckStatus::Fail);
    }

    #[test]
    fn encryption_context_for_another_account_does_not_count() {
        let mut policy = root_only();
        policy["Statement"].as_array_mut().unwrap().extend(document::key_statements("999999999999", TRAIL.replace("111122223333", "999999999999").as_str()));
        let checks = checks(&facts(policy.to_string()), trail(), None, &KmsPosture::default());
        assert_eq!(status(&checks, "KMS-KEY-CLOUDTRAIL-POLICY"), CheckStatus::Fail);
    }

    #[test]
    fn pending_deletion_rotation_off_and_wrong_region_fail() {
        let mut f = facts(good());
        f.state = Ok("PendingDeletion".into());
        f.rotation_enabled = Ok(false);
        let checks = checks(&f, trail(), Some("eu-west-1"), &KmsPosture::default());
        assert_eq!(status(&checks, "KMS-KEY-ENABLED"), CheckStatus::Fail);
        assert_eq!(status(&checks, "KMS-KEY-ROTATION"), CheckStatus::Fail);
        assert_eq!(status(&checks, "KMS-KEY-REGION"), CheckStatus::Fail);
    }

    #[test]
    fn a_key_pending_deletion_is_brought_back_and_named_with_its_date_until_then() {
        let mut f = facts(root_only().to_string());
        f.state = Ok("PendingDeletion".into());
        f.deletion_date = Some("2027-01-06T00:00:00Z".parse().unwrap());
        let enabled = checks(&f, trail(), None, &KmsPosture::default()).into_iter().find(|c| c.id == "KMS-KEY-ENABLED").unwrap();
        assert!(enabled.message.contains("scheduled for deletion on 2027-01-06T00:00:00Z"), "{}", enabled.message);
        assert_eq!(fixes(&f, trail(), &KmsPosture::default()), [], "without manage: reported only");
        let managed = KmsPosture { manage: true, ..Default::default() };
        let planned = fixes(&f, trail(), &managed);
        assert_eq!(planned[..2], [KeyFix::CancelKeyDeletion, KeyFix::EnableKey], "alive first: {planned:?}");
        let revived = planned[..2].iter().fold(f, |facts, fix| fix.applied_to(facts));
        assert_eq!((revived.state.as_deref(), revived.deletion_date), (Ok("Enabled"), None));
        let mut disabled = revived;
        disabled.state = Ok("Disabled".into());
        assert_eq!(fixes(&disabled, trail(), &managed)[0], KeyFix::EnableKey);
    }

    #[test]
    fn fixes_keep_the_root_statement() {
        let mut f = facts(root_only().to_string());
        f.rotation_enabled = Ok(false);
        let managed = KmsPosture { manage: true, ..Default::default() };
        let planned = fixes(&f, trail(), &managed);
        assert_eq!(planned[0], KeyFix::EnableKeyRotation);
        let KeyFix::PutKeyPolicy { before, after: policy } = &planned[1] else { panic!("{planned:?}") };
        assert_eq!(*before, root_only().to_string(), "judged from the policy as read");
        let doc: serde_json::Value = serde_json::from_str(policy).unwrap();
        assert_eq!(doc["Statement"][0], root_only()["Statement"][0]);
        f.policy = Ok(policy.clone());
        f.rotation_enabled = Ok(true);
        assert!(fixes(&f, trail(), &managed).is_empty(), "fixed key needs nothing more");
    }

    fn policy_fix(f: &KeyFacts, trail: TrailRef<'_>) -> Option<KeyFix> {
        let managed = KmsPosture { manage: true, ..Default::default() };
        fixes(f, trail, &managed).into_iter().find(|fix| matches!(fix, KeyFix::PutKeyPolicy { .. }))
    }

    #[test]
    fn trails_sharing_a_key_keep_each_others_statements() {
        const OTHER: &str = "arn:aws:cloudtrail:us-east-1:111122223333:trail/second";
        let (a, b) = (trail(), TrailRef { arn: OTHER, ..trail() });
        let f = facts(root_only().to_string());
        let after_a = policy_fix(&f, a).unwrap().applied_to(f);
        let after_b = policy_fix(&after_a, b).expect("B's statement is missing").applied_to(after_a);
        for t in [a, b] {
            let checks = checks(&after_b, t, None, &KmsPosture::default());
            assert_eq!(status(&checks, "KMS-KEY-CLOUDTRAIL-POLICY"), CheckStatus::Pass, "{}: {checks:#?}", t.arn);
            assert_eq!(policy_fix(&after_b, t), None, "{} plans no further write", t.arn);
        }
        let doc: serde_json::Value = serde_json::from_str(after_b.policy.as_ref().unwrap()).unwrap();
        let statements = doc["Statement"].as_array().unwrap();
        assert_eq!(statements[0], root_only()["Statement"][0], "root statement kept");
        let sids: Vec<&str> = statements.iter().filter_map(|s| s["Sid"].as_str()).collect();
        assert_eq!(statements.len(), 4, "root, one encrypt statement per trail, one shared DescribeKey: {sids:?}");
        assert_eq!(sids.iter().filter(|s| **s == document::KEY_DESCRIBE_SID).count(), 1);
    }

    #[test]
    fn a_legacy_encrypt_statement_is_replaced() {
        let mut policy = root_only();
        let mut legacy = document::key_statements("111122223333", "arn:aws:cloudtrail:us-east-1:111122223333:trail/gone");
        legacy[0]["Sid"] = json!(document::KEY_ENCRYPT_SID);
        policy["Statement"].as_array_mut().unwrap().extend(legacy);
        let fixed = policy_fix(&facts(policy.to_string()), trail()).unwrap().applied_to(facts(policy.to_string()));
        let doc: serde_json::Value = serde_json::from_str(fixed.policy.as_ref().unwrap()).unwrap();
        let sids: Vec<&str> = doc["Statement"].as_array().unwrap().iter().filter_map(|s| s["Sid"].as_str()).collect();
        assert_eq!(sids.len(), 3, "{sids:?}");
        assert!(!sids.contains(&document::KEY_ENCRYPT_SID), "{sids:?}");
        assert_eq!(status(&checks(&fixed, trail(), None, &KmsPosture::default()), "KMS-KEY-CLOUDTRAIL-POLICY"), CheckStatus::Pass);
    }
}
