//! The policy's Events: each notice of a pass published through kube-runtime's recorder,
//! and the repeats of a pass that wrote nothing left out for an hour.

use std::time::Duration;

use kube::runtime::events::{Event, EventType};
use kube::{Resource, ResourceExt};
use tracing::warn;
use trailwarden_core::report::{Notice, Severity};

use super::Context;
use crate::k8s::api::TrailPolicy;

/// How long a notice published for a policy keeps an identical one from being published
/// again by a pass that wrote nothing.
const NOTICE_QUIET: Duration = Duration::from_secs(3600);

/// Notices remembered per policy, at most: enough for the distinct Warnings of one pass.
const NOTICES_REMEMBERED: usize = 16;

/// [`publish`], leaving out each notice identical (reason and note) to one published for
/// the policy within [`NOTICE_QUIET`]: a failure seen at every pass is one Event an hour,
/// not one a minute, and kube-runtime's recorder keeps fewer series.
pub(super) async fn publish_new<P>(ctx: &Context<P>, policy: &TrailPolicy, notices: &[Notice]) {
    let fresh: Vec<Notice> = {
        let mut said = ctx.said.lock().expect("said lock");
        let recent = said.entry(policy.uid().unwrap_or_default()).or_default();
        recent.retain(|(_, at)| at.elapsed() < NOTICE_QUIET);
        notices
            .iter()
            .filter(|notice| {
                let key = notice_key(notice);
                let new = !recent.iter().any(|(k, _)| *k == key);
                if new {
                    if recent.len() == NOTICES_REMEMBERED {
                        recent.remove(0);
                    }
                    recent.push((key, std::time::Instant::now()));
                }
                new
            })
            .cloned()
            .collect()
    };
    publish(ctx, policy, &fresh).await;
}

fn notice_key(notice: &Notice) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    (notice.reason, notice.action, &notice.note).hash(&mut hasher);
    hasher.finish()
}

pub(super) async fn publish<P>(ctx: &Context<P>, policy: &TrailPolicy, notices: &[Notice]) {
    let reference = policy.object_ref(&());
    for notice in notices {
        let event = Event {
            type_: match notice.severity {
                Severity::Normal => EventType::Normal,
                Severity::Warning => EventType::Warning,
            },
            reason: notice.reason.into(),
            // The API refuses notes over 1 KiB (bytes, not characters).
            note: Some(trailwarden_core::bounded::text(&notice.note, trailwarden_core::bounded::EVENT_NOTE_BYTES)),
            action: notice.action.into(),
            secondary: None,
        };
        if let Err(e) = ctx.recorder.publish(&event, &reference).await {
            warn!(error = %e, reason = notice.reason, "could not publish event");
        }
    }
}
