//! What one round of the continuous verifier reads once for all trails: CloudTrail's
//! public keys per region and each bucket's region. A thousand trails in one region cost
//! one ListPublicKeys a round, not a thousand.

use std::collections::HashMap;
use std::sync::Mutex;

use jiff::Timestamp;
use trailwarden_core::Scope;
use trailwarden_core::integrity::PublicKey;

use crate::aws::AwsResult;
use crate::aws::evidence::{EvidencePort, Object};

pub struct RoundCache<'a, P> {
    port: &'a P,
    /// The round's window: keys asked for it serve every walk whose window lies within.
    from: Timestamp,
    to: Timestamp,
    keys: Mutex<HashMap<String, Vec<PublicKey>>>,
    regions: Mutex<HashMap<String, String>>,
}

impl<'a, P: EvidencePort> RoundCache<'a, P> {
    pub fn new(port: &'a P, from: Timestamp, to: Timestamp) -> Self {
        RoundCache { port, from, to, keys: Mutex::default(), regions: Mutex::default() }
    }
}

impl<P: EvidencePort> EvidencePort for RoundCache<'_, P> {
    async fn bucket_region(&self, scope: &Scope, bucket: &str) -> AwsResult<String> {
        if let Some(region) = self.regions.lock().expect("regions").get(bucket) {
            return Ok(region.clone());
        }
        let region = self.port.bucket_region(scope, bucket).await?;
        self.regions.lock().expect("regions").insert(bucket.to_owned(), region.clone());
        Ok(region)
    }

    async fn list_after(&self, scope: &Scope, bucket: &str, prefix: &str, start_after: &str) -> AwsResult<Vec<String>> {
        self.port.list_after(scope, bucket, prefix, start_after).await
    }

    async fn list_folders(&self, scope: &Scope, bucket: &str, prefix: &str) -> AwsResult<Vec<String>> {
        self.port.list_folders(scope, bucket, prefix).await
    }

    async fn get(&self, scope: &Scope, bucket: &str, key: &str) -> AwsResult<Option<Object>> {
        self.port.get(scope, bucket, key).await
    }

    async fn public_keys(&self, scope: &Scope, from: Timestamp, to: Timestamp) -> AwsResult<Vec<PublicKey>> {
        if from < self.from || to > self.to {
            return self.port.public_keys(scope, from, to).await;
        }
        if let Some(keys) = self.keys.lock().expect("keys").get(&scope.region) {
            return Ok(keys.clone());
        }
        let keys = self.port.public_keys(scope, self.from, self.to).await?;
        self.keys.lock().expect("keys").insert(scope.region.clone(), keys.clone());
        Ok(keys)
    }
}
