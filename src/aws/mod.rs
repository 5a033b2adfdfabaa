//! The AWS port: every call trailwarden makes to AWS goes through [`AwsPort`].
//!
//! The reconciler only sees this trait and the value types of [`crate::trail`]; the SDK
//! implementation ([`sdk::SdkAws`]) owns clients, credentials, endpoint overrides, the
//! per-account-and-region rate limits and the call log.

mod calls;
mod limiter;
pub mod sdk;

use std::future::Future;

use crate::api::AccountRef;
use crate::resources::{BucketFacts, KeyFacts};
use crate::trail::{Insights, Selectors, Tags, TrailDescription, TrailSettings, TrailStatus};

pub use calls::{CallLog, CallRecord, is_write as is_write_operation};
pub use limiter::RateLimits;

/// Where a call acts: an account (the controller's own, or one reached by assuming a
/// role) and a region. Clients, credentials and rate limits are kept per scope.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Scope {
    pub role_arn: Option<String>,
    pub external_id: Option<String>,
    pub region: String,
}

impl Scope {
    pub fn new(account: Option<&AccountRef>, region: &str) -> Self {
        Scope {
            role_arn: account.map(|a| a.role_arn.clone()),
            external_id: account.and_then(|a| a.external_id.clone()),
            region: region.to_owned(),
        }
    }
}

/// How an AWS call failed, reduced to what the reconciler decides on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The named trail, key, bucket or topic does not exist.
    NotFound,
    /// Credentials were refused or lack the permission.
    AccessDenied,
    /// AWS asked us to slow down.
    Throttled,
    /// AWS refused the request's content (a bad parameter, a missing dependency).
    Invalid,
    /// No answer, or an answer we could not read.
    Unavailable,
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

pub type AwsResult<T> = Result<T, AwsError>;

/// Everything trailwarden asks of AWS. Trails are addressed by ARN once known (organization
/// trails must be), by name only when created.
pub trait AwsPort: Send + Sync + 'static {
    /// Every trail visible from the scope's region, shadow trails included.
    fn describe_trails(&self, scope: &Scope) -> impl Future<Output = AwsResult<Vec<TrailDescription>>> + Send;
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
    fn update_trail(&self, scope: &Scope, trail: &str, settings: &TrailSettings) -> impl Future<Output = AwsResult<()>> + Send;
    fn start_logging(&self, scope: &Scope, trail: &str) -> impl Future<Output = AwsResult<()>> + Send;
    fn stop_logging(&self, scope: &Scope, trail: &str) -> impl Future<Output = AwsResult<()>> + Send;
    fn put_event_selectors(&self, scope: &Scope, trail: &str, selectors: &Selectors) -> impl Future<Output = AwsResult<()>> + Send;
    fn put_insight_selectors(&self, scope: &Scope, trail: &str, insights: &Insights) -> impl Future<Output = AwsResult<()>> + Send;
    fn add_tags(&self, scope: &Scope, trail: &str, tags: &Tags) -> impl Future<Output = AwsResult<()>> + Send;
    fn remove_tags(&self, scope: &Scope, trail: &str, keys: &[String]) -> impl Future<Output = AwsResult<()>> + Send;
    fn delete_trail(&self, scope: &Scope, trail: &str) -> impl Future<Output = AwsResult<()>> + Send;

    /// The account the scope acts in.
    fn account_id(&self, scope: &Scope) -> impl Future<Output = AwsResult<String>> + Send;
    /// Posture facts of the log bucket. Fails only when the bucket cannot be found at all.
    fn describe_bucket(&self, scope: &Scope, bucket: &str) -> impl Future<Output = AwsResult<BucketFacts>> + Send;
    /// A KMS key's ARN and posture facts; `key` may be an alias, a key id or an ARN.
    fn describe_key(&self, scope: &Scope, key_arn: &str) -> impl Future<Output = AwsResult<KeyFacts>> + Send;
    /// Turns on all four Block Public Access settings of the bucket.
    fn block_public_access(&self, scope: &Scope, bucket: &str) -> impl Future<Output = AwsResult<()>> + Send;
    fn enable_bucket_versioning(&self, scope: &Scope, bucket: &str) -> impl Future<Output = AwsResult<()>> + Send;
    fn put_bucket_policy(&self, scope: &Scope, bucket: &str, policy: &str) -> impl Future<Output = AwsResult<()>> + Send;
    fn enable_key_rotation(&self, scope: &Scope, key_arn: &str) -> impl Future<Output = AwsResult<()>> + Send;
    fn put_key_policy(&self, scope: &Scope, key_arn: &str, policy: &str) -> impl Future<Output = AwsResult<()>> + Send;
    /// Publishes one message to an SNS topic (in the topic's own region).
    fn publish(&self, scope: &Scope, topic_arn: &str, subject: &str, message: &str) -> impl Future<Output = AwsResult<()>> + Send;
}
