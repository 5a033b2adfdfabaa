//! Stage `resolve`: the declared KMS key (alias, id or ARN) described once. Its ARN is
//! what AWS reports on the trail, so it replaces the declared value before planning; its
//! facts feed the key's posture checks.
//!
//! A key that cannot be described (denied, deleted, throttled) does not stop the pass:
//! logging is restored regardless, and only the trail's settings wait, because they
//! would otherwise be "corrected" to an unresolved alias.

use trailwarden_core::{Desired, Reach};
use trailwarden_core::posture::key::KeyFacts;

use crate::aws::{AwsError, AwsPort};

pub struct Resolved {
    pub desired: Desired,
    /// The key's facts, when the policy declares a key.
    pub key: Option<Result<KeyFacts, AwsError>>,
    /// How the key is reached (its region, its owner's account), when one is declared.
    pub key_reach: Option<Reach>,
}

impl Resolved {
    /// Why the declared key could not be resolved, if it could not.
    pub fn key_error(&self) -> Option<&AwsError> {
        self.key.as_ref().and_then(|k| k.as_ref().err())
    }
}

/// `acting`: the account the pass acts in (an alias or key id names a key of that account).
pub async fn resolve<P: AwsPort>(port: &P, desired: Desired, acting: &str) -> Resolved {
    let Some(declared) = desired.settings.kms_key.clone() else {
        return Resolved { desired, key: None, key_reach: None };
    };
    let reach = desired.key_reach(&declared, acting);
    match port.describe_key(&reach, &declared).await {
        Ok(key) => Resolved { desired: desired.with_kms_key_arn(Some(key.arn.clone())), key: Some(Ok(key)), key_reach: Some(reach) },
        Err(e) => Resolved { desired, key: Some(Err(e)), key_reach: Some(reach) },
    }
}
