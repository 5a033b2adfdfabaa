use std::collections::BTreeSet;

use serde_json::Value;

use super::*;

fn protected() -> Protected {
    Protected {
        partition: "aws".into(),
        region: "eu-west-1".into(),
        trail_name: "org-audit".into(),
        bucket: "org-logs".into(),
        kms_key: None,
        member_role: "trailwarden-member".into(),
        exempt_roles: vec!["arn:aws:iam::111122223333:role/break-glass".into()],
        excluded_accounts: vec![],
    }
}

fn targets(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| (*s).to_owned()).collect()
}

fn statement<'a>(doc: &'a Value, sid: &str) -> &'a Value {
    doc["Statement"].as_array().unwrap().iter().find(|s| s["Sid"] == sid).unwrap_or_else(|| panic!("no {sid}"))
}

#[test]
fn denies_the_blinding_calls_on_the_trail_and_bucket_to_all_but_trailwarden_and_break_glass() {
    let doc = document(&protected());
    let trail = statement(&doc, "TrailwardenKeepsTheTrail");
    assert_eq!(trail["Effect"], "Deny");
    assert_eq!(trail["Resource"], "arn:aws:cloudtrail:*:*:trail/org-audit");
    for action in ["cloudtrail:StopLogging", "cloudtrail:DeleteTrail", "cloudtrail:UpdateTrail", "cloudtrail:PutEventSelectors"] {
        assert!(trail["Action"].as_array().unwrap().iter().any(|a| a == action), "{action}");
    }
    let exempt = &trail["Condition"]["ArnNotLike"]["aws:PrincipalArn"];
    assert_eq!(exempt, &serde_json::json!(["arn:aws:iam::*:role/trailwarden-member", "arn:aws:iam::111122223333:role/break-glass"]));
    assert!(trail["Condition"].get("StringNotEquals").is_none(), "no exclusions, no account condition");
    let bucket = statement(&doc, "TrailwardenKeepsTheBucket");
    assert_eq!(bucket["Resource"], "arn:aws:s3:::org-logs");
    assert!(bucket["Action"].as_array().unwrap().iter().any(|a| a == "s3:PutLifecycleConfiguration"));
    assert!(doc["Statement"].as_array().unwrap().iter().all(|s| s["Sid"] != "TrailwardenKeepsTheKey"), "no key, no key statement");
}

#[test]
fn excluded_accounts_are_exempt_and_the_key_is_named_as_declared() {
    let mut p = protected();
    p.excluded_accounts = vec!["123456789012".into()];
    p.kms_key = Some("arn:aws:kms:eu-west-1:444455556666:key/0e2b0bd4-3c0d-4a6a-9b1c-5b6d7e8f9a0b".into());
    let doc = document(&p);
    assert_eq!(statement(&doc, "TrailwardenKeepsTheTrail")["Condition"]["StringNotEquals"]["aws:PrincipalAccount"], serde_json::json!(["123456789012"]));
    let key = statement(&doc, "TrailwardenKeepsTheKey");
    assert_eq!(key["Resource"], "arn:aws:kms:eu-west-1:444455556666:key/0e2b0bd4-3c0d-4a6a-9b1c-5b6d7e8f9a0b");
    assert!(key["Condition"].get("ForAnyValue:StringEquals").is_none());

    p.kms_key = Some("alias/org-logs".into());
    let key = statement(&document(&p), "TrailwardenKeepsTheKey").clone();
    assert_eq!(key["Resource"], "arn:aws:kms:eu-west-1:*:key/*");
    assert_eq!(key["Condition"]["ForAnyValue:StringEquals"]["kms:ResourceAliases"], "alias/org-logs");
    assert!(key["Condition"].get("ArnNotLike").is_some(), "the exemptions stay beside the alias");

    p.kms_key = Some("arn:aws:kms:eu-west-1:444455556666:alias/org-logs".into());
    let key = statement(&document(&p), "TrailwardenKeepsTheKey").clone();
    assert_eq!(key["Resource"], "arn:aws:kms:eu-west-1:444455556666:key/*");
}

fn observed(content: &str, tagged: bool, on: &[&str]) -> ObservedScp {
    ObservedScp { id: "p-abcd1234".into(), content: content.into(), tagged, targets: targets(on) }
}

#[test]
fn missing_is_created_tagged_and_attached_everywhere() {
    let doc = document(&protected());
    let plan = plan("trailwarden-org", &doc, &targets(&["ou-1", "ou-2"]), None, None).unwrap();
    assert!(plan.create);
    assert_eq!(plan.content.as_deref(), Some(content(&doc).as_str()));
    assert_eq!(plan.attach, ["ou-1", "ou-2"]);
    assert_eq!(plan.drift(), ["missing"]);
}

#[test]
fn in_sync_whatever_the_formatting_and_drift_named_otherwise() {
    let doc = document(&protected());
    let pretty = serde_json::to_string_pretty(&doc).unwrap();
    let held = observed(&pretty, true, &["ou-1"]);
    assert!(plan("trailwarden-org", &doc, &targets(&["ou-1"]), Some(&held), None).unwrap().in_sync());

    let loosened = observed(r#"{"Version":"2012-10-17","Statement":[]}"#, true, &["ou-1", "ou-9"]);
    let p = plan("trailwarden-org", &doc, &targets(&["ou-1", "ou-2"]), Some(&loosened), None).unwrap();
    assert!(!p.create);
    assert!(p.content.is_some());
    assert_eq!((p.attach.clone(), p.detach.clone()), (vec!["ou-2".to_owned()], vec!["ou-9".to_owned()]));
    assert_eq!(p.drift(), ["content", "not attached to ou-2", "attached to ou-9"]);
}

#[test]
fn an_untagged_policy_of_the_same_name_is_never_touched_unless_the_set_made_it() {
    let doc = document(&protected());
    let theirs = observed("{}", false, &[]);
    let refused = plan("trailwarden-org", &doc, &targets(&["ou-1"]), Some(&theirs), None);
    assert!(matches!(refused, Err(Unkeepable::NameTaken { .. })));
    // Its id is the one the set recorded: a stripped tag is put back, with the rest.
    let ours = plan("trailwarden-org", &doc, &targets(&["ou-1"]), Some(&theirs), Some("p-abcd1234")).unwrap();
    assert!(ours.retag && ours.content.is_some() && ours.attach == ["ou-1"]);
}

#[test]
fn organizations_limits_are_refused_before_any_write() {
    let mut p = protected();
    p.exempt_roles = (0..200).map(|i| format!("arn:aws:iam::111122223333:role/break-glass-{i}")).collect();
    let doc = document(&p);
    assert!(matches!(plan("trailwarden-org", &doc, &BTreeSet::new(), None, None), Err(Unkeepable::TooLarge(n)) if n > MAX_CHARACTERS));
    let long = "x".repeat(MAX_NAME + 1);
    assert!(matches!(plan(&long, &document(&protected()), &BTreeSet::new(), None, None), Err(Unkeepable::NameTooLong(_))));
}
