//! What one policy asks for, with defaults applied and values normalised, ready to
//! compare with what AWS reports. The Kubernetes side builds it from a `TrailPolicy`.

use crate::floor::Floor;
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

    /// The same account and credentials, in `region`: a bucket or key is read and fixed
    /// in its own region (S3 redirects a request sent to another region's endpoint).
    pub fn in_region(&self, region: &str) -> Scope {
        Scope { region: region.to_owned(), ..self.clone() }
    }
}

/// How a resource the trail depends on (its log bucket, its KMS key) is reached: through
/// which scope, which account must own it, and whether that scope acts as its owner.
///
/// S3 answers bucket-policy and versioning calls only to the bucket owner's account, and
/// KMS answers key-policy and rotation changes only in the key's own account: from
/// outside (`as_owner` false) those facts are not read and their checks say why.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reach {
    pub scope: Scope,
    /// The account that must own the resource (every S3 call names it as the expected
    /// bucket owner, so a bucket of another owner is refused, never read or written).
    pub owner: String,
    pub as_owner: bool,
}

impl Reach {
    /// A resource of the scope's own account.
    pub fn owned(scope: Scope, owner: String) -> Self {
        Reach { scope, owner, as_owner: true }
    }

    /// The same reach, in `region`.
    pub fn in_region(&self, region: &str) -> Reach {
        Reach { scope: self.scope.in_region(region), ..self.clone() }
    }
}

/// The AWS Organization an account belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Organization {
    /// o-...
    pub id: String,
    /// The account that owns the organization's trails, whoever created them.
    pub management_account: String,
}

/// The account that owns the log bucket (and a key named by ARN there) when it is not the
/// trail's own: a landing zone's log-archive account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogArchive {
    pub account: String,
    /// A role in that account for the bucket's and key's posture: reads and, with
    /// `manage`, fixes. Without one, only what S3 and KMS answer to other accounts is judged.
    pub role: Option<Scope>,
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
    /// Where the bucket and key live when not in the trail's account.
    pub log_archive: Option<LogArchive>,
    /// SNS topic ARN that hears of remediations and newly failing checks.
    pub notify_topic: Option<String>,
    /// The other live policies, as far as ownership of the trail goes.
    pub peers: Peers,
    /// What earlier passes established, which tags or an alias cannot take away.
    pub remembered: Remembered,
    /// What the operator requires of every policy.
    pub floor: Floor,
}

/// The AWS partition a region is in (its ARNs' second field).
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// What the policy's status remembers from earlier passes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Remembered {
    /// The trail this policy created or adopted: still its own when someone removes or
    /// changes its uid tag (the tag is then put back).
    pub trail_arn: Option<String>,
    /// The key a declared alias resolved to when the spec last changed, as `(alias, key
    /// ARN)`: the trail keeps that key when the alias is pointed elsewhere.
    pub pinned_key: Option<(String, String)>,
    /// What the log verifier last found of the trail's digest chain.
    pub log_integrity: Option<crate::integrity::Standing>,
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

    /// How the log bucket is reached from a pass acting in `acting_account`: through the
    /// log-archive role when there is one, otherwise through the trail's own scope, as the
    /// owner only when the bucket is the trail account's.
    pub fn bucket_reach(&self, acting_account: &str) -> Reach {
        match &self.log_archive {
            None => Reach::owned(self.scope.clone(), acting_account.to_owned()),
            Some(LogArchive { account, role: Some(role) }) => Reach::owned(role.clone(), account.clone()),
            Some(LogArchive { account, role: None }) => {
                Reach { scope: self.scope.clone(), owner: account.clone(), as_owner: account == acting_account }
            }
        }
    }

    /// How the KMS key `key` (as declared: an alias or id, which always names a key of the
    /// acting account and the trail's region, or an ARN, which names its own) is reached.
    pub fn key_reach(&self, key: &str, acting_account: &str) -> Reach {
        // arn:<partition>:kms:<region>:<account>:key/<id> (or alias/<name>)
        let field = |i| key.split(':').nth(i).filter(|_| key.starts_with("arn:"));
        let (region, owner) = match (field(3), field(4)) {
            (Some(region), Some(account)) => (region, account),
            _ => (self.scope.region.as_str(), acting_account),
        };
        match &self.log_archive {
            _ if owner == acting_account => Reach::owned(self.scope.in_region(region), owner.to_owned()),
            Some(LogArchive { account, role: Some(role) }) if account == owner => {
                Reach::owned(role.in_region(region), owner.to_owned())
            }
            _ => Reach { scope: self.scope.in_region(region), owner: owner.to_owned(), as_owner: false },
        }
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
    use super::{LogArchive, Reach, Scope};
    use crate::testing::desired;

    #[test]
    fn our_tags_name_the_policy_and_its_uid() {
        let d = desired();
        assert_eq!(d.all_tags().get(super::OWNER_UID_TAG).map(String::as_str), Some("uid-1"));
        assert_eq!(d.all_tags().get("team").map(String::as_str), Some("security"));
    }

    #[test]
    fn the_bucket_is_reached_through_the_log_archive_role_or_read_from_outside() {
        let mut d = desired();
        assert_eq!(d.bucket_reach("111122223333"), Reach::owned(d.scope.clone(), "111122223333".into()));
        let role = Scope { role_arn: Some("arn:aws:iam::444455556666:role/archive".into()), external_id: None, region: "us-east-1".into() };
        d.log_archive = Some(LogArchive { account: "444455556666".into(), role: Some(role.clone()) });
        assert_eq!(d.bucket_reach("111122223333"), Reach::owned(role, "444455556666".into()));
        d.log_archive = Some(LogArchive { account: "444455556666".into(), role: None });
        let outside = d.bucket_reach("111122223333");
        assert!(!outside.as_owner && outside.scope == d.scope && outside.owner == "444455556666");
    }

    #[test]
    fn a_key_is_reached_in_its_own_region_and_by_its_owner() {
        let mut d = desired();
        let local = d.key_reach("alias/trail", "111122223333");
        assert!(local.as_owner && local.scope.region == "us-east-1");
        let arn = "arn:aws:kms:eu-west-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        let outside = d.key_reach(arn, "111122223333");
        assert!(!outside.as_owner, "another account's key, no role there");
        assert_eq!((outside.scope.region.as_str(), outside.owner.as_str()), ("eu-west-1", "444455556666"));
        let role = Scope { role_arn: Some("arn:aws:iam::444455556666:role/archive".into()), external_id: None, region: "us-east-1".into() };
        d.log_archive = Some(LogArchive { account: "444455556666".into(), role: Some(role) });
        let archive = d.key_reach(arn, "111122223333");
        assert!(archive.as_owner && archive.scope.role_account() == Some("444455556666") && archive.scope.region == "eu-west-1");
    }

    #[test]
    fn expected_arn_follows_the_partition() {
        let mut d = desired();
        assert_eq!(d.expected_trail_arn("1"), "arn:aws:cloudtrail:us-east-1:1:trail/audit");
        d.scope.region = "cn-north-1".into();
        assert!(d.expected_trail_arn("1").starts_with("arn:aws-cn:"));
    }
}
