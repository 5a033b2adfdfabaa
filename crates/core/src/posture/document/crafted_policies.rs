//! Whole policies crafted to mislead or to stall the checks: judged quickly, and on
//! the safe side.

use std::time::Instant;

use serde_json::json;

use super::*;
use super::tests::{bucket_facts, key_facts, status, trail};
use crate::posture::bucket::{self, BucketPosture};
use crate::posture::key::{self, KmsPosture};
use crate::posture::CheckStatus;

const TRAIL: &str = "arn:aws:cloudtrail:us-east-1:111122223333:trail/audit";

// --- IAM semantics -----------------------------------------------------------------------

/// Statements for CloudTrail whose every pattern is a long run of `*?` pairs ending in a
/// character no real action, ARN or condition value holds: worst cases for a backtracking
/// matcher, none of which grants anything. Some patterns sit just under the length cap,
/// some just over it.
fn crafted_policy(target_bytes: usize) -> serde_json::Value {
    let pairs = |n: usize| format!("{}#", "*?".repeat(n));
    let mut statements = vec![];
    let mut i = 0;
    while json!({"Statement": statements}).to_string().len() < target_bytes {
        let n = [30, 60, 200, 500, MAX_MATCH_BYTES / 2 - 1, 120, MAX_MATCH_BYTES / 2 + 1][i % 7];
        statements.push(json!({
            "Sid": format!("Crafted{i}"),
            "Effect": "Allow",
            "Principal": {"Service": CLOUDTRAIL},
            "Action": [pairs(n), "s3:GetBucketAcl", "s3:PutObject", "kms:GenerateDataKey*", "kms:DescribeKey"],
            "Resource": pairs(n),
            "Condition": {
                "StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"},
                "ArnLike": {"aws:SourceArn": pairs(n), "kms:EncryptionContext:aws:cloudtrail:arn": pairs(n)},
            },
        }));
        // And the tricks: a NotAction grant whose exclusion cannot be evaluated, a public
        // NotPrincipal, a Deny whose action is over the cap (it may apply).
        statements.push(match i % 3 {
            0 => json!({"Effect": "Allow", "Principal": {"Service": CLOUDTRAIL}, "NotAction": pairs(MAX_MATCH_BYTES), "Resource": "*",
                "Condition": {"ArnLike": {"aws:SourceArn": TRAIL}}}),
            1 => json!({"Effect": "Allow", "NotPrincipal": {"AWS": pairs(n)}, "Action": pairs(n), "Resource": pairs(n)}),
            _ => json!({"Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::111122223333:role/x"}, "Action": pairs(n), "Resource": pairs(n)}),
        });
        i += 1;
    }
    json!({"Version": "2012-10-17", "Statement": statements})
}

#[test]
fn a_crafted_20_kb_policy_is_judged_quickly_and_conservatively() {
    let policy = crafted_policy(20 * 1024);
    let text = policy.to_string();
    let statements = policy["Statement"].as_array().unwrap().len();
    assert!(text.len() >= 20 * 1024 && text.len() <= MAX_DOCUMENT_BYTES, "{}", text.len());
    let started = Instant::now();

    // Bucket: public (the NotPrincipal statement), the CloudTrail grant missing, and the
    // fix adds our statements, keeps the crafted ones, and then passes.
    let facts = bucket_facts(Some(text.clone()));
    let checks = bucket::checks(&facts, trail(), &BucketPosture::default());
    assert_eq!(status(&checks, "BKT-NOT-PUBLIC"), CheckStatus::Fail);
    assert_eq!(status(&checks, "BKT-CLOUDTRAIL-POLICY"), CheckStatus::Fail, "{checks:#?}");
    let managed = BucketPosture { manage: true, ..Default::default() };
    let fixes = bucket::fixes(&facts, trail(), &managed);
    let Some(fix @ bucket::BucketFix::PutBucketPolicy { after: repaired, .. }) = fixes.iter().find(|f| f.name() == "PutBucketPolicy") else {
        panic!("{fixes:?}")
    };
    let fixed = fix.applied_to(facts.clone());
    assert_eq!(status(&bucket::checks(&fixed, trail(), &managed), "BKT-CLOUDTRAIL-POLICY"), CheckStatus::Pass);
    assert!(bucket::fixes(&fixed, trail(), &managed).iter().all(|f| f.name() != "PutBucketPolicy"), "no write loop");
    let kept: serde_json::Value = serde_json::from_str(repaired).unwrap();
    assert_eq!(kept["Statement"].as_array().unwrap().len(), statements + 2, "crafted statements kept");

    // Key: the grant is missing; the fix repairs it.
    let facts = key_facts(text.clone());
    let checks = key::checks(&facts, trail(), Some("us-east-1"), &KmsPosture::default());
    assert_eq!(status(&checks, "KMS-KEY-CLOUDTRAIL-POLICY"), CheckStatus::Fail, "{checks:#?}");
    let managed = KmsPosture { manage: true, ..Default::default() };
    let fixes = key::fixes(&facts, trail(), &managed);
    let [fix @ key::KeyFix::PutKeyPolicy { .. }] = fixes.as_slice() else { panic!("{fixes:?}") };
    let fixed = fix.applied_to(facts);
    assert_eq!(status(&key::checks(&fixed, trail(), None, &managed), "KMS-KEY-CLOUDTRAIL-POLICY"), CheckStatus::Pass);
    assert!(key::fixes(&fixed, trail(), &managed).is_empty());
    println!("crafted policy: {} bytes, {statements} statements, bucket and key checks and fixes in {:?}", text.len(), started.elapsed());
}

#[test]
fn a_deny_of_the_trails_delivery_fails_the_grant_and_goes_under_manage_while_a_key_deny_stays() {
    let deny = json!({"Sid": "NoCloudTrail", "Effect": "Deny", "Principal": {"Service": CLOUDTRAIL}, "Action": "s3:PutObject", "Resource": "*"});
    let mut statements = bucket_statements("logs", trail());
    statements.push(deny);
    let facts = bucket_facts(Some(json!({"Statement": statements}).to_string()));
    let checks = bucket::checks(&facts, trail(), &BucketPosture::default());
    let c = checks.iter().find(|c| c.id == "BKT-CLOUDTRAIL-POLICY").unwrap();
    assert_eq!(c.status, CheckStatus::Fail);
    assert!(c.message.contains("denied to cloudtrail.amazonaws.com by statement NoCloudTrail"), "{}", c.message);
    // Under manage the bucket is kept fit for the trail: the Deny goes, named, and every
    // other statement stays.
    let managed = BucketPosture { manage: true, ..Default::default() };
    let fixes = bucket::fixes(&facts, trail(), &managed);
    let Some(fix @ bucket::BucketFix::PutBucketPolicy { after, removed, .. }) = fixes.iter().find(|f| f.name() == "PutBucketPolicy") else {
        panic!("{fixes:?}")
    };
    assert_eq!(removed, &["NoCloudTrail"]);
    assert!(fix.describe().is_some_and(|d| d.contains("NoCloudTrail")));
    assert!(!after.contains("NoCloudTrail"), "{after}");
    let fixed = fix.applied_to(facts);
    let c = bucket::checks(&fixed, trail(), &BucketPosture::default()).into_iter().find(|c| c.id == "BKT-CLOUDTRAIL-POLICY").unwrap();
    assert_eq!(c.status, CheckStatus::Pass, "{}", c.message);
    // A Deny with a condition is not judged to apply to CloudTrail, and so never removed.
    let conditional = json!({"Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}});
    let mut statements = bucket_statements("logs", trail());
    statements.push(conditional);
    let facts = bucket_facts(Some(json!({"Statement": statements}).to_string()));
    assert!(bucket::fixes(&facts, trail(), &managed).iter().all(|f| f.name() != "PutBucketPolicy"), "nothing to fix");

    let mut policy = json!({"Statement": key_statements("111122223333", TRAIL)});
    policy["Statement"].as_array_mut().unwrap().push(json!({"Sid": "NoDescribe", "Effect": "Deny", "Principal": "*", "Action": "kms:Describe*", "Resource": "*"}));
    let facts = key_facts(policy.to_string());
    let checks = key::checks(&facts, trail(), None, &KmsPosture::default());
    let c = checks.iter().find(|c| c.id == "KMS-KEY-CLOUDTRAIL-POLICY").unwrap();
    assert_eq!(c.status, CheckStatus::Fail);
    assert!(c.message.contains("kms:DescribeKey is denied"), "{}", c.message);
    assert!(key::fixes(&facts, trail(), &KmsPosture { manage: true, ..Default::default() }).is_empty());
}

#[test]
fn an_oversized_policy_is_unknown_and_never_rewritten() {
    let text = crafted_policy(MAX_DOCUMENT_BYTES + 1).to_string();
    let facts = bucket_facts(Some(text.clone()));
    let managed = BucketPosture { manage: true, ..Default::default() };
    let checks = bucket::checks(&facts, trail(), &managed);
    assert_eq!(status(&checks, "BKT-NOT-PUBLIC"), CheckStatus::Unknown);
    assert_eq!(status(&checks, "BKT-CLOUDTRAIL-POLICY"), CheckStatus::Unknown);
    assert!(bucket::fixes(&facts, trail(), &managed).iter().all(|f| f.name() != "PutBucketPolicy"));
    let facts = key_facts(text);
    assert_eq!(status(&key::checks(&facts, trail(), None, &KmsPosture::default()), "KMS-KEY-CLOUDTRAIL-POLICY"), CheckStatus::Unknown);
    assert!(key::fixes(&facts, trail(), &KmsPosture { manage: true, ..Default::default() }).is_empty());
}

// --- Writing our statements ---------------------------------------------------------------

#[test]
fn repair_replaces_only_our_statements_and_keeps_the_rest_verbatim() {
    let original = json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:root"}, "Action": "kms:*", "Resource": "*"},
            {"Sid": KEY_DESCRIBE_SID, "Effect": "Deny", "Principal": "*", "Action": "kms:DescribeKey", "Resource": "*"},
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:role/ops"}, "Action": ["kms:Decrypt"], "Resource": "*",
             "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}},
        ]
    });
    let doc = Document::parse(&original.to_string()).unwrap();
    let repaired = doc.with_our_statements(key_statements("1", "arn:aws:cloudtrail:us-east-1:1:trail/t"));
    let list = repaired.value()["Statement"].as_array().unwrap();
    assert_eq!(list.len(), 4);
    assert_eq!(list[0], original["Statement"][0], "root statement untouched");
    assert_eq!(list[1], original["Statement"][2], "foreign statement untouched, in order");
    assert_eq!(list[3]["Sid"], KEY_DESCRIBE_SID);
    assert_eq!(list[3]["Effect"], "Allow", "our broken statement replaced");
}

#[test]
fn statement_ids_are_per_trail_stable_and_alphanumeric() {
    // Written into AWS and read back by later versions: the suffix must never change.
    assert_eq!(trail_suffix(TRAIL), "1def6306ca3d172a");
    assert_eq!(trail_sid(BUCKET_WRITE_SID, TRAIL), "TrailwardenCloudTrailWrite1def6306ca3d172a");
    let other = trail_sid(BUCKET_WRITE_SID, "arn:aws:cloudtrail:us-east-1:111122223333:trail/audit2");
    assert_ne!(other, trail_sid(BUCKET_WRITE_SID, TRAIL));
    assert!(other.chars().all(|c| c.is_ascii_alphanumeric()), "{other}");
    let sids: Vec<_> = key_statements("1", TRAIL).iter().map(|s| s["Sid"].clone()).collect();
    assert_eq!(sids, [json!(trail_sid(KEY_ENCRYPT_SID, TRAIL)), json!(KEY_DESCRIBE_SID)], "DescribeKey is shared");
}

#[test]
fn a_single_statement_object_is_read_as_a_list() {
    let doc = Document::parse(r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}}"#).unwrap();
    assert_eq!(doc.statements().len(), 1);
    assert!(doc.statements()[0].anyone());
}

#[test]
fn log_path_handles_prefix_slashes() {
    assert_eq!(log_path(Some("/audit/"), "1"), "audit/AWSLogs/1/");
    assert_eq!(log_path(Some(""), "1"), "AWSLogs/1/");
    assert_eq!(log_path(None, "1"), "AWSLogs/1/");
}
