//! The status a pass builds on and writes: this replica's own last write (a cached object
//! may not show it yet), else the object's; written only when it says something new.

use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use tracing::debug;

use super::{Context, Error, MANAGER};
use crate::k8s::api::{TrailPolicy, TrailPolicyStatus};
use crate::k8s::status;

/// The status to build on: the one this replica last wrote, else the object's.
pub(super) fn previous_status<P>(ctx: &Context<P>, policy: &TrailPolicy) -> Option<TrailPolicyStatus> {
    let written = ctx.written.lock().expect("status lock").get(&policy.uid().unwrap_or_default()).map(|s| (**s).clone());
    written.or_else(|| policy.status.clone())
}

/// [`previous_status`] for a pass that cannot look: it keeps the findings and drift of the
/// last look. Neither the remembered status nor the watch's copy holds them all
/// ([`status::slim`]): they are read from the apiserver, or, if it does not answer, the
/// watch's are kept.
pub(super) async fn previous_with_findings<P>(ctx: &Context<P>, policy: &TrailPolicy) -> Option<TrailPolicyStatus> {
    let mut previous = previous_status(ctx, policy)?;
    let api = Api::<TrailPolicy>::all(ctx.client.clone());
    let object = match api.get_status(&policy.name_any()).await {
        Ok(fresh) => fresh.status,
        Err(e) => {
            debug!(policy = %policy.name_any(), error = %e, "could not read the status's findings; keeping the watch's");
            policy.status.clone()
        }
    };
    if let Some(object) = object {
        previous.compliance = object.compliance;
        previous.drift = object.drift;
    }
    Some(previous)
}

pub(super) async fn write_status<P>(ctx: &Context<P>, policy: &TrailPolicy, mut status: TrailPolicyStatus) -> Result<(), Error> {
    if status::unchanged(policy.status.as_ref(), &status) {
        return Ok(());
    }
    let api = Api::<TrailPolicy>::all(ctx.client.clone());
    let body = json!({
        "apiVersion": "trailwarden.dev/v1alpha1",
        "kind": "TrailPolicy",
        "status": status,
    });
    api.patch_status(&policy.name_any(), &PatchParams::apply(MANAGER).force(), &Patch::Apply(&body)).await?;
    // What the next pass builds on: the rest would be a second copy of every policy's findings.
    status::read_back(&mut status);
    ctx.written.lock().expect("status lock").insert(policy.uid().unwrap_or_default(), Box::new(status));
    Ok(())
}
