//! The `TrailPolicy` custom resource (`trailwarden.dev/v1alpha1`): what a user declares
//! about one CloudTrail trail, and what trailwarden reports back.
//!
//! Admission-time validation lives here too, as OpenAPI constraints and CEL rules, so a
//! malformed policy is refused by the API server before the controller ever sees it.

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use posture::{BucketPosture, KmsPosture, LockMode, ObjectLockPosture, Posture};
pub use selectors::{AdvancedEventSelector, AdvancedFieldSelector, DataResource, EventSelector, InsightType, ReadWriteType};
pub use status::{CheckStatus, ComplianceFinding, Delivery, DigestLink, Drift, IntegrityFinding, LogIntegrity, PinnedKey, Remediation, StatusDigest, TrailPolicyStatus};
pub use trailwarden_core::{OWNER_TAG, OWNER_UID_TAG};

mod posture;
mod selectors;
mod status;

/// Finalizer that lets trailwarden honour `deletionPolicy` before a policy disappears.
pub const FINALIZER: &str = "trailwarden.dev/cleanup";

/// Desired state of one CloudTrail trail.
// Each printcolumn(...) repeats `type_`, which clippy mistakes for a duplicated attribute.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "trailwarden.dev",
    version = "v1alpha1",
    kind = "TrailPolicy",
    plural = "trailpolicies",
    shortname = "tp",
    category = "trailwarden",
    status = "TrailPolicyStatus",
    doc = "A TrailPolicy declares how one AWS CloudTrail trail must be; trailwarden keeps it that way.",
    printcolumn(name = "Trail", type_ = "string", json_path = ".status.trailName"),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(name = "Region", type_ = "string", json_path = ".spec.region"),
    printcolumn(name = "Mode", type_ = "string", json_path = ".spec.mode"),
    printcolumn(name = "Logging", type_ = "string", json_path = ".status.conditions[?(@.type==\"Logging\")].status"),
    printcolumn(name = "Synced", type_ = "string", json_path = ".status.conditions[?(@.type==\"Synced\")].status"),
    printcolumn(name = "Compliant", type_ = "string", json_path = ".status.conditions[?(@.type==\"Compliant\")].status"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = Rule::new("has(self.spec.trailName) || (size(self.metadata.name) >= 3 && size(self.metadata.name) <= 128 && self.metadata.name.matches('^[a-z0-9]+([.-][a-z0-9]+)*$') && !self.metadata.name.matches('^[0-9]{1,3}([.][0-9]{1,3}){3}$'))")
        .message("metadata.name is the trail's name when spec.trailName is absent, and is not a valid trail name (3 to 128 characters, no two of '.', '-' in a row, not an IP address): set spec.trailName")
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.trailName) == has(oldSelf.trailName) && (!has(self.trailName) || self.trailName == oldSelf.trailName)")
        .message("trailName is immutable (it defaults to metadata.name): create a new TrailPolicy to manage another trail"),
    validation = Rule::new("!(has(self.eventSelectors) && size(self.eventSelectors) > 0 && has(self.advancedEventSelectors) && size(self.advancedEventSelectors) > 0)")
        .message("eventSelectors and advancedEventSelectors are mutually exclusive: a trail uses one kind or the other"),
    // Changing the account would leave the old trail behind, still tagged as ours.
    validation = Rule::new("has(self.account) == has(oldSelf.account) && (!has(self.account) || self.account.roleArn == oldSelf.account.roleArn)")
        .message("account.roleArn is immutable (the trail lives in that account): create a new TrailPolicy to manage a trail in another account"),
    // CloudTrail refuses both (InvalidParameterCombinationException, InvalidInsightSelectorsException):
    // admitted, they would fail at every pass.
    validation = Rule::new("!((!has(self.multiRegion) || self.multiRegion) && has(self.includeGlobalServiceEvents) && !self.includeGlobalServiceEvents)")
        .message("a multi-region trail must include global service events (CloudTrail refuses it otherwise): set includeGlobalServiceEvents: true, or multiRegion: false"),
    validation = Rule::new(concat!(
        "!has(self.insights) || !self.insights.exists(i, i == 'ApiCallRateInsight') || ",
        "(has(self.eventSelectors) && size(self.eventSelectors) > 0 ? ",
        "self.eventSelectors.exists(s, (!has(s.includeManagementEvents) || s.includeManagementEvents) && (!has(s.readWriteType) || s.readWriteType != 'ReadOnly')) : ",
        "!has(self.advancedEventSelectors) || size(self.advancedEventSelectors) == 0 || ",
        // eventCategory and readOnly each take one value: compared as such, the rule's cost
        // stays within the apiserver's budget whatever the other fields hold.
        "self.advancedEventSelectors.exists(s, s.fieldSelectors.exists(f, f.field == 'eventCategory' && has(f.equals) && size(f.equals) == 1 && f.equals[0] == 'Management') && ",
        "!s.fieldSelectors.exists(f, f.field == 'readOnly' && has(f.equals) && size(f.equals) == 1 && f.equals[0] == 'true')))"
    ))
    .message("ApiCallRateInsight needs the trail to log write management events (CloudTrail refuses it otherwise): include management events that are not read-only in the selectors, or drop the insight")
)]
pub struct TrailPolicySpec {
    /// Name of the trail. Defaults to the policy's metadata.name. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    #[x_kube(
        validation = Rule::new("size(self) >= 3").message("trailName must be 3 to 128 characters long"),
        validation = Rule::new("self.matches('^[A-Za-z0-9]+([._-][A-Za-z0-9]+)*$')")
            .message("trailName may hold only letters, digits, '.', '_' and '-', must begin and end with a letter or digit, and may not have two of '.', '_', '-' in a row"),
        validation = Rule::new("!self.matches('^[0-9]{1,3}([.][0-9]{1,3}){3}$')")
            .message("trailName must not look like an IP address")
    )]
    pub trail_name: Option<String>,

    /// The trail's home region: every write to the trail happens there. Immutable.
    #[schemars(length(max = 32))]
    #[x_kube(
        validation = Rule::new("self.matches('^[a-z]{2}(-[a-z]+)+-[0-9]+$')").message("region must be an AWS region name such as us-east-1"),
        validation = Rule::new("self == oldSelf").message("region is immutable: create a new TrailPolicy to manage a trail in another region")
    )]
    pub region: String,

    /// Act in another AWS account by assuming this role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<AccountRef>,

    /// Enforce corrects drift; Audit only observes and reports, and never writes to AWS.
    #[serde(default)]
    pub mode: Mode,

    /// What happens to the trail when this policy is deleted.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,

    /// Whether trailwarden may take over an existing trail it did not create.
    #[serde(default)]
    pub adoption: Adoption,

    /// Adopt a trail even when its settings are stronger than this policy's: a KMS key,
    /// an SNS topic, CloudWatch Logs, data-event or advanced selectors or Insights the
    /// policy does not declare, or log file validation, multi-region, global service
    /// events, organization or logging on where the policy has them off. Without it
    /// (the default) such an adoption is refused (Ready=False, reason
    /// AdoptionWouldWeaken, naming each loss) and the trail is left as it is.
    #[serde(default)]
    pub adoption_may_weaken: bool,

    /// Desired logging state of the trail.
    #[serde(default = "yes")]
    pub logging: bool,

    /// Record events in every region.
    #[serde(default = "yes")]
    pub multi_region: bool,

    /// Trail for every account of the AWS Organization (from the management or delegated admin account).
    #[serde(default)]
    pub organization: bool,

    /// Record events of global services such as IAM.
    #[serde(default = "yes")]
    pub include_global_service_events: bool,

    /// Deliver digest files so log files can be proved untampered.
    #[serde(default = "yes")]
    pub log_file_validation: bool,

    /// Where the trail delivers its log files.
    pub s3: S3Destination,

    /// The account that owns the log bucket, and the KMS key when kmsKeyId is a key ARN
    /// there, when that is not the trail's own account (a landing zone's log-archive
    /// account). Without it, the bucket must belong to the trail's account: every S3
    /// call names its expected owner, and a bucket of another owner is never read or
    /// written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_archive: Option<LogArchive>,

    /// KMS key that encrypts the log files: an alias (alias/name), a key id, or a key or alias ARN.
    /// Absent means no KMS encryption.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    #[x_kube(validation = Rule::new(
        "self.matches('^(alias/[A-Za-z0-9/_-]+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32}|arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(key/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})|alias/[A-Za-z0-9/_-]+))$')"
    ).message("kmsKeyId must be an alias (alias/name), a key id, or a key or alias ARN"))]
    pub kms_key_id: Option<String>,

    /// SNS topic notified of each log file delivery: a topic name or ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 512))]
    #[x_kube(validation = Rule::new(
        "self.matches('^([A-Za-z0-9_-]{1,256}|arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256})$')"
    ).message("snsTopicName must be an SNS topic name or topic ARN"))]
    pub sns_topic_name: Option<String>,

    /// Also deliver events to a CloudWatch Logs group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_watch_logs: Option<CloudWatchLogs>,

    /// Basic event selectors (at most 5). Exclusive with advancedEventSelectors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5))]
    pub event_selectors: Vec<EventSelector>,

    /// Advanced event selectors. Exclusive with eventSelectors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 500))]
    pub advanced_event_selectors: Vec<AdvancedEventSelector>,

    /// CloudTrail Insights types to enable.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub insights: Vec<InsightType>,

    /// Tags the trail must carry (at most 48: CloudTrail takes 50, and trailwarden adds its
    /// own 2). Tags not named here are left alone.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 48, "additionalProperties" = {"type": "string", "maxLength": 256, "pattern": "^[\\p{L}\\p{Z}\\p{N}_.:/=+@-]*$"}))]
    #[x_kube(
        validation = Rule::new("self.all(k, !k.startsWith('aws:'))").message("tag keys starting with 'aws:' are reserved by AWS"),
        validation = Rule::new("self.all(k, !k.startsWith('trailwarden.dev/'))").message("tag keys under trailwarden.dev/ are set by trailwarden itself"),
        validation = Rule::new(r"self.all(k, size(k) >= 1 && size(k) <= 128 && k.matches('^[\\p{L}\\p{Z}\\p{N}_.:/=+@-]*$'))")
            .message("tag keys must be 1 to 128 letters, digits, spaces and _.:/=+-@")
    )]
    pub tags: BTreeMap<String, String>,

    /// Requirements on the log bucket and the KMS key.
    #[serde(default)]
    pub posture: Posture,

    /// Where to announce each remediation and each newly failing required check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<Notify>,

    /// Seconds between two looks at the trail when nothing else prompts one.
    #[serde(default = "default_resync_seconds")]
    #[schemars(range(min = 5, max = 86400))]
    pub resync_seconds: u32,
}

/// Notifications: one JSON message per remediation or newly failing check. Never sent in
/// Audit mode, which writes nothing to AWS.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Notify {
    /// SNS topic to publish to (e.g. one that feeds chat through AWS Chatbot or a Lambda).
    #[schemars(length(max = 512))]
    #[x_kube(validation = Rule::new("self.matches('^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$')")
        .message("notify.snsTopicArn must be an SNS topic ARN such as arn:aws:sns:us-east-1:111122223333:trail-alerts"))]
    pub sns_topic_arn: String,
}

pub(super) fn yes() -> bool {
    true
}

fn default_resync_seconds() -> u32 {
    60
}

const ROLE_ARN_RULE: &str = "self.matches('^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$')";

/// Another AWS account to act in.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AccountRef {
    /// Role trailwarden assumes (through STS) to manage the trail.
    #[schemars(length(max = 2048))]
    #[x_kube(validation = Rule::new(ROLE_ARN_RULE).message("account.roleArn must be an IAM role ARN such as arn:aws:iam::111122223333:role/trailwarden"))]
    pub role_arn: String,
    /// External id the role's trust policy requires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1224))]
    #[x_kube(validation = Rule::new("size(self) >= 2 && self.matches('^[A-Za-z0-9+=,.@:/_-]+$')")
        .message("account.externalId must be 2 to 1224 characters of letters, digits and +=,.@:/_-"))]
    pub external_id: Option<String>,
}

/// The log-archive account, and how trailwarden reaches the bucket and key there.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.roleArn) || self.roleArn.matches('^arn:aws[a-z-]*:iam::' + self.accountId + ':role/')")
    .message("logArchive.roleArn must be a role of logArchive.accountId: it is used for the bucket and key that account owns"))]
pub struct LogArchive {
    /// The 12-digit id of the account that owns the log bucket.
    #[schemars(length(min = 12, max = 12))]
    #[x_kube(validation = Rule::new("self.matches('^[0-9]{12}$')").message("logArchive.accountId must be a 12-digit AWS account id"))]
    pub account_id: String,
    /// A role in that account for the bucket's and key's posture: reads and, with
    /// posture.*.manage, fixes. Without it, what S3 and KMS answer only to the owner's
    /// account (the bucket policy, versioning, the key policy) is not judged, and those
    /// checks say so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    #[x_kube(validation = Rule::new(ROLE_ARN_RULE).message("logArchive.roleArn must be an IAM role ARN such as arn:aws:iam::444455556666:role/trailwarden-log-archive"))]
    pub role_arn: Option<String>,
    /// External id the log-archive role's trust policy requires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1224))]
    #[x_kube(validation = Rule::new("size(self) >= 2 && self.matches('^[A-Za-z0-9+=,.@:/_-]+$')")
        .message("logArchive.externalId must be 2 to 1224 characters of letters, digits and +=,.@:/_-"))]
    pub external_id: Option<String>,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    #[default]
    Enforce,
    Audit,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeletionPolicy {
    #[default]
    Retain,
    Delete,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Adoption {
    #[default]
    Never,
    IfTagged,
    Always,
}

/// The trail's S3 destination.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct S3Destination {
    /// Bucket that receives the log files.
    #[schemars(length(max = 63))]
    #[x_kube(
        validation = Rule::new("size(self) >= 3").message("s3.bucketName must be 3 to 63 characters long"),
        validation = Rule::new("self.matches('^[a-z0-9][a-z0-9.-]*[a-z0-9]$')")
            .message("s3.bucketName may hold only lowercase letters, digits, '.' and '-', and must begin and end with a letter or digit"),
        validation = Rule::new("!self.contains('..')").message("s3.bucketName must not contain two periods in a row"),
        validation = Rule::new("!self.matches('^[0-9]+[.][0-9]+[.][0-9]+[.][0-9]+$')").message("s3.bucketName must not look like an IP address"),
        validation = Rule::new("!(self.startsWith('xn--') || self.startsWith('sthree-') || self.startsWith('amzn-s3-demo-') || self.endsWith('-s3alias') || self.endsWith('--ol-s3') || self.endsWith('.mrap') || self.endsWith('--x-s3') || self.endsWith('--table-s3'))")
            .message("s3.bucketName uses a prefix or suffix that S3 reserves")
    )]
    pub bucket_name: String,
    /// Key prefix for the log files inside the bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 200))]
    pub key_prefix: Option<String>,
}

/// CloudWatch Logs delivery: CloudTrail takes the group and the role together.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.logGroupArn) == has(self.roleArn)")
    .message("cloudWatchLogs needs both logGroupArn and roleArn: CloudTrail takes them together"))]
pub struct CloudWatchLogs {
    /// ARN of the log group, e.g. arn:aws:logs:us-east-1:111122223333:log-group:cloudtrail:*
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    #[x_kube(validation = Rule::new("self.matches('^arn:aws[a-z-]*:logs:[a-z0-9-]+:[0-9]{12}:log-group:[A-Za-z0-9._/#-]+(:[*])?$')")
        .message("cloudWatchLogs.logGroupArn must be a log group ARN such as arn:aws:logs:us-east-1:111122223333:log-group:cloudtrail:*"))]
    pub log_group_arn: Option<String>,
    /// Role CloudTrail assumes to write to the group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    #[x_kube(validation = Rule::new(ROLE_ARN_RULE).message("cloudWatchLogs.roleArn must be an IAM role ARN"))]
    pub role_arn: Option<String>,
}

impl TrailPolicySpec {
    /// The trail's name: `trailName`, or the policy's own name when absent.
    pub fn effective_trail_name<'a>(&'a self, policy_name: &'a str) -> &'a str {
        self.trail_name.as_deref().unwrap_or(policy_name)
    }
}

/// The CRD as YAML, exactly as `trailwarden crd` prints it and `crds/` holds it.
pub fn crd_yaml() -> String {
    use kube::CustomResourceExt;
    serde_yaml::to_string(&TrailPolicy::crd()).expect("the CRD always serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_crd_matches_generated() {
        let committed = include_str!("../../../crds/trailpolicy.yaml");
        assert!(
            committed == crd_yaml(),
            "crds/trailpolicy.yaml is stale: regenerate it with `cargo run -- crd > crds/trailpolicy.yaml`"
        );
    }

    /// `kubectl explain trailpolicy.spec…` shows every field's description.
    #[test]
    fn every_crd_field_is_described() {
        fn undescribed(node: &serde_json::Value, path: &str, out: &mut Vec<String>) {
            let Some(properties) = node.get("properties").and_then(|p| p.as_object()) else { return };
            for (name, field) in properties {
                let here = format!("{path}.{name}");
                if field.get("description").is_none() {
                    out.push(here.clone());
                }
                undescribed(field, &here, out);
                if let Some(items) = field.get("items") {
                    undescribed(items, &format!("{here}[]"), out);
                }
            }
        }
        let crd = serde_json::to_value(<TrailPolicy as kube::CustomResourceExt>::crd()).unwrap();
        let mut out = vec![];
        for version in crd["spec"]["versions"].as_array().unwrap() {
            undescribed(&version["schema"]["openAPIV3Schema"], "", &mut out);
        }
        assert!(out.is_empty(), "CRD fields without a description (add a doc comment): {out:?}");
    }

    #[test]
    fn minimal_spec_takes_documented_defaults() {
        let spec: TrailPolicySpec =
            serde_json::from_value(serde_json::json!({"region": "us-east-1", "s3": {"bucketName": "logs"}}))
                .unwrap();
        assert_eq!(spec.mode, Mode::Enforce);
        assert_eq!(spec.deletion_policy, DeletionPolicy::Retain);
        assert_eq!(spec.adoption, Adoption::Never);
        assert!(spec.logging && spec.multi_region && spec.include_global_service_events && spec.log_file_validation);
        assert!(!spec.organization);
        assert_eq!(spec.resync_seconds, 60);
        assert_eq!(spec.posture, Posture::default());
        assert_eq!(spec.effective_trail_name("audit"), "audit");
    }
}
