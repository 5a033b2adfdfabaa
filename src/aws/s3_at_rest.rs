//! S3: the log files at rest — the bucket's default encryption and Object Lock, read as
//! facts (BKT-DEFAULT-ENCRYPTION, BKT-OBJECT-LOCK), and Object Lock's default retention
//! set under `manage` when the policy requires one.

use aws_sdk_s3::types::{DefaultRetention, ObjectLockConfiguration, ObjectLockEnabled, ObjectLockRetentionMode, ObjectLockRule};
use trailwarden_core::Scope;
use trailwarden_core::posture::bucket::{Known, LockMode, LockRequirement, ObjectLock};

use super::AwsResult;
use super::clients::Service;
use super::error::fact;
use super::recent::Kept;
use super::sdk::SdkAws;

const S3: Service<aws_sdk_s3::Client> = Service { name: "S3", client: |c| c.s3(), paced: true, kept: Some(Kept::Buckets), bounded: true };

pub(super) async fn encryption(aws: &SdkAws, scope: &Scope, owner: &str, bucket: &str) -> Known<Option<String>> {
    fact(
        aws.call(scope, &S3, "GetBucketEncryption", |s3| s3.get_bucket_encryption().bucket(bucket).expected_bucket_owner(owner).send())
            .await
            .map(|o| {
                o.server_side_encryption_configuration()
                    .and_then(|c| c.rules().first())
                    .and_then(|r| r.apply_server_side_encryption_by_default())
                    .map(|d| d.sse_algorithm().as_str().to_owned())
            }),
        Some((&["ServerSideEncryptionConfigurationNotFoundError"], None)),
    )
}

pub(super) async fn object_lock(aws: &SdkAws, scope: &Scope, owner: &str, bucket: &str) -> Known<Option<ObjectLock>> {
    fact(
        aws.call(scope, &S3, "GetObjectLockConfiguration", |s3| {
            s3.get_object_lock_configuration().bucket(bucket).expected_bucket_owner(owner).send()
        })
        .await
        .map(|o| {
            o.object_lock_configuration().map(|c| ObjectLock {
                enabled: c.object_lock_enabled() == Some(&ObjectLockEnabled::Enabled),
                default_retention: c.rule().and_then(|r| r.default_retention()).and_then(|d| {
                    let mode = match d.mode()? {
                        ObjectLockRetentionMode::Compliance => LockMode::Compliance,
                        _ => LockMode::Governance,
                    };
                    let days = d.days().or_else(|| d.years().map(|y| y.saturating_mul(365)))?;
                    Some((mode, u32::try_from(days).ok()?))
                }),
            })
        }),
        Some((&["ObjectLockConfigurationNotFoundError"], None)),
    )
}

pub(super) async fn set_object_lock(aws: &SdkAws, scope: &Scope, owner: &str, bucket: &str, required: LockRequirement) -> AwsResult<()> {
    let mode = match required.mode {
        LockMode::Governance => ObjectLockRetentionMode::Governance,
        LockMode::Compliance => ObjectLockRetentionMode::Compliance,
    };
    let retention = DefaultRetention::builder().mode(mode).days(i32::try_from(required.days).unwrap_or(i32::MAX)).build();
    let configuration = ObjectLockConfiguration::builder()
        .object_lock_enabled(ObjectLockEnabled::Enabled)
        .rule(ObjectLockRule::builder().default_retention(retention).build())
        .build();
    aws.call_on(scope, &S3, "PutObjectLockConfiguration", Some(bucket), |s3| {
        s3.put_object_lock_configuration().bucket(bucket).expected_bucket_owner(owner).object_lock_configuration(configuration).send()
    })
    .await?;
    Ok(())
}
