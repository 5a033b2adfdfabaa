//! deploy/iam-policy.json grants exactly what trailwarden calls.
//!
//! The end-to-end suite records every AWS operation its controllers performed (through
//! the port's interceptor) under `$TRAILWARDEN_BED_DIR/aws-calls/`; this test runs after
//! it (`make test` runs it explicitly: it is not part of the default `cargo test` set,
//! because it judges the suite's record) and compares that record with the policy.

use std::collections::BTreeSet;

/// Permissions AWS checks on our behalf during another call, so the call log cannot
/// show them: (granted action, the recorded operations that need it).
const DEPENDENT: &[(&str, &[&str])] = &[
    // CreateTrail / UpdateTrail hand the CloudWatch Logs role to CloudTrail.
    ("iam:PassRole", &["cloudtrail:CreateTrail", "cloudtrail:UpdateTrail"]),
];

/// Operations AWS lets anyone call: no permission to grant.
const NO_PERMISSION_NEEDED: &[&str] = &["sts:GetCallerIdentity"];

fn iam_action(recorded: &str) -> String {
    let (service, operation) = recorded.split_once(':').expect("Service:Operation");
    // Where the IAM action is not named like the API operation.
    let operation = match (service, operation) {
        ("S3", "GetPublicAccessBlock") => "GetBucketPublicAccessBlock",
        ("S3", "PutPublicAccessBlock") => "PutBucketPublicAccessBlock",
        ("SQS", "DeleteMessageBatch") => "DeleteMessage",
        (_, op) => op,
    };
    let prefix = match service {
        "CloudTrail" => "cloudtrail",
        "KMS" => "kms",
        "STS" => "sts",
        "S3" => "s3",
        "SNS" => "sns",
        "SQS" => "sqs",
        other => panic!("unexpected service {other} in the call record"),
    };
    format!("{prefix}:{operation}")
}

fn granted() -> BTreeSet<String> {
    let policy: serde_json::Value =
        serde_json::from_str(include_str!("../deploy/iam-policy.json")).expect("deploy/iam-policy.json is JSON");
    let mut actions = BTreeSet::new();
    for statement in policy["Statement"].as_array().expect("Statement list") {
        assert_eq!(statement["Effect"], "Allow");
        match &statement["Action"] {
            serde_json::Value::String(a) => {
                actions.insert(a.clone());
            }
            serde_json::Value::Array(list) => actions.extend(list.iter().map(|a| a.as_str().unwrap().to_owned())),
            other => panic!("unexpected Action {other}"),
        }
    }
    actions
}

#[test]
fn the_iam_policy_grants_exactly_the_actions_the_suite_performed() {
    let dir = std::env::var("TRAILWARDEN_BED_DIR")
        .map(|d| std::path::PathBuf::from(d).join("aws-calls"))
        .expect("TRAILWARDEN_BED_DIR is not set: run this after the end-to-end suite, as `make test` does");
    let mut performed = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}: run the end-to-end suite first", dir.display())) {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        performed.extend(text.lines().filter(|l| !l.is_empty()).map(iam_action));
    }
    assert!(performed.len() > 10, "too few operations recorded to judge: {performed:?}");

    let granted = granted();
    let missing: Vec<_> = performed.difference(&granted).filter(|a| !NO_PERMISSION_NEEDED.contains(&a.as_str())).collect();
    assert!(missing.is_empty(), "called but not granted by deploy/iam-policy.json: {missing:?}");

    let unused: Vec<_> = granted
        .iter()
        .filter(|action| !performed.contains(*action))
        .filter(|action| {
            !DEPENDENT.iter().any(|(dependent, needed_by)| dependent == action && needed_by.iter().any(|n| performed.contains(*n)))
        })
        .collect();
    assert!(unused.is_empty(), "granted but never called: {unused:?}");
    println!("IAM policy: {} actions granted, {} performed by the suite", granted.len(), performed.len());
}
