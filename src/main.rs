//! The `trailwarden` command: `run` the controller, print the `crd`, or `check` policies.

mod cmd;

use std::net::SocketAddr;

use clap::{Parser, Subcommand, ValueEnum};

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
    Run(Box<RunArgs>),
    /// Print the TrailPolicy CustomResourceDefinition as YAML (`--kind TrailPolicySet`
    /// for the TrailPolicySet's, `--all` for both).
    Crd(CrdArgs),
    /// Judge the trails of TrailPolicy manifests against AWS once, without a cluster and
    /// without changing anything. Exits 2 when an input cannot be read or validated or a
    /// policy cannot be judged, else 1 when a required check fails (or, by default, is
    /// unknown), else 0.
    Check(CheckArgs),
    /// Prove a trail's log files intact over a window, from the digest chain CloudTrail
    /// writes with log-file validation on (what `aws cloudtrail validate-logs` checks).
    /// Exits 0 when every digest and log file in the window is intact, 1 when one is not,
    /// 2 when the chain could not be judged.
    VerifyLogs(VerifyLogsArgs),
}

#[derive(clap::Args)]
pub(crate) struct CrdArgs {
    /// The kind whose CRD to print.
    #[arg(long, value_enum, default_value = "TrailPolicy")]
    pub(crate) kind: CrdKind,
    /// Both CRDs, TrailPolicy then TrailPolicySet, as one multi-document YAML.
    #[arg(long, conflicts_with = "kind")]
    pub(crate) all: bool,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum CrdKind {
    #[value(name = "TrailPolicy")]
    TrailPolicy,
    #[value(name = "TrailPolicySet")]
    TrailPolicySet,
}

#[derive(clap::Args)]
pub(crate) struct VerifyLogsArgs {
    /// The trail's ARN (arn:aws:cloudtrail:<home region>:<owner>:trail/<name>).
    #[arg(long)]
    pub(crate) trail_arn: String,
    /// The window's start (RFC 3339, e.g. 2026-12-01T00:00:00Z): digests that end at or
    /// after it are verified.
    #[arg(long)]
    pub(crate) start_time: jiff::Timestamp,
    /// The window's end (default: now).
    #[arg(long)]
    pub(crate) end_time: Option<jiff::Timestamp>,
    /// The bucket the digests are in, when it is no longer the trail's (default: the
    /// trail's, from DescribeTrails).
    #[arg(long)]
    pub(crate) s3_bucket: Option<String>,
    /// The key prefix, when it is no longer the trail's.
    #[arg(long)]
    pub(crate) s3_prefix: Option<String>,
    /// For an organization trail: the member account whose logs to verify.
    #[arg(long)]
    pub(crate) account_id: Option<String>,
    /// For an organization trail read with --s3-bucket: the organization's id (o-...).
    #[arg(long)]
    pub(crate) organization_id: Option<String>,
    /// The region whose digests to verify (default: the trail's home region).
    #[arg(long)]
    pub(crate) region: Option<String>,
    /// text (people) or json (machines).
    #[arg(short = 'o', long = "output", value_enum, default_value_t = VerifyOutput::Text)]
    pub(crate) output: VerifyOutput,
    /// Send every AWS call to this endpoint instead of AWS.
    #[arg(long, env = "TRAILWARDEN_AWS_ENDPOINT")]
    pub(crate) aws_endpoint_url: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum VerifyOutput {
    Text,
    Json,
}

#[derive(clap::Args)]
pub(crate) struct CheckArgs {
    /// A YAML file of one or more documents, or a directory of them (its *.yaml and *.yml
    /// files, in name order); "-" reads standard input. Repeat for more. Documents of
    /// other kinds are skipped and counted.
    #[arg(short = 'f', long = "filename", required = true)]
    pub(crate) files: Vec<String>,
    /// Also read the subdirectories of directories given with -f.
    #[arg(short = 'R', long)]
    pub(crate) recursive: bool,
    /// Output format: table (people), json, sarif (SARIF 2.1.0, for code scanning) or
    /// junit (JUnit XML, for CI test reports). The totals go to standard error for the
    /// machine formats.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Output::Table)]
    pub(crate) output: Output,
    /// Exit 1 on a required check that fails (fail), or also on one that could not be
    /// evaluated (unknown).
    #[arg(long, value_enum, default_value_t = cmd::check::FailOn::Unknown)]
    pub(crate) fail_on: cmd::check::FailOn,
    /// Send every AWS call to this endpoint instead of AWS.
    #[arg(long, env = "TRAILWARDEN_AWS_ENDPOINT")]
    pub(crate) aws_endpoint_url: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Output {
    Table,
    Json,
    Sarif,
    Junit,
}

#[derive(clap::Args)]
pub(crate) struct RunArgs {
    /// Send every AWS call to this endpoint instead of AWS (an emulator, a VPC endpoint proxy).
    #[arg(long, env = "TRAILWARDEN_AWS_ENDPOINT")]
    pub(crate) aws_endpoint_url: Option<String>,
    /// Attempts per AWS call, the first included (the SDK's standard retry with back-off).
    #[arg(long, env = "TRAILWARDEN_AWS_MAX_ATTEMPTS", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=10))]
    pub(crate) aws_max_attempts: u32,
    /// Longest wait for one attempt of an AWS call (its answer included); a call that
    /// never answers is abandoned and, within --aws-max-attempts, tried again.
    #[arg(long, env = "TRAILWARDEN_AWS_ATTEMPT_TIMEOUT_SECONDS", default_value_t = trailwarden::aws::sdk::DEFAULT_ATTEMPT_TIMEOUT.as_secs_f64(), value_parser = timeout_seconds)]
    pub(crate) aws_attempt_timeout_seconds: f64,
    /// Longest wait for an AWS call, its retries and their back-off included: no call, and
    /// so no shared read or lock held across one, outlives it.
    #[arg(long, env = "TRAILWARDEN_AWS_OPERATION_TIMEOUT_SECONDS", default_value_t = trailwarden::aws::sdk::DEFAULT_OPERATION_TIMEOUT.as_secs_f64(), value_parser = timeout_seconds)]
    pub(crate) aws_operation_timeout_seconds: f64,
    /// Most AWS calls in flight at once, over every account (the events queue's own calls
    /// apart). Each call in flight holds a connection, and connections are what a burst of
    /// passes costs in memory; the pace per account and region is --aws-reads-per-second.
    #[arg(long, env = "TRAILWARDEN_AWS_MAX_IN_FLIGHT", default_value_t = trailwarden::aws::sdk::DEFAULT_MAX_IN_FLIGHT, value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub(crate) aws_max_in_flight: u16,
    /// The AWS SDK's retry strategy: standard (back-off with jitter) or adaptive (also
    /// slows its own sending while AWS throttles).
    #[arg(long, env = "TRAILWARDEN_AWS_RETRY_MODE", value_enum, default_value_t = RetryModeArg::Standard)]
    pub(crate) aws_retry_mode: RetryModeArg,
    /// Our own pace for each CloudTrail read API, per account and region (AWS allows about 10/s, shared).
    #[arg(long, env = "TRAILWARDEN_AWS_READS_PER_SECOND", default_value_t = 10.0, value_parser = per_second)]
    pub(crate) aws_reads_per_second: f64,
    /// Our own pace for each CloudTrail write API, per account and region (AWS allows about 1/s, shared).
    #[arg(long, env = "TRAILWARDEN_AWS_WRITES_PER_SECOND", default_value_t = 1.0, value_parser = per_second)]
    pub(crate) aws_writes_per_second: f64,
    /// How long one read of an account's trails or a trail's tags serves the other policies
    /// that need it; 0 turns all sharing off. A write of ours or an AWS event drops it at
    /// once, and writes are only ever planned from fresh reads.
    #[arg(long, env = "TRAILWARDEN_AWS_SHARED_READS_SECONDS", default_value_t = 3.0, value_parser = shared_reads_seconds)]
    pub(crate) aws_shared_reads_seconds: f64,
    /// How long one read of a log bucket's or KMS key's facts serves every policy that uses
    /// it (at least --aws-shared-reads-seconds). Only reported from: a fix re-reads first.
    /// An AWS event about the bucket or key, or a write of ours, drops it at once; without
    /// the event path, a change by someone else is seen within this time plus a resync.
    #[arg(long, env = "TRAILWARDEN_AWS_SHARED_POSTURE_SECONDS", default_value_t = 300.0, value_parser = shared_posture_seconds)]
    pub(crate) aws_shared_posture_seconds: f64,
    /// SQS queue that EventBridge sends AWS API calls to (see the README): heal within
    /// seconds of a change instead of at the next resync. Off when unset.
    #[arg(long, env = "TRAILWARDEN_EVENTS_QUEUE_URL")]
    pub(crate) events_queue_url: Option<String>,
    /// Passes run at once; one account and region gets a quarter of them at most, so a
    /// large account never holds up the others. A pass that writes spends most of its time
    /// waiting for its account's write pace (1 a second per API), so enough of them must be
    /// in flight for many accounts to be writing (1,000 policies over 100 accounts
    /// converged in 23.5 s at 32, 17.8 s at 96). More than the AWS calls in flight
    /// (--aws-max-in-flight) mostly wait and hold memory: 1,000 policies over 250 accounts
    /// converged in 47.2 s at 64 and 45.8 s at 128, resident 44.5 and 48.8 MiB; 10,000 over
    /// 2,500 converged in 817 s at 64 and 695 s at 128, healing from events alike (make
    /// bench-scale). Raise it to converge thousands from empty faster.
    #[arg(long, env = "TRAILWARDEN_MAX_CONCURRENT_RECONCILES", default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub(crate) max_concurrent_reconciles: u16,
    /// Guardrail: the AWS accounts policies may act in (comma-separated ids); any if unset.
    /// A policy in another account is Ready=False (reason Guardrail) and costs no AWS call.
    #[arg(long, env = "TRAILWARDEN_ALLOWED_ACCOUNTS", value_delimiter = ',', value_parser = account_id)]
    pub(crate) allowed_accounts: Vec<String>,
    /// Guardrail: role ARN patterns (`*`, `?`) a policy's `account.roleArn` must match; any if unset.
    #[arg(long, env = "TRAILWARDEN_ALLOWED_ROLE_ARNS", value_delimiter = ',')]
    pub(crate) allowed_role_arns: Vec<String>,
    /// Guardrail: whether `adoption: Always` may take over a trail nobody tagged for the policy.
    #[arg(long, env = "TRAILWARDEN_ALLOW_ADOPTION_ALWAYS", default_value_t = true, action = clap::ArgAction::Set)]
    pub(crate) allow_adoption_always: bool,
    /// Guardrail: whether `deletionPolicy: Delete` may delete a trail with its policy.
    #[arg(long, env = "TRAILWARDEN_ALLOW_DELETION", default_value_t = true, action = clap::ArgAction::Set)]
    pub(crate) allow_deletion: bool,
    /// Guardrail: whether `posture.bucket.manage` / `posture.kms.manage` may rewrite a bucket or key.
    #[arg(long, env = "TRAILWARDEN_ALLOW_MANAGE", default_value_t = true, action = clap::ArgAction::Set)]
    pub(crate) allow_manage: bool,
    /// Floor: what no TrailPolicy may ask less of (comma-separated): logging, multi-region,
    /// management-events, log-file-validation, kms. A policy below it is held at it
    /// (Ready=False, reason BelowFloor) and never carried below it.
    #[arg(long, env = "TRAILWARDEN_FLOOR", value_delimiter = ',', value_parser = clap::builder::PossibleValuesParser::new(trailwarden_core::floor::REQUIREMENTS))]
    pub(crate) floor: Vec<String>,
    /// Floor: the accounts a trail's log bucket may belong to (comma-separated ids); any if unset.
    #[arg(long, env = "TRAILWARDEN_FLOOR_BUCKET_ACCOUNTS", value_delimiter = ',', value_parser = account_id)]
    pub(crate) floor_bucket_accounts: Vec<String>,
    /// Floor: the accounts a trail's KMS key may belong to (comma-separated ids); any if unset.
    #[arg(long, env = "TRAILWARDEN_FLOOR_KEY_ACCOUNTS", value_delimiter = ',', value_parser = account_id)]
    pub(crate) floor_key_accounts: Vec<String>,
    /// Longest a pass may take; one past it is abandoned and reported (Ready=False, reason
    /// PassDeadlineExceeded, naming the AWS call it was waiting on).
    #[arg(long, env = "TRAILWARDEN_PASS_DEADLINE_SECONDS", default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub(crate) pass_deadline_seconds: u64,
    /// How often the log verifier walks the digest chain of every trail with log-file
    /// validation (from where it stopped, kept in status.logIntegrity); 0 turns it off.
    #[arg(long, env = "TRAILWARDEN_VERIFY_LOGS_INTERVAL_SECONDS", default_value_t = 600, value_parser = clap::value_parser!(u64).range(0..=86400))]
    pub(crate) verify_logs_interval_seconds: u64,
    /// How far back the log verifier's first walk of a trail looks.
    #[arg(long, env = "TRAILWARDEN_VERIFY_LOGS_LOOKBACK_HOURS", default_value_t = 24, value_parser = clap::value_parser!(u64).range(1..=2160))]
    pub(crate) verify_logs_lookback_hours: u64,
    /// How often the log verifier verifies a trail's whole lookback window again (a log
    /// file deleted or changed after its first walk is found then).
    #[arg(long, env = "TRAILWARDEN_VERIFY_LOGS_RECHECK_HOURS", default_value_t = 24, value_parser = clap::value_parser!(u64).range(1..=720))]
    pub(crate) verify_logs_recheck_hours: u64,
    /// /healthz fails when passes are in flight and none has finished for this long, so
    /// that Kubernetes restarts a stuck leader and a standby takes over. Longer than
    /// --pass-deadline-seconds.
    #[arg(long, env = "TRAILWARDEN_STALL_SECONDS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(2..=86400))]
    pub(crate) stall_seconds: u64,
    /// Only manage TrailPolicies with these labels (a Kubernetes label selector).
    #[arg(long, env = "TRAILWARDEN_SELECTOR")]
    pub(crate) selector: Option<String>,
    /// Log format.
    #[arg(long, env = "TRAILWARDEN_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub(crate) log_format: LogFormat,
    /// Where /metrics, /healthz and /readyz listen. `[::]` takes IPv4 too on Linux (unless
    /// net.ipv6.bindv6only is set); give 0.0.0.0:8080 where IPv6 is disabled.
    #[arg(long, env = "TRAILWARDEN_HTTP_ADDR", default_value = "[::]:8080")]
    pub(crate) http_addr: SocketAddr,
    /// Reconcile only while holding a coordination.k8s.io Lease (run several replicas safely).
    #[arg(long, env = "TRAILWARDEN_LEADER_ELECTION")]
    pub(crate) leader_election: bool,
    /// Name of the Lease.
    #[arg(long, env = "TRAILWARDEN_LEASE_NAME", default_value = "trailwarden")]
    pub(crate) lease_name: String,
    /// Namespace of the Lease (default: the pod's namespace, else "default").
    #[arg(long, env = "TRAILWARDEN_LEASE_NAMESPACE")]
    pub(crate) lease_namespace: Option<String>,
    /// Seconds a leader's lease lasts without renewal; a standby takes over after that.
    #[arg(long, env = "TRAILWARDEN_LEASE_DURATION_SECONDS", default_value_t = 15, value_parser = clap::value_parser!(u64).range(2..=3600))]
    pub(crate) lease_duration_seconds: u64,
    /// Seconds a leader keeps leading without a successful renewal before it stops at once
    /// (default: two thirds of the lease duration; must be shorter than it).
    #[arg(long, env = "TRAILWARDEN_LEASE_RENEW_DEADLINE_SECONDS", value_parser = renew_deadline_seconds)]
    pub(crate) lease_renew_deadline_seconds: Option<f64>,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum RetryModeArg {
    Standard,
    Adaptive,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum LogFormat {
    Text,
    Json,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let result = match Cli::parse().command {
        Command::Crd(args) => {
            let policy = trailwarden::api::crd_yaml();
            let set = trailwarden::k8s::set::api::crd_yaml();
            match (args.all, args.kind) {
                (true, _) => print!("{policy}---\n{set}"),
                (false, CrdKind::TrailPolicy) => print!("{policy}"),
                (false, CrdKind::TrailPolicySet) => print!("{set}"),
            }
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Run(args) => cmd::run::run(*args).await.map(|()| std::process::ExitCode::SUCCESS),
        Command::Check(args) => cmd::check::check(args).await,
        Command::VerifyLogs(args) => cmd::verify_logs::verify_logs(args).await,
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        std::process::ExitCode::from(2)
    })
}

fn shared_reads_seconds(text: &str) -> Result<f64, String> {
    let seconds: f64 = text.parse().map_err(|e| format!("{e}"))?;
    if (0.0..=60.0).contains(&seconds) { Ok(seconds) } else { Err("must be between 0 and 60 seconds".into()) }
}

fn timeout_seconds(text: &str) -> Result<f64, String> {
    let seconds: f64 = text.parse().map_err(|e| format!("{e}"))?;
    if !(0.1..=600.0).contains(&seconds) {
        return Err(format!("{seconds} is outside 0.1 to 600 seconds"));
    }
    Ok(seconds)
}

fn shared_posture_seconds(text: &str) -> Result<f64, String> {
    let seconds: f64 = text.parse().map_err(|e| format!("{e}"))?;
    if (0.0..=3600.0).contains(&seconds) { Ok(seconds) } else { Err("must be between 0 and 3600 seconds".into()) }
}

fn per_second(text: &str) -> Result<f64, String> {
    let rate: f64 = text.parse().map_err(|e| format!("{e}"))?;
    // 0 turns our pacing off; a negative rate would too, unannounced.
    if (0.0..=1000.0).contains(&rate) { Ok(rate) } else { Err(format!("{rate} is outside 0 (no pacing) to 1000 calls a second")) }
}

fn renew_deadline_seconds(text: &str) -> Result<f64, String> {
    let seconds: f64 = text.parse().map_err(|e| format!("{e}"))?;
    if seconds > 0.0 && seconds < 3600.0 { Ok(seconds) } else { Err(format!("{seconds} is outside (0, 3600) seconds")) }
}

fn account_id(text: &str) -> Result<String, String> {
    let id = text.trim();
    if id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()) { Ok(id.to_owned()) } else { Err(format!("{id:?} is not a 12-digit AWS account id")) }
}
