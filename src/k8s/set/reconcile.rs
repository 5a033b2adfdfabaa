//! The set's controller: the walk, the plan carried out, the status written.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Reporter};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use tracing::{debug, info, warn};
use trailwarden_core::policy::partition;
use trailwarden_core::Scope;
use trailwarden_core::set::{Coverage, Targets, cover, plan};

use super::api::{ServiceControlPolicyState, TrailPolicySet, TrailPolicySetSpec};
use super::{prevention, report};
use crate::aws::sdk::SdkAws;
use crate::k8s::api::TrailPolicy;
use crate::k8s::recorder::{NoteKeeper, QUIET};

/// The label every generated policy carries: the name of its set.
pub const SET_LABEL: &str = "trailwarden.dev/set";
/// The label naming the account a generated policy covers.
const ACCOUNT_LABEL: &str = "trailwarden.dev/account";
const MANAGER: &str = "trailwarden-set";

/// How the controller runs the sets.
pub struct SetOptions {
    pub port: SdkAws,
    /// The sets this controller keeps (`--selector`, as for policies); their labels are
    /// carried to the policies they generate, so the same controller keeps those.
    pub label_selector: Option<String>,
    /// Longest an organization walk may take.
    pub deadline: Duration,
    /// Organization changes reported by AWS events (the events queue): each walks every
    /// set's organization again at once.
    pub organization_changes: Option<tokio::sync::broadcast::Receiver<()>>,
    pub metrics: Option<crate::ops::set_metrics::SetMetrics>,
}

struct Context {
    client: Client,
    recorder: NoteKeeper,
    options: SetOptions,
    /// The sets the watch holds.
    known: Store<TrailPolicySet>,
    /// Per set uid: the generation walked, when, and what it covered.
    walked: Mutex<HashMap<String, Walked>>,
    /// When an event last said the organization changed.
    signalled: Mutex<Option<Instant>>,
}

/// A set's last walk: the generation walked, when, what it covered and how its SCP was
/// left.
#[derive(Clone)]
struct Walked {
    generation: Option<i64>,
    at: Instant,
    coverage: Coverage,
    prevention: Option<ServiceControlPolicyState>,
}

/// After an organization event, sets walk at least this often for [`FOLLOW_UP`]: an
/// account AWS is still creating (CreateAccount answers before the account exists) or a
/// handshake still settling is covered within a minute, not at the next regular walk.
const FOLLOW_UP_EVERY: Duration = Duration::from_secs(60);
const FOLLOW_UP: Duration = Duration::from_secs(600);

#[derive(Debug, thiserror::Error)]
pub enum SetError {
    #[error(transparent)]
    Kube(#[from] kube::Error),
    #[error("the TrailPolicySet has no name or uid")]
    Unnamed,
    #[error("the set's reconcile took longer than {0} s and was abandoned")]
    Deadline(u64),
}

pub async fn run(client: Client, options: SetOptions, shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static) -> anyhow::Result<()> {
    let mut watch = watcher::Config::default();
    if let Some(selector) = &options.label_selector {
        watch = watch.labels(selector);
    }
    let sets = Api::<TrailPolicySet>::all(client.clone());
    let policies = Api::<TrailPolicy>::all(client.clone());
    let mut options = options;
    let changes = options.organization_changes.take();
    let recorder = NoteKeeper::new(client.clone(), Reporter { controller: "trailwarden".into(), instance: None });
    info!("watching TrailPolicySets");
    let mut controller = Controller::new(sets, watch).owns(policies, watcher::Config::default().labels(SET_LABEL));
    let known = controller.store();
    let context = Arc::new(Context { client, recorder, options, known, walked: Mutex::default(), signalled: Mutex::default() });
    if let Some(changes) = changes {
        // Each change forgets every walk, then asks for every set.
        let forget = context.clone();
        let signals = futures::stream::unfold(changes, |mut changes| async move {
            match changes.recv().await {
                Ok(()) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => Some(((), changes)),
                Err(tokio::sync::broadcast::error::RecvError::Closed) => None,
            }
        })
        .map(move |()| {
            forget.walked.lock().expect("walked lock").clear();
            *forget.signalled.lock().expect("signalled lock") = Some(Instant::now());
        });
        controller = controller.reconcile_all_on(signals);
    }
    // A deleted set is reconciled no more: its series go at the next sweep.
    let sweep = context.options.metrics.clone().map(|metrics| {
        let known = context.known.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(SWEEP_EVERY);
            loop {
                every.tick().await;
                metrics.retain(|set| known.get(&ObjectRef::new(set)).is_some());
            }
        })
    });
    controller
        .graceful_shutdown_on(shutdown)
        .run(bounded, error_policy, context)
        .for_each(|result| async move {
            if let Err(e) = result {
                debug!(error = %e, "set reconcile failed");
            }
        })
        .await;
    if let Some(sweep) = sweep {
        sweep.abort();
    }
    Ok(())
}

/// How often the series of deleted sets are dropped.
const SWEEP_EVERY: Duration = Duration::from_secs(30);

fn targets(spec: &TrailPolicySetSpec) -> Targets {
    Targets {
        organizational_units: spec.targets.organizational_units.clone(),
        accounts: spec.targets.accounts.clone(),
        exclude_accounts: spec.targets.exclude_accounts.clone(),
    }
}

/// [`reconcile`] under a deadline: the tree's, the switches' and the SCP's, and as long
/// again for the policies' writes and the status (every Kubernetes call in it waits on
/// the apiserver).
async fn bounded(set: Arc<TrailPolicySet>, ctx: Arc<Context>) -> Result<Action, SetError> {
    let deadline = ctx.options.deadline * 4;
    tokio::time::timeout(deadline, reconcile(set, ctx)).await.unwrap_or(Err(SetError::Deadline(deadline.as_secs())))
}

async fn reconcile(set: Arc<TrailPolicySet>, ctx: Arc<Context>) -> Result<Action, SetError> {
    let (name, uid) = (set.metadata.name.clone().ok_or(SetError::Unnamed)?, set.uid().ok_or(SetError::Unnamed)?);
    let mut walk_every = Duration::from_secs(u64::from(set.spec.walk_seconds));
    if ctx.signalled.lock().expect("signalled lock").is_some_and(|at| at.elapsed() < FOLLOW_UP) {
        walk_every = walk_every.min(FOLLOW_UP_EVERY);
    }
    let generation = set.metadata.generation;
    let fresh = ctx.walked.lock().expect("walked lock").get(&uid).filter(|w| w.generation == generation && w.at.elapsed() < walk_every).cloned();
    let walked = fresh.is_none();
    let mut notes = vec![];
    let Walked { coverage, prevention, .. } = match fresh {
        Some(last) => last,
        None => match walk(&set, &ctx).await {
            Ok(coverage) => {
                let kept = prevention::keep(&ctx.options.port, &organization_scope(&set), &set, &coverage, ctx.options.deadline).await;
                let prevention = kept.map(|kept| {
                    notes.extend(kept.said);
                    kept.state
                });
                let last = Walked { generation, at: Instant::now(), coverage, prevention };
                ctx.walked.lock().expect("walked lock").insert(uid.clone(), last.clone());
                last
            }
            Err(why) => {
                warn!(set = %name, error = %why, "could not read the organization");
                report::write(&ctx.client, &set, report::unreadable(&set, &why), false, MANAGER).await?;
                return Ok(Action::requeue(Duration::from_secs(60).min(walk_every)));
            }
        },
    };
    let api = Api::<TrailPolicy>::all(ctx.client.clone());
    let owned_now = owned(&api, &set).await?;
    let accounts: BTreeMap<String, String> = owned_now.iter().map(|p| (p.name_any(), account_of(p))).collect();
    let plan = plan(&name, &coverage, &accounts);
    let mut refused = BTreeMap::new();
    for (account, policy) in &plan.apply {
        let generated = generated(&set, account, policy);
        // A policy already as generated is not written again: a set's reconcile (any
        // change of any of its policies brings one) costs no write per account.
        if owned_now.iter().any(|p| p.name_any() == *policy && as_generated(p, &generated)) {
            continue;
        }
        match api.patch(policy, &PatchParams::apply(MANAGER).force(), &Patch::Apply(&generated)).await {
            Ok(_) => {}
            // Refused at admission (the operator's guardrails, a floor): reported for
            // that account, the others carried on.
            Err(kube::Error::Api(e)) if (400..500).contains(&e.code) => {
                warn!(set = %name, policy, error = %e.message, "the generated policy was refused");
                refused.insert(account.clone(), e.message.clone());
            }
            Err(e) => return Err(e.into()),
        }
    }
    for policy in &plan.remove {
        info!(set = %name, policy, "its account left the targets: the policy goes (its deletionPolicy decides the trail's fate)");
        let account = accounts.get(policy).cloned().unwrap_or_default();
        if !coverage.organization_accounts.contains(&account) {
            notes.push((true, "AccountLeftOrganization", format!("account {account} is no longer in the organization: its policy {policy} goes, with deletionPolicy {:?}", set.spec.account_removal)));
        }
        // The policy goes with the set's accountRemoval as it stands now, not as it stood
        // when the policy was last written: a Delete turned back to Retain must not
        // delete the trail of an account removed before the policies were rewritten.
        let held = owned_now.iter().find(|p| p.name_any() == *policy).map(|p| p.spec.deletion_policy);
        if held.is_some_and(|held| held != set.spec.account_removal) {
            let body = generated(&set, &account, policy);
            api.patch(policy, &PatchParams::apply(MANAGER).force(), &Patch::Apply(&body)).await?;
        }
        match api.delete(policy, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
    }
    // Reported from the list read before the writes: a policy just created has no status
    // yet, which is what it would show read again; one just removed is no longer counted.
    let policies: Vec<TrailPolicy> = owned_now.into_iter().filter(|p| !plan.remove.contains(&p.name_any())).collect();
    let status = report::of(&set, &coverage, &policies, &refused, prevention);
    notes.extend(report::warnings(&set, &status).into_iter().map(|(reason, note)| (true, reason, note)));
    if let Some(metrics) = &ctx.options.metrics {
        metrics.standing(&name, &status);
    }
    let reference = set.object_ref(&());
    for (warning, reason, note) in notes {
        let note = trailwarden_core::bounded::text(&note, trailwarden_core::bounded::EVENT_NOTE_BYTES);
        let type_ = if warning { EventType::Warning } else { EventType::Normal };
        let event = Event { type_, reason: reason.into(), note: Some(note), action: "Walk".into(), secondary: None };
        // A Warning the next walk finds again (a drift Audit only reports, an SCP that
        // cannot be kept) is said once an hour; what a walk did is always said.
        let published = match warning {
            true => ctx.recorder.publish_quietly(&event, &reference, QUIET).await,
            false => ctx.recorder.publish(&event, &reference).await,
        };
        if let Err(e) = published {
            warn!(error = %e, "could not publish event");
        }
    }
    report::write(&ctx.client, &set, status, walked, MANAGER).await?;
    Ok(Action::requeue(walk_every))
}

/// How the set reaches its organization: its organization role, else the controller's own
/// credentials.
fn organization_scope(set: &TrailPolicySet) -> Scope {
    Scope {
        role_arn: set.spec.organization_role_arn.clone(),
        external_id: set.spec.organization_external_id.clone(),
        region: set.spec.template.region.clone(),
    }
}

async fn walk(set: &TrailPolicySet, ctx: &Context) -> Result<Coverage, String> {
    let scope = organization_scope(set);
    let read = tokio::time::timeout(ctx.options.deadline, ctx.options.port.organization_tree(&scope)).await;
    let tree = match read {
        Ok(Ok(tree)) => tree,
        Ok(Err(e)) => return Err(e.to_string()),
        Err(_) => return Err(format!("the walk took longer than {} s and was abandoned", ctx.options.deadline.as_secs())),
    };
    debug!(set = %set.name_any(), accounts = tree.account_count(), "organization walked");
    let mut coverage = cover(&targets(&set.spec), &tree);
    coverage.switches =
        tokio::time::timeout(ctx.options.deadline, ctx.options.port.organization_switches(&scope)).await.unwrap_or_default();
    Ok(coverage)
}

/// The policies this set generated (by label, and owned by this very set).
async fn owned(api: &Api<TrailPolicy>, set: &TrailPolicySet) -> Result<Vec<TrailPolicy>, kube::Error> {
    let uid = set.uid();
    let list = api.list(&ListParams::default().labels(&format!("{SET_LABEL}={}", set.name_any()))).await?;
    Ok(list.items.into_iter().filter(|p| p.owner_references().iter().any(|o| Some(&o.uid) == uid.as_ref())).collect())
}

fn account_of(policy: &TrailPolicy) -> String {
    policy.labels().get(ACCOUNT_LABEL).cloned().unwrap_or_default()
}

/// The account's policy: the template, the member role of that account, the removal
/// policy as its deletion policy; the set's labels carried over, the set its owner.
fn generated(set: &TrailPolicySet, account: &str, policy: &str) -> serde_json::Value {
    let spec = &set.spec;
    let partition = partition(&spec.template.region);
    let mut body = serde_json::to_value(&spec.template).expect("a spec serialises");
    body["account"] = json!({
        "roleArn": format!("arn:{partition}:iam::{account}:role/{}", spec.member_role.role_name),
        "externalId": spec.member_role.external_id,
    });
    if spec.member_role.external_id.is_none() {
        body["account"].as_object_mut().expect("an object").remove("externalId");
    }
    body["deletionPolicy"] = serde_json::to_value(spec.account_removal).expect("an enum serialises");
    let mut labels = set.labels().clone();
    labels.insert(SET_LABEL.into(), set.name_any());
    labels.insert(ACCOUNT_LABEL.into(), account.into());
    json!({
        "apiVersion": "trailwarden.dev/v1alpha1",
        "kind": "TrailPolicy",
        "metadata": {"name": policy, "labels": labels, "ownerReferences": [set.controller_owner_ref(&())]},
        "spec": body,
    })
}

/// Whether `policy` is already what `generated` describes (spec, labels, owner).
fn as_generated(policy: &TrailPolicy, generated: &serde_json::Value) -> bool {
    let spec = serde_json::to_value(&policy.spec).ok();
    let labels = generated["metadata"]["labels"].as_object().is_some_and(|wanted| {
        wanted.iter().all(|(k, v)| policy.labels().get(k).map(String::as_str) == v.as_str())
    });
    spec.as_ref() == Some(&generated["spec"]) && labels
}

fn error_policy(set: Arc<TrailPolicySet>, error: &SetError, _ctx: Arc<Context>) -> Action {
    warn!(set = %set.name_any(), error = %error, "will retry");
    Action::requeue(Duration::from_secs(30))
}
