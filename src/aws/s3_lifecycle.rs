//! S3 lifecycle: the rules read as facts (BKT-LOG-RETENTION), and the one correction made
//! to them — the offending rules lengthened in place, every other rule put back as read.

use aws_sdk_s3::types::{BucketLifecycleConfiguration, ExpirationStatus, LifecycleRule as SdkRule};
use trailwarden_core::Scope;
use trailwarden_core::posture::bucket::{Known, LifecycleRule};

use super::AwsResult;
use super::clients::Service;
use super::error::fact;
use super::recent::Kept;
use super::sdk::SdkAws;

const S3: Service<aws_sdk_s3::Client> = Service { name: "S3", client: |c| c.s3(), paced: true, kept: Some(Kept::Buckets), bounded: true };

/// The answer S3 gives a bucket without lifecycle rules.
const NONE_CONFIGURED: &str = "NoSuchLifecycleConfiguration";

async fn rules(aws: &SdkAws, scope: &Scope, owner: &str, bucket: &str) -> AwsResult<Vec<SdkRule>> {
    let read = aws
        .call(scope, &S3, "GetBucketLifecycleConfiguration", |s3| {
            s3.get_bucket_lifecycle_configuration().bucket(bucket).expected_bucket_owner(owner).send()
        })
        .await;
    match read {
        Ok(o) => Ok(o.rules().to_vec()),
        Err(e) if e.code == NONE_CONFIGURED => Ok(vec![]),
        Err(e) => Err(e),
    }
}

/// A rule's id; S3 gives one to every rule put without, but a rule read without one is
/// named by its place.
fn id(rule: &SdkRule, index: usize) -> String {
    rule.id().map_or_else(|| format!("#{index}"), str::to_owned)
}

pub(super) async fn read(aws: &SdkAws, scope: &Scope, owner: &str, bucket: &str) -> Known<Vec<LifecycleRule>> {
    fact(rules(aws, scope, owner, bucket).await, None).map(|rules| rules.iter().enumerate().map(|(i, r)| fact_of(r, i)).collect())
}

fn fact_of(rule: &SdkRule, index: usize) -> LifecycleRule {
    let filter = rule.filter();
    let and = filter.and_then(|f| f.and());
    let prefix = filter
        .and_then(|f| f.prefix())
        .or_else(|| and.and_then(|a| a.prefix()))
        .or(legacy_prefix(rule))
        .unwrap_or_default();
    let requires_tags = filter.is_some_and(|f| f.tag().is_some()) || and.is_some_and(|a| !a.tags().is_empty());
    let days = |d: Option<i32>| d.and_then(|d| u32::try_from(d).ok());
    LifecycleRule {
        id: id(rule, index),
        enabled: rule.status() == &ExpirationStatus::Enabled,
        prefix: prefix.to_owned(),
        requires_tags,
        expiration_days: days(rule.expiration().and_then(|e| e.days())),
        expiration_date: rule.expiration().and_then(|e| e.date()).map(|d| d.to_string()),
        noncurrent_days: days(rule.noncurrent_version_expiration().and_then(|e| e.noncurrent_days())),
    }
}

/// The rule-level `Prefix` older clients put: deprecated in the API, still honoured by S3.
#[allow(deprecated)]
fn legacy_prefix(rule: &SdkRule) -> Option<&str> {
    rule.prefix()
}

/// Re-reads the rules and puts them back with those named made to keep `days`; a rule left
/// with no action is dropped (S3 refuses one). The rules are read right before the put, so
/// a rule someone added meanwhile is kept too.
pub(super) async fn lengthen(aws: &SdkAws, scope: &Scope, owner: &str, bucket: &str, named: &[String], days: u32) -> AwsResult<()> {
    let days = i32::try_from(days).unwrap_or(i32::MAX);
    let mut kept = vec![];
    for (index, mut rule) in rules(aws, scope, owner, bucket).await?.into_iter().enumerate() {
        if named.contains(&id(&rule, index)) {
            if let Some(expiration) = &mut rule.expiration {
                expiration.days = expiration.days.map(|d| d.max(days));
                expiration.date = None;
                if expiration.days.is_none() && expiration.expired_object_delete_marker.is_none() {
                    rule.expiration = None;
                }
            }
            if let Some(noncurrent) = &mut rule.noncurrent_version_expiration {
                noncurrent.noncurrent_days = noncurrent.noncurrent_days.map(|d| d.max(days));
            }
            let acts = rule.expiration.is_some()
                || rule.noncurrent_version_expiration.is_some()
                || rule.transitions.as_ref().is_some_and(|t| !t.is_empty())
                || rule.noncurrent_version_transitions.as_ref().is_some_and(|t| !t.is_empty())
                || rule.abort_incomplete_multipart_upload.is_some();
            if !acts {
                continue;
            }
        }
        kept.push(rule);
    }
    if kept.is_empty() {
        aws.call_on(scope, &S3, "DeleteBucketLifecycle", Some(bucket), |s3| {
            s3.delete_bucket_lifecycle().bucket(bucket).expected_bucket_owner(owner).send()
        })
        .await?;
        return Ok(());
    }
    let configuration = BucketLifecycleConfiguration::builder().set_rules(Some(kept)).build().map_err(|e| super::AwsError {
        service: S3.name,
        operation: "PutBucketLifecycleConfiguration",
        kind: super::ErrorKind::Invalid,
        code: "InvalidRequest".into(),
        message: e.to_string(),
    })?;
    aws.call_on(scope, &S3, "PutBucketLifecycleConfiguration", Some(bucket), |s3| {
        s3.put_bucket_lifecycle_configuration()
            .bucket(bucket)
            .expected_bucket_owner(owner)
            .lifecycle_configuration(configuration)
            .send()
    })
    .await?;
    Ok(())
}
