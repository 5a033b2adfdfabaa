//! CloudTrail: reading a trail and every write the plan makes to it.

mod convert;

use std::collections::BTreeMap;

use aws_sdk_cloudtrail::types as ct;
use aws_smithy_runtime_api::client::result::SdkError;
use trailwarden_core::Scope;
use trailwarden_core::trail::{Insights, Selectors, Tags, TrailDescription, TrailSettings, TrailStatus};

use super::clients::Service;
use super::recent::Kept;
use super::sdk::SdkAws;
use super::{AwsError, AwsResult, ErrorKind};

const CLOUDTRAIL: Service<aws_sdk_cloudtrail::Client> = Service { name: "CloudTrail", client: |c| c.cloudtrail(), paced: true, kept: Some(Kept::Trails), bounded: true };

/// CloudTrail takes an empty string to clear an optional setting on UpdateTrail.
fn or_clear(value: &Option<String>) -> String {
    value.clone().unwrap_or_default()
}

pub(super) async fn describe_trails(aws: &SdkAws, scope: &Scope) -> AwsResult<Vec<TrailDescription>> {
    let out = aws
        .call(scope, &CLOUDTRAIL, "DescribeTrails", |ct| ct.describe_trails().include_shadow_trails(true).send())
        .await?;
    Ok(out.trail_list().iter().map(convert::trail_description).collect())
}

pub(super) async fn get_trail_status(aws: &SdkAws, scope: &Scope, trail: &str) -> AwsResult<TrailStatus> {
    let out = aws.call(scope, &CLOUDTRAIL, "GetTrailStatus", |ct| ct.get_trail_status().name(trail).send()).await?;
    Ok(convert::trail_status(&out))
}

pub(super) async fn get_event_selectors(aws: &SdkAws, scope: &Scope, trail: &str) -> AwsResult<Selectors> {
    let out = aws.call(scope, &CLOUDTRAIL, "GetEventSelectors", |ct| ct.get_event_selectors().trail_name(trail).send()).await?;
    Ok(convert::selectors(&out))
}

pub(super) async fn get_insight_selectors(aws: &SdkAws, scope: &Scope, trail: &str) -> AwsResult<Insights> {
    let result =
        aws.call(scope, &CLOUDTRAIL, "GetInsightSelectors", |ct| ct.get_insight_selectors().trail_name(trail).send()).await;
    match result {
        Ok(out) => Ok(out.insight_selectors().iter().filter_map(|s| s.insight_type().and_then(convert::insight_type)).collect()),
        // AWS answers "not enabled" rather than an empty list.
        Err(e) if e.code == "InsightNotEnabledException" => Ok(Insights::new()),
        Err(e) => Err(e),
    }
}

/// The tags of up to 20 trails of the scope's region in one call, by trail ARN.
pub(super) async fn list_tags(aws: &SdkAws, scope: &Scope, trails: &[String]) -> AwsResult<BTreeMap<String, Tags>> {
    let out = aws
        .call(scope, &CLOUDTRAIL, "ListTags", |ct| ct.list_tags().set_resource_id_list(Some(trails.to_vec())).send())
        .await?;
    let mut by_trail: BTreeMap<String, Tags> = trails.iter().map(|t| (t.clone(), Tags::new())).collect();
    for resource in out.resource_tag_list() {
        let tags = resource.tags_list().iter().map(|t| (t.key().to_owned(), t.value().unwrap_or_default().to_owned()));
        by_trail.entry(resource.resource_id().unwrap_or_default().to_owned()).or_default().extend(tags);
    }
    Ok(by_trail)
}

/// Returns the new trail's ARN.
pub(super) async fn create_trail(
    aws: &SdkAws,
    scope: &Scope,
    name: &str,
    settings: &TrailSettings,
    tags: &Tags,
) -> AwsResult<String> {
    let operation = "CreateTrail";
    let cwl = settings.cloud_watch_logs.as_ref();
    let out = aws
        .call_on(scope, &CLOUDTRAIL, operation, Some(name), |ct| {
            ct.create_trail()
                .name(name)
                .s3_bucket_name(&settings.bucket)
                .set_s3_key_prefix(settings.key_prefix.clone())
                .set_sns_topic_name(settings.sns_topic.clone())
                .set_kms_key_id(settings.kms_key.clone())
                .enable_log_file_validation(settings.log_file_validation)
                .include_global_service_events(settings.include_global_service_events)
                .is_multi_region_trail(settings.multi_region)
                .is_organization_trail(settings.organization)
                .set_cloud_watch_logs_log_group_arn(cwl.map(|c| c.log_group_arn.clone()))
                .set_cloud_watch_logs_role_arn(cwl.map(|c| c.role_arn.clone()))
                .set_tags_list(Some(convert::to_sdk_tags(tags)))
                .send()
        })
        .await?;
    out.trail_arn().map(str::to_owned).ok_or_else(|| AwsError {
        service: CLOUDTRAIL.name,
        operation,
        kind: ErrorKind::Other,
        code: "NoTrailArn".into(),
        message: format!("{operation} returned no ARN for {name}"),
    })
}

/// Sends only the settings that differ between `from` (as observed) and `to`: CloudTrail
/// checks the bucket's and key's policies again for each it is sent, so resending a right
/// bucket or key could make a broken policy block the heal of an unrelated setting.
/// CloudWatch Logs' group and role go together, as CloudTrail takes them.
pub(super) async fn update_trail(aws: &SdkAws, scope: &Scope, trail: &str, from: &TrailSettings, to: &TrailSettings) -> AwsResult<()> {
    let changed = |f: fn(&TrailSettings) -> String| (f(from) != f(to)).then(|| f(to));
    let flag = |f: fn(&TrailSettings) -> bool| (f(from) != f(to)).then(|| f(to));
    let cwl = (from.cloud_watch_logs != to.cloud_watch_logs).then(|| to.cloud_watch_logs.clone());
    aws.call_on(scope, &CLOUDTRAIL, "UpdateTrail", Some(trail), |ct| {
        ct.update_trail()
            .name(trail)
            .set_s3_bucket_name(changed(|s| s.bucket.clone()))
            .set_s3_key_prefix(changed(|s| or_clear(&s.key_prefix)))
            .set_sns_topic_name(changed(|s| or_clear(&s.sns_topic)))
            .set_kms_key_id(changed(|s| or_clear(&s.kms_key)))
            .set_enable_log_file_validation(flag(|s| s.log_file_validation))
            .set_include_global_service_events(flag(|s| s.include_global_service_events))
            .set_is_multi_region_trail(flag(|s| s.multi_region))
            .set_is_organization_trail(flag(|s| s.organization))
            .set_cloud_watch_logs_log_group_arn(cwl.clone().map(|c| c.map(|c| c.log_group_arn).unwrap_or_default()))
            .set_cloud_watch_logs_role_arn(cwl.map(|c| c.map(|c| c.role_arn).unwrap_or_default()))
            .send()
    })
    .await?;
    Ok(())
}

pub(super) async fn start_logging(aws: &SdkAws, scope: &Scope, trail: &str) -> AwsResult<()> {
    aws.call_on(scope, &CLOUDTRAIL, "StartLogging", Some(trail), |ct| ct.start_logging().name(trail).send()).await?;
    Ok(())
}

pub(super) async fn stop_logging(aws: &SdkAws, scope: &Scope, trail: &str) -> AwsResult<()> {
    aws.call_on(scope, &CLOUDTRAIL, "StopLogging", Some(trail), |ct| ct.stop_logging().name(trail).send()).await?;
    Ok(())
}

pub(super) async fn put_event_selectors(aws: &SdkAws, scope: &Scope, trail: &str, selectors: &Selectors) -> AwsResult<()> {
    aws.call_on(scope, &CLOUDTRAIL, "PutEventSelectors", Some(trail), |ct| async move {
        let request = ct.put_event_selectors().trail_name(trail);
        let request = match selectors {
            Selectors::Basic(basic) => request.set_event_selectors(Some(convert::to_sdk_event_selectors(basic))),
            Selectors::Advanced(advanced) => {
                // Refused as AWS would refuse it: an invalid request, reported under this operation.
                let advanced = convert::to_sdk_advanced_selectors(advanced).map_err(SdkError::construction_failure)?;
                request.set_advanced_event_selectors(Some(advanced))
            }
        };
        request.send().await
    })
    .await?;
    Ok(())
}

pub(super) async fn put_insight_selectors(aws: &SdkAws, scope: &Scope, trail: &str, insights: &Insights) -> AwsResult<()> {
    let insight_selectors = insights
        .iter()
        .map(|t| ct::InsightSelector::builder().insight_type(convert::to_sdk_insight_type(*t)).build())
        .collect();
    aws.call_on(scope, &CLOUDTRAIL, "PutInsightSelectors", Some(trail), |ct| {
        ct.put_insight_selectors().trail_name(trail).set_insight_selectors(Some(insight_selectors)).send()
    })
    .await?;
    Ok(())
}

pub(super) async fn add_tags(aws: &SdkAws, scope: &Scope, trail: &str, tags: &Tags) -> AwsResult<()> {
    aws.call_on(scope, &CLOUDTRAIL, "AddTags", Some(trail), |ct| {
        ct.add_tags().resource_id(trail).set_tags_list(Some(convert::to_sdk_tags(tags))).send()
    })
    .await?;
    Ok(())
}

pub(super) async fn remove_tags(aws: &SdkAws, scope: &Scope, trail: &str, keys: &[String]) -> AwsResult<()> {
    let tags = keys.iter().map(|k| ct::Tag::builder().key(k).build().expect("tag key is set")).collect();
    aws.call_on(scope, &CLOUDTRAIL, "RemoveTags", Some(trail), |ct| ct.remove_tags().resource_id(trail).set_tags_list(Some(tags)).send())
        .await?;
    Ok(())
}

pub(super) async fn delete_trail(aws: &SdkAws, scope: &Scope, trail: &str) -> AwsResult<()> {
    aws.call_on(scope, &CLOUDTRAIL, "DeleteTrail", Some(trail), |ct| ct.delete_trail().name(trail).send()).await?;
    Ok(())
}
