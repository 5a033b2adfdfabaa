//! One owner per trail. Several policies (in one cluster, or applied twice under other
//! names) may name the same trail — the same account, region and trail name. Only one of
//! them may govern it, or they take it from each other on every pass. The owner is:
//!
//! 1. the policy whose uid the trail's `trailwarden.dev/policy-uid` tag carries, if that
//!    policy is alive (it created or adopted the trail, and still means to keep it);
//! 2. otherwise the oldest of them by creation time, then by name.
//!
//! The others are refused (`Conflict`, naming the owner) and write nothing. Pure: the
//! controller lists the policies it knows, the pass brings the trail's tag.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;

/// The trail a policy names: it is the same trail for two policies exactly when these are
/// equal.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrailKey {
    pub account: String,
    pub region: String,
    pub trail_name: String,
}

/// A live policy, as far as deciding ownership goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claimant {
    pub name: String,
    pub uid: String,
    /// `metadata.creationTimestamp` (None: not stored yet, which sorts as the youngest).
    pub created: Option<Timestamp>,
}

impl Claimant {
    /// Older first: by creation time (one not yet stored last), then by name, then uid.
    fn seniority(&self) -> (bool, Option<Timestamp>, &str, &str) {
        (self.created.is_none(), self.created, &self.name, &self.uid)
    }
}

/// What the controller knows of the other policies when a pass starts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Peers {
    /// When this policy was created.
    pub created: Option<Timestamp>,
    /// The other live policies that name the same trail (see [`rivals`]).
    pub rivals: Vec<Claimant>,
    /// Uid → name of every live policy (this one's own uid is told apart first): a trail
    /// tagged with another's uid is that policy's, and never taken by adoption.
    pub live: Arc<BTreeMap<String, String>>,
}

/// Of `others` (every other live policy, with the trail each names), those naming the
/// same trail as `this`.
pub fn rivals<'a>(this: &TrailKey, this_uid: &str, others: impl IntoIterator<Item = (&'a TrailKey, &'a Claimant)>) -> Vec<Claimant> {
    let mut rivals: Vec<Claimant> =
        others.into_iter().filter(|(key, c)| *key == this && c.uid != this_uid).map(|(_, c)| c.clone()).collect();
    rivals.sort_by(|a, b| a.seniority().cmp(&b.seniority()));
    rivals
}

/// Why a policy owns the trail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Title {
    /// The trail carries its uid.
    Tagged,
    /// No live policy's uid is on the trail, and it is the oldest.
    Oldest,
}

/// The owner among `this` and its `rivals`, and why; `tagged_uid` is the uid the trail's
/// tag carries (None: no trail yet, or no such tag).
pub fn owner<'a>(this: &'a Claimant, rivals: &'a [Claimant], tagged_uid: Option<&str>) -> (&'a Claimant, Title) {
    let all = || std::iter::once(this).chain(rivals);
    if let Some(uid) = tagged_uid
        && let Some(tagged) = all().find(|c| c.uid == uid)
    {
        return (tagged, Title::Tagged);
    }
    let oldest = all().min_by(|a, b| a.seniority().cmp(&b.seniority())).unwrap_or(this);
    (oldest, Title::Oldest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claimant(name: &str, uid: &str, created: Option<&str>) -> Claimant {
        Claimant { name: name.into(), uid: uid.into(), created: created.map(|t| t.parse().unwrap()) }
    }

    fn key(account: &str, region: &str, trail: &str) -> TrailKey {
        TrailKey { account: account.into(), region: region.into(), trail_name: trail.into() }
    }

    #[test]
    fn rivals_name_the_same_account_region_and_trail() {
        let this = key("1", "us-east-1", "audit");
        let others = [
            (key("1", "us-east-1", "audit"), claimant("b", "uid-b", Some("2026-01-02T00:00:00Z"))),
            (key("1", "us-east-1", "audit"), claimant("a", "uid-a", Some("2026-01-01T00:00:00Z"))),
            (key("2", "us-east-1", "audit"), claimant("other-account", "uid-c", None)),
            (key("1", "eu-west-1", "audit"), claimant("other-region", "uid-d", None)),
            (key("1", "us-east-1", "main"), claimant("other-trail", "uid-e", None)),
            (key("1", "us-east-1", "audit"), claimant("self", "uid-self", None)),
        ];
        let rivals = rivals(&this, "uid-self", others.iter().map(|(k, c)| (k, c)));
        assert_eq!(rivals.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["a", "b"], "oldest first, this one left out");
    }

    #[test]
    fn the_oldest_owns_an_untagged_trail_then_the_name_decides() {
        let this = claimant("young", "uid-y", Some("2026-01-02T00:00:00Z"));
        let rivals = [claimant("old", "uid-o", Some("2026-01-01T00:00:00Z"))];
        assert_eq!(owner(&this, &rivals, None), (&rivals[0], Title::Oldest));
        assert_eq!(owner(&rivals[0], std::slice::from_ref(&this), None), (&rivals[0], Title::Oldest), "both agree");

        let same_second = [claimant("alpha", "uid-a", Some("2026-01-02T00:00:00Z"))];
        assert_eq!(owner(&this, &same_second, None).0.name, "alpha", "created in the same second: by name");
        let unstored = claimant("aaa", "uid-n", None);
        assert_eq!(owner(&unstored, &rivals, None).0.name, "old", "one not yet stored is the youngest");
    }

    #[test]
    fn the_policy_the_trail_is_tagged_with_owns_it_while_alive() {
        let this = claimant("old", "uid-o", Some("2026-01-01T00:00:00Z"));
        let rivals = [claimant("young", "uid-y", Some("2026-01-02T00:00:00Z"))];
        assert_eq!(owner(&this, &rivals, Some("uid-y")), (&rivals[0], Title::Tagged), "the tag wins over age");
        assert_eq!(owner(&this, &rivals, Some("uid-o")), (&this, Title::Tagged));
        assert_eq!(owner(&this, &rivals, Some("uid-gone")), (&this, Title::Oldest), "a dead policy's tag counts for nothing");
    }

    #[test]
    fn alone_a_policy_owns_its_trail() {
        let this = claimant("only", "uid-1", None);
        assert_eq!(owner(&this, &[], Some("uid-gone")), (&this, Title::Oldest));
    }
}
