//! deploy/iam-policy.json grants exactly what trailwarden calls, and every write in it is
//! scoped.
//!
//! The end-to-end suite records every AWS operation its controllers performed (through
//! the port's interceptor) under `$TRAILWARDEN_BED_DIR/aws-calls/`; the exactness test runs
//! after it (`make test` runs it explicitly: it is not part of the default `cargo test`
//! set, because it judges the suite's record) and compares that record with the policy.
//!
//! The emulator enforces no IAM at all, so the policy's conditions (tags, resources) are
//! checked here, by the policy's structure only: see
//! `every_write_in_the_policy_is_scoped_to_trailwardens_resources`.

use std::collections::BTreeSet;

use serde_json::Value;
use trailwarden_core::policy::{OWNER_TAG, OWNER_UID_TAG};

/// Permissions AWS checks on our behalf during another call, so the call log cannot
/// show them: (granted action, the recorded operations that need it).
const DEPENDENT: &[(&str, &[&str])] = &[
    // CreateTrail / UpdateTrail hand the CloudWatch Logs role to CloudTrail.
    ("iam:PassRole", &["cloudtrail:CreateTrail", "cloudtrail:UpdateTrail"]),
    // S3 decrypts a log file CloudTrail encrypted with the trail's key for the reader.
    ("kms:Decrypt", &["s3:GetObject"]),
    // CreatePolicy with tags (a set's SCP is created tagged as the set's).
    ("organizations:TagResource", &["organizations:CreatePolicy"]),
];

/// Operations AWS lets anyone call: no permission to grant.
const NO_PERMISSION_NEEDED: &[&str] = &["sts:GetCallerIdentity"];

/// Statements (by Sid) of permissions CloudTrail checks on the caller only when it creates
/// or updates an organization trail (`IsOrganizationTrail`): it reads the organization and
/// its trusted-access list and makes sure its service-linked role exists ("Prepare for
/// creating a trail for your organization" in the CloudTrail User Guide). The controller
/// calls only DescribeOrganization itself (to learn the management account, which owns
/// an organization trail whoever manages it), and the emulator checks the rest on nobody,
/// so no call record can show them; they are exempt from "granted but never called", and
/// held to exactly this list.
const ORGANIZATION_TRAILS_ONLY: &[(&str, &[&str])] = &[
    (
        "OrganizationTrailsOnlyReadTheOrganization",
        &[
            "organizations:DescribeOrganization",
            "organizations:ListAWSServiceAccessForOrganization",
            "organizations:ListAccounts",
        ],
    ),
    ("OrganizationTrailsOnlyCloudTrailServiceLinkedRole", &["iam:CreateServiceLinkedRole", "iam:GetRole"]),
];

fn iam_action(recorded: &str) -> String {
    let (service, operation) = recorded.split_once(':').expect("Service:Operation");
    // Where the IAM action is not named like the API operation.
    let operation = match (service, operation) {
        ("S3", "GetPublicAccessBlock") => "GetBucketPublicAccessBlock",
        ("S3", "PutPublicAccessBlock") => "PutBucketPublicAccessBlock",
        ("S3", "ListObjectsV2") => "ListBucket",
        ("S3", "GetBucketLifecycleConfiguration") => "GetLifecycleConfiguration",
        ("S3", "GetBucketEncryption") => "GetEncryptionConfiguration",
        ("S3", "GetObjectLockConfiguration") => "GetBucketObjectLockConfiguration",
        ("S3", "PutObjectLockConfiguration") => "PutBucketObjectLockConfiguration",
        ("S3", "PutBucketLifecycleConfiguration" | "DeleteBucketLifecycle") => "PutLifecycleConfiguration",
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
        "Organizations" => "organizations",
        other => panic!("unexpected service {other} in the call record"),
    };
    format!("{prefix}:{operation}")
}

fn policy() -> Value {
    serde_json::from_str(include_str!("../deploy/iam-policy.json")).expect("deploy/iam-policy.json is JSON")
}

/// A string or a list of strings (Action, Resource).
fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(list) => list.iter().map(|a| a.as_str().expect("a string").to_owned()).collect(),
        other => panic!("expected a string or a list of strings, got {other}"),
    }
}

fn statements() -> Vec<Value> {
    let policy = policy();
    let statements = policy["Statement"].as_array().expect("Statement list").clone();
    for statement in &statements {
        assert_eq!(statement["Effect"], "Allow", "{statement}");
        assert!(statement["Sid"].is_string(), "every statement has a Sid: {statement}");
    }
    statements
}

fn granted() -> BTreeSet<String> {
    statements().iter().flat_map(|statement| strings(&statement["Action"])).collect()
}

/// Actions of the organization-only statements, checked to be exactly those listed.
fn organization_only() -> BTreeSet<String> {
    let statements = statements();
    let mut actions = BTreeSet::new();
    for (sid, listed) in ORGANIZATION_TRAILS_ONLY {
        let statement = statements.iter().find(|s| s["Sid"] == *sid).unwrap_or_else(|| panic!("no statement {sid}"));
        let have: BTreeSet<String> = strings(&statement["Action"]).into_iter().collect();
        let want: BTreeSet<String> = listed.iter().map(|a| (*a).to_owned()).collect();
        assert_eq!(have, want, "statement {sid} grants other actions than the organization trail needs");
        actions.extend(want);
    }
    for statement in statements.iter().filter(|s| !ORGANIZATION_TRAILS_ONLY.iter().any(|(sid, _)| s["Sid"] == *sid)) {
        for action in strings(&statement["Action"]) {
            assert!(!actions.contains(&action), "{action} is organization-only but also granted by {}", statement["Sid"]);
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
    let organization_only = organization_only();
    let missing: Vec<_> = performed.difference(&granted).filter(|a| !NO_PERMISSION_NEEDED.contains(&a.as_str())).collect();
    assert!(missing.is_empty(), "called but not granted by deploy/iam-policy.json: {missing:?}");

    let unused: Vec<_> = granted
        .iter()
        .filter(|action| !performed.contains(*action))
        .filter(|action| !organization_only.contains(*action))
        .filter(|action| {
            !DEPENDENT.iter().any(|(dependent, needed_by)| dependent == action && needed_by.iter().any(|n| performed.contains(*n)))
        })
        .collect();
    assert!(unused.is_empty(), "granted but never called: {unused:?}");
    println!(
        "IAM policy: {} actions granted ({} for organization trails only), {} performed by the suite",
        granted.len(),
        organization_only.len(),
        performed.len()
    );
}

/// CloudTrail reads that name no resource (DescribeTrails) or that must see every trail,
/// tagged or not, to judge ownership, adoption and shadow trails.
const TRAIL_READS: &[&str] = &[
    "cloudtrail:DescribeTrails",
    "cloudtrail:ListPublicKeys",
    "cloudtrail:GetEventSelectors",
    "cloudtrail:GetInsightSelectors",
    "cloudtrail:GetTrailStatus",
    "cloudtrail:ListTags",
];

/// Actions AWS authorises on no resource at all: the only ones allowed on `"Resource": "*"`.
const NOT_RESOURCE_SCOPED: &[&str] = &[
    "cloudtrail:DescribeTrails",
    "organizations:ListRoots",
    "organizations:ListDelegatedAdministrators",
    "cloudtrail:ListPublicKeys",
    "organizations:DescribeOrganization",
    "organizations:ListAWSServiceAccessForOrganization",
    "organizations:ListAccounts",
    "organizations:ListPolicies",
];

/// The `Null` conditions of a statement that demand a tag: (key, "false").
fn required_tags(statement: &Value) -> BTreeSet<String> {
    let Some(null) = statement["Condition"].get("Null").and_then(Value::as_object) else {
        return BTreeSet::new();
    };
    null.iter().filter(|(_, v)| *v == "false").map(|(k, _)| k.clone()).collect()
}

/// Moto enforces no IAM, so nothing at run time shows a condition working: this judges the
/// policy's structure. Every trail write needs our tag on the trail (or, to create or tag
/// one, in the request), the bucket and key writes reach buckets and keys only, and no
/// statement is on `*` unless AWS offers nothing narrower.
#[test]
fn every_write_in_the_policy_is_scoped_to_trailwardens_resources() {
    let resource_tag = format!("aws:ResourceTag/{OWNER_UID_TAG}");
    let request_tags = BTreeSet::from([format!("aws:RequestTag/{OWNER_TAG}"), format!("aws:RequestTag/{OWNER_UID_TAG}")]);
    let mut trail_writes = BTreeSet::new();
    for statement in statements() {
        let sid = statement["Sid"].as_str().unwrap();
        let actions = strings(&statement["Action"]);
        let resources = strings(&statement["Resource"]);
        let tags = required_tags(&statement);

        if resources.iter().any(|r| r == "*") {
            let unscoped: Vec<_> = actions.iter().filter(|a| !NOT_RESOURCE_SCOPED.contains(&a.as_str())).collect();
            assert!(unscoped.is_empty(), "{sid}: {unscoped:?} on Resource \"*\", but AWS scopes them to a resource");
        }
        for action in &actions {
            let (service, name) = action.split_once(':').unwrap();
            match service {
                "cloudtrail" if TRAIL_READS.contains(&action.as_str()) => {}
                "cloudtrail" => {
                    trail_writes.insert(action.clone());
                    assert!(
                        resources.iter().all(|r| r.starts_with("arn:aws:cloudtrail:") && r.contains(":trail/")),
                        "{sid}: {action} reaches more than trails: {resources:?}"
                    );
                    let by_resource = tags.contains(&resource_tag);
                    let by_request = request_tags.is_subset(&tags);
                    let allowed = match name {
                        // No trail yet: the request must tag it as a policy's.
                        "CreateTrail" => by_request,
                        // Adoption tags an untagged trail (the request carries our tags);
                        // tag drift is restored on a trail already ours.
                        "AddTags" => by_request || by_resource,
                        _ => by_resource,
                    };
                    assert!(allowed, "{sid}: {action} is not conditioned on our tag ({tags:?})");
                }
                "s3" if name.starts_with("Get") => {}
                "s3" => assert!(
                    resources.iter().all(|r| r.starts_with("arn:aws:s3:::") && !r.contains('/')),
                    "{sid}: {action} reaches more than buckets (objects, access points): {resources:?}"
                ),
                "kms" => assert!(
                    resources.iter().all(|r| r.starts_with("arn:aws:kms:") && r.contains(":key/")),
                    "{sid}: {action} reaches more than keys: {resources:?}"
                ),
                "iam" if name == "PassRole" => assert_eq!(
                    statement["Condition"]["StringEquals"]["iam:PassedToService"], "cloudtrail.amazonaws.com",
                    "{sid}: roles may be passed to CloudTrail only"
                ),
                "iam" => assert!(
                    resources.iter().all(|r| r.ends_with(":role/aws-service-role/cloudtrail.amazonaws.com/AWSServiceRoleForCloudTrail")),
                    "{sid}: {action} reaches more than CloudTrail's service-linked role: {resources:?}"
                ),
                "sts" => assert!(
                    resources.iter().all(|r| r.starts_with("arn:aws:iam::") && r.contains(":role/trailwarden")),
                    "{sid}: {action} may assume more than the trailwarden roles: {resources:?}"
                ),
                "sns" | "sqs" | "organizations" => {}
                other => panic!("{sid}: unexpected service {other}"),
            }
        }
    }
    // The trail writes the controller makes are all there (the exactness test checks the
    // rest against the call record).
    for write in ["cloudtrail:CreateTrail", "cloudtrail:UpdateTrail", "cloudtrail:DeleteTrail", "cloudtrail:StopLogging"] {
        assert!(trail_writes.contains(write), "{write} missing");
    }
}
