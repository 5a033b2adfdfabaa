//! The log files at rest: the bucket's default encryption (BKT-DEFAULT-ENCRYPTION) and,
//! for those who need write-once logs, its Object Lock default retention (BKT-OBJECT-LOCK).
//!
//! S3 encrypts every new object with SSE-S3 at least since January 2023, so a bucket
//! without a default is one S3 did not answer for; SSE-KMS is named as such
//! (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/default-bucket-encryption.html>).
//! Object Lock keeps every object version from being deleted or overwritten until its
//! retention ends; S3 lets it be turned on for an existing versioned bucket, never off
//! (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock-configure.html>).

use super::{BucketFacts, Verdict};

/// Object Lock's default retention modes: Governance (users with a special permission may
/// shorten or remove it) and Compliance (nobody may, the root user included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockMode {
    Governance,
    Compliance,
}

impl LockMode {
    /// As S3 names it.
    pub fn as_s3(self) -> &'static str {
        match self {
            LockMode::Governance => "GOVERNANCE",
            LockMode::Compliance => "COMPLIANCE",
        }
    }

    fn at_least(self, required: LockMode) -> bool {
        self == required || self == LockMode::Compliance
    }
}

/// What S3 reports of a bucket's Object Lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectLock {
    pub enabled: bool,
    /// The default retention, when one is set: its mode and length in days (years
    /// counted as 365 days).
    pub default_retention: Option<(LockMode, u32)>,
}

/// What a policy requires of Object Lock: this mode (or Compliance) for at least these days.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockRequirement {
    pub mode: LockMode,
    pub days: u32,
}

pub fn encryption(facts: &BucketFacts) -> Result<Verdict, String> {
    let algorithm = facts.encryption.as_ref().map_err(Clone::clone)?;
    Ok(match algorithm.as_deref() {
        Some(a) if a.starts_with("aws:kms") => Ok(format!("new objects are encrypted by default with SSE-KMS ({a})")),
        Some(a) => Ok(format!("new objects are encrypted by default ({a}, SSE-S3)")),
        None => Err(format!("bucket {} reports no default encryption", facts.name)),
    })
}

pub fn object_lock(facts: &BucketFacts, required: Option<LockRequirement>) -> Result<Verdict, String> {
    let lock = facts.object_lock.as_ref().map_err(Clone::clone)?;
    let found = lock.as_ref().filter(|l| l.enabled).and_then(|l| l.default_retention);
    Ok(match (found, required) {
        (Some((mode, days)), Some(r)) if mode.at_least(r.mode) && days >= r.days => {
            Ok(format!("Object Lock keeps every log file {} days ({})", days, mode.as_s3()))
        }
        (Some((mode, days)), Some(r)) => Err(format!(
            "Object Lock keeps log files {days} days ({}); the policy requires {} days ({})",
            mode.as_s3(),
            r.days,
            r.mode.as_s3()
        )),
        (Some((mode, days)), None) => Ok(format!("Object Lock keeps every log file {days} days ({})", mode.as_s3())),
        (None, _) if lock.as_ref().is_some_and(|l| l.enabled) => Err("Object Lock is on without a default retention".into()),
        (None, _) => Err(format!("bucket {} has no Object Lock: log files can be deleted or overwritten by whoever may", facts.name)),
    })
}

/// Whether `manage` should set the required default retention.
pub fn lock_fix(facts: &BucketFacts, required: Option<LockRequirement>) -> Option<LockRequirement> {
    let required = required?;
    matches!(object_lock(facts, Some(required)), Ok(Err(_))).then_some(required)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(lock: Option<ObjectLock>) -> BucketFacts {
        BucketFacts { object_lock: Ok(lock), ..crate::testing::bucket("logs") }
    }

    fn locked(mode: LockMode, days: u32) -> Option<ObjectLock> {
        Some(ObjectLock { enabled: true, default_retention: Some((mode, days)) })
    }

    const YEAR_GOVERNANCE: LockRequirement = LockRequirement { mode: LockMode::Governance, days: 365 };

    #[test]
    fn a_retention_at_least_as_long_and_as_strict_passes() {
        assert!(object_lock(&facts(locked(LockMode::Governance, 365)), Some(YEAR_GOVERNANCE)).unwrap().is_ok());
        assert!(object_lock(&facts(locked(LockMode::Compliance, 400)), Some(YEAR_GOVERNANCE)).unwrap().is_ok());
        let compliance = LockRequirement { mode: LockMode::Compliance, days: 365 };
        assert!(object_lock(&facts(locked(LockMode::Governance, 3650)), Some(compliance)).unwrap().is_err());
        assert!(object_lock(&facts(locked(LockMode::Governance, 30)), Some(YEAR_GOVERNANCE)).unwrap().is_err());
        assert!(object_lock(&facts(None), Some(YEAR_GOVERNANCE)).unwrap().is_err());
        assert!(object_lock(&facts(Some(ObjectLock { enabled: true, default_retention: None })), None).unwrap().is_err());
        assert_eq!(lock_fix(&facts(locked(LockMode::Governance, 30)), Some(YEAR_GOVERNANCE)), Some(YEAR_GOVERNANCE));
        assert_eq!(lock_fix(&facts(locked(LockMode::Governance, 365)), Some(YEAR_GOVERNANCE)), None);
        assert_eq!(lock_fix(&facts(None), None), None, "nothing is set unless the policy asks");
    }

    #[test]
    fn default_encryption_is_named() {
        let with = |a: Option<&str>| BucketFacts { encryption: Ok(a.map(Into::into)), ..crate::testing::bucket("logs") };
        assert!(encryption(&with(Some("aws:kms"))).unwrap().unwrap().contains("SSE-KMS"));
        assert!(encryption(&with(Some("AES256"))).unwrap().unwrap().contains("SSE-S3"));
        assert!(encryption(&with(None)).unwrap().is_err());
    }
}
