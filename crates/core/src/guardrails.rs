//! What the operator lets any TrailPolicy do, whoever wrote it. Creating a TrailPolicy is
//! a Kubernetes permission; acting on it spends the controller's AWS rights. The
//! guardrails keep the first from becoming the second: accounts and roles the controller
//! may act through, and whether the powers that can hurt a trail or bucket we do not own
//! may be used at all.

use std::fmt;

use crate::policy::{Adoption, DeletionPolicy, Desired};
use crate::posture::document::glob;

/// Set by the operator (controller flags), never by a policy. The default allows
/// everything, as before guardrails existed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Guardrails {
    /// Accounts policies may act in; empty: any.
    pub allowed_accounts: Vec<String>,
    /// Role ARN patterns (`*` and `?` wildcards) policies may name; empty: any.
    pub allowed_roles: Vec<String>,
    /// `adoption: Always` may take over a trail nobody tagged for the policy.
    pub allow_adoption_always: bool,
    /// `deletionPolicy: Delete` may delete the trail with the policy.
    pub allow_deletion: bool,
    /// `posture.bucket.manage` / `posture.kms.manage` may rewrite a bucket's or key's
    /// settings and policy.
    pub allow_manage: bool,
}

impl Default for Guardrails {
    fn default() -> Self {
        Guardrails {
            allowed_accounts: vec![],
            allowed_roles: vec![],
            allow_adoption_always: true,
            allow_deletion: true,
            allow_manage: true,
        }
    }
}

/// The guardrail a policy is outside of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Breach {
    Account(String),
    Role(String),
    AdoptionAlways,
    DeletionDelete,
    ManageBucket,
    ManageKey,
}

impl fmt::Display for Breach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Breach::Account(a) => write!(f, "account {a} is not among the controller's allowed accounts (--allowed-accounts)"),
            Breach::Role(r) => write!(f, "role {r} matches none of the controller's allowed role ARNs (--allowed-role-arns)"),
            Breach::AdoptionAlways => f.write_str("adoption: Always is not allowed by the controller (--allow-adoption-always=false)"),
            Breach::DeletionDelete => f.write_str("deletionPolicy: Delete is not allowed by the controller (--allow-deletion=false)"),
            Breach::ManageBucket => f.write_str("posture.bucket.manage is not allowed by the controller (--allow-manage=false)"),
            Breach::ManageKey => f.write_str("posture.kms.manage is not allowed by the controller (--allow-manage=false)"),
        }
    }
}

impl Guardrails {
    /// Whether the account a policy acts in is allowed; `own_account` is the controller's,
    /// for a policy without a role (`None`: not known yet).
    pub fn account(&self, desired: &Desired, own_account: Option<&str>) -> Option<Breach> {
        if self.allowed_accounts.is_empty() {
            return None;
        }
        let account = desired.scope.role_account().or(own_account).unwrap_or("(the controller's own, unknown)");
        (!self.allowed_accounts.iter().any(|a| a == account)).then(|| Breach::Account(account.to_owned()))
    }

    /// The first guardrail the policy is outside of, its account aside (see
    /// [`Guardrails::account`]): all of them are judged on the spec alone.
    pub fn breach(&self, desired: &Desired) -> Option<Breach> {
        // The log-archive role is acted through as much as the trail's: the same lists hold it.
        let archive = desired.log_archive.as_ref();
        let roles = [desired.scope.role_arn.as_ref(), archive.and_then(|a| a.role.as_ref()?.role_arn.as_ref())];
        for role in roles.into_iter().flatten() {
            if !self.allowed_roles.is_empty() && !self.allowed_roles.iter().any(|pattern| glob(pattern, role)) {
                return Some(Breach::Role(role.clone()));
            }
        }
        if let Some(archive) = archive
            && !self.allowed_accounts.is_empty()
            && !self.allowed_accounts.contains(&archive.account)
        {
            return Some(Breach::Account(archive.account.clone()));
        }
        if !self.allow_adoption_always && desired.adoption == Adoption::Always {
            return Some(Breach::AdoptionAlways);
        }
        if !self.allow_deletion && desired.deletion_policy == DeletionPolicy::Delete {
            return Some(Breach::DeletionDelete);
        }
        if !self.allow_manage && desired.posture.bucket.manage {
            return Some(Breach::ManageBucket);
        }
        if !self.allow_manage && desired.posture.kms.manage {
            return Some(Breach::ManageKey);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;

    fn with_role(role: &str) -> Desired {
        let mut d = testing::desired();
        d.scope.role_arn = Some(role.into());
        d
    }

    #[test]
    fn the_default_allows_everything() {
        let mut d = with_role("arn:aws:iam::111122223333:role/anything");
        d.adoption = Adoption::Always;
        d.deletion_policy = DeletionPolicy::Delete;
        d.posture.bucket.manage = true;
        assert_eq!(Guardrails::default().breach(&d), None);
        assert_eq!(Guardrails::default().account(&d, None), None);
    }

    #[test]
    fn accounts_and_roles_outside_the_lists_are_named() {
        let g = Guardrails {
            allowed_accounts: vec!["111122223333".into()],
            allowed_roles: vec!["arn:aws:iam::*:role/trailwarden-member".into()],
            ..Guardrails::default()
        };
        let ok = with_role("arn:aws:iam::111122223333:role/trailwarden-member");
        assert_eq!((g.account(&ok, None), g.breach(&ok)), (None, None));
        let elsewhere = with_role("arn:aws:iam::444455556666:role/trailwarden-member");
        assert_eq!(g.account(&elsewhere, None), Some(Breach::Account("444455556666".into())));
        let admin = with_role("arn:aws:iam::111122223333:role/OrganizationAccountAccessRole");
        assert!(matches!(g.breach(&admin), Some(Breach::Role(_))));
        let mut own = testing::desired();
        own.scope.role_arn = None;
        assert_eq!(g.account(&own, Some("111122223333")), None);
        assert!(g.account(&own, Some("999999999999")).is_some());
        assert!(g.account(&own, None).is_some(), "an unknown own account is not assumed allowed");
    }

    #[test]
    fn the_log_archive_account_and_role_are_held_to_the_same_lists() {
        use crate::policy::{LogArchive, Scope};
        let g = Guardrails {
            allowed_accounts: vec!["111122223333".into(), "444455556666".into()],
            allowed_roles: vec!["arn:aws:iam::*:role/trailwarden-*".into()],
            ..Guardrails::default()
        };
        let archive = |account: &str, role: &str| {
            let mut d = with_role("arn:aws:iam::111122223333:role/trailwarden-member");
            let scope = Scope { role_arn: Some(role.into()), external_id: None, region: "us-east-1".into() };
            d.log_archive = Some(LogArchive { account: account.into(), role: Some(scope) });
            d
        };
        assert_eq!(g.breach(&archive("444455556666", "arn:aws:iam::444455556666:role/trailwarden-log-archive")), None);
        let admin = archive("444455556666", "arn:aws:iam::444455556666:role/OrganizationAccountAccessRole");
        assert!(matches!(g.breach(&admin), Some(Breach::Role(r)) if r.ends_with("OrganizationAccountAccessRole")));
        let elsewhere = archive("777788889999", "arn:aws:iam::777788889999:role/trailwarden-log-archive");
        assert_eq!(g.breach(&elsewhere), Some(Breach::Account("777788889999".into())));
    }

    #[test]
    fn each_power_can_be_withheld() {
        let g = Guardrails { allow_adoption_always: false, allow_deletion: false, allow_manage: false, ..Guardrails::default() };
        let mut d = testing::desired();
        d.posture.bucket.manage = false;
        d.posture.kms.manage = false;
        d.adoption = Adoption::IfTagged;
        d.deletion_policy = DeletionPolicy::Retain;
        assert_eq!(g.breach(&d), None);
        d.posture.kms.manage = true;
        assert_eq!(g.breach(&d), Some(Breach::ManageKey));
        d.posture.bucket.manage = true;
        assert_eq!(g.breach(&d), Some(Breach::ManageBucket));
        d.deletion_policy = DeletionPolicy::Delete;
        assert_eq!(g.breach(&d), Some(Breach::DeletionDelete));
        d.adoption = Adoption::Always;
        assert_eq!(g.breach(&d), Some(Breach::AdoptionAlways));
        assert!(g.breach(&d).unwrap().to_string().contains("--allow-adoption-always=false"));
    }
}
