//! Source: AWS events. CloudTrail puts every management call on the account's default
//! EventBridge bus; a rule sends the calls that matter to one SQS queue, which this source
//! long-polls (20 s, 10 messages at a time). Each call names a trail, bucket or key; the
//! policies that govern it are reconciled at once, and the message is deleted.
//!
//! An event is a hint: the pass re-reads the real state, so a lost, late or forged event
//! changes nothing but timing — the resync stays the guarantee. Malformed messages,
//! failed calls and our own calls (signed with a key this process used) are counted and
//! deleted; a queue that cannot be read is retried with
//! back-off while the resync carries on.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use futures::stream;
use kube::ResourceExt;
use kube::runtime::reflector::{ObjectRef, Store};
use tracing::{debug, warn};
use jiff::Timestamp;
use trailwarden_core::Scope;
use trailwarden_core::events::{self, Governed, Subject};

use super::{Requests, SourceContext};
use crate::aws::AwsPort;
use crate::aws::sdk::SdkAws;
use crate::k8s::api::TrailPolicy;
use crate::k8s::desired;
use crate::ops::metrics::EventMetrics;

/// The queue events arrive on.
#[derive(Clone)]
pub struct EventQueue {
    pub url: String,
    /// The region to read it in when its URL does not name one (an emulator's).
    pub region: String,
    pub aws: SdkAws,
    pub metrics: EventMetrics,
    /// The earliest call time of the events each policy (by name) has been asked to look
    /// at for and has not yet: the controller takes it after the pass, to time the heal.
    pub pending: Arc<Mutex<HashMap<String, Timestamp>>>,
    /// Who last changed each policy's trail (by policy name), as the CloudTrail call's
    /// event named them: a contested trail's Warning says who. One entry per policy.
    actors: Arc<Mutex<HashMap<String, (String, Timestamp)>>>,
    /// Told of every call that changes the organization's accounts or OUs: the sets walk
    /// the organization again at once.
    organization: tokio::sync::broadcast::Sender<()>,
}

impl EventQueue {
    pub fn new(url: String, region: String, aws: SdkAws, metrics: EventMetrics) -> Self {
        let (organization, _) = tokio::sync::broadcast::channel(16);
        EventQueue { url, region, aws, metrics, pending: Arc::default(), actors: Arc::default(), organization }
    }

    /// A signal for each organization change an event reports (the sets' controller
    /// listens; a lagging listener misses nothing it needs: one signal walks everything).
    pub fn organization_changes(&self) -> tokio::sync::broadcast::Receiver<()> {
        self.organization.subscribe()
    }

    /// Who last made a CloudTrail call on `policy`'s trail, and when, if an event said.
    pub fn actor(&self, policy: &str) -> Option<(String, Timestamp)> {
        self.actors.lock().expect("actors lock").get(policy).cloned()
    }

    /// Forgets what was kept for a deleted policy.
    pub fn forget(&self, policy: &str) {
        self.actors.lock().expect("actors lock").remove(policy);
        self.pending.lock().expect("pending lock").remove(policy);
    }

    /// After a pass of `policy`: the seconds since the earliest call whose event asked
    /// for it, recorded as the event path's time to reconcile.
    pub fn reconciled(&self, policy: &str) {
        let since = self.pending.lock().expect("pending lock").remove(policy);
        if let Some(call) = since {
            self.metrics.reconciled_after(Timestamp::now().duration_since(call).as_secs_f64());
        }
    }
}

/// What each policy governs, as events name it, with the reference that reconciles it.
/// A policy that does not map (not yet stored) governs nothing yet.
fn governed(policies: &Store<TrailPolicy>, own: &str) -> Vec<(ObjectRef<TrailPolicy>, Governed)> {
    policies
        .state()
        .iter()
        .filter_map(|policy| {
            let desired = desired::desired(policy).ok()?;
            let status = policy.status.as_ref();
            let (resolved, trail_arn) = (status.and_then(|s| s.kms_key_arn.as_deref()), status.and_then(|s| s.trail_arn.as_deref()));
            Some((ObjectRef::new(&policy.name_any()), Governed::of(&desired, own, resolved, trail_arn)))
        })
        .collect()
}

/// One long-polled batch of messages: the policies they concern, each once, asked for at
/// once. A burst of events is not gathered here: the first event that names a trail
/// starts its pass now, and kube-runtime coalesces the requests that arrive while that
/// pass runs into one follow-up pass (a hundred events make a handful of passes).
async fn burst(queue: &EventQueue, policies: &Store<TrailPolicy>, own: &str) -> Result<Vec<ObjectRef<TrailPolicy>>, ()> {
    Ok(batch(queue, policies, own, true).await?.into_iter().collect())
}

/// Reads one batch of messages: the policies they concern, each once.
async fn batch(
    queue: &EventQueue,
    policies: &Store<TrailPolicy>,
    own: &str,
    long_poll: bool,
) -> Result<HashSet<ObjectRef<TrailPolicy>>, ()> {
    let messages = queue.aws.receive_messages(&queue.url, &queue.region, long_poll).await.map_err(|e| {
        queue.metrics.queue_error();
        warn!(queue = %queue.url, error = %e, "cannot read the events queue; the resync still heals");
    })?;
    if messages.is_empty() {
        return Ok(HashSet::new());
    }
    // Which policy governs what is worked out once a message might concern one: a batch of
    // malformed, failed or our own calls costs no walk over every policy.
    let mut governing = None;
    let mut wanted = HashSet::new();
    let mut receipts = vec![];
    for message in messages {
        match events::parse(&message.body) {
            Err(e) => {
                queue.metrics.event(("unknown", "unknown"), "malformed");
                warn!(message_id = %message.id, error = %e, "malformed message on the events queue; deleted");
            }
            Ok(call) if call.failed => queue.metrics.event(events::labels(&call.source, &call.name), "failed_call"),
            // Our own write coming back: the pass that made it already judged the result.
            Ok(call) if call.access_key.as_deref().is_some_and(|key| queue.aws.own_keys().signed(key)) => {
                queue.metrics.event(events::labels(&call.source, &call.name), "own_call")
            }
            Ok(call) if call.source == "aws.organizations" => {
                // Not about a trail: the organization's accounts, for the sets to walk.
                let _ = queue.organization.send(());
                queue.metrics.event(events::labels(&call.source, &call.name), "organization");
                debug!(event = %call.name, account = %call.account, "AWS Organizations event");
            }
            Ok(call) => {
                forget(&queue.aws, &call);
                let governed = governing.get_or_insert_with(|| governed(policies, own));
                let matched: Vec<ObjectRef<TrailPolicy>> =
                    governed.iter().filter(|(_, g)| g.concerns(&call)).map(|(policy, _)| policy.clone()).collect();
                if let (Some(actor), Some(time), "aws.cloudtrail") = (&call.actor, call.time, call.source.as_str()) {
                    let mut actors = queue.actors.lock().expect("actors lock");
                    for policy in &matched {
                        actors.insert(policy.name.clone(), (actor.clone(), time));
                    }
                }
                if let Some(time) = call.time {
                    let mut pending = queue.pending.lock().expect("pending lock");
                    for policy in &matched {
                        let earliest = pending.entry(policy.name.clone()).or_insert(time);
                        *earliest = (*earliest).min(time);
                    }
                }
                let outcome = if matched.is_empty() { "unmatched" } else { "matched" };
                queue.metrics.event(events::labels(&call.source, &call.name), outcome);
                if let Some(age) = call.time.map(|t| Timestamp::now().duration_since(t).as_secs_f64()) {
                    queue.metrics.age(age);
                }
                debug!(event = %call.name, account = %call.account, policies = matched.len(), "AWS event");
                wanted.extend(matched);
            }
        }
        receipts.push(message.receipt);
    }
    // Handled or not, every message goes: an event is a hint, and a message we cannot
    // read would only come back forever.
    if let Err(e) = queue.aws.delete_messages(&queue.url, &queue.region, &receipts).await {
        warn!(queue = %queue.url, error = %e, "could not delete messages from the events queue");
    }
    Ok(wanted)
}

/// Whatever was read lately of what the call touched is read again by the next pass: the
/// pass an event causes never judges from an answer older than the event.
fn forget(aws: &SdkAws, call: &events::ApiCall) {
    for subject in &call.subjects {
        aws.recent().forget(&call.account, subject);
    }
    if call.subjects.is_empty() {
        // A call that names nothing we read by name: the account's trails, to be safe.
        aws.recent().forget(&call.account, &Subject::Trail(String::new()));
    }
}

fn backoff(failures: u32) -> Duration {
    Duration::from_secs(2u64.saturating_pow(failures.min(6)).min(60))
}

pub fn requests(cx: &SourceContext, queue: EventQueue) -> Requests {
    let policies = cx.policies.clone();
    let state = (queue, policies, None::<String>, 0u32);
    stream::unfold(state, |(queue, policies, mut own, mut failures)| async move {
        loop {
            let me = match &own {
                Some(account) => account.clone(),
                None => {
                    let scope = Scope { role_arn: None, external_id: None, region: queue.region.clone() };
                    match queue.aws.account_id(&scope).await {
                        Ok(account) => {
                            own = Some(account.clone());
                            account
                        }
                        Err(e) => {
                            failures += 1;
                            warn!(error = %e, "cannot tell the controller's own account; retrying");
                            tokio::time::sleep(backoff(failures)).await;
                            continue;
                        }
                    }
                }
            };
            match burst(&queue, &policies, &me).await {
                Ok(wanted) => {
                    failures = 0;
                    if !wanted.is_empty() {
                        return Some((stream::iter(wanted), (queue, policies, own, failures)));
                    }
                }
                Err(()) => {
                    failures += 1;
                    tokio::time::sleep(backoff(failures)).await;
                }
            }
        }
    })
    .flatten()
    .boxed()
}
