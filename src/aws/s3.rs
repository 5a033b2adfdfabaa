//! S3: the log bucket's posture facts, read one call per fact, and its corrections.

use aws_sdk_s3::types::{
    BucketVersioningStatus, MfaDeleteStatus, ObjectOwnership, OwnershipControls, OwnershipControlsRule,
    PublicAccessBlockConfiguration, VersioningConfiguration,
};
use trailwarden_core::Scope;
use trailwarden_core::posture::bucket::{BucketFacts, BucketFix};

use super::AwsResult;
use super::clients::Service;
use super::error::fact;
use super::sdk::SdkAws;

const S3: Service<aws_sdk_s3::Client> = Service { name: "S3", client: |c| c.s3.clone(), paced: true };

/// ACL grantees that open a bucket to anyone.
const PUBLIC_GRANTEES: &[&str] = &[
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
];

pub(super) async fn describe_bucket(aws: &SdkAws, scope: &Scope, bucket: &str) -> AwsResult<BucketFacts> {
    // The one call that fails loudly when the bucket does not exist at all; the others
    // each leave only their own fact unknown.
    let location = aws.call(scope, &S3, "GetBucketLocation", |s3| s3.get_bucket_location().bucket(bucket).send()).await?;
    let region = match location.location_constraint().map(|c| c.as_str()) {
        None | Some("") => "us-east-1".to_owned(),
        Some("EU") => "eu-west-1".to_owned(),
        Some(other) => other.to_owned(),
    };
    let public_access_block = fact(
        aws.call(scope, &S3, "GetPublicAccessBlock", |s3| s3.get_public_access_block().bucket(bucket).send())
            .await
            .map(|o| {
                let c = o.public_access_block_configuration();
                let flag = |f: Option<bool>| f.unwrap_or(false);
                [
                    flag(c.and_then(|c| c.block_public_acls())),
                    flag(c.and_then(|c| c.ignore_public_acls())),
                    flag(c.and_then(|c| c.block_public_policy())),
                    flag(c.and_then(|c| c.restrict_public_buckets())),
                ]
            }),
        Some((&["NoSuchPublicAccessBlockConfiguration"], [false; 4])),
    );
    let policy = fact(
        aws.call(scope, &S3, "GetBucketPolicy", |s3| s3.get_bucket_policy().bucket(bucket).send())
            .await
            .map(|o| o.policy().map(str::to_owned)),
        Some((&["NoSuchBucketPolicy"], None)),
    );
    let public_acl_grantees = fact(
        aws.call(scope, &S3, "GetBucketAcl", |s3| s3.get_bucket_acl().bucket(bucket).send()).await.map(|o| {
            o.grants()
                .iter()
                .filter_map(|g| g.grantee().and_then(|g| g.uri()))
                .filter(|uri| PUBLIC_GRANTEES.contains(uri))
                .map(str::to_owned)
                .collect()
        }),
        None,
    );
    let versioning = aws.call(scope, &S3, "GetBucketVersioning", |s3| s3.get_bucket_versioning().bucket(bucket).send()).await;
    let (versioning_enabled, mfa_delete_enabled) = match versioning {
        Ok(o) => (
            Ok(o.status() == Some(&BucketVersioningStatus::Enabled)),
            Ok(o.mfa_delete() == Some(&MfaDeleteStatus::Enabled)),
        ),
        Err(e) => (Err(e.to_string()), Err(e.to_string())),
    };
    let access_log_target = fact(
        aws.call(scope, &S3, "GetBucketLogging", |s3| s3.get_bucket_logging().bucket(bucket).send())
            .await
            .map(|o| o.logging_enabled().map(|l| l.target_bucket().to_owned())),
        None,
    );
    let object_ownership = fact(
        aws.call(scope, &S3, "GetBucketOwnershipControls", |s3| s3.get_bucket_ownership_controls().bucket(bucket).send())
            .await
            .map(|o| o.ownership_controls().and_then(|c| c.rules().first()).map(|r| r.object_ownership().as_str().to_owned())),
        Some((&["OwnershipControlsNotFoundError"], None)),
    );
    Ok(BucketFacts {
        name: bucket.to_owned(),
        region,
        public_access_block,
        policy,
        public_acl_grantees,
        versioning_enabled,
        mfa_delete_enabled,
        access_log_target,
        object_ownership,
    })
}

/// Carries out one correction, through the S3 operation the fix names.
pub(super) async fn fix_bucket(aws: &SdkAws, scope: &Scope, bucket: &str, fix: &BucketFix) -> AwsResult<()> {
    let operation = fix.name();
    match fix {
        BucketFix::BlockPublicAccess => {
            let all_blocked = PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build();
            aws.call(scope, &S3, operation, |s3| {
                s3.put_public_access_block().bucket(bucket).public_access_block_configuration(all_blocked).send()
            })
            .await?;
        }
        BucketFix::EnableVersioning => {
            let enabled = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
            aws.call(scope, &S3, operation, |s3| {
                s3.put_bucket_versioning().bucket(bucket).versioning_configuration(enabled).send()
            })
            .await?;
        }
        BucketFix::PutBucketPolicy(document) => {
            aws.call(scope, &S3, operation, |s3| s3.put_bucket_policy().bucket(bucket).policy(document).send()).await?;
        }
        BucketFix::DisableAcls => {
            let rule = OwnershipControlsRule::builder()
                .object_ownership(ObjectOwnership::BucketOwnerEnforced)
                .build()
                .expect("the rule names its ownership");
            let controls = OwnershipControls::builder().rules(rule).build().expect("the controls hold a rule");
            aws.call(scope, &S3, operation, |s3| {
                s3.put_bucket_ownership_controls().bucket(bucket).ownership_controls(controls).send()
            })
            .await?;
        }
    }
    Ok(())
}
