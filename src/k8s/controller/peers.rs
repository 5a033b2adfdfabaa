//! What the pass needs to know of the operator and the other policies: the guardrail a
//! policy breaches, and the live policies naming the same trail.

use kube::ResourceExt;
use trailwarden_core::guardrails::Breach;
use trailwarden_core::ownership::{self, Claimant, TrailKey};
use trailwarden_core::{Desired, Scope};

use super::Context;
use crate::aws::AwsPort;
use crate::k8s::api::TrailPolicy;
use crate::k8s::desired::scope;

/// The guardrail a policy is outside of, if any. The controller's own account is asked
/// (once) only when accounts are restricted and the policy names no role.
pub(super) async fn breach<P: AwsPort>(ctx: &Context<P>, desired: &Desired) -> Option<Breach> {
    if let Some(breach) = ctx.guardrails.breach(desired) {
        return Some(breach);
    }
    let own = if ctx.guardrails.allowed_accounts.is_empty() || desired.scope.role_arn.is_some() {
        None
    } else {
        own_account(ctx, &desired.scope.region).await
    };
    ctx.guardrails.account(desired, own.as_deref())
}

/// `desired` with what the controller knows of the other live policies: those naming the
/// same trail (same account, region and trail name), and every uid with its name, so that
/// adoption never takes a trail from a live policy. Policies being deleted count: their
/// trail is theirs until they are gone. The controller's own account is asked (once, then
/// remembered) only when another policy names the same trail and one of the two has no role.
pub(super) async fn with_peers<P: AwsPort>(ctx: &Context<P>, policy: &TrailPolicy, mut desired: Desired) -> Desired {
    let mut named = vec![];
    for other in ctx.policies.state() {
        let (Some(uid), Some(name)) = (other.uid(), other.metadata.name.clone()) else { continue };
        if Some(&uid) == policy.uid().as_ref() {
            continue;
        }
        if other.spec.region == desired.scope.region && other.spec.effective_trail_name(&name) == desired.trail_name {
            let created = other.metadata.creation_timestamp.as_ref().map(|t| t.0);
            let trail_name = other.spec.effective_trail_name(&name).to_owned();
            named.push((scope(&other.spec), trail_name, Claimant { name, uid, created }));
        }
    }
    if !named.is_empty() {
        let own = if desired.scope.role_arn.is_none() || named.iter().any(|(s, _, _)| s.role_arn.is_none()) {
            own_account(ctx, &desired.scope.region).await
        } else {
            None
        };
        let account = |scope: &Scope| scope.role_account().or(own.as_deref()).unwrap_or("(the controller's own)").to_owned();
        let keys: Vec<(TrailKey, Claimant)> = named
            .into_iter()
            .map(|(s, trail_name, c)| (TrailKey { account: account(&s), region: s.region.clone(), trail_name }, c))
            .collect();
        let this = desired.trail_key(&account(&desired.scope));
        desired.peers.rivals = ownership::rivals(&this, &desired.policy_uid, keys.iter().map(|(k, c)| (k, c)));
    }
    desired.peers.live = ctx.live.get();
    desired
}

/// The controller's own account, for policies that name no role (the port asks once).
pub(super) async fn own_account<P: AwsPort>(ctx: &Context<P>, region: &str) -> Option<String> {
    ctx.port.account_id(&Scope { role_arn: None, external_id: None, region: region.to_owned() }).await.ok()
}
