use super::*;
use crate::posture::CheckStatus;
use serde_json::json;

const TRAIL: &str = crate::testing::TRAIL_ARN;

fn trail() -> TrailRef<'static> {
    crate::testing::trail_ref()
}

fn good_policy() -> String {
    Document::empty().with_our_statements(document::bucket_statements("logs", trail())).to_json()
}

fn facts(policy: Option<String>) -> BucketFacts {
    BucketFacts { policy: Ok(policy), ..crate::testing::bucket("logs") }
}

fn status(checks: &[Check], id: &str) -> (CheckStatus, String) {
    let c = checks.iter().find(|c| c.id == id).unwrap();
    (c.status, c.message.clone())
}

fn with_statements(statements: serde_json::Value) -> String {
    json!({"Version": "2012-10-17", "Statement": statements}).to_string()
}

#[test]
fn a_hardened_bucket_passes_every_required_check() {
    let checks = checks(&facts(Some(good_policy())), trail(), &BucketPosture::default());
    let failing: Vec<_> = checks.iter().filter(|c| c.required && c.status != CheckStatus::Pass).collect();
    assert!(failing.is_empty(), "{failing:#?}");
}

#[test]
fn a_statement_without_source_arn_is_not_enough() {
    let policy = with_statements(json!([
        {"Effect": "Allow", "Principal": {"Service": CLOUDTRAIL}, "Action": "s3:GetBucketAcl", "Resource": "arn:aws:s3:::logs"},
        {"Effect": "Allow", "Principal": {"Service": CLOUDTRAIL}, "Action": "s3:PutObject",
         "Resource": "arn:aws:s3:::logs/audit/AWSLogs/111122223333/*",
         "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}}},
    ]));
    let (s, message) = status(&checks(&facts(Some(policy)), trail(), &BucketPosture::default()), "BKT-CLOUDTRAIL-POLICY");
    assert_eq!(s, CheckStatus::Fail);
    assert!(message.contains("aws:SourceArn"), "{message}");
}

#[test]
fn a_policy_for_another_prefix_does_not_cover_this_trail() {
    let policy = Document::empty()
        .with_our_statements(document::bucket_statements("logs", TrailRef { prefix: Some("other"), ..trail() }))
        .to_json();
    let (s, message) = status(&checks(&facts(Some(policy)), trail(), &BucketPosture::default()), "BKT-CLOUDTRAIL-POLICY");
    assert_eq!(s, CheckStatus::Fail);
    assert!(message.contains("audit/AWSLogs/111122223333/"), "{message}");
}

#[test]
fn a_wildcard_principal_makes_the_bucket_public() {
    let policy = with_statements(json!([{"Sid": "Open", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::logs/*"}]));
    let (s, message) = status(&checks(&facts(Some(policy)), trail(), &BucketPosture::default()), "BKT-NOT-PUBLIC");
    assert_eq!(s, CheckStatus::Fail);
    assert!(message.contains("Open"));
}

#[test]
fn the_not_principal_trick_is_public_too() {
    let policy = with_statements(json!([{"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::111122223333:root"},
        "Action": "s3:GetObject", "Resource": "arn:aws:s3:::logs/*", "Condition": {"Bool": {"aws:SecureTransport": "true"}}}]));
    assert_eq!(status(&checks(&facts(Some(policy)), trail(), &BucketPosture::default()), "BKT-NOT-PUBLIC").0, CheckStatus::Fail);
}

#[test]
fn a_public_acl_grant_fails_and_unreadable_facts_are_unknown() {
    let mut f = facts(Some(good_policy()));
    f.public_acl_grantees = Ok(vec!["http://acs.amazonaws.com/groups/global/AllUsers".into()]);
    assert_eq!(status(&checks(&f, trail(), &BucketPosture::default()), "BKT-NOT-PUBLIC").0, CheckStatus::Fail);
    f.policy = Err("AccessDenied".into());
    let checks = checks(&f, trail(), &BucketPosture::default());
    let (s, message) = status(&checks, "BKT-CLOUDTRAIL-POLICY");
    assert_eq!(s, CheckStatus::Unknown);
    assert!(message.contains("AccessDenied"));
}

#[test]
fn org_trails_need_the_organization_path() {
    let org = TrailRef { organization: true, ..trail() };
    let (s, _) = status(&checks(&facts(Some(good_policy())), org, &BucketPosture::default()), "BKT-CLOUDTRAIL-POLICY");
    assert_eq!(s, CheckStatus::Fail);
    let mut statements = document::bucket_statements("logs", trail());
    statements.push(json!({"Sid": "OrgWrite", "Effect": "Allow", "Principal": {"Service": CLOUDTRAIL}, "Action": "s3:PutObject",
        "Resource": "arn:aws:s3:::logs/audit/AWSLogs/o-*", "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}}}));
    let policy = with_statements(serde_json::Value::Array(statements));
    assert_eq!(status(&checks(&facts(Some(policy)), org, &BucketPosture::default()), "BKT-CLOUDTRAIL-POLICY").0, CheckStatus::Pass);
}

#[test]
fn a_grant_naming_the_organizations_own_id_counts_once_the_id_is_known() {
    let mut statements = document::bucket_statements("logs", trail());
    statements.push(json!({"Sid": "OrgWrite", "Effect": "Allow", "Principal": {"Service": CLOUDTRAIL}, "Action": "s3:PutObject",
        "Resource": "arn:aws:s3:::logs/audit/AWSLogs/o-a1b2c3d4e5/*", "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}}}));
    let policy = with_statements(serde_json::Value::Array(statements));
    let judged = |org: TrailRef<'_>| status(&checks(&facts(Some(policy.clone())), org, &BucketPosture::default()), "BKT-CLOUDTRAIL-POLICY").0;
    let org = TrailRef { organization: true, ..trail() };
    assert_eq!(judged(org), CheckStatus::Fail, "an unknown organization: that id may not be the trail's");
    assert_eq!(judged(org.in_organization(Some("o-a1b2c3d4e5"))), CheckStatus::Pass);
    assert_eq!(judged(org.in_organization(Some("o-zzzzzzzzzz"))), CheckStatus::Fail, "another organization's path grants nothing");
}

#[test]
fn fixes_only_when_managed_and_keep_foreign_statements() {
    let foreign = json!({"Sid": "DenyInsecure", "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::logs/*",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}});
    let mut f = facts(Some(with_statements(json!([foreign.clone()]))));
    f.public_access_block = Ok([true, true, false, true]);
    f.versioning_enabled = Ok(false);
    assert!(fixes(&f, trail(), &BucketPosture::default()).is_empty(), "manage is off by default");
    let managed = BucketPosture { manage: true, ..Default::default() };
    let planned = fixes(&f, trail(), &managed);
    assert_eq!(planned[..2], [super::BucketFix::BlockPublicAccess, super::BucketFix::EnableVersioning]);
    let super::BucketFix::PutBucketPolicy { before, after: policy, .. } = &planned[2] else { panic!("{planned:?}") };
    assert_eq!(before.as_deref(), Some(with_statements(json!([foreign.clone()])).as_str()), "judged from the policy as read");
    let doc: serde_json::Value = serde_json::from_str(policy).unwrap();
    assert_eq!(doc["Statement"][0], foreign, "foreign statement kept as it was");
    let mut fixed = f.clone();
    fixed.policy = Ok(Some(policy.clone()));
    assert_eq!(status(&checks(&fixed, trail(), &managed), "BKT-CLOUDTRAIL-POLICY").0, CheckStatus::Pass);
}

#[test]
fn an_unparsable_policy_is_never_overwritten() {
    let mut f = facts(Some("{not json".into()));
    f.versioning_enabled = Ok(true);
    let managed = BucketPosture { manage: true, ..Default::default() };
    assert!(fixes(&f, trail(), &managed).is_empty());
    assert_eq!(status(&checks(&f, trail(), &managed), "BKT-CLOUDTRAIL-POLICY").0, CheckStatus::Unknown);
}

#[test]
fn acls_left_on_are_reported_and_turned_off_only_under_manage() {
    let mut f = facts(Some(good_policy()));
    f.object_ownership = Ok(None);
    let checks = checks(&f, trail(), &BucketPosture::default());
    let (s, message) = status(&checks, "BKT-ACLS-DISABLED");
    assert_eq!(s, CheckStatus::Fail);
    assert!(message.contains("not set"), "{message}");
    assert!(!checks.iter().find(|c| c.id == "BKT-ACLS-DISABLED").unwrap().required, "reported for information");
    assert!(fixes(&f, trail(), &BucketPosture::default()).is_empty());
    let managed = BucketPosture { manage: true, ..Default::default() };
    assert_eq!(fixes(&f, trail(), &managed), [BucketFix::DisableAcls]);
    let fixed = BucketFix::DisableAcls.applied_to(f);
    assert_eq!(status(&checks_of(&fixed), "BKT-ACLS-DISABLED").0, CheckStatus::Pass);
    assert!(fixes(&fixed, trail(), &managed).is_empty(), "no write loop once fixed");
}

fn checks_of(f: &BucketFacts) -> Vec<Check> {
    checks(f, trail(), &BucketPosture::default())
}

/// The policy fix `manage` plans for `trail` on `f`, if any.
fn policy_fix(f: &BucketFacts, trail: TrailRef<'_>) -> Option<BucketFix> {
    let managed = BucketPosture { manage: true, ..Default::default() };
    fixes(f, trail, &managed).into_iter().find(|fix| matches!(fix, BucketFix::PutBucketPolicy { .. }))
}

fn statements_of(f: &BucketFacts) -> Vec<serde_json::Value> {
    let text = f.policy.clone().unwrap().unwrap();
    serde_json::from_str::<serde_json::Value>(&text).unwrap()["Statement"].as_array().unwrap().clone()
}

#[test]
fn an_organization_trail_is_fixed_once_and_then_left_alone() {
    let org = TrailRef { organization: true, ..trail() };
    let f = facts(None);
    assert_eq!(status(&checks(&f, org, &BucketPosture::default()), "BKT-CLOUDTRAIL-POLICY").0, CheckStatus::Fail);
    let fix = policy_fix(&f, org).expect("the missing grant is fixed");
    let BucketFix::PutBucketPolicy { before: None, .. } = &fix else { panic!("judged from no policy: {fix:?}") };
    let fixed = fix.applied_to(f);
    let (s, message) = status(&checks(&fixed, org, &BucketPosture::default()), "BKT-CLOUDTRAIL-POLICY");
    assert_eq!(s, CheckStatus::Pass, "{message}");
    assert_eq!(policy_fix(&fixed, org), None, "a second pass writes nothing");
    let write = statements_of(&fixed).into_iter().find(|s| s["Action"] == "s3:PutObject").unwrap();
    assert_eq!(
        write["Resource"],
        json!(["arn:aws:s3:::logs/audit/AWSLogs/111122223333/*", "arn:aws:s3:::logs/audit/AWSLogs/o-*/*"])
    );
    assert_eq!(write["Condition"]["StringEquals"]["aws:SourceArn"], TRAIL, "the organization path is this trail's alone");
    assert_eq!(write["Condition"]["StringEquals"]["s3:x-amz-acl"], "bucket-owner-full-control");
}

#[test]
fn trails_sharing_a_bucket_keep_each_others_statements() {
    const OTHER: &str = "arn:aws:cloudtrail:us-east-1:444455556666:trail/other";
    let a = trail();
    let b = TrailRef { arn: OTHER, account: "444455556666", prefix: None, organization: false, organization_id: None };
    let foreign = json!({"Sid": "DenyInsecure", "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::logs/*",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}});
    let f = facts(Some(with_statements(json!([foreign.clone()]))));
    let after_a = policy_fix(&f, a).unwrap().applied_to(f);
    let after_b = policy_fix(&after_a, b).expect("B's statements are missing").applied_to(after_a);
    for t in [a, b] {
        let (s, message) = status(&checks(&after_b, t, &BucketPosture::default()), "BKT-CLOUDTRAIL-POLICY");
        assert_eq!(s, CheckStatus::Pass, "{}: {message}", t.arn);
        assert_eq!(policy_fix(&after_b, t), None, "{} plans no further write", t.arn);
    }
    let statements = statements_of(&after_b);
    assert_eq!(statements.len(), 5);
    assert_eq!(statements[0], foreign, "foreign statement kept");
    let sids: Vec<&str> = statements.iter().filter_map(|s| s["Sid"].as_str()).collect();
    assert!(sids.iter().all(|sid| sid.chars().all(|c| c.is_ascii_alphanumeric())), "{sids:?}");
    assert_eq!(sids.iter().collect::<std::collections::BTreeSet<_>>().len(), 5, "one id per statement: {sids:?}");
}

#[test]
fn statements_written_by_older_versions_are_replaced() {
    // One write statement without a per-trail id, pinned to some trail: what an older
    // version left behind.
    let legacy = |sid: &str, action: &str, resource: &str| {
        json!({"Sid": sid, "Effect": "Allow", "Principal": {"Service": CLOUDTRAIL}, "Action": action, "Resource": resource,
            "Condition": {"StringEquals": {"aws:SourceArn": "arn:aws:cloudtrail:us-east-1:111122223333:trail/gone"}}})
    };
    let foreign = json!({"Sid": "Readers", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/audit"},
        "Action": "s3:GetObject", "Resource": "arn:aws:s3:::logs/*"});
    let f = facts(Some(with_statements(json!([
        legacy(document::BUCKET_ACL_SID, "s3:GetBucketAcl", "arn:aws:s3:::logs"),
        foreign.clone(),
        legacy(document::BUCKET_WRITE_SID, "s3:PutObject", "arn:aws:s3:::logs/audit/AWSLogs/111122223333/*"),
    ]))));
    let fixed = policy_fix(&f, trail()).unwrap().applied_to(f);
    let statements = statements_of(&fixed);
    assert_eq!(statements.len(), 3, "{statements:#?}");
    assert_eq!(statements[0], foreign);
    assert!(statements.iter().all(|s| s["Sid"] != document::BUCKET_ACL_SID && s["Sid"] != document::BUCKET_WRITE_SID));
    assert_eq!(status(&checks_of(&fixed), "BKT-CLOUDTRAIL-POLICY").0, CheckStatus::Pass);
}
