//! Reasons to reconcile a policy, one source per file:
//!
//! - [`policy`]: the TrailPolicy watch — a spec change or a finalizer change (the
//!   primary stream; it also fills the reflector store every other source reads);
//! - [`events`]: AWS API calls via EventBridge → SQS, when a queue is configured;
//! - [`requested`]: the annotation `trailwarden.dev/reconcile-at` set to a new value;
//! - [`resync`]: the periodic look after each pass, `resyncSeconds` plus jitter — the
//!   guarantee that drift is found even when nothing announces it;
//! - [`sources`]: every further source, each a stream of policy references. Requests
//!   for one policy merge in the controller's queue: a burst becomes one pass.
//!
//! Adding a source is one file here and one line in [`sources`].

pub mod events;
pub mod policy;
pub mod requested;
pub mod resync;

use futures::stream::BoxStream;
use kube::Client;
use kube::runtime::reflector::{ObjectRef, Store};

use crate::k8s::api::TrailPolicy;

/// Requests to reconcile the policies named.
pub type Requests = BoxStream<'static, ObjectRef<TrailPolicy>>;

/// What a source may use: the cluster, and the policies the controller knows.
#[derive(Clone)]
pub struct SourceContext {
    pub client: Client,
    pub policies: Store<TrailPolicy>,
    /// The label selector the controller watches with, if any.
    pub label_selector: Option<String>,
    /// The queue AWS events arrive on, if one is configured.
    pub events: Option<events::EventQueue>,
}

/// The sources besides the policy watch and the resync.
pub fn sources(cx: &SourceContext) -> Vec<Requests> {
    let mut sources = vec![requested::requests(cx)];
    sources.extend(cx.events.clone().map(|queue| events::requests(cx, queue)));
    sources
}
