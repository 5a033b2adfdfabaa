//! Envelopes as EventBridge delivers them, and which policy each concerns.

use serde_json::json;

use super::*;

fn event(source: &str, name: &str, params: serde_json::Value) -> String {
    json!({
        "version": "0", "id": "e-1", "detail-type": "AWS API Call via CloudTrail", "source": source,
        "account": "999999999999", "time": "2026-11-24T22:34:42Z", "region": "us-east-1", "resources": [],
        "detail": {"eventSource": "x.amazonaws.com", "eventName": name, "awsRegion": "us-east-1",
                   "recipientAccountId": "111122223333", "requestParameters": params}
    })
    .to_string()
}

fn governed() -> Governed {
    Governed {
        account: "111122223333".into(),
        archive_account: None,
        trail_arn: None,
        region: "us-east-1".into(),
        trail_name: "audit".into(),
        bucket: "logs".into(),
        keys: vec!["alias/cloudtrail".into()],
    }
}

#[test]
fn a_stop_logging_by_name_or_arn_concerns_the_trail() {
    let by_name = parse(&event("aws.cloudtrail", "StopLogging", json!({"name": "audit"}))).unwrap();
    assert_eq!(by_name.name, "StopLogging");
    assert_eq!(by_name.account, "111122223333", "the account acted in, not the bus's");
    assert_eq!(by_name.time, Some("2026-11-24T22:34:42Z".parse().unwrap()));
    assert!(governed().concerns(&by_name));
    let arn = "arn:aws:cloudtrail:us-east-1:111122223333:trail/audit";
    assert!(governed().concerns(&parse(&event("aws.cloudtrail", "StopLogging", json!({"name": arn}))).unwrap()));
    let tags = parse(&event("aws.cloudtrail", "RemoveTags", json!({"resourceId": arn}))).unwrap();
    assert!(governed().concerns(&tags));
    let selectors = parse(&event("aws.cloudtrail", "PutEventSelectors", json!({"trailName": "audit"}))).unwrap();
    assert!(governed().concerns(&selectors));
}

#[test]
fn another_trail_account_or_region_concerns_nobody() {
    assert!(!governed().concerns(&parse(&event("aws.cloudtrail", "StopLogging", json!({"name": "other"}))).unwrap()));
    let elsewhere = "arn:aws:cloudtrail:eu-west-1:111122223333:trail/audit";
    assert!(!governed().concerns(&parse(&event("aws.cloudtrail", "StopLogging", json!({"name": elsewhere}))).unwrap()));
    let other_account = "arn:aws:cloudtrail:us-east-1:444455556666:trail/audit";
    assert!(!governed().concerns(&parse(&event("aws.cloudtrail", "StopLogging", json!({"name": other_account}))).unwrap()));
    let mut g = governed();
    g.account = "444455556666".into();
    assert!(!g.concerns(&parse(&event("aws.cloudtrail", "StopLogging", json!({"name": "audit"}))).unwrap()));
}

#[test]
fn bucket_and_key_calls_concern_the_policies_that_use_them() {
    let policy = parse(&event("aws.s3", "PutBucketPolicy", json!({"bucketName": "logs"}))).unwrap();
    assert!(governed().concerns(&policy));
    let rotation = parse(&event("aws.kms", "DisableKeyRotation", json!({"keyId": "alias/cloudtrail"}))).unwrap();
    assert!(governed().concerns(&rotation));
    let mut by_id = governed();
    by_id.keys = vec!["1234abcd-12ab-34cd-56ef-1234567890ab".into()];
    let arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    assert!(by_id.concerns(&parse(&event("aws.kms", "DisableKey", json!({"keyId": arn}))).unwrap()));
    assert!(!governed().concerns(&parse(&event("aws.kms", "DisableKey", json!({"keyId": arn}))).unwrap()), "an alias alone names no key id");
    let mut resolved = governed();
    resolved.keys.push(arn.into());
    assert!(resolved.concerns(&parse(&event("aws.kms", "DisableKey", json!({"keyId": "1234abcd-12ab-34cd-56ef-1234567890ab"}))).unwrap()));
}

#[test]
fn a_failed_call_is_marked_and_a_malformed_body_refused() {
    let mut failed: serde_json::Value = serde_json::from_str(&event("aws.cloudtrail", "StopLogging", json!({"name": "audit"}))).unwrap();
    failed["detail"]["errorCode"] = json!("AccessDenied");
    assert!(parse(&failed.to_string()).unwrap().failed);
    assert!(matches!(parse("not json"), Err(Malformed::NotAnEvent(_))));
    assert!(matches!(parse(r#"{"id": "x"}"#), Err(Malformed::NotAnEvent(_))));
    let mut other: serde_json::Value = serde_json::from_str(&event("aws.s3", "x", json!({}))).unwrap();
    other["detail-type"] = json!("Object Created");
    assert!(matches!(parse(&other.to_string()), Err(Malformed::NotAnApiCall(_))));
}

#[test]
fn a_policy_governs_its_role_account_or_ours_and_its_resolved_key() {
    let mut d = crate::testing::desired();
    d.settings.kms_key = Some("alias/cloudtrail".into());
    let ours = Governed::of(&d, "111122223333", Some(crate::testing::KEY_ARN), None);
    assert_eq!(ours.account, "111122223333", "no role: the controller's own account");
    assert_eq!((ours.trail_name.as_str(), ours.bucket.as_str()), ("audit", "logs"));
    assert_eq!(ours.keys, ["alias/cloudtrail", crate::testing::KEY_ARN]);
    d.scope.role_arn = Some("arn:aws:iam::444455556666:role/trailwarden".into());
    assert_eq!(Governed::of(&d, "111122223333", None, None).account, "444455556666");
}

#[test]
fn calls_in_the_log_archive_and_on_an_organization_trail_are_ours() {
    let mut d = crate::testing::desired();
    d.scope.role_arn = Some("arn:aws:iam::444455556666:role/trailwarden".into());
    d.log_archive = Some(crate::policy::LogArchive { account: "777788889999".into(), role: None });
    let org_arn = "arn:aws:cloudtrail:us-east-1:111122223333:trail/audit";
    let governed = Governed::of(&d, "000000000000", None, Some(org_arn));
    let call = |account: &str, subject: Subject| ApiCall {
        id: "1".into(),
        time: None,
        source: "aws.s3".into(),
        name: "PutBucketPolicy".into(),
        account: account.into(),
        region: "eu-west-1".into(),
        failed: false,
        access_key: None,
        actor: None,
        subjects: vec![subject],
    };
    assert!(governed.concerns(&call("777788889999", Subject::Bucket("logs".into()))), "the bucket, in the log archive");
    assert!(!governed.concerns(&call("999999999999", Subject::Bucket("logs".into()))), "not a bucket of that name elsewhere");
    assert!(governed.concerns(&call("111122223333", Subject::Trail(org_arn.into()))), "the organization trail, recorded in its owner");
    assert!(!governed.concerns(&call("777788889999", Subject::Trail("audit".into()))), "a trail of that name in the log archive is not it");
    assert!(!governed.concerns(&call("111122223333", Subject::Trail("arn:aws:cloudtrail:us-east-1:111122223333:trail/other".into()))));
}

#[test]
fn the_signing_key_is_read_from_the_user_identity() {
    let mut envelope: serde_json::Value = serde_json::from_str(&event("aws.cloudtrail", "StopLogging", json!({"name": "audit"}))).unwrap();
    assert_eq!(parse(&envelope.to_string()).unwrap().access_key, None);
    envelope["detail"]["userIdentity"] =
        json!({"type": "AssumedRole", "accessKeyId": "ASIAEXAMPLE", "arn": "arn:aws:sts::111122223333:assumed-role/trailwarden/trailwarden"});
    let call = parse(&envelope.to_string()).unwrap();
    assert_eq!(call.access_key.as_deref(), Some("ASIAEXAMPLE"));
    assert_eq!(call.actor.as_deref(), Some("arn:aws:sts::111122223333:assumed-role/trailwarden/trailwarden"));
    envelope["detail"]["userIdentity"] = json!({"type": "AWSService", "invokedBy": "cloudtrail.amazonaws.com"});
    assert_eq!(parse(&envelope.to_string()).unwrap().access_key, None);
}

#[test]
fn an_alias_pointed_elsewhere_concerns_the_policies_naming_the_alias() {
    let mut d = crate::testing::desired();
    d.settings.kms_key = Some("alias/trail-logs".into());
    let governed = Governed::of(&d, "111122223333", Some("arn:aws:kms:us-east-1:111122223333:key/old"), None);
    let moved = parse(&event("aws.kms", "UpdateAlias", json!({"aliasName": "alias/trail-logs", "targetKeyId": "attacker-key"}))).unwrap();
    assert!(governed.concerns(&moved));
    let other = parse(&event("aws.kms", "UpdateAlias", json!({"aliasName": "alias/other", "targetKeyId": "k"}))).unwrap();
    assert!(!governed.concerns(&other));
    let deleted = parse(&event("aws.kms", "DeleteAlias", json!({"aliasName": "alias/trail-logs"}))).unwrap();
    assert!(governed.concerns(&deleted));
}

#[test]
fn only_watched_calls_name_a_series() {
    assert_eq!(labels("aws.cloudtrail", "StopLogging"), ("aws.cloudtrail", "StopLogging"));
    assert_eq!(labels("aws.cloudtrail", "PutBucketPolicy"), ("other", "other"), "a name of another source");
    assert_eq!(labels("forged.source", "Anything-42"), ("other", "other"));
}

/// The event rules (deploy/events) watch exactly the calls [`WATCHED`] names.
#[test]
fn the_watched_calls_are_the_event_rules_calls() {
    let ours: std::collections::BTreeSet<&str> = WATCHED.iter().flat_map(|(_, names)| names.iter().copied()).collect();
    for (file, template) in [
        ("central-queue.yaml", include_str!("../../../../deploy/events/central-queue.yaml")),
        ("member-rules.yaml", include_str!("../../../../deploy/events/member-rules.yaml")),
    ] {
        let listed: std::collections::BTreeSet<&str> = template
            .split("Watched:")
            .nth(1)
            .expect("a Watched list")
            .lines()
            .skip(1)
            .map(str::trim)
            .take_while(|l| l.starts_with('-') || l.starts_with('#') || l.is_empty())
            .filter_map(|l| l.strip_prefix("- "))
            .collect();
        assert_eq!(listed, ours, "{file}'s Watched calls");
    }
}
