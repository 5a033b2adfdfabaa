use clap::{Parser, Subcommand, ValueEnum};
use tracing_subscriber::EnvFilter;
use trailwarden::aws::RateLimits;
use trailwarden::aws::sdk::{AwsOptions, SdkAws};
use trailwarden::controller::{self, ControllerOptions};

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

async fn run(args: RunArgs) -> anyhow::Result<()> {
    init_logging(args.log_format);
    let client = kube::Client::try_default().await?;
    let port = SdkAws::new(AwsOptions {
        endpoint_url: args.aws_endpoint_url,
        max_attempts: args.aws_max_attempts,
        rate_limits: RateLimits {
            reads_per_second: args.aws_reads_per_second,
            writes_per_second: args.aws_writes_per_second,
        },
    })
    .await;
    let instance = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "trailwarden".into());
    let options = ControllerOptions { label_selector: args.selector, instance };
    controller::run(client, port, options, shutdown_signal()).await
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Crd => print!("{}", trailwarden::api::crd_yaml()),
        Command::Run(args) => run(args).await?,
    }
    Ok(())
}
