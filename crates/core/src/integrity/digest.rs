//! What one fetched digest file proves: in the order `validate-logs` checks it, the
//! first thing wrong with it, or the digest it is.

use jiff::Timestamp;
use serde::Deserialize;

use super::verdict::{Finding, Problem};

/// A digest file as CloudTrail writes it (the fields the verifier relies on).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Digest {
    pub digest_start_time: Timestamp,
    pub digest_end_time: String,
    pub digest_s3_bucket: String,
    pub digest_s3_object: String,
    pub digest_public_key_fingerprint: String,
    #[serde(default)]
    pub previous_digest_s3_bucket: Option<String>,
    #[serde(default)]
    pub previous_digest_s3_object: Option<String>,
    #[serde(default)]
    pub previous_digest_hash_value: Option<String>,
    pub previous_digest_signature: Option<String>,
    #[serde(default)]
    pub log_files: Vec<LogFile>,
}

/// A log file a digest vouches for.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LogFile {
    pub s3_bucket: String,
    pub s3_object: String,
    /// Hex SHA-256 of the uncompressed file.
    pub hash_value: String,
}

/// The fields without which a digest cannot be judged (present, even if null).
const REQUIRED: &[&str] = &[
    "digestPublicKeyFingerprint",
    "digestS3Bucket",
    "digestS3Object",
    "previousDigestSignature",
    "digestEndTime",
    "digestStartTime",
];

/// A digest object as read from S3.
#[derive(Clone, Debug)]
pub struct FetchedDigest {
    pub bucket: String,
    pub key: String,
    /// The uncompressed content, or None when it is not gzip.
    pub content: Option<Vec<u8>>,
    /// Hex SHA-256 of `content`.
    pub content_sha256: String,
    /// The object's `signature` metadata (hex) and `signature-algorithm`.
    pub signature: Option<String>,
    pub signature_algorithm: Option<String>,
}

/// One of CloudTrail's public keys for a region (ListPublicKeys).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    pub fingerprint: String,
    /// DER, PKCS#1 RSAPublicKey.
    pub der: Vec<u8>,
    pub valid_from: Timestamp,
    pub valid_to: Timestamp,
}

/// Verifies an RSA PKCS#1 v1.5 SHA-256 signature: (public key DER, message, signature).
pub type VerifySignature<'a> = &'a dyn Fn(&[u8], &[u8], &[u8]) -> bool;

impl Digest {
    /// The string CloudTrail signs: end time, the digest's own location, the hash of its
    /// uncompressed content and the previous digest's signature (`null` for the first).
    pub fn signed_string(&self, content_sha256: &str) -> String {
        format!(
            "{}\n{}/{}\n{}\n{}",
            self.digest_end_time,
            self.digest_s3_bucket,
            self.digest_s3_object,
            content_sha256,
            self.previous_digest_signature.as_deref().unwrap_or("null")
        )
    }

    pub fn end_time(&self) -> Option<Timestamp> {
        self.digest_end_time.parse().ok()
    }

    /// Where the previous digest of the chain is, when this one is not a chain's first.
    pub fn previous(&self) -> Option<(&str, &str)> {
        self.previous_digest_s3_bucket.as_deref().zip(self.previous_digest_s3_object.as_deref())
    }
}

/// Judges one fetched digest: format, signature metadata, location, key, signature.
pub fn judge_digest(fetched: &FetchedDigest, keys: &[PublicKey], verify: VerifySignature<'_>) -> Result<Digest, Finding> {
    let fail = |problem, detail: String| Finding::new(problem, &fetched.bucket, &fetched.key, detail);
    let invalid = || fail(Problem::DigestInvalidFormat, "not a gzip-compressed JSON digest with the fields CloudTrail writes".into());
    let content = fetched.content.as_deref().ok_or_else(invalid)?;
    let value: serde_json::Value = serde_json::from_slice(content).map_err(|_| invalid())?;
    let (Some(signature), Some(_)) = (&fetched.signature, &fetched.signature_algorithm) else {
        return Err(fail(Problem::DigestSignatureFailed, "the object carries no signature metadata".into()));
    };
    if !REQUIRED.iter().all(|field| value.get(field).is_some()) {
        return Err(invalid());
    }
    let digest: Digest = serde_json::from_value(value).map_err(|_| invalid())?;
    if digest.digest_s3_bucket != fetched.bucket || digest.digest_s3_object != fetched.key {
        return Err(fail(
            Problem::DigestMoved,
            format!("it says it was delivered to s3://{}/{}", digest.digest_s3_bucket, digest.digest_s3_object),
        ));
    }
    let fingerprint = &digest.digest_public_key_fingerprint;
    let end = digest.end_time();
    let Some(key) = keys
        .iter()
        .find(|k| &k.fingerprint == fingerprint && end.is_some_and(|end| k.valid_from <= end && end <= k.valid_to))
    else {
        return Err(fail(Problem::DigestKeyNotFound, format!("CloudTrail lists no public key {fingerprint} valid at its end time")));
    };
    let signed = digest.signed_string(&fetched.content_sha256);
    let verified = hex_decode(signature).is_some_and(|sig| verify(&key.der, signed.as_bytes(), &sig));
    if !verified {
        return Err(fail(Problem::DigestSignatureFailed, "its signature does not verify".into()));
    }
    Ok(digest)
}

fn hex_decode(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AWSLogs/1/CloudTrail-Digest/r/2015/08/17/d.json.gz";

    fn content(previous_signature: Option<&str>) -> Vec<u8> {
        serde_json::json!({
            "digestStartTime": "2015-08-17T14:01:31Z", "digestEndTime": "2015-08-17T15:01:31Z",
            "digestS3Bucket": "logs", "digestS3Object": KEY, "digestPublicKeyFingerprint": "fp",
            "previousDigestSignature": previous_signature, "logFiles": [],
        })
        .to_string()
        .into_bytes()
    }

    fn fetched(content: Vec<u8>) -> FetchedDigest {
        FetchedDigest {
            bucket: "logs".into(),
            key: KEY.into(),
            content: Some(content),
            content_sha256: "abc".into(),
            signature: Some("0a0b".into()),
            signature_algorithm: Some("SHA256withRSA".into()),
        }
    }

    fn keys() -> Vec<PublicKey> {
        vec![PublicKey {
            fingerprint: "fp".into(),
            der: vec![1],
            valid_from: "2015-01-01T00:00:00Z".parse().unwrap(),
            valid_to: "2016-01-01T00:00:00Z".parse().unwrap(),
        }]
    }

    /// A stand-in for RSA: "signed" when the signature is [0x0a, 0x0b] over the expected string.
    fn verify(expected: String) -> impl Fn(&[u8], &[u8], &[u8]) -> bool {
        move |der, message, sig| der == [1] && message == expected.as_bytes() && sig == [0x0a, 0x0b]
    }

    fn problem(result: Result<Digest, Finding>) -> Problem {
        result.unwrap_err().problem
    }

    #[test]
    fn a_signed_digest_in_place_is_valid_and_the_signed_string_is_cloudtrails() {
        let expected = format!("2015-08-17T15:01:31Z\nlogs/{KEY}\nabc\nnull");
        let digest = judge_digest(&fetched(content(None)), &keys(), &verify(expected)).unwrap();
        assert_eq!(digest.previous(), None);
        let chained = format!("2015-08-17T15:01:31Z\nlogs/{KEY}\nabc\nfeed");
        assert!(judge_digest(&fetched(content(Some("feed"))), &keys(), &verify(chained)).is_ok());
    }

    #[test]
    fn each_defect_is_named() {
        let ok = format!("2015-08-17T15:01:31Z\nlogs/{KEY}\nabc\nnull");
        let v = verify(ok);
        let mut not_gzip = fetched(content(None));
        not_gzip.content = None;
        assert_eq!(problem(judge_digest(&not_gzip, &keys(), &v)), Problem::DigestInvalidFormat);
        assert_eq!(problem(judge_digest(&fetched(b"{}".to_vec()), &keys(), &v)), Problem::DigestInvalidFormat);
        let mut unsigned = fetched(content(None));
        unsigned.signature = None;
        assert_eq!(problem(judge_digest(&unsigned, &keys(), &v)), Problem::DigestSignatureFailed);
        let mut moved = fetched(content(None));
        moved.key = "elsewhere.json.gz".into();
        assert_eq!(problem(judge_digest(&moved, &keys(), &v)), Problem::DigestMoved);
        let mut stale = keys();
        stale[0].valid_to = "2015-08-17T15:00:00Z".parse().unwrap();
        assert_eq!(problem(judge_digest(&fetched(content(None)), &stale, &v)), Problem::DigestKeyNotFound);
        assert_eq!(problem(judge_digest(&fetched(content(None)), &[], &v)), Problem::DigestKeyNotFound);
        let mut forged = fetched(content(None));
        forged.signature = Some("0a0c".into());
        assert_eq!(problem(judge_digest(&forged, &keys(), &v)), Problem::DigestSignatureFailed);
        forged.signature = Some("zz".into());
        assert_eq!(problem(judge_digest(&forged, &keys(), &v)), Problem::DigestSignatureFailed);
        // The content changed: its hash is no longer the one signed.
        let mut changed = fetched(content(None));
        changed.content_sha256 = "abd".into();
        assert_eq!(problem(judge_digest(&changed, &keys(), &v)), Problem::DigestSignatureFailed);
    }
}
