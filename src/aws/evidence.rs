//! The log verifier's reads: the digest and log files in S3 and CloudTrail's public keys.
//!
//! Kept apart from [`super::AwsPort`]: the pass never reads log files, and the verifier
//! never writes. Every read goes through [`SdkAws::call`], so it is paced, bounded by the
//! operation timeout and counted like any other.

use std::collections::HashMap;
use std::future::Future;

use aws_smithy_types::DateTime;
use jiff::Timestamp;
use trailwarden_core::Scope;
use trailwarden_core::integrity::PublicKey;

use super::clients::Service;
use super::paging::{Bound, pages};
use super::sdk::SdkAws;
use super::{AwsError, AwsResult, ErrorKind};

const S3: Service<aws_sdk_s3::Client> = Service { name: "S3", client: |c| c.s3(), paced: true, kept: None, bounded: true };
const CLOUDTRAIL: Service<aws_sdk_cloudtrail::Client> =
    Service { name: "CloudTrail", client: |c| c.cloudtrail(), paced: true, kept: None, bounded: true };

/// Most keys one listing returns before the verifier judges what it has (a day of hourly
/// digests for a year is under 9,000; a walk that meets more resumes from where it stopped).
pub const MAX_LISTED: usize = 10_000;
/// A listing read at most: [`MAX_LISTED`] items (S3 pages by up to 1,000; a page may hold fewer).
const LISTED: Bound = Bound { pages: MAX_LISTED, items: MAX_LISTED };

/// An S3 object, read whole: digest and log files are small (CloudTrail cuts log files at
/// about 50 MiB uncompressed; the verifier refuses bodies over [`MAX_OBJECT_BYTES`]).
#[derive(Clone, Debug)]
pub struct Object {
    pub body: Vec<u8>,
    pub metadata: HashMap<String, String>,
}

/// The largest object the verifier reads (compressed).
pub const MAX_OBJECT_BYTES: i64 = 64 * 1024 * 1024;

/// The reads the log verifier makes.
pub trait EvidencePort: Send + Sync {
    /// The region a bucket is in (S3 answers other regions with a redirect).
    fn bucket_region(&self, scope: &Scope, bucket: &str) -> impl Future<Output = AwsResult<String>> + Send;
    /// The keys under `prefix` after `start_after`, in S3's (lexicographic) order.
    fn list_after(&self, scope: &Scope, bucket: &str, prefix: &str, start_after: &str)
    -> impl Future<Output = AwsResult<Vec<String>>> + Send;
    /// The folders directly under `prefix` (S3's common prefixes with delimiter `/`), whole.
    fn list_folders(&self, scope: &Scope, bucket: &str, prefix: &str) -> impl Future<Output = AwsResult<Vec<String>>> + Send;
    /// The object, or None when S3 has no such key.
    fn get(&self, scope: &Scope, bucket: &str, key: &str) -> impl Future<Output = AwsResult<Option<Object>>> + Send;
    /// CloudTrail's public keys for the scope's region valid at some time in [from, to].
    fn public_keys(&self, scope: &Scope, from: Timestamp, to: Timestamp) -> impl Future<Output = AwsResult<Vec<PublicKey>>> + Send;
}

impl EvidencePort for SdkAws {
    async fn bucket_region(&self, scope: &Scope, bucket: &str) -> AwsResult<String> {
        let location = self.call(scope, &S3, "GetBucketLocation", |s3| s3.get_bucket_location().bucket(bucket).send()).await?;
        Ok(super::s3::bucket_region(&location))
    }

    async fn list_after(&self, scope: &Scope, bucket: &str, prefix: &str, start_after: &str) -> AwsResult<Vec<String>> {
        pages(LISTED, |token| async move {
            let page = self
                .call(scope, &S3, "ListObjectsV2", |s3| {
                    s3.list_objects_v2().bucket(bucket).prefix(prefix).start_after(start_after).set_continuation_token(token).send()
                })
                .await?;
            let keys = page.contents().iter().filter_map(|o| o.key().map(str::to_owned)).collect();
            Ok((keys, page.next_continuation_token().map(str::to_owned)))
        })
        .await
    }

    async fn list_folders(&self, scope: &Scope, bucket: &str, prefix: &str) -> AwsResult<Vec<String>> {
        pages(LISTED, |token| async move {
            let page = self
                .call(scope, &S3, "ListObjectsV2", |s3| {
                    s3.list_objects_v2().bucket(bucket).prefix(prefix).delimiter("/").set_continuation_token(token).send()
                })
                .await?;
            let folders = page.common_prefixes().iter().filter_map(|p| p.prefix().map(str::to_owned)).collect();
            Ok((folders, page.next_continuation_token().map(str::to_owned)))
        })
        .await
    }

    async fn get(&self, scope: &Scope, bucket: &str, key: &str) -> AwsResult<Option<Object>> {
        let answer = self.call(scope, &S3, "GetObject", |s3| s3.get_object().bucket(bucket).key(key).send()).await;
        let object = match answer {
            Ok(object) => object,
            Err(e) if e.kind == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        if object.content_length().unwrap_or(0) > MAX_OBJECT_BYTES {
            return Err(failed(ErrorKind::Invalid, "TooLarge", format!("s3://{bucket}/{key} is over {MAX_OBJECT_BYTES} bytes")));
        }
        let metadata = object.metadata().cloned().unwrap_or_default();
        let body = object
            .body
            .collect()
            .await
            .map_err(|e| failed(ErrorKind::Unavailable, "Unavailable", e.to_string()))?
            .into_bytes()
            .to_vec();
        Ok(Some(Object { body, metadata }))
    }

    async fn public_keys(&self, scope: &Scope, from: Timestamp, to: Timestamp) -> AwsResult<Vec<PublicKey>> {
        let time = |t: Timestamp| DateTime::from_secs(t.as_second());
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .call(scope, &CLOUDTRAIL, "ListPublicKeys", |ct| {
                    ct.list_public_keys().start_time(time(from)).end_time(time(to)).set_next_token(token.clone()).send()
                })
                .await?;
            for key in page.public_key_list() {
                let at = |t: Option<&DateTime>| t.and_then(|t| Timestamp::from_second(t.secs()).ok());
                let (Some(der), Some(fingerprint), Some(valid_from), Some(valid_to)) =
                    (key.value(), key.fingerprint(), at(key.validity_start_time()), at(key.validity_end_time()))
                else {
                    continue;
                };
                keys.push(PublicKey { fingerprint: fingerprint.to_owned(), der: der.as_ref().to_vec(), valid_from, valid_to });
            }
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                return Ok(keys);
            }
        }
    }
}

/// A GetObject whose body could not be had whole.
fn failed(kind: ErrorKind, code: &str, message: String) -> AwsError {
    AwsError { service: "S3", operation: "GetObject", kind, code: code.to_owned(), message }
}
