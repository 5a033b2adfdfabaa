//! `make bench-heal`: how long a stopped trail stays stopped, measured on the bed at
//! `resyncSeconds: 5`, with the controller's AWS calls clean and under 10 % throttling +
//! 5 % 5xx (the fault proxy). Each cycle stops logging at a random moment of the resync
//! and times StopLogging → logging again; prints p50 / p99 / max per condition.
//! Not part of `make test` (it takes minutes); `HEAL_CYCLES` sets the cycles (default 30).

#[path = "e2e/faults.rs"]
#[allow(dead_code)]
mod faults;
#[path = "e2e/support.rs"]
#[allow(dead_code)]
mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use trailwarden::aws::AwsPort;
use trailwarden::aws::sdk::SdkAws;

use support::{Controller, account, create_policy, role, wait_synced};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// A cheap deterministic spread of break moments over the resync interval.
fn offsets(n: usize) -> impl Iterator<Item = Duration> {
    (0..n).map(|i| Duration::from_millis(((i as u64 * 7919) % 50) * 100))
}

async fn cycles(label: &str, port: SdkAws, rule: Option<serde_json::Value>, n: usize) -> String {
    let client = support::kube().await;
    let aws = support::aws().await;
    let acct = account(&aws, 1, 0).await;
    let _faults = rule.map(|rule| {
        let f = faults::Faults::for_account(&acct.id);
        f.set(rule);
        f
    });
    let controller = Controller::start_with(client.clone(), port);
    let name = support::unique_name("bench");
    create_policy(&client, &controller.policy(&name, json!({
        "region": support::REGION, "account": role(&acct), "s3": {"bucketName": acct.buckets[0]}, "resyncSeconds": 5,
    })))
    .await;
    let arn = wait_synced(&client, &name).await.status.unwrap().trail_arn.unwrap();
    let mut times = vec![];
    for offset in offsets(n) {
        tokio::time::sleep(offset).await;
        aws.stop_logging(&acct.scope, &arn).await.unwrap();
        let stopped = Instant::now();
        while !aws.get_trail_status(&acct.scope, &arn).await.unwrap().is_logging {
            assert!(stopped.elapsed() < Duration::from_secs(120), "{label}: not healed within 120 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        times.push(stopped.elapsed());
    }
    times.sort();
    format!(
        "{label:<32} {n:>3} cycles  p50 {:>6.2} s  p99 {:>6.2} s  max {:>6.2} s",
        percentile(&times, 0.5).as_secs_f64(),
        percentile(&times, 0.99).as_secs_f64(),
        times.last().unwrap().as_secs_f64()
    )
}

#[tokio::test]
async fn heal_after_stop_logging() {
    let n: usize = std::env::var("HEAL_CYCLES").ok().and_then(|v| v.parse().ok()).unwrap_or(30);
    let (clean, faulty) = tokio::join!(
        cycles("no faults", support::aws().await, None, n),
        cycles("10% throttling + 5% 5xx", faults::faulty_aws().await, Some(json!({"throttle": 0.10, "error5xx": 0.05})), n),
    );
    println!("\nheal time, StopLogging → logging, resyncSeconds 5 (the poll; no event path):\n  {clean}\n  {faulty}");
}
