//! What every bed test needs: a kube client, the CRD installed, an AWS port pointed at
//! the emulator, and names and AWS accounts no other test uses.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use trailwarden::aws::AwsPort;
use trailwarden_core::trail::TrailDescription;
use kube::runtime::wait::{await_condition, conditions};
use kube::Client;
use tokio::sync::OnceCell;
use trailwarden::api::TrailPolicy;
use trailwarden_core::Scope;
use trailwarden::aws::sdk::{AwsOptions, SdkAws};

#[path = "support/log.rs"]
mod log;

pub const REGION: &str = "us-east-1";

fn bed_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: these tests need the test bed. Run `make test`, or `hack/bed/up.sh` and `source .bed/env`.")
    })
}

/// A kube client for the bed's apiserver, with the TrailPolicy CRD installed and Established.
pub async fn kube() -> Client {
    bed_env("KUBECONFIG");
    let client = Client::try_default().await.expect("kube client from KUBECONFIG");
    static CRD: OnceCell<()> = OnceCell::const_new();
    CRD.get_or_init(|| install_crd(client.clone())).await;
    client
}

async fn install_crd(client: Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client);
    for text in [include_str!("../../crds/trailpolicy.yaml"), include_str!("../../crds/trailpolicyset.yaml")] {
        let crd: CustomResourceDefinition = serde_yaml::from_str(text).expect("committed CRD parses");
        let name = crd.metadata.name.clone().expect("a CRD has a name");
        crds.patch(&name, &PatchParams::apply("trailwarden-tests").force(), &Patch::Apply(&crd))
            .await
            .expect("CRD applies");
        tokio::time::timeout(Duration::from_secs(30), await_condition(crds.clone(), &name, conditions::is_crd_established()))
            .await
            .expect("CRD becomes Established within 30s")
            .expect("watching the CRD");
    }
}

/// An AWS port aimed at the emulator, retries off so failures show at once, every read
/// fresh: what tests look at AWS through.
pub async fn aws() -> SdkAws {
    SdkAws::new(AwsOptions {
        endpoint_url: Some(bed_env("TRAILWARDEN_AWS_ENDPOINT")),
        max_attempts: 1,
        attempt_timeout: None,
        operation_timeout: None,
        retry_mode: Default::default(),
        rate_limits: Default::default(),
        metrics: None,
        shared_reads: std::time::Duration::ZERO,
        shared_posture: std::time::Duration::ZERO,
        // The tests' own look at AWS: never held up by a bound.
        max_in_flight: 0,
    })
    .await
}

/// The port a controller under test acts through: as [`aws`], with reads of trails shared
/// between passes as the binary shares them by default. Bucket and key facts are shared
/// as briefly: tests that change a bucket behind the controller's back without an event
/// see it healed at the next resync ([`controller_aws_sharing_posture`] shares them as
/// the binary does).
pub async fn controller_aws() -> SdkAws {
    controller_aws_sharing_posture(trailwarden::aws::recent::WINDOW).await
}

/// [`controller_aws`] with bucket and key facts shared for `posture`.
pub async fn controller_aws_sharing_posture(posture: Duration) -> SdkAws {
    SdkAws::new(AwsOptions {
        endpoint_url: Some(bed_env("TRAILWARDEN_AWS_ENDPOINT")),
        max_attempts: 1,
        shared_reads: trailwarden::aws::recent::WINDOW,
        shared_posture: posture,
        max_in_flight: usize::from(trailwarden::aws::sdk::DEFAULT_MAX_IN_FLIGHT),
        ..Default::default()
    })
    .await
}

static SEQ: AtomicU32 = AtomicU32::new(0);

fn uniq() -> u64 {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
    let seq = SEQ.fetch_add(1, Ordering::Relaxed) as u64;
    (nanos / 1000 + seq * 7919 + std::process::id() as u64) % 1_000_000_000
}

/// The bucket and key of `scope`'s own account (the role's), as tests that set them up
/// reach them.
pub fn own(scope: &Scope) -> trailwarden_core::Reach {
    let account = scope.role_account().expect("tests reach buckets and keys through a role");
    trailwarden_core::Reach::owned(scope.clone(), account.to_owned())
}

/// A lowercase name no other test uses, valid for trails, buckets and policies.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{}", uniq())
}

/// A fresh AWS account of the emulator, reached the way a policy reaches one: by role.
pub fn fresh_account() -> (String, Scope) {
    let account = format!("{:012}", 100_000_000_000 + uniq());
    let role_arn = format!("arn:aws:iam::{account}:role/trailwarden");
    let scope = Scope { role_arn: Some(role_arn), external_id: None, region: REGION.to_owned() };
    (account, scope)
}

/// A controller running in this test process against the bed, managing only the
/// policies that carry its own label. Stops when dropped.
pub struct Controller {
    pub label: String,
    pub port: SdkAws,
    pub metrics: trailwarden::ops::metrics::Metrics,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    /// The events queue it reads, when it reads one.
    pub events: Option<trailwarden::triggers::events::EventQueue>,
}

/// What the operator sets for a test controller (the flags `run` takes).
pub struct Operator {
    pub guardrails: trailwarden_core::guardrails::Guardrails,
    pub floor: trailwarden_core::floor::Floor,
    pub pass_deadline: std::time::Duration,
    /// A shard: the controller also selects `trailwarden.dev/shard=<shard>`, under the
    /// given run label (shared by the shards of one test).
    pub shard: Option<(String, String)>,
    /// The log verifier's interval, when it runs.
    pub verify_logs: Option<std::time::Duration>,
}

impl Default for Operator {
    fn default() -> Self {
        Operator {
            guardrails: Default::default(),
            floor: Default::default(),
            pass_deadline: std::time::Duration::from_secs(120),
            shard: None,
            verify_logs: None,
        }
    }
}

impl Controller {
    pub async fn start(client: Client) -> Self {
        Self::start_with(client, controller_aws().await)
    }

    /// A controller acting through `port` (the fault proxy, say).
    pub fn start_with(client: Client, port: SdkAws) -> Self {
        Self::start_full(client, port, None)
    }

    /// A controller that also reads AWS events from the SQS queue at `queue_url`.
    pub async fn start_with_events(client: Client, queue_url: &str) -> Self {
        Self::start_full(client, controller_aws().await, Some(queue_url.to_owned()))
    }

    /// A controller acting through `port` that also reads AWS events from `queue_url`.
    pub fn start_through_with_events(client: Client, port: SdkAws, queue_url: &str) -> Self {
        Self::start_full(client, port, Some(queue_url.to_owned()))
    }

    /// A controller acting through `port` within the operator's `guardrails`.
    pub fn start_guarded(client: Client, port: SdkAws, guardrails: trailwarden_core::guardrails::Guardrails) -> Self {
        Self::start_options(client, port, None, Operator { guardrails, ..Operator::default() })
    }

    /// A controller held to an operator floor.
    pub fn start_floored(client: Client, port: SdkAws, floor: trailwarden_core::floor::Floor) -> Self {
        Self::start_options(client, port, None, Operator { floor, ..Operator::default() })
    }

    /// A controller of one shard: it selects the policies of run `label` labelled
    /// `trailwarden.dev/shard=<shard>`.
    pub async fn start_shard(client: Client, label: &str, shard: &str) -> Self {
        let operator = Operator { shard: Some((label.to_owned(), shard.to_owned())), ..Operator::default() };
        Self::start_options(client, controller_aws().await, None, operator)
    }

    /// A controller whose log verifier walks the digest chains every `interval`.
    pub async fn start_verifying(client: Client, interval: std::time::Duration) -> Self {
        Self::start_options(client, controller_aws().await, None, Operator { verify_logs: Some(interval), ..Operator::default() })
    }

    /// A controller whose passes may take `deadline` at most.
    pub fn start_with_deadline(client: Client, port: SdkAws, deadline: std::time::Duration) -> Self {
        Self::start_options(client, port, None, Operator { pass_deadline: deadline, ..Operator::default() })
    }

    fn start_full(client: Client, port: SdkAws, queue_url: Option<String>) -> Self {
        Self::start_options(client, port, queue_url, Operator::default())
    }

    fn start_options(client: Client, port: SdkAws, queue_url: Option<String>, operator: Operator) -> Self {
        log::capture();
        let label = operator.shard.as_ref().map_or_else(|| unique_name("run"), |(label, _)| label.clone());
        let selector = match &operator.shard {
            Some((_, shard)) => format!("{TEST_LABEL}={label},trailwarden.dev/shard={shard}"),
            None => format!("{TEST_LABEL}={label}"),
        };
        let metrics = trailwarden::ops::metrics::Metrics::new();
        let progress = std::sync::Arc::new(trailwarden::ops::progress::Progress::new(operator.pass_deadline * 2, &metrics));
        let options = trailwarden::k8s::controller::ControllerOptions {
            label_selector: Some(selector),
            instance: label.clone(),
            metrics: metrics.clone(),
            readiness: Default::default(),
            concurrency: 32,
            guardrails: operator.guardrails,
            floor: operator.floor,
            pass_deadline: operator.pass_deadline,
            progress,
            verify_logs: operator.verify_logs.map(|interval| trailwarden::integrity::continuous::VerifyOptions {
                port: port.clone(),
                interval,
                lookback: jiff::SignedDuration::from_hours(1),
                // Every round verifies the whole window again: a deletion is found
                // whenever it happens.
                recheck: std::time::Duration::ZERO,
                deadline: std::time::Duration::from_secs(60),
                metrics: metrics.integrity.clone(),
            }),
            events: queue_url.map(|url| {
                trailwarden::triggers::events::EventQueue::new(url, REGION.to_owned(), port.clone(), metrics.events.clone())
            }),
        };
        let events = options.events.clone();
        let task = tokio::spawn(trailwarden::k8s::controller::run(client, port.clone(), options, std::future::pending()));
        Controller { label, port, metrics, task, events }
    }

    /// The sum of this controller's metric samples whose line starts with `series` (a name,
    /// or a name and `{` for labelled series) and contains `having` (a label, say).
    pub fn metric(&self, series: &str, having: &str) -> f64 {
        self.metrics
            .render()
            .lines()
            .filter(|l| l.starts_with(series) && l.contains(having))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// How many times this controller called an AWS operation.
    pub fn calls_of(&self, operation: &str) -> u64 {
        self.port.calls().snapshot().iter().filter(|(c, _)| c.operation == operation).map(|(_, n)| *n).sum()
    }

    /// A policy named `<prefix>-…` for a trail of `account` logging to its first bucket,
    /// resynced every `resync_seconds`, created and waited on until Synced: its name and
    /// its trail's ARN.
    pub async fn synced_policy(&self, client: &Client, prefix: &str, account: &Account, resync_seconds: u32) -> (String, String) {
        let name = unique_name(prefix);
        create_policy(client, &self.policy(&name, json!({
            "region": REGION, "account": role(account), "s3": {"bucketName": account.buckets[0]}, "resyncSeconds": resync_seconds,
        })))
        .await;
        let arn = wait_synced(client, &name).await.status.and_then(|s| s.trail_arn).expect("a synced policy names its trail");
        (name, arn)
    }

    /// A policy this controller manages: `spec` plus our test label.
    pub fn policy(&self, name: &str, spec: serde_json::Value) -> TrailPolicy {
        labelled_policy(&self.label, name, spec)
    }
}

/// A policy named `name` with `spec`, labelled for the controller of run `label` (which
/// selects `TEST_LABEL=<label>`).
pub fn labelled_policy(label: &str, name: &str, spec: serde_json::Value) -> TrailPolicy {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "trailwarden.dev/v1alpha1",
        "kind": "TrailPolicy",
        "metadata": {"name": name, "labels": {TEST_LABEL: label}},
        "spec": spec,
    }))
    .expect("policy parses")
}

impl Drop for Controller {
    fn drop(&mut self) {
        log::print_if_failing();
        self.task.abort();
        let operations = self.port.calls().snapshot().into_keys().map(|c| format!("{}:{}", c.service, c.operation));
        record_aws_operations(&self.label, operations);
    }
}

/// Appends AWS operations a controller performed to the bed's record, which the IAM
/// policy check (tests/iam_policy.rs) compares with deploy/iam-policy.json.
pub fn record_aws_operations(source: &str, operations: impl Iterator<Item = String>) {
    let dir = std::path::Path::new(&bed_env("TRAILWARDEN_BED_DIR")).join("aws-calls");
    std::fs::create_dir_all(&dir).expect("aws-calls dir");
    let lines: Vec<String> = operations.collect();
    std::fs::write(dir.join(format!("{source}.txt")), lines.join("\n") + "\n").expect("record AWS operations");
}

pub const TEST_LABEL: &str = "trailwarden.dev/test-run";

/// Polls `probe` every 100 ms until it yields a value; panics with `what` after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> (T, Duration)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = tokio::time::Instant::now();
    loop {
        if let Some(value) = probe().await {
            return (value, start.elapsed());
        }
        if start.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A condition's status ("True", "False", "Unknown") and reason, if set.
pub fn condition(policy: &TrailPolicy, type_: &str) -> Option<(String, String)> {
    policy
        .status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone()))
}

/// Reasons of the Events recorded for a policy.
pub async fn event_reasons(client: &Client, policy: &str) -> Vec<String> {
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client.clone(), "default");
    let list = events
        .list(&kube::api::ListParams::default().fields(&format!("involvedObject.name={policy}")))
        .await
        .expect("list events");
    list.items.into_iter().filter_map(|e| e.reason).collect()
}

/// The notes (messages) of the policy's Events.
pub async fn event_notes(client: &Client, policy: &str) -> Vec<String> {
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client.clone(), "default");
    let list = events
        .list(&kube::api::ListParams::default().fields(&format!("involvedObject.name={policy}")))
        .await
        .expect("list events");
    list.items.into_iter().filter_map(|e| e.message).collect()
}

/// One call of an AWS Query API (SNS, SQS) on the emulator, in `account`, over plain HTTP:
/// the tests need a topic and a queue, and no SNS or SQS crate is worth a dependency.
pub fn moto_query(account: &str, service: &str, params: &[(&str, &str)]) -> String {
    moto_query_in(account, REGION, service, params)
}

/// [`moto_query`] in another region (the one the request is signed for, as moto reads it).
pub fn moto_query_in(account: &str, region: &str, service: &str, params: &[(&str, &str)]) -> String {
    let endpoint = bed_env("TRAILWARDEN_AWS_ENDPOINT");
    let mut command = std::process::Command::new("curl");
    command
        .args(["-sS", "-X", "POST", &format!("{endpoint}/")])
        .args(["-H", &format!("x-moto-account-id: {account}")])
        .args(["-H", &format!("Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/{region}/{service}/aws4_request, SignedHeaders=host, Signature=0")]);
    for (key, value) in params {
        command.args(["--data-urlencode", &format!("{key}={value}")]);
    }
    let out = command.output().expect("curl runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One call of an AWS JSON API (EventBridge) on the emulator, in `account`. moto's
/// EventBridge is not safe against concurrent calls (a rule added while PutEvents walks
/// the rules answers 500 "OrderedDict mutated during iteration"): that answer is retried.
pub fn moto_json(account: &str, service: &str, target: &str, body: &serde_json::Value) -> String {
    moto_json_in(account, REGION, service, target, body)
}

/// [`moto_json`] in another region.
pub fn moto_json_in(account: &str, region: &str, service: &str, target: &str, body: &serde_json::Value) -> String {
    let endpoint = bed_env("TRAILWARDEN_AWS_ENDPOINT");
    let call = || {
        let out = std::process::Command::new("curl")
            .args(["-sS", "-X", "POST", &format!("{endpoint}/")])
            .args(["-H", &format!("x-moto-account-id: {account}")])
            .args(["-H", &format!("X-Amz-Target: {target}")])
            .args(["-H", "Content-Type: application/x-amz-json-1.1"])
            .args(["-H", &format!("Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/{region}/{service}/aws4_request, SignedHeaders=host, Signature=0")])
            .args(["--data-binary", &body.to_string()])
            .output()
            .expect("curl runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let mut answer = call();
    for _ in 0..5 {
        if !answer.trim_start().starts_with('<') {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        answer = call();
    }
    answer
}

/// One call of AWS Organizations in `account`, as the emulator's JSON API takes it; an
/// error answer fails the test.
pub fn organizations(account: &str, operation: &str, body: serde_json::Value) -> serde_json::Value {
    let out = moto_json(account, "organizations", &format!("AWSOrganizationsV20161128.{operation}"), &body);
    let answer: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{operation}: {e}: {out}"));
    assert!(answer.get("__type").is_none(), "{operation}: {answer}");
    answer
}

/// An organization with `management` as its management account, all features on and
/// trusted access for CloudTrail (which organization trails need); its id.
pub fn create_organization(management: &str) -> String {
    let org = organizations(management, "CreateOrganization", json!({"FeatureSet": "ALL"}));
    organizations(management, "EnableAWSServiceAccess", json!({"ServicePrincipal": "cloudtrail.amazonaws.com"}));
    org["Organization"]["Id"].as_str().expect("the organization's id").to_owned()
}

pub fn unit(management: &str, parent: &str, name: &str) -> String {
    let created = organizations(management, "CreateOrganizationalUnit", json!({"ParentId": parent, "Name": name}));
    created["OrganizationalUnit"]["Id"].as_str().expect("the OU's id").to_owned()
}

pub fn member(management: &str, root: &str, parent: &str) -> String {
    let name = unique_name("member");
    let created = organizations(management, "CreateAccount", json!({"AccountName": name, "Email": format!("{name}@example.com")}));
    let id = created["CreateAccountStatus"]["AccountId"].as_str().expect("the new account's id").to_owned();
    organizations(management, "MoveAccount", json!({"AccountId": id, "SourceParentId": root, "DestinationParentId": parent}));
    id
}

/// An organization of the bed: its management account, its root, and a log bucket of the
/// management account open to every account's trails.
pub struct Organization {
    pub management: String,
    pub root: String,
    pub bucket: String,
}

pub async fn organization(aws: &SdkAws) -> Organization {
    let (management, management_scope) = fresh_account();
    create_organization(&management);
    let root = organizations(&management, "ListRoots", json!({}))["Roots"][0]["Id"].as_str().unwrap().to_owned();
    let s3 = aws.s3(&management_scope).await;
    let bucket = unique_name("org-logs");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let trails = "arn:aws:cloudtrail:*:*:trail/*";
    let open = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "AclCheck", "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "s3:GetBucketAcl",
         "Resource": format!("arn:aws:s3:::{bucket}"), "Condition": {"StringLike": {"aws:SourceArn": trails}}},
        {"Sid": "Write", "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "s3:PutObject",
         "Resource": format!("arn:aws:s3:::{bucket}/AWSLogs/*"),
         "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}, "StringLike": {"aws:SourceArn": trails}}},
    ]});
    s3.put_bucket_policy().bucket(&bucket).policy(open.to_string()).send().await.unwrap();
    Organization { management, root, bucket }
}

/// The text of the first `<tag>` element of an XML answer.
pub fn xml_value(xml: &str, tag: &str) -> Option<String> {
    let start = xml.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(xml[start..end].to_owned())
}

/// Creates an SNS topic in the emulator account and returns its ARN.
pub fn create_sns_topic(account: &str, name: &str) -> String {
    let body = moto_query(account, "sns", &[("Action", "CreateTopic"), ("Name", name), ("Version", "2010-03-31")]);
    xml_value(&body, "TopicArn").unwrap_or_else(|| panic!("CreateTopic failed: {body}"))
}

/// Sends each bucket's server access logs to a fresh log bucket, as a hardened setup does.
pub async fn enable_access_logging(aws: &SdkAws, scope: &Scope, buckets: &[String]) -> String {
    use aws_sdk_s3::types::{BucketCannedAcl, BucketLoggingStatus, LoggingEnabled};
    let s3 = aws.s3(scope).await;
    let target = unique_name("access-logs");
    s3.create_bucket().bucket(&target).acl(BucketCannedAcl::from("log-delivery-write")).send().await.expect("log bucket");
    for bucket in buckets {
        let logging = LoggingEnabled::builder().target_bucket(&target).target_prefix(format!("{bucket}/")).build().unwrap();
        s3.put_bucket_logging()
            .bucket(bucket)
            .bucket_logging_status(BucketLoggingStatus::builder().logging_enabled(logging).build())
            .send()
            .await
            .expect("enable access logging");
    }
    target
}

/// Trail settings with nothing but a bucket: multi-region, global events and validation
/// on, no prefix, topic, key or CloudWatch Logs. Tests change what they need from here.
pub fn plain_settings(bucket: &str) -> trailwarden_core::trail::TrailSettings {
    trailwarden_core::trail::TrailSettings {
        bucket: bucket.to_owned(),
        key_prefix: None,
        sns_topic: None,
        kms_key: None,
        log_file_validation: true,
        include_global_service_events: true,
        multi_region: true,
        organization: false,
        cloud_watch_logs: None,
    }
}

/// How long a heal may take on the bed before a test calls it failed.
pub const HEAL_TIMEOUT: Duration = Duration::from_secs(60);

/// An account with a bucket (or several) and a KMS key behind an alias.
pub struct Account {
    pub id: String,
    pub scope: Scope,
    pub buckets: Vec<String>,
    pub key_alias: String,
    pub key_arns: Vec<String>,
}

/// An account with buckets and keys CloudTrail may use for any trail of the account, as
/// a landing zone sets them up: CloudTrail refuses a trail whose bucket or key policy
/// does not let it deliver (the bed checks this as AWS does).
pub async fn account(aws: &SdkAws, buckets: usize, keys: usize) -> Account {
    account_with(aws, buckets, keys, true).await
}

/// [`account`] whose buckets have no policy and keys the default one: CloudTrail may use
/// neither until `posture.*.manage` lets trailwarden grant it (before it creates the trail).
pub async fn account_without_grants(aws: &SdkAws, buckets: usize, keys: usize) -> Account {
    account_with(aws, buckets, keys, false).await
}

async fn account_with(aws: &SdkAws, buckets: usize, keys: usize, grants: bool) -> Account {
    let (id, scope) = fresh_account();
    let s3 = aws.s3(&scope).await;
    let mut names = vec![];
    for _ in 0..buckets {
        let bucket = unique_name("logs");
        s3.create_bucket().bucket(&bucket).send().await.expect("create bucket");
        if grants {
            open_to_cloudtrail(&s3, &bucket, &id).await;
        }
        names.push(bucket);
    }
    let kms = aws_sdk_kms::Client::new(&aws.sdk_config(&scope).await);
    let mut key_arns = vec![];
    for _ in 0..keys {
        let key = kms.create_key().set_policy(grants.then(|| cloudtrail_key_policy(&id).to_string())).send().await.expect("create key");
        key_arns.push(key.key_metadata().and_then(|m| m.arn()).unwrap().to_owned());
    }
    let key_alias = format!("alias/{}", unique_name("trail-key"));
    if keys > 0 {
        kms.create_alias().alias_name(&key_alias).target_key_id(&key_arns[0]).send().await.unwrap();
    }
    Account { id, scope, buckets: names, key_alias, key_arns }
}

/// Lets CloudTrail deliver the logs of every trail of `account` to `bucket`: CloudTrail
/// refuses a trail whose bucket policy does not (and the bed with it).
pub async fn open_to_cloudtrail(s3: &aws_sdk_s3::Client, bucket: &str, account: &str) {
    let policy = cloudtrail_bucket_policy(bucket, account).to_string();
    s3.put_bucket_policy().bucket(bucket).policy(policy).send().await.expect("bucket policy for CloudTrail");
}

/// A bucket policy that lets CloudTrail deliver the logs of every trail of `account` (and
/// of organization trails) to `bucket`, limited by `aws:SourceArn` to that account's trails.
pub fn cloudtrail_bucket_policy(bucket: &str, account: &str) -> serde_json::Value {
    let trails = format!("arn:aws:cloudtrail:*:{account}:trail/*");
    json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "AclCheck", "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
         "Action": "s3:GetBucketAcl", "Resource": format!("arn:aws:s3:::{bucket}"),
         "Condition": {"StringLike": {"aws:SourceArn": trails}}},
        {"Sid": "Write", "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
         "Action": "s3:PutObject", "Resource": [format!("arn:aws:s3:::{bucket}/*")],
         "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}, "StringLike": {"aws:SourceArn": trails}}},
    ]})
}

/// A key policy: the account's root, and CloudTrail encrypting for every trail of `account`.
pub fn cloudtrail_key_policy(account: &str) -> serde_json::Value {
    let trails = format!("arn:aws:cloudtrail:*:{account}:trail/*");
    json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{account}:root")}, "Action": "kms:*", "Resource": "*"},
        {"Sid": "Encrypt", "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "kms:GenerateDataKey*",
         "Resource": "*", "Condition": {"StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": &trails, "aws:SourceArn": &trails}}},
        {"Sid": "Describe", "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "kms:DescribeKey", "Resource": "*"},
    ]})
}

pub fn role(account: &Account) -> serde_json::Value {
    json!({"roleArn": format!("arn:aws:iam::{}:role/trailwarden", account.id)})
}

pub async fn trail(aws: &SdkAws, scope: &Scope, name: &str) -> Option<TrailDescription> {
    aws.describe_trails(scope, name).await.unwrap().into_iter().find(|t| t.name == name)
}

pub async fn create_policy(client: &kube::Client, policy: &TrailPolicy) -> String {
    let api = Api::<TrailPolicy>::all(client.clone());
    api.create(&PostParams::default(), policy).await.expect("policy accepted");
    policy.metadata.name.clone().unwrap()
}

pub async fn get(client: &kube::Client, name: &str) -> TrailPolicy {
    Api::<TrailPolicy>::all(client.clone()).get(name).await.unwrap()
}

pub async fn wait_synced(client: &kube::Client, name: &str) -> TrailPolicy {
    eventually(&format!("{name} Ready and Synced"), HEAL_TIMEOUT, || async {
        let p = get(client, name).await;
        let ok = condition(&p, "Ready").map(|c| c.0) == Some("True".into())
            && condition(&p, "Synced").map(|c| c.0) == Some("True".into());
        ok.then_some(p)
    })
    .await
    .0
}

/// One CloudTrail delivery round on the bed (hack/bed/delivery.py) for the trail `arn`
/// alone (the bed is shared: a round must not deliver into another test's bucket at a
/// moment that test did not choose): it gets a log file (unless `log_files` is false) and,
/// with validation, a signed digest (a final one if its chain ended). What it got, as
/// `{"trails": [{"trailArn", "bucket", "logFile", "digestFile", …}]}`.
pub fn deliver(log_files: bool, arn: &str) -> serde_json::Value {
    let endpoint = bed_env("TRAILWARDEN_AWS_ENDPOINT");
    let out = std::process::Command::new("curl")
        .args(["-sS", "--fail-with-body", "-X", "POST", &format!("{endpoint}/moto-api/bed/deliver")])
        .args(["-d", &serde_json::json!({"logFiles": log_files, "trails": [arn]}).to_string()])
        .output()
        .expect("curl runs");
    assert!(out.status.success(), "delivery round: {}", String::from_utf8_lossy(&out.stdout));
    serde_json::from_slice(&out.stdout).expect("the delivery round answers JSON")
}

/// What `round` (a [`deliver`] answer) wrote for `trail_arn`.
pub fn delivered<'a>(round: &'a serde_json::Value, trail_arn: &str) -> &'a serde_json::Value {
    round["trails"].as_array().and_then(|t| t.iter().find(|t| t["trailArn"] == trail_arn)).expect("the round delivered for the trail")
}

/// Sets `bucket`'s Object Lock default retention to `days` in Governance mode, as someone
/// allowed to would (to shorten what a policy declares, say).
pub async fn set_default_retention(s3: &aws_sdk_s3::Client, bucket: &str, days: i32) {
    use aws_sdk_s3::types::{DefaultRetention, ObjectLockConfiguration, ObjectLockEnabled, ObjectLockRetentionMode, ObjectLockRule};
    let retention = DefaultRetention::builder().mode(ObjectLockRetentionMode::Governance).days(days).build();
    let configuration = ObjectLockConfiguration::builder()
        .object_lock_enabled(ObjectLockEnabled::Enabled)
        .rule(ObjectLockRule::builder().default_retention(retention).build())
        .build();
    s3.put_object_lock_configuration().bucket(bucket).object_lock_configuration(configuration).send().await.unwrap();
}
