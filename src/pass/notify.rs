//! After the report: announce this pass's remediations and newly failing required
//! checks on the policy's SNS topic. Best effort: a refused publish becomes a warning
//! notice and never changes what the pass did. Audit mode writes nothing, so it sends
//! nothing either.

use jiff::Timestamp;
use trailwarden_core::Desired;
use trailwarden_core::notify::{Context, messages};
use trailwarden_core::report::{Notice, Reason, Report, Severity};

use super::History;
use super::observe::Observation;
use crate::aws::AwsPort;

pub async fn announce<P: AwsPort>(
    port: &P,
    desired: &Desired,
    observation: &Observation,
    history: &History,
    report: &mut Report,
    now: Timestamp,
) {
    let Some(topic) = desired.notify_topic.as_deref() else { return };
    if desired.audit() {
        return;
    }
    let trail_arn = report.trail_arn.clone().unwrap_or_default();
    let cx = Context {
        policy: &desired.policy_name,
        trail_arn: &trail_arn,
        account: &observation.account,
        region: &desired.scope.region,
        now,
    };
    let actions: Vec<&str> = report.applied.iter().map(|w| w.operation).collect();
    let sent = messages(&cx, &actions, &report.corrected, &history.failing_before, &report.findings);
    for message in sent {
        if let Err(e) = port.publish(&desired.scope, topic, &message.subject(), &message.body()).await {
            report.notices.push(Notice {
                severity: Severity::Warning,
                reason: Reason::NotificationFailed.into(),
                action: "Notify",
                note: format!("could not publish to {topic}: {e}"),
            });
        }
    }
}
