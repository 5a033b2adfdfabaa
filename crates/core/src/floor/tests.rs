//! The floor's rules: what is raised, what is held as the trail has it, and when no new
//! trail may be made.

use super::*;
use crate::policy::LogArchive;
use crate::testing::{ACCOUNT, KEY_ARN, desired, in_sync, write_only_management};

fn everything() -> Floor {
    let mut floor = Floor::default();
    for name in REQUIREMENTS {
        assert!(floor.require(name), "{name}");
    }
    floor
}

#[test]
fn an_empty_floor_holds_nothing() {
    let mut d = desired();
    d.logging = false;
    d.settings.multi_region = false;
    d.settings.kms_key = None;
    let held = Floor::default().hold(d.clone(), None, ACCOUNT);
    assert_eq!(held, Held { desired: d, shortfalls: vec![], no_new_trail: None });
}

#[test]
fn unknown_requirements_are_refused() {
    assert!(!Floor::default().require("logging-off"));
}

#[test]
fn a_policy_at_the_floor_is_carried_out_as_declared() {
    let d = desired();
    let held = everything().hold(d.clone(), Some(&in_sync(&d)), ACCOUNT);
    assert_eq!(held.desired, d);
    assert!(held.shortfalls.is_empty(), "{:?}", held.shortfalls);
}

#[test]
fn settings_the_floor_names_are_raised() {
    let trail = in_sync(&desired());
    let mut d = desired();
    d.logging = false;
    d.settings.multi_region = false;
    d.settings.include_global_service_events = false;
    d.settings.log_file_validation = false;
    let held = everything().hold(d, Some(&trail), ACCOUNT);
    assert!(held.desired.logging);
    assert!(held.desired.settings.multi_region && held.desired.settings.include_global_service_events);
    assert!(held.desired.settings.log_file_validation);
    assert_eq!(held.shortfalls.len(), 3, "{:?}", held.shortfalls);
    assert!(held.shortfalls[0].contains("logging"), "{:?}", held.shortfalls);
}

#[test]
fn a_dropped_key_is_held_as_the_trail_has_it() {
    let trail = in_sync(&desired());
    let mut d = desired();
    d.settings.kms_key = None;
    let held = everything().hold(d.clone(), Some(&trail), ACCOUNT);
    assert_eq!(held.desired.settings.kms_key.as_deref(), Some(KEY_ARN));
    assert!(held.shortfalls[0].contains(KEY_ARN), "{:?}", held.shortfalls);
    // Nothing to keep: reported, and the trail is still made (logging matters more).
    let held = everything().hold(d, None, ACCOUNT);
    assert_eq!(held.desired.settings.kms_key, None);
    assert!(held.shortfalls[0].contains("declare kmsKeyId"), "{:?}", held.shortfalls);
    assert_eq!(held.no_new_trail, None);
}

#[test]
fn a_bucket_or_key_of_an_account_the_floor_does_not_allow_is_never_given_to_the_trail() {
    let floor = Floor { bucket_accounts: vec!["999999999999".into()], key_accounts: vec!["999999999999".into()], ..Floor::default() };
    let mut archive = desired();
    archive.log_archive = Some(LogArchive { account: "999999999999".into(), role: None });
    archive.settings.bucket = "central".into();
    archive.settings.kms_key = Some("arn:aws:kms:us-east-1:999999999999:key/k".into());
    let trail = in_sync(&archive);
    // The policy is edited to send the logs to a bucket and key of its own account.
    let mut d = archive.clone();
    d.log_archive = None;
    d.settings.bucket = "elsewhere".into();
    d.settings.kms_key = Some(KEY_ARN.into());
    let held = floor.hold(d.clone(), Some(&trail), ACCOUNT);
    assert_eq!(held.desired.settings.bucket, "central");
    assert_eq!(held.desired.settings.kms_key, archive.settings.kms_key);
    assert_eq!(held.shortfalls.len(), 2, "{:?}", held.shortfalls);
    assert!(held.shortfalls[0].contains(&format!("bucket elsewhere belongs to account {ACCOUNT}")), "{:?}", held.shortfalls);
    // No trail yet: none is made.
    let held = floor.hold(d, None, ACCOUNT);
    assert!(held.no_new_trail.is_some_and(|why| why.contains("bucket elsewhere")));
    // The archive's own bucket and key pass.
    let held = floor.hold(archive.clone(), None, ACCOUNT);
    assert_eq!((held.desired, held.no_new_trail), (archive, None));
}

#[test]
fn selectors_that_drop_management_events_keep_the_trails_or_get_aws_default() {
    let narrowed = write_only_management();
    let trail = in_sync(&desired());
    let mut d = desired();
    d.selectors = narrowed.clone();
    let held = everything().hold(d.clone(), Some(&trail), ACCOUNT);
    assert_eq!(held.desired.selectors, trail.selectors);
    // A trail already narrowed has nothing to keep: every management event is recorded.
    let mut narrowed_trail = trail.clone();
    narrowed_trail.selectors = narrowed;
    let held = everything().hold(d, Some(&narrowed_trail), ACCOUNT);
    assert_eq!(held.desired.selectors, Selectors::aws_default());
    assert!(held.shortfalls[0].contains("management-events"), "{:?}", held.shortfalls);
}
