//! The `TrailPolicySet` custom resource (`trailwarden.dev/v1alpha1`): one declaration for
//! the accounts of organizational units — a TrailPolicy per target account, generated,
//! owned and kept by the set.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::k8s::api::{DeletionPolicy, Mode, TrailPolicySpec};

/// Every account of these organizational units keeps this trail.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "trailwarden.dev",
    version = "v1alpha1",
    kind = "TrailPolicySet",
    plural = "trailpolicysets",
    shortname = "tps",
    category = "trailwarden",
    status = "TrailPolicySetStatus",
    doc = "A TrailPolicySet keeps one TrailPolicy per account of its organizational units, made from its template.",
    printcolumn(name = "Accounts", type_ = "integer", json_path = ".status.accountsTargeted"),
    printcolumn(name = "Ready", type_ = "integer", json_path = ".status.policiesReady"),
    printcolumn(name = "Logging", type_ = "integer", json_path = ".status.policiesLogging"),
    printcolumn(name = "Compliant", type_ = "integer", json_path = ".status.policiesCompliant"),
    printcolumn(name = "Status", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].reason"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    // Each generated policy is named <set>-<account id>: 13 characters of the 253 a name may have.
    validation = Rule::new("size(self.metadata.name) <= 240").message("a TrailPolicySet's name is at most 240 characters (its policies are named <set>-<account id>)")
)]
#[serde(rename_all = "camelCase")]
pub struct TrailPolicySetSpec {
    /// The TrailPolicy each target account gets. Its `account` is the set's to fill in
    /// (from `memberRole`), and `trailName` names the trail in every account.
    #[x_kube(validation = Rule::new("!has(self.account)").message("template.account is the set's to fill in, per account: set memberRole instead"))]
    pub template: TrailPolicySpec,
    /// Which accounts of the organization.
    pub targets: Targets,
    /// How trailwarden reaches each target account.
    #[serde(default)]
    pub member_role: MemberRole,
    /// A role in the organization's management account (or CloudTrail's delegated
    /// administrator) that may list its OUs and accounts; without one, the controller's
    /// own credentials read the organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub organization_role_arn: Option<String>,
    /// The external id the organization role's trust policy requires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1224))]
    pub organization_external_id: Option<String>,
    /// What happens to an account's trail when the account leaves the targets: its
    /// policy is deleted, with this `deletionPolicy` (Retain keeps the trail).
    #[serde(default)]
    pub account_removal: DeletionPolicy,
    /// How often the organization is walked again, whatever events say.
    #[serde(default = "default_walk_seconds")]
    #[schemars(range(min = 60, max = 86400))]
    pub walk_seconds: u32,
    /// The preventive half: a service control policy on the targeted OUs and accounts that
    /// denies the calls which blind CloudTrail (stopping, deleting or loosening the trail;
    /// expiring, exposing or deleting the log bucket; disabling or deleting the key) to
    /// every principal but trailwarden's member role and the break-glass roles named here.
    /// Absent: no SCP is kept (one the set made earlier is left as it is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_control_policy: Option<ServiceControlPolicy>,
}

/// The SCP a set keeps: created by it (tagged `trailwarden.dev/set: <set>`), its content
/// and attachments healed like a trail. An SCP of the same name the set did not create is
/// never touched.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceControlPolicy {
    /// Enforce creates, corrects and attaches it; Audit reports how it differs and never
    /// writes to Organizations.
    #[serde(default)]
    pub mode: Mode,
    /// Its name in Organizations. Defaults to `trailwarden-<set>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub name: Option<String>,
    /// Roles the denies spare besides trailwarden's member role (in every account): a
    /// break-glass role, the log archive's trailwarden role. IAM role ARNs; `*` matches
    /// any account or name part, as in ArnNotLike.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20), inner(length(max = 2048)))]
    #[x_kube(validation = Rule::new("self.all(a, a.matches('^arn:aws[a-z-]*:iam::([0-9]{12}|[*]):role/[A-Za-z0-9+=,.@_/*-]+$'))")
        .message("each of serviceControlPolicy.breakGlassRoleArns must be an IAM role ARN such as arn:aws:iam::111122223333:role/break-glass ('*' allowed)"))]
    pub break_glass_role_arns: Vec<String>,
}

fn default_walk_seconds() -> u32 {
    300
}

/// Organizational units (each walked down to its last child OU), plus accounts named one
/// by one, less the accounts excluded.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Targets {
    /// OU ids (ou-…) or a root id (r-…).
    #[serde(default)]
    #[schemars(length(max = 100))]
    pub organizational_units: Vec<String>,
    /// Account ids added to the OUs' accounts.
    #[serde(default)]
    #[schemars(length(max = 1000))]
    pub accounts: Vec<String>,
    /// Account ids left out (the management account, a sandbox).
    #[serde(default)]
    #[schemars(length(max = 1000))]
    pub exclude_accounts: Vec<String>,
}

/// The role every member account holds for trailwarden.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MemberRole {
    /// Its name (the same in every account): deploy/iam/member-role.yaml's default,
    /// `trailwarden-member`, unless you named it otherwise.
    #[schemars(length(min = 1, max = 64))]
    pub role_name: String,
    /// The external id its trust policy requires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

impl Default for MemberRole {
    fn default() -> Self {
        MemberRole { role_name: "trailwarden-member".into(), external_id: None }
    }
}

/// What the set covers, and how its policies stand.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TrailPolicySetStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Active accounts the targets cover (each has a policy).
    #[serde(default)]
    pub accounts_targeted: u32,
    /// Of their policies: Ready, Logging, Compliant.
    #[serde(default)]
    pub policies_ready: u32,
    #[serde(default)]
    pub policies_logging: u32,
    #[serde(default)]
    pub policies_compliant: u32,
    /// The accounts whose policy is not Ready or not Logging, and why (the first 20).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_ready: Vec<AccountState>,
    /// Targeted accounts that are suspended or closing: reported, not covered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inactive_accounts: Vec<AccountState>,
    /// OUs and accounts the targets name that the organization does not hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown_targets: Vec<String>,
    /// CloudTrail's standing in the organization, as the last walk read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<OrganizationState>,
    /// The service control policy, as the last walk found and left it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_control_policy: Option<ServiceControlPolicyState>,
    /// When the organization was last walked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_walk_time: Option<Time>,
    /// Ready, Reconciling and Stalled (kstatus), for GitOps tools.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// What the organization's own switches say of CloudTrail (absent: could not be read, as
/// from a delegated administrator, which may not list the organization's services).
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationState {
    /// Trusted access for CloudTrail: organization trails stop without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_trail_trusted_access: Option<bool>,
    /// CloudTrail's delegated administrators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_trail_delegated_administrators: Option<Vec<String>>,
}

/// The set's SCP as the last walk found and left it.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceControlPolicyState {
    /// Its name in Organizations.
    pub name: String,
    /// Its id (p-…), once the set made it: a policy of this id stays the set's even if
    /// its tag is stripped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Attached where declared, with the declared content.
    pub in_sync: bool,
    /// What differed from the declaration at the last walk (corrected under Enforce,
    /// only reported under Audit): "missing", "content", "not attached to ou-…", …
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<String>,
    /// Why it could not be read or kept, if so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// One account, its policy and why it is reported.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AccountState {
    pub account: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    pub reason: String,
}

/// The CRD as YAML, exactly as `trailwarden crd --kind TrailPolicySet` prints it and
/// `crds/trailpolicyset.yaml` holds it.
pub fn crd_yaml() -> String {
    use kube::CustomResourceExt;
    serde_yaml::to_string(&TrailPolicySet::crd()).expect("the CRD always serialises")
}

#[cfg(test)]
mod tests {
    #[test]
    fn committed_crd_matches_generated() {
        let committed = include_str!("../../../crds/trailpolicyset.yaml");
        assert!(committed == super::crd_yaml(), "crds/trailpolicyset.yaml is stale: regenerate it with `make crd`");
    }
}
