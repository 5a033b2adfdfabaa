//! The policy's Events: each notice of a pass published through the recorder; the
//! repeats of a pass that wrote nothing left out for an hour (the recorder's quiet time).

use kube::runtime::events::{Event, EventType};
use kube::Resource;
use tracing::warn;
use trailwarden_core::report::{Notice, Severity};

use super::Context;
use crate::k8s::api::TrailPolicy;
use crate::k8s::recorder::QUIET;

/// [`publish`], leaving out each notice identical to one published for the policy within
/// the recorder's quiet time: a failure seen at every pass is one Event an hour, not one a
/// minute.
pub(super) async fn publish_new<P>(ctx: &Context<P>, policy: &TrailPolicy, notices: &[Notice]) {
    publish_within(ctx, policy, notices, true).await;
}

pub(super) async fn publish<P>(ctx: &Context<P>, policy: &TrailPolicy, notices: &[Notice]) {
    publish_within(ctx, policy, notices, false).await;
}

async fn publish_within<P>(ctx: &Context<P>, policy: &TrailPolicy, notices: &[Notice], quietly: bool) {
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
        let published = match quietly {
            true => ctx.recorder.publish_quietly(&event, &reference, QUIET).await,
            false => ctx.recorder.publish(&event, &reference).await,
        };
        if let Err(e) = published {
            warn!(error = %e, reason = notice.reason, "could not publish event");
        }
    }
}
