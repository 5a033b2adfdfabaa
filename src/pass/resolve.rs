//! Stage `resolve`: the declared KMS key (alias, id or ARN) described once. Its ARN is
//! what AWS reports on the trail, so it replaces the declared value before planning; its
//! facts feed the key's posture checks.
//!
//! A key that cannot be described (denied, deleted, throttled) does not stop the pass:
//! logging is restored regardless, and only the trail's settings wait, because they
//! would otherwise be "corrected" to an unresolved alias.
//!
//! An alias is followed once per spec change: the key it named then is pinned (in the
//! policy's status), and an alias pointed at another key later — or deleted — is
//! reported, never followed. Whoever can move an alias could otherwise move the trail's
//! logs onto a key they hold (and, with `kms.manage`, have CloudTrail granted on it).

use trailwarden_core::floor::Held;
use trailwarden_core::{Desired, ObservedTrail, Reach};
use trailwarden_core::posture::key::KeyFacts;

use crate::aws::{AwsError, AwsPort, ErrorKind};

pub struct Resolved {
    /// The policy as the pass carries it out: held at the operator's floor, its key
    /// resolved to an ARN.
    pub desired: Desired,
    /// How the policy falls short of the floor (see [`trailwarden_core::floor`]).
    pub below_floor: Vec<String>,
    /// Why no trail may be created for it, if none may.
    pub no_new_trail: Option<String>,
    /// The key's facts, when the policy declares a key.
    pub key: Option<Result<KeyFacts, AwsError>>,
    /// How the key is reached (its region, its owner's account), when one is declared.
    pub key_reach: Option<Reach>,
    /// The declared alias no longer names the pinned key: what it names now.
    pub alias_moved: Option<String>,
}

impl Resolved {
    /// Why the declared key could not be resolved, if it could not.
    pub fn key_error(&self) -> Option<&AwsError> {
        self.key.as_ref().and_then(|k| k.as_ref().err())
    }
}

/// `acting`: the account the pass acts in (an alias or key id names a key of that account);
/// `trail`: the policy's trail as observed, what the floor holds to.
pub async fn resolve<P: AwsPort>(port: &P, desired: Desired, acting: &str, trail: Option<&ObservedTrail>) -> Resolved {
    let floor = desired.floor.clone();
    let Held { desired, shortfalls: below_floor, no_new_trail } = floor.hold(desired, trail, acting);
    let Some(declared) = desired.settings.kms_key.clone() else {
        return Resolved { desired, below_floor, no_new_trail, key: None, key_reach: None, alias_moved: None };
    };
    let reach = desired.key_reach(&declared, acting);
    let named = port.describe_key(&reach, &declared).await;
    let pinned = desired.remembered.pinned_key.as_ref().filter(|(alias, _)| *alias == declared).map(|(_, arn)| arn.clone());
    let (key, alias_moved) = match (named, pinned) {
        (Ok(key), Some(pin)) if key.arn != pin => {
            let moved = format!("alias {declared} now names {}, not the key pinned when the spec last changed ({pin})", key.arn);
            (port.describe_key(&reach, &pin).await, Some(moved))
        }
        (Err(e), Some(pin)) if matches!(e.kind, ErrorKind::NotFound | ErrorKind::KeyNotFound) => {
            let moved = format!("alias {declared} no longer exists; the trail keeps the pinned key {pin}");
            (port.describe_key(&reach, &pin).await, Some(moved))
        }
        (named, _) => (named, None),
    };
    match key {
        Ok(key) => Resolved {
            desired: desired.with_kms_key_arn(Some(key.arn.clone())),
            below_floor,
            no_new_trail,
            key: Some(Ok(key)),
            key_reach: Some(reach),
            alias_moved,
        },
        Err(e) => Resolved { desired, below_floor, no_new_trail, key: Some(Err(e)), key_reach: Some(reach), alias_moved },
    }
}
