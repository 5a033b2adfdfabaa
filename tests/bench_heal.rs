//! `make bench-heal`: how long a stopped trail stays stopped, measured on the bed: by the
//! poll at `resyncSeconds: 5`, with the controller's AWS calls clean and under 10 %
//! throttling + 5 % 5xx (the fault proxy); and by the event path at `resyncSeconds: 3600`
//! (the call's event published right after it, as CloudTrail does). Each cycle stops
//! logging at a spread moment and times StopLogging → logging again; prints p50 / p99 /
//! max per condition. Not part of `make test` (it takes minutes); `HEAL_CYCLES` sets the
//! cycles (default 30).

#[path = "e2e/events.rs"]
#[allow(dead_code)]
mod events;
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

/// How the controller learns of a break: its resync, or the event path.
enum Path {
    Poll { port: SdkAws, faults: Option<serde_json::Value> },
    Events,
}

async fn cycles(label: &str, path: Path, n: usize) -> String {
    let client = support::kube().await;
    let aws = support::aws().await;
    let acct = account(&aws, 1, 0).await;
    let (controller, resync, _faults) = match path {
        Path::Poll { port, faults } => {
            let rule = faults.map(|rule| {
                let f = faults::Faults::for_account(&acct.id);
                f.set(rule);
                f
            });
            (Controller::start_with(client.clone(), port), 5, rule)
        }
        Path::Events => (Controller::start_with_events(client.clone(), &events::queue_and_rule()).await, 3600, None),
    };
    let evented = resync == 3600;
    let name = support::unique_name("bench");
    create_policy(&client, &controller.policy(&name, json!({
        "region": support::REGION, "account": role(&acct), "s3": {"bucketName": acct.buckets[0]}, "resyncSeconds": resync,
    })))
    .await;
    let arn = wait_synced(&client, &name).await.status.unwrap().trail_arn.unwrap();
    let mut times = vec![];
    for offset in offsets(n) {
        tokio::time::sleep(offset).await;
        aws.stop_logging(&acct.scope, &arn).await.unwrap();
        let stopped = Instant::now();
        if evented {
            events::publish("aws.cloudtrail", "StopLogging", &acct.id, json!({"name": arn}), None);
        }
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
    let (clean, faulty, evented) = tokio::join!(
        cycles("poll, no faults", Path::Poll { port: support::aws().await, faults: None }, n),
        cycles(
            "poll, 10% throttling + 5% 5xx",
            Path::Poll { port: faults::faulty_aws().await, faults: Some(json!({"throttle": 0.10, "error5xx": 0.05})) },
            n
        ),
        cycles("event path (resync 3600 s)", Path::Events, n),
    );
    println!("\nheal time, StopLogging → logging (poll: resyncSeconds 5):\n  {clean}\n  {faulty}\n  {evented}");
}
