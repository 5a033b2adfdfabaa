//! The fault proxy (`hack/bed/fault_proxy.py`): moto behind a proxy that answers as AWS
//! does when it fails — throttling, 5xx, AccessDenied, resets, latency — by rules set at
//! run time, and counts what passed. `up.sh` starts it; its URL is
//! `TRAILWARDEN_FAULTY_AWS_ENDPOINT` and its rules live at `TRAILWARDEN_FAULT_CONTROL`.
//!
//! Every test of the suite shares the one proxy, so a fault must be scoped: [`Faults`]
//! scopes its rule to one emulator account (the proxy knows a request's account from the
//! AssumeRole that issued its credentials) or to one client (the `app/<id>` a process's
//! SDK puts in its User-Agent when `AWS_SDK_UA_APP_ID` is set), and removes it when dropped.
//! Use a `support::fresh_account()` per test, reached through [`faulty_aws`].

use std::collections::BTreeMap;
use std::process::Command;

use serde::Deserialize;
use serde_json::{Value, json};
use trailwarden::aws::sdk::{AwsOptions, SdkAws};
use trailwarden::aws::{AwsPort, ErrorKind};

use crate::support::{self, own};

/// Attempts per call of [`faulty_aws`]: enough that a 30% throttle rate almost never
/// exhausts them (0.3^10 ≈ 6e-6 per call), so tests see the SDK's retry absorb faults.
pub const FAULTY_MAX_ATTEMPTS: u32 = 10;

fn bed_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: these tests need the test bed. Run `make test`, or `hack/bed/up.sh` and `source .bed/env`.")
    })
}

/// The proxy's URL: give it to a port (or a controller process) as its AWS endpoint.
pub fn faulty_endpoint() -> String {
    bed_env("TRAILWARDEN_FAULTY_AWS_ENDPOINT")
}

/// An AWS port aimed at the emulator through the fault proxy, with the SDK's retries on.
pub async fn faulty_aws() -> SdkAws {
    faulty_aws_with(FAULTY_MAX_ATTEMPTS).await
}

/// [`faulty_aws`] with `max_attempts` attempts per call (1: retries off).
pub async fn faulty_aws_with(max_attempts: u32) -> SdkAws {
    SdkAws::new(AwsOptions {
        endpoint_url: Some(faulty_endpoint()),
        max_attempts,
        max_in_flight: usize::from(trailwarden::aws::sdk::DEFAULT_MAX_IN_FLIGHT),
        ..Default::default()
    })
    .await
}

/// Which requests a [`Faults`] rule applies to and whose counts it reads.
#[derive(Clone, Debug)]
enum Target {
    Account(String),
    Client(String),
}

/// One fault rule of the proxy, scoped to an account or a client. Dropping it removes
/// the rule; the counts stay until [`Faults::reset_stats`].
pub struct Faults {
    name: String,
    target: Target,
}

impl Faults {
    /// Faults for the requests acting in emulator account `account` only.
    pub fn for_account(account: &str) -> Self {
        Faults { name: support::unique_name("faults"), target: Target::Account(account.to_owned()) }
    }

    /// Faults for the requests of the process whose SDK runs with `AWS_SDK_UA_APP_ID=app_id`.
    pub fn for_client(app_id: &str) -> Self {
        Faults { name: support::unique_name("faults"), target: Target::Client(app_id.to_owned()) }
    }

    /// Sets this rule to `rule` (the proxy's rule schema: `throttle`, `error5xx`, `reset`,
    /// `reset_after` rates; `latency_ms`; `deny`; `only_services`; `only_operations`;
    /// `ttl_seconds`; `seed`: see hack/bed/fault_proxy.py), replacing what it was, with
    /// the scope added.
    pub fn set(&self, rule: Value) {
        let mut rule = rule;
        let fields = rule.as_object_mut().expect("a fault rule is a JSON object");
        match &self.target {
            Target::Account(a) => fields.insert("accounts".into(), json!([a])),
            Target::Client(c) => fields.insert("clients".into(), json!([c])),
        };
        let (status, body) = control("PUT", &format!("{}/{}", control_url(), self.name), Some(&rule.to_string()));
        assert_eq!(status, 200, "the fault proxy refused rule {rule}: {body}");
    }

    /// Removes this rule: the proxy is transparent to the scope again.
    pub fn clear(&self) {
        let (status, body) = control("DELETE", &format!("{}/{}", control_url(), self.name), None);
        assert_eq!(status, 200, "removing fault rule {}: {body}", self.name);
    }

    fn filter(&self) -> String {
        match &self.target {
            Target::Account(a) => format!("account={a}"),
            Target::Client(c) => format!("client={c}"),
        }
    }

    /// What the proxy saw of this scope's requests so far.
    pub fn stats(&self) -> Stats {
        let (status, body) = control("GET", &format!("{}?{}", stats_url(), self.filter()), None);
        assert_eq!(status, 200, "reading the fault proxy's stats: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("stats parse ({e}): {body}"))
    }

    /// The scope's write requests, oldest first (faulted ones included, see [`Write::fault`]).
    pub fn writes(&self) -> Vec<Write> {
        self.stats().writes
    }

    /// Forgets this scope's counts and writes.
    pub fn reset_stats(&self) {
        let (status, body) = control("POST", &format!("{}/reset?{}", stats_url(), self.filter()), None);
        assert_eq!(status, 200, "resetting the fault proxy's stats: {body}");
    }
}

impl Drop for Faults {
    fn drop(&mut self) {
        // Never a second panic while unwinding: a rule left behind is scoped anyway.
        let _ = control("DELETE", &format!("{}/{}", control_url(), self.name), None);
    }
}

/// Counts of one scope: requests seen and faults injected, in total and per
/// `"Service/Operation"` (e.g. `"CloudTrail/DescribeTrails"`, `"S3/PutBucketPolicy"`).
#[derive(Debug, Deserialize)]
pub struct Stats {
    pub requests: u64,
    /// Per fault kind: throttle, error5xx, reset, reset_after, deny, latency.
    pub faults: BTreeMap<String, u64>,
    /// Per operation: "requests" and each fault kind injected into it.
    pub operations: BTreeMap<String, BTreeMap<String, u64>>,
    pub writes: Vec<Write>,
}

impl Stats {
    /// Requests of `operation` ("Service/Operation") the proxy received, faulted or not.
    pub fn requests_of(&self, operation: &str) -> u64 {
        self.count(operation, "requests")
    }

    /// Faults of `kind` injected into `operation` ("Service/Operation").
    pub fn count(&self, operation: &str, kind: &str) -> u64 {
        self.operations.get(operation).and_then(|o| o.get(kind)).copied().unwrap_or(0)
    }

    /// Faults of `kind` injected in all.
    pub fn faults_of(&self, kind: &str) -> u64 {
        self.faults.get(kind).copied().unwrap_or(0)
    }
}

/// One write request that reached the proxy.
#[derive(Clone, Debug, Deserialize)]
pub struct Write {
    /// When the proxy answered it (Unix seconds).
    pub time: f64,
    pub service: String,
    pub operation: String,
    /// The `app/<id>` of the sender's User-Agent, if it set one.
    pub client: Option<String>,
    pub account: String,
    /// The HTTP status the sender got; None if the connection was reset instead.
    pub status: Option<u16>,
    /// The fault injected, if any: then moto never saw it (except "reset_after").
    pub fault: Option<String>,
}

fn control_url() -> String {
    bed_env("TRAILWARDEN_FAULT_CONTROL")
}

fn stats_url() -> String {
    control_url().trim_end_matches("/__faults").to_owned() + "/__stats"
}

/// One call of the proxy's control API over curl: (HTTP status, body).
fn control(method: &str, url: &str, body: Option<&str>) -> (u16, String) {
    let mut command = Command::new("curl");
    command.args(["-sS", "-X", method, "-w", "\n%{http_code}", url]);
    if let Some(body) = body {
        command.args(["-H", "Content-Type: application/json", "--data-binary", body]);
    }
    let out = command.output().expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
    (status.trim().parse().unwrap_or(0), body.to_owned())
}

/// With no rule set the proxy changes nothing: a trail made and read through it is the
/// trail moto holds, and the proxy names and counts each call and logs the writes.
#[tokio::test]
async fn the_fault_proxy_is_transparent_without_faults() {
    let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    let aws = faulty_aws().await;
    let (account, scope) = support::fresh_account();
    let faults = Faults::for_account(&account);
    let bucket = support::unique_name("proxied-logs");
    let name = support::unique_name("proxied-trail");

    let s3 = aws.s3(&scope).await;
    s3.create_bucket().bucket(&bucket).send().await.expect("create bucket through the proxy");
    support::open_to_cloudtrail(&s3, &bucket, &account).await;
    let settings = support::plain_settings(&bucket);
    let arn = aws.create_trail(&scope, &name, &settings, &Default::default()).await.expect("create trail");
    aws.start_logging(&scope, &arn).await.expect("start logging");
    let described = support::trail(&aws, &scope, &name).await.expect("the trail reads back through the proxy");
    assert_eq!((described.arn.as_str(), &described.settings), (arn.as_str(), &settings));
    assert!(aws.get_trail_status(&scope, &arn).await.unwrap().is_logging);
    let direct = support::trail(&support::aws().await, &scope, &name).await.expect("moto holds the same trail");
    assert_eq!(direct.settings, settings);

    let stats = faults.stats();
    assert_eq!(stats.faults.values().sum::<u64>(), 0, "{stats:?}");
    for op in ["STS/AssumeRole", "S3/CreateBucket", "S3/PutBucketPolicy", "CloudTrail/CreateTrail", "CloudTrail/StartLogging"] {
        assert_eq!(stats.requests_of(op), 1, "{op}: {stats:?}");
    }
    assert!(stats.requests_of("CloudTrail/DescribeTrails") >= 1, "{stats:?}");
    let writes = faults.writes();
    let names: Vec<_> = writes.iter().map(|w| format!("{}/{}", w.service, w.operation)).collect();
    assert_eq!(names, ["S3/CreateBucket", "S3/PutBucketPolicy", "CloudTrail/CreateTrail", "CloudTrail/StartLogging"], "{writes:?}");
    let ok = |w: &Write| w.account == account && w.status == Some(200) && w.fault.is_none() && w.client.is_none();
    assert!(writes.iter().all(ok), "{writes:?}");
    assert!(writes.windows(2).all(|p| p[0].time <= p[1].time) && writes[0].time >= started, "{writes:?}");
}

/// `deny` answers AccessDenied for the operations it names, in the faulted account only:
/// the port classifies it as such, other calls and other accounts go through.
#[tokio::test]
async fn a_denied_operation_fails_as_access_denied_in_its_account_only() {
    let direct = support::aws().await;
    let target = support::account(&direct, 0, 1).await;
    let bystander = support::account(&direct, 0, 1).await;
    let aws = faulty_aws().await;
    let faults = Faults::for_account(&target.id);
    faults.set(json!({"deny": {"DescribeKey": true}}));

    let err = aws.describe_key(&own(&target.scope), &target.key_alias).await.expect_err("DescribeKey is denied");
    assert_eq!(
        (err.kind, err.operation, err.code.as_str()),
        (ErrorKind::AccessDenied, "DescribeKey", "AccessDeniedException"),
        "{err}"
    );
    aws.describe_trails(&target.scope, "").await.expect("other calls of the account go through");
    let key = aws.describe_key(&own(&bystander.scope), &bystander.key_alias).await.expect("another account is not faulted");
    assert_eq!(key.arn, bystander.key_arns[0]);
    let stats = faults.stats();
    assert_eq!(
        (stats.count("KMS/DescribeKey", "deny"), stats.faults_of("deny")),
        (1, 1),
        "no retry of a denial: {stats:?}"
    );

    faults.clear();
    let key = aws.describe_key(&own(&target.scope), &target.key_alias).await.expect("allowed again once cleared");
    assert_eq!(key.arn, target.key_arns[0]);
}

/// Throttling at 30%: the SDK's own retry absorbs it, every read succeeds, and each
/// throttle cost exactly one more request.
#[tokio::test]
async fn the_sdk_retries_through_injected_throttling() {
    let direct = support::aws().await;
    let (account, scope) = support::fresh_account();
    let bucket = support::unique_name("throttled-logs");
    let s3 = direct.s3(&scope).await;
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    support::open_to_cloudtrail(&s3, &bucket, &account).await;
    let name = support::unique_name("throttled-trail");
    let arn = direct.create_trail(&scope, &name, &support::plain_settings(&bucket), &Default::default()).await.unwrap();

    let aws = faulty_aws().await;
    let faults = Faults::for_account(&account);
    // Seeded: the same draws each run, so "some were throttled" never flakes.
    faults.set(json!({"throttle": 0.3, "seed": 42, "ttl_seconds": 300}));
    faults.reset_stats();
    let reads = [
        "CloudTrail/DescribeTrails",
        "CloudTrail/GetTrailStatus",
        "CloudTrail/GetEventSelectors",
        "CloudTrail/ListTags",
    ];
    for i in 0..20 {
        match i % 4 {
            0 => assert!(aws.describe_trails(&scope, "").await.expect("DescribeTrails").iter().any(|t| t.arn == arn)),
            1 => assert!(!aws.get_trail_status(&scope, &arn).await.expect("GetTrailStatus").is_logging),
            2 => assert!(aws.get_event_selectors(&scope, &arn).await.expect("GetEventSelectors").is_aws_default()),
            _ => assert!(aws.list_tags(&scope, &arn).await.expect("ListTags").is_empty()),
        }
    }
    faults.clear();

    let stats = faults.stats();
    let throttles: u64 = reads.iter().map(|op| stats.count(op, "throttle")).sum();
    let requests: u64 = reads.iter().map(|op| stats.requests_of(op)).sum();
    assert!(throttles > 0, "30% of 20+ requests throttled, yet none was: {stats:?}");
    assert_eq!(requests, 20 + throttles, "each throttle retried once by the SDK: {stats:?}");
    assert!(stats.writes.is_empty(), "reads only: {stats:?}");
}

/// Connections reset before an answer and HTTP 500s are retried by the SDK as well.
#[tokio::test]
async fn the_sdk_retries_through_resets_and_server_errors() {
    let (account, scope) = support::fresh_account();
    let aws = faulty_aws().await;
    aws.describe_trails(&scope, "").await.expect("role assumed before the faults");
    let faults = Faults::for_account(&account);
    faults
        .set(json!({"reset": 0.25, "error5xx": 0.25, "only_services": ["CloudTrail"], "seed": 7, "ttl_seconds": 300}));
    faults.reset_stats();
    for _ in 0..8 {
        aws.describe_trails(&scope, "").await.expect("DescribeTrails succeeds in the end");
    }
    faults.clear();
    let stats = faults.stats();
    let (resets, errors) = (stats.faults_of("reset"), stats.faults_of("error5xx"));
    assert!(resets > 0 && errors > 0, "{stats:?}");
    assert_eq!(stats.requests_of("CloudTrail/DescribeTrails"), 8 + resets + errors, "{stats:?}");
}

/// A process is known by the app id its SDK sends: `trailwarden check` run with
/// `AWS_SDK_UA_APP_ID` through the proxy shows under that client, in its account.
#[tokio::test]
async fn a_process_is_known_by_its_user_agent_app_id() {
    let (account, scope) = support::fresh_account();
    let bucket = support::unique_name("check-logs");
    support::aws().await.s3(&scope).await.create_bucket().bucket(&bucket).send().await.unwrap();
    let app_id = support::unique_name("check");
    let faults = Faults::for_client(&app_id);
    let manifest = format!(
        "apiVersion: trailwarden.dev/v1alpha1\nkind: TrailPolicy\nmetadata: {{name: {app_id}}}\nspec:\n  region: {}\n  \
         account: {{roleArn: 'arn:aws:iam::{account}:role/trailwarden'}}\n  s3: {{bucketName: {bucket}}}\n",
        support::REGION
    );
    let file = std::path::PathBuf::from(bed_env("TRAILWARDEN_BED_DIR")).join(format!("{app_id}.yaml"));
    std::fs::write(&file, manifest).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_trailwarden"))
        .args(["check", "-f", file.to_str().unwrap(), "-o", "json", "--aws-endpoint-url", &faulty_endpoint()])
        .env("AWS_SDK_UA_APP_ID", &app_id)
        .output()
        .expect("trailwarden check runs");
    assert_eq!(out.status.code(), Some(1), "no trail, not compliant: {}", String::from_utf8_lossy(&out.stderr));

    let stats = faults.stats();
    assert!(
        stats.requests_of("STS/AssumeRole") >= 1 && stats.requests_of("CloudTrail/DescribeTrails") >= 1,
        "{stats:?}"
    );
    let by_account = Faults::for_account(&account).stats();
    assert_eq!(
        by_account.requests, stats.requests,
        "the client's requests all act in {account}: {by_account:?} vs {stats:?}"
    );
}

/// An AWS call that never answers is abandoned at the operation timeout, not waited on for
/// good: the pass ends, a stopped trail logs again, and the fact the stalled call would
/// have read is reported as not known, naming the call and the timeout.
#[tokio::test]
async fn a_call_that_never_answers_is_abandoned_and_logging_is_still_restored() {
    let client = support::kube().await;
    let aws = support::aws().await;
    let acct = support::account(&aws, 1, 0).await;
    let port = SdkAws::new(AwsOptions {
        endpoint_url: Some(faulty_endpoint()),
        max_attempts: 2,
        attempt_timeout: Some(std::time::Duration::from_secs(1)),
        operation_timeout: Some(std::time::Duration::from_secs(3)),
        ..Default::default()
    })
    .await;
    let controller = support::Controller::start_with(client.clone(), port);
    let (name, arn) = controller.synced_policy(&client, "stalled", &acct, 5).await;

    // GetBucketPolicy now never answers (well past every timeout), and logging is stopped.
    let faults = Faults::for_account(&acct.id);
    faults.set(json!({"only_operations": ["GetBucketPolicy"], "latency_ms": 120_000, "ttl_seconds": 90}));
    aws.stop_logging(&acct.scope, &arn).await.unwrap();
    support::eventually("logging restored while GetBucketPolicy hangs", support::HEAL_TIMEOUT, || async {
        aws.get_trail_status(&acct.scope, &arn).await.ok()?.is_logging.then_some(())
    })
    .await;
    let (message, _) = support::eventually("the stalled read reported", support::HEAL_TIMEOUT, || async {
        let p = support::get(&client, &name).await;
        let check = p.status?.compliance.into_iter().find(|c| c.id == "BKT-CLOUDTRAIL-POLICY")?;
        (check.status == trailwarden::api::CheckStatus::Unknown).then_some(check.message)
    })
    .await;
    assert!(message.contains("GetBucketPolicy") && message.to_lowercase().contains("timeout"), "{message}");
    assert!(faults.stats().count("S3/GetBucketPolicy", "latency") >= 1, "the hanging call was made");
}

/// With a single slot for AWS calls, a pass still runs to its end (no call of a pass waits
/// for a slot another call of the same pass holds) and a stopped trail logs again.
#[tokio::test]
async fn one_slot_for_aws_calls_is_enough_to_converge_and_heal() {
    let client = support::kube().await;
    let aws = support::aws().await;
    let acct = support::account(&aws, 1, 0).await;
    let port = SdkAws::new(AwsOptions { endpoint_url: Some(faulty_endpoint()), max_attempts: 1, max_in_flight: 1, ..Default::default() }).await;
    let controller = support::Controller::start_with(client.clone(), port);
    let (_, arn) = controller.synced_policy(&client, "one-slot", &acct, 5).await;
    aws.stop_logging(&acct.scope, &arn).await.unwrap();
    support::eventually("logging restored through one slot", support::HEAL_TIMEOUT, || async {
        aws.get_trail_status(&acct.scope, &arn).await.ok()?.is_logging.then_some(())
    })
    .await;
}
