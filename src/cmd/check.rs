//! `trailwarden check`: judge the trails of TrailPolicy manifests against AWS once,
//! without a cluster and without changing anything.

use std::io::Write as _;

use anyhow::Context as _;
use trailwarden::api::TrailPolicy;
use trailwarden::aws::RateLimits;
use trailwarden::aws::sdk::{AwsOptions, SdkAws};
use trailwarden::pass::Judgement;

use crate::{CheckArgs, Output};

fn read_policies(file: &str) -> anyhow::Result<Vec<TrailPolicy>> {
    use serde::Deserialize as _;
    let text = if file == "-" {
        std::io::read_to_string(std::io::stdin())?
    } else {
        std::fs::read_to_string(file).with_context(|| format!("cannot read {file}"))?
    };
    let mut policies = vec![];
    for (i, document) in serde_yaml::Deserializer::from_str(&text).enumerate() {
        let value = serde_yaml::Value::deserialize(document).with_context(|| format!("{file}: document {} is not YAML", i + 1))?;
        if value.is_null() {
            continue;
        }
        let mut policy: TrailPolicy =
            serde_yaml::from_value(value).with_context(|| format!("{file}: document {} is not a TrailPolicy", i + 1))?;
        // Not stored by an API server: stand in for the uid it would give.
        policy.metadata.uid.get_or_insert_with(|| "trailwarden-check".into());
        policies.push(policy);
    }
    anyhow::ensure!(!policies.is_empty(), "{file} holds no TrailPolicy");
    Ok(policies)
}

pub(crate) async fn check(args: CheckArgs) -> anyhow::Result<std::process::ExitCode> {
    let policies = read_policies(&args.file)?;
    let port = SdkAws::new(AwsOptions {
        endpoint_url: args.aws_endpoint_url,
        max_attempts: 3,
        retry_mode: Default::default(),
        rate_limits: RateLimits::default(),
        metrics: None,
        // One look per policy: nothing to share between passes.
        shared_reads: std::time::Duration::ZERO,
    })
    .await;
    let mut judgements = vec![];
    for policy in &policies {
        let desired = trailwarden::k8s::desired::desired(policy)?;
        judgements.push(trailwarden::pass::judge(&port, desired, jiff::Timestamp::now()).await?);
    }
    let text = match args.output {
        Output::Json => serde_json::to_string_pretty(&judgements)? + "\n",
        Output::Table => table(&judgements),
    };
    // A reader that has seen enough (`| head`) is no error of ours.
    match std::io::stdout().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
        _ => {}
    }
    let failing = judgements.iter().any(|j| j.compliant == Some(false));
    Ok(if failing { std::process::ExitCode::from(1) } else { std::process::ExitCode::SUCCESS })
}

fn table(judgements: &[Judgement]) -> String {
    let mut out = String::new();
    for j in judgements {
        let verdict = match j.compliant {
            Some(true) => "COMPLIANT",
            Some(false) => "NOT COMPLIANT",
            None => "UNKNOWN",
        };
        out += &format!("{}  {}  {verdict}\n", j.policy, j.trail_arn);
        out += &format!("  {:<8} {:<9} {:<27} {:<40} MESSAGE\n", "STATUS", "REQUIRED", "CHECK", "CONTROLS");
        for f in &j.findings {
            let required = if f.required { "yes" } else { "no" };
            let status = format!("{:?}", f.status);
            out += &format!("  {status:<8} {required:<9} {:<27} {:<40} {}\n", f.id, f.controls.join(", "), f.message);
        }
    }
    out
}
