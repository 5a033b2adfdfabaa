//! The set's status: how many of its accounts' policies are Ready, Logging and
//! Compliant, the accounts that are not and why, and kstatus conditions for GitOps tools.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{Api, Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use trailwarden_core::set::Coverage;

use super::api::{AccountState, OrganizationState, ServiceControlPolicyState, TrailPolicySet, TrailPolicySetStatus};
use crate::k8s::api::{Mode, TrailPolicy};

/// Accounts named in `notReady` at most.
const NAMED: usize = 20;

fn condition_of(policy: &TrailPolicy, type_: &str) -> Option<(String, String)> {
    let c = policy.status.as_ref()?.conditions.iter().find(|c| c.type_ == type_)?;
    Some((c.status.clone(), c.reason.clone()))
}

fn is_true(policy: &TrailPolicy, type_: &str) -> bool {
    condition_of(policy, type_).is_some_and(|(status, _)| status == "True")
}

/// `refused`: accounts whose generated policy the apiserver refused, and why.
/// `prevention`: the SCP as the walk left it (None: the set declares none).
pub fn of(
    set: &TrailPolicySet,
    coverage: &Coverage,
    policies: &[TrailPolicy],
    refused: &BTreeMap<String, String>,
    prevention: Option<ServiceControlPolicyState>,
) -> TrailPolicySetStatus {
    let names: Vec<String> = coverage.active.keys().map(|a| trailwarden_core::set::policy_name(&set.name_any(), a)).collect();
    let ours: Vec<&TrailPolicy> = policies.iter().filter(|p| names.contains(&p.name_any())).collect();
    let count = |type_: &str| ours.iter().filter(|p| is_true(p, type_)).count() as u32;
    let mut not_ready = vec![];
    for account in coverage.active.keys() {
        let policy = ours.iter().find(|p| p.name_any() == trailwarden_core::set::policy_name(&set.name_any(), account));
        let reason = match policy {
            _ if refused.contains_key(account) => Some(format!("PolicyRefused: {}", refused[account])),
            // Created by this reconcile: no status yet.
            None => Some("NotYetReconciled".to_owned()),
            Some(p) if !is_true(p, "Ready") => Some(condition_of(p, "Ready").map_or("NotYetReconciled".to_owned(), |c| c.1)),
            Some(p) if !is_true(p, "Logging") => Some(condition_of(p, "Logging").map_or("NotYetReconciled".to_owned(), |c| c.1)),
            Some(_) => None,
        };
        if let Some(reason) = reason {
            not_ready.push(AccountState { account: account.clone(), policy: policy.map(|p| p.name_any()), reason });
        }
    }
    let lagging = not_ready.len();
    not_ready.truncate(NAMED);
    let targeted = coverage.active.len() as u32;
    let mut status = TrailPolicySetStatus {
        observed_generation: set.metadata.generation,
        accounts_targeted: targeted,
        policies_ready: count("Ready"),
        policies_logging: count("Logging"),
        policies_compliant: count("Compliant"),
        not_ready,
        inactive_accounts: coverage
            .inactive
            .iter()
            .map(|(account, state)| AccountState { account: account.clone(), policy: None, reason: state.name().to_owned() })
            .collect(),
        unknown_targets: coverage.unknown_units.iter().chain(&coverage.unknown_accounts).cloned().collect(),
        organization: Some(OrganizationState {
            cloud_trail_trusted_access: coverage.switches.cloudtrail_access,
            cloud_trail_delegated_administrators: coverage.switches.delegated_administrators.clone(),
        }),
        service_control_policy: prevention.clone(),
        last_walk_time: None,
        conditions: vec![],
    };
    // Under Enforce, an SCP not held keeps the set from Ready: the preventive half is part
    // of what the set declares. Under Audit it is only reported (PreventionReady).
    let enforced = set.spec.service_control_policy.as_ref().is_some_and(|s| s.mode == Mode::Enforce);
    let unprevented = prevention.as_ref().filter(|p| enforced && !p.in_sync);
    let (ready, reason, message) = if lagging > 0 {
        ("False", "AccountsNotReady", format!("{lagging} of {targeted} accounts' trails are not ready or not logging (status.notReady)"))
    } else if let Some(scp) = unprevented {
        ("False", "PreventionNotHeld", format!("the SCP {} is not held as declared: {}", scp.name, scp.problem.as_deref().unwrap_or("see status.serviceControlPolicy")))
    } else {
        ("True", "AllLogging", format!("all {targeted} accounts' trails are ready and logging"))
    };
    status.conditions = conditions(set, ready, reason, &message, lagging > 0, false);
    if let Some(scp) = &prevention {
        let (state, reason, message) = match (&scp.problem, scp.in_sync) {
            (Some(problem), _) => ("False", "PreventionNotHeld", problem.clone()),
            (None, true) => ("True", "InSync", format!("the SCP {} is attached where declared, as declared", scp.name)),
            (None, false) => ("False", "Drifted", format!("the SCP {} differs from the declaration: {} (Audit: reported only)", scp.name, scp.drift.join(", "))),
        };
        status.conditions.push(condition(set, "PreventionReady", state, reason, &message));
    }
    let organization = match coverage.switches.cloudtrail_access {
        Some(true) => ("True", "CloudTrailAccessEnabled", "trusted access for CloudTrail is on".to_owned()),
        Some(false) => (
            "False",
            "CloudTrailAccessDisabled",
            "trusted access for CloudTrail is off in the organization: organization trails stop; EnableAWSServiceAccess for cloudtrail.amazonaws.com".to_owned(),
        ),
        None => ("Unknown", "NotReadable", "the organization's service access could not be read from this account".to_owned()),
    };
    status.conditions.push(condition(set, "OrganizationReady", organization.0, organization.1, &organization.2));
    status
}

/// The status when the organization could not be read: the counts stay as they were.
pub fn unreadable(set: &TrailPolicySet, why: &str) -> TrailPolicySetStatus {
    let mut status = set.status.clone().unwrap_or_default();
    status.observed_generation = set.metadata.generation;
    let message = format!("the organization could not be read: {why}");
    // What the last walk said of the organization's switches and the SCP stays, as their
    // status fields do.
    let kept: Vec<Condition> = status.conditions.iter().filter(|c| !KSTATUS.contains(&c.type_.as_str())).cloned().collect();
    status.conditions = conditions(set, "False", "OrganizationUnreadable", &message, false, true);
    status.conditions.extend(kept);
    status
}

fn condition(set: &TrailPolicySet, type_: &str, status: &str, reason: &str, message: &str) -> Condition {
    let previous = set.status.as_ref().and_then(|s| s.conditions.iter().find(|c| c.type_ == type_ && c.status == status).cloned());
    Condition {
        type_: type_.into(),
        status: status.into(),
        reason: reason.into(),
        message: message.into(),
        observed_generation: set.metadata.generation,
        last_transition_time: previous.map_or_else(|| Time(jiff::Timestamp::now()), |c| c.last_transition_time),
    }
}

/// The conditions [`conditions`] makes.
const KSTATUS: [&str; 3] = ["Ready", "Reconciling", "Stalled"];

/// Ready, and kstatus' Reconciling (work in progress) and Stalled (needs a person).
fn conditions(set: &TrailPolicySet, ready: &str, reason: &str, message: &str, reconciling: bool, stalled: bool) -> Vec<Condition> {
    let flag = |on: bool| if on { "True" } else { "False" };
    vec![
        condition(set, "Ready", ready, reason, message),
        condition(set, "Reconciling", flag(reconciling), if reconciling { "AccountsNotReady" } else { "Reconciled" }, message),
        condition(set, "Stalled", flag(stalled), if stalled { reason } else { "Reconciled" }, message),
    ]
}

/// Writes the status (its own field manager) unless it says nothing new; `walked`: the
/// organization was walked for it (its time is then news once the walk's interval).
pub async fn write(client: &Client, set: &TrailPolicySet, mut status: TrailPolicySetStatus, walked: bool, manager: &str) -> Result<(), kube::Error> {
    let before = set.status.clone().unwrap_or_default();
    status.last_walk_time = before.last_walk_time.clone();
    if status == before && !walked {
        return Ok(());
    }
    if walked {
        status.last_walk_time = Some(Time(jiff::Timestamp::now()));
    }
    let body = json!({"apiVersion": "trailwarden.dev/v1alpha1", "kind": "TrailPolicySet", "status": status});
    Api::<TrailPolicySet>::all(client.clone()).patch_status(&set.name_any(), &PatchParams::apply(manager).force(), &Patch::Apply(&body)).await?;
    Ok(())
}

/// The Warnings a new status gives over the last: CloudTrail's trusted access turned off,
/// a delegated administrator deregistered. (reason, note) each.
pub fn warnings(set: &TrailPolicySet, status: &TrailPolicySetStatus) -> Vec<(&'static str, String)> {
    let (Some(before), Some(now)) = (set.status.as_ref().and_then(|s| s.organization.as_ref()), status.organization.as_ref()) else {
        return vec![];
    };
    let mut said = vec![];
    if before.cloud_trail_trusted_access == Some(true) && now.cloud_trail_trusted_access == Some(false) {
        said.push(("CloudTrailAccessDisabled", "trusted access for CloudTrail was turned off in the organization: organization trails stop logging".to_owned()));
    }
    if let (Some(was), Some(is)) = (&before.cloud_trail_delegated_administrators, &now.cloud_trail_delegated_administrators) {
        let gone: Vec<&str> = was.iter().filter(|a| !is.contains(a)).map(String::as_str).collect();
        if !gone.is_empty() {
            said.push(("DelegatedAdministratorDeregistered", format!("CloudTrail's delegated administrator {} was deregistered", gone.join(", "))));
        }
    }
    said
}
