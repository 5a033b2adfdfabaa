//! How a pass's results become conditions and Events.

use super::*;
use crate::testing::{desired, in_sync};
use crate::plan::plan;

fn write(stage: Stage, operation: &'static str) -> Write {
    Write { stage, operation, detail: None }
}

fn state(report: &Report, type_: ConditionType) -> (Option<bool>, &'static str) {
    let c = report.condition(type_).expect("condition present");
    (c.status, c.reason)
}

#[test]
fn a_failed_stage_is_named_and_makes_ready_false_while_logging_shows_the_truth() {
    let d = desired();
    let mut before = in_sync(&d);
    before.status.is_logging = false;
    before.description.settings.log_file_validation = false;
    let observed = Observed::Present(Box::new(before.clone()));
    let p = plan(&d, &observed);
    // StartLogging succeeded, UpdateTrail was refused.
    let after = before.after(&crate::plan::Action::StartLogging);
    let remaining = plan(&d, &Observed::Present(Box::new(after.clone()))).drift;
    let report = Report::of(PassResult {
        audit: false,
        observed: &observed,
        plan: &p,
        trail: Some(&after),
        remaining,
        had_trail: true,
        applied: vec![write(Stage::Logging, "StartLogging")],
        failures: vec![StageFailure { stage: Stage::Settings, failure: Failure::AccessDenied, message: "UpdateTrail refused".into() }],
        checks: None,
        below_floor: vec![],
    });
    assert_eq!(state(&report, ConditionType::Ready), (Some(false), "AccessDenied"));
    assert!(report.condition(ConditionType::Ready).unwrap().message.contains("settings: UpdateTrail refused"));
    assert_eq!(state(&report, ConditionType::Logging), (Some(true), "Logging"));
    assert_eq!(state(&report, ConditionType::Synced), (Some(false), "DriftDetected"));
    assert_eq!(report.drift.iter().map(|d| d.field.as_str()).collect::<Vec<_>>(), ["logFileValidation"]);
    assert_eq!(report.corrected.iter().map(|d| d.field.as_str()).collect::<Vec<_>>(), ["logging"]);
    let reasons: Vec<&str> = report.notices.iter().map(|n| n.reason).collect();
    assert_eq!(reasons, ["LoggingRestarted", "AccessDenied"]);
    assert_eq!(report.notices[1].action, "settings");
}

#[test]
fn an_unreadable_aws_claims_nothing() {
    let report = Report::unobserved(StageFailure { stage: Stage::Observe, failure: Failure::Throttled, message: "slow down".into() });
    assert_eq!(report.is_logging, None);
    assert_eq!(state(&report, ConditionType::Logging), (None, "NotObserved"));
    assert_eq!(state(&report, ConditionType::Synced), (None, "Throttled"));
    assert_eq!(state(&report, ConditionType::Compliant), (None, "NotEvaluated"));
}

#[test]
fn a_recreated_trail_says_so_and_posture_fixes_are_named() {
    let d = desired();
    let p = plan(&d, &Observed::Absent);
    let after = in_sync(&d);
    let report = Report::of(PassResult {
        audit: false,
        observed: &Observed::Absent,
        plan: &p,
        trail: Some(&after),
        remaining: vec![],
        had_trail: true,
        applied: vec![
            write(Stage::BucketPosture, "PutBucketPolicy"),
            write(Stage::Trail, "CreateTrail"),
            write(Stage::Logging, "StartLogging"),
        ],
        failures: vec![],
        checks: Some(vec![]),
        below_floor: vec![],
    });
    let reasons: Vec<&str> = report.notices.iter().map(|n| n.reason).collect();
    assert_eq!(reasons, ["TrailRecreated", "PostureCorrected"]);
    assert_eq!(state(&report, ConditionType::Ready), (Some(true), "Reconciled"));
    assert_eq!(state(&report, ConditionType::Synced), (Some(true), "InSync"));
}

#[test]
fn audit_reports_drift_without_claiming_a_correction() {
    let mut d = desired();
    d.mode = crate::policy::Mode::Audit;
    let mut trail = in_sync(&d);
    trail.status.is_logging = false;
    let observed = Observed::Present(Box::new(trail.clone()));
    let p = plan(&d, &observed);
    let report = Report::of(PassResult {
        audit: true,
        observed: &observed,
        plan: &p,
        trail: Some(&trail),
        remaining: p.drift.clone(),
        had_trail: true,
        applied: vec![],
        failures: vec![],
        checks: None,
        below_floor: vec![],
    });
    assert!(report.corrected.is_empty());
    assert_eq!(state(&report, ConditionType::Logging), (Some(false), "NotLogging"));
    assert!(report.condition(ConditionType::Synced).unwrap().message.starts_with("audit mode: "));
    assert_eq!(report.notices.iter().map(|n| n.reason).collect::<Vec<_>>(), ["DriftObserved"]);
}
