//! The walk on a store of its own (a fake of the evidence port: this tests the walk, the
//! bed tests the system), with digests signed by a real RSA key: resuming from a link,
//! and the links themselves.

use std::collections::BTreeMap;
use std::sync::Mutex;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use trailwarden_core::Scope;
use trailwarden_core::integrity::{DigestLocation, Link, Problem, PublicKey};

use super::Walk;
use crate::aws::AwsResult;
use crate::aws::evidence::{EvidencePort, Object};
use crate::integrity::crypto::sha256_hex;

#[derive(Default)]
struct Store {
    objects: Mutex<BTreeMap<String, Object>>,
    keys: Vec<PublicKey>,
}

impl EvidencePort for Store {
    async fn bucket_region(&self, _: &Scope, _: &str) -> AwsResult<String> {
        Ok("us-east-1".into())
    }
    async fn list_after(&self, _: &Scope, _: &str, prefix: &str, start_after: &str) -> AwsResult<Vec<String>> {
        let objects = self.objects.lock().unwrap();
        Ok(objects.keys().filter(|k| k.starts_with(prefix) && k.as_str() > start_after).cloned().collect())
    }
    async fn list_folders(&self, _: &Scope, _: &str, prefix: &str) -> AwsResult<Vec<String>> {
        let objects = self.objects.lock().unwrap();
        let mut folders: Vec<String> = objects
            .keys()
            .filter_map(|k| k.strip_prefix(prefix)?.split_once('/').map(|(folder, _)| format!("{prefix}{folder}/")))
            .collect();
        folders.dedup();
        Ok(folders)
    }

    async fn get(&self, _: &Scope, _: &str, key: &str) -> AwsResult<Option<Object>> {
        Ok(self.objects.lock().unwrap().get(key).cloned())
    }
    async fn public_keys(&self, _: &Scope, _: Timestamp, _: Timestamp) -> AwsResult<Vec<PublicKey>> {
        Ok(self.keys.clone())
    }
}

fn location() -> DigestLocation {
    DigestLocation {
        bucket: "logs".into(),
        prefix: None,
        organization_id: None,
        account: "111122223333".into(),
        region: "us-east-1".into(),
        trail_name: "audit".into(),
        home_region: "us-east-1".into(),
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// A chain CloudTrail-style: digest `i` ends at `start + i` hours and links to digest i-1.
struct Chain {
    key: KeyPair,
    store: Store,
    start: Timestamp,
    /// Per digest: key, signature, hash of its content.
    written: Vec<(String, String, String)>,
}

impl Chain {
    fn new() -> Self {
        let key = KeyPair::generate(KeySize::Rsa2048).unwrap();
        let public = PublicKey {
            fingerprint: "fp".into(),
            der: key.public_key().as_ref().to_vec(),
            valid_from: "2026-01-01T00:00:00Z".parse().unwrap(),
            valid_to: "2027-01-01T00:00:00Z".parse().unwrap(),
        };
        let store = Store { keys: vec![public], ..Store::default() };
        Chain { key, store, start: "2026-12-06T00:00:00Z".parse().unwrap(), written: vec![] }
    }

    fn end(&self, i: usize) -> Timestamp {
        self.start + SignedDuration::from_hours(i as i64 + 1)
    }

    /// Writes the next digest; `tamper` edits its JSON before it is signed (as CloudTrail
    /// itself would never write it).
    fn deliver(&mut self, tamper: impl FnOnce(&mut serde_json::Value)) {
        let i = self.written.len();
        let end = self.end(i);
        let key = format!(
            "{}{}/111122223333_CloudTrail-Digest_us-east-1_audit_us-east-1_{}.json.gz",
            location().folder(),
            end.strftime("%Y/%m/%d"),
            end.strftime("%Y%m%dT%H%M%SZ")
        );
        let previous = self.written.last().cloned();
        let mut digest = json!({
            "digestStartTime": self.end(i.wrapping_sub(1)).to_string(),
            "digestEndTime": end.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "digestS3Bucket": "logs", "digestS3Object": key, "digestPublicKeyFingerprint": "fp",
            "previousDigestS3Bucket": previous.as_ref().map(|_| "logs"),
            "previousDigestS3Object": previous.as_ref().map(|p| p.0.clone()),
            "previousDigestHashValue": previous.as_ref().map(|p| p.2.clone()),
            "previousDigestSignature": previous.as_ref().map(|p| p.1.clone()),
            "logFiles": [],
        });
        if i == 0 {
            digest["digestStartTime"] = json!(self.start.to_string());
        }
        tamper(&mut digest);
        let content = digest.to_string().into_bytes();
        let hash = sha256_hex(&content);
        let signed = format!(
            "{}\nlogs/{key}\n{hash}\n{}",
            digest["digestEndTime"].as_str().unwrap(),
            digest["previousDigestSignature"].as_str().unwrap_or("null")
        );
        let mut signature = vec![0; self.key.public_modulus_len()];
        self.key.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), signed.as_bytes(), &mut signature).unwrap();
        let signature: String = signature.iter().map(|b| format!("{b:02x}")).collect();
        let metadata = [("signature".to_owned(), signature.clone()), ("signature-algorithm".to_owned(), "SHA256withRSA".to_owned())];
        self.store.objects.lock().unwrap().insert(key.clone(), Object { body: gzip(&content), metadata: metadata.into() });
        self.written.push((key, signature, hash));
    }

    fn link(&self, i: usize) -> Link {
        let (key, signature, _) = self.written[i].clone();
        Link { bucket: "logs".into(), key, end_time: self.end(i), signature }
    }

    async fn walk(&self, resume: Option<&Link>) -> trailwarden_core::integrity::Verdict {
        let scope = Scope { role_arn: None, external_id: None, region: "us-east-1".into() };
        let from = resume.map_or(self.start, |l| l.end_time);
        Walk { port: &self.store, scope: &scope, location: &location() }.run(from, self.end(10), resume).await.unwrap()
    }
}

fn problems(verdict: &trailwarden_core::integrity::Verdict) -> Vec<(Problem, String)> {
    verdict.findings.iter().map(|f| (f.problem, f.key.clone())).collect()
}

#[tokio::test]
async fn a_signed_chain_is_intact_and_a_later_walk_resumes_from_its_newest_digest() {
    let mut chain = Chain::new();
    for _ in 0..3 {
        chain.deliver(|_| {});
    }
    let first = chain.walk(None).await;
    assert!(first.intact(), "{first:?}");
    assert_eq!(first.digests_valid, 3);
    assert_eq!(first.newest, Some(chain.link(2)));
    chain.deliver(|_| {});
    chain.deliver(|_| {});
    let resumed = chain.walk(first.newest.as_ref()).await;
    assert!(resumed.intact(), "{resumed:?}");
    assert_eq!(resumed.digests_valid, 2, "only what came since");
    assert_eq!(resumed.newest, Some(chain.link(4)));
}

#[tokio::test]
async fn a_digest_that_does_not_carry_its_predecessors_signature_or_hash_breaks_the_chain() {
    // Signed as CloudTrail signs, yet naming the previous digest with another signature:
    // a chain put together after the fact.
    let mut chain = Chain::new();
    chain.deliver(|_| {});
    chain.deliver(|_| {});
    let verified = chain.link(1);
    chain.deliver(|d| d["previousDigestSignature"] = json!("00ff"));
    let resumed = chain.walk(Some(&verified)).await;
    assert_eq!(problems(&resumed), [(Problem::ChainBroken, chain.written[2].0.clone())]);

    let mut chain = Chain::new();
    chain.deliver(|_| {});
    chain.deliver(|d| d["previousDigestHashValue"] = json!("00".repeat(32)));
    let walked = chain.walk(None).await;
    assert_eq!(problems(&walked), [(Problem::ChainBroken, chain.written[1].0.clone())]);
}

#[tokio::test]
async fn a_digest_linking_past_the_last_verified_one_breaks_the_chain() {
    let mut chain = Chain::new();
    chain.deliver(|_| {});
    chain.deliver(|_| {});
    let first = chain.written[0].clone();
    // The third names the first as its predecessor: the second, verified, is skipped.
    chain.deliver(|d| {
        d["previousDigestS3Object"] = json!(first.0);
        d["previousDigestSignature"] = json!(first.1);
        d["previousDigestHashValue"] = json!(first.2);
    });
    let resumed = chain.walk(Some(&chain.link(1))).await;
    assert_eq!(problems(&resumed), [(Problem::ChainBroken, chain.written[2].0.clone())]);
}

#[tokio::test]
async fn a_deleted_digest_is_named_and_the_walk_goes_on_behind_it() {
    let mut chain = Chain::new();
    for _ in 0..4 {
        chain.deliver(|_| {});
    }
    let deleted = chain.written[2].0.clone();
    chain.store.objects.lock().unwrap().remove(&deleted);
    let walked = chain.walk(None).await;
    assert_eq!(problems(&walked), [(Problem::DigestMissing, deleted)]);
    assert_eq!(walked.digests_valid, 3, "the digests behind the gap are verified too");
}

#[tokio::test]
async fn every_region_and_member_account_with_digests_is_a_chain_of_its_own() {
    let chain = Chain::new();
    let base = DigestLocation { organization_id: Some("o-abc123".into()), ..location() };
    let put = |account: &str, region: &str| {
        let key = format!("{}x.json.gz", base.of(account, region).folder());
        chain.store.objects.lock().unwrap().insert(key, Object { body: vec![], metadata: Default::default() });
    };
    put("111122223333", "eu-west-1");
    put("444455556666", "us-east-1");
    put("444455556666", "ap-south-1");
    // Not an account's folder: left alone.
    chain.store.objects.lock().unwrap().insert("AWSLogs/o-abc123/not-an-account/x".into(), Object { body: vec![], metadata: Default::default() });
    let scope = Scope { role_arn: None, external_id: None, region: "us-east-1".into() };
    let found = crate::integrity::chains::discover(&chain.store, &scope, &base).await.unwrap();
    let mut chains: Vec<(String, String)> = found.iter().map(|l| (l.account.clone(), l.region.clone())).collect();
    chains.sort();
    assert_eq!(
        chains,
        [
            ("111122223333".to_owned(), "eu-west-1".to_owned()),
            ("111122223333".to_owned(), "us-east-1".to_owned()),
            ("444455556666".to_owned(), "ap-south-1".to_owned()),
            ("444455556666".to_owned(), "us-east-1".to_owned()),
        ],
        "the home region's chain of the trail's own account is always walked"
    );
}

#[tokio::test]
async fn the_digest_a_walk_ended_on_deleted_is_named_at_the_next_walk() {
    let mut chain = Chain::new();
    chain.deliver(|_| {});
    chain.deliver(|_| {});
    let head = chain.link(1);
    chain.store.objects.lock().unwrap().remove(&head.key);
    let resumed = chain.walk(Some(&head)).await;
    assert_eq!(problems(&resumed), [(Problem::DigestMissing, head.key.clone())]);
}
