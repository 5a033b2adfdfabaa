//! Log-file integrity: the judgement of CloudTrail's digest chain, pure.
//!
//! With log-file validation on, CloudTrail delivers every hour, per region, a digest file
//! that lists the log files it delivered (each with the SHA-256 of its uncompressed
//! content), points at the previous digest, and is signed (SHA256withRSA) over its end
//! time, its own S3 location, the hash of its uncompressed content and the previous
//! digest's signature. The public keys come from CloudTrail's ListPublicKeys.
//! (<https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-log-file-validation-digest-file-structure.html>)
//!
//! What is here: where a trail's digests live ([`location`]), what one fetched digest or
//! log file proves ([`digest`], [`log`]), and the named findings and the verdict of a walk
//! ([`verdict`]). The walk itself (which object to fetch next) reads S3 and so lives with
//! the verifier in the binary crate; the signature arithmetic is handed in as a function,
//! so this crate stays free of any crypto or I/O.
//!
//! The verdicts follow AWS CLI's `cloudtrail validate-logs`, the judge users already have:
//! a digest is missing, moved, of an invalid format, signed by a key CloudTrail does not
//! list or not matching its signature; a log file is missing, carries data after the gzip
//! member CloudTrail wrote (which a reader that decompresses every member would take as
//! events), or does not hash to what its digest says.

pub mod digest;
pub mod location;
pub mod log;
pub mod verdict;

pub use digest::{Digest, FetchedDigest, LogFile, PublicKey, judge_digest};
pub use location::DigestLocation;
pub use log::{LogRead, judge_log};
pub use verdict::{Finding, Gap, Link, Problem, Verdict};

/// What the log verifier last found of a trail's chain, as the policy's status keeps it:
/// the input of the CT-LOG-INTEGRITY check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Standing {
    /// The end of the newest digest verified.
    pub verified_through: Option<jiff::Timestamp>,
    /// The first bad object found and why, while any is on record.
    pub first_finding: Option<String>,
    /// Why the last walk could not judge the chain.
    pub error: Option<String>,
}
