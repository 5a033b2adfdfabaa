//! `make bench-heal`: how long a break stays broken, measured on the bed.
//! - By the poll at `resyncSeconds: 5`, with the controller's AWS calls clean and under
//!   10 % throttling + 5 % 5xx (the fault proxy): StopLogging → logging again, the break
//!   at a spread moment of the resync interval.
//! - By the event path at `resyncSeconds: 3600` (so the poll cannot be what heals), for
//!   six breaks: StopLogging, log-file validation off, DeleteTrail, event selectors
//!   replaced, the bucket policy loosened, key rotation disabled; each times the call's
//!   event published (right after the call, as CloudTrail does) → the trail, bucket or
//!   key back as declared, a break a second after the last heal.
//!
//! Every condition is healed by the release controller as a process of its own
//! (`TRAILWARDEN_BIN`, what users run), reaching AWS through the bed's proxy and managing
//! only this run's policies. The two poll conditions run side by side; the event path
//! runs after them, alone, so nothing of the bench's own making shares the machine with
//! the heals it times. A heal is seen by asking every 20 ms.
//!
//! Prints p50 / p99 / max per condition. Not part of `make test` (it takes minutes);
//! `HEAL_CYCLES` sets the cycles per condition (default 30).

#[path = "e2e/events.rs"]
#[allow(dead_code)]
mod events;
#[path = "e2e/faults.rs"]
#[allow(dead_code)]
mod faults;
#[path = "e2e/support.rs"]
#[allow(dead_code)]
mod support;
#[path = "bench/common.rs"]
#[allow(dead_code)]
mod common;

use std::time::{Duration, Instant};

use serde_json::json;
use trailwarden::aws::AwsPort;
use trailwarden_core::trail::Selectors;
use trailwarden::aws::sdk::SdkAws;

use support::{account, create_policy, role, wait_synced};

/// The release controller under test, managing only the policies labelled with its run.
struct Run {
    label: String,
    _controller: common::Controller,
}

impl Run {
    async fn start(queue_url: &str) -> Self {
        let bin = std::env::var("TRAILWARDEN_BIN").expect("TRAILWARDEN_BIN: the release controller (make bench-heal sets it)");
        let label = support::unique_name("bench-heal");
        let log = std::path::PathBuf::from(common::bed_env("TRAILWARDEN_BED_DIR")).join("controller.log");
        let selector = format!("{}={label}", support::TEST_LABEL);
        let controller = common::Controller::start_selecting(&bin, queue_url, log, Some(&selector)).await;
        Run { label, _controller: controller }
    }

    fn policy(&self, name: &str, spec: serde_json::Value) -> trailwarden::k8s::api::TrailPolicy {
        support::labelled_policy(&self.label, name, spec)
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// A cheap deterministic spread of break moments over the resync interval.
fn offsets(n: usize) -> impl Iterator<Item = Duration> {
    (0..n).map(|i| Duration::from_millis(((i as u64 * 7919) % 50) * 100))
}

/// A stopped trail healed by the poll, with or without injected faults.
async fn poll_cycles(label: &str, run: &Run, faults: Option<serde_json::Value>, n: usize) -> String {
    let client = support::kube().await;
    let aws = support::aws().await;
    let acct = account(&aws, 1, 0).await;
    let _faults = faults.map(|rule| {
        let f = faults::Faults::for_account(&acct.id);
        f.set(rule);
        f
    });
    let name = support::unique_name("bench");
    create_policy(&client, &run.policy(&name, json!({
        "region": support::REGION, "account": role(&acct), "s3": {"bucketName": acct.buckets[0]}, "resyncSeconds": 5,
    })))
    .await;
    let arn = wait_synced(&client, &name).await.status.unwrap().trail_arn.unwrap();
    let mut times = vec![];
    for offset in offsets(n) {
        tokio::time::sleep(offset).await;
        aws.stop_logging(&acct.scope, &arn).await.unwrap();
        let stopped = Instant::now();
        until_healed(label, stopped, || async { aws.get_trail_status(&acct.scope, &arn).await.unwrap().is_logging }).await;
        times.push(stopped.elapsed());
    }
    line(label, times)
}

/// Polls `healed` every 20 ms until it holds; a heal slower than two minutes fails the run.
async fn until_healed<F, Fut>(label: &str, since: Instant, mut healed: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    while !healed().await {
        assert!(since.elapsed() < Duration::from_secs(120), "{label}: not healed within 120 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn line(label: &str, mut times: Vec<Duration>) -> String {
    times.sort();
    format!(
        "{label:<42} {:>3} cycles  p50 {:>6.2} s  p99 {:>6.2} s  max {:>6.2} s",
        times.len(),
        percentile(&times, 0.5).as_secs_f64(),
        percentile(&times, 0.99).as_secs_f64(),
        times.last().unwrap().as_secs_f64()
    )
}

/// The breaks healed through the event path, in the order they are measured.
#[derive(Clone, Copy, Debug)]
enum Break {
    StopLogging,
    ValidationOff,
    DeleteTrail,
    SelectorsReplaced,
    BucketPolicyLoosened,
    KeyRotationOff,
}

impl Break {
    const ALL: [Break; 6] = [
        Break::StopLogging,
        Break::ValidationOff,
        Break::DeleteTrail,
        Break::SelectorsReplaced,
        Break::BucketPolicyLoosened,
        Break::KeyRotationOff,
    ];

    fn label(self) -> &'static str {
        match self {
            Break::StopLogging => "event: StopLogging",
            Break::ValidationOff => "event: log-file validation off",
            Break::DeleteTrail => "event: DeleteTrail",
            Break::SelectorsReplaced => "event: event selectors replaced",
            Break::BucketPolicyLoosened => "event: bucket policy loosened",
            Break::KeyRotationOff => "event: key rotation disabled",
        }
    }
}

/// One trail with a managed bucket and key, declared event selectors, resync an hour.
struct Evented {
    aws: SdkAws,
    acct: support::Account,
    arn: String,
    declared: trailwarden_core::trail::TrailSettings,
    s3: aws_sdk_s3::Client,
    kms: aws_sdk_kms::Client,
}

impl Evented {
    async fn start(run: &Run) -> Self {
        let client = support::kube().await;
        let aws = support::aws().await;
        // No grants of its own: trailwarden writes this trail's statements (manage), and
        // the loosening break takes the condition off one of them.
        let acct = support::account_without_grants(&aws, 1, 1).await;
        let name = support::unique_name("bench-ev");
        create_policy(&client, &run.policy(&name, json!({
            "region": support::REGION, "account": role(&acct), "s3": {"bucketName": acct.buckets[0]},
            "kmsKeyId": acct.key_alias, "resyncSeconds": 3600,
            "eventSelectors": [{"readWriteType": "All", "includeManagementEvents": true,
                "dataResources": [{"type": "AWS::S3::Object", "values": [format!("arn:aws:s3:::{}/", acct.buckets[0])]}]}],
            "posture": {"bucket": {"manage": true}, "kms": {"manage": true}},
        })))
        .await;
        let arn = wait_synced(&client, &name).await.status.unwrap().trail_arn.unwrap();
        let declared = support::trail(&aws, &acct.scope, &name).await.unwrap().settings;
        let s3 = aws.s3(&acct.scope).await;
        let kms = aws_sdk_kms::Client::new(&aws.sdk_config(&acct.scope).await);
        Evented { aws, acct, arn, declared, s3, kms }
    }

    fn key_id(&self) -> &str {
        self.acct.key_arns[0].rsplit('/').next().unwrap()
    }

    async fn bucket_policy(&self) -> serde_json::Value {
        let text = self.s3.get_bucket_policy().bucket(&self.acct.buckets[0]).send().await.unwrap().policy.unwrap();
        serde_json::from_str(&text).unwrap()
    }

    /// The id of this trail's write statement in the bucket policy.
    fn write_sid(&self) -> String {
        use trailwarden_core::posture::document::{BUCKET_WRITE_SID, trail_sid};
        trail_sid(BUCKET_WRITE_SID, &self.arn)
    }

    /// Our write statement's `aws:SourceArn` condition, which keeps other trails out.
    async fn write_statement_limited(&self) -> bool {
        let policy = self.bucket_policy().await;
        policy["Statement"].as_array().unwrap().iter().any(|s| {
            s["Sid"] == self.write_sid() && s["Condition"]["StringEquals"]["aws:SourceArn"] == self.arn.as_str()
        })
    }

    /// Breaks it as someone would, then publishes the call's event: the moment it is published.
    async fn break_it(&self, kind: Break) -> Instant {
        let (scope, arn, id) = (&self.acct.scope, &self.arn, &self.acct.id);
        let (source, event, params) = match kind {
            Break::StopLogging => {
                self.aws.stop_logging(scope, arn).await.unwrap();
                ("aws.cloudtrail", "StopLogging", json!({"name": arn}))
            }
            Break::ValidationOff => {
                let mut weak = self.declared.clone();
                weak.log_file_validation = false;
                self.aws.update_trail(scope, arn, &self.declared, &weak).await.unwrap();
                ("aws.cloudtrail", "UpdateTrail", json!({"name": arn}))
            }
            Break::DeleteTrail => {
                self.aws.delete_trail(scope, arn).await.unwrap();
                ("aws.cloudtrail", "DeleteTrail", json!({"name": arn}))
            }
            Break::SelectorsReplaced => {
                self.aws.put_event_selectors(scope, arn, &Selectors::aws_default()).await.unwrap();
                ("aws.cloudtrail", "PutEventSelectors", json!({"trailName": arn}))
            }
            Break::BucketPolicyLoosened => {
                // Any trail, in any account, may now write into the bucket.
                let mut policy = self.bucket_policy().await;
                for statement in policy["Statement"].as_array_mut().unwrap() {
                    if statement["Sid"] == self.write_sid() {
                        statement.as_object_mut().unwrap().remove("Condition");
                    }
                }
                self.s3.put_bucket_policy().bucket(&self.acct.buckets[0]).policy(policy.to_string()).send().await.unwrap();
                ("aws.s3", "PutBucketPolicy", json!({"bucketName": self.acct.buckets[0]}))
            }
            Break::KeyRotationOff => {
                self.kms.disable_key_rotation().key_id(self.key_id()).send().await.unwrap();
                ("aws.kms", "DisableKeyRotation", json!({"keyId": self.acct.key_arns[0]}))
            }
        };
        events::publish(source, event, id, params, None);
        Instant::now()
    }

    /// Whether the trail, bucket or key is back as declared.
    async fn healed(&self, kind: Break) -> bool {
        let (scope, arn) = (&self.acct.scope, &self.arn);
        match kind {
            Break::StopLogging | Break::DeleteTrail => {
                self.aws.get_trail_status(scope, arn).await.is_ok_and(|s| s.is_logging)
            }
            Break::ValidationOff => self
                .aws
                .describe_trails(scope, "")
                .await
                .unwrap()
                .iter()
                .any(|t| t.arn == *arn && t.settings.log_file_validation),
            Break::SelectorsReplaced => !self.aws.get_event_selectors(scope, arn).await.unwrap().is_aws_default(),
            Break::BucketPolicyLoosened => self.write_statement_limited().await,
            Break::KeyRotationOff => {
                self.kms.get_key_rotation_status().key_id(self.key_id()).send().await.unwrap().key_rotation_enabled()
            }
        }
    }
}

/// Each break `n` times through the event path, one after another on one trail.
async fn event_cycles(run: &Run, n: usize) -> Vec<String> {
    let trail = Evented::start(run).await;
    let mut lines = vec![];
    for kind in Break::ALL {
        let mut times = vec![];
        for _ in 0..n {
            // A break a second after the last heal: trailwarden paces its writes to one a
            // second per API, account and region (src/aws/limiter.rs), so
            // a break sooner would time that pacing, not the heal. (A trail stopped again
            // and again is restarted at that pace: tests/e2e/attack.rs.)
            tokio::time::sleep(Duration::from_secs(1)).await;
            assert!(trail.healed(kind).await, "{kind:?}: not as declared before the break");
            let published = trail.break_it(kind).await;
            assert!(!trail.healed(kind).await, "{kind:?}: the break did not take");
            until_healed(kind.label(), published, || trail.healed(kind)).await;
            times.push(published.elapsed());
        }
        lines.push(line(kind.label(), times));
    }
    lines
}

#[tokio::test]
async fn heal_times() {
    let n: usize = std::env::var("HEAL_CYCLES").ok().and_then(|v| v.parse().ok()).unwrap_or(30);
    let queue_url = tokio::task::spawn_blocking(events::queue_and_rule).await.unwrap();
    let run = Run::start(&queue_url).await;
    let (clean, faulty) = tokio::join!(
        poll_cycles("poll: StopLogging, no faults", &run, None, n),
        poll_cycles("poll: StopLogging, 10% throttle + 5% 5xx", &run, Some(json!({"throttle": 0.10, "error5xx": 0.05})), n),
    );
    let evented = event_cycles(&run, n).await;
    println!("\nheal time (poll: resyncSeconds 5, break → healed; event path: resyncSeconds 3600, event published → healed):");
    println!("  {clean}\n  {faulty}");
    for line in evented {
        println!("  {line}");
    }
}
