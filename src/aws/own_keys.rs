//! The access keys this process signed its AWS requests with, so the event path can tell
//! our own writes, which come back as events, from everyone else's.
//!
//! An access key id is what CloudTrail records as `userIdentity.accessKeyId`, and AWS sets
//! it from the request's signature: nobody else can make a real event carry our key
//! without holding our credentials. A role's ARN or session name would not do: anyone
//! allowed to assume the same role picks the same names.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// How long a key is remembered after its last use: an event reaches the queue within
/// minutes of its call, and assumed-role keys last an hour or less.
const REMEMBERED: Duration = Duration::from_secs(2 * 3600);

/// Keys, with when each last signed a request. Cheap to clone; clones share the keys.
#[derive(Clone, Debug, Default)]
pub struct OwnKeys {
    last_used: Arc<Mutex<HashMap<String, Instant>>>,
}

impl OwnKeys {
    /// Whether `access_key` signed one of our requests lately.
    pub fn signed(&self, access_key: &str) -> bool {
        self.last_used
            .lock()
            .expect("own keys lock")
            .get(access_key)
            .is_some_and(|t| t.elapsed() < REMEMBERED)
    }

    /// The keys that signed requests lately, for diagnostics.
    pub fn recent(&self) -> Vec<String> {
        let keys = self.last_used.lock().expect("own keys lock");
        keys.iter().filter(|(_, t)| t.elapsed() < REMEMBERED).map(|(k, _)| k.clone()).collect()
    }

    fn used(&self, access_key: &str) {
        let now = Instant::now();
        let mut keys = self.last_used.lock().expect("own keys lock");
        match keys.get_mut(access_key) {
            Some(last) => *last = now,
            None => {
                // Keys are few (one per assumed role, renewed hourly): forgetting the old
                // ones when a new one appears keeps the map as small as that.
                keys.retain(|_, last| now.duration_since(*last) < REMEMBERED);
                keys.insert(access_key.to_owned(), now);
            }
        }
    }
}

/// The access key id of a SigV4 `Authorization` header:
/// `AWS4-HMAC-SHA256 Credential=<key>/<date>/<region>/<service>/aws4_request, …`.
fn access_key(authorization: &str) -> Option<&str> {
    let credential = authorization.split("Credential=").nth(1)?;
    credential.split('/').next().filter(|key| !key.is_empty())
}

/// Notes the key each request was signed with; runs after signing.
#[derive(Debug)]
pub(crate) struct RecordSigningKey(pub(crate) OwnKeys);

impl Intercept for RecordSigningKey {
    fn name(&self) -> &'static str {
        "trailwarden.RecordSigningKey"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(key) = context
            .request()
            .headers()
            .get("authorization")
            .and_then(access_key)
        {
            self.0.used(key);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_read_from_a_sigv4_header() {
        let header = "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20261124/us-east-1/cloudtrail/aws4_request, \
                      SignedHeaders=host;x-amz-date, Signature=abc";
        assert_eq!(access_key(header), Some("ASIAEXAMPLE"));
        assert_eq!(access_key("Bearer token"), None);
        assert_eq!(access_key("AWS4-HMAC-SHA256 Credential=/x"), None);
    }

    #[test]
    fn only_keys_we_signed_with_are_ours() {
        let keys = OwnKeys::default();
        keys.used("ASIAOURS");
        assert!(keys.signed("ASIAOURS"));
        assert!(!keys.signed("ASIATHEIRS"));
        assert!(
            keys.clone().signed("ASIAOURS"),
            "clones share what they saw"
        );
    }
}
