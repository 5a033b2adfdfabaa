//! What a policy requires of the trail's log bucket and KMS key (`spec.posture`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::yes;

/// Requirements on what the trail depends on.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Posture {
    #[serde(default)]
    pub bucket: BucketPosture,
    #[serde(default)]
    pub kms: KmsPosture,
}

/// Requirements on the log bucket.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BucketPosture {
    /// Let trailwarden fix the bucket, not only report on it.
    #[serde(default)]
    pub manage: bool,
    /// Block Public Access must be on, all four settings (CIS 2.1.4, FSBP S3.1/S3.8).
    #[serde(default = "yes")]
    pub require_public_access_block: bool,
    /// Versioning must be on, so a deleted or overwritten log file can be recovered.
    #[serde(default = "yes")]
    pub require_versioning: bool,
    /// MFA Delete must be on (only the root user can turn it on; never fixed).
    #[serde(default)]
    pub require_mfa_delete: bool,
    /// Server access logging must be on (CIS 3.6). Off by default: trailwarden does not
    /// set it up (it needs a target bucket of your choosing), so the check is reported
    /// for information unless you ask for it here.
    #[serde(default)]
    pub require_access_logging: bool,
    /// Days no lifecycle rule may delete the trail's log and digest files before
    /// (BKT-LOG-RETENTION; PCI DSS 10.5.1 asks for a year). With `manage`, the rules that
    /// expire them sooner are lengthened to this (an expiration by date is removed); every
    /// other rule is kept. 0 turns the check off.
    #[serde(default = "retention_days")]
    #[schemars(range(max = 36500))]
    pub retention_days: u32,
    /// An Object Lock default retention the bucket must have, for write-once logs
    /// (BKT-OBJECT-LOCK). With `manage`, trailwarden turns Object Lock on and sets it —
    /// Object Lock can never be turned off again, and a Compliance retention cannot be
    /// shortened by anyone: declare it knowingly. The bucket must be versioned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_lock: Option<ObjectLockPosture>,
}

/// An Object Lock default retention.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ObjectLockPosture {
    /// Governance (users with s3:BypassGovernanceRetention may shorten it) or Compliance
    /// (nobody may, the root user included).
    pub mode: LockMode,
    /// Days each log file is kept from deletion or overwrite.
    #[schemars(range(min = 1, max = 36500))]
    pub days: u32,
}

/// Object Lock's retention modes.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockMode {
    Governance,
    Compliance,
}

fn retention_days() -> u32 {
    trailwarden_core::posture::bucket::DEFAULT_RETENTION_DAYS
}

impl Default for BucketPosture {
    fn default() -> Self {
        Self {
            manage: false,
            require_public_access_block: true,
            require_versioning: true,
            require_mfa_delete: false,
            require_access_logging: false,
            retention_days: retention_days(),
            object_lock: None,
        }
    }
}

/// Requirements on the KMS key.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KmsPosture {
    /// Let trailwarden fix the key, not only report on it.
    #[serde(default)]
    pub manage: bool,
    /// Automatic yearly key rotation must be on (CIS 3.7, FSBP KMS.4).
    #[serde(default = "yes")]
    pub require_rotation: bool,
}

impl Default for KmsPosture {
    fn default() -> Self {
        Self { manage: false, require_rotation: true }
    }
}
