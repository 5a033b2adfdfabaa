//! The organization set: which accounts a `TrailPolicySet` covers, and which of its
//! generated policies to keep, create or remove. Pure: the organization as read in, the
//! plan out. The Kubernetes side carries the plan out; the AWS side reads the tree.
//!
//! A set targets organizational units (each walked down to its last child OU), plus
//! accounts named one by one, less the accounts it excludes. Of those, the accounts
//! that are active get a policy; an account suspended or closing is reported, not fought
//! over (its role cannot be assumed anyway); an account the set names but the
//! organization does not hold is reported too.

pub mod prevention;
pub mod tree;

use std::collections::{BTreeMap, BTreeSet};

pub use tree::{AccountStatus, OrgAccount, OrgTree};

/// The organization's own switches CloudTrail depends on, as the walk read them (None:
/// could not be read, e.g. from a delegated administrator that may not ask).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Switches {
    /// Trusted access for CloudTrail (`cloudtrail.amazonaws.com` among the organization's
    /// enabled service principals): organization trails need it.
    pub cloudtrail_access: Option<bool>,
    /// CloudTrail's delegated administrators.
    pub delegated_administrators: Option<Vec<String>>,
}

/// What a set targets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Targets {
    pub organizational_units: Vec<String>,
    pub accounts: Vec<String>,
    pub exclude_accounts: Vec<String>,
}

/// The accounts a set covers, as the organization stands.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    /// Active accounts, each to have a policy, by id.
    pub active: BTreeMap<String, String>,
    /// Targeted accounts that are suspended or closing: reported, not covered.
    pub inactive: BTreeMap<String, AccountStatus>,
    /// Targeted OUs the organization does not hold.
    pub unknown_units: Vec<String>,
    /// Accounts named in `targets.accounts` the organization does not hold.
    pub unknown_accounts: Vec<String>,
    /// The organization's switches, read with the tree.
    pub switches: Switches,
    /// Every account the organization holds (to tell an account that left the
    /// organization from one that left the targets).
    pub organization_accounts: BTreeSet<String>,
}

/// Resolves `targets` against the organization.
pub fn cover(targets: &Targets, tree: &OrgTree) -> Coverage {
    let mut coverage = Coverage {
        organization_accounts: tree.accounts.values().flatten().map(|a| a.id.clone()).collect(),
        ..Coverage::default()
    };
    let excluded: BTreeSet<&str> = targets.exclude_accounts.iter().map(String::as_str).collect();
    let mut chosen: Vec<&OrgAccount> = vec![];
    for unit in &targets.organizational_units {
        match tree.accounts_under(unit) {
            Some(accounts) => chosen.extend(accounts),
            None => coverage.unknown_units.push(unit.clone()),
        }
    }
    for id in &targets.accounts {
        match tree.account(id) {
            Some(account) => chosen.push(account),
            None => coverage.unknown_accounts.push(id.clone()),
        }
    }
    for account in chosen.into_iter().filter(|a| !excluded.contains(a.id.as_str())) {
        match account.status {
            AccountStatus::Active => {
                coverage.active.insert(account.id.clone(), account.name.clone());
            }
            other => {
                coverage.inactive.insert(account.id.clone(), other);
            }
        }
    }
    coverage
}

/// The generated policy's name: the set's, and the account's id. Kubernetes names are at
/// most 253 characters; the set's name is held to 240 at admission.
pub fn policy_name(set: &str, account: &str) -> String {
    format!("{set}-{account}")
}

/// What the set's policies should become.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetPlan {
    /// Accounts whose policy is applied (created, or kept as the template says), by id,
    /// with the policy's name.
    pub apply: BTreeMap<String, String>,
    /// The set's policies whose account left the targets (or the organization).
    pub remove: Vec<String>,
}

/// The plan from what the set covers and the policies it owns now (name → account).
pub fn plan(set: &str, coverage: &Coverage, owned: &BTreeMap<String, String>) -> SetPlan {
    let apply: BTreeMap<String, String> = coverage.active.keys().map(|a| (a.clone(), policy_name(set, a))).collect();
    let wanted: BTreeSet<&String> = apply.values().collect();
    // A suspended account's policy stays: it comes back with the account, and its trail
    // is not deleted under it while AWS holds the account.
    let remove = owned
        .iter()
        .filter(|(name, account)| !wanted.contains(name) && !coverage.inactive.contains_key(*account))
        .map(|(name, _)| name.clone())
        .collect();
    SetPlan { apply, remove }
}

#[cfg(test)]
mod tests;
