//! [`AwsPort`] on the AWS SDK for Rust. Clients are built per [`Scope`] (assuming the
//! scope's role through STS when it names one) and share one endpoint override, so the
//! same code talks to AWS in production and to the emulator in tests.

use std::collections::HashMap;
use std::sync::Arc;

use aws_config::{BehaviorVersion, SdkConfig, retry::RetryConfig};
use aws_sdk_cloudtrail::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudtrail::types as ct;
use aws_smithy_types::DateTime;
use aws_types::region::Region;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use tokio::sync::Mutex;

use super::calls::{RecordCalls, is_write};
use super::limiter::Limiter;
use super::{AwsError, AwsPort, AwsResult, CallLog, ErrorKind, RateLimits, Scope};
use crate::resources::{BucketFacts, KeyFacts, Known};
use crate::api::{self, Delivery, InsightType, ReadWriteType};
use crate::trail::{CloudWatchTarget, Insights, Selectors, Tags, TrailDescription, TrailSettings, TrailStatus};

/// How to reach AWS.
#[derive(Clone, Default)]
pub struct AwsOptions {
    /// Send every call here instead of AWS (the emulator in tests and the demo).
    pub endpoint_url: Option<String>,
    /// Attempts per call, the first included; 1 turns retries off.
    pub max_attempts: u32,
    pub rate_limits: RateLimits,
    /// Where to count calls, latencies and throttles.
    pub metrics: Option<crate::metrics::AwsMetrics>,
}

#[derive(Clone)]
struct Clients {
    config: SdkConfig,
    cloudtrail: aws_sdk_cloudtrail::Client,
    kms: aws_sdk_kms::Client,
    s3: aws_sdk_s3::Client,
    sns: aws_sdk_sns::Client,
    sts: aws_sdk_sts::Client,
}

/// The SDK-backed port. Cheap to clone; clones share clients, limits and the call log.
#[derive(Clone)]
pub struct SdkAws {
    base: SdkConfig,
    options: AwsOptions,
    clients: Arc<Mutex<HashMap<Scope, Clients>>>,
    limiter: Arc<Limiter>,
    calls: CallLog,
}

impl SdkAws {
    /// Loads credentials and settings the standard way (env, profile, web identity, IMDS).
    pub async fn new(options: AwsOptions) -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(RetryConfig::standard().with_max_attempts(options.max_attempts.max(1)));
        if let Some(url) = &options.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let base = loader.load().await;
        SdkAws {
            base,
            limiter: Arc::new(Limiter::new(options.rate_limits)),
            calls: CallLog::with_metrics(options.metrics.clone()),
            options,
            clients: Arc::default(),
        }
    }

    /// Every operation this port has sent so far.
    pub fn calls(&self) -> &CallLog {
        &self.calls
    }

    /// The SDK configuration for a scope: its region and, for another account, the
    /// assumed role's credentials. Tests use it to build S3/KMS clients of their own.
    pub async fn sdk_config(&self, scope: &Scope) -> SdkConfig {
        self.clients(scope).await.config
    }

    /// An S3 client for the scope, path-style when an endpoint override is set (as emulators need).
    pub async fn s3(&self, scope: &Scope) -> aws_sdk_s3::Client {
        self.clients(scope).await.s3
    }

    async fn clients(&self, scope: &Scope) -> Clients {
        let mut cache = self.clients.lock().await;
        if let Some(clients) = cache.get(scope) {
            return clients.clone();
        }
        let mut builder = self.base.to_builder();
        builder.set_region(Some(Region::new(scope.region.clone())));
        if let Some(role_arn) = &scope.role_arn {
            let mut provider = aws_config::sts::AssumeRoleProvider::builder(role_arn)
                .session_name("trailwarden")
                .region(Region::new(scope.region.clone()));
            if let Some(external_id) = &scope.external_id {
                provider = provider.external_id(external_id);
            }
            let provider = provider.configure(&self.base).build().await;
            // The provider's own STS client does not pass through our interceptor; the
            // role is assumed for this scope's calls, so record that here.
            self.calls.count("STS", "AssumeRole");
            builder.set_credentials_provider(Some(aws_credential_types::provider::SharedCredentialsProvider::new(
                provider,
            )));
        }
        let config = builder.build();
        let cloudtrail = aws_sdk_cloudtrail::Client::from_conf(
            aws_sdk_cloudtrail::config::Builder::from(&config).interceptor(RecordCalls(self.calls.clone())).build(),
        );
        let kms = aws_sdk_kms::Client::from_conf(
            aws_sdk_kms::config::Builder::from(&config).interceptor(RecordCalls(self.calls.clone())).build(),
        );
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&config)
                .force_path_style(self.options.endpoint_url.is_some())
                .interceptor(RecordCalls(self.calls.clone()))
                .build(),
        );
        let sts = aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::config::Builder::from(&config).interceptor(RecordCalls(self.calls.clone())).build(),
        );
        let sns = aws_sdk_sns::Client::from_conf(
            aws_sdk_sns::config::Builder::from(&config).interceptor(RecordCalls(self.calls.clone())).build(),
        );
        let clients = Clients { config, cloudtrail, kms, s3, sns, sts };
        cache.insert(scope.clone(), clients.clone());
        clients
    }

    async fn cloudtrail(&self, scope: &Scope, operation: &'static str) -> aws_sdk_cloudtrail::Client {
        self.pace(scope, operation).await;
        self.clients(scope).await.cloudtrail
    }

    /// Waits for this operation's slot in the scope's rate limits.
    async fn pace(&self, scope: &Scope, operation: &'static str) {
        let key = format!("{}/{}/{operation}", scope.role_arn.as_deref().unwrap_or("self"), scope.region);
        self.limiter.acquire(key, is_write(operation)).await;
    }
}

/// Reads one posture fact: the answer, or why it could not be read. `unconfigured` names
/// the error codes by which AWS says "nothing configured", and what that means.
fn fact<T, E, R>(
    service: &'static str,
    operation: &'static str,
    result: Result<T, SdkError<E, R>>,
    unconfigured: Option<(&[&str], T)>,
) -> Known<T>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    result.or_else(|e| {
        let e = aws_error(service, operation, e);
        match unconfigured {
            Some((codes, meaning)) if codes.contains(&e.code.as_str()) => Ok(meaning),
            _ => Err(e.to_string()),
        }
    })
}

const PUBLIC_GRANTEES: &[&str] = &[
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
];

/// Classifies an SDK failure by AWS's error code, so callers decide on kinds, not strings.
fn aws_error<E, R>(service: &'static str, operation: &'static str, err: SdkError<E, R>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let (code, message, kind) = match &err {
        SdkError::ServiceError(service_err) => {
            let e = service_err.err();
            let code = e.code().unwrap_or("Unknown").to_owned();
            let message = e.message().unwrap_or_default().to_owned();
            let kind = classify(&code);
            (code, message, kind)
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            ("Unavailable".to_owned(), format!("{}", aws_smithy_types::error::display::DisplayErrorContext(&err)), ErrorKind::Unavailable)
        }
        _ => ("Unknown".to_owned(), format!("{}", aws_smithy_types::error::display::DisplayErrorContext(&err)), ErrorKind::Other),
    };
    AwsError { service, operation, kind, code, message }
}

fn classify(code: &str) -> ErrorKind {
    match code {
        "TrailNotFoundException" | "NotFoundException" | "NoSuchBucket" | "ResourceNotFoundException"
        | "InsightNotEnabledException" => ErrorKind::NotFound,
        "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" | "InvalidClientTokenId"
        | "ExpiredToken" | "NotOrganizationMasterAccountException" | "InsufficientDependencyServiceAccessPermissionException" => {
            ErrorKind::AccessDenied
        }
        "ThrottlingException" | "Throttling" | "TooManyRequestsException" | "RequestLimitExceeded" => ErrorKind::Throttled,
        c if c.starts_with("Invalid") || c.starts_with("Insufficient") || c.contains("DoesNotExist") || c.ends_with("NotFoundException") => {
            ErrorKind::Invalid
        }
        _ => ErrorKind::Other,
    }
}

fn non_empty(s: Option<&str>) -> Option<String> {
    s.filter(|s| !s.is_empty()).map(str::to_owned)
}

fn time(t: Option<&DateTime>) -> Option<Time> {
    let t = t?;
    jiff::Timestamp::new(t.secs(), t.subsec_nanos() as i32).ok().map(Time)
}

fn describe(trail: &ct::Trail) -> TrailDescription {
    let cloud_watch_logs = match (
        non_empty(trail.cloud_watch_logs_log_group_arn()),
        non_empty(trail.cloud_watch_logs_role_arn()),
    ) {
        (Some(log_group_arn), Some(role_arn)) => Some(CloudWatchTarget { log_group_arn, role_arn }),
        _ => None,
    };
    TrailDescription {
        name: trail.name().unwrap_or_default().to_owned(),
        arn: trail.trail_arn().unwrap_or_default().to_owned(),
        home_region: trail.home_region().unwrap_or_default().to_owned(),
        settings: TrailSettings {
            bucket: trail.s3_bucket_name().unwrap_or_default().to_owned(),
            key_prefix: non_empty(trail.s3_key_prefix()),
            sns_topic: non_empty(trail.sns_topic_arn()),
            kms_key: non_empty(trail.kms_key_id()),
            log_file_validation: trail.log_file_validation_enabled().unwrap_or(false),
            include_global_service_events: trail.include_global_service_events().unwrap_or(false),
            multi_region: trail.is_multi_region_trail().unwrap_or(false),
            organization: trail.is_organization_trail().unwrap_or(false),
            cloud_watch_logs,
        },
        has_custom_event_selectors: trail.has_custom_event_selectors().unwrap_or(false),
        has_insight_selectors: trail.has_insight_selectors().unwrap_or(false),
    }
}

fn read_write_type(t: Option<&ct::ReadWriteType>) -> ReadWriteType {
    match t {
        Some(ct::ReadWriteType::ReadOnly) => ReadWriteType::ReadOnly,
        Some(ct::ReadWriteType::WriteOnly) => ReadWriteType::WriteOnly,
        _ => ReadWriteType::All,
    }
}

fn to_sdk_read_write_type(t: ReadWriteType) -> ct::ReadWriteType {
    match t {
        ReadWriteType::ReadOnly => ct::ReadWriteType::ReadOnly,
        ReadWriteType::WriteOnly => ct::ReadWriteType::WriteOnly,
        ReadWriteType::All => ct::ReadWriteType::All,
    }
}

fn insight_type(t: &ct::InsightType) -> Option<InsightType> {
    match t {
        ct::InsightType::ApiCallRateInsight => Some(InsightType::ApiCallRateInsight),
        ct::InsightType::ApiErrorRateInsight => Some(InsightType::ApiErrorRateInsight),
        _ => None,
    }
}

fn to_sdk_insight_type(t: InsightType) -> ct::InsightType {
    match t {
        InsightType::ApiCallRateInsight => ct::InsightType::ApiCallRateInsight,
        InsightType::ApiErrorRateInsight => ct::InsightType::ApiErrorRateInsight,
    }
}

fn to_sdk_tags(tags: &Tags) -> Vec<ct::Tag> {
    tags.iter()
        .map(|(k, v)| ct::Tag::builder().key(k).value(v).build().expect("tag key is set"))
        .collect()
}

/// CloudTrail takes an empty string to clear an optional setting on UpdateTrail.
fn or_clear(value: &Option<String>) -> String {
    value.clone().unwrap_or_default()
}

fn from_sdk_selectors(out: &aws_sdk_cloudtrail::operation::get_event_selectors::GetEventSelectorsOutput) -> Selectors {
    let advanced = out.advanced_event_selectors();
    if !advanced.is_empty() {
        return Selectors::Advanced(
            advanced
                .iter()
                .map(|s| api::AdvancedEventSelector {
                    name: non_empty(s.name()),
                    field_selectors: s
                        .field_selectors()
                        .iter()
                        .map(|f| api::AdvancedFieldSelector {
                            field: f.field().to_owned(),
                            equals: f.equals().to_vec(),
                            starts_with: f.starts_with().to_vec(),
                            ends_with: f.ends_with().to_vec(),
                            not_equals: f.not_equals().to_vec(),
                            not_starts_with: f.not_starts_with().to_vec(),
                            not_ends_with: f.not_ends_with().to_vec(),
                        })
                        .collect(),
                })
                .collect(),
        );
    }
    let basic = out.event_selectors();
    if basic.is_empty() {
        // A trail nobody put selectors on records AWS's default.
        return Selectors::aws_default();
    }
    Selectors::Basic(
        basic
            .iter()
            .map(|s| api::EventSelector {
                read_write_type: read_write_type(s.read_write_type()),
                include_management_events: s.include_management_events().unwrap_or(true),
                exclude_management_event_sources: s.exclude_management_event_sources().to_vec(),
                data_resources: s
                    .data_resources()
                    .iter()
                    .map(|d| api::DataResource {
                        type_: d.r#type().unwrap_or_default().to_owned(),
                        values: d.values().to_vec(),
                    })
                    .collect(),
            })
            .collect(),
    )
}

fn to_sdk_event_selectors(selectors: &[api::EventSelector]) -> Vec<ct::EventSelector> {
    selectors
        .iter()
        .map(|s| {
            ct::EventSelector::builder()
                .read_write_type(to_sdk_read_write_type(s.read_write_type))
                .include_management_events(s.include_management_events)
                .set_exclude_management_event_sources(Some(s.exclude_management_event_sources.clone()))
                .set_data_resources(Some(
                    s.data_resources
                        .iter()
                        .map(|d| ct::DataResource::builder().r#type(&d.type_).set_values(Some(d.values.clone())).build())
                        .collect(),
                ))
                .build()
        })
        .collect()
}

fn to_sdk_advanced_selectors(selectors: &[api::AdvancedEventSelector]) -> Result<Vec<ct::AdvancedEventSelector>, AwsError> {
    let invalid = |e: aws_smithy_types::error::operation::BuildError| AwsError {
        service: "CloudTrail",
        operation: "PutEventSelectors",
        kind: ErrorKind::Invalid,
        code: "InvalidSelector".into(),
        message: e.to_string(),
    };
    selectors
        .iter()
        .map(|s| {
            let fields = s
                .field_selectors
                .iter()
                .map(|f| {
                    let set = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
                    ct::AdvancedFieldSelector::builder()
                        .field(&f.field)
                        .set_equals(set(&f.equals))
                        .set_starts_with(set(&f.starts_with))
                        .set_ends_with(set(&f.ends_with))
                        .set_not_equals(set(&f.not_equals))
                        .set_not_starts_with(set(&f.not_starts_with))
                        .set_not_ends_with(set(&f.not_ends_with))
                        .build()
                        .map_err(invalid)
                })
                .collect::<Result<Vec<_>, _>>()?;
            ct::AdvancedEventSelector::builder()
                .set_name(s.name.clone())
                .set_field_selectors(Some(fields))
                .build()
                .map_err(invalid)
        })
        .collect()
}

const CT: &str = "CloudTrail";

impl AwsPort for SdkAws {
    async fn describe_trails(&self, scope: &Scope) -> AwsResult<Vec<TrailDescription>> {
        let out = self
            .cloudtrail(scope, "DescribeTrails")
            .await
            .describe_trails()
            .include_shadow_trails(true)
            .send()
            .await
            .map_err(|e| aws_error(CT, "DescribeTrails", e))?;
        Ok(out.trail_list().iter().map(describe).collect())
    }

    async fn get_trail_status(&self, scope: &Scope, trail: &str) -> AwsResult<TrailStatus> {
        let out = self
            .cloudtrail(scope, "GetTrailStatus")
            .await
            .get_trail_status()
            .name(trail)
            .send()
            .await
            .map_err(|e| aws_error(CT, "GetTrailStatus", e))?;
        Ok(TrailStatus {
            is_logging: out.is_logging().unwrap_or(false),
            delivery: Delivery {
                latest_delivery_time: time(out.latest_delivery_time()),
                latest_delivery_error: non_empty(out.latest_delivery_error()),
                latest_digest_delivery_time: time(out.latest_digest_delivery_time()),
                latest_digest_delivery_error: non_empty(out.latest_digest_delivery_error()),
                latest_cloud_watch_logs_delivery_time: time(out.latest_cloud_watch_logs_delivery_time()),
                latest_cloud_watch_logs_delivery_error: non_empty(out.latest_cloud_watch_logs_delivery_error()),
                latest_notification_time: time(out.latest_notification_time()),
                latest_notification_error: non_empty(out.latest_notification_error()),
            },
        })
    }

    async fn get_event_selectors(&self, scope: &Scope, trail: &str) -> AwsResult<Selectors> {
        let out = self
            .cloudtrail(scope, "GetEventSelectors")
            .await
            .get_event_selectors()
            .trail_name(trail)
            .send()
            .await
            .map_err(|e| aws_error(CT, "GetEventSelectors", e))?;
        Ok(from_sdk_selectors(&out))
    }

    async fn get_insight_selectors(&self, scope: &Scope, trail: &str) -> AwsResult<Insights> {
        let result = self
            .cloudtrail(scope, "GetInsightSelectors")
            .await
            .get_insight_selectors()
            .trail_name(trail)
            .send()
            .await
            .map_err(|e| aws_error(CT, "GetInsightSelectors", e));
        match result {
            Ok(out) => Ok(out.insight_selectors().iter().filter_map(|s| s.insight_type().and_then(insight_type)).collect()),
            // AWS answers "not enabled" rather than an empty list.
            Err(e) if e.code == "InsightNotEnabledException" => Ok(Insights::new()),
            Err(e) => Err(e),
        }
    }

    async fn list_tags(&self, scope: &Scope, trail: &str) -> AwsResult<Tags> {
        let out = self
            .cloudtrail(scope, "ListTags")
            .await
            .list_tags()
            .resource_id_list(trail)
            .send()
            .await
            .map_err(|e| aws_error(CT, "ListTags", e))?;
        Ok(out
            .resource_tag_list()
            .iter()
            .flat_map(|r| r.tags_list())
            .map(|t| (t.key().to_owned(), t.value().unwrap_or_default().to_owned()))
            .collect())
    }

    async fn create_trail(&self, scope: &Scope, name: &str, settings: &TrailSettings, tags: &Tags) -> AwsResult<String> {
        let out = self
            .cloudtrail(scope, "CreateTrail")
            .await
            .create_trail()
            .name(name)
            .s3_bucket_name(&settings.bucket)
            .set_s3_key_prefix(settings.key_prefix.clone())
            .set_sns_topic_name(settings.sns_topic.clone())
            .set_kms_key_id(settings.kms_key.clone())
            .enable_log_file_validation(settings.log_file_validation)
            .include_global_service_events(settings.include_global_service_events)
            .is_multi_region_trail(settings.multi_region)
            .is_organization_trail(settings.organization)
            .set_cloud_watch_logs_log_group_arn(settings.cloud_watch_logs.as_ref().map(|c| c.log_group_arn.clone()))
            .set_cloud_watch_logs_role_arn(settings.cloud_watch_logs.as_ref().map(|c| c.role_arn.clone()))
            .set_tags_list(Some(to_sdk_tags(tags)))
            .send()
            .await
            .map_err(|e| aws_error(CT, "CreateTrail", e))?;
        out.trail_arn().map(str::to_owned).ok_or_else(|| AwsError {
            service: CT,
            operation: "CreateTrail",
            kind: ErrorKind::Other,
            code: "NoTrailArn".into(),
            message: format!("CreateTrail returned no ARN for {name}"),
        })
    }

    async fn update_trail(&self, scope: &Scope, trail: &str, settings: &TrailSettings) -> AwsResult<()> {
        let cwl = settings.cloud_watch_logs.as_ref();
        self.cloudtrail(scope, "UpdateTrail")
            .await
            .update_trail()
            .name(trail)
            .s3_bucket_name(&settings.bucket)
            .s3_key_prefix(or_clear(&settings.key_prefix))
            .sns_topic_name(or_clear(&settings.sns_topic))
            .kms_key_id(or_clear(&settings.kms_key))
            .enable_log_file_validation(settings.log_file_validation)
            .include_global_service_events(settings.include_global_service_events)
            .is_multi_region_trail(settings.multi_region)
            .is_organization_trail(settings.organization)
            .cloud_watch_logs_log_group_arn(cwl.map(|c| c.log_group_arn.clone()).unwrap_or_default())
            .cloud_watch_logs_role_arn(cwl.map(|c| c.role_arn.clone()).unwrap_or_default())
            .send()
            .await
            .map_err(|e| aws_error(CT, "UpdateTrail", e))?;
        Ok(())
    }

    async fn start_logging(&self, scope: &Scope, trail: &str) -> AwsResult<()> {
        self.cloudtrail(scope, "StartLogging")
            .await
            .start_logging()
            .name(trail)
            .send()
            .await
            .map_err(|e| aws_error(CT, "StartLogging", e))?;
        Ok(())
    }

    async fn stop_logging(&self, scope: &Scope, trail: &str) -> AwsResult<()> {
        self.cloudtrail(scope, "StopLogging")
            .await
            .stop_logging()
            .name(trail)
            .send()
            .await
            .map_err(|e| aws_error(CT, "StopLogging", e))?;
        Ok(())
    }

    async fn put_event_selectors(&self, scope: &Scope, trail: &str, selectors: &Selectors) -> AwsResult<()> {
        let request = self.cloudtrail(scope, "PutEventSelectors").await.put_event_selectors().trail_name(trail);
        let request = match selectors {
            Selectors::Basic(basic) => request.set_event_selectors(Some(to_sdk_event_selectors(basic))),
            Selectors::Advanced(advanced) => request.set_advanced_event_selectors(Some(to_sdk_advanced_selectors(advanced)?)),
        };
        request.send().await.map_err(|e| aws_error(CT, "PutEventSelectors", e))?;
        Ok(())
    }

    async fn put_insight_selectors(&self, scope: &Scope, trail: &str, insights: &Insights) -> AwsResult<()> {
        self.cloudtrail(scope, "PutInsightSelectors")
            .await
            .put_insight_selectors()
            .trail_name(trail)
            .set_insight_selectors(Some(
                insights
                    .iter()
                    .map(|t| ct::InsightSelector::builder().insight_type(to_sdk_insight_type(*t)).build())
                    .collect(),
            ))
            .send()
            .await
            .map_err(|e| aws_error(CT, "PutInsightSelectors", e))?;
        Ok(())
    }

    async fn add_tags(&self, scope: &Scope, trail: &str, tags: &Tags) -> AwsResult<()> {
        self.cloudtrail(scope, "AddTags")
            .await
            .add_tags()
            .resource_id(trail)
            .set_tags_list(Some(to_sdk_tags(tags)))
            .send()
            .await
            .map_err(|e| aws_error(CT, "AddTags", e))?;
        Ok(())
    }

    async fn remove_tags(&self, scope: &Scope, trail: &str, keys: &[String]) -> AwsResult<()> {
        let tags = keys
            .iter()
            .map(|k| ct::Tag::builder().key(k).build().expect("tag key is set"))
            .collect();
        self.cloudtrail(scope, "RemoveTags")
            .await
            .remove_tags()
            .resource_id(trail)
            .set_tags_list(Some(tags))
            .send()
            .await
            .map_err(|e| aws_error(CT, "RemoveTags", e))?;
        Ok(())
    }

    async fn delete_trail(&self, scope: &Scope, trail: &str) -> AwsResult<()> {
        self.cloudtrail(scope, "DeleteTrail")
            .await
            .delete_trail()
            .name(trail)
            .send()
            .await
            .map_err(|e| aws_error(CT, "DeleteTrail", e))?;
        Ok(())
    }

    async fn account_id(&self, scope: &Scope) -> AwsResult<String> {
        // A role's ARN names its account; only our own needs asking.
        if let Some(account) = scope.role_arn.as_deref().and_then(|arn| arn.split(':').nth(4)) {
            return Ok(account.to_owned());
        }
        let out = self
            .clients(scope)
            .await
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| aws_error("STS", "GetCallerIdentity", e))?;
        Ok(out.account().unwrap_or_default().to_owned())
    }

    async fn describe_bucket(&self, scope: &Scope, bucket: &str) -> AwsResult<BucketFacts> {
        let s3 = self.clients(scope).await.s3;
        // One call that fails loudly when the bucket does not exist at all.
        let location =
            s3.get_bucket_location().bucket(bucket).send().await.map_err(|e| aws_error("S3", "GetBucketLocation", e))?;
        let region = match location.location_constraint().map(|c| c.as_str()) {
            None | Some("") => "us-east-1".to_owned(),
            Some("EU") => "eu-west-1".to_owned(),
            Some(other) => other.to_owned(),
        };
        let public_access_block = fact(
            "S3",
            "GetPublicAccessBlock",
            s3.get_public_access_block().bucket(bucket).send().await.map(|o| {
                let c = o.public_access_block_configuration();
                let flag = |f: Option<bool>| f.unwrap_or(false);
                [
                    flag(c.and_then(|c| c.block_public_acls())),
                    flag(c.and_then(|c| c.ignore_public_acls())),
                    flag(c.and_then(|c| c.block_public_policy())),
                    flag(c.and_then(|c| c.restrict_public_buckets())),
                ]
            }),
            Some((&["NoSuchPublicAccessBlockConfiguration"], [false; 4])),
        );
        let policy = fact(
            "S3",
            "GetBucketPolicy",
            s3.get_bucket_policy().bucket(bucket).send().await.map(|o| o.policy().map(str::to_owned)),
            Some((&["NoSuchBucketPolicy"], None)),
        );
        let public_acl_grantees = fact(
            "S3",
            "GetBucketAcl",
            s3.get_bucket_acl().bucket(bucket).send().await.map(|o| {
                o.grants()
                    .iter()
                    .filter_map(|g| g.grantee().and_then(|g| g.uri()))
                    .filter(|uri| PUBLIC_GRANTEES.contains(uri))
                    .map(str::to_owned)
                    .collect()
            }),
            None,
        );
        let versioning = s3.get_bucket_versioning().bucket(bucket).send().await;
        let (versioning_enabled, mfa_delete_enabled) = match versioning {
            Ok(o) => (
                Ok(o.status() == Some(&aws_sdk_s3::types::BucketVersioningStatus::Enabled)),
                Ok(o.mfa_delete() == Some(&aws_sdk_s3::types::MfaDeleteStatus::Enabled)),
            ),
            Err(e) => {
                let why = aws_error("S3", "GetBucketVersioning", e).to_string();
                (Err(why.clone()), Err(why))
            }
        };
        let access_log_target = fact(
            "S3",
            "GetBucketLogging",
            s3.get_bucket_logging()
                .bucket(bucket)
                .send()
                .await
                .map(|o| o.logging_enabled().map(|l| l.target_bucket().to_owned())),
            None,
        );
        Ok(BucketFacts {
            name: bucket.to_owned(),
            region,
            public_access_block,
            policy,
            public_acl_grantees,
            versioning_enabled,
            mfa_delete_enabled,
            access_log_target,
        })
    }

    async fn describe_key(&self, scope: &Scope, key: &str) -> AwsResult<KeyFacts> {
        let key_arn = key;
        self.pace(scope, "DescribeKey").await;
        let kms = self.clients(scope).await.kms;
        let meta = kms
            .describe_key()
            .key_id(key_arn)
            .send()
            .await
            .map_err(|e| aws_error("KMS", "DescribeKey", e))?
            .key_metadata
            .ok_or_else(|| AwsError {
                service: "KMS",
                operation: "DescribeKey",
                kind: ErrorKind::NotFound,
                code: "NoKeyMetadata".into(),
                message: format!("DescribeKey returned nothing for {key_arn}"),
            })?;
        // The rotation and policy APIs take a key id or ARN, never an alias.
        let arn = meta.arn().unwrap_or(key_arn).to_owned();
        let rotation_enabled =
            fact("KMS", "GetKeyRotationStatus", kms.get_key_rotation_status().key_id(&arn).send().await, None).map(|o| o.key_rotation_enabled());
        let policy = fact("KMS", "GetKeyPolicy", kms.get_key_policy().key_id(&arn).policy_name("default").send().await, None)
            .map(|o| o.policy().unwrap_or_default().to_owned());
        Ok(KeyFacts {
            arn,
            state: meta.key_state().map(|s| s.as_str().to_owned()).ok_or_else(|| "DescribeKey gave no KeyState".into()),
            spec: meta.key_spec().map(|s| s.as_str().to_owned()).ok_or_else(|| "DescribeKey gave no KeySpec".into()),
            rotation_enabled,
            policy,
        })
    }

    async fn block_public_access(&self, scope: &Scope, bucket: &str) -> AwsResult<()> {
        let config = aws_sdk_s3::types::PublicAccessBlockConfiguration::builder()
            .block_public_acls(true)
            .ignore_public_acls(true)
            .block_public_policy(true)
            .restrict_public_buckets(true)
            .build();
        self.clients(scope)
            .await
            .s3
            .put_public_access_block()
            .bucket(bucket)
            .public_access_block_configuration(config)
            .send()
            .await
            .map_err(|e| aws_error("S3", "PutPublicAccessBlock", e))?;
        Ok(())
    }

    async fn enable_bucket_versioning(&self, scope: &Scope, bucket: &str) -> AwsResult<()> {
        let config = aws_sdk_s3::types::VersioningConfiguration::builder()
            .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
            .build();
        self.clients(scope)
            .await
            .s3
            .put_bucket_versioning()
            .bucket(bucket)
            .versioning_configuration(config)
            .send()
            .await
            .map_err(|e| aws_error("S3", "PutBucketVersioning", e))?;
        Ok(())
    }

    async fn put_bucket_policy(&self, scope: &Scope, bucket: &str, policy: &str) -> AwsResult<()> {
        self.clients(scope)
            .await
            .s3
            .put_bucket_policy()
            .bucket(bucket)
            .policy(policy)
            .send()
            .await
            .map_err(|e| aws_error("S3", "PutBucketPolicy", e))?;
        Ok(())
    }

    async fn enable_key_rotation(&self, scope: &Scope, key_arn: &str) -> AwsResult<()> {
        self.clients(scope)
            .await
            .kms
            .enable_key_rotation()
            .key_id(key_arn)
            .send()
            .await
            .map_err(|e| aws_error("KMS", "EnableKeyRotation", e))?;
        Ok(())
    }

    async fn publish(&self, scope: &Scope, topic_arn: &str, subject: &str, message: &str) -> AwsResult<()> {
        let region = topic_arn.split(':').nth(3).filter(|r| !r.is_empty()).unwrap_or(&scope.region);
        let topic_scope = Scope { region: region.to_owned(), ..scope.clone() };
        self.clients(&topic_scope)
            .await
            .sns
            .publish()
            .topic_arn(topic_arn)
            .subject(subject)
            .message(message)
            .send()
            .await
            .map_err(|e| aws_error("SNS", "Publish", e))?;
        Ok(())
    }

    async fn put_key_policy(&self, scope: &Scope, key_arn: &str, policy: &str) -> AwsResult<()> {
        self.clients(scope)
            .await
            .kms
            .put_key_policy()
            .key_id(key_arn)
            .policy_name("default")
            .policy(policy)
            .send()
            .await
            .map_err(|e| aws_error("KMS", "PutKeyPolicy", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_map_to_kinds_the_reconciler_decides_on() {
        assert_eq!(classify("TrailNotFoundException"), ErrorKind::NotFound);
        assert_eq!(classify("AccessDeniedException"), ErrorKind::AccessDenied);
        assert_eq!(classify("ThrottlingException"), ErrorKind::Throttled);
        assert_eq!(classify("S3BucketDoesNotExistException"), ErrorKind::Invalid);
        assert_eq!(classify("KmsKeyNotFoundException"), ErrorKind::Invalid);
        assert_eq!(classify("InvalidTrailNameException"), ErrorKind::Invalid);
        assert_eq!(classify("SomethingNew"), ErrorKind::Other);
    }
}
