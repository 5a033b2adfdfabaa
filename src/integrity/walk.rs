//! The walk along one trail's digest chain, newest first, as `validate-logs` walks it:
//! the newest digest in the window, then each digest's predecessor by the location it
//! names, until the window's start (or, resuming, the last digest verified before).
//! A digest that is missing or fails is reported and the walk goes on from the next older
//! digest S3 lists, so one deletion does not hide what lies behind it.

use jiff::{SignedDuration, Timestamp};
use trailwarden_core::Scope;
use trailwarden_core::integrity::location::key_time;
use trailwarden_core::integrity::{
    Digest, DigestLocation, FetchedDigest, Finding, Gap, Link, Problem, PublicKey, Verdict, judge_digest, judge_log,
};

use super::crypto::{gunzip_first, read_log, sha256_hex, verify_rsa_sha256};
use crate::aws::AwsError;
use crate::aws::evidence::EvidencePort;

/// Digests a window may list beyond its end: CloudTrail delivers the hour's digest after
/// the hour (`validate-logs` looks one hour further too).
const SPILL: SignedDuration = SignedDuration::from_hours(1);

/// Why a walk could not judge the chain (as opposed to judging it broken).
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("CloudTrail lists no public key for {region} between {from} and {to}")]
    NoPublicKeys { region: String, from: Timestamp, to: Timestamp },
    #[error("{0}")]
    Spec(String),
}

/// The chain's walk for one trail, account and region.
pub struct Walk<'a, P> {
    pub port: &'a P,
    /// Credentials that may read the bucket and call ListPublicKeys; any region.
    pub scope: &'a Scope,
    pub location: &'a DigestLocation,
}

impl<P: EvidencePort> Walk<'_, P> {
    /// Verifies the digests that end in [from, to] and the log files they list; when
    /// resuming, only those after `resume`, which the next one must link to.
    pub async fn run(&self, from: Timestamp, to: Timestamp, resume: Option<&Link>) -> Result<Verdict, WalkError> {
        let location = self.location;
        let keys_scope = self.scope.in_region(&location.region);
        let keys = self.port.public_keys(&keys_scope, from, to).await?;
        if keys.is_empty() {
            return Err(WalkError::NoPublicKeys { region: location.region.clone(), from, to });
        }
        let region = self.port.bucket_region(self.scope, &location.bucket).await?;
        let scope = self.scope.in_region(&region);
        let start_after = match resume {
            Some(link) => link.key.clone(),
            None => location.start_after(from),
        };
        let listed = self.port.list_after(&scope, &location.bucket, &location.folder(), &start_after).await?;
        let mut older: Vec<String> = listed
            .into_iter()
            .filter(|k| location.holds(k) && key_time(k).is_some_and(|t| t >= from && t <= to + SPILL))
            .collect();
        let mut state = State { verdict: Verdict::default(), keys, scope };
        // The digest the last walk ended on must still be there: its deletion (the chain's
        // head, say) is otherwise seen only once a later digest names it.
        if let Some(link) = resume
            && self.port.get(&state.scope, &link.bucket, &link.key).await?.is_none()
        {
            state.verdict.findings.push(Finding::new(
                Problem::DigestMissing,
                &link.bucket,
                &link.key,
                "the digest the last walk verified is gone".into(),
            ));
        }
        let mut next = older.pop().map(|k| (location.bucket.clone(), k));
        let mut last_start = next.as_ref().and_then(|(_, k)| key_time(k));
        // Every step either takes a listed key or follows a valid digest's link; the bound
        // only guards against a chain that loops.
        let mut steps = older.len() + 1_000;
        // The digest whose link is being followed.
        let mut expected: Option<Digest> = None;
        while let Some((bucket, key)) = next.take() {
            if last_start.is_none_or(|start| start < from) || steps == 0 {
                break;
            }
            steps -= 1;
            let linked_from = expected.take();
            let (digest, signature, content_sha256) = match self.fetch(&state, &bucket, &key).await? {
                Ok(valid) => valid,
                Err(finding) => {
                    state.verdict.findings.push(finding);
                    next = next_older(&mut older, &key).map(|k| (location.bucket.clone(), k));
                    continue;
                }
            };
            // The newer digest that named this one carries its signature and hash: CloudTrail
            // signed those, so a mismatch is a chain that was put together afterwards.
            if let Some(newer) = linked_from.filter(|n| {
                n.previous_digest_signature.as_deref() != Some(signature.as_str())
                    || n.previous_digest_hash_value.as_deref().is_some_and(|h| !h.eq_ignore_ascii_case(&content_sha256))
            }) {
                state.verdict.findings.push(broken(&newer, &format!("it names {key} but not that digest's signature and hash")));
            }
            state.verdict.digests_valid += 1;
            if state.verdict.newest.is_none() {
                state.verdict.newest = digest.end_time().map(|end_time| Link {
                    bucket: digest.digest_s3_bucket.clone(),
                    key: digest.digest_s3_object.clone(),
                    end_time,
                    signature,
                });
            }
            self.check_logs(&mut state, &digest).await?;
            last_start = Some(digest.digest_start_time);
            match (digest.previous(), resume) {
                (Some((_, previous)), Some(link)) if previous == link.key => {
                    if digest.previous_digest_signature.as_deref() != Some(link.signature.as_str()) {
                        state.verdict.findings.push(broken(&digest, "it does not carry the signature of the digest it follows"));
                    }
                }
                (Some((_, previous)), Some(link)) if key_time(previous).is_none_or(|t| t <= link.end_time) => {
                    state.verdict.findings.push(broken(&digest, &format!("it links to {previous}, not to {}", link.key)));
                }
                (Some((b, previous)), _) => {
                    next = Some((b.to_owned(), previous.to_owned()));
                    expected = Some(digest.clone());
                }
                (None, _) => {
                    next = next_older(&mut older, &key).map(|k| (location.bucket.clone(), k));
                    if let Some(end) = next.as_ref().and_then(|(_, k)| key_time(k)) {
                        state.verdict.gaps.push(Gap { from: end, to: digest.digest_start_time });
                    }
                }
            }
        }
        state.verdict.findings.reverse();
        state.verdict.gaps.reverse();
        Ok(state.verdict)
    }

    /// One digest, judged, with its signature and the hash of its content when valid.
    async fn fetch(&self, state: &State, bucket: &str, key: &str) -> Result<Result<(Digest, String, String), Finding>, WalkError> {
        let Some(object) = self.port.get(&state.scope, bucket, key).await? else {
            return Ok(Err(Finding::new(Problem::DigestMissing, bucket, key, "the chain names it but S3 has no such object".into())));
        };
        let content = gunzip_first(&object.body).map(|(content, _)| content);
        let fetched = FetchedDigest {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            content_sha256: content.as_deref().map(sha256_hex).unwrap_or_default(),
            content,
            signature: object.metadata.get("signature").cloned(),
            signature_algorithm: object.metadata.get("signature-algorithm").cloned(),
        };
        let signature = fetched.signature.clone().unwrap_or_default();
        let hash = fetched.content_sha256.clone();
        Ok(judge_digest(&fetched, &state.keys, &verify_rsa_sha256).map(|digest| (digest, signature, hash)))
    }

    async fn check_logs(&self, state: &mut State, digest: &Digest) -> Result<(), WalkError> {
        for file in &digest.log_files {
            let read = match self.port.get(&state.scope, &file.s3_bucket, &file.s3_object).await? {
                Some(object) => read_log(&object.body),
                None => trailwarden_core::integrity::LogRead::Missing,
            };
            match judge_log(file, &read) {
                Some(finding) => state.verdict.findings.push(finding),
                None => state.verdict.logs_valid += 1,
            }
        }
        Ok(())
    }
}

struct State {
    verdict: Verdict,
    keys: Vec<PublicKey>,
    scope: Scope,
}

/// The newest listed key older than `key` (the listing is oldest first).
fn next_older(older: &mut Vec<String>, key: &str) -> Option<String> {
    let before = key_time(key);
    while let Some(candidate) = older.pop() {
        if before.is_none_or(|b| key_time(&candidate).is_some_and(|t| t < b)) {
            return Some(candidate);
        }
    }
    None
}

fn broken(digest: &Digest, why: &str) -> Finding {
    Finding::new(Problem::ChainBroken, &digest.digest_s3_bucket, &digest.digest_s3_object, why.to_owned())
}

#[cfg(test)]
mod tests;
