//! `make bench-org`: a TrailPolicySet over an organization of ACCOUNTS member accounts
//! (default 300) on the bed (hack/bench-org.sh), with the release controller.
//!
//! The organization: UNITS top OUs (default 3), each with CHILDREN OUs under it (default
//! 4), the accounts spread over all of them in turn, and a `parked` OU the set does not
//! target; the log bucket is the management account's, open to every account's trails.
//! The set targets the top OUs, `walkSeconds: 3600` (so only Organizations' events make it
//! walk again), `accountRemoval: Retain`. The controller is a child process whose AWS calls
//! the bed's proxy counts, with the event queue on.
//!
//! Measured, in order: convergence (the set created → every account's trail Logging and
//! the set Ready) and the calls it took; the calls one walk of the organization makes (an
//! Organizations event with nothing else changed); NEW_ACCOUNTS times, an account created
//! and moved into a target OU, and its MoveAccount event published → its trail Logging;
//! an account moved to `parked` → its policy gone, its trail still there (Retain); then
//! `accountRemoval: Delete` and another account moved out → its policy and its trail gone.
//! Prints one table and the calls by operation.
//!
//! Not part of `make test`. Fails loudly when a phase never finishes (PHASE_TIMEOUT_SECONDS,
//! default 600).

#[path = "e2e/events.rs"]
#[allow(dead_code)]
mod events;
#[path = "e2e/support.rs"]
#[allow(dead_code)]
mod support;
#[path = "bench/common.rs"]
#[allow(dead_code)]
mod common;

use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use trailwarden::aws::AwsPort;
use trailwarden::k8s::set::api::TrailPolicySet;
use trailwarden::k8s::set::SET_LABEL;
use trailwarden_core::Scope;

use common::*;
use support::{member, organizations, unit};

const MEMBER_ROLE: &str = "trailwarden-member";

/// Polls `probe` every 100 ms until it yields a value; panics naming `what` and the
/// set's status after `timeout`.
async fn until<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if probe().await.is_some() {
            return start.elapsed();
        }
        assert!(start.elapsed() < timeout, "{what}: not within {} s", timeout.as_secs());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn member_scope(account: &str) -> Scope {
    Scope { role_arn: Some(format!("arn:aws:iam::{account}:role/{MEMBER_ROLE}")), external_id: None, region: support::REGION.to_owned() }
}

fn organizations_calls(calls: &Calls) -> u64 {
    calls.0.iter().filter(|(op, _)| op.starts_with("Organizations/")).map(|(_, n)| n).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn organization_benchmark() {
    let accounts: usize = env_or("ACCOUNTS", 300);
    let units: usize = env_or("UNITS", 3);
    let children: usize = env_or("CHILDREN", 4);
    let new_accounts: usize = env_or("NEW_ACCOUNTS", 10);
    let timeout = Duration::from_secs(env_or("PHASE_TIMEOUT_SECONDS", 600));
    let bin = bed_env("TRAILWARDEN_BIN");
    let log_path = std::path::Path::new(&bed_env("TRAILWARDEN_BED_DIR")).join("controller.log");
    let wall = Instant::now();
    let say = |what: String| println!("[{:>7.1} s] {what}", wall.elapsed().as_secs_f64());
    say(format!("bench-org: {accounts} accounts in {units} OUs with {children} child OUs each, {new_accounts} new accounts"));

    let client = kube::Client::try_default().await.expect("kube client from KUBECONFIG");
    let aws = support::aws().await;

    // The organization, made directly in the emulator (not counted).
    let t = Instant::now();
    let org = support::organization(&aws).await;
    let management = org.management.clone();
    let tops: Vec<String> = (0..units).map(|i| unit(&management, &org.root, &format!("workloads-{i}"))).collect();
    let mut leaves = tops.clone();
    for (i, top) in tops.iter().enumerate() {
        leaves.extend((0..children).map(|j| unit(&management, top, &format!("team-{i}-{j}"))));
    }
    let parked = unit(&management, &org.root, "parked");
    let members: Vec<String> = stream::iter(0..accounts)
        .map(|i| {
            let (management, root, leaf) = (management.clone(), org.root.clone(), leaves[i % leaves.len()].clone());
            async move { tokio::task::spawn_blocking(move || member(&management, &root, &leaf)).await.unwrap() }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    say(format!("organization {} OUs, {} accounts in {}", leaves.len() + 1, members.len(), secs(t.elapsed())));
    let queue_url = tokio::task::spawn_blocking(events::queue_and_rule).await.unwrap();

    let ctl = Controller::start(&bin, &queue_url, log_path.clone()).await;
    say(format!("controller pid {} ready (AWS client id {}); log {}", ctl.pid, ctl.client_id, log_path.display()));
    let sets = Api::<TrailPolicySet>::all(client.clone());
    let name = support::unique_name("bench-org");
    let trail = support::unique_name("org-audit");
    let set: TrailPolicySet = serde_json::from_value(json!({
        "apiVersion": "trailwarden.dev/v1alpha1", "kind": "TrailPolicySet",
        "metadata": {"name": name},
        "spec": {
            "template": {"region": support::REGION, "trailName": trail, "s3": {"bucketName": org.bucket}, "resyncSeconds": 600},
            "targets": {"organizationalUnits": tops},
            "memberRole": {"roleName": MEMBER_ROLE},
            "organizationRoleArn": format!("arn:aws:iam::{management}:role/trailwarden"),
            "accountRemoval": "Retain",
            "walkSeconds": 3600,
        },
    }))
    .unwrap();
    let status = || async { sets.get(&name).await.ok()?.status };
    let ready = |s: &trailwarden::k8s::set::api::TrailPolicySetStatus| s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True");

    // Convergence: from the set's creation to every account's trail logging.
    let calls_start = ctl.calls();
    let start = Instant::now();
    sets.create(&PostParams::default(), &set).await.unwrap();
    let converge = until("every account's trail logging", timeout, || async {
        let s = status().await?;
        (s.accounts_targeted as usize == accounts && s.policies_logging as usize == accounts && ready(&s)).then_some(())
    })
    .await;
    let calls_converged = ctl.calls();
    let converge_calls = calls_converged.since(&calls_start);
    say(format!("converged in {}", secs(converge)));
    let _ = start;

    // One walk: an Organizations event with nothing changed; its calls, once the walk's
    // time is written.
    let walked_before = status().await.and_then(|s| s.last_walk_time);
    let calls_before_walk = ctl.calls();
    events::publish("aws.organizations", "CreateOrganizationalUnit", &management, json!({"parentId": org.root}), None);
    until("the walk the event asked for", timeout, || async { (status().await?.last_walk_time != walked_before).then_some(()) }).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let walk_calls = ctl.calls().since(&calls_before_walk);
    let per_walk = organizations_calls(&walk_calls);

    // New accounts: created, moved into a target OU, the move's event → the trail logging.
    let mut covered = vec![];
    for i in 0..new_accounts {
        let leaf = leaves[i % leaves.len()].clone();
        let (m, root) = (management.clone(), org.root.clone());
        let account = tokio::task::spawn_blocking(move || member(&m, &root, &leaf)).await.unwrap();
        let published = Instant::now();
        events::publish("aws.organizations", "MoveAccount", &management, json!({"accountId": account}), None);
        let arn = format!("arn:aws:cloudtrail:{}:{account}:trail/{trail}", support::REGION);
        until(&format!("new account {account}'s trail logging"), timeout, || async {
            aws.get_trail_status(&member_scope(&account), &arn).await.ok()?.is_logging.then_some(())
        })
        .await;
        covered.push(published.elapsed());
    }
    covered.sort();

    // Moved out, Retain: the policy goes, the trail stays.
    let policies = Api::<trailwarden::api::TrailPolicy>::all(client.clone());
    let moved_out = |account: &str, from: &str| {
        organizations(&management, "MoveAccount", json!({"AccountId": account, "SourceParentId": from, "DestinationParentId": parked}));
        events::publish("aws.organizations", "MoveAccount", &management, json!({"accountId": account}), None);
        Instant::now()
    };
    let gone = |account: String| {
        let policies = policies.clone();
        let policy = format!("{name}-{account}");
        move || {
            let (policies, policy) = (policies.clone(), policy.clone());
            async move { policies.get_opt(&policy).await.ok()?.is_none().then_some(()) }
        }
    };
    let retained_account = members[0].clone();
    let published = moved_out(&retained_account, &leaves[0]);
    until("the moved account's policy gone", timeout, gone(retained_account.clone())).await;
    let retain_time = published.elapsed();
    let kept = support::trail(&aws, &member_scope(&retained_account), &trail).await.is_some();
    assert!(kept, "accountRemoval Retain: the trail of {retained_account} stays");

    // Moved out, Delete: the policy and the trail go.
    let delete = json!({"spec": {"accountRemoval": "Delete"}});
    sets.patch(&name, &PatchParams::default(), &Patch::Merge(&delete)).await.unwrap();
    let deleted_account = members[1].clone();
    until("every policy's deletionPolicy Delete", timeout, || async {
        let list = policies.list(&kube::api::ListParams::default().labels(&format!("{SET_LABEL}={name}"))).await.ok()?;
        list.items.iter().all(|p| format!("{:?}", p.spec.deletion_policy) == "Delete").then_some(())
    })
    .await;
    let published = moved_out(&deleted_account, &leaves[1 % leaves.len()]);
    until("the moved account's trail deleted", timeout, || async {
        support::trail(&aws, &member_scope(&deleted_account), &trail).await.is_none().then_some(())
    })
    .await;
    let delete_time = published.elapsed();
    let calls_end = ctl.calls();

    let mut table = Table(vec![]);
    table.row("accounts (OUs)", format!("{accounts} ({} targeted OUs under {units} top OUs, 1 not)", leaves.len()));
    table.row("converge: set created → every trail logging, set Ready", secs(converge));
    table.row("  AWS calls (per account)", format!("{} ({:.2})", converge_calls.aws(), converge_calls.aws() as f64 / accounts as f64));
    table.row("  Organizations calls", organizations_calls(&converge_calls).to_string());
    table.row("one walk: Organizations calls", format!("{per_walk} ({})", walk_calls.list(Kind::Read)));
    let p = |q: f64| secs(percentile(&covered, q));
    table.row(format!("new account covered: MoveAccount event → trail logging ({new_accounts})"), format!("p50 {} p99 {} max {}", p(0.5), p(0.99), p(1.0)));
    table.row("moved out, Retain: event → policy gone (trail kept)", secs(retain_time));
    table.row("moved out, Delete: event → trail deleted", secs(delete_time));
    table.row("RSS", rss(&ctl.memory()));
    println!("\n{}", table.render());
    println!("{}", by_operation(&[("converge", &converge_calls), ("one walk", &walk_calls), ("whole run", &calls_end.since(&calls_start))]));
}
