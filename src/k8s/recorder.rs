//! Events that keep what they say, in bounded memory.
//!
//! An Event published again for the same object, type, reason and action with the same
//! note within [`FOLDED_FOR`] is a repeat: the Event already there gets its series count
//! raised (events.k8s.io/v1 `series`), as kube-runtime's recorder does. One whose note
//! differs is news (a correction, a finding, a warning that says something else) and is
//! an Event of its own: kube-runtime's recorder would fold it into the first and keep the
//! first note.
//!
//! [`NoteKeeper::publish_quietly`] leaves a repeat out altogether while it was written
//! within a quiet time: what a controller sees at every pass without acting on it (a
//! failure, a drift only reported) is one Event an hour, not one a minute.
//!
//! What is remembered of each Event is its name, a hash of its note, its count and when it
//! was last written — about a hundred bytes — for at most [`REMEMBERED`] Events and
//! [`REMEMBERED_FOR`]; kube-runtime's recorder kept every Event object for six minutes
//! (6.4 MiB at 1,000 policies).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event as K8sEvent, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType, Reporter};
use kube::Client;
use serde_json::json;

/// How long a repeat is counted into the Event already published.
const FOLDED_FOR: Duration = Duration::from_secs(6 * 60);
/// How long what was written is remembered: the longest quiet time asked for.
const REMEMBERED_FOR: Duration = QUIET;
/// The quiet time the controllers ask for ([`NoteKeeper::publish_quietly`]).
pub const QUIET: Duration = Duration::from_secs(3600);
/// Events remembered at most; past it the oldest is forgotten (its next repeat is then
/// an Event of its own: never a lost Event, at worst one more).
const REMEMBERED: usize = 4096;
/// Longest an Event write may take.
const WRITE_DEADLINE: Duration = Duration::from_secs(10);

pub struct NoteKeeper {
    client: Client,
    reporter: Reporter,
    published: Mutex<HashMap<Folding, Published>>,
}

/// What Events are folded by: the object, type, reason and action.
type Folding = (String, &'static str, String, String);

/// An Event published, as much as a repeat needs.
struct Published {
    name: String,
    namespace: String,
    note: u64,
    count: i32,
    at: Instant,
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Kube(#[from] kube::Error),
    #[error("writing the Event took longer than {} s", WRITE_DEADLINE.as_secs())]
    Deadline,
}

impl NoteKeeper {
    pub fn new(client: Client, reporter: Reporter) -> Self {
        NoteKeeper { client, reporter, published: Mutex::default() }
    }

    /// Publishes `event`: a repeat within [`FOLDED_FOR`] is counted into the Event already
    /// there, anything else is an Event of its own.
    pub async fn publish(&self, event: &Event, reference: &ObjectReference) -> Result<(), PublishError> {
        self.publish_unless(event, reference, None).await
    }

    /// [`NoteKeeper::publish`], but a repeat written within `quiet` is not written at all.
    pub async fn publish_quietly(&self, event: &Event, reference: &ObjectReference, quiet: Duration) -> Result<(), PublishError> {
        self.publish_unless(event, reference, Some(quiet)).await
    }

    /// Forgets what was published about `object` (its uid): it is gone.
    pub fn forget(&self, object: &str) {
        let mut published = self.published.lock().expect("events lock");
        published.retain(|(o, ..), _| o != object);
        crate::ops::sparse::shrink_if_sparse(&mut published);
    }

    async fn publish_unless(&self, event: &Event, reference: &ObjectReference, quiet: Option<Duration>) -> Result<(), PublishError> {
        let type_ = match event.type_ {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        };
        let object = reference.uid.clone().or_else(|| reference.name.clone()).unwrap_or_default();
        let key = (object, type_, event.reason.clone(), event.action.clone());
        let note = {
            let mut hasher = std::hash::DefaultHasher::new();
            event.note.hash(&mut hasher);
            hasher.finish()
        };
        let repeat = {
            let mut published = self.published.lock().expect("events lock");
            published.retain(|_, p| p.at.elapsed() < REMEMBERED_FOR);
            crate::ops::sparse::shrink_if_sparse(&mut published);
            let same = published.get_mut(&key).filter(|p| p.note == note);
            if same.as_ref().is_some_and(|p| quiet.is_some_and(|quiet| p.at.elapsed() < quiet)) {
                return Ok(());
            }
            same.filter(|p| p.at.elapsed() < FOLDED_FOR).map(|p| {
                p.count += 1;
                p.at = Instant::now();
                (p.name.clone(), p.namespace.clone(), p.count)
            })
        };
        let now = jiff::Timestamp::now();
        let write = async {
            match repeat {
                Some((name, namespace, count)) => {
                    let series = json!({"series": EventSeries { count, last_observed_time: MicroTime(now) }});
                    let events = Api::<K8sEvent>::namespaced(self.client.clone(), &namespace);
                    events.patch(&name, &PatchParams::default(), &Patch::Merge(&series)).await.map(|_| None)
                }
                None => {
                    let created = self.event(event, type_, reference, now);
                    let namespace = created.metadata.namespace.clone().unwrap_or_default();
                    let events = Api::<K8sEvent>::namespaced(self.client.clone(), &namespace);
                    events.create(&PostParams::default(), &created).await.map(|e| Some((e.metadata.name.unwrap_or_default(), namespace)))
                }
            }
        };
        let written = tokio::time::timeout(WRITE_DEADLINE, write).await.map_err(|_| PublishError::Deadline)?;
        match written {
            Ok(Some((name, namespace))) => {
                let mut published = self.published.lock().expect("events lock");
                if published.len() >= REMEMBERED
                    && let Some(oldest) = published.iter().min_by_key(|(_, p)| p.at).map(|(k, _)| k.clone())
                {
                    published.remove(&oldest);
                }
                published.insert(key, Published { name, namespace, note, count: 1, at: Instant::now() });
                Ok(())
            }
            Ok(None) => Ok(()),
            // The Event folded into is gone (expired, deleted): the next is one of its own.
            Err(kube::Error::Api(e)) if e.code == 404 => {
                self.published.lock().expect("events lock").remove(&key);
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A new Event, as kube-runtime names and fills it: `<object>.<time in hex>` in the
    /// object's namespace, `default` for a cluster-scoped object.
    fn event(&self, event: &Event, type_: &str, reference: &ObjectReference, now: jiff::Timestamp) -> K8sEvent {
        let object = reference.name.clone().unwrap_or_else(|| self.reporter.controller.clone());
        K8sEvent {
            metadata: ObjectMeta {
                name: Some(format!("{object}.{:x}", now.as_nanosecond())),
                namespace: Some(reference.namespace.clone().unwrap_or_else(|| "default".to_owned())),
                ..ObjectMeta::default()
            },
            action: Some(event.action.clone()),
            reason: Some(event.reason.clone()),
            note: event.note.clone(),
            type_: Some(type_.to_owned()),
            event_time: Some(MicroTime(now)),
            regarding: Some(reference.clone()),
            related: event.secondary.clone(),
            reporting_controller: Some(self.reporter.controller.clone()),
            reporting_instance: Some(self.reporter.instance.clone().unwrap_or_else(|| self.reporter.controller.clone())),
            ..K8sEvent::default()
        }
    }
}
