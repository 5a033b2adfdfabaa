use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use tokio::sync::watch;
use tracing::{info, warn};
use tracing_subscriber::EnvFilter;
use trailwarden::api::TrailPolicy;
use trailwarden::aws::RateLimits;
use trailwarden::aws::sdk::{AwsOptions, SdkAws};
use trailwarden::controller::{self, ControllerOptions};
use trailwarden::http::{self, Readiness};
use trailwarden::leader::{LeaderElector, LeaseConfig};
use trailwarden::metrics::Metrics;

/// Keeps AWS CloudTrail trails the way TrailPolicy resources declare them.
#[derive(Parser)]
#[command(name = "trailwarden", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the controller (uses the in-cluster config or KUBECONFIG, and the standard AWS credential chain).
    Run(RunArgs),
    /// Print the TrailPolicy CustomResourceDefinition as YAML.
    Crd,
    /// Judge the trails of TrailPolicy manifests against AWS once, without a cluster and
    /// without changing anything. Exits 1 when a required check fails, 2 on errors.
    Check(CheckArgs),
}

#[derive(clap::Args)]
struct CheckArgs {
    /// A YAML file of one or more TrailPolicy documents ("-" reads standard input).
    #[arg(short = 'f', long = "filename")]
    file: String,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Output::Table)]
    output: Output,
    /// Send every AWS call to this endpoint instead of AWS.
    #[arg(long, env = "TRAILWARDEN_AWS_ENDPOINT")]
    aws_endpoint_url: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Output {
    Table,
    Json,
}

#[derive(clap::Args)]
struct RunArgs {
    /// Send every AWS call to this endpoint instead of AWS (an emulator, a VPC endpoint proxy).
    #[arg(long, env = "TRAILWARDEN_AWS_ENDPOINT")]
    aws_endpoint_url: Option<String>,
    /// Attempts per AWS call, the first included (the SDK's standard retry with back-off).
    #[arg(long, env = "TRAILWARDEN_AWS_MAX_ATTEMPTS", default_value_t = 3)]
    aws_max_attempts: u32,
    /// Our own pace for each CloudTrail read API, per account and region (AWS allows about 10/s, shared).
    #[arg(long, env = "TRAILWARDEN_AWS_READS_PER_SECOND", default_value_t = 10.0)]
    aws_reads_per_second: f64,
    /// Our own pace for each CloudTrail write API, per account and region (AWS allows about 1/s, shared).
    #[arg(long, env = "TRAILWARDEN_AWS_WRITES_PER_SECOND", default_value_t = 1.0)]
    aws_writes_per_second: f64,
    /// Only manage TrailPolicies with these labels (a Kubernetes label selector).
    #[arg(long, env = "TRAILWARDEN_SELECTOR")]
    selector: Option<String>,
    /// Log format.
    #[arg(long, env = "TRAILWARDEN_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Where /metrics, /healthz and /readyz listen.
    #[arg(long, env = "TRAILWARDEN_HTTP_ADDR", default_value = "0.0.0.0:8080")]
    http_addr: SocketAddr,
    /// Reconcile only while holding a coordination.k8s.io Lease (run several replicas safely).
    #[arg(long, env = "TRAILWARDEN_LEADER_ELECTION")]
    leader_election: bool,
    /// Name of the Lease.
    #[arg(long, env = "TRAILWARDEN_LEASE_NAME", default_value = "trailwarden")]
    lease_name: String,
    /// Namespace of the Lease (default: the pod's namespace, else "default").
    #[arg(long, env = "TRAILWARDEN_LEASE_NAMESPACE")]
    lease_namespace: Option<String>,
    /// Seconds a leader's lease lasts without renewal; a standby takes over after that.
    #[arg(long, env = "TRAILWARDEN_LEASE_DURATION_SECONDS", default_value_t = 15)]
    lease_duration_seconds: u64,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
}

/// Resolves once `stop` turns true.
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    init_logging(args.log_format);
    let metrics = Metrics::new();
    let readiness = Arc::new(Readiness::default());
    tokio::spawn(http::serve(args.http_addr, metrics.clone(), readiness.clone()).await?);

    let client = kube::Client::try_default().await?;
    let port = SdkAws::new(AwsOptions {
        endpoint_url: args.aws_endpoint_url,
        max_attempts: args.aws_max_attempts,
        rate_limits: RateLimits {
            reads_per_second: args.aws_reads_per_second,
            writes_per_second: args.aws_writes_per_second,
        },
        metrics: Some(metrics.aws.clone()),
    })
    .await;
    let instance = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "trailwarden".into());
    let options = ControllerOptions {
        label_selector: args.selector,
        instance: instance.clone(),
        metrics: metrics.clone(),
        readiness: readiness.clone(),
    };
    let (stop_tx, stop) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });

    if !args.leader_election {
        metrics.leader.set(1);
        return controller::run(client, port, options, stopped(stop)).await;
    }

    // A standby is ready once the CRD is served; the leader once its watch has synced.
    kube::Api::<TrailPolicy>::all(client.clone())
        .list(&kube::api::ListParams::default().limit(1))
        .await
        .context("cannot list TrailPolicies: is the CRD installed?")?;
    readiness.set(true);
    let namespace = args
        .lease_namespace
        .or_else(|| std::env::var("POD_NAMESPACE").ok())
        .unwrap_or_else(|| "default".into());
    let elector = Arc::new(LeaderElector::new(
        client.clone(),
        LeaseConfig {
            name: args.lease_name,
            namespace,
            identity: instance,
            duration: Duration::from_secs(args.lease_duration_seconds.max(2)),
        },
    ));
    info!(lease = %elector.config().name, namespace = %elector.config().namespace, "waiting to become leader");
    tokio::select! {
        acquired = elector.acquire() => acquired?,
        _ = stopped(stop.clone()) => return Ok(()),
    }
    metrics.leader.set(1);

    let (lost_tx, lost) = watch::channel(false);
    let renewer = {
        let elector = elector.clone();
        tokio::spawn(async move {
            let config = elector.config().clone();
            let mut renewed = tokio::time::Instant::now();
            loop {
                tokio::time::sleep(config.renew_every()).await;
                match elector.renew().await {
                    Ok(true) => renewed = tokio::time::Instant::now(),
                    Ok(false) => break,
                    Err(e) if renewed.elapsed() < config.duration => warn!(error = %e, "lease renewal failed; retrying"),
                    Err(e) => {
                        warn!(error = %e, "could not renew the lease for a whole lease duration");
                        break;
                    }
                }
            }
            let _ = lost_tx.send(true);
        })
    };
    let lost_or_stopped = {
        let (stop, lost) = (stop.clone(), lost.clone());
        async move {
            tokio::select! {
                _ = stopped(stop) => {}
                _ = stopped(lost) => {}
            }
        }
    };
    controller::run(client, port, options, lost_or_stopped).await?;
    renewer.abort();
    metrics.leader.set(0);
    if *lost.borrow() {
        anyhow::bail!("lost the leader lease; exiting so a restart rejoins as a standby");
    }
    elector.release().await?;
    Ok(())
}

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

async fn check(args: CheckArgs) -> anyhow::Result<std::process::ExitCode> {
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
        judgements.push(trailwarden::reconcile::judge(&port, policy, jiff::Timestamp::now()).await?);
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

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let result = match Cli::parse().command {
        Command::Crd => {
            print!("{}", trailwarden::api::crd_yaml());
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Run(args) => run(args).await.map(|()| std::process::ExitCode::SUCCESS),
        Command::Check(args) => check(args).await,
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        std::process::ExitCode::from(2)
    })
}
