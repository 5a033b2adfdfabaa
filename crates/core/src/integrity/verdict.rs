//! The named findings of a walk along a digest chain, and its verdict.

use jiff::Timestamp;
use serde::Serialize;

/// What is wrong with one digest or log file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, strum::IntoStaticStr)]
pub enum Problem {
    /// A digest the chain points at is not in S3.
    DigestMissing,
    /// A digest is not where it says it was delivered.
    DigestMoved,
    /// Not gzip, not JSON, or without the fields CloudTrail writes.
    DigestInvalidFormat,
    /// Signed by a key CloudTrail does not list (or not at the digest's time).
    DigestKeyNotFound,
    /// No signature metadata, or a signature that does not verify.
    DigestSignatureFailed,
    /// The chain links to a digest other than the last one verified.
    ChainBroken,
    LogMissing,
    LogInvalidFormat,
    LogHashMismatch,
    LogTrailingData,
}

impl Problem {
    pub const ALL: [Problem; 10] = [
        Problem::DigestMissing,
        Problem::DigestMoved,
        Problem::DigestInvalidFormat,
        Problem::DigestKeyNotFound,
        Problem::DigestSignatureFailed,
        Problem::ChainBroken,
        Problem::LogMissing,
        Problem::LogInvalidFormat,
        Problem::LogHashMismatch,
        Problem::LogTrailingData,
    ];

    pub fn is_digest(self) -> bool {
        !matches!(self, Problem::LogMissing | Problem::LogInvalidFormat | Problem::LogHashMismatch | Problem::LogTrailingData)
    }
}

/// One bad object, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub problem: Problem,
    pub bucket: String,
    pub key: String,
    pub detail: String,
}

impl Finding {
    pub fn new(problem: Problem, bucket: &str, key: &str, detail: String) -> Self {
        Finding { problem, bucket: bucket.to_owned(), key: key.to_owned(), detail }
    }

    /// `s3://bucket/key`.
    pub fn object(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

/// A time with no digest: the chain started again (logging or validation was off), as
/// CloudTrail documents; reported, not a defect by itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Gap {
    pub from: Timestamp,
    pub to: Timestamp,
}

/// The newest digest verified: where a later walk resumes, and what the next digest must
/// link to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Link {
    pub bucket: String,
    pub key: String,
    pub end_time: Timestamp,
    pub signature: String,
}

/// What a walk along the chain found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    pub digests_valid: u32,
    pub logs_valid: u32,
    /// Oldest first.
    pub findings: Vec<Finding>,
    pub gaps: Vec<Gap>,
    /// The newest valid digest seen.
    pub newest: Option<Link>,
}

impl Verdict {
    pub fn intact(&self) -> bool {
        self.findings.is_empty()
    }

    pub fn digests_invalid(&self) -> usize {
        self.findings.iter().filter(|f| f.problem.is_digest()).count()
    }

    pub fn logs_invalid(&self) -> usize {
        self.findings.len() - self.digests_invalid()
    }

    /// The first bad object, in the order the chain was written.
    pub fn first(&self) -> Option<&Finding> {
        self.findings.first()
    }
}
