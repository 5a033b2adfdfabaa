//! The real binary as a test starts it: `trailwarden run` processes with their own HTTP
//! port and JSON log, and the few things every test of them needs.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use kube::api::Api;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};
use trailwarden::api::TrailPolicy;

use crate::support::{self, TEST_LABEL, condition, eventually};

pub const WAIT: Duration = Duration::from_secs(60);

/// A `trailwarden run` process with its own HTTP port and log file.
pub struct Replica {
    pub name: String,
    pub child: Child,
    pub http: u16,
    pub log: PathBuf,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Replica {
    pub fn start(name: &str, label: &str, extra: &[&str]) -> Replica {
        Replica::start_with(name, label, extra, &[])
    }

    /// As [`Replica::start`], with extra environment (another KUBECONFIG, say).
    pub fn start_with(name: &str, label: &str, extra: &[&str], env: &[(&str, &str)]) -> Replica {
        let http = free_port();
        let log = PathBuf::from(std::env::var("TRAILWARDEN_BED_DIR").unwrap()).join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_trailwarden"))
            .arg("run")
            .args(["--http-addr", &format!("127.0.0.1:{http}")])
            .args(["--selector", &format!("{TEST_LABEL}={label}")])
            .args(["--log-format", "json", "--aws-max-attempts", "1"])
            .args(extra)
            .env("POD_NAME", name)
            .env("RUST_LOG", "info,trailwarden=debug")
            .envs(env.iter().copied())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("trailwarden binary starts");
        Replica { name: name.to_owned(), child, http, log }
    }

    pub async fn get(&self, path: &str) -> Option<(u16, String)> {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", self.http)).await.ok()?;
        stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes()).await.ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).await.ok()?;
        let code = response.split_whitespace().nth(1)?.parse().ok()?;
        let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
        Some((code, body))
    }

    pub async fn metrics(&self) -> String {
        self.get("/metrics").await.map(|(_, body)| body).unwrap_or_default()
    }

    pub async fn is_leader(&self) -> bool {
        self.metrics().await.lines().any(|l| l == "trailwarden_leader 1")
    }

    pub fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("running").to_string();
        let status = std::process::Command::new("kill").args([signal, &pid]).status().unwrap();
        assert!(status.success(), "kill {signal} {pid}");
    }

    /// (start, end) of every reconcile this replica logged, from its JSON log.
    pub fn reconciles(&self) -> Vec<(jiff::Timestamp, jiff::Timestamp)> {
        let text = std::fs::read_to_string(&self.log).unwrap();
        let mut spans = vec![];
        let mut open = None;
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else { continue };
            let (Some(message), Some(ts)) = (v["message"].as_str(), v["timestamp"].as_str()) else { continue };
            let ts: jiff::Timestamp = ts.parse().unwrap();
            if message == "reconcile started" {
                open = Some(ts);
            } else if message.starts_with("reconcile finished") || message == "trail remediated" || message == "reconcile failed" {
                spans.push((open.take().unwrap_or(ts), ts));
            }
        }
        spans
    }

    /// When this replica sent each AWS write, from its JSON log ("AWS write" lines).
    pub fn writes(&self) -> Vec<(jiff::Timestamp, String)> {
        let text = std::fs::read_to_string(&self.log).unwrap();
        text.lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|v| v["message"] == "AWS write")
            .map(|v| (v["timestamp"].as_str().unwrap().parse().unwrap(), v["operation"].as_str().unwrap_or_default().to_owned()))
            .collect()
    }
}

pub async fn account_with_bucket(aws: &trailwarden::aws::sdk::SdkAws) -> (String, trailwarden_core::Scope, String) {
    let (id, scope) = support::fresh_account();
    let bucket = support::unique_name("logs");
    let s3 = aws.s3(&scope).await;
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    support::open_to_cloudtrail(&s3, &bucket, &id).await;
    (id, scope, bucket)
}

pub fn policy(name: &str, label: &str, account: &str, bucket: &str) -> TrailPolicy {
    serde_json::from_value(json!({
        "apiVersion": "trailwarden.dev/v1alpha1", "kind": "TrailPolicy",
        "metadata": {"name": name, "labels": {TEST_LABEL: label}},
        "spec": {
            "region": support::REGION,
            "account": {"roleArn": format!("arn:aws:iam::{account}:role/trailwarden")},
            "s3": {"bucketName": bucket}, "resyncSeconds": 5,
        },
    }))
    .unwrap()
}

pub async fn wait_synced(api: &Api<TrailPolicy>, name: &str) {
    eventually(&format!("{name} synced"), WAIT, || async {
        let p = api.get(name).await.ok()?;
        (condition(&p, "Synced").map(|c| c.0) == Some("True".into())).then_some(())
    })
    .await;
}
