//! What one fetched log file proves against the digest that lists it.

use super::digest::LogFile;
use super::verdict::{Finding, Problem};

/// A log file as read from S3.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogRead {
    /// S3 has no such object.
    Missing,
    /// Not gzip.
    Unreadable,
    Read {
        /// Hex SHA-256 of the first gzip member, uncompressed (what CloudTrail hashed).
        sha256: String,
        /// Whether bytes follow that member (another member appended, or junk).
        trailing: bool,
    },
}

/// Judges a log file: None when it is what its digest says.
pub fn judge_log(file: &LogFile, read: &LogRead) -> Option<Finding> {
    let finding = |problem, detail: &str| Some(Finding::new(problem, &file.s3_bucket, &file.s3_object, detail.to_owned()));
    match read {
        LogRead::Missing => finding(Problem::LogMissing, "the digest lists it but S3 has no such object"),
        LogRead::Unreadable => finding(Problem::LogInvalidFormat, "not gzip"),
        // Checked before the hash, as `validate-logs` does: whatever the first member holds,
        // data after it is not what CloudTrail wrote.
        LogRead::Read { trailing: true, .. } => finding(
            Problem::LogTrailingData,
            "data follows the gzip member CloudTrail wrote; a reader that decompresses every member would take it as events",
        ),
        LogRead::Read { sha256, .. } if !sha256.eq_ignore_ascii_case(&file.hash_value) => {
            finding(Problem::LogHashMismatch, "its content does not hash to the value its digest holds")
        }
        LogRead::Read { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> LogFile {
        LogFile { s3_bucket: "logs".into(), s3_object: "a.json.gz".into(), hash_value: "ABCD".into() }
    }

    fn read(sha256: &str, trailing: bool) -> LogRead {
        LogRead::Read { sha256: sha256.into(), trailing }
    }

    #[test]
    fn a_log_is_judged_by_its_hash_then_by_what_follows() {
        assert_eq!(judge_log(&file(), &read("abcd", false)), None);
        let problem = |r: &LogRead| judge_log(&file(), r).unwrap().problem;
        assert_eq!(problem(&read("abce", false)), Problem::LogHashMismatch);
        assert_eq!(problem(&read("abce", true)), Problem::LogTrailingData);
        assert_eq!(problem(&read("abcd", true)), Problem::LogTrailingData);
        assert_eq!(problem(&LogRead::Missing), Problem::LogMissing);
        assert_eq!(problem(&LogRead::Unreadable), Problem::LogInvalidFormat);
    }
}
