//! `plan(Desired, Observed) → Plan`: what differs, and the ordered AWS actions that make
//! the trail as declared. Pure: no I/O, no clock, so every rule here is unit-tested.

use std::fmt;

use crate::api::{Adoption, Drift, OWNER_TAG, OWNER_UID_TAG};
use crate::desired::Desired;
use crate::observe::{Observed, ObservedTrail};
use crate::api::AdvancedEventSelector;
use crate::trail::{Insights, Selectors, Tags, TrailSettings};

/// One AWS write. The order in [`Plan::actions`] is the order they must run in.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// CreateTrail with every declared setting and tag (ours included). Logging stays off.
    CreateTrail { name: String, settings: TrailSettings, tags: Tags },
    /// Tag a trail we did not create as this policy's, as `adoption` allows.
    AdoptTrail { tags: Tags },
    /// One UpdateTrail carrying every setting, so all corrections land together.
    UpdateTrail(TrailSettings),
    PutEventSelectors(Selectors),
    StartLogging,
    StopLogging,
    /// Also re-put after StartLogging: stopping logging drops Insights.
    PutInsightSelectors(Insights),
    /// Restore declared (or our own) tags; tags the policy does not name are left alone.
    AddTags(Tags),
}

impl Action {
    /// The AWS operation, as logs, status and metrics name it.
    pub fn name(&self) -> &'static str {
        match self {
            Action::CreateTrail { .. } => "CreateTrail",
            Action::AdoptTrail { .. } => "AdoptTrail",
            Action::UpdateTrail(_) => "UpdateTrail",
            Action::PutEventSelectors(_) => "PutEventSelectors",
            Action::StartLogging => "StartLogging",
            Action::StopLogging => "StopLogging",
            Action::PutInsightSelectors(_) => "PutInsightSelectors",
            Action::AddTags(_) => "AddTags",
        }
    }
}

/// Why nothing may be done to the trail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Blocked {
    /// A trail of that name exists but is not ours and `adoption` does not let us take it.
    NotOwned { arn: String, why: String },
    /// The name belongs to a multi-region trail whose home is another region.
    Shadow { arn: String, home_region: String },
}

impl Blocked {
    pub fn reason(&self) -> &'static str {
        match self {
            Blocked::NotOwned { .. } => "NotOwned",
            Blocked::Shadow { .. } => "ShadowTrail",
        }
    }
}

impl fmt::Display for Blocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Blocked::NotOwned { arn, why } => write!(f, "trail {arn} is not managed by this policy: {why}"),
            Blocked::Shadow { arn, home_region } => write!(
                f,
                "trail {arn} is a multi-region trail whose home region is {home_region}; \
                 set spec.region to {home_region} or choose another trailName"
            ),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Plan {
    pub drift: Vec<Drift>,
    pub actions: Vec<Action>,
    pub blocked: Option<Blocked>,
}

impl Plan {
    pub fn in_sync(&self) -> bool {
        self.blocked.is_none() && self.drift.is_empty() && self.actions.is_empty()
    }
}

/// How the policy relates to an existing trail.
#[derive(Debug, PartialEq, Eq)]
enum Ownership {
    Ours,
    Adoptable,
    NotOwned(String),
}

fn ownership(desired: &Desired, tags: &Tags) -> Ownership {
    if tags.get(OWNER_UID_TAG) == Some(&desired.policy_uid) {
        return Ownership::Ours;
    }
    let tagged_for_us = tags.get(OWNER_TAG) == Some(&desired.policy_name);
    match desired.adoption {
        Adoption::Always => Ownership::Adoptable,
        Adoption::IfTagged if tagged_for_us => Ownership::Adoptable,
        Adoption::IfTagged => Ownership::NotOwned(format!(
            "adoption is IfTagged and the trail lacks the tag {OWNER_TAG}={}",
            desired.policy_name
        )),
        Adoption::Never => Ownership::NotOwned(
            "trailwarden did not create it and adoption is Never (set adoption to IfTagged or Always to take it over)"
                .into(),
        ),
    }
}

/// Whether the existing trail is this policy's to change or delete.
pub fn is_ours(desired: &Desired, tags: &Tags) -> bool {
    ownership(desired, tags) == Ownership::Ours
}

pub fn plan(desired: &Desired, observed: &Observed) -> Plan {
    match observed {
        Observed::Absent => plan_create(desired),
        Observed::Shadow { arn, home_region } => Plan {
            blocked: Some(Blocked::Shadow { arn: arn.clone(), home_region: home_region.clone() }),
            ..Plan::default()
        },
        Observed::Present(trail) => match ownership(desired, &trail.tags) {
            Ownership::NotOwned(why) => {
                Plan { blocked: Some(Blocked::NotOwned { arn: trail.arn().to_owned(), why }), ..Plan::default() }
            }
            Ownership::Adoptable => plan_existing(desired, trail, true),
            Ownership::Ours => plan_existing(desired, trail, false),
        },
    }
}

fn plan_create(desired: &Desired) -> Plan {
    let mut actions = vec![Action::CreateTrail {
        name: desired.trail_name.clone(),
        settings: desired.settings.clone(),
        tags: desired.all_tags(),
    }];
    if !desired.selectors.is_aws_default() {
        actions.push(Action::PutEventSelectors(desired.selectors.clone()));
    }
    if desired.logging {
        actions.push(Action::StartLogging);
    }
    if !desired.insights.is_empty() {
        actions.push(Action::PutInsightSelectors(desired.insights.clone()));
    }
    let drift = vec![Drift { field: "trail".into(), desired: "present".into(), observed: "absent".into() }];
    Plan { drift, actions, blocked: None }
}

fn plan_existing(desired: &Desired, trail: &ObservedTrail, adopt: bool) -> Plan {
    let mut drift = vec![];
    let mut actions = vec![];
    if adopt {
        actions.push(Action::AdoptTrail { tags: desired.owner_tags() });
    }

    if settings_drift(&desired.settings, &trail.description.settings, &mut drift) {
        actions.push(Action::UpdateTrail(desired.settings.clone()));
    }

    if normalise(&desired.selectors) != normalise(&trail.selectors) {
        drift.push(Drift {
            field: selectors_field(&desired.selectors).into(),
            desired: describe_selectors(&desired.selectors),
            observed: describe_selectors(&trail.selectors),
        });
        actions.push(Action::PutEventSelectors(desired.selectors.clone()));
    }

    let restart = desired.logging && !trail.status.is_logging;
    if desired.logging != trail.status.is_logging {
        drift.push(Drift {
            field: "logging".into(),
            desired: desired.logging.to_string(),
            observed: trail.status.is_logging.to_string(),
        });
        actions.push(if desired.logging { Action::StartLogging } else { Action::StopLogging });
    }

    let insights_differ = desired.insights != trail.insights;
    if insights_differ {
        drift.push(Drift {
            field: "insights".into(),
            desired: describe_insights(&desired.insights),
            observed: describe_insights(&trail.insights),
        });
    }
    if insights_differ || (restart && !desired.insights.is_empty()) {
        actions.push(Action::PutInsightSelectors(desired.insights.clone()));
    }

    // Our own tags are part of the drift only for a trail already ours; adoption adds them.
    let wanted = if adopt { desired.tags.clone() } else { desired.all_tags() };
    let mut restore = Tags::new();
    for (key, value) in &wanted {
        let current = trail.tags.get(key);
        if current != Some(value) {
            drift.push(Drift {
                field: format!("tags.{key}"),
                desired: value.clone(),
                observed: current.cloned().unwrap_or_else(|| NONE.into()),
            });
            restore.insert(key.clone(), value.clone());
        }
    }
    if !restore.is_empty() {
        actions.push(Action::AddTags(restore));
    }

    Plan { drift, actions, blocked: None }
}

const NONE: &str = "(none)";

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
/// matches its ARN in case resolution was skipped.
fn same_key(desired: &Option<String>, observed: &Option<String>) -> bool {
    let key_id = |k: &str| k.rsplit("key/").next().unwrap_or(k).to_owned();
    match (desired, observed) {
        (None, None) => true,
        (Some(d), Some(o)) => d == o || key_id(d) == key_id(o),
        _ => false,
    }
}

/// Records each trail setting that differs; true when UpdateTrail is needed.
fn settings_drift(desired: &TrailSettings, observed: &TrailSettings, drift: &mut Vec<Drift>) -> bool {
    let before = drift.len();
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
    } = desired;
    field("s3.bucketName", *bucket == observed.bucket, bucket.clone(), observed.bucket.clone());
    field("s3.keyPrefix", *key_prefix == observed.key_prefix, show(key_prefix), show(&observed.key_prefix));
    field("snsTopicName", same_topic(sns_topic, &observed.sns_topic), show(sns_topic), show(&observed.sns_topic));
    field("kmsKeyId", same_key(kms_key, &observed.kms_key), show(kms_key), show(&observed.kms_key));
    let flag = |d: &bool, o: &bool| (*d == *o, d.to_string(), o.to_string());
    let (same, d, o) = flag(log_file_validation, &observed.log_file_validation);
    field("logFileValidation", same, d, o);
    let (same, d, o) = flag(include_global_service_events, &observed.include_global_service_events);
    field("includeGlobalServiceEvents", same, d, o);
    let (same, d, o) = flag(multi_region, &observed.multi_region);
    field("multiRegion", same, d, o);
    let (same, d, o) = flag(organization, &observed.organization);
    field("organization", same, d, o);
    let cwl = |c: &Option<crate::trail::CloudWatchTarget>| {
        c.as_ref().map(|c| format!("{} via {}", c.log_group_arn, c.role_arn)).unwrap_or_else(|| NONE.into())
    };
    field("cloudWatchLogs", *cloud_watch_logs == observed.cloud_watch_logs, cwl(cloud_watch_logs), cwl(&observed.cloud_watch_logs));
    drift.len() > before
}

/// Order inside a selector carries no meaning to AWS; sort it away before comparing.
fn normalise(selectors: &Selectors) -> Selectors {
    match selectors {
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
        Selectors::Advanced(advanced) => Selectors::Advanced(advanced.iter().map(normalise_advanced).collect()),
    }
}

fn normalise_advanced(selector: &AdvancedEventSelector) -> AdvancedEventSelector {
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
}

fn selectors_field(selectors: &Selectors) -> &'static str {
    match selectors {
        Selectors::Basic(_) => "eventSelectors",
        Selectors::Advanced(_) => "advancedEventSelectors",
    }
}

fn describe_selectors(selectors: &Selectors) -> String {
    match selectors {
        Selectors::Basic(_) if selectors.is_aws_default() => "default (all management events)".into(),
        Selectors::Basic(basic) => format!("{} basic selector(s): {}", basic.len(), serde_json::to_string(basic).unwrap_or_default()),
        Selectors::Advanced(adv) => format!("{} advanced selector(s): {}", adv.len(), serde_json::to_string(adv).unwrap_or_default()),
    }
}

fn describe_insights(insights: &Insights) -> String {
    if insights.is_empty() {
        return NONE.into();
    }
    insights.iter().map(|i| format!("{i:?}")).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{AdvancedEventSelector, AdvancedFieldSelector, DataResource, EventSelector, InsightType, ReadWriteType};
    use crate::trail::CloudWatchTarget;

    use crate::fixtures::{KEY_ARN, TRAIL_ARN as ARN, desired, in_sync};

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
        assert_eq!(p.blocked.as_ref().map(Blocked::reason), Some("NotOwned"));
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
        assert_eq!(p.blocked.as_ref().map(Blocked::reason), Some("NotOwned"));
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
        assert_eq!(p.blocked.as_ref().map(Blocked::reason), Some("NotOwned"));
    }

    #[test]
    fn shadow_trail_is_blocked_with_the_home_region_named() {
        let p = plan(&desired(), &Observed::Shadow { arn: ARN.into(), home_region: "eu-west-1".into() });
        let blocked = p.blocked.expect("blocked");
        assert_eq!(blocked.reason(), "ShadowTrail");
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
}
