//! Turns SDK failures into the port's [`AwsError`], classified once by AWS's error code
//! so the pass decides on kinds, never on strings.

use std::error::Error;
use std::fmt::Debug;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::error::operation::BuildError;
use trailwarden_core::posture::bucket::Known;

use super::{AwsError, AwsResult, ErrorKind};

/// The port's error for a failed SDK call of `service.operation`.
pub(super) fn aws_error<E, R>(service: &'static str, operation: &'static str, err: SdkError<E, R>) -> AwsError
where
    E: ProvideErrorMetadata + Error + 'static,
    R: Debug,
{
    let context = || DisplayErrorContext(&err).to_string();
    let (code, message, kind) = match &err {
        SdkError::ServiceError(service_err) => {
            let e = service_err.err();
            let code = e.code().unwrap_or("Unknown").to_owned();
            let kind = classify(service, &code);
            (code, e.message().unwrap_or_default().to_owned(), kind)
        }
        // A request that could not be built carries a value AWS would refuse anyway.
        SdkError::ConstructionFailure(_) if Error::source(&err).is_some_and(|s| s.is::<BuildError>()) => {
            ("InvalidRequest".to_owned(), context(), ErrorKind::Invalid)
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            ("Unavailable".to_owned(), context(), ErrorKind::Unavailable)
        }
        _ => ("Unknown".to_owned(), context(), ErrorKind::Other),
    };
    AwsError { service, operation, kind, code, message }
}

/// The kind of an AWS error code. The service matters where codes are shared: KMS says
/// NotFoundException of a key, other services of whatever the call named.
pub(super) fn classify(service: &str, code: &str) -> ErrorKind {
    match code {
        "S3BucketDoesNotExistException" | "NoSuchBucket" => ErrorKind::BucketNotFound,
        "KmsKeyNotFoundException" | "KmsKeyDisabledException" => ErrorKind::KeyNotFound,
        "TrailAlreadyExistsException" => ErrorKind::Exists,
        "NotFoundException" if service == "KMS" => ErrorKind::KeyNotFound,
        "TrailNotFoundException" | "NotFoundException" | "ResourceNotFoundException" | "InsightNotEnabledException" => {
            ErrorKind::NotFound
        }
        "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" | "InvalidClientTokenId" | "ExpiredToken"
        | "NotOrganizationMasterAccountException" | "InsufficientDependencyServiceAccessPermissionException" => {
            ErrorKind::AccessDenied
        }
        "ThrottlingException" | "Throttling" | "TooManyRequestsException" | "RequestLimitExceeded" | "SlowDown" => {
            ErrorKind::Throttled
        }
        "InternalFailure" | "InternalError" | "InternalErrorException" | "ServiceUnavailable" | "ServiceUnavailableException"
        | "KMSInternalException" | "CloudTrailInternalException" => ErrorKind::Unavailable,
        c if c.starts_with("Invalid")
            || c.starts_with("Insufficient")
            || c.contains("DoesNotExist")
            || c.ends_with("NotFoundException") =>
        {
            ErrorKind::Invalid
        }
        _ => ErrorKind::Other,
    }
}

/// Reads one posture fact: the answer, or why it could not be read. `unconfigured` names
/// the error codes by which AWS says "nothing configured", and what that means.
pub(super) fn fact<T>(result: AwsResult<T>, unconfigured: Option<(&[&str], T)>) -> Known<T> {
    result.or_else(|e| match unconfigured {
        Some((codes, meaning)) if codes.contains(&e.code.as_str()) => Ok(meaning),
        _ => Err(e.to_string()),
    })
}

/// Whether a policy document read just before a put is still the one the put was judged
/// from: the same text, or the same JSON (whitespace and key order aside). `None`: there
/// was no policy.
pub(super) fn same_policy(judged: Option<&str>, now: Option<&str>) -> bool {
    let json = |text: &str| serde_json::from_str::<serde_json::Value>(text).ok();
    match (judged, now) {
        (None, None) => true,
        (Some(a), Some(b)) => a == b || json(a).is_some_and(|a| json(b) == Some(a)),
        _ => false,
    }
}

/// The refusal of a policy put whose document changed since it was judged (`what`: "the
/// bucket policy of logs", say). Nothing was written; the next pass reads and judges again.
pub(super) fn policy_changed(service: &'static str, operation: &'static str, what: &str) -> AwsError {
    AwsError {
        service,
        operation,
        kind: ErrorKind::Conflict,
        code: "PolicyChanged".into(),
        message: format!("{what} changed since it was read; not written, judged again at the next pass"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_map_to_kinds_the_pass_decides_on() {
        assert_eq!(classify("CloudTrail", "TrailNotFoundException"), ErrorKind::NotFound);
        assert_eq!(classify("CloudTrail", "AccessDeniedException"), ErrorKind::AccessDenied);
        assert_eq!(classify("CloudTrail", "ThrottlingException"), ErrorKind::Throttled);
        assert_eq!(classify("CloudTrail", "InvalidTrailNameException"), ErrorKind::Invalid);
        assert_eq!(classify("CloudTrail", "SomethingNew"), ErrorKind::Other);
        assert_eq!(classify("S3", "SlowDown"), ErrorKind::Throttled, "S3 throttles in its own words");
        assert_eq!(classify("CloudTrail", "InternalFailure"), ErrorKind::Unavailable);
        assert_eq!(classify("S3", "InternalError"), ErrorKind::Unavailable);
    }

    #[test]
    fn a_missing_bucket_or_key_has_its_own_kind() {
        assert_eq!(classify("CloudTrail", "S3BucketDoesNotExistException"), ErrorKind::BucketNotFound);
        assert_eq!(classify("S3", "NoSuchBucket"), ErrorKind::BucketNotFound);
        assert_eq!(classify("CloudTrail", "KmsKeyNotFoundException"), ErrorKind::KeyNotFound);
        assert_eq!(classify("CloudTrail", "KmsKeyDisabledException"), ErrorKind::KeyNotFound);
        assert_eq!(classify("KMS", "NotFoundException"), ErrorKind::KeyNotFound);
        assert_eq!(classify("SNS", "NotFoundException"), ErrorKind::NotFound);
    }

    #[test]
    fn a_request_that_cannot_be_built_is_invalid() {
        use aws_sdk_cloudtrail::operation::put_event_selectors::PutEventSelectorsError;
        let unbuilt: SdkError<PutEventSelectorsError, ()> =
            SdkError::construction_failure(BuildError::missing_field("field", "an advanced selector needs a field"));
        let e = aws_error("CloudTrail", "PutEventSelectors", unbuilt);
        assert_eq!((e.kind, e.operation), (ErrorKind::Invalid, "PutEventSelectors"));
        assert!(e.message.contains("needs a field"), "{}", e.message);
    }

    #[test]
    fn an_unconfigured_fact_has_its_meaning_and_other_failures_their_reason() {
        let failed = |code: &str| -> AwsResult<Option<String>> {
            Err(AwsError {
                service: "S3",
                operation: "GetBucketPolicy",
                kind: classify("S3", code),
                code: code.into(),
                message: "no".into(),
            })
        };
        let unconfigured = || Some((&["NoSuchBucketPolicy"][..], None));
        assert_eq!(fact(failed("NoSuchBucketPolicy"), unconfigured()), Ok(None));
        let why = fact(failed("AccessDenied"), unconfigured()).unwrap_err();
        assert!(why.contains("AccessDenied"), "{why}");
    }

    #[test]
    fn a_policy_is_the_same_whatever_its_whitespace_and_key_order() {
        let judged = r#"{"Version": "2012-10-17", "Statement": []}"#;
        assert!(same_policy(Some(judged), Some(r#"{"Statement":[],"Version":"2012-10-17"}"#)));
        assert!(same_policy(None, None));
        assert!(!same_policy(None, Some(judged)), "a policy appeared meanwhile");
        assert!(!same_policy(Some(judged), None), "the policy was deleted meanwhile");
        assert!(!same_policy(Some(judged), Some(r#"{"Version": "2012-10-17", "Statement": [{"Sid": "X"}]}"#)));
        assert!(same_policy(Some("{not json"), Some("{not json")));
        let refused = policy_changed("S3", "PutBucketPolicy", "the bucket policy of logs");
        assert_eq!(refused.kind, ErrorKind::Conflict);
        assert_eq!(refused.category(), trailwarden_core::report::Failure::PolicyChanged);
        assert!(refused.to_string().contains("the bucket policy of logs changed since it was read"), "{refused}");
    }
}
