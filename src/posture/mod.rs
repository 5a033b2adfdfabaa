//! Posture: judge a trail, its log bucket and its KMS key against CIS / AWS FSBP / PCI
//! controls, and say what `manage: true` may correct. Pure: facts, the policy (which says
//! which checks are required) and the clock in; findings and fixes out. A fact that could
//! not be read makes its checks Unknown, never Pass.

pub mod bucket;
pub mod document;
pub mod key;

use jiff::{SignedDuration, Timestamp};

use crate::api::{CheckStatus, ComplianceFinding, EventSelector, ReadWriteType};
use crate::desired::Desired;
use crate::observe::ObservedTrail;
use crate::trail::Selectors;

/// A finding and whether the policy requires it to pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub finding: ComplianceFinding,
    pub required: bool,
}

/// How old the latest delivery may be while the trail logs, before delivery is suspect.
const DELIVERY_MAX_AGE: SignedDuration = SignedDuration::from_hours(24);

fn check(id: &str, controls: &[&str], required: bool, verdict: Result<String, String>) -> Check {
    let (status, message) = match verdict {
        Ok(m) => (CheckStatus::Pass, m),
        Err(m) => (CheckStatus::Fail, m),
    };
    Check {
        finding: ComplianceFinding {
            id: id.into(),
            status,
            controls: controls.iter().map(|c| (*c).to_owned()).collect(),
            message,
            required,
        },
        required,
    }
}

/// A check on a fact that may not have been readable: `Err` makes it Unknown.
pub fn check_known<E: std::fmt::Display>(
    id: &str,
    controls: &[&str],
    required: bool,
    verdict: Result<Result<String, String>, E>,
) -> Check {
    match verdict {
        Ok(v) => check(id, controls, required, v),
        Err(why) => Check {
            finding: ComplianceFinding {
                id: id.into(),
                status: CheckStatus::Unknown,
                controls: controls.iter().map(|c| (*c).to_owned()).collect(),
                message: format!("could not be evaluated: {why}"),
                required,
            },
            required,
        },
    }
}

/// A posture correction (only with `posture.*.manage`, never in Audit mode).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fix {
    BlockPublicAccess,
    EnableVersioning,
    /// The whole new bucket policy: the old one with our statements replaced.
    PutBucketPolicy(String),
    EnableKeyRotation,
    PutKeyPolicy(String),
}

impl Fix {
    pub fn name(&self) -> &'static str {
        match self {
            Fix::BlockPublicAccess => "PutPublicAccessBlock",
            Fix::EnableVersioning => "PutBucketVersioning",
            Fix::PutBucketPolicy(_) => "PutBucketPolicy",
            Fix::EnableKeyRotation => "EnableKeyRotation",
            Fix::PutKeyPolicy(_) => "PutKeyPolicy",
        }
    }
}

fn verdict(ok: bool, pass: &str, fail: &str) -> Result<String, String> {
    if ok { Ok(pass.into()) } else { Err(fail.into()) }
}

fn basic(selectors: &Selectors) -> &[EventSelector] {
    match selectors {
        Selectors::Basic(b) => b,
        Selectors::Advanced(_) => &[],
    }
}

/// All management events, read and write, none excluded.
fn records_all_management_events(selectors: &Selectors) -> bool {
    match selectors {
        Selectors::Basic(b) => b.iter().any(|s| {
            s.include_management_events && s.read_write_type == ReadWriteType::All && s.exclude_management_event_sources.is_empty()
        }),
        Selectors::Advanced(a) => a.iter().any(|s| {
            let category = s.field_selectors.iter().find(|f| f.field == "eventCategory");
            let management = category.is_some_and(|f| f.equals.iter().any(|v| v == "Management"));
            let narrowed = s.field_selectors.iter().any(|f| f.field == "readOnly" || f.field == "eventSource");
            management && !narrowed
        }),
    }
}

/// S3 object-level data events for writes (`write = true`) or reads.
fn records_s3_data_events(selectors: &Selectors, write: bool) -> bool {
    let direction_ok = |rw: ReadWriteType| rw == ReadWriteType::All || (rw == ReadWriteType::WriteOnly) == write;
    match selectors {
        Selectors::Basic(_) => basic(selectors).iter().any(|s| {
            direction_ok(s.read_write_type) && s.data_resources.iter().any(|d| d.type_ == "AWS::S3::Object")
        }),
        Selectors::Advanced(a) => a.iter().any(|s| {
            let s3 = s.field_selectors.iter().any(|f| f.field == "resources.type" && f.equals.iter().any(|v| v == "AWS::S3::Object"));
            let read_only = s.field_selectors.iter().find(|f| f.field == "readOnly").map(|f| f.equals.clone());
            let direction = match read_only.as_deref() {
                None | Some([]) => true,
                Some(values) => values.iter().any(|v| v == if write { "false" } else { "true" }),
            };
            s3 && direction
        }),
    }
}

/// CloudWatch Logs: configured, and (as CloudTrail.5 asks) delivered to within a day.
fn cloud_watch_delivery(trail: &ObservedTrail, now: Timestamp) -> Result<Result<String, String>, String> {
    let Some(target) = &trail.description.settings.cloud_watch_logs else {
        return Ok(Err("events are not delivered to CloudWatch Logs".into()));
    };
    let delivery = &trail.status.delivery;
    if let Some(error) = &delivery.latest_cloud_watch_logs_delivery_error {
        return Ok(Err(format!("delivery to {} fails: {error}", target.log_group_arn)));
    }
    match &delivery.latest_cloud_watch_logs_delivery_time {
        Some(t) if now.duration_since(t.0) <= DELIVERY_MAX_AGE => Ok(Ok(format!("delivers to {}", target.log_group_arn))),
        Some(t) => Ok(Err(format!("no delivery to {} since {}", target.log_group_arn, t.0))),
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
            "CT-LOGGING",
            &["CIS 3.1", "CloudTrail.1", "CloudTrail.3", "PCI DSS 10.2"],
            desired.logging,
            verdict(trail.status.is_logging, "the trail is logging", "the trail is not logging"),
        ),
        check(
            "CT-MULTI-REGION",
            &["CIS 3.1", "CloudTrail.1"],
            desired.settings.multi_region,
            verdict(settings.multi_region, "records every region", "records only its home region"),
        ),
        check(
            "CT-GLOBAL-SERVICE-EVENTS",
            &["CloudTrail.1"],
            desired.settings.include_global_service_events,
            verdict(settings.include_global_service_events, "records global services such as IAM", "global service events (IAM, STS) are not recorded"),
        ),
        check(
            "CT-MANAGEMENT-EVENTS",
            &["CIS 3.1", "CloudTrail.1"],
            records_all_management_events(wanted_selectors),
            verdict(
                records_all_management_events(&trail.selectors),
                "records all management events, read and write",
                "does not record all management events (read and write, none excluded)",
            ),
        ),
        check(
            "CT-LOG-VALIDATION",
            &["CIS 3.2", "CloudTrail.4", "PCI DSS 10.5"],
            desired.settings.log_file_validation,
            verdict(settings.log_file_validation, "log-file validation is on", "log-file validation is off: tampering cannot be detected"),
        ),
        check(
            "CT-KMS-ENCRYPTION",
            &["CIS 3.5", "CIS v1.4 3.7", "CloudTrail.2", "PCI DSS 3.4"],
            desired.settings.kms_key.is_some(),
            match &settings.kms_key {
                Some(key) => Ok(format!("encrypted with {key}")),
                None => Err("log files are not encrypted with a customer-managed KMS key".into()),
            },
        ),
        check_known(
            "CT-CLOUDWATCH-LOGS",
            &["CloudTrail.5", "CIS v1.4 3.4"],
            desired.settings.cloud_watch_logs.is_some(),
            cloud_watch_delivery(trail, now),
        ),
        check(
            "CT-INSIGHTS",
            &[],
            !desired.insights.is_empty(),
            match (desired.insights.is_subset(&trail.insights), trail.insights.is_empty()) {
                (true, false) => Ok("Insights are enabled as declared".into()),
                (_, true) if desired.insights.is_empty() => Err("no Insights enabled (the policy declares none)".into()),
                _ => Err("Insights are not enabled as declared".into()),
            },
        ),
        check(
            "CT-S3-DATA-EVENTS-WRITE",
            &["CIS 3.8"],
            records_s3_data_events(wanted_selectors, true),
            verdict(records_s3_data_events(&trail.selectors, true), "records S3 object-level writes", "S3 object-level write events are not recorded"),
        ),
        check(
            "CT-S3-DATA-EVENTS-READ",
            &["CIS 3.9"],
            records_s3_data_events(wanted_selectors, false),
            verdict(records_s3_data_events(&trail.selectors, false), "records S3 object-level reads", "S3 object-level read events are not recorded"),
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
        .filter(|t| trail.status.is_logging && now.duration_since(t.0) > DELIVERY_MAX_AGE)
        .map(|t| format!("no log file delivered since {}", t.0));
    let health = match (errors.is_empty(), stale) {
        (true, None) => Ok("no delivery errors reported".into()),
        (_, stale) => Err(errors.into_iter().chain(stale).collect::<Vec<_>>().join("; ")),
    };
    checks.push(check("CT-DELIVERY-HEALTH", &[], true, health));
    checks
}

/// The Compliant condition: False when a required check fails, True when all pass.
pub fn verdict_of(checks: &[Check]) -> (Option<bool>, String) {
    let failing: Vec<&str> = checks
        .iter()
        .filter(|c| c.required && c.finding.status == CheckStatus::Fail)
        .map(|c| c.finding.id.as_str())
        .collect();
    let unknown = checks.iter().any(|c| c.required && c.finding.status == CheckStatus::Unknown);
    if !failing.is_empty() {
        (Some(false), format!("required checks failing: {}", failing.join(", ")))
    } else if unknown {
        (None, "some required checks could not be evaluated".into())
    } else {
        let required = checks.iter().filter(|c| c.required).count();
        (Some(true), format!("all {required} required checks pass"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{DataResource, InsightType};
    use crate::fixtures::{desired, in_sync};
    use crate::trail::{CloudWatchTarget, Insights};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn trail(d: &Desired) -> ObservedTrail {
        in_sync(d)
    }

    fn status_of<'a>(checks: &'a [Check], id: &str) -> &'a Check {
        checks.iter().find(|c| c.finding.id == id).unwrap_or_else(|| panic!("no {id}"))
    }

    #[test]
    fn a_hardened_trail_is_compliant() {
        let d = desired();
        let checks = evaluate(&d, &trail(&d), Timestamp::now());
        assert_eq!(verdict_of(&checks).0, Some(true), "{checks:#?}");
        assert_eq!(status_of(&checks, "CT-LOG-VALIDATION").finding.controls, ["CIS 3.2", "CloudTrail.4", "PCI DSS 10.5"]);
    }

    #[test]
    fn stopped_logging_fails_a_required_check() {
        let d = desired();
        let mut t = trail(&d);
        t.status.is_logging = false;
        let checks = evaluate(&d, &t, Timestamp::now());
        assert_eq!(status_of(&checks, "CT-LOGGING").finding.status, CheckStatus::Fail);
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
        assert_eq!(kms.finding.status, CheckStatus::Fail);
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
        assert_eq!(status_of(&checks, "CT-MANAGEMENT-EVENTS").finding.status, CheckStatus::Fail);
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
        assert_eq!(status_of(&checks, "CT-S3-DATA-EVENTS-WRITE").finding.status, CheckStatus::Pass);
        assert_eq!(status_of(&checks, "CT-S3-DATA-EVENTS-READ").finding.status, CheckStatus::Fail);
        assert!(!status_of(&checks, "CT-S3-DATA-EVENTS-READ").required);
        assert_eq!(status_of(&checks, "CT-MANAGEMENT-EVENTS").finding.status, CheckStatus::Fail, "write-only is not all management events");
    }

    #[test]
    fn delivery_errors_and_stale_delivery_fail_delivery_health() {
        let d = desired();
        let now = Timestamp::from_second(10 * 86_400).unwrap();
        let mut t = trail(&d);
        t.status.delivery.latest_delivery_error = Some("AccessDenied".into());
        assert_eq!(status_of(&evaluate(&d, &t, now), "CT-DELIVERY-HEALTH").finding.status, CheckStatus::Fail);
        t.status.delivery.latest_delivery_error = None;
        t.status.delivery.latest_delivery_time = Some(Time(Timestamp::from_second(8 * 86_400).unwrap()));
        let health = status_of(&evaluate(&d, &t, now), "CT-DELIVERY-HEALTH").finding.clone();
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
            status_of(&evaluate(&d, &trail(&d), Timestamp::now()), "CT-CLOUDWATCH-LOGS").finding.status,
            CheckStatus::Unknown,
            "configured but never delivered"
        );
        let checks = evaluate(&d, &t, Timestamp::now());
        let (compliant, message) = verdict_of(&checks);
        assert_eq!(compliant, Some(false));
        assert!(message.contains("CT-CLOUDWATCH-LOGS") && message.contains("CT-INSIGHTS"), "{message}");
    }
}
