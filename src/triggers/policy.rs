//! Source: changes to TrailPolicies. Our own status writes change the object too;
//! reconciling on them would loop, so only a spec change (the generation, which deletion
//! also bumps) or a finalizer change starts a pass.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use futures::{Stream, TryStreamExt};
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::reflector::store::Writer;
use kube::runtime::{Predicate, WatchStreamExt, predicates, watcher};

use crate::k8s::api::TrailPolicy;

pub fn changes(
    api: Api<TrailPolicy>,
    config: watcher::Config,
    store: Writer<TrailPolicy>,
    live: Live,
) -> impl Stream<Item = Result<TrailPolicy, watcher::Error>> + Send + 'static {
    watcher(api, config)
        .default_backoff()
        // Who set which field is never read here, and it is the largest part of a stored
        // policy (about 16 KB each: 15 MiB of 1,000 policies). Of the status, the store
        // keeps what passes read back and a digest of the rest (`status::slim`).
        .modify(|policy: &mut TrailPolicy| {
            policy.metadata.managed_fields = None;
            if let Some(status) = &mut policy.status {
                crate::k8s::status::slim(status);
            }
        })
        .inspect_ok(move |event| live.saw(event))
        .reflect(store)
        .touched_objects()
        .predicate_filter(predicates::generation.combine(predicates::finalizers), Default::default())
}

/// Uid → name of every policy the watch lists, kept from its events: every pass needs it
/// (adoption never takes a trail tagged with a live policy's uid), and building it from
/// the store for each pass cost a map of every policy per pass. It changes only when a
/// policy appears or goes; passes share one copy until then.
#[derive(Clone, Default)]
pub struct Live(Arc<Mutex<Members>>);

#[derive(Default)]
struct Members {
    current: Arc<BTreeMap<String, String>>,
    /// While the watch lists anew: what it has listed so far.
    relisting: Option<BTreeMap<String, String>>,
}

impl Live {
    /// The live policies now, by uid.
    pub fn get(&self) -> Arc<BTreeMap<String, String>> {
        self.0.lock().expect("live policies lock").current.clone()
    }

    fn saw(&self, event: &watcher::Event<TrailPolicy>) {
        let member = |p: &TrailPolicy| p.uid().map(|uid| (uid, p.name_any()));
        let mut members = self.0.lock().expect("live policies lock");
        match event {
            watcher::Event::Apply(p) => {
                if let Some((uid, name)) = member(p)
                    && !members.current.contains_key(&uid)
                {
                    Arc::make_mut(&mut members.current).insert(uid, name);
                }
            }
            watcher::Event::Delete(p) => {
                if let Some((uid, _)) = member(p)
                    && members.current.contains_key(&uid)
                {
                    Arc::make_mut(&mut members.current).remove(&uid);
                }
            }
            watcher::Event::Init => members.relisting = Some(BTreeMap::new()),
            watcher::Event::InitApply(p) => {
                if let (Some(listed), Some((uid, name))) = (members.relisting.as_mut(), member(p)) {
                    listed.insert(uid, name);
                }
            }
            watcher::Event::InitDone => {
                if let Some(listed) = members.relisting.take() {
                    members.current = Arc::new(listed);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use kube::api::ObjectMeta;

    use super::*;

    fn policy(uid: &str, name: &str) -> TrailPolicy {
        let mut p = TrailPolicy::new(name, serde_json::from_value(serde_json::json!({"region": "us-east-1", "s3": {"bucketName": "logs"}})).unwrap());
        p.metadata = ObjectMeta { uid: Some(uid.into()), name: Some(name.into()), ..Default::default() };
        p
    }

    #[test]
    fn members_follow_the_watch_and_a_relist_replaces_them() {
        let live = Live::default();
        live.saw(&watcher::Event::Init);
        live.saw(&watcher::Event::InitApply(policy("u1", "a")));
        assert!(live.get().is_empty(), "not before the list is complete");
        live.saw(&watcher::Event::InitDone);
        let first = live.get();
        live.saw(&watcher::Event::Apply(policy("u1", "a")));
        assert!(Arc::ptr_eq(&first, &live.get()), "a change to a known policy shares the same copy");
        live.saw(&watcher::Event::Apply(policy("u2", "b")));
        live.saw(&watcher::Event::Delete(policy("u1", "a")));
        assert_eq!(*live.get(), BTreeMap::from([("u2".to_owned(), "b".to_owned())]));
        assert_eq!(first.len(), 1, "a pass holding the old copy keeps it");
        // A relist drops whoever went unseen while the watch was down.
        live.saw(&watcher::Event::Init);
        live.saw(&watcher::Event::InitApply(policy("u3", "c")));
        live.saw(&watcher::Event::InitDone);
        assert_eq!(*live.get(), BTreeMap::from([("u3".to_owned(), "c".to_owned())]));
    }
}
