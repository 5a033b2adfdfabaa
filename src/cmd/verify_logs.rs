//! `trailwarden verify-logs`: an auditor's window of a trail's logs, proven intact or not,
//! from the digest chain CloudTrail wrote — the controller's verifier, run once.
//!
//! Exit codes: 0 every digest and log file in the window is intact; 1 something is not
//! (each finding printed); 2 the chain could not be judged (no access, no public keys,
//! a bad argument).

use anyhow::{Context, bail};
use jiff::Timestamp;
use serde::Serialize;
use trailwarden::aws::sdk::{AwsOptions, SdkAws};
use trailwarden::aws::AwsPort;
use trailwarden::integrity::Walk;
use trailwarden_core::Scope;
use trailwarden_core::integrity::{DigestLocation, Verdict};

use crate::{VerifyLogsArgs, VerifyOutput};

/// What the JSON output holds.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report<'a> {
    trail_arn: &'a str,
    bucket: &'a str,
    prefix: Option<&'a str>,
    from: Timestamp,
    to: Timestamp,
    intact: bool,
    digests_valid: u32,
    digests_invalid: usize,
    logs_valid: u32,
    logs_invalid: usize,
    #[serde(flatten)]
    verdict: &'a Verdict,
}

pub async fn verify_logs(args: VerifyLogsArgs) -> anyhow::Result<std::process::ExitCode> {
    let parts: Vec<&str> = args.trail_arn.split(':').collect();
    let (home_region, owner, name) = match parts.as_slice() {
        ["arn", _, "cloudtrail", region, account, resource] if resource.starts_with("trail/") => {
            (*region, *account, &resource["trail/".len()..])
        }
        _ => bail!("not a trail ARN: {}", args.trail_arn),
    };
    let to = args.end_time.unwrap_or_else(Timestamp::now);
    if args.start_time > to {
        bail!("--start-time {} is after --end-time {to}", args.start_time);
    }
    let port = SdkAws::new(AwsOptions::one_shot(args.aws_endpoint_url.clone())).await;
    let scope = Scope { role_arn: None, external_id: None, region: home_region.to_owned() };
    let (bucket, prefix, organization) = match args.s3_bucket.clone() {
        Some(bucket) => (bucket, args.s3_prefix.clone(), args.organization_id.clone()),
        None => {
            let trails = port.describe_trails(&scope, name).await.context("DescribeTrails")?;
            let trail = trails.into_iter().find(|t| t.arn == args.trail_arn).with_context(|| format!("no trail {}", args.trail_arn))?;
            let organization = match (&args.organization_id, trail.settings.organization) {
                (Some(id), _) => Some(id.clone()),
                (None, true) => port.organization(&scope, owner).await.context("DescribeOrganization")?.map(|o| o.id),
                (None, false) => None,
            };
            (trail.settings.bucket, args.s3_prefix.clone().or(trail.settings.key_prefix), organization)
        }
    };
    if organization.is_some() && args.account_id.is_none() {
        bail!("an organization trail's logs are kept per member account: name one with --account-id");
    }
    let location = DigestLocation {
        bucket: bucket.clone(),
        prefix: prefix.clone(),
        organization_id: organization,
        account: args.account_id.clone().unwrap_or_else(|| owner.to_owned()),
        region: args.region.clone().unwrap_or_else(|| home_region.to_owned()),
        trail_name: name.to_owned(),
        home_region: home_region.to_owned(),
    };
    let walk = Walk { port: &port, scope: &scope, location: &location };
    let verdict = walk.run(args.start_time, to, None).await?;
    let report = Report {
        trail_arn: &args.trail_arn,
        bucket: &bucket,
        prefix: prefix.as_deref(),
        from: args.start_time,
        to,
        intact: verdict.intact(),
        digests_valid: verdict.digests_valid,
        digests_invalid: verdict.digests_invalid(),
        logs_valid: verdict.logs_valid,
        logs_invalid: verdict.logs_invalid(),
        verdict: &verdict,
    };
    match args.output {
        VerifyOutput::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        VerifyOutput::Text => print_text(&report),
    }
    Ok(if verdict.intact() { std::process::ExitCode::SUCCESS } else { std::process::ExitCode::from(1) })
}

fn print_text(report: &Report<'_>) {
    println!("Log files of {} between {} and {}:", report.trail_arn, report.from, report.to);
    for finding in &report.verdict.findings {
        let what = if finding.problem.is_digest() { "Digest file" } else { "Log file" };
        let problem: &str = finding.problem.into();
        println!("{what}\t{}\tINVALID ({problem}): {}", finding.object(), finding.detail);
    }
    for gap in &report.verdict.gaps {
        println!("No digest between {} and {} (logging or validation was off)", gap.from, gap.to);
    }
    println!(
        "{}/{} digest files valid, {}/{} log files valid: {}",
        report.digests_valid,
        report.digests_valid as usize + report.digests_invalid,
        report.logs_valid,
        report.logs_valid as usize + report.logs_invalid,
        if report.intact { "intact" } else { "NOT intact" }
    );
}
