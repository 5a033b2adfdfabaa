//! S3: the log bucket's posture facts, read one call per fact, and its corrections.
//!
//! Every call names the bucket's expected owner (`ExpectedBucketOwner`): S3 refuses a
//! bucket another account owns instead of answering, so a bucket whose name was taken
//! over is never read or written as ours. Every call but GetBucketLocation goes to the
//! bucket's own region: S3 answers a request sent to another region with a redirect
//! (301 PermanentRedirect) that the SDK does not follow.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use aws_sdk_s3::types::{
    BucketVersioningStatus, MfaDeleteStatus, ObjectOwnership, OwnershipControls, OwnershipControlsRule,
    PublicAccessBlockConfiguration, VersioningConfiguration,
};
use trailwarden_core::Reach;
use trailwarden_core::posture::bucket::{BucketFacts, BucketFix, OWNER_ENFORCED, owner_only};

use super::{AwsError, AwsResult, ErrorKind};
use super::clients::Service;
use super::recent::Kept;
use super::error::{fact, policy_changed, same_policy};
use super::sdk::SdkAws;

const S3: Service<aws_sdk_s3::Client> = Service { name: "S3", client: |c| c.s3(), paced: true, kept: Some(Kept::Buckets), bounded: true };

/// ACL grantees that open a bucket to anyone.
const PUBLIC_GRANTEES: &[&str] = &[
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
];

pub(super) async fn describe_bucket(aws: &SdkAws, reach: &Reach, bucket: &str) -> AwsResult<BucketFacts> {
    // The one call that fails loudly when the bucket does not exist at all (or is not
    // the owner's); the others each leave only their own fact unknown. It is answered
    // from any region.
    let location = aws
        .call(&reach.scope, &S3, "GetBucketLocation", |s3| {
            s3.get_bucket_location().bucket(bucket).expected_bucket_owner(&reach.owner).send()
        })
        .await?;
    let region = bucket_region(&location);
    let (scope, owner) = (&reach.scope.in_region(&region), reach.owner.as_str());
    // What S3 answers to the bucket owner's account alone is not asked for from outside.
    let outside = (!reach.as_owner).then(|| owner_only("S3", &reach.owner));
    // The other facts are independent of each other: asked at once, each under its own
    // API's pacing, so a bucket costs one round trip after its location, not six.
    let public_access_block = async {
        fact(
            aws.call(scope, &S3, "GetPublicAccessBlock", |s3| {
                s3.get_public_access_block().bucket(bucket).expected_bucket_owner(owner).send()
            })
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
        )
    };
    let policy = async {
        match &outside {
            Some(why) => Err(why.clone()),
            None => fact(bucket_policy(aws, scope, owner, bucket).await, None),
        }
    };
    let versioning = async {
        if let Some(why) = &outside {
            return (Err(why.clone()), Err(why.clone()));
        }
        let read = aws.call(scope, &S3, "GetBucketVersioning", |s3| {
            s3.get_bucket_versioning().bucket(bucket).expected_bucket_owner(owner).send()
        });
        match read.await {
            Ok(o) => (
                Ok(o.status() == Some(&BucketVersioningStatus::Enabled)),
                Ok(o.mfa_delete() == Some(&MfaDeleteStatus::Enabled)),
            ),
            Err(e) => (Err(e.to_string()), Err(e.to_string())),
        }
    };
    let access_log_target = async {
        fact(
            aws.call(scope, &S3, "GetBucketLogging", |s3| {
                s3.get_bucket_logging().bucket(bucket).expected_bucket_owner(owner).send()
            })
                .await
                .map(|o| o.logging_enabled().map(|l| l.target_bucket().to_owned())),
            None,
        )
    };
    let ownership_and_acl = async {
        let object_ownership = fact(
            aws.call(scope, &S3, "GetBucketOwnershipControls", |s3| {
                s3.get_bucket_ownership_controls().bucket(bucket).expected_bucket_owner(owner).send()
            })
                .await
                .map(|o| o.ownership_controls().and_then(|c| c.rules().first()).map(|r| r.object_ownership().as_str().to_owned())),
            Some((&["OwnershipControlsNotFoundError"], None)),
        );
        // With ACLs disabled (BucketOwnerEnforced) S3 ignores every ACL grant: none is in
        // effect, and there is nothing to read.
        let acls_disabled = object_ownership.as_ref().is_ok_and(|o| o.as_deref() == Some(OWNER_ENFORCED));
        let public_acl_grantees = if acls_disabled {
            Ok(vec![])
        } else {
            fact(
                aws.call(scope, &S3, "GetBucketAcl", |s3| s3.get_bucket_acl().bucket(bucket).expected_bucket_owner(owner).send())
                    .await
                    .map(|o| {
                    o.grants()
                        .iter()
                        .filter_map(|g| g.grantee().and_then(|g| g.uri()))
                        .filter(|uri| PUBLIC_GRANTEES.contains(uri))
                        .map(str::to_owned)
                        .collect()
                }),
                None,
            )
        };
        (object_ownership, public_acl_grantees)
    };
    // Asked of the owner's account only (trailwarden does not ask them from outside).
    let owners = async {
        match &outside {
            Some(why) => (Err(why.clone()), Err(why.clone()), Err(why.clone())),
            None => futures::join!(
                Box::pin(super::s3_lifecycle::read(aws, scope, owner, bucket)),
                Box::pin(super::s3_at_rest::encryption(aws, scope, owner, bucket)),
                Box::pin(super::s3_at_rest::object_lock(aws, scope, owner, bucket))
            ),
        }
    };
    // Boxed: the SDK calls in flight in one future would not fit a worker's stack.
    let (
        public_access_block,
        policy,
        (versioning_enabled, mfa_delete_enabled),
        access_log_target,
        (object_ownership, public_acl_grantees),
        (lifecycle, encryption, object_lock),
    ) = futures::join!(
        Box::pin(public_access_block),
        Box::pin(policy),
        Box::pin(versioning),
        Box::pin(access_log_target),
        Box::pin(ownership_and_acl),
        Box::pin(owners)
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
        lifecycle,
        encryption,
        object_lock,
    })
}

/// The region GetBucketLocation names: no constraint is us-east-1, and `EU` the old name
/// of eu-west-1.
pub(super) fn bucket_region(location: &aws_sdk_s3::operation::get_bucket_location::GetBucketLocationOutput) -> String {
    match location.location_constraint().map(|c| c.as_str()) {
        None | Some("") => "us-east-1".to_owned(),
        Some("EU") => "eu-west-1".to_owned(),
        Some(other) => other.to_owned(),
    }
}

/// The bucket's policy document, None when it has none.
async fn bucket_policy(aws: &SdkAws, scope: &trailwarden_core::Scope, owner: &str, bucket: &str) -> AwsResult<Option<String>> {
    let read =
        aws.call(scope, &S3, "GetBucketPolicy", |s3| s3.get_bucket_policy().bucket(bucket).expected_bucket_owner(owner).send()).await;
    match read {
        Ok(o) => Ok(o.policy().map(str::to_owned)),
        Err(e) if e.code == "NoSuchBucketPolicy" => Ok(None),
        Err(e) => Err(e),
    }
}

/// One lock per name (a bucket, a key ARN), held across a policy's re-read and its put,
/// so this process never has two puts of one policy in flight. A lock lives while someone
/// holds or waits for it; the map keeps only a weak reference, pruned as it is used.
pub(super) struct PutLocks(Mutex<BTreeMap<String, Weak<tokio::sync::Mutex<()>>>>);

/// The longest a put waits for another put of the same policy.
const LOCK_WAIT: Duration = Duration::from_secs(90);

impl PutLocks {
    pub(super) const fn new() -> Self {
        PutLocks(Mutex::new(BTreeMap::new()))
    }

    /// Waits for `name`'s lock, [`LOCK_WAIT`] at most; it is released when the guard drops.
    /// The holder's calls are bounded by their own timeouts, so the wait is too; the bound
    /// here keeps it so whatever the holder waits on.
    pub(super) async fn hold(&self, name: &str, service: &'static str, operation: &'static str) -> AwsResult<tokio::sync::OwnedMutexGuard<()>> {
        self.hold_within(name, LOCK_WAIT).await.map_err(|waited| AwsError {
            service,
            operation,
            kind: ErrorKind::Unavailable,
            code: "LockTimeout".into(),
            message: format!("waited {} s for another put of {name}'s policy in this process to finish", waited.as_secs()),
        })
    }

    async fn hold_within(&self, name: &str, wait: Duration) -> Result<tokio::sync::OwnedMutexGuard<()>, Duration> {
        let lock = {
            let mut locks = self.0.lock().expect("put locks");
            locks.retain(|_, lock| lock.strong_count() > 0);
            match locks.get(name).and_then(Weak::upgrade) {
                Some(lock) => lock,
                None => {
                    let lock = Arc::new(tokio::sync::Mutex::new(()));
                    locks.insert(name.to_owned(), Arc::downgrade(&lock));
                    lock
                }
            }
        };
        tokio::time::timeout(wait, lock.lock_owned()).await.map_err(|_| wait)
    }

    /// How many names have a lock held or awaited.
    #[cfg(test)]
    fn live(&self) -> usize {
        self.0.lock().expect("put locks").values().filter(|lock| lock.strong_count() > 0).count()
    }
}

/// Bucket policy puts, by bucket name (names are global in a partition).
static BUCKET_POLICY_PUTS: PutLocks = PutLocks::new();

/// Carries out one correction, through the S3 operation the fix names.
pub(super) async fn fix_bucket(aws: &SdkAws, reach: &Reach, bucket: &str, fix: &BucketFix) -> AwsResult<()> {
    let operation = fix.name();
    let (scope, owner) = (&reach.scope, reach.owner.as_str());
    match fix {
        BucketFix::BlockPublicAccess => {
            let all_blocked = PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build();
            aws.call_on(scope, &S3, operation, Some(bucket), |s3| {
                s3.put_public_access_block()
                    .bucket(bucket)
                    .expected_bucket_owner(owner)
                    .public_access_block_configuration(all_blocked)
                    .send()
            })
            .await?;
        }
        BucketFix::EnableVersioning => {
            let enabled = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
            aws.call_on(scope, &S3, operation, Some(bucket), |s3| {
                s3.put_bucket_versioning().bucket(bucket).expected_bucket_owner(owner).versioning_configuration(enabled).send()
            })
            .await?;
        }
        BucketFix::PutBucketPolicy { before, after, .. } => {
            // One put per bucket at a time in this process, each made only onto the policy
            // it was judged from: two policies sharing the bucket never lose each other's
            // statements, whatever order their passes run in.
            let _serialised = BUCKET_POLICY_PUTS.hold(bucket, S3.name, operation).await?;
            let now = bucket_policy(aws, scope, owner, bucket).await?;
            if !same_policy(before.as_deref(), now.as_deref()) {
                return Err(policy_changed(S3.name, operation, &format!("the bucket policy of {bucket}")));
            }
            aws.call_on(scope, &S3, operation, Some(bucket), |s3| {
                s3.put_bucket_policy().bucket(bucket).expected_bucket_owner(owner).policy(after).send()
            })
            .await?;
        }
        BucketFix::DisableAcls => {
            let rule = OwnershipControlsRule::builder()
                .object_ownership(ObjectOwnership::BucketOwnerEnforced)
                .build()
                .expect("the rule names its ownership");
            let controls = OwnershipControls::builder().rules(rule).build().expect("the controls hold a rule");
            aws.call_on(scope, &S3, operation, Some(bucket), |s3| {
                s3.put_bucket_ownership_controls().bucket(bucket).expected_bucket_owner(owner).ownership_controls(controls).send()
            })
            .await?;
        }
        BucketFix::LengthenLifecycle { rules, days } => {
            super::s3_lifecycle::lengthen(aws, scope, owner, bucket, rules, *days).await?;
        }
        BucketFix::SetObjectLock(required) => {
            super::s3_at_rest::set_object_lock(aws, scope, owner, bucket, *required).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{ErrorKind, PutLocks};

    #[tokio::test]
    async fn puts_of_one_name_wait_for_each_other_and_locks_go_when_unused() {
        static LOCKS: PutLocks = PutLocks::new();
        let first = LOCKS.hold("logs", "S3", "PutBucketPolicy").await.unwrap();
        let other = LOCKS.hold("other-logs", "S3", "PutBucketPolicy").await.unwrap();
        assert_eq!(LOCKS.live(), 2);
        let waiting = tokio::spawn(async { drop(LOCKS.hold("logs", "S3", "PutBucketPolicy").await.unwrap()) });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "a second put of the same bucket waits");
        drop(first);
        tokio::time::timeout(Duration::from_secs(1), waiting).await.expect("released").unwrap();
        drop(other);
        assert_eq!(LOCKS.live(), 0, "nothing kept once unused");
        drop(LOCKS.hold("again", "S3", "PutBucketPolicy").await.unwrap());
        assert_eq!(LOCKS.0.lock().unwrap().len(), 1, "pruned as used: only the last name's dead entry is left");
    }

    #[tokio::test(start_paused = true)]
    async fn a_lock_never_released_is_waited_for_a_bounded_time() {
        static LOCKS: PutLocks = PutLocks::new();
        let _stuck = LOCKS.hold("logs", "S3", "PutBucketPolicy").await.unwrap();
        let error = LOCKS.hold("logs", "S3", "PutBucketPolicy").await.expect_err("bounded");
        assert_eq!((error.kind, error.code.as_str()), (ErrorKind::Unavailable, "LockTimeout"));
        assert!(error.message.contains("logs"), "{}", error.message);
    }
}
