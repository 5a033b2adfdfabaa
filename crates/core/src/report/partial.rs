//! Reports of passes that judged nothing, or only part of the trail: AWS unreadable, a
//! trail the policy may not touch, only the trail's logging state read, a trail the floor
//! forbids creating.

use super::{ConditionType, Drift, Notice, Reason, Report, Severity, Stage, StageFailure, Write, condition, not_judged};
use crate::plan::Blocked;

impl Report {
    /// AWS could not be read: nothing is known, and nothing is claimed.
    pub fn unobserved(failure: StageFailure) -> Report {
        let reason = failure.failure.name();
        let notice = Notice { severity: Severity::Warning, reason, action: failure.stage.name(), note: failure.to_string() };
        let conditions = [
            (Some(false), reason, failure.to_string()),
            (None, reason, "could not compare the trail with the policy".into()),
            (None, Reason::NotObserved.into(), "could not read the trail's logging state".into()),
        ];
        Report { failures: vec![failure], ..Report::unjudged(None, conditions, notice) }
    }

    /// The trail may not be touched by this policy.
    pub fn blocked(blocked: &Blocked, arn: Option<String>) -> Report {
        let reason: &'static str = blocked.reason().into();
        let notice = Notice { severity: Severity::Warning, reason, action: "Reconcile", note: blocked.to_string() };
        let conditions = [
            (Some(false), reason, blocked.to_string()),
            (None, reason, blocked.summary().into()),
            (None, reason, blocked.summary().into()),
        ];
        Report::unjudged(arn, conditions, notice)
    }

    /// A report of a pass that judged and changed nothing: Ready, Synced and Logging as
    /// given, Compliant not evaluated, one notice.
    fn unjudged(trail_arn: Option<String>, [ready, synced, logging]: [(Option<bool>, &'static str, String); 3], notice: Notice) -> Report {
        Report {
            trail_arn,
            kms_key_arn: None,
            is_logging: None,
            delivery: None,
            drift: vec![],
            corrected: vec![],
            applied: vec![],
            failures: vec![],
            findings: vec![],
            conditions: vec![
                condition(ConditionType::Ready, ready.0, ready.1, ready.2),
                condition(ConditionType::Synced, synced.0, synced.1, synced.2),
                condition(ConditionType::Logging, logging.0, logging.1, logging.2),
                not_judged(),
            ],
            notices: vec![notice],
            owned_trail_arn: None,
            stopped_since: None,
            weakened: vec![],
            below_floor: vec![],
            restarts: None,
            alias_moved: false,
            key_deletion: None,
        }
    }

    /// The trail and its logging state could be read, the rest of it not (`failure`):
    /// nothing is compared, and logging, which needs nothing more, was restarted when it
    /// had stopped (`restart`: that StartLogging's outcome; None when none was made).
    pub fn partly_observed(failure: StageFailure, arn: String, was_logging: bool, restart: Option<Result<(), StageFailure>>) -> Report {
        let mut report = Report::unobserved(failure);
        report.trail_arn = Some(arn);
        let logging = match &restart {
            Some(Ok(())) => {
                report.applied.push(Write { stage: Stage::Logging, operation: "StartLogging", detail: None });
                report.notices.push(Notice {
                    severity: Severity::Normal,
                    reason: Reason::LoggingRestarted.into(),
                    action: "StartLogging",
                    note: "logging was stopped; restarted (the rest of the trail could not be read)".into(),
                });
                true
            }
            Some(Err(failed)) => {
                report.notices.push(Notice {
                    severity: Severity::Warning,
                    reason: failed.failure.name(),
                    action: failed.stage.name(),
                    note: failed.to_string(),
                });
                report.failures.push(failed.clone());
                false
            }
            None => was_logging,
        };
        report.is_logging = Some(logging);
        let state = match logging {
            true => condition(ConditionType::Logging, Some(true), Reason::Logging, "the trail is logging"),
            false => condition(ConditionType::Logging, Some(false), Reason::NotLogging, "the trail is not logging"),
        };
        report.conditions.retain(|c| c.type_ != ConditionType::Logging);
        report.conditions.insert(2, state);
        report
    }

    /// The report of a look that found logging on because an earlier look of the same
    /// pass had restarted it (and then gave way to a fresh look): the restart is this
    /// pass's, and said so.
    pub fn restarted_earlier(mut self) -> Report {
        self.applied.insert(0, Write { stage: Stage::Logging, operation: "StartLogging", detail: None });
        self.corrected.insert(0, Drift { field: "logging".into(), desired: "true".into(), observed: "false".into() });
        self.notices.insert(0, Notice {
            severity: Severity::Normal,
            reason: Reason::LoggingRestarted.into(),
            action: "StartLogging",
            note: "logging was stopped; restarted".into(),
        });
        self
    }

    /// A trail the floor forbids creating (see [`crate::floor::Held::no_new_trail`]).
    pub fn below_floor(why: String) -> Report {
        let conditions = [
            (Some(false), Reason::BelowFloor.into(), format!("below the operator's floor; no trail is created: {why}")),
            (Some(false), Reason::BelowFloor.into(), "no trail: the policy is below the operator's floor".to_owned()),
            (Some(false), Reason::TrailAbsent.into(), "the trail does not exist".to_owned()),
        ];
        let notice = Notice { severity: Severity::Warning, reason: Reason::BelowFloor.into(), action: "Reconcile", note: why.clone() };
        Report { below_floor: vec![why], ..Report::unjudged(None, conditions, notice) }
    }
}
