//! Source: a pass asked for by hand. Setting the annotation `trailwarden.dev/reconcile-at`
//! to any new value (a timestamp, say) reconciles the policy now, the way
//! `reconcile.fluxcd.io/requestedAt` does for Flux: useful after fixing a permission or
//! a bucket, instead of waiting for the resync.
//!
//! A metadata-only watch: it costs the apiserver no spec or status bodies, and only a
//! change of the annotation's value passes the filter — our own status writes change
//! the object too and must not start passes.

use std::hash::{DefaultHasher, Hash, Hasher};

use futures::StreamExt;
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, watcher};
use kube::ResourceExt;

use super::{Requests, SourceContext};
use crate::k8s::api::TrailPolicy;

pub const ANNOTATION: &str = "trailwarden.dev/reconcile-at";

/// The annotation's value, hashed; a policy without it hashes too, so that it never
/// passes the filter on unrelated changes.
fn requested_at(policy: &PartialObjectMeta<TrailPolicy>) -> Option<u64> {
    let mut hasher = DefaultHasher::new();
    policy.annotations().get(ANNOTATION).hash(&mut hasher);
    Some(hasher.finish())
}

pub fn requests(cx: &SourceContext) -> Requests {
    let mut config = watcher::Config::default();
    if let Some(selector) = &cx.label_selector {
        config = config.labels(selector);
    }
    watcher(Api::<PartialObjectMeta<TrailPolicy>>::all(cx.client.clone()), config)
        .default_backoff()
        .touched_objects()
        .predicate_filter(requested_at, Default::default())
        .filter_map(|policy| async move { policy.ok().map(|p| ObjectRef::new(&p.name_any())) })
        .boxed()
}
