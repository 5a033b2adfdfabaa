//! Events that keep what they say. kube-runtime's recorder folds an Event into the series
//! of one it published in the last six minutes for the same object, type, reason and
//! action, keeping that one's note: a correction, finding or warning that says something
//! new would show as a repeat of the old. This recorder publishes such an Event as an
//! Event of its own, and folds only true repeats.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::{Event, Recorder, Reporter};

/// How long kube-runtime folds an Event into an earlier one (its `CACHE_TTL`).
const FOLDED_FOR: Duration = Duration::from_secs(6 * 60);

pub struct NoteKeeper {
    client: Client,
    reporter: Reporter,
    recorder: Recorder,
    /// The note last published under each key, hashed, and when.
    last: Mutex<HashMap<Folding, (u64, Instant)>>,
}

/// What kube-runtime folds Events by: the object, type, reason and action.
type Folding = (String, String, String, String);

impl NoteKeeper {
    pub fn new(client: Client, reporter: Reporter) -> Self {
        NoteKeeper { recorder: Recorder::new(client.clone(), reporter.clone()), client, reporter, last: Mutex::default() }
    }

    pub async fn publish(&self, event: &Event, reference: &ObjectReference) -> Result<(), kube::Error> {
        let object = reference.uid.clone().or_else(|| reference.name.clone()).unwrap_or_default();
        let key = (object, format!("{:?}", event.type_), event.reason.clone(), event.action.clone());
        let note = {
            let mut hasher = std::hash::DefaultHasher::new();
            event.note.hash(&mut hasher);
            hasher.finish()
        };
        let new_note = {
            let mut last = self.last.lock().expect("notes lock");
            last.retain(|_, (_, at)| at.elapsed() < FOLDED_FOR);
            let differs = last.get(&key).is_some_and(|(said, _)| *said != note);
            last.insert(key, (note, Instant::now()));
            differs
        };
        if new_note {
            // A recorder with nothing cached creates the Event afresh.
            Recorder::new(self.client.clone(), self.reporter.clone()).publish(event, reference).await
        } else {
            self.recorder.publish(event, reference).await
        }
    }
}
