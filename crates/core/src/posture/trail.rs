//! The trail's own checks: logging, coverage, integrity, encryption, delivery.

use jiff::{SignedDuration, Timestamp};
use strum::IntoStaticStr;

use super::{Check, CheckId, Verdict, check, check_known, selectors, verdict};
use crate::observed::ObservedTrail;
use crate::policy::Desired;

#[derive(Clone, Copy, Debug, PartialEq, Eq, IntoStaticStr)]
pub enum TrailCheck {
    #[strum(serialize = "CT-EXISTS")]
    Exists,
    #[strum(serialize = "CT-LOGGING")]
    Logging,
    #[strum(serialize = "CT-MULTI-REGION")]
    MultiRegion,
    #[strum(serialize = "CT-GLOBAL-SERVICE-EVENTS")]
    GlobalServiceEvents,
    #[strum(serialize = "CT-MANAGEMENT-EVENTS")]
    ManagementEvents,
    #[strum(serialize = "CT-LOG-VALIDATION")]
    LogValidation,
    #[strum(serialize = "CT-KMS-ENCRYPTION")]
    KmsEncryption,
    #[strum(serialize = "CT-CLOUDWATCH-LOGS")]
    CloudWatchLogs,
    #[strum(serialize = "CT-INSIGHTS")]
    Insights,
    #[strum(serialize = "CT-S3-DATA-EVENTS-WRITE")]
    S3DataEventsWrite,
    #[strum(serialize = "CT-S3-DATA-EVENTS-READ")]
    S3DataEventsRead,
    #[strum(serialize = "CT-DELIVERY-HEALTH")]
    DeliveryHealth,
    #[strum(serialize = "CT-LOG-INTEGRITY")]
    LogIntegrity,
}

impl CheckId for TrailCheck {
    fn controls(self) -> &'static [&'static str] {
        match self {
            TrailCheck::Exists | TrailCheck::MultiRegion | TrailCheck::ManagementEvents => &["CIS 3.1", "CloudTrail.1"],
            TrailCheck::Logging => &["CIS 3.1", "CloudTrail.1", "CloudTrail.3", "PCI DSS 10.2"],
            TrailCheck::GlobalServiceEvents => &["CloudTrail.1"],
            TrailCheck::LogValidation => &["CIS 3.2", "CloudTrail.4", "PCI DSS 10.5"],
            TrailCheck::KmsEncryption => &["CIS 3.5", "CIS v1.4 3.7", "CloudTrail.2", "PCI DSS 3.4"],
            TrailCheck::CloudWatchLogs => &["CloudTrail.5", "CIS v1.4 3.4"],
            TrailCheck::Insights | TrailCheck::DeliveryHealth => &[],
            TrailCheck::S3DataEventsWrite => &["CIS 3.8"],
            TrailCheck::S3DataEventsRead => &["CIS 3.9"],
            TrailCheck::LogIntegrity => &["PCI DSS 10.3.2", "PCI DSS 10.3.4"],
        }
    }
}

/// The trail is missing (or only a shadow of another region's trail is here).
pub fn missing(why: String) -> Check {
    check(TrailCheck::Exists, true, Err(why))
}

/// How old the latest delivery may be while the trail logs, before delivery is suspect.
const DELIVERY_MAX_AGE: SignedDuration = SignedDuration::from_hours(24);

/// CloudWatch Logs: configured, and (as CloudTrail.5 asks) delivered to within a day.
fn cloud_watch_delivery(trail: &ObservedTrail, now: Timestamp) -> Result<Verdict, String> {
    let Some(target) = &trail.description.settings.cloud_watch_logs else {
        return Ok(Err("events are not delivered to CloudWatch Logs".into()));
    };
    let delivery = &trail.status.delivery;
    if let Some(error) = &delivery.latest_cloud_watch_logs_delivery_error {
        return Ok(Err(format!("delivery to {} fails: {error}", target.log_group_arn)));
    }
    match &delivery.latest_cloud_watch_logs_delivery_time {
        Some(t) if now.duration_since(*t) <= DELIVERY_MAX_AGE => Ok(Ok(format!("delivers to {}", target.log_group_arn))),
        Some(t) => Ok(Err(format!("no delivery to {} since {t}", target.log_group_arn))),
        // A new trail has not delivered yet; neither pass nor fail until it reports.
        None => Err(format!("configured for {}, but CloudTrail has reported no delivery yet", target.log_group_arn)),
    }
}

/// Evaluates every trail check. `trail` is the trail as it stands after this pass.
pub fn evaluate(desired: &Desired, trail: &ObservedTrail, now: Timestamp) -> Vec<Check> {
    let settings = &trail.description.settings;
    let delivery = &trail.status.delivery;
    let wanted_selectors = &desired.selectors;
    let mut checks = vec![
        check(
            TrailCheck::Logging,
            desired.logging,
            verdict(trail.status.is_logging, "the trail is logging", "the trail is not logging"),
        ),
        check(
            TrailCheck::MultiRegion,
            desired.settings.multi_region,
            verdict(settings.multi_region, "records every region", "records only its home region"),
        ),
        check(
            TrailCheck::GlobalServiceEvents,
            desired.settings.include_global_service_events,
            verdict(settings.include_global_service_events, "records global services such as IAM", "global service events (IAM, STS) are not recorded"),
        ),
        check(
            TrailCheck::ManagementEvents,
            selectors::management_events(wanted_selectors).is_ok(),
            selectors::management_events(&trail.selectors),
        ),
        check(
            TrailCheck::LogValidation,
            desired.settings.log_file_validation,
            verdict(settings.log_file_validation, "log-file validation is on", "log-file validation is off: tampering cannot be detected"),
        ),
        check(
            TrailCheck::KmsEncryption,
            desired.settings.kms_key.is_some(),
            match &settings.kms_key {
                Some(key) => Ok(format!("encrypted with {key}")),
                None => Err("log files are not encrypted with a customer-managed KMS key".into()),
            },
        ),
        check_known(
            TrailCheck::CloudWatchLogs,
            desired.settings.cloud_watch_logs.is_some(),
            cloud_watch_delivery(trail, now),
        ),
        check(
            TrailCheck::Insights,
            !desired.insights.is_empty(),
            match (desired.insights.is_subset(&trail.insights), trail.insights.is_empty()) {
                (true, false) => Ok("Insights are enabled as declared".into()),
                (_, true) if desired.insights.is_empty() => Err("no Insights enabled (the policy declares none)".into()),
                _ => Err("Insights are not enabled as declared".into()),
            },
        ),
        check(
            TrailCheck::S3DataEventsWrite,
            selectors::s3_object_events(wanted_selectors, true).is_ok(),
            selectors::s3_object_events(&trail.selectors, true),
        ),
        check(
            TrailCheck::S3DataEventsRead,
            selectors::s3_object_events(wanted_selectors, false).is_ok(),
            selectors::s3_object_events(&trail.selectors, false),
        ),
    ];

    let errors: Vec<String> = [
        ("delivery", &delivery.latest_delivery_error),
        ("digest delivery", &delivery.latest_digest_delivery_error),
        ("CloudWatch Logs delivery", &delivery.latest_cloud_watch_logs_delivery_error),
        ("notification", &delivery.latest_notification_error),
    ]
    .iter()
    .filter_map(|(what, e)| e.as_ref().map(|e| format!("{what}: {e}")))
    .collect();
    let stale = delivery
        .latest_delivery_time
        .as_ref()
        .filter(|t| trail.status.is_logging && now.duration_since(**t) > DELIVERY_MAX_AGE)
        .map(|t| format!("no log file delivered since {t}"));
    let health = match (errors.is_empty(), stale) {
        (true, None) => Ok("no delivery errors reported".into()),
        (_, stale) => Err(errors.into_iter().chain(stale).collect::<Vec<_>>().join("; ")),
    };
    checks.push(check(TrailCheck::DeliveryHealth, true, health));
    checks.extend(integrity(desired));
    checks
}

/// CT-LOG-INTEGRITY: the digest chain as the log verifier last walked it, once it has
/// (until then the check is not reported: the verifier may be off, as it is for
/// `trailwarden check`, or not have run yet). Required when the trail declares validation.
fn integrity(desired: &Desired) -> Option<Check> {
    let standing = desired.remembered.log_integrity.as_ref()?;
    let verdict = match (&standing.first_finding, standing.verified_through, &standing.error) {
        (Some(finding), _, _) => Ok(Err(format!("the digest chain is broken: {finding}"))),
        // Never walked through: nothing is proven, whatever the verifier met.
        (None, None, Some(error)) => Err(format!("the log verifier could not walk the digest chain: {error}")),
        (None, Some(through), _) => Ok(Ok(format!("every digest and log file verified intact through {through}"))),
        (None, None, None) => Ok(Ok("no digest delivered in the verified window yet; nothing found wrong".to_owned())),
    };
    Some(check_known(TrailCheck::LogIntegrity, desired.settings.log_file_validation, verdict))
}


#[cfg(test)]
mod tests {
    use super::*;
    use crate::trail::{DataResource, EventSelector, InsightType, ReadWriteType, Selectors};
    use crate::testing::{desired, in_sync};
    use crate::trail::{CloudWatchTarget, Insights};
    use crate::posture::{CheckStatus, verdict_of};

    fn trail(d: &Desired) -> ObservedTrail {
        in_sync(d)
    }

    fn status_of<'a>(checks: &'a [Check], id: &str) -> &'a Check {
        checks.iter().find(|c| c.id == id).unwrap_or_else(|| panic!("no {id}"))
    }

    #[test]
    fn a_hardened_trail_is_compliant() {
        let d = desired();
        let checks = evaluate(&d, &trail(&d), Timestamp::now());
        assert_eq!(verdict_of(&checks).0, Some(true), "{checks:#?}");
        assert_eq!(status_of(&checks, "CT-LOG-VALIDATION").controls, ["CIS 3.2", "CloudTrail.4", "PCI DSS 10.5"]);
    }

    #[test]
    fn stopped_logging_fails_a_required_check() {
        let d = desired();
        let mut t = trail(&d);
        t.status.is_logging = false;
        let checks = evaluate(&d, &t, Timestamp::now());
        assert_eq!(status_of(&checks, "CT-LOGGING").status, CheckStatus::Fail);
        let (compliant, message) = verdict_of(&checks);
        assert_eq!(compliant, Some(false));
        assert!(message.contains("CT-LOGGING"));
    }

    #[test]
    fn checks_the_policy_does_not_ask_for_are_reported_but_not_required() {
        let mut d = desired();
        d.settings.kms_key = None;
        let checks = evaluate(&d, &trail(&d), Timestamp::now());
        let kms = status_of(&checks, "CT-KMS-ENCRYPTION");
        assert_eq!(kms.status, CheckStatus::Fail);
        assert!(!kms.required);
        assert_eq!(verdict_of(&checks).0, Some(true));
    }

    #[test]
    fn excluded_management_sources_fail_management_events() {
        let d = desired();
        let mut t = trail(&d);
        t.selectors = Selectors::Basic(vec![EventSelector {
            read_write_type: ReadWriteType::All,
            include_management_events: true,
            exclude_management_event_sources: vec!["kms.amazonaws.com".into()],
            data_resources: vec![],
        }]);
        let checks = evaluate(&d, &t, Timestamp::now());
        assert_eq!(status_of(&checks, "CT-MANAGEMENT-EVENTS").status, CheckStatus::Fail);
    }

    #[test]
    fn selectors_that_blind_a_logging_trail_fail_and_name_the_trick() {
        use crate::trail::{AdvancedEventSelector, AdvancedFieldSelector};
        let d = desired();
        let mut t = trail(&d);
        t.selectors = Selectors::Advanced(vec![AdvancedEventSelector {
            name: Some("Management events selector".into()),
            field_selectors: vec![
                AdvancedFieldSelector { field: "eventCategory".into(), equals: vec!["Management".into()], ..Default::default() },
                AdvancedFieldSelector { field: "eventName".into(), not_starts_with: vec!["Get".into()], ..Default::default() },
            ],
        }]);
        let checks = evaluate(&d, &t, Timestamp::now());
        assert_eq!(status_of(&checks, "CT-LOGGING").status, CheckStatus::Pass, "still logging");
        let management = status_of(&checks, "CT-MANAGEMENT-EVENTS");
        assert_eq!(management.status, CheckStatus::Fail);
        assert!(management.required, "the policy asks for the AWS default");
        assert!(
            management.message.contains("selector 'Management events selector' narrows management events by eventName (NotStartsWith [Get])"),
            "{}",
            management.message
        );
        assert_eq!(verdict_of(&checks).0, Some(false));
    }

    #[test]
    fn write_only_s3_data_events_pass_write_and_fail_read() {
        let mut d = desired();
        d.selectors = Selectors::Basic(vec![EventSelector {
            read_write_type: ReadWriteType::WriteOnly,
            include_management_events: true,
            exclude_management_event_sources: vec![],
            data_resources: vec![DataResource { type_: "AWS::S3::Object".into(), values: vec!["arn:aws:s3".into()] }],
        }]);
        let checks = evaluate(&d, &trail(&d), Timestamp::now());
        assert_eq!(status_of(&checks, "CT-S3-DATA-EVENTS-WRITE").status, CheckStatus::Pass);
        assert_eq!(status_of(&checks, "CT-S3-DATA-EVENTS-READ").status, CheckStatus::Fail);
        assert!(!status_of(&checks, "CT-S3-DATA-EVENTS-READ").required);
        assert_eq!(status_of(&checks, "CT-MANAGEMENT-EVENTS").status, CheckStatus::Fail, "write-only is not all management events");
    }

    #[test]
    fn delivery_errors_and_stale_delivery_fail_delivery_health() {
        let d = desired();
        let now = Timestamp::from_second(10 * 86_400).unwrap();
        let mut t = trail(&d);
        t.status.delivery.latest_delivery_error = Some("AccessDenied".into());
        assert_eq!(status_of(&evaluate(&d, &t, now), "CT-DELIVERY-HEALTH").status, CheckStatus::Fail);
        t.status.delivery.latest_delivery_error = None;
        t.status.delivery.latest_delivery_time = Some(Timestamp::from_second(8 * 86_400).unwrap());
        let health = status_of(&evaluate(&d, &t, now), "CT-DELIVERY-HEALTH").clone();
        assert_eq!(health.status, CheckStatus::Fail);
        assert!(health.message.contains("no log file delivered since"));
    }

    #[test]
    fn declared_insights_and_cloudwatch_are_required() {
        let mut d = desired();
        d.insights = Insights::from([InsightType::ApiCallRateInsight]);
        d.settings.cloud_watch_logs = Some(CloudWatchTarget { log_group_arn: "lg".into(), role_arn: "r".into() });
        let mut t = trail(&d);
        t.insights = Insights::new();
        t.description.settings.cloud_watch_logs = None;
        assert_eq!(
            status_of(&evaluate(&d, &trail(&d), Timestamp::now()), "CT-CLOUDWATCH-LOGS").status,
            CheckStatus::Unknown,
            "configured but never delivered"
        );
        let checks = evaluate(&d, &t, Timestamp::now());
        let (compliant, message) = verdict_of(&checks);
        assert_eq!(compliant, Some(false));
        assert!(message.contains("CT-CLOUDWATCH-LOGS") && message.contains("CT-INSIGHTS"), "{message}");
    }
}
