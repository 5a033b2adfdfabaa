//! Which events a trail records, as a `TrailPolicy` declares them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::yes;

/// A basic event selector.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EventSelector {
    /// Which calls it records: ReadOnly, WriteOnly or All (the default).
    #[serde(default)]
    pub read_write_type: ReadWriteType,
    /// Whether it records management events (default true).
    #[serde(default = "yes")]
    pub include_management_events: bool,
    /// Event sources whose management events it leaves out, e.g. kms.amazonaws.com.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_management_event_sources: Vec<String>,
    /// Data events it records, by resource type and ARN prefix.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_resources: Vec<DataResource>,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReadWriteType {
    ReadOnly,
    WriteOnly,
    #[default]
    All,
}

/// Data events of one resource type, e.g. AWS::S3::Object with ARN prefixes.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct DataResource {
    /// The resource type, e.g. AWS::S3::Object or AWS::Lambda::Function.
    #[serde(rename = "type")]
    pub type_: String,
    /// ARN prefixes of the resources whose data events are recorded (e.g.
    /// arn:aws:s3:::my-bucket/, or arn:aws:s3 for every bucket).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// An advanced event selector.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AdvancedEventSelector {
    /// A name for the selector, shown in findings that concern it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// CloudTrail's advanced selector fields, each at most once.
    #[schemars(length(min = 1, max = 16))]
    pub field_selectors: Vec<AdvancedFieldSelector>,
}

/// One condition of an advanced event selector.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct AdvancedFieldSelector {
    /// The event field: eventCategory, eventSource, eventName, readOnly,
    /// resources.type, resources.ARN, and the others CloudTrail accepts.
    #[schemars(length(max = 64))]
    pub field: String,
    /// The field equals one of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 500), inner(length(max = 2048)))]
    pub equals: Vec<String>,
    /// The field starts with one of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 500), inner(length(max = 2048)))]
    pub starts_with: Vec<String>,
    /// The field ends with one of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 500), inner(length(max = 2048)))]
    pub ends_with: Vec<String>,
    /// The field equals none of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 500), inner(length(max = 2048)))]
    pub not_equals: Vec<String>,
    /// The field starts with none of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 500), inner(length(max = 2048)))]
    pub not_starts_with: Vec<String>,
    /// The field ends with none of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 500), inner(length(max = 2048)))]
    pub not_ends_with: Vec<String>,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum InsightType {
    ApiCallRateInsight,
    ApiErrorRateInsight,
}
