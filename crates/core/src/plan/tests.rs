//! The plan's rules, one table row each.

use super::*;
use crate::trail::{AdvancedEventSelector, AdvancedFieldSelector, CloudWatchTarget, DataResource, EventSelector, InsightType, ReadWriteType};

use crate::testing::{KEY_ARN, TRAIL_ARN as ARN, desired, in_sync};

mod adoption;

fn plan_with(d: &Desired, change: impl FnOnce(&mut ObservedTrail)) -> Plan {
    let mut trail = in_sync(d);
    change(&mut trail);
    plan(d, &Observed::Present(Box::new(trail)))
}

fn fields(p: &Plan) -> Vec<&str> {
    p.drift.iter().map(|d| d.field.as_str()).collect()
}

fn names(p: &Plan) -> Vec<&str> {
    p.actions.iter().map(Action::name).collect()
}

fn s3_writes() -> Selectors {
    Selectors::Basic(vec![EventSelector {
        read_write_type: ReadWriteType::WriteOnly,
        include_management_events: true,
        exclude_management_event_sources: vec![],
        data_resources: vec![DataResource { type_: "AWS::S3::Object".into(), values: vec!["arn:aws:s3".into()] }],
    }])
}

fn advanced() -> Selectors {
    Selectors::Advanced(vec![AdvancedEventSelector {
        name: Some("mgmt".into()),
        field_selectors: vec![AdvancedFieldSelector {
            field: "eventCategory".into(),
            equals: vec!["Management".into()],
            ..Default::default()
        }],
    }])
}

#[test]
fn in_sync_trail_needs_nothing() {
    let d = desired();
    let p = plan_with(&d, |_| {});
    assert!(p.in_sync(), "{p:?}");
}

#[test]
fn missing_trail_is_created_then_logging_started() {
    let p = plan(&desired(), &Observed::Absent);
    assert_eq!(names(&p), ["CreateTrail", "StartLogging"]);
    assert_eq!(fields(&p), ["trail"]);
    let Action::CreateTrail { tags, .. } = &p.actions[0] else { panic!() };
    assert_eq!(tags.get(OWNER_UID_TAG).map(String::as_str), Some("uid-1"), "created trails carry our tag");
    assert_eq!(tags.get("team").map(String::as_str), Some("security"));
}

#[test]
fn missing_trail_with_selectors_and_insights_gets_them_after_creation() {
    let mut d = desired();
    d.selectors = s3_writes();
    d.insights = Insights::from([InsightType::ApiCallRateInsight]);
    let p = plan(&d, &Observed::Absent);
    assert_eq!(names(&p), ["CreateTrail", "PutEventSelectors", "StartLogging", "PutInsightSelectors"]);
}

#[test]
fn missing_trail_that_should_not_log_is_created_without_starting() {
    let mut d = desired();
    d.logging = false;
    assert_eq!(names(&plan(&d, &Observed::Absent)), ["CreateTrail"]);
}

#[test]
fn stopped_logging_is_restarted() {
    let d = desired();
    let p = plan_with(&d, |t| t.status.is_logging = false);
    assert_eq!(names(&p), ["StartLogging"]);
    assert_eq!(p.drift, [Drift { field: "logging".into(), desired: "true".into(), observed: "false".into() }]);
}

#[test]
fn restart_puts_insights_back_because_stopping_drops_them() {
    let mut d = desired();
    d.insights = Insights::from([InsightType::ApiErrorRateInsight]);
    let p = plan_with(&d, |t| t.status.is_logging = false);
    assert_eq!(names(&p), ["StartLogging", "PutInsightSelectors"]);
    assert_eq!(fields(&p), ["logging"], "insights were not seen to differ, they are re-put as a precaution");
}

#[test]
fn logging_on_when_policy_says_off_is_stopped() {
    let mut d = desired();
    d.logging = false;
    let p = plan_with(&d, |t| t.status.is_logging = true);
    assert_eq!(names(&p), ["StopLogging"]);
}

#[test]
fn validation_off_is_one_update() {
    let d = desired();
    let p = plan_with(&d, |t| t.description.settings.log_file_validation = false);
    assert_eq!(fields(&p), ["logFileValidation"]);
    assert_eq!(p.actions, [Action::UpdateTrail(d.settings.clone())]);
}

#[test]
fn several_setting_drifts_share_one_update() {
    let d = desired();
    let p = plan_with(&d, |t| {
        let s = &mut t.description.settings;
        s.multi_region = false;
        s.include_global_service_events = false;
        s.bucket = "elsewhere".into();
        s.key_prefix = None;
    });
    assert_eq!(fields(&p), ["s3.bucketName", "s3.keyPrefix", "includeGlobalServiceEvents", "multiRegion"]);
    assert_eq!(names(&p), ["UpdateTrail"]);
}

#[test]
fn kms_key_removed_is_restored() {
    let d = desired();
    let p = plan_with(&d, |t| t.description.settings.kms_key = None);
    assert_eq!(p.drift, [Drift { field: "kmsKeyId".into(), desired: KEY_ARN.into(), observed: "(none)".into() }]);
    assert_eq!(names(&p), ["UpdateTrail"]);
}

#[test]
fn kms_key_changed_is_restored() {
    let d = desired();
    let p = plan_with(&d, |t| {
        t.description.settings.kms_key = Some("arn:aws:kms:us-east-1:111122223333:key/ffffffff-12ab-34cd-56ef-1234567890ab".into())
    });
    assert_eq!(fields(&p), ["kmsKeyId"]);
}

#[test]
fn kms_key_id_matches_its_arn() {
    let mut d = desired();
    d.settings.kms_key = Some("1234abcd-12ab-34cd-56ef-1234567890ab".into());
    let p = plan_with(&d, |t| t.description.settings.kms_key = Some(KEY_ARN.into()));
    assert!(p.in_sync(), "{p:?}");
}

#[test]
fn unwanted_kms_key_is_removed() {
    let mut d = desired();
    d.settings.kms_key = None;
    let p = plan_with(&d, |t| t.description.settings.kms_key = Some(KEY_ARN.into()));
    assert_eq!(fields(&p), ["kmsKeyId"]);
}

#[test]
fn sns_topic_name_matches_the_arn_aws_reports() {
    let mut d = desired();
    d.settings.sns_topic = Some("deliveries".into());
    let p = plan_with(&d, |t| t.description.settings.sns_topic = Some("arn:aws:sns:us-east-1:111122223333:deliveries".into()));
    assert!(p.in_sync(), "{p:?}");
}

#[test]
fn sns_topic_changed_is_restored() {
    let mut d = desired();
    d.settings.sns_topic = Some("deliveries".into());
    let p = plan_with(&d, |t| t.description.settings.sns_topic = Some("arn:aws:sns:us-east-1:111122223333:other".into()));
    assert_eq!(fields(&p), ["snsTopicName"]);
    assert_eq!(names(&p), ["UpdateTrail"]);
}

#[test]
fn cloud_watch_logs_removed_is_restored() {
    let mut d = desired();
    d.settings.cloud_watch_logs = Some(CloudWatchTarget {
        log_group_arn: "arn:aws:logs:us-east-1:111122223333:log-group:ct:*".into(),
        role_arn: "arn:aws:iam::111122223333:role/ct".into(),
    });
    let p = plan_with(&d, |t| t.description.settings.cloud_watch_logs = None);
    assert_eq!(fields(&p), ["cloudWatchLogs"]);
    assert_eq!(names(&p), ["UpdateTrail"]);
}

#[test]
fn organization_flag_drift_is_corrected() {
    let mut d = desired();
    d.settings.organization = true;
    let p = plan_with(&d, |t| t.description.settings.organization = false);
    assert_eq!(fields(&p), ["organization"]);
}

#[test]
fn replaced_selectors_are_put_back() {
    let mut d = desired();
    d.selectors = s3_writes();
    let p = plan_with(&d, |t| t.selectors = Selectors::aws_default());
    assert_eq!(fields(&p), ["eventSelectors"]);
    assert_eq!(p.actions, [Action::PutEventSelectors(s3_writes())]);
}

#[test]
fn switching_from_basic_to_advanced_selectors_is_one_put() {
    let mut d = desired();
    d.selectors = advanced();
    let p = plan_with(&d, |t| t.selectors = s3_writes());
    assert_eq!(fields(&p), ["advancedEventSelectors"]);
    assert_eq!(p.actions, [Action::PutEventSelectors(advanced())]);
}

#[test]
fn empty_basic_selectors_equal_the_default() {
    let d = desired();
    let p = plan_with(&d, |t| t.selectors = Selectors::Basic(vec![]));
    assert!(p.in_sync(), "{p:?}");
}

#[test]
fn selector_order_inside_a_selector_is_not_drift() {
    let mut d = desired();
    let sel = |values: Vec<&str>| {
        Selectors::Basic(vec![EventSelector {
            read_write_type: ReadWriteType::All,
            include_management_events: true,
            exclude_management_event_sources: vec![],
            data_resources: vec![DataResource { type_: "AWS::S3::Object".into(), values: values.into_iter().map(Into::into).collect() }],
        }])
    };
    d.selectors = sel(vec!["arn:aws:s3:::a/", "arn:aws:s3:::b/"]);
    let p = plan_with(&d, |t| t.selectors = sel(vec!["arn:aws:s3:::b/", "arn:aws:s3:::a/"]));
    assert!(p.in_sync(), "{p:?}");
}

#[test]
fn removed_insights_are_put_back() {
    let mut d = desired();
    d.insights = Insights::from([InsightType::ApiCallRateInsight, InsightType::ApiErrorRateInsight]);
    let p = plan_with(&d, |t| t.insights = Insights::new());
    assert_eq!(fields(&p), ["insights"]);
    assert_eq!(p.actions, [Action::PutInsightSelectors(d.insights.clone())]);
}

#[test]
fn undeclared_insights_are_removed() {
    let d = desired();
    let p = plan_with(&d, |t| t.insights = Insights::from([InsightType::ApiCallRateInsight]));
    assert_eq!(p.actions, [Action::PutInsightSelectors(Insights::new())]);
}

#[test]
fn changed_declared_tag_is_restored_and_foreign_tags_are_kept() {
    let d = desired();
    let p = plan_with(&d, |t| {
        t.tags.insert("team".into(), "someone-else".into());
        t.tags.insert("owner".into(), "finance".into());
    });
    assert_eq!(fields(&p), ["tags.team"]);
    assert_eq!(p.actions, [Action::AddTags(Tags::from([("team".into(), "security".into())]))]);
}

#[test]
fn our_name_tag_is_restored_on_our_trail() {
    let d = desired();
    let p = plan_with(&d, |t| {
        t.tags.remove(OWNER_TAG);
    });
    assert_eq!(p.actions, [Action::AddTags(Tags::from([(OWNER_TAG.into(), "audit".into())]))]);
}

#[test]
fn foreign_trail_is_left_alone_when_adoption_is_never() {
    let d = desired();
    let p = plan_with(&d, |t| {
        t.tags = Tags::new();
        t.status.is_logging = false;
    });
    assert!(matches!(p.blocked, Some(Blocked::NotOwned { .. })), "{p:?}");
    assert!(p.actions.is_empty());
}

#[test]
fn trail_tagged_for_us_is_not_adopted_under_never() {
    let d = desired();
    let p = plan_with(&d, |t| {
        t.tags = Tags::from([(OWNER_TAG.into(), "audit".into())]);
    });
    assert_eq!(p.blocked.as_ref().map(Blocked::reason), Some(Reason::NotOwned));
}

#[test]
fn if_tagged_adopts_a_trail_carrying_our_tag() {
    let mut d = desired();
    d.adoption = Adoption::IfTagged;
    let p = plan_with(&d, |t| {
        t.tags = Tags::from([(OWNER_TAG.into(), "audit".into()), ("team".into(), "security".into())]);
        t.status.is_logging = false;
    });
    assert_eq!(names(&p), ["AdoptTrail", "StartLogging"]);
    assert_eq!(p.actions[0], Action::AdoptTrail { tags: d.owner_tags() });
}

#[test]
fn if_tagged_refuses_a_trail_tagged_for_another_policy() {
    let mut d = desired();
    d.adoption = Adoption::IfTagged;
    let p = plan_with(&d, |t| t.tags = Tags::from([(OWNER_TAG.into(), "other".into())]));
    assert_eq!(p.blocked.as_ref().map(Blocked::reason), Some(Reason::NotOwned));
}

#[test]
fn always_adopts_any_trail_and_fixes_it() {
    let mut d = desired();
    d.adoption = Adoption::Always;
    let p = plan_with(&d, |t| {
        t.tags = Tags::new();
        t.description.settings.log_file_validation = false;
    });
    assert_eq!(names(&p), ["AdoptTrail", "UpdateTrail", "AddTags"]);
    assert_eq!(fields(&p), ["logFileValidation", "tags.team"]);
}

#[test]
fn trail_of_another_policy_object_with_same_name_is_not_ours() {
    // Same policy name, new object (e.g. restored from Git): the uid differs.
    let d = desired();
    let p = plan_with(&d, |t| {
        t.tags.insert(OWNER_UID_TAG.into(), "uid-old".into());
    });
    assert_eq!(p.blocked.as_ref().map(Blocked::reason), Some(Reason::NotOwned));
}

#[test]
fn shadow_trail_is_blocked_with_the_home_region_named() {
    let p = plan(&desired(), &Observed::Shadow { arn: ARN.into(), home_region: "eu-west-1".into() });
    let blocked = p.blocked.expect("blocked");
    assert_eq!(blocked.reason(), Reason::ShadowTrail);
    assert!(blocked.to_string().contains("eu-west-1"));
    assert!(p.actions.is_empty());
}

#[test]
fn every_drift_at_once_orders_actions_safely() {
    let mut d = desired();
    d.selectors = s3_writes();
    d.insights = Insights::from([InsightType::ApiCallRateInsight]);
    let p = plan_with(&d, |t| {
        t.status.is_logging = false;
        t.description.settings.multi_region = false;
        t.selectors = Selectors::aws_default();
        t.insights = Insights::new();
        t.tags.insert("team".into(), "x".into());
    });
    assert_eq!(names(&p), ["UpdateTrail", "PutEventSelectors", "StartLogging", "PutInsightSelectors", "AddTags"]);
}
