//! `trailwarden check`: judge the trails of TrailPolicy manifests against AWS once,
//! without a cluster and without changing anything.

use anyhow::Context as _;
use trailwarden::api::TrailPolicy;
use trailwarden::aws::RateLimits;
use trailwarden::aws::sdk::{AwsOptions, SdkAws};

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
        rate_limits: RateLimits::default(),
        metrics: None,
    })
    .await;
    let mut judgements = vec![];
    for policy in &policies {
        let desired = trailwarden::k8s::desired::desired(policy)?;
        judgements.push(trailwarden::pass::judge(&port, desired, jiff::Timestamp::now()).await?);
    }
    match args.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&judgements)?),
        Output::Table => {
            for j in &judgements {
                let verdict = match j.compliant {
                    Some(true) => "COMPLIANT",
                    Some(false) => "NOT COMPLIANT",
                    None => "UNKNOWN",
                };
                println!("{}  {}  {verdict}", j.policy, j.trail_arn);
                println!("  {:<8} {:<9} {:<27} {:<40} MESSAGE", "STATUS", "REQUIRED", "CHECK", "CONTROLS");
                for f in &j.findings {
                    let required = if f.required { "yes" } else { "no" };
                    println!("  {:<8} {:<9} {:<27} {:<40} {}", format!("{:?}", f.status), required, f.id, f.controls.join(", "), f.message);
                }
            }
        }
    }
    let failing = judgements.iter().any(|j| j.compliant == Some(false));
    Ok(if failing { std::process::ExitCode::from(1) } else { std::process::ExitCode::SUCCESS })
}

