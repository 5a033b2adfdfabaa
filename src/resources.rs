//! What trailwarden reads about the trail's log bucket and KMS key, for the posture
//! checks. Each fact is read on its own: one that could not be read (no permission, a
//! bucket in another account) is kept as the reason, so its checks say Unknown.

/// A fact, or why it could not be read.
pub type Known<T> = Result<T, String>;

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
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyFacts {
    pub arn: String,
    /// KeyState, e.g. Enabled, Disabled, PendingDeletion.
    pub state: Known<String>,
    /// KeySpec, e.g. SYMMETRIC_DEFAULT.
    pub spec: Known<String>,
    pub rotation_enabled: Known<bool>,
    /// The key's default policy document.
    pub policy: Known<String>,
}
