//! The organization as AWS Organizations lists it: roots, organizational units and their
//! children, and the accounts directly in each.

use std::collections::{BTreeMap, BTreeSet};

/// What Organizations says of an account (its `State`; `Status` in older answers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountStatus {
    Active,
    /// Joining: its role may not exist yet.
    PendingActivation,
    Suspended,
    PendingClosure,
    Closed,
}

impl AccountStatus {
    pub fn parse(s: &str) -> Self {
        match s {
            "PENDING_ACTIVATION" => AccountStatus::PendingActivation,
            "SUSPENDED" => AccountStatus::Suspended,
            "PENDING_CLOSURE" => AccountStatus::PendingClosure,
            "CLOSED" => AccountStatus::Closed,
            _ => AccountStatus::Active,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            AccountStatus::Active => "ACTIVE",
            AccountStatus::PendingActivation => "PENDING_ACTIVATION",
            AccountStatus::Suspended => "SUSPENDED",
            AccountStatus::PendingClosure => "PENDING_CLOSURE",
            AccountStatus::Closed => "CLOSED",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrgAccount {
    pub id: String,
    pub name: String,
    pub status: AccountStatus,
}

/// The organization's tree: for each parent (a root or an OU), its child OUs and the
/// accounts directly in it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrgTree {
    pub units: BTreeMap<String, Vec<String>>,
    pub accounts: BTreeMap<String, Vec<OrgAccount>>,
}

/// Deepest nesting Organizations allows is five OUs under a root; this bounds a walk of a
/// tree read wrong, whatever its shape.
const MAX_DEPTH: usize = 16;

impl OrgTree {
    /// Every account under `parent` (an OU or a root), its descendants' included; None
    /// when the tree holds no such parent.
    pub fn accounts_under(&self, parent: &str) -> Option<Vec<&OrgAccount>> {
        if !self.units.contains_key(parent) && !self.accounts.contains_key(parent) {
            return None;
        }
        let mut found = vec![];
        let mut seen = BTreeSet::new();
        let mut level = vec![parent];
        for _ in 0..MAX_DEPTH {
            let mut next = vec![];
            for unit in level {
                if !seen.insert(unit) {
                    continue;
                }
                found.extend(self.accounts.get(unit).into_iter().flatten());
                next.extend(self.units.get(unit).into_iter().flatten().map(String::as_str));
            }
            if next.is_empty() {
                break;
            }
            level = next;
        }
        Some(found)
    }

    /// The account with this id, wherever it is.
    pub fn account(&self, id: &str) -> Option<&OrgAccount> {
        self.accounts.values().flatten().find(|a| a.id == id)
    }

    /// Every account of the tree.
    pub fn account_count(&self) -> usize {
        self.accounts.values().map(Vec::len).sum()
    }
}
