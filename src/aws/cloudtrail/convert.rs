//! CloudTrail's SDK types to the domain's and back. AWS leaves optional values out or
//! sends them empty; the domain has one spelling for "not set": `None`.

use aws_sdk_cloudtrail::operation::get_event_selectors::GetEventSelectorsOutput;
use aws_sdk_cloudtrail::operation::get_trail_status::GetTrailStatusOutput;
use aws_sdk_cloudtrail::types as ct;
use aws_smithy_types::DateTime;
use aws_smithy_types::error::operation::BuildError;
use jiff::Timestamp;
use trailwarden_core::trail::{
    AdvancedEventSelector, AdvancedFieldSelector, CloudWatchTarget, DataResource, Delivery, EventSelector, InsightType,
    ReadWriteType, Selectors, Tags, TrailDescription, TrailSettings, TrailStatus,
};

fn non_empty(s: Option<&str>) -> Option<String> {
    s.filter(|s| !s.is_empty()).map(str::to_owned)
}

fn timestamp(t: Option<&DateTime>) -> Option<Timestamp> {
    let t = t?;
    Timestamp::new(t.secs(), t.subsec_nanos() as i32).ok()
}

pub(super) fn trail_description(trail: &ct::Trail) -> TrailDescription {
    let cloud_watch_logs = match (non_empty(trail.cloud_watch_logs_log_group_arn()), non_empty(trail.cloud_watch_logs_role_arn())) {
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

pub(super) fn trail_status(out: &GetTrailStatusOutput) -> TrailStatus {
    TrailStatus {
        is_logging: out.is_logging().unwrap_or(false),
        delivery: Delivery {
            latest_delivery_time: timestamp(out.latest_delivery_time()),
            latest_delivery_error: non_empty(out.latest_delivery_error()),
            latest_digest_delivery_time: timestamp(out.latest_digest_delivery_time()),
            latest_digest_delivery_error: non_empty(out.latest_digest_delivery_error()),
            latest_cloud_watch_logs_delivery_time: timestamp(out.latest_cloud_watch_logs_delivery_time()),
            latest_cloud_watch_logs_delivery_error: non_empty(out.latest_cloud_watch_logs_delivery_error()),
            latest_notification_time: timestamp(out.latest_notification_time()),
            latest_notification_error: non_empty(out.latest_notification_error()),
            start_logging_time: timestamp(out.start_logging_time()),
            stop_logging_time: timestamp(out.stop_logging_time()),
        },
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

/// Insight types this version does not know are left out rather than guessed at.
pub(super) fn insight_type(t: &ct::InsightType) -> Option<InsightType> {
    match t {
        ct::InsightType::ApiCallRateInsight => Some(InsightType::ApiCallRateInsight),
        ct::InsightType::ApiErrorRateInsight => Some(InsightType::ApiErrorRateInsight),
        _ => None,
    }
}

pub(super) fn to_sdk_insight_type(t: InsightType) -> ct::InsightType {
    match t {
        InsightType::ApiCallRateInsight => ct::InsightType::ApiCallRateInsight,
        InsightType::ApiErrorRateInsight => ct::InsightType::ApiErrorRateInsight,
    }
}

pub(super) fn to_sdk_tags(tags: &Tags) -> Vec<ct::Tag> {
    tags.iter().map(|(k, v)| ct::Tag::builder().key(k).value(v).build().expect("tag key is set")).collect()
}

pub(super) fn selectors(out: &GetEventSelectorsOutput) -> Selectors {
    let advanced = out.advanced_event_selectors();
    if !advanced.is_empty() {
        return Selectors::Advanced(
            advanced
                .iter()
                .map(|s| AdvancedEventSelector {
                    name: non_empty(s.name()),
                    field_selectors: s
                        .field_selectors()
                        .iter()
                        .map(|f| AdvancedFieldSelector {
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
            .map(|s| EventSelector {
                read_write_type: read_write_type(s.read_write_type()),
                include_management_events: s.include_management_events().unwrap_or(true),
                exclude_management_event_sources: s.exclude_management_event_sources().to_vec(),
                data_resources: s
                    .data_resources()
                    .iter()
                    .map(|d| DataResource { type_: d.r#type().unwrap_or_default().to_owned(), values: d.values().to_vec() })
                    .collect(),
            })
            .collect(),
    )
}

pub(super) fn to_sdk_event_selectors(selectors: &[EventSelector]) -> Vec<ct::EventSelector> {
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

/// Fails when a selector lacks what AWS requires (a field name).
pub(super) fn to_sdk_advanced_selectors(selectors: &[AdvancedEventSelector]) -> Result<Vec<ct::AdvancedEventSelector>, BuildError> {
    selectors
        .iter()
        .map(|s| {
            let fields = s
                .field_selectors
                .iter()
                .map(|f| {
                    // AWS refuses an empty list where it expects the operator left out.
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
                })
                .collect::<Result<Vec<_>, _>>()?;
            ct::AdvancedEventSelector::builder().set_name(s.name.clone()).set_field_selectors(Some(fields)).build()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_times_keep_their_instant() {
        let t = DateTime::from_secs_and_nanos(1_700_000_000, 250_000_000);
        assert_eq!(timestamp(Some(&t)), Some(Timestamp::new(1_700_000_000, 250_000_000).unwrap()));
        assert_eq!(timestamp(None), None);
    }
}
