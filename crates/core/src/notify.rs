//! What trailwarden announces on the policy's SNS topic: one JSON message per
//! remediation and per set of newly failing required checks, the EventBridge → SNS →
//! chat pattern users otherwise build by hand. Pure: the messages are built here, sent by
//! the reconciler through the AWS port.

use jiff::Timestamp;
use serde::Serialize;

use crate::bounded;
use crate::plan::Drift;
use crate::posture::{Check, CheckStatus};

#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    pub source: &'static str,
    /// `Remediation` or `ChecksFailing`.
    pub kind: &'static str,
    pub policy: String,
    pub trail_arn: String,
    pub account: String,
    pub region: String,
    pub time: Timestamp,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<Drift>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failed_checks: Vec<Check>,
}

impl Message {
    pub fn subject(&self) -> String {
        // SNS subjects are at most 100 characters.
        format!("trailwarden: {} on {}", self.kind, self.policy).chars().take(100).collect()
    }

    pub fn body(&self) -> String {
        serde_json::to_string(self).expect("a message serialises")
    }
}

/// Where the messages are about.
pub struct Context<'a> {
    pub policy: &'a str,
    pub trail_arn: &'a str,
    pub account: &'a str,
    pub region: &'a str,
    pub now: Timestamp,
}

fn failing_required(findings: &[Check]) -> impl Iterator<Item = &Check> {
    findings.iter().filter(|f| f.required && f.status == CheckStatus::Fail)
}

/// A drift as announced: its values bounded (the whole message must stay within SNS's
/// 256 KiB however large a declared selector list is).
fn bounded_drift(d: &Drift) -> Drift {
    Drift {
        field: d.field.clone(),
        desired: bounded::text(&d.desired, bounded::DRIFT_VALUE_BYTES),
        observed: bounded::text(&d.observed, bounded::DRIFT_VALUE_BYTES),
    }
}

/// The messages one pass warrants: what it corrected, and the required checks that fail
/// now but did not at the previous look (`failing_before`: their ids then).
pub fn messages(
    cx: &Context<'_>,
    actions: &[&str],
    corrected: &[Drift],
    failing_before: &[String],
    now_findings: &[Check],
) -> Vec<Message> {
    let base = |kind| Message {
        source: "trailwarden",
        kind,
        policy: cx.policy.to_owned(),
        trail_arn: cx.trail_arn.to_owned(),
        account: cx.account.to_owned(),
        region: cx.region.to_owned(),
        time: cx.now,
        actions: vec![],
        drift: vec![],
        failed_checks: vec![],
    };
    let mut out = vec![];
    if !actions.is_empty() {
        let mut m = base("Remediation");
        m.actions = actions.iter().map(|a| (*a).to_owned()).collect();
        m.drift = corrected.iter().map(bounded_drift).collect();
        out.push(m);
    }
    let newly: Vec<Check> =
        failing_required(now_findings).filter(|f| !failing_before.iter().any(|id| id == f.id)).cloned().collect();
    if !newly.is_empty() {
        let mut m = base("ChecksFailing");
        m.failed_checks = newly
            .into_iter()
            .map(|c| Check { message: bounded::text(&c.message, bounded::CHECK_MESSAGE_BYTES), ..c })
            .collect();
        out.push(m);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(id: &'static str, status: CheckStatus, required: bool) -> Check {
        Check { id, status, controls: &["CIS 3.1"], message: "m".into(), required }
    }

    fn failing(findings: &[Check]) -> Vec<String> {
        failing_required(findings).map(|f| f.id.to_owned()).collect()
    }

    fn cx() -> Context<'static> {
        Context {
            policy: "audit",
            trail_arn: "arn:aws:cloudtrail:us-east-1:1:trail/audit",
            account: "1",
            region: "us-east-1",
            now: Timestamp::from_second(1_800_000_000).unwrap(),
        }
    }

    #[test]
    fn a_message_stays_within_sns_limits_however_large_the_drift() {
        let huge = "{\"field\":\"eventName\",\"equals\":[\"x\"]}".repeat(20_000);
        let drift: Vec<Drift> = ["selectors", "advancedSelectors", "tags"]
            .iter()
            .map(|f| Drift { field: (*f).into(), desired: huge.clone(), observed: huge.clone() })
            .collect();
        let mut check = finding("CT-LOGGING", CheckStatus::Fail, true);
        check.message = huge.clone();
        let out = messages(&cx(), &["PutEventSelectors"], &drift, &[], &[check]);
        for m in &out {
            assert!(m.body().len() < 16 * 1024, "{} bytes", m.body().len());
        }
        assert!(out[0].drift[0].desired.ends_with("bytes more)"));
    }

    #[test]
    fn a_remediation_is_announced_with_what_changed() {
        let drift = vec![Drift { field: "logging".into(), desired: "true".into(), observed: "false".into() }];
        let out = messages(&cx(), &["StartLogging"], &drift, &[], &[]);
        assert_eq!(out.len(), 1);
        let body: serde_json::Value = serde_json::from_str(&out[0].body()).unwrap();
        assert_eq!(body["kind"], "Remediation");
        assert_eq!(body["actions"][0], "StartLogging");
        assert_eq!(body["drift"][0]["field"], "logging");
        assert_eq!(body["trailArn"], "arn:aws:cloudtrail:us-east-1:1:trail/audit");
        assert_eq!(body["time"], "2027-01-15T08:00:00Z");
        assert_eq!(out[0].subject(), "trailwarden: Remediation on audit");
    }

    #[test]
    fn only_newly_failing_required_checks_are_announced() {
        let before = vec![finding("A", CheckStatus::Fail, true), finding("B", CheckStatus::Pass, true)];
        let now = vec![
            finding("A", CheckStatus::Fail, true),
            finding("B", CheckStatus::Fail, true),
            finding("C", CheckStatus::Fail, false),
            finding("D", CheckStatus::Unknown, true),
        ];
        let out = messages(&cx(), &[], &[], &failing(&before), &now);
        assert_eq!(out.len(), 1);
        let ids: Vec<_> = out[0].failed_checks.iter().map(|f| f.id).collect();
        assert_eq!(ids, ["B"]);
        assert!(messages(&cx(), &[], &[], &failing(&now), &now).is_empty(), "nothing new, nothing sent");
    }
}
