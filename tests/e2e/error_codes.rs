//! The adapter's error table against the AWS service models: every error a model declares
//! for an operation trailwarden calls has its own row (a kind the pass decides on and a
//! condition reason that says what to fix), and no row names a code its service's model
//! does not know, except the rows for S3 (whose model declares almost no errors: those
//! rows follow the S3 API reference) and the codes any service may answer.

use std::collections::BTreeSet;
use std::path::PathBuf;

use trailwarden::aws::{ANY_SERVICE, ERROR_CODES, ErrorKind, classify_error};

/// The operations the adapter calls, by service as errors name it, with the model's
/// directory name.
const CALLED: &[(&str, &str, &[&str])] = &[
    ("CloudTrail", "cloudtrail", &[
        "DescribeTrails", "GetTrailStatus", "GetEventSelectors", "GetInsightSelectors", "ListTags", "CreateTrail",
        "UpdateTrail", "StartLogging", "StopLogging", "PutEventSelectors", "PutInsightSelectors", "AddTags",
        "RemoveTags", "DeleteTrail",
    ]),
    ("S3", "s3", &[
        "GetBucketLocation", "GetPublicAccessBlock", "GetBucketPolicy", "GetBucketVersioning", "GetBucketLogging",
        "GetBucketOwnershipControls", "GetBucketAcl", "PutPublicAccessBlock", "PutBucketVersioning", "PutBucketPolicy",
        "PutBucketOwnershipControls",
    ]),
    ("KMS", "kms", &["DescribeKey", "GetKeyRotationStatus", "GetKeyPolicy", "PutKeyPolicy", "EnableKeyRotation"]),
    ("STS", "sts", &["GetCallerIdentity", "AssumeRole"]),
    ("SNS", "sns", &["Publish"]),
    ("SQS", "sqs", &["ReceiveMessage", "DeleteMessageBatch", "DeleteMessage"]),
    ("Organizations", "organizations", &[
        "DescribeOrganization", "ListRoots", "ListOrganizationalUnitsForParent", "ListAccountsForParent",
        "ListAWSServiceAccessForOrganization", "ListDelegatedAdministrators", "ListPolicies", "DescribePolicy",
        "ListTagsForResource", "TagResource", "ListTargetsForPolicy", "CreatePolicy", "UpdatePolicy", "AttachPolicy",
        "DetachPolicy",
    ]),
];

fn model(dir: &str) -> serde_json::Value {
    let data = std::env::var("TRAILWARDEN_BOTOCORE_DATA")
        .unwrap_or_else(|_| panic!("TRAILWARDEN_BOTOCORE_DATA is not set: run `make test`, or `hack/bed/up.sh` and `source .bed/env`"));
    let service = PathBuf::from(data).join(dir);
    let version = std::fs::read_dir(&service)
        .unwrap_or_else(|e| panic!("{}: {e}", service.display()))
        .filter_map(|v| v.ok().map(|v| v.path()))
        .filter(|v| v.join("service-2.json.gz").exists() || v.join("service-2.json").exists())
        .max()
        .unwrap_or_else(|| panic!("no service-2.json under {}", service.display()));
    let plain = version.join("service-2.json");
    let text = if plain.exists() {
        std::fs::read_to_string(plain).unwrap()
    } else {
        // botocore ships its models gzipped.
        let out = std::process::Command::new("gzip").arg("-dc").arg(version.join("service-2.json.gz")).output().expect("gzip runs");
        String::from_utf8(out.stdout).expect("the model is UTF-8")
    };
    serde_json::from_str(&text).unwrap()
}

/// The error codes the model declares for `operations`: a shape's `error.code` where it
/// names one (query-protocol services), else the shape's name.
fn declared(model: &serde_json::Value, operations: &[&str]) -> BTreeSet<String> {
    let mut codes = BTreeSet::new();
    for operation in operations {
        let op = &model["operations"][operation];
        assert!(op.is_object(), "the model has no operation {operation}");
        for error in op["errors"].as_array().into_iter().flatten() {
            let shape = error["shape"].as_str().unwrap();
            let code = model["shapes"][shape]["error"]["code"].as_str().unwrap_or(shape);
            codes.insert(code.to_owned());
        }
    }
    codes
}

#[test]
fn every_error_a_model_declares_for_our_calls_has_its_row() {
    let mut missing = vec![];
    for (service, dir, operations) in CALLED {
        for code in declared(&model(dir), operations) {
            let row = ERROR_CODES.iter().any(|(s, c, _)| (s == service || *s == ANY_SERVICE) && *c == code);
            if !row {
                missing.push(format!("{service} {code}"));
            }
            assert_ne!(classify_error(service, &code), ErrorKind::Other, "{service} {code} falls through to Other");
        }
    }
    assert!(missing.is_empty(), "error codes the models declare for calls we make, without a row: {missing:?}");
}

#[test]
fn every_row_names_a_code_its_model_declares() {
    let mut unknown = vec![];
    for (service, dir, _) in CALLED {
        if *service == "S3" {
            continue;
        }
        let model = model(dir);
        let every: BTreeSet<String> = model["shapes"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(_, shape)| shape["exception"].as_bool() == Some(true))
            .map(|(name, shape)| shape["error"]["code"].as_str().unwrap_or(name).to_owned())
            .collect();
        for (s, code, _) in ERROR_CODES.iter().filter(|(s, _, _)| s == service) {
            // SQS also answers with its legacy query-protocol names.
            if !every.contains(*code) && !code.starts_with("AWS.SimpleQueueService.") {
                unknown.push(format!("{s} {code}"));
            }
        }
    }
    assert!(unknown.is_empty(), "rows naming codes their service's model does not know: {unknown:?}");
}

#[test]
fn no_code_has_two_rows_for_one_service() {
    let mut seen = BTreeSet::new();
    for (service, code, _) in ERROR_CODES {
        assert!(seen.insert((service, code)), "{service} {code} has two rows");
    }
}
