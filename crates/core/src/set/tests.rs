use std::collections::BTreeMap;

use super::*;

fn account(id: &str, status: AccountStatus) -> OrgAccount {
    OrgAccount { id: id.into(), name: format!("acct-{id}"), status }
}

/// r-root ── ou-prod ── ou-prod-eu
///        │         └─ 111 (active)
///        └─ ou-dev: 333 (suspended), 444
/// ou-prod-eu: 222
/// r-root directly: 999 (management)
fn tree() -> OrgTree {
    let mut t = OrgTree::default();
    t.units.insert("r-root".into(), vec!["ou-prod".into(), "ou-dev".into()]);
    t.units.insert("ou-prod".into(), vec!["ou-prod-eu".into()]);
    t.accounts.insert("r-root".into(), vec![account("999", AccountStatus::Active)]);
    t.accounts.insert("ou-prod".into(), vec![account("111", AccountStatus::Active)]);
    t.accounts.insert("ou-prod-eu".into(), vec![account("222", AccountStatus::Active)]);
    t.accounts.insert("ou-dev".into(), vec![account("333", AccountStatus::Suspended), account("444", AccountStatus::Active)]);
    t
}

fn ids(c: &Coverage) -> Vec<&str> {
    c.active.keys().map(String::as_str).collect()
}

#[test]
fn an_ou_is_walked_down_to_its_last_child() {
    let c = cover(&Targets { organizational_units: vec!["ou-prod".into()], ..Targets::default() }, &tree());
    assert_eq!(ids(&c), ["111", "222"]);
    let root = cover(&Targets { organizational_units: vec!["r-root".into()], ..Targets::default() }, &tree());
    assert_eq!(ids(&root), ["111", "222", "444", "999"]);
    assert_eq!(root.inactive.get("333"), Some(&AccountStatus::Suspended), "a suspended account is reported, not covered");
}

#[test]
fn accounts_are_added_and_excluded_and_the_unknown_named() {
    let targets = Targets {
        organizational_units: vec!["ou-prod".into(), "ou-gone".into()],
        accounts: vec!["444".into(), "555".into()],
        exclude_accounts: vec!["222".into()],
    };
    let c = cover(&targets, &tree());
    assert_eq!(ids(&c), ["111", "444"]);
    assert_eq!(c.unknown_units, ["ou-gone"]);
    assert_eq!(c.unknown_accounts, ["555"]);
}

#[test]
fn a_tree_that_loops_is_walked_once() {
    let mut t = tree();
    t.units.insert("ou-prod-eu".into(), vec!["ou-prod".into()]);
    let c = cover(&Targets { organizational_units: vec!["ou-prod".into()], ..Targets::default() }, &t);
    assert_eq!(ids(&c), ["111", "222"]);
}

#[test]
fn the_plan_applies_every_covered_account_and_removes_only_what_left() {
    let c = cover(&Targets { organizational_units: vec!["r-root".into()], exclude_accounts: vec!["999".into()], ..Targets::default() }, &tree());
    let owned = BTreeMap::from([
        ("org-111".to_owned(), "111".to_owned()),
        ("org-333".to_owned(), "333".to_owned()),
        ("org-777".to_owned(), "777".to_owned()),
    ]);
    let p = plan("org", &c, &owned);
    assert_eq!(p.apply.values().map(String::as_str).collect::<Vec<_>>(), ["org-111", "org-222", "org-444"]);
    assert_eq!(p.remove, ["org-777"], "the suspended account keeps its policy; the one gone loses it");
}
