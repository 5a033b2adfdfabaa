//! `trailwarden check` as a CI gate, the real binary against the bed's emulator: several
//! `-f` (files, a directory, standard input), other kinds skipped and counted, a typo
//! refused by the CRD's schema, one policy's AWS error reported while the others are
//! judged, the exit codes of each `--fail-on`, and every output format read back (SARIF
//! validated against the SARIF 2.1.0 schema, JUnit parsed, by `hack/report-check.sh`).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use trailwarden::aws::AwsPort as _;
use trailwarden::aws::sdk::SdkAws;
use trailwarden_core::posture::bucket::BucketFix;
use trailwarden_core::posture::document::{Document, bucket_statements};
use trailwarden_core::Scope;

use crate::support::{self, own};

/// A trail that passes every required check of a policy with
/// `requireAccessLogging: false`: logging, with a hardened bucket that lets it write.
async fn compliant_trail(aws: &SdkAws, account: &str, scope: &Scope, trail: &str, bucket: &str) {
    let s3 = aws.s3(scope).await;
    s3.create_bucket().bucket(bucket).send().await.unwrap();
    support::open_to_cloudtrail(&s3, bucket, account).await;
    let arn = format!("arn:aws:cloudtrail:{}:{account}:trail/{trail}", support::REGION);
    aws.create_trail(scope, trail, &support::plain_settings(bucket), &Default::default()).await.unwrap();
    aws.start_logging(scope, &arn).await.unwrap();
    aws.fix_bucket(&own(scope), bucket, &BucketFix::BlockPublicAccess).await.unwrap();
    aws.fix_bucket(&own(scope), bucket, &BucketFix::EnableVersioning).await.unwrap();
    let trail_ref = trailwarden_core::posture::TrailRef { arn: &arn, account, prefix: None, organization: false, organization_id: None };
    let policy = Document::empty().with_our_statements(bucket_statements(bucket, trail_ref)).to_json();
    // In place of the account-wide grant the trail was created under: this trail's own.
    let before = s3.get_bucket_policy().bucket(bucket).send().await.unwrap().policy;
    aws.fix_bucket(&own(scope), bucket, &BucketFix::PutBucketPolicy { before, after: policy, removed: vec![] }).await.unwrap();
}

fn manifest(name: &str, account: &str, bucket: &str, extra: &str) -> String {
    format!(
        "apiVersion: trailwarden.dev/v1alpha1\nkind: TrailPolicy\nmetadata:\n  name: {name}\nspec:\n  region: {}\n  \
         account: {{roleArn: 'arn:aws:iam::{account}:role/trailwarden'}}\n  s3: {{bucketName: {bucket}}}\n  \
         posture: {{bucket: {{requireAccessLogging: false}}}}\n{extra}",
        support::REGION
    )
}

/// One run of the binary, through the fault proxy (transparent unless a rule is set).
fn check(args: &[&str], stdin: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_trailwarden"));
    command
        .arg("check")
        .args(args)
        .args(["--aws-endpoint-url", &std::env::var("TRAILWARDEN_FAULTY_AWS_ENDPOINT").unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("trailwarden check runs");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn show(out: &Output) -> String {
    format!("exit {:?}\n--- stdout\n{}--- stderr\n{}", out.status.code(), String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited")
}

/// `hack/report-check.sh`: the SARIF against the SARIF 2.1.0 schema, the JUnit parsed.
fn report_check(files: &[&Path]) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/hack/report-check.sh");
    let out = Command::new(script).args(files).output().expect("hack/report-check.sh runs");
    println!("{}", String::from_utf8_lossy(&out.stdout));
    assert!(out.status.success(), "{}", show(&out));
}

/// Sets a rule of the fault proxy; removed when dropped.
struct FaultRule(String);

impl FaultRule {
    fn set(name: &str, rule: &Value) -> FaultRule {
        let url = format!("{}/{name}", std::env::var("TRAILWARDEN_FAULT_CONTROL").unwrap());
        let out = Command::new("curl")
            .args(["-sSf", "-X", "PUT", "-H", "Content-Type: application/json", "--data-binary", &rule.to_string(), &url])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", show(&out));
        FaultRule(url)
    }
}

impl Drop for FaultRule {
    fn drop(&mut self) {
        let _ = Command::new("curl").args(["-sS", "-X", "DELETE", &self.0]).output();
    }
}

#[tokio::test]
async fn check_is_a_ci_gate() {
    let aws = support::aws().await;
    // Account A: a compliant trail, and a policy naming a trail that does not exist.
    let (account_a, scope_a) = support::fresh_account();
    let good = support::unique_name("gate-good");
    let bucket_a = support::unique_name("gate-logs");
    compliant_trail(&aws, &account_a, &scope_a, &good, &bucket_a).await;
    let fails = support::unique_name("gate-fails");
    // Account C: a compliant trail whose bucket S3 will not describe: its checks are
    // Unknown. (A deleted bucket is a fact, and fails BKT-EXISTS.)
    let (account_c, scope_c) = support::fresh_account();
    let unknown = support::unique_name("gate-unknown");
    let bucket_c = support::unique_name("gate-gone");
    compliant_trail(&aws, &account_c, &scope_c, &unknown, &bucket_c).await;
    let _unreadable = FaultRule::set(
        &support::unique_name("check-unreadable"),
        &serde_json::json!({"accounts": [account_c], "deny": {"S3/GetBucketLocation": true}, "ttl_seconds": 600}),
    );
    // Account D: its role cannot be assumed.
    let (account_d, _) = support::fresh_account();
    let denied = support::unique_name("gate-denied");
    let _rule = FaultRule::set(
        &support::unique_name("check-deny"),
        &serde_json::json!({"accounts": [account_d], "deny": {"AssumeRole": "not authorized to perform sts:AssumeRole"}, "ttl_seconds": 600}),
    );
    let typo = support::unique_name("gate-typo");

    let bed = PathBuf::from(std::env::var("TRAILWARDEN_BED_DIR").unwrap());
    let dir = bed.join(support::unique_name("check-input"));
    std::fs::create_dir_all(dir.join("nested")).unwrap();
    let mixed = format!(
        "# what kustomize build prints: several kinds in one stream\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: settings}}\n\
         data: {{a: b}}\n---\n{}---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: app}}\nspec: {{replicas: 1}}\n",
        manifest(&good, &account_a, &bucket_a, "")
    );
    let files = [
        ("1-mixed.yaml", mixed.clone()),
        ("2-typo.yml", manifest(&typo, &account_a, &bucket_a, "  logFileValidaton: true\n")),
        ("3-unknown.yaml", manifest(&unknown, &account_c, &bucket_c, "")),
        ("4-denied.yaml", manifest(&denied, &account_d, "any-bucket", "")),
        ("5-fails.yaml", manifest(&fails, &account_a, &bucket_a, "")),
        ("notes.txt", "not YAML, not read\n".to_owned()),
        ("nested/more.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n".to_owned()),
    ];
    for (name, text) in &files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let path = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    let all = dir.to_str().unwrap();

    // The directory: every policy judged or reported, other kinds skipped; JSON.
    let out = check(&["-f", all, "-o", "json"], None);
    assert_eq!(code(&out), 2, "a typo and an unjudged policy are errors: {}", show(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let entries = report.as_array().unwrap();
    let names: Vec<&str> = entries.iter().map(|e| e["policy"].as_str().unwrap()).collect();
    assert_eq!(names, [&good, &typo, &unknown, &denied, &fails], "{report:#}");
    assert_eq!((entries[0]["compliant"].clone(), entries[0]["document"].clone(), entries[0]["line"].clone()), (true.into(), 2.into(), 7.into()));
    assert!(entries[0]["file"].as_str().unwrap().ends_with("/1-mixed.yaml"));
    assert_eq!(entries[1]["error"]["kind"], "invalid");
    assert_eq!(entries[1]["error"]["problems"][0]["path"], "spec.logFileValidaton");
    assert!(entries[1]["error"]["problems"][0]["message"].as_str().unwrap().contains("did you mean \"logFileValidation\""));
    assert_eq!(entries[2]["compliant"], Value::Null);
    let unknown_required: Vec<&str> = entries[2]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] == "Unknown" && f["required"] == true)
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert!(!unknown_required.is_empty(), "{:#}", entries[2]);
    assert!(entries[2]["findings"].as_array().unwrap().iter().all(|f| f["status"] != "Fail" || f["required"] == false), "{:#}", entries[2]);
    assert_eq!(entries[3]["error"]["kind"], "judge");
    assert!(entries[3]["error"]["message"].as_str().unwrap().contains("AssumeRole") || entries[3]["error"]["message"].as_str().unwrap().contains("AccessDenied"), "{:#}", entries[3]);
    assert_eq!(entries[4]["compliant"], false);
    assert!(entries[4]["findings"].as_array().unwrap().iter().any(|f| f["id"] == "CT-EXISTS" && f["status"] == "Fail"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("[4/4]"), "progress for more than a few policies: {stderr}");
    assert!(
        stderr.contains("3 policies judged: 1 compliant, 1 not compliant, 1 unknown; 2 errors; 2 documents skipped (1 ConfigMap, 1 Deployment)"),
        "{stderr}"
    );
    // Recursive: the nested directory too.
    let out = check(&["-f", all, "-R", "-o", "json"], None);
    assert!(String::from_utf8_lossy(&out.stderr).contains("3 documents skipped (1 ConfigMap, 1 Deployment, 1 Secret)"), "{}", show(&out));

    // SARIF, validated against the SARIF 2.1.0 schema, and read back.
    let out = check(&["-f", all, "-o", "sarif"], None);
    assert_eq!(code(&out), 2, "{}", show(&out));
    let sarif_file = bed.join(format!("{}.sarif", support::unique_name("check")));
    std::fs::write(&sarif_file, &out.stdout).unwrap();
    let sarif: Value = serde_json::from_slice(&out.stdout).unwrap();
    let run = &sarif["runs"][0];
    assert_eq!((sarif["version"].as_str(), run["tool"]["driver"]["name"].as_str()), (Some("2.1.0"), Some("trailwarden")));
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let logging = rules.iter().find(|r| r["id"] == "CT-LOGGING").expect("a rule per check id");
    assert!(logging["properties"]["controls"].as_array().unwrap().iter().any(|c| c == "CIS 3.1"), "{logging:#}");
    let results = run["results"].as_array().unwrap();
    let exists = results.iter().find(|r| r["ruleId"] == "CT-EXISTS").unwrap();
    assert_eq!(exists["level"], "error");
    let location = &exists["locations"][0];
    assert!(location["physicalLocation"]["artifactLocation"]["uri"].as_str().unwrap().ends_with("/5-fails.yaml"), "{location:#}");
    assert_eq!(location["physicalLocation"]["region"]["startLine"], 1);
    assert_eq!(location["logicalLocations"][0]["name"], fails.as_str());
    assert_eq!(
        location["logicalLocations"][1]["fullyQualifiedName"],
        format!("arn:aws:cloudtrail:{}:{account_a}:trail/{fails}", support::REGION)
    );
    assert!(results.iter().any(|r| r["level"] == "note" && r["properties"]["policy"] == unknown.as_str()), "an Unknown is a note");
    assert!(results.iter().any(|r| r["level"] == "warning" && r["ruleId"] == "BKT-MFA-DELETE"), "a non-required Fail is a warning");
    assert!(
        !results.iter().any(|r| r["properties"]["policy"] == good.as_str() && r["level"] != "warning"),
        "nothing required fails for the compliant policy"
    );
    let invalid = results.iter().find(|r| r["ruleId"] == "TW-INVALID").unwrap();
    assert_eq!(invalid["locations"][0]["physicalLocation"]["region"]["startLine"], 1);
    assert!(results.iter().any(|r| r["ruleId"] == "TW-NOT-JUDGED"));

    // JUnit: a testsuite per policy, a testcase per check.
    let out = check(&["-f", all, "-o", "junit"], None);
    assert_eq!(code(&out), 2, "{}", show(&out));
    let junit_file = bed.join(format!("{}.xml", support::unique_name("check-junit")));
    std::fs::write(&junit_file, &out.stdout).unwrap();
    let junit = String::from_utf8(out.stdout).unwrap();
    assert!(junit.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites "), "{junit}");
    assert_eq!(junit.matches("<testsuite name=").count(), 5, "{junit}");
    assert!(junit.contains(&format!("<testcase name=\"CT-EXISTS\" classname=\"trailwarden.{fails}\"")), "{junit}");
    assert!(junit.contains("<failure type=\"required\" message=\"no trail named"), "{junit}");
    assert!(junit.contains("<error type=\"unknown\""), "a required Unknown fails the default gate: {junit}");
    assert!(junit.contains("<error type=\"invalid\""), "{junit}");
    report_check(&[&sarif_file, &junit_file]);
    let out = check(&["-f", &path("3-unknown.yaml"), "-o", "junit", "--fail-on", "fail"], None);
    assert!(String::from_utf8_lossy(&out.stdout).contains("<skipped message=\"unknown: "), "{}", show(&out));

    // Table: the problems, and the totals at the end.
    let out = check(&["-f", all], None);
    assert_eq!(code(&out), 2);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains(&format!("{typo}  ERROR  invalid\n")), "{table}");
    assert!(table.contains("spec.logFileValidaton: unknown field (did you mean \"logFileValidation\"?)"), "{table}");
    assert!(table.contains(&format!("{denied}  ERROR  not judged\n")), "{table}");
    let last = table.lines().last().unwrap();
    assert!(last.starts_with("total: 3 policies judged: 1 compliant, 1 not compliant, 1 unknown; 2 errors;") && last.ends_with("gate ERROR (exit 2)"), "{table}");
    println!("{table}");

    // Exit codes: 0 all pass, 1 a required Fail (or Unknown, by default), 2 errors.
    let cases: &[(&[String], &str, i32)] = &[
        (&[path("1-mixed.yaml")], "unknown", 0),
        (&[path("1-mixed.yaml")], "fail", 0),
        (&[path("1-mixed.yaml"), path("3-unknown.yaml")], "unknown", 1),
        (&[path("1-mixed.yaml"), path("3-unknown.yaml")], "fail", 0),
        (&[path("1-mixed.yaml"), path("5-fails.yaml")], "fail", 1),
        (&[path("1-mixed.yaml"), path("5-fails.yaml")], "unknown", 1),
        (&[path("1-mixed.yaml"), path("2-typo.yml")], "fail", 2),
        (&[path("4-denied.yaml"), path("5-fails.yaml")], "fail", 2),
        (&[path("nested/more.yaml")], "unknown", 2),
    ];
    for (inputs, fail_on, expected) in cases {
        let mut args: Vec<&str> = inputs.iter().flat_map(|f| ["-f", f.as_str()]).collect();
        args.extend(["--fail-on", fail_on]);
        let out = check(&args, None);
        assert_eq!(code(&out), *expected, "{args:?}: {}", show(&out));
    }
    // The default is --fail-on unknown.
    assert_eq!(code(&check(&["-f", &path("3-unknown.yaml")], None)), 1);
    // kustomize build | trailwarden check -f -: other kinds in the stream are fine.
    let out = check(&["-f", "-", "-o", "json"], Some(&mixed));
    assert_eq!(code(&out), 0, "{}", show(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((report[0]["file"].as_str(), report[0]["line"].as_u64()), (Some("-"), Some(7)));
}
