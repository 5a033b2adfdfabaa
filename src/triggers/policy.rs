//! Source: changes to TrailPolicies. Our own status writes change the object too;
//! reconciling on them would loop, so only a spec change (the generation, which deletion
//! also bumps) or a finalizer change starts a pass.

use futures::Stream;
use kube::api::Api;
use kube::runtime::reflector::store::Writer;
use kube::runtime::{Predicate, WatchStreamExt, predicates, watcher};

use crate::k8s::api::TrailPolicy;

pub fn changes(
    api: Api<TrailPolicy>,
    config: watcher::Config,
    store: Writer<TrailPolicy>,
) -> impl Stream<Item = Result<TrailPolicy, watcher::Error>> + Send + 'static {
    watcher(api, config)
        .default_backoff()
        .reflect(store)
        .touched_objects()
        .predicate_filter(predicates::generation.combine(predicates::finalizers), Default::default())
}
