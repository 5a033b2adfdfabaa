//! The trail as both sides describe it: the settings a policy asks for and the settings
//! AWS reports use the same types, so the plan compares like with like.
//!
//! A trail setting lives in [`TrailSettings`] and is compared in [`TrailSettings::drift`]
//! beside it: adding one is a change to this file (plus the two wire edges that read and
//! write it: the CRD and the CloudTrail adapter).

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde::Serialize;

use crate::plan::Drift;

/// The settings one CreateTrail / UpdateTrail call carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrailSettings {
    pub bucket: String,
    pub key_prefix: Option<String>,
    /// Topic name or ARN as declared; AWS reports the ARN.
    pub sns_topic: Option<String>,
    /// Key ARN once resolved (AWS always reports the ARN).
    pub kms_key: Option<String>,
    pub log_file_validation: bool,
    pub include_global_service_events: bool,
    pub multi_region: bool,
    pub organization: bool,
    pub cloud_watch_logs: Option<CloudWatchTarget>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloudWatchTarget {
    pub log_group_arn: String,
    pub role_arn: String,
}

/// How a missing optional value is shown in drift.
pub const NONE: &str = "(none)";

fn show(value: &Option<String>) -> String {
    value.clone().unwrap_or_else(|| NONE.into())
}

/// SNS: a declared topic name matches the ARN AWS reports for it.
fn same_topic(desired: &Option<String>, observed: &Option<String>) -> bool {
    match (desired, observed) {
        (None, None) => true,
        (Some(d), Some(o)) => d == o || (!d.starts_with("arn:") && o.rsplit(':').next() == Some(d.as_str())),
        _ => false,
    }
}

/// KMS: the declared key is resolved to its ARN before planning; a bare key id still
/// matches its ARN in case resolution was skipped (the key could not be described).
fn same_key(desired: &Option<String>, observed: &Option<String>) -> bool {
    let key_id = |k: &str| k.rsplit("key/").next().unwrap_or(k).to_owned();
    match (desired, observed) {
        (None, None) => true,
        (Some(d), Some(o)) => d == o || key_id(d) == key_id(o),
        _ => false,
    }
}

impl TrailSettings {
    /// Each setting of `self` (desired) that `observed` does not match, named as the
    /// policy spells it.
    pub fn drift(&self, observed: &TrailSettings) -> Vec<Drift> {
        let mut drift = vec![];
        let mut field = |name: &str, same: bool, d: String, o: String| {
            if !same {
                drift.push(Drift { field: name.into(), desired: d, observed: o });
            }
        };
        // Destructured without `..`: a new setting cannot be added and silently not compared.
        let TrailSettings {
            bucket,
            key_prefix,
            sns_topic,
            kms_key,
            log_file_validation,
            include_global_service_events,
            multi_region,
            organization,
            cloud_watch_logs,
        } = self;
        field("s3.bucketName", *bucket == observed.bucket, bucket.clone(), observed.bucket.clone());
        field("s3.keyPrefix", *key_prefix == observed.key_prefix, show(key_prefix), show(&observed.key_prefix));
        field("snsTopicName", same_topic(sns_topic, &observed.sns_topic), show(sns_topic), show(&observed.sns_topic));
        field("kmsKeyId", same_key(kms_key, &observed.kms_key), show(kms_key), show(&observed.kms_key));
        let mut flag = |name: &str, d: &bool, o: &bool| field(name, d == o, d.to_string(), o.to_string());
        flag("logFileValidation", log_file_validation, &observed.log_file_validation);
        flag("includeGlobalServiceEvents", include_global_service_events, &observed.include_global_service_events);
        flag("multiRegion", multi_region, &observed.multi_region);
        flag("organization", organization, &observed.organization);
        let cwl = |c: &Option<CloudWatchTarget>| {
            c.as_ref().map(|c| format!("{} via {}", c.log_group_arn, c.role_arn)).unwrap_or_else(|| NONE.into())
        };
        field("cloudWatchLogs", *cloud_watch_logs == observed.cloud_watch_logs, cwl(cloud_watch_logs), cwl(&observed.cloud_watch_logs));
        drift
    }
}

/// Which events the trail records: basic and advanced selectors are exclusive in AWS.
#[derive(Clone, Debug, PartialEq)]
pub enum Selectors {
    Basic(Vec<EventSelector>),
    Advanced(Vec<AdvancedEventSelector>),
}

/// A basic event selector.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventSelector {
    pub read_write_type: ReadWriteType,
    pub include_management_events: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exclude_management_event_sources: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub data_resources: Vec<DataResource>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub enum ReadWriteType {
    ReadOnly,
    WriteOnly,
    #[default]
    All,
}

/// Data events of one resource type, e.g. AWS::S3::Object with ARN prefixes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DataResource {
    #[serde(rename = "type")]
    pub type_: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// An advanced event selector.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdvancedEventSelector {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub field_selectors: Vec<AdvancedFieldSelector>,
}

/// One condition of an advanced event selector.
#[derive(Clone, Debug, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdvancedFieldSelector {
    pub field: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub equals: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub starts_with: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ends_with: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_equals: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_starts_with: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_ends_with: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum InsightType {
    ApiCallRateInsight,
    ApiErrorRateInsight,
}

impl Selectors {
    /// What CloudTrail records when nobody chose: all management events, no data events.
    pub fn aws_default() -> Self {
        Selectors::Basic(vec![EventSelector {
            read_write_type: ReadWriteType::All,
            include_management_events: true,
            exclude_management_event_sources: vec![],
            data_resources: vec![],
        }])
    }

    /// True when these selectors record exactly what the AWS default records.
    pub fn is_aws_default(&self) -> bool {
        *self == Self::aws_default()
    }

    /// Order inside a selector carries no meaning to AWS; sort it away before comparing.
    pub fn normalised(&self) -> Selectors {
        match self {
            Selectors::Basic(basic) if basic.is_empty() => Selectors::aws_default(),
            Selectors::Basic(basic) => Selectors::Basic(
                basic
                    .iter()
                    .map(|s| {
                        let mut s = s.clone();
                        s.exclude_management_event_sources.sort();
                        for d in &mut s.data_resources {
                            d.values.sort();
                        }
                        s.data_resources.sort_by(|a, b| (&a.type_, &a.values).cmp(&(&b.type_, &b.values)));
                        s
                    })
                    .collect(),
            ),
            Selectors::Advanced(advanced) => Selectors::Advanced(
                advanced
                    .iter()
                    .map(|selector| {
                        let mut selector = selector.clone();
                        for f in &mut selector.field_selectors {
                            for values in [
                                &mut f.equals,
                                &mut f.starts_with,
                                &mut f.ends_with,
                                &mut f.not_equals,
                                &mut f.not_starts_with,
                                &mut f.not_ends_with,
                            ] {
                                values.sort();
                            }
                        }
                        selector.field_selectors.sort_by(|a, b| a.field.cmp(&b.field));
                        selector
                    })
                    .collect(),
            ),
        }
    }

    /// The policy field these selectors come from.
    pub fn field(&self) -> &'static str {
        match self {
            Selectors::Basic(_) => "eventSelectors",
            Selectors::Advanced(_) => "advancedEventSelectors",
        }
    }

    /// A one-line description for drift and Events.
    pub fn describe(&self) -> String {
        match self {
            Selectors::Basic(_) if self.is_aws_default() => "default (all management events)".into(),
            Selectors::Basic(basic) => format!("{} basic selector(s): {}", basic.len(), serde_json::to_string(basic).unwrap_or_default()),
            Selectors::Advanced(adv) => format!("{} advanced selector(s): {}", adv.len(), serde_json::to_string(adv).unwrap_or_default()),
        }
    }
}

/// One trail as DescribeTrails reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrailDescription {
    pub name: String,
    pub arn: String,
    pub home_region: String,
    pub settings: TrailSettings,
    pub has_custom_event_selectors: bool,
    pub has_insight_selectors: bool,
}

/// GetTrailStatus: logging state and delivery health.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct TrailStatus {
    pub is_logging: bool,
    pub delivery: Delivery,
}

/// Delivery health as GetTrailStatus reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    pub latest_delivery_time: Option<Timestamp>,
    pub latest_delivery_error: Option<String>,
    pub latest_digest_delivery_time: Option<Timestamp>,
    pub latest_digest_delivery_error: Option<String>,
    pub latest_cloud_watch_logs_delivery_time: Option<Timestamp>,
    pub latest_cloud_watch_logs_delivery_error: Option<String>,
    pub latest_notification_time: Option<Timestamp>,
    pub latest_notification_error: Option<String>,
    /// When logging was last started, and last stopped: a stop later than the start is a
    /// window in which nothing was recorded.
    pub start_logging_time: Option<Timestamp>,
    pub stop_logging_time: Option<Timestamp>,
}

pub type Tags = BTreeMap<String, String>;
pub type Insights = BTreeSet<InsightType>;

/// How a set of Insights is shown in drift.
pub fn describe_insights(insights: &Insights) -> String {
    if insights.is_empty() {
        return NONE.into();
    }
    insights.iter().map(|i| format!("{i:?}")).collect::<Vec<_>>().join(",")
}
