//! What trailwarden reports back on a `TrailPolicy`: the status subresource's types.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What trailwarden saw and did at its last look.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TrailPolicyStatus {
    /// The spec generation the last pass worked from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The trail's name as resolved from the spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trail_name: Option<String>,
    /// The trail's ARN as last seen (or as it would be named once created).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trail_arn: Option<String>,
    /// The region the trail lives in (spec.region).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home_region: Option<String>,
    /// The key ARN `kmsKeyId` resolved to at the last look.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_arn: Option<String>,
    /// Whether the trail was logging at the last look (absent: could not tell).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_logging: Option<bool>,
    /// Ready, Synced, Logging and Compliant.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Settings that differed from the spec at the last look.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<Drift>,
    /// When a pass last wrote this status. A pass that changes nothing leaves the status
    /// alone, so this is up to an hour old while all is well; the time of every look is
    /// the metric trailwarden_policy_last_look_timestamp_seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_reconcile_time: Option<Time>,
    /// The last pass that wrote to AWS: when, and what it called.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_remediation: Option<Remediation>,
    /// Passes that wrote to AWS since the policy was created.
    #[serde(default)]
    pub remediation_count: u64,
    /// Delivery health as GetTrailStatus reported it. Its latest-delivery times are
    /// refreshed with lastReconcileTime (hourly while nothing else changes); its errors and
    /// logging start and stop times at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<Delivery>,
    /// One finding per posture check (trail, bucket, key), with the controls it maps to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compliance: Vec<ComplianceFinding>,
    /// The trail this policy created or adopted. It stays the policy's when someone
    /// removes or changes its `trailwarden.dev/policy-uid` tag (the tag is put back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owned_trail_arn: Option<String>,
    /// The key the alias in `kmsKeyId` named when the spec last changed. The trail keeps
    /// this key when the alias is pointed at another (reported as `KeyAliasMoved`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned_kms_key: Option<PinnedKey>,
    /// When trailwarden restarted logging within the last 10 minutes: two or more make the
    /// trail Contested.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logging_restarts: Vec<Time>,
    /// What the log verifier found walking the trail's digest chain (with log-file
    /// validation on). Written by the verifier alone; the CT-LOG-INTEGRITY check reads it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_integrity: Option<LogIntegrity>,
    /// Never on the wire: on the watch's copy of a policy, the digest of the whole status
    /// it was slimmed from (`k8s::status::slim`), for telling a pass's status from it.
    #[serde(skip)]
    #[schemars(skip)]
    pub seen_digest: Option<StatusDigest>,
}

/// A SHA-256 of a status as compared for a write (`k8s::status::digest`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusDigest(pub [u8; 32]);

/// The log verifier's record for a trail: how far its digest chain is proven, and every
/// digest or log file found not intact (kept until the record is removed).
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LogIntegrity {
    /// False once any digest or log file was found not intact.
    pub intact: bool,
    /// When the verifier last wrote this record: at a walk that found something new, else
    /// at least every 6 hours (the time of each round is the metric
    /// trailwarden_log_integrity_last_round_timestamp_seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_check_time: Option<Time>,
    /// The logs are proven up to here: the oldest of the chains' newest digests' end times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_through: Option<Time>,
    /// Digest files verified so far.
    #[serde(default)]
    pub digests_verified: u64,
    /// Log files verified so far.
    #[serde(default)]
    pub logs_verified: u64,
    /// Per chain (account and region: a multi-region trail writes one per region, an
    /// organization trail one per member account too), the newest digest verified: where
    /// the next walk resumes, the next digest having to link to it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub last_digests: Vec<DigestLink>,
    /// Digest and log files found not intact, oldest first (the latest 10).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<IntegrityFinding>,
    /// Why the last walk could not judge the chain (no access to the bucket, no public keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A digest file, as the next one must name it.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DigestLink {
    /// The account whose chain it is.
    pub account: String,
    /// The region whose chain it is.
    pub region: String,
    /// The bucket it is in.
    pub bucket: String,
    /// Its key.
    pub key: String,
    /// Its digestEndTime.
    pub end_time: Time,
    /// Its signature (hex), which the next digest carries as previousDigestSignature.
    pub signature: String,
}

/// A digest or log file found not intact.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct IntegrityFinding {
    /// DigestMissing, DigestMoved, DigestInvalidFormat, DigestKeyNotFound,
    /// DigestSignatureFailed, ChainBroken, LogMissing, LogInvalidFormat, LogHashMismatch or
    /// LogTrailingData.
    pub problem: String,
    /// s3://bucket/key.
    pub object: String,
    /// Why.
    pub detail: String,
    /// When the verifier found it.
    pub found_time: Time,
}

/// A KMS alias resolved once per spec change.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PinnedKey {
    /// `kmsKeyId` as declared (an alias).
    pub alias: String,
    /// The key ARN it named.
    pub arn: String,
    /// The policy's generation when it was pinned.
    pub generation: i64,
}

/// One setting whose observed value differed from the desired one.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Drift {
    /// The setting, as the spec names it (tags as tags.<key>).
    pub field: String,
    /// What the policy declares.
    pub desired: String,
    /// What AWS showed.
    pub observed: String,
}

/// The last set of corrections trailwarden made.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Remediation {
    /// When the pass ended.
    pub time: Time,
    /// The AWS operations it made, in order (e.g. StartLogging, PutBucketVersioning).
    pub actions: Vec<String>,
}

/// Delivery health as reported by CloudTrail's GetTrailStatus.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_delivery_time: Option<Time>,
    /// The error of the last log file delivery to S3, if it failed (e.g. AccessDenied, NoSuchBucket).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_delivery_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_digest_delivery_time: Option<Time>,
    /// The error of the last digest file delivery to S3, if it failed (e.g. AccessDenied, NoSuchBucket).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_digest_delivery_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_cloud_watch_logs_delivery_time: Option<Time>,
    /// The error of the last delivery to CloudWatch Logs, if it failed (e.g. AccessDenied, NoSuchBucket).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_cloud_watch_logs_delivery_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_notification_time: Option<Time>,
    /// The error of the last SNS notification, if it failed (e.g. AccessDenied, NoSuchBucket).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_notification_error: Option<String>,
    /// When logging was last started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_logging_time: Option<Time>,
    /// When logging was last stopped: a stop later than the start is a window in which
    /// nothing was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_logging_time: Option<Time>,
}

/// The verdict of one posture check.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ComplianceFinding {
    /// The check, e.g. CT-LOGGING or BKT-VERSIONING (see the README's posture checks).
    pub id: String,
    /// Pass, Fail, or Unknown when it could not be judged.
    pub status: CheckStatus,
    /// The controls it maps to, e.g. cis-3.1, fsbp-CloudTrail.1, pci-10.2.1.
    pub controls: Vec<String>,
    /// What was found, or why it could not be judged.
    pub message: String,
    /// Whether the policy asks for this check to pass (a failing required check makes
    /// the policy not Compliant; the others are reported for information).
    #[serde(default)]
    pub required: bool,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckStatus {
    Pass,
    Fail,
    Unknown,
}
