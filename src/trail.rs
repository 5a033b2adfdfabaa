//! The trail as both sides describe it: the settings a policy asks for and the settings
//! AWS reports use the same types, so the plan compares like with like.

use std::collections::{BTreeMap, BTreeSet};

use crate::api::{AdvancedEventSelector, Delivery, EventSelector, InsightType, ReadWriteType};

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

/// Which events the trail records: basic and advanced selectors are exclusive in AWS.
#[derive(Clone, Debug, PartialEq)]
pub enum Selectors {
    Basic(Vec<EventSelector>),
    Advanced(Vec<AdvancedEventSelector>),
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

pub type Tags = BTreeMap<String, String>;
pub type Insights = BTreeSet<InsightType>;
