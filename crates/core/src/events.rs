//! AWS API calls as EventBridge delivers them ("AWS API Call via CloudTrail"): which
//! trail, bucket or key a call touched, and whether a policy governs it. Pure: the
//! trigger source reads the queue, this module reads the messages.
//!
//! An event is a hint, never a fact: it only makes the policies it concerns look again.

use jiff::Timestamp;
use serde::Deserialize;

use crate::policy::Desired;

/// What a call touched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// A trail, by name or ARN.
    Trail(String),
    Bucket(String),
    /// A KMS key, by id, ARN or alias.
    Key(String),
}

/// One management API call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiCall {
    pub id: String,
    /// When AWS says the call was made.
    pub time: Option<Timestamp>,
    /// e.g. `aws.cloudtrail`.
    pub source: String,
    /// e.g. `StopLogging`.
    pub name: String,
    /// The account the call acted in.
    pub account: String,
    pub region: String,
    /// The call failed (it changed nothing).
    pub failed: bool,
    /// The access key the call was signed with (`userIdentity.accessKeyId`), when AWS
    /// records one.
    pub access_key: Option<String>,
    /// Who made the call (`userIdentity.arn`), when AWS records it.
    pub actor: Option<String>,
    pub subjects: Vec<Subject>,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    #[error("not an EventBridge event: {0}")]
    NotAnEvent(String),
    #[error("not an AWS API call via CloudTrail (detail-type {0:?})")]
    NotAnApiCall(String),
}

#[derive(Deserialize)]
struct Envelope {
    id: String,
    #[serde(rename = "detail-type")]
    detail_type: String,
    source: String,
    #[serde(default)]
    time: Option<String>,
    #[serde(default)]
    account: Option<String>,
    #[serde(default)]
    region: Option<String>,
    detail: Detail,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Detail {
    event_name: String,
    #[serde(default)]
    aws_region: Option<String>,
    #[serde(default)]
    recipient_account_id: Option<String>,
    #[serde(default)]
    error_code: Option<String>,
    #[serde(default)]
    request_parameters: Option<serde_json::Value>,
    #[serde(default)]
    resources: Vec<Resource>,
    #[serde(default)]
    user_identity: Option<UserIdentity>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserIdentity {
    #[serde(default)]
    access_key_id: Option<String>,
    #[serde(default)]
    arn: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Resource {
    #[serde(default, rename = "ARN")]
    arn: Option<String>,
}

/// The calls the event rules watch, by source (deploy/events: the same list, held to it
/// by a test). Only these name a metric series: anyone who can put events on the bus
/// could otherwise grow the controller's series, and its memory, without bound.
pub const WATCHED: &[(&str, &[&str])] = &[
    (
        "aws.cloudtrail",
        &["StopLogging", "DeleteTrail", "UpdateTrail", "PutEventSelectors", "PutInsightSelectors", "AddTags", "RemoveTags", "CreateTrail"],
    ),
    (
        "aws.s3",
        &[
            "PutBucketPolicy",
            "DeleteBucketPolicy",
            "PutPublicAccessBlock",
            "DeletePublicAccessBlock",
            "PutBucketPublicAccessBlock",
            "DeleteBucketPublicAccessBlock",
            "PutBucketVersioning",
            "PutBucketLogging",
            "PutBucketAcl",
            // What goes after the logs rather than the trail: a lifecycle rule that
            // expires them, default encryption and Object Lock, the bucket itself and
            // its ownership controls.
            "PutBucketLifecycle",
            "DeleteBucketLifecycle",
            "PutBucketEncryption",
            "DeleteBucketEncryption",
            "PutObjectLockConfiguration",
            "DeleteBucket",
            "PutBucketOwnershipControls",
            "DeleteBucketOwnershipControls",
        ],
    ),
    ("aws.kms", &["DisableKey", "ScheduleKeyDeletion", "PutKeyPolicy", "DisableKeyRotation", "CreateAlias", "UpdateAlias", "DeleteAlias"]),
    // What changes the accounts a TrailPolicySet covers: recorded by the management
    // account, in us-east-1 (Organizations' home region).
    (
        "aws.organizations",
        &[
            "CreateAccount",
            "AcceptHandshake",
            "MoveAccount",
            "RemoveAccountFromOrganization",
            "LeaveOrganization",
            "CloseAccount",
            "CreateOrganizationalUnit",
            "DeleteOrganizationalUnit",
            // The organization's own switches CloudTrail depends on.
            "DisableAWSServiceAccess",
            "DeregisterDelegatedAdministrator",
            // What undoes a set's service control policy: its content rewritten, its
            // attachments removed, the policy deleted, its owner tag stripped, SCPs
            // switched off in a root.
            "UpdatePolicy",
            "DetachPolicy",
            "DeletePolicy",
            "UntagResource",
            "DisablePolicyType",
        ],
    ),
];

/// What a call is counted under, `(source, event)`: as watched, else `("other", "other")`.
pub fn labels(source: &str, name: &str) -> (&'static str, &'static str) {
    WATCHED
        .iter()
        .find(|(s, _)| *s == source)
        .and_then(|(s, names)| names.iter().find(|n| **n == name).map(|n| (*s, *n)))
        .unwrap_or(("other", "other"))
}

/// Reads one message body.
pub fn parse(body: &str) -> Result<ApiCall, Malformed> {
    let envelope: Envelope = serde_json::from_str(body).map_err(|e| Malformed::NotAnEvent(e.to_string()))?;
    if envelope.detail_type != "AWS API Call via CloudTrail" {
        return Err(Malformed::NotAnApiCall(envelope.detail_type));
    }
    let detail = envelope.detail;
    let text = |key: &str| {
        detail.request_parameters.as_ref().and_then(|p| p.get(key)).and_then(|v| v.as_str()).map(str::to_owned)
    };
    let mut subjects = vec![];
    match envelope.source.as_str() {
        "aws.cloudtrail" => {
            // CreateTrail/StopLogging/… name the trail as `name`, the selector calls as
            // `trailName`, AddTags/RemoveTags as `resourceId` (its ARN).
            subjects.extend(["name", "trailName", "resourceId"].iter().filter_map(|k| text(k)).map(Subject::Trail));
        }
        "aws.s3" => subjects.extend(text("bucketName").map(Subject::Bucket)),
        "aws.kms" => {
            // The key calls name `keyId`; the alias calls `aliasName` and `targetKeyId`.
            subjects.extend(["keyId", "aliasName", "targetKeyId"].iter().filter_map(|k| text(k)).map(Subject::Key));
            subjects.extend(detail.resources.iter().filter_map(|r| r.arn.clone()).map(Subject::Key));
        }
        _ => {}
    }
    Ok(ApiCall {
        id: envelope.id,
        time: envelope.time.and_then(|t| t.parse().ok()),
        source: envelope.source,
        name: detail.event_name,
        account: detail.recipient_account_id.or(envelope.account).unwrap_or_default(),
        region: detail.aws_region.or(envelope.region).unwrap_or_default(),
        failed: detail.error_code.is_some(),
        access_key: detail.user_identity.as_ref().and_then(|u| u.access_key_id.clone()).filter(|k| !k.is_empty()),
        actor: detail.user_identity.and_then(|u| u.arn).filter(|a| !a.is_empty()),
        subjects,
    })
}

/// What one policy governs, as events name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Governed {
    pub account: String,
    /// The account holding the bucket and key when it is another (`spec.logArchive`):
    /// their changes are recorded there.
    pub archive_account: Option<String>,
    /// The trail's ARN as last seen: an organization trail's carries the management
    /// account, whichever account manages it, and calls on it are matched by it alone.
    pub trail_arn: Option<String>,
    /// The trail's home region.
    pub region: String,
    pub trail_name: String,
    pub bucket: String,
    /// The key as declared (id, ARN or alias) and as last resolved (its ARN): events name
    /// keys by id or ARN, never by alias.
    pub keys: Vec<String>,
}

/// The part of a key reference both sides can agree on: a key id, or `alias/<name>`.
fn key_handle(key: &str) -> &str {
    if let Some(i) = key.find(":key/") {
        return &key[i + 5..];
    }
    if let Some(i) = key.find(":alias/") {
        return &key[i + 1..];
    }
    key
}

impl Governed {
    /// What `desired` governs. `own_account` is the controller's (for a policy without a
    /// role); `resolved_key` the ARN its key resolved to and `trail_arn` the trail's, at the
    /// last look, if known.
    pub fn of(desired: &Desired, own_account: &str, resolved_key: Option<&str>, trail_arn: Option<&str>) -> Self {
        Governed {
            account: desired.scope.role_account().unwrap_or(own_account).to_owned(),
            archive_account: desired.log_archive.as_ref().map(|a| a.account.clone()),
            trail_arn: trail_arn.map(str::to_owned),
            region: desired.scope.region.clone(),
            trail_name: desired.trail_name.clone(),
            bucket: desired.settings.bucket.clone(),
            keys: desired.settings.kms_key.iter().map(String::as_str).chain(resolved_key).map(str::to_owned).collect(),
        }
    }

    /// Whether `call` touched something this policy governs.
    pub fn concerns(&self, call: &ApiCall) -> bool {
        call.subjects.iter().any(|s| self.touches(s, call))
    }

    fn touches(&self, subject: &Subject, call: &ApiCall) -> bool {
        let here = call.account == self.account;
        let archive = self.archive_account.as_deref() == Some(call.account.as_str());
        match subject {
            // The trail's own ARN names it wherever the call was recorded (an organization
            // trail's calls may be recorded in its management account or its administrator's).
            Subject::Trail(t) if self.trail_arn.as_deref() == Some(t.as_str()) => true,
            _ if !here && !archive => false,
            Subject::Trail(_) if !here => false,
            Subject::Trail(t) => match t.strip_prefix("arn:") {
                // arn:<partition>:cloudtrail:<region>:<account>:trail/<name>
                Some(_) => {
                    let parts: Vec<&str> = t.splitn(6, ':').collect();
                    parts.len() == 6
                        && parts[3] == self.region
                        && parts[4] == self.account
                        && parts[5].strip_prefix("trail/") == Some(self.trail_name.as_str())
                }
                None => *t == self.trail_name && call.region == self.region,
            },
            // Bucket names are global; a bucket may live in another region than the trail.
            Subject::Bucket(b) => *b == self.bucket,
            Subject::Key(k) => self.keys.iter().any(|key| key_handle(key) == key_handle(k)),
        }
    }
}

#[cfg(test)]
mod tests;
