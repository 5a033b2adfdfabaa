//! The conditions GitOps tools judge a resource by (kstatus, as Argo CD, Flux and
//! `kubectl wait` read it): `Reconciling` while trailwarden is still working towards the
//! declared state and will try again on its own, `Stalled` when it cannot get there
//! without a person. Both follow from the Ready and Synced conditions of the same pass.

use super::{ConditionState, ConditionType};

/// Ready reasons no retry can fix: the trail is someone else's, the policy is outside
/// what the operator allows or disagrees with another, AWS refuses us, or what the
/// policy names does not exist or is not valid.
const NEEDS_A_PERSON: &[&str] = &[
    "NotOwned",
    "ShadowTrail",
    "Guardrail",
    "Conflict",
    "AdoptionWouldWeaken",
    "AccessDenied",
    "BucketNotFound",
    "KmsKeyNotFound",
    "InvalidSpec",
    "InvalidConfiguration",
    "CredentialsRefused",
    "QuotaExceeded",
    "OrganizationNotReady",
    "NotResourceOwner",
];

fn state(type_: ConditionType, status: bool, reason: &'static str, message: String) -> ConditionState {
    ConditionState { type_, status: Some(status), reason, message }
}

/// `Reconciling` and `Stalled` for a pass whose conditions are `conditions`. In audit
/// mode drift is reported, never corrected, so it is no reason to be reconciling.
pub fn progress(conditions: &[ConditionState], audit: bool) -> [ConditionState; 2] {
    let of = |type_| conditions.iter().find(|c| c.type_ == type_);
    let (reconciling, stalled) = (ConditionType::Reconciling, ConditionType::Stalled);
    match (of(ConditionType::Ready), of(ConditionType::Synced)) {
        (Some(ready), _) if ready.status == Some(false) && NEEDS_A_PERSON.contains(&ready.reason) => [
            state(reconciling, false, ready.reason, "waiting for a change to the policy or in AWS".into()),
            state(stalled, true, ready.reason, ready.message.clone()),
        ],
        (Some(ready), _) if ready.status == Some(false) => [
            state(reconciling, true, ready.reason, format!("retrying: {}", ready.message)),
            state(stalled, false, ready.reason, "the failure is retried with back-off".into()),
        ],
        (_, Some(synced)) if !audit && synced.status == Some(false) => [
            state(reconciling, true, synced.reason, format!("correcting: {}", synced.message)),
            state(stalled, false, synced.reason, "the drift is corrected at the next pass".into()),
        ],
        _ => [
            state(reconciling, false, "Reconciled", "the trail is as declared, or as close as the mode allows".into()),
            state(stalled, false, "Reconciled", "nothing needs a person".into()),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(type_: ConditionType, status: Option<bool>, reason: &'static str) -> ConditionState {
        ConditionState { type_, status, reason, message: "m".into() }
    }

    fn statuses(conditions: &[ConditionState], audit: bool) -> (Option<bool>, Option<bool>, &'static str) {
        let [r, s] = progress(conditions, audit);
        (r.status, s.status, s.reason)
    }

    #[test]
    fn what_needs_a_person_stalls_and_what_retries_is_reconciling() {
        let ok = c(ConditionType::Synced, Some(true), "InSync");
        for reason in ["NotOwned", "Conflict", "Guardrail", "AccessDenied", "BucketNotFound", "KmsKeyNotFound", "AdoptionWouldWeaken"] {
            assert_eq!(statuses(&[c(ConditionType::Ready, Some(false), reason), ok.clone()], false), (Some(false), Some(true), reason));
        }
        for reason in ["Throttled", "AwsUnavailable", "PolicyChanged", "KubernetesApi"] {
            assert_eq!(statuses(&[c(ConditionType::Ready, Some(false), reason), ok.clone()], false).0, Some(true), "{reason}");
        }
    }

    #[test]
    fn drift_left_is_reconciling_in_enforce_mode_only() {
        let ready = c(ConditionType::Ready, Some(true), "Reconciled");
        let drifted = c(ConditionType::Synced, Some(false), "DriftDetected");
        assert_eq!(statuses(&[ready.clone(), drifted.clone()], false), (Some(true), Some(false), "DriftDetected"));
        assert_eq!(statuses(&[ready.clone(), drifted], true), (Some(false), Some(false), "Reconciled"));
        assert_eq!(statuses(&[ready, c(ConditionType::Synced, Some(true), "InSync")], false), (Some(false), Some(false), "Reconciled"));
    }
}
