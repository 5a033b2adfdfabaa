//! The AWS port: every call trailwarden makes to AWS goes through [`AwsPort`].
//!
//! The pass only sees this trait and the domain's value types; the SDK adapter
//! ([`sdk::SdkAws`], one file per service) owns clients, credentials, endpoint overrides,
//! the per-account-and-region pacing and the call log. [`memory::MemoryAws`] is the same
//! port over plain maps, for unit tests of the pass.

mod calls;
mod clients;
mod credentials;
mod cloudtrail;
mod error;
mod in_flight;
pub mod evidence;
mod kms;
mod limiter;
pub mod memory;
mod organizations;
mod organizations_scp;
mod own_keys;
mod paging;
pub mod recent;
mod s3;
mod s3_at_rest;
mod s3_lifecycle;
pub mod sdk;
mod sns;
mod sqs;
mod sts;

use std::future::Future;

use trailwarden_core::policy::Organization;
use trailwarden_core::{Reach, Scope};
use trailwarden_core::report::Failure;
use trailwarden_core::posture::bucket::{BucketFacts, BucketFix};
use trailwarden_core::posture::key::{KeyFacts, KeyFix};
use trailwarden_core::trail::{Insights, Selectors, Tags, TrailDescription, TrailSettings, TrailStatus};

pub use calls::{CallLog, CallRecord, LastCall, is_write as is_write_operation};
pub use limiter::RateLimits;
pub use error::{ANY as ANY_SERVICE, CODES as ERROR_CODES, classify as classify_error};
pub use own_keys::OwnKeys;
pub use sqs::QueueMessage;

/// Which reads a port makes itself rather than take from the reads shared between passes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Fresh {
    /// Shared reads are used (a look that may not write).
    #[default]
    Shared,
    /// What the trail's writes are judged from is read fresh: the trail, and the key whose
    /// ARN its settings name. The bucket's facts may be shared (a pass that writes to the
    /// trail only).
    Trails,
    /// Every read is fresh (a pass that fixes the bucket or the key too).
    All,
}

/// How an AWS call failed, reduced to what the pass decides and reports on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The named trail or topic does not exist.
    NotFound,
    /// The log bucket does not exist.
    BucketNotFound,
    /// The KMS key does not exist or cannot be used.
    KeyNotFound,
    /// A trail of that name exists already (CreateTrail): what the create was planned from
    /// is out of date.
    Exists,
    /// Credentials were refused or lack the permission.
    AccessDenied,
    /// AWS asked us to slow down.
    Throttled,
    /// AWS refused the request's content (a bad parameter, a missing dependency).
    Invalid,
    /// No answer, or an answer we could not read.
    Unavailable,
    /// The caller's credentials were refused: expired, unknown, or a role that could not be
    /// assumed.
    Credentials,
    /// A quota AWS does not raise (five trails per region, fifty tags per trail).
    Quota,
    /// The AWS Organization is not set up for this (not in use, not all features, trusted
    /// access for CloudTrail off, not the management account or a delegated administrator).
    Organization,
    /// CloudTrail refuses a bucket, key or topic it cannot deliver to: its policy does not
    /// let CloudTrail in (yet: a policy just written may take a moment to apply).
    DeliveryRefused,
    /// The request went to a region the resource is not in.
    WrongRegion,
    /// Only the resource owner's account may make this call.
    NotOwner,
    /// What the write was judged from changed before it could be made (a bucket or key
    /// policy rewritten by someone else meanwhile): nothing was written.
    Conflict,
    Other,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{service}.{operation} failed ({code}): {message}")]
pub struct AwsError {
    pub service: &'static str,
    pub operation: &'static str,
    pub kind: ErrorKind,
    /// AWS's error code, e.g. TrailNotFoundException.
    pub code: String,
    pub message: String,
}

impl AwsError {
    /// The failure category this error is reported under (condition reason, Event
    /// reason, metric label): decided once, from the kind the adapter classified.
    pub fn category(&self) -> Failure {
        match self.kind {
            ErrorKind::NotFound => Failure::NotFound,
            ErrorKind::BucketNotFound => Failure::BucketNotFound,
            ErrorKind::KeyNotFound => Failure::KmsKeyNotFound,
            ErrorKind::AccessDenied => Failure::AccessDenied,
            ErrorKind::Throttled => Failure::Throttled,
            ErrorKind::Invalid | ErrorKind::Exists => Failure::InvalidConfiguration,
            ErrorKind::Unavailable => Failure::AwsUnavailable,
            ErrorKind::Conflict => Failure::PolicyChanged,
            ErrorKind::Other => Failure::AwsError,
            ErrorKind::Credentials => Failure::CredentialsRefused,
            ErrorKind::Quota => Failure::QuotaExceeded,
            ErrorKind::Organization => Failure::OrganizationNotReady,
            ErrorKind::DeliveryRefused => Failure::DeliveryRefused,
            ErrorKind::WrongRegion => Failure::WrongRegion,
            ErrorKind::NotOwner => Failure::NotResourceOwner,
        }
    }
}

pub type AwsResult<T> = Result<T, AwsError>;

/// Everything trailwarden asks of AWS. Trails are addressed by ARN once known (organization
/// trails must be), by name only when created.
pub trait AwsPort: Send + Sync + 'static {
    /// Every trail visible from the scope's region, shadow trails included, asked for the
    /// sake of the trail named `name` (a list our write to it made stale is not served).
    fn describe_trails(&self, scope: &Scope, name: &str) -> impl Future<Output = AwsResult<Vec<TrailDescription>>> + Send;
    fn get_trail_status(&self, scope: &Scope, trail: &str) -> impl Future<Output = AwsResult<TrailStatus>> + Send;
    fn get_event_selectors(&self, scope: &Scope, trail: &str) -> impl Future<Output = AwsResult<Selectors>> + Send;
    fn get_insight_selectors(&self, scope: &Scope, trail: &str) -> impl Future<Output = AwsResult<Insights>> + Send;
    fn list_tags(&self, scope: &Scope, trail: &str) -> impl Future<Output = AwsResult<Tags>> + Send;

    /// Creates the trail (with its tags) and returns its ARN. Logging stays off.
    fn create_trail(
        &self,
        scope: &Scope,
        name: &str,
        settings: &TrailSettings,
        tags: &Tags,
    ) -> impl Future<Output = AwsResult<String>> + Send;
    /// Changes the trail from `from` (as observed) to `to`: only the settings that differ
    /// are sent, so a setting that is right is never re-validated by CloudTrail (a bucket
    /// policy broken meanwhile must not block the heal of an unrelated setting).
    fn update_trail(
        &self,
        scope: &Scope,
        trail: &str,
        from: &TrailSettings,
        to: &TrailSettings,
    ) -> impl Future<Output = AwsResult<()>> + Send;
    fn start_logging(&self, scope: &Scope, trail: &str) -> impl Future<Output = AwsResult<()>> + Send;
    fn stop_logging(&self, scope: &Scope, trail: &str) -> impl Future<Output = AwsResult<()>> + Send;
    fn put_event_selectors(&self, scope: &Scope, trail: &str, selectors: &Selectors) -> impl Future<Output = AwsResult<()>> + Send;
    fn put_insight_selectors(&self, scope: &Scope, trail: &str, insights: &Insights) -> impl Future<Output = AwsResult<()>> + Send;
    fn add_tags(&self, scope: &Scope, trail: &str, tags: &Tags) -> impl Future<Output = AwsResult<()>> + Send;
    fn remove_tags(&self, scope: &Scope, trail: &str, keys: &[String]) -> impl Future<Output = AwsResult<()>> + Send;
    fn delete_trail(&self, scope: &Scope, trail: &str) -> impl Future<Output = AwsResult<()>> + Send;

    /// The account the scope acts in.
    fn account_id(&self, scope: &Scope) -> impl Future<Output = AwsResult<String>> + Send;
    /// The AWS Organization the scope's account (`account`) belongs to, None when none.
    fn organization(&self, scope: &Scope, account: &str) -> impl Future<Output = AwsResult<Option<Organization>>> + Send;
    /// Posture facts of the log bucket, read in the bucket's own region. Fails only when
    /// the bucket cannot be found at all (or belongs to another owner than `reach` names).
    /// Facts only the owner may read are not asked for from outside (see [`Reach`]).
    fn describe_bucket(&self, reach: &Reach, bucket: &str) -> impl Future<Output = AwsResult<BucketFacts>> + Send;
    /// A KMS key's ARN and posture facts; `key` may be an alias, a key id or an ARN.
    fn describe_key(&self, reach: &Reach, key: &str) -> impl Future<Output = AwsResult<KeyFacts>> + Send;
    /// Carries out one posture correction of the bucket (`reach` in the bucket's region).
    fn fix_bucket(&self, reach: &Reach, bucket: &str, fix: &BucketFix) -> impl Future<Output = AwsResult<()>> + Send;
    /// Carries out one posture correction of the key (by ARN).
    fn fix_key(&self, reach: &Reach, key_arn: &str, fix: &KeyFix) -> impl Future<Output = AwsResult<()>> + Send;
    /// Publishes one message to an SNS topic (in the topic's own region).
    fn publish(&self, scope: &Scope, topic_arn: &str, subject: &str, message: &str) -> impl Future<Output = AwsResult<()>> + Send;

    /// The same port reading past the reads it shares between passes (the trail's, and
    /// with `posture` the bucket's and key's too), or `None` when it shares none. A pass
    /// writes only from what this reads.
    fn fresh(&self, posture: bool) -> Option<Self>
    where
        Self: Sized,
    {
        let _ = posture;
        None
    }

    /// Drops what is kept for scopes outside `in_use` (clients, credentials): no policy
    /// acts there any more. A scope asked for again is simply set up again.
    fn release_unused(&self, in_use: &std::collections::HashSet<Scope>) -> impl Future<Output = ()> + Send {
        let _ = in_use;
        async {}
    }
}
