//! What one policy asks for, with defaults applied and values normalised, ready to
//! compare with what AWS reports. The Kubernetes side builds it from a `TrailPolicy`.

use crate::ownership::{Claimant, Peers, TrailKey};
use crate::posture::bucket::BucketPosture;
use crate::posture::key::KmsPosture;
use crate::trail::{Insights, Selectors, Tags, TrailSettings};

/// Tag key that marks a trail as managed by a policy; its value is the policy's name.
/// Adding it to a trail consents to adoption by that policy (`adoption: IfTagged`).
pub const OWNER_TAG: &str = "trailwarden.dev/policy";

/// Tag key whose value is the uid of the policy object that created the trail: the
/// proof that a trail is ours even under `adoption: Never`.
pub const OWNER_UID_TAG: &str = "trailwarden.dev/policy-uid";

/// Where a trail lives: an account (the controller's own, or one reached by assuming a
/// role) and a region.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Scope {
    pub role_arn: Option<String>,
    pub external_id: Option<String>,
    pub region: String,
}

impl Scope {
    /// The account a role's ARN names, when the scope acts through a role.
    pub fn role_account(&self) -> Option<&str> {
        self.role_arn.as_deref().and_then(|arn| arn.split(':').nth(4))
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Correct drift.
    #[default]
    Enforce,
    /// Observe and report; never write to AWS.
    Audit,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeletionPolicy {
    #[default]
    Retain,
    Delete,
}

/// Whether a trail we did not create may be taken over.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Adoption {
    #[default]
    Never,
    IfTagged,
    Always,
}

/// What the log bucket and the key must be, and whether we may fix them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Posture {
    pub bucket: BucketPosture,
    pub kms: KmsPosture,
}

/// What one policy asks for, ready to compare with AWS.
#[derive(Clone, Debug, PartialEq)]
pub struct Desired {
    pub policy_name: String,
    pub policy_uid: String,
    pub trail_name: String,
    pub scope: Scope,
    pub mode: Mode,
    pub adoption: Adoption,
    /// Adoption may take over a trail whose settings are stronger than the policy's
    /// (`adoptionMayWeaken`); without it such an adoption is refused.
    pub adoption_may_weaken: bool,
    pub deletion_policy: DeletionPolicy,
    pub logging: bool,
    /// `kms_key` holds the key as declared until [`Desired::with_kms_key_arn`] resolves it.
    pub settings: TrailSettings,
    pub selectors: Selectors,
    pub insights: Insights,
    /// The tags the policy declares (ours not included).
    pub tags: Tags,
    pub posture: Posture,
    /// SNS topic ARN that hears of remediations and newly failing checks.
    pub notify_topic: Option<String>,
    /// The other live policies, as far as ownership of the trail goes.
    pub peers: Peers,
}

impl Desired {
    /// The same, with the declared KMS key (alias, id or ARN) replaced by the ARN AWS reports.
    pub fn with_kms_key_arn(mut self, arn: Option<String>) -> Self {
        self.settings.kms_key = arn;
        self
    }

    pub fn audit(&self) -> bool {
        self.mode == Mode::Audit
    }

    /// The tags that mark a trail as this policy's.
    pub fn owner_tags(&self) -> Tags {
        Tags::from([
            (OWNER_TAG.to_owned(), self.policy_name.clone()),
            (OWNER_UID_TAG.to_owned(), self.policy_uid.clone()),
        ])
    }

    /// Every tag the trail must carry: the declared ones and ours.
    pub fn all_tags(&self) -> Tags {
        let mut tags = self.tags.clone();
        tags.extend(self.owner_tags());
        tags
    }

    /// This policy as a claimant of its trail.
    pub fn claimant(&self) -> Claimant {
        Claimant { name: self.policy_name.clone(), uid: self.policy_uid.clone(), created: self.peers.created }
    }

    /// The trail this policy names, in `account` (the role's, or the controller's own).
    pub fn trail_key(&self, account: &str) -> TrailKey {
        TrailKey { account: account.to_owned(), region: self.scope.region.clone(), trail_name: self.trail_name.clone() }
    }

    /// The ARN CloudTrail gives the trail in `account` once it is created.
    pub fn expected_trail_arn(&self, account: &str) -> String {
        let region = &self.scope.region;
        let partition = if region.starts_with("cn-") {
            "aws-cn"
        } else if region.starts_with("us-gov-") {
            "aws-us-gov"
        } else {
            "aws"
        };
        format!("arn:{partition}:cloudtrail:{region}:{account}:trail/{}", self.trail_name)
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::desired;

    #[test]
    fn our_tags_name_the_policy_and_its_uid() {
        let d = desired();
        assert_eq!(d.all_tags().get(super::OWNER_UID_TAG).map(String::as_str), Some("uid-1"));
        assert_eq!(d.all_tags().get("team").map(String::as_str), Some("security"));
    }

    #[test]
    fn expected_arn_follows_the_partition() {
        let mut d = desired();
        assert_eq!(d.expected_trail_arn("1"), "arn:aws:cloudtrail:us-east-1:1:trail/audit");
        d.scope.region = "cn-north-1".into();
        assert!(d.expected_trail_arn("1").starts_with("arn:aws-cn:"));
    }
}
