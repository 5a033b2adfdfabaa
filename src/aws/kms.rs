//! KMS: the trail key's ARN and posture facts, and its corrections.

use trailwarden_core::{Reach, Scope};
use trailwarden_core::posture::owner_only;
use trailwarden_core::posture::key::{KeyFacts, KeyFix};

use super::clients::Service;
use super::recent::Kept;
use super::error::{fact, policy_changed, same_policy};
use super::s3::PutLocks;
use super::sdk::SdkAws;
use super::{AwsError, AwsResult, ErrorKind};

const KMS: Service<aws_sdk_kms::Client> = Service { name: "KMS", client: |c| c.kms(), paced: true, kept: Some(Kept::Keys), bounded: true };

/// The key policy KMS keeps; keys have no other.
const POLICY_NAME: &str = "default";

/// Key policy puts, by key ARN.
static KEY_POLICY_PUTS: PutLocks = PutLocks::new();

/// `key` may be an alias, a key id or an ARN; the facts name the key by its ARN. DescribeKey
/// and GetKeyRotationStatus answer another account's key by ARN; GetKeyPolicy only the
/// key's own account, so from outside the policy is not asked for.
pub(super) async fn describe_key(aws: &SdkAws, reach: &Reach, key: &str) -> AwsResult<KeyFacts> {
    let operation = "DescribeKey";
    let scope = &reach.scope;
    let described = aws.call(scope, &KMS, operation, |kms| kms.describe_key().key_id(key).send()).await?;
    let Some(meta) = described.key_metadata else {
        return Err(AwsError {
            service: KMS.name,
            operation,
            kind: ErrorKind::KeyNotFound,
            code: "NoKeyMetadata".into(),
            message: format!("DescribeKey returned nothing for {key}"),
        });
    };
    // The rotation and policy APIs take a key id or ARN, never an alias.
    let arn = meta.arn().unwrap_or(key).to_owned();
    let rotation_enabled = fact(
        aws.call(scope, &KMS, "GetKeyRotationStatus", |kms| kms.get_key_rotation_status().key_id(&arn).send())
            .await
            .map(|o| o.key_rotation_enabled()),
        None,
    );
    let policy = if reach.as_owner {
        fact(key_policy(aws, scope, &arn).await, None)
    } else {
        Err(owner_only("KMS", &reach.owner))
    };
    Ok(KeyFacts {
        state: meta.key_state().map(|s| s.as_str().to_owned()).ok_or_else(|| "DescribeKey gave no KeyState".into()),
        deletion_date: meta.deletion_date().and_then(|d| jiff::Timestamp::from_second(d.secs()).ok()),
        spec: meta.key_spec().map(|s| s.as_str().to_owned()).ok_or_else(|| "DescribeKey gave no KeySpec".into()),
        arn,
        rotation_enabled,
        policy,
    })
}

/// The key's policy document (a key always has one).
async fn key_policy(aws: &SdkAws, scope: &Scope, key_arn: &str) -> AwsResult<String> {
    aws.call(scope, &KMS, "GetKeyPolicy", |kms| kms.get_key_policy().key_id(key_arn).policy_name(POLICY_NAME).send())
        .await
        .map(|o| o.policy().unwrap_or_default().to_owned())
}

/// Carries out one correction, through the KMS operation the fix names.
pub(super) async fn fix_key(aws: &SdkAws, reach: &Reach, key_arn: &str, fix: &KeyFix) -> AwsResult<()> {
    let scope = &reach.scope;
    let operation = fix.name();
    match fix {
        KeyFix::CancelKeyDeletion => {
            aws.call(scope, &KMS, operation, |kms| kms.cancel_key_deletion().key_id(key_arn).send()).await?;
        }
        KeyFix::EnableKey => {
            aws.call(scope, &KMS, operation, |kms| kms.enable_key().key_id(key_arn).send()).await?;
        }
        KeyFix::EnableKeyRotation => {
            aws.call(scope, &KMS, operation, |kms| kms.enable_key_rotation().key_id(key_arn).send()).await?;
        }
        KeyFix::PutKeyPolicy { before, after } => {
            // As bucket policies: one put per key at a time, made only onto the policy it
            // was judged from.
            let _serialised = KEY_POLICY_PUTS.hold(key_arn, KMS.name, operation).await?;
            let now = key_policy(aws, scope, key_arn).await?;
            if !same_policy(Some(before), Some(&now)) {
                return Err(policy_changed(KMS.name, operation, &format!("the key policy of {key_arn}")));
            }
            aws.call(scope, &KMS, operation, |kms| {
                kms.put_key_policy().key_id(key_arn).policy_name(POLICY_NAME).policy(after).send()
            })
            .await?;
        }
    }
    Ok(())
}
