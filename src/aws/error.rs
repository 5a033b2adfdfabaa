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
        // The role's credentials could not be had (AssumeRole refused, expired, its
        // region disabled): the SDK reports it as a failure to dispatch, but no retry of
        // the call can fix it.
        SdkError::DispatchFailure(_) if credentials_refused(Error::source(&err)) => {
            ("AssumeRoleRefused".to_owned(), context(), ErrorKind::Credentials)
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            ("Unavailable".to_owned(), context(), ErrorKind::Unavailable)
        }
        _ => ("Unknown".to_owned(), context(), ErrorKind::Other),
    };
    AwsError { service, operation, kind, code, message }
}

/// The kind of an AWS error code: its row in [`CODES`] for the service, else its row for
/// any service, else [`ErrorKind::Other`].
pub fn classify(service: &str, code: &str) -> ErrorKind {
    let row = |svc: &str| CODES.iter().find(|(s, c, _)| *s == svc && *c == code).map(|(_, _, kind)| *kind);
    row(service).or_else(|| row(ANY)).unwrap_or(ErrorKind::Other)
}

/// Codes any service may answer (authentication, throttling, outages).
pub const ANY: &str = "*";

/// Every error code the adapter can meet, with the kind the pass decides on, one row each.
/// For every operation the adapter calls, each error its service model (botocore's
/// `service-2.json`) declares has a row under the service's name (tests/e2e/error_codes.rs
/// holds the table against the models); S3 declares almost none in its model, so its rows
/// follow the S3 API reference's error responses. A code shared by services differs by
/// service where it means different things (KMS's NotFoundException is a key).
pub const CODES: &[(&str, &str, ErrorKind)] = {
    use ErrorKind::*;
    &[
        // Any service: credentials, signatures, throttling, outages.
        (ANY, "AccessDenied", AccessDenied),
        (ANY, "AccessDeniedException", AccessDenied),
        (ANY, "UnauthorizedOperation", AccessDenied),
        (ANY, "ExpiredToken", Credentials),
        (ANY, "ExpiredTokenException", Credentials),
        (ANY, "RequestExpired", Credentials),
        (ANY, "InvalidClientTokenId", Credentials),
        (ANY, "UnrecognizedClientException", Credentials),
        (ANY, "InvalidAccessKeyId", Credentials),
        (ANY, "SignatureDoesNotMatch", Credentials),
        (ANY, "InvalidSignatureException", Credentials),
        (ANY, "IncompleteSignature", Credentials),
        (ANY, "MissingAuthenticationToken", Credentials),
        (ANY, "ThrottlingException", Throttled),
        (ANY, "Throttling", Throttled),
        (ANY, "TooManyRequestsException", Throttled),
        (ANY, "RequestLimitExceeded", Throttled),
        (ANY, "InternalFailure", Unavailable),
        (ANY, "InternalError", Unavailable),
        (ANY, "ServiceUnavailable", Unavailable),
        (ANY, "ServiceUnavailableException", Unavailable),
        // CloudTrail.
        ("CloudTrail", "TrailNotFoundException", NotFound),
        ("CloudTrail", "TrailAlreadyExistsException", Exists),
        ("CloudTrail", "S3BucketDoesNotExistException", BucketNotFound),
        ("CloudTrail", "KmsKeyNotFoundException", KeyNotFound),
        ("CloudTrail", "KmsKeyDisabledException", KeyNotFound),
        ("CloudTrail", "InsufficientS3BucketPolicyException", DeliveryRefused),
        ("CloudTrail", "InsufficientEncryptionPolicyException", DeliveryRefused),
        ("CloudTrail", "InsufficientSnsTopicPolicyException", DeliveryRefused),
        ("CloudTrail", "KmsException", DeliveryRefused),
        ("CloudTrail", "CloudWatchLogsDeliveryUnavailableException", DeliveryRefused),
        ("CloudTrail", "MaximumNumberOfTrailsExceededException", Quota),
        ("CloudTrail", "TagsLimitExceededException", Quota),
        ("CloudTrail", "CloudTrailAccessNotEnabledException", Organization),
        ("CloudTrail", "OrganizationsNotInUseException", Organization),
        ("CloudTrail", "OrganizationNotInAllFeaturesModeException", Organization),
        ("CloudTrail", "NotOrganizationMasterAccountException", Organization),
        ("CloudTrail", "NoManagementAccountSLRExistsException", Organization),
        ("CloudTrail", "InsufficientDependencyServiceAccessPermissionException", Organization),
        ("CloudTrail", "InvalidHomeRegionException", WrongRegion),
        ("CloudTrail", "CloudTrailInvalidClientTokenIdException", Credentials),
        ("CloudTrail", "OperationNotPermittedException", AccessDenied),
        ("CloudTrail", "ConflictException", Throttled),
        ("CloudTrail", "InsightNotEnabledException", NotFound),
        ("CloudTrail", "ResourceNotFoundException", NotFound),
        ("CloudTrail", "CloudTrailARNInvalidException", Invalid),
        ("CloudTrail", "InvalidTrailNameException", Invalid),
        ("CloudTrail", "TrailNotProvidedException", Invalid),
        ("CloudTrail", "InvalidS3BucketNameException", Invalid),
        ("CloudTrail", "InvalidS3PrefixException", Invalid),
        ("CloudTrail", "InvalidSnsTopicNameException", Invalid),
        ("CloudTrail", "InvalidKmsKeyIdException", Invalid),
        ("CloudTrail", "InvalidCloudWatchLogsLogGroupArnException", Invalid),
        ("CloudTrail", "InvalidCloudWatchLogsRoleArnException", Invalid),
        ("CloudTrail", "InvalidEventSelectorsException", Invalid),
        ("CloudTrail", "InvalidInsightSelectorsException", Invalid),
        ("CloudTrail", "InvalidParameterCombinationException", Invalid),
        ("CloudTrail", "InvalidParameterException", Invalid),
        ("CloudTrail", "InvalidTagParameterException", Invalid),
        ("CloudTrail", "InvalidTokenException", Invalid),
        ("CloudTrail", "ResourceTypeNotSupportedException", Invalid),
        ("CloudTrail", "UnsupportedOperationException", Invalid),
        // Named by the model for the calls we make, about event data stores and channels,
        // which trails never are.
        ("CloudTrail", "ChannelARNInvalidException", Invalid),
        ("CloudTrail", "ChannelNotFoundException", NotFound),
        ("CloudTrail", "EventDataStoreARNInvalidException", Invalid),
        ("CloudTrail", "EventDataStoreNotFoundException", NotFound),
        ("CloudTrail", "InactiveEventDataStoreException", Invalid),
        // ListPublicKeys (the log verifier).
        ("CloudTrail", "InvalidTimeRangeException", Invalid),
        // S3 (API reference, "Error responses").
        ("S3", "NoSuchBucket", BucketNotFound),
        ("S3", "NoSuchKey", NotFound),
        ("S3", "InvalidObjectState", Invalid),
        ("S3", "PermanentRedirect", WrongRegion),
        ("S3", "AuthorizationHeaderMalformed", WrongRegion),
        ("S3", "IllegalLocationConstraintException", WrongRegion),
        ("S3", "MethodNotAllowed", NotOwner),
        ("S3", "SlowDown", Throttled),
        ("S3", "MalformedPolicy", Invalid),
        ("S3", "InvalidBucketName", Invalid),
        ("S3", "InvalidArgument", Invalid),
        ("S3", "InvalidRequest", Invalid),
        ("S3", "OperationAborted", Throttled),
        // Answers that mean "nothing configured": read as facts where they are expected
        // (see `fact`), an error anywhere else.
        ("S3", "NoSuchBucketPolicy", NotFound),
        ("S3", "NoSuchPublicAccessBlockConfiguration", NotFound),
        ("S3", "NoSuchLifecycleConfiguration", NotFound),
        ("S3", "ServerSideEncryptionConfigurationNotFoundError", NotFound),
        ("S3", "ObjectLockConfigurationNotFoundError", NotFound),
        ("S3", "InvalidBucketState", Invalid),
        ("S3", "OwnershipControlsNotFoundError", NotFound),
        // KMS.
        ("KMS", "NotFoundException", KeyNotFound),
        ("KMS", "DisabledException", KeyNotFound),
        ("KMS", "KMSInvalidStateException", KeyNotFound),
        ("KMS", "InvalidArnException", Invalid),
        ("KMS", "MalformedPolicyDocumentException", Invalid),
        ("KMS", "UnsupportedOperationException", Invalid),
        ("KMS", "LimitExceededException", Throttled),
        ("KMS", "DependencyTimeoutException", Unavailable),
        ("KMS", "KMSInternalException", Unavailable),
        // STS (the role's AssumeRole, our own GetCallerIdentity).
        ("STS", "RegionDisabledException", Credentials),
        ("STS", "MalformedPolicyDocument", Invalid),
        ("STS", "PackedPolicyTooLarge", Invalid),
        ("STS", "InvalidContextAssertion", Invalid),
        // SNS (Publish to the policy's notify topic).
        ("SNS", "AuthorizationError", AccessDenied),
        ("SNS", "NotFound", NotFound),
        ("SNS", "EndpointDisabled", NotFound),
        ("SNS", "PlatformApplicationDisabled", NotFound),
        ("SNS", "InvalidParameter", Invalid),
        ("SNS", "ParameterValueInvalid", Invalid),
        ("SNS", "ValidationException", Invalid),
        ("SNS", "InvalidSecurity", Credentials),
        ("SNS", "KMSAccessDenied", AccessDenied),
        ("SNS", "KMSDisabled", KeyNotFound),
        ("SNS", "KMSInvalidState", KeyNotFound),
        ("SNS", "KMSNotFound", KeyNotFound),
        ("SNS", "KMSOptInRequired", AccessDenied),
        ("SNS", "KMSThrottling", Throttled),
        // SQS (the events queue).
        ("SQS", "QueueDoesNotExist", NotFound),
        ("SQS", "AWS.SimpleQueueService.NonExistentQueue", NotFound),
        ("SQS", "RequestThrottled", Throttled),
        ("SQS", "OverLimit", Throttled),
        ("SQS", "InvalidSecurity", Credentials),
        ("SQS", "KmsAccessDenied", AccessDenied),
        ("SQS", "KmsDisabled", KeyNotFound),
        ("SQS", "KmsInvalidKeyUsage", KeyNotFound),
        ("SQS", "KmsInvalidState", KeyNotFound),
        ("SQS", "KmsNotFound", KeyNotFound),
        ("SQS", "KmsOptInRequired", AccessDenied),
        ("SQS", "KmsThrottled", Throttled),
        ("SQS", "ReceiptHandleIsInvalid", Invalid),
        ("SQS", "InvalidAddress", Invalid),
        ("SQS", "InvalidIdFormat", Invalid),
        ("SQS", "InvalidBatchEntryId", Invalid),
        ("SQS", "BatchEntryIdsNotDistinct", Invalid),
        ("SQS", "EmptyBatchRequest", Invalid),
        ("SQS", "TooManyEntriesInBatchRequest", Invalid),
        ("SQS", "UnsupportedOperation", Invalid),
        // Organizations: DescribeOrganization for organization trails; the walk of a
        // TrailPolicySet; its service control policy.
        ("Organizations", "AWSOrganizationsNotInUseException", Organization),
        ("Organizations", "ConcurrentModificationException", Throttled),
        ("Organizations", "PolicyChangesInProgressException", Throttled),
        ("Organizations", "ServiceException", Unavailable),
        ("Organizations", "UnsupportedAPIEndpointException", Organization),
        ("Organizations", "InvalidInputException", Invalid),
        ("Organizations", "ParentNotFoundException", NotFound),
        ("Organizations", "TargetNotFoundException", NotFound),
        ("Organizations", "PolicyNotFoundException", NotFound),
        ("Organizations", "PolicyNotAttachedException", NotFound),
        ("Organizations", "DuplicatePolicyException", Exists),
        ("Organizations", "DuplicatePolicyAttachmentException", Exists),
        ("Organizations", "MalformedPolicyDocumentException", Invalid),
        // Too many SCPs on a target, a document over 5,120 characters: quotas AWS does not raise.
        ("Organizations", "ConstraintViolationException", Quota),
        // SCPs not enabled in the root, or not available (consolidated billing only).
        ("Organizations", "PolicyTypeNotEnabledException", Organization),
        ("Organizations", "PolicyTypeNotAvailableForOrganizationException", Organization),
    ]
};

/// Whether a dispatch failure is the credentials provider's refusal (the role could not be
/// assumed: trust policy, external id, STS disabled in the region), found by its type in
/// the error's chain. A provider that timed out is an outage like any other.
fn credentials_refused(source: Option<&(dyn Error + 'static)>) -> bool {
    use aws_credential_types::provider::error::CredentialsError;
    std::iter::successors(source, |e| (*e).source())
        .find_map(|e| e.downcast_ref::<CredentialsError>())
        .is_some_and(|c| !matches!(c, CredentialsError::ProviderTimedOut(_)))
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
        assert_eq!(classify("CloudTrail", "MaximumNumberOfTrailsExceededException"), ErrorKind::Quota);
        assert_eq!(classify("CloudTrail", "InsufficientS3BucketPolicyException"), ErrorKind::DeliveryRefused);
        assert_eq!(classify("CloudTrail", "CloudTrailAccessNotEnabledException"), ErrorKind::Organization);
        assert_eq!(classify("S3", "PermanentRedirect"), ErrorKind::WrongRegion);
        assert_eq!(classify("S3", "MethodNotAllowed"), ErrorKind::NotOwner);
        assert_eq!(classify("STS", "ExpiredTokenException"), ErrorKind::Credentials);
        assert_eq!(classify("SNS", "AuthorizationError"), ErrorKind::AccessDenied);
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
        assert_eq!(classify("SNS", "NotFound"), ErrorKind::NotFound, "SNS names it without the suffix");
    }

    #[test]
    fn a_refused_role_is_credentials_and_a_provider_timeout_an_outage() {
        use aws_credential_types::provider::error::CredentialsError;
        use aws_sdk_cloudtrail::operation::start_logging::StartLoggingError;
        use aws_smithy_runtime_api::client::result::ConnectorError;
        let failed = |c: CredentialsError| -> SdkError<StartLoggingError, ()> {
            SdkError::dispatch_failure(ConnectorError::other(Box::new(c), None))
        };
        let refused = aws_error("CloudTrail", "StartLogging", failed(CredentialsError::provider_error("AccessDenied: not authorized to perform sts:AssumeRole")));
        assert_eq!((refused.kind, refused.category()), (ErrorKind::Credentials, trailwarden_core::report::Failure::CredentialsRefused));
        let slow = aws_error("CloudTrail", "StartLogging", failed(CredentialsError::provider_timed_out(std::time::Duration::from_secs(5))));
        assert_eq!(slow.kind, ErrorKind::Unavailable);
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
