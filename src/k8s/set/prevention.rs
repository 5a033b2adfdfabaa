//! A set's service control policy kept as declared, one walk at a time:
//! resolve (what it protects, where it hangs) → observe (Organizations) → plan (core) →
//! apply (Enforce only) → report (status, Events).

use std::collections::BTreeSet;
use std::time::Duration;

use kube::ResourceExt;
use tracing::{info, warn};
use trailwarden_core::Scope;
use trailwarden_core::policy::partition;
use trailwarden_core::set::Coverage;
use trailwarden_core::set::prevention::{Protected, ScpPlan, document, plan};

use super::api::{ServiceControlPolicyState, TrailPolicySet};
use crate::aws::sdk::SdkAws;
use crate::k8s::api::Mode;

/// What keeping the SCP came to: the state for status, and what to say of it.
pub struct Kept {
    pub state: ServiceControlPolicyState,
    /// (Warning?, reason, note) for an Event, when there is news.
    pub said: Option<(bool, &'static str, String)>,
}

/// The SCP's name: declared, else `trailwarden-<set>`.
pub fn name_of(set: &TrailPolicySet) -> Option<String> {
    let declared = set.spec.service_control_policy.as_ref()?;
    Some(declared.name.clone().unwrap_or_else(|| format!("trailwarden-{}", set.name_any())))
}

/// What the set's SCP protects: its template's trail, bucket and key; spared: the member
/// role, the log archive's role, the break-glass roles and the excluded accounts.
fn protected(set: &TrailPolicySet) -> Protected {
    let spec = &set.spec;
    let template = &spec.template;
    let mut exempt: Vec<String> = template.log_archive.iter().filter_map(|a| a.role_arn.clone()).collect();
    exempt.extend(spec.service_control_policy.iter().flat_map(|s| s.break_glass_role_arns.iter().cloned()));
    Protected {
        partition: partition(&template.region).to_owned(),
        region: template.region.clone(),
        // Without trailName each account's trail is named after its policy,
        // <set>-<12-digit account id>: `?` matches one character in an ARN pattern.
        trail_name: template.trail_name.clone().unwrap_or_else(|| format!("{}-{}", set.name_any(), "?".repeat(12))),
        bucket: template.s3.bucket_name.clone(),
        kms_key: template.kms_key_id.clone(),
        member_role: spec.member_role.role_name.clone(),
        exempt_roles: exempt,
        excluded_accounts: spec.targets.exclude_accounts.clone(),
    }
}

/// Where it hangs: the targeted OUs and accounts the organization holds.
fn targets(set: &TrailPolicySet, coverage: &Coverage) -> BTreeSet<String> {
    let t = &set.spec.targets;
    let units = t.organizational_units.iter().filter(|u| !coverage.unknown_units.contains(u));
    let accounts = t.accounts.iter().filter(|a| !coverage.unknown_accounts.contains(a));
    units.chain(accounts).cloned().collect()
}

/// Keeps the set's SCP, if it declares one, under `deadline`.
pub async fn keep(port: &SdkAws, scope: &Scope, set: &TrailPolicySet, coverage: &Coverage, deadline: Duration) -> Option<Kept> {
    let declared = set.spec.service_control_policy.as_ref()?;
    let name = name_of(set)?;
    let recorded = set.status.as_ref().and_then(|s| s.service_control_policy.as_ref()).and_then(|s| s.id.clone());
    let audit = declared.mode == Mode::Audit;
    let work = keep_within(port, scope, set, &name, recorded.clone(), audit, coverage);
    Some(match tokio::time::timeout(deadline, work).await {
        Ok(kept) => kept,
        Err(_) => failed(&name, recorded, format!("keeping the SCP took longer than {} s and was abandoned", deadline.as_secs())),
    })
}

async fn keep_within(port: &SdkAws, scope: &Scope, set: &TrailPolicySet, name: &str, recorded: Option<String>, audit: bool, coverage: &Coverage) -> Kept {
    let set_name = set.name_any();
    let declared = document(&protected(set));
    let observed = match port.service_control_policy(scope, name, recorded.as_deref(), &set_name).await {
        Ok(observed) => observed,
        Err(e) => return failed(name, recorded, format!("the SCP could not be read: {e}")),
    };
    let id = observed.as_ref().map(|o| o.id.clone()).or(recorded.clone());
    let plan = match plan(name, &declared, &targets(set, coverage), observed.as_ref(), recorded.as_deref()) {
        Ok(plan) => plan,
        Err(why) => return failed(name, if observed.as_ref().is_some_and(|o| o.tagged) { id } else { recorded }, why.to_string()),
    };
    let drift = plan.drift();
    let state = |id: Option<String>, in_sync: bool, problem: Option<String>| ServiceControlPolicyState {
        name: name.to_owned(),
        id,
        in_sync,
        drift: drift.clone(),
        problem,
    };
    if plan.in_sync() {
        return Kept { state: state(id, true, None), said: None };
    }
    if audit {
        let note = format!("the SCP {name} differs from the declaration ({}); Audit: nothing written", drift.join(", "));
        return Kept { state: state(id, false, None), said: Some((true, "PreventionDrifted", note)) };
    }
    match apply(port, scope, &set_name, name, id.clone(), &plan).await {
        Ok(id) => {
            info!(set = %set_name, scp = name, drift = ?drift, "service control policy corrected");
            let note = format!("the SCP {name} was put back as declared: {}", drift.join(", "));
            Kept { state: state(Some(id), true, None), said: Some((false, "PreventionCorrected", note)) }
        }
        Err((id, why)) => {
            warn!(set = %set_name, scp = name, error = %why, "service control policy not kept");
            Kept { state: state(id, false, Some(why.clone())), said: Some((true, "PreventionNotHeld", why)) }
        }
    }
}

/// Carries the plan out: create (tagged), tag again, content, then each attachment and
/// detachment. The SCP's id, or how far it got and why it stopped.
async fn apply(port: &SdkAws, scope: &Scope, set: &str, name: &str, id: Option<String>, plan: &ScpPlan) -> Result<String, (Option<String>, String)> {
    let content = plan.content.as_deref().unwrap_or_default();
    let id = match id.filter(|_| !plan.create) {
        Some(id) => id,
        None => port.create_service_control_policy(scope, name, content, set).await.map_err(|e| (None, format!("the SCP could not be created: {e}")))?,
    };
    let failed = |what: String| (Some(id.clone()), what);
    if plan.retag {
        port.tag_service_control_policy(scope, &id, set).await.map_err(|e| failed(format!("the SCP's owner tag could not be put back: {e}")))?;
    }
    if !plan.create
        && let Some(content) = &plan.content
    {
        port.update_service_control_policy(scope, &id, content).await.map_err(|e| failed(format!("the SCP's content could not be put back: {e}")))?;
    }
    // Every attachment is tried: one refused target (a quota of five SCPs) does not keep
    // the others bare.
    let mut refused = vec![];
    for target in &plan.attach {
        if let Err(e) = port.attach_service_control_policy(scope, &id, target).await {
            refused.push(format!("not attached to {target}: {e}"));
        }
    }
    for target in &plan.detach {
        if let Err(e) = port.detach_service_control_policy(scope, &id, target).await {
            refused.push(format!("not detached from {target}: {e}"));
        }
    }
    if refused.is_empty() { Ok(id) } else { Err(failed(refused.join("; "))) }
}

fn failed(name: &str, id: Option<String>, why: String) -> Kept {
    let state = ServiceControlPolicyState { name: name.to_owned(), id, in_sync: false, drift: vec![], problem: Some(why.clone()) };
    Kept { state, said: Some((true, "PreventionNotHeld", why)) }
}
