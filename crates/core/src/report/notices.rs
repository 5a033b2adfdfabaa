//! The Events of a pass that wrote: what it created, adopted, restarted, corrected and
//! fixed, and a uid tag it had to put back.

use super::{Notice, PassResult, Reason, Severity, Stage};
use crate::plan::Drift;

pub(super) fn remediation_notices(pass: &PassResult<'_>, corrected: &[Drift]) -> Vec<Notice> {
    let done = |name: &str| pass.applied.iter().any(|w| w.operation == name);
    let mut notices = vec![];
    if done("CreateTrail") {
        let (reason, what) =
            if pass.had_trail { (Reason::TrailRecreated, "recreated after it was deleted") } else { (Reason::TrailCreated, "created") };
        let names = pass.applied.iter().map(|w| w.operation).collect::<Vec<_>>().join(", ");
        notices.push(Notice { severity: Severity::Normal, reason: reason.into(), action: "CreateTrail", note: format!("trail {what}: {names}") });
    }
    let edited = !done("CreateTrail");
    if edited && done("AdoptTrail") {
        notices.push(Notice {
            severity: Severity::Normal,
            reason: Reason::TrailAdopted.into(),
            action: "AdoptTrail",
            note: "existing trail adopted and tagged as managed by this policy".into(),
        });
    }
    if edited && done("StartLogging") {
        notices.push(Notice {
            severity: Severity::Normal,
            reason: Reason::LoggingRestarted.into(),
            action: "StartLogging",
            note: "logging was stopped; restarted".into(),
        });
    }
    let settings: Vec<&Drift> = corrected.iter().filter(|d| d.field != "logging").collect();
    if edited && !settings.is_empty() {
        let note = settings.iter().map(|d| format!("{}: {} -> {}", d.field, d.observed, d.desired)).collect::<Vec<_>>().join("; ");
        notices.push(Notice { severity: Severity::Normal, reason: Reason::DriftCorrected.into(), action: "Correct", note });
    }
    let uid_tag = format!("tags.{}", crate::policy::OWNER_UID_TAG);
    if edited && !done("AdoptTrail") && done("AddTags") {
        // The trail is the policy's by the ARN it remembers owning, and its uid tag was
        // removed or changed: someone tried to pull it away from its policy.
        if let Some(tag) = pass.plan.drift.iter().find(|d| d.field == uid_tag) {
            notices.push(Notice {
                severity: Severity::Warning,
                reason: Reason::OwnershipTampered.into(),
                action: "AddTags",
                note: format!(
                    "the trail's tag {} was {} (found {}); put back: the trail stays this policy's",
                    crate::policy::OWNER_UID_TAG,
                    if tag.observed == crate::trail::NONE { "removed" } else { "changed" },
                    tag.observed
                ),
            });
        }
    }
    let fixes: Vec<&super::Write> = pass.applied.iter().filter(|w| matches!(w.stage, Stage::BucketPosture | Stage::KeyPosture)).collect();
    if !fixes.is_empty() {
        let note = fixes
            .iter()
            .map(|w| match &w.detail {
                Some(detail) => format!("{} ({detail})", w.operation),
                None => w.operation.to_owned(),
            })
            .collect::<Vec<_>>()
            .join(", ");
        notices.push(Notice { severity: Severity::Normal, reason: Reason::PostureCorrected.into(), action: "Correct", note });
    }
    notices
}
