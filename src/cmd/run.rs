//! `trailwarden run`: the controller, alone or as one replica behind a leader lease.

use trailwarden::integrity::continuous::VerifyOptions;
use trailwarden::k8s::set::SetOptions;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::watch;
use tracing::info;
use tracing_subscriber::EnvFilter;
use trailwarden::api::TrailPolicy;
use trailwarden::aws::{AwsPort, RateLimits};
use trailwarden::aws::sdk::{AwsOptions, RetryMode, SdkAws};
use trailwarden::k8s::controller::{self, ControllerOptions};
use trailwarden::k8s::leader::{LeaderElector, LeaseConfig};
use trailwarden::ops::http::{self, Readiness};
use trailwarden::ops::metrics::Metrics;
use trailwarden::ops::progress::Progress;
use trailwarden_core::floor::Floor;
use trailwarden_core::guardrails::Guardrails;
use trailwarden::triggers::events::EventQueue;

use crate::{LogFormat, RetryModeArg, RunArgs};

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

/// Asks AWS who the controller is (STS GetCallerIdentity, in its own account) until it
/// answers, then every ten minutes: `/readyz` says what is wrong while it does not.
async fn check_identity(port: SdkAws, readiness: Arc<Readiness>) {
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into());
    let own = trailwarden_core::Scope { role_arn: None, external_id: None, region };
    loop {
        let answer = port.account_id(&own).await;
        let again = match &answer {
            Ok(account) => {
                info!(account = %account, "AWS identity answers");
                Duration::from_secs(600)
            }
            Err(e) => {
                tracing::error!(error = %e, "the controller's AWS identity does not work; not ready (check IRSA: the role's trust policy, the service account annotation)");
                Duration::from_secs(15)
            }
        };
        readiness.aws_identity(answer.map_err(|e| e.to_string()));
        tokio::time::sleep(again).await;
    }
}

/// The policies' controller and the sets' controller, until `stop`.
async fn controllers(client: kube::Client, port: SdkAws, options: ControllerOptions, sets: SetOptions, stop: watch::Receiver<bool>) -> anyhow::Result<()> {
    let (policies, sets) =
        tokio::join!(controller::run(client.clone(), port, options, stopped(stop.clone())), trailwarden::k8s::set::run(client, sets, stopped(stop)));
    policies.and(sets)
}

/// Resolves once `stop` turns true.
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

pub(crate) async fn run(args: RunArgs) -> anyhow::Result<()> {
    init_logging(args.log_format);
    let metrics = Metrics::new();
    let readiness = Arc::new(Readiness::default());
    anyhow::ensure!(
        args.stall_seconds > args.pass_deadline_seconds,
        "--stall-seconds ({}) must be longer than --pass-deadline-seconds ({})",
        args.stall_seconds,
        args.pass_deadline_seconds
    );
    let progress = Arc::new(Progress::new(Duration::from_secs(args.stall_seconds), &metrics));
    tokio::spawn(http::serve(args.http_addr, metrics.clone(), readiness.clone(), progress.clone()).await?);
    super::trim::spawn(metrics.heap_allocated.clone());

    let client = trailwarden::k8s::client::connect().await?;
    let port = SdkAws::new(AwsOptions {
        endpoint_url: args.aws_endpoint_url,
        max_attempts: args.aws_max_attempts,
        attempt_timeout: Some(std::time::Duration::from_secs_f64(args.aws_attempt_timeout_seconds)),
        operation_timeout: Some(std::time::Duration::from_secs_f64(args.aws_operation_timeout_seconds)),
        retry_mode: match args.aws_retry_mode {
            RetryModeArg::Standard => RetryMode::Standard,
            RetryModeArg::Adaptive => RetryMode::Adaptive,
        },
        rate_limits: RateLimits {
            reads_per_second: args.aws_reads_per_second,
            writes_per_second: args.aws_writes_per_second,
        },
        metrics: Some(metrics.aws.clone()),
        shared_reads: std::time::Duration::from_secs_f64(args.aws_shared_reads_seconds),
        shared_posture: std::time::Duration::from_secs_f64(args.aws_shared_posture_seconds),
        max_in_flight: usize::from(args.aws_max_in_flight),
    })
    .await;
    tokio::spawn(check_identity(port.clone(), readiness.clone()));
    let instance = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "trailwarden".into());
    let events = args.events_queue_url.map(|url| {
        let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into());
        EventQueue::new(url, region, port.clone(), metrics.events.clone())
    });
    let sets = SetOptions {
        port: port.clone(),
        label_selector: args.selector.clone(),
        deadline: Duration::from_secs(args.pass_deadline_seconds),
        organization_changes: events.as_ref().map(|queue| queue.organization_changes()),
        metrics: Some(metrics.sets.clone()),
    };
    let options = ControllerOptions {
        label_selector: args.selector,
        instance: instance.clone(),
        metrics: metrics.clone(),
        readiness: readiness.clone(),
        events,
        concurrency: args.max_concurrent_reconciles,
        guardrails: Guardrails {
            allowed_accounts: args.allowed_accounts,
            allowed_roles: args.allowed_role_arns,
            allow_adoption_always: args.allow_adoption_always,
            allow_deletion: args.allow_deletion,
            allow_manage: args.allow_manage,
        },
        floor: {
            let mut floor = Floor { bucket_accounts: args.floor_bucket_accounts, key_accounts: args.floor_key_accounts, ..Floor::default() };
            for requirement in &args.floor {
                floor.require(requirement);
            }
            floor
        },
        pass_deadline: Duration::from_secs(args.pass_deadline_seconds),
        progress,
        verify_logs: (args.verify_logs_interval_seconds > 0).then(|| VerifyOptions {
            port: port.clone(),
            interval: Duration::from_secs(args.verify_logs_interval_seconds),
            lookback: jiff::SignedDuration::from_hours(args.verify_logs_lookback_hours as i64),
            recheck: Duration::from_secs(args.verify_logs_recheck_hours * 3600),
            // A walk reads one file at a time; a slow bucket must not hold the round for
            // longer than the pass deadline.
            deadline: Duration::from_secs(args.pass_deadline_seconds),
            metrics: metrics.integrity.clone(),
        }),
    };
    let (stop_tx, stop) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });

    if !args.leader_election {
        metrics.leader.set(1);
        return controllers(client, port, options, sets, stop).await;
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
    let duration = Duration::from_secs(args.lease_duration_seconds.max(2));
    let renew_deadline = match args.lease_renew_deadline_seconds {
        Some(seconds) => Duration::from_secs_f64(seconds),
        None => LeaseConfig::default_renew_deadline(duration),
    };
    anyhow::ensure!(
        renew_deadline < duration && !renew_deadline.is_zero(),
        "--lease-renew-deadline-seconds must be above 0 and below --lease-duration-seconds ({}s)",
        duration.as_secs()
    );
    let elector = LeaderElector::new(
        client.clone(),
        LeaseConfig { name: args.lease_name, namespace, identity: instance, duration, renew_deadline },
    );
    info!(lease = %elector.config().name, namespace = %elector.config().namespace, "waiting to become leader");
    let acquired = tokio::select! {
        acquired = elector.acquire() => acquired,
        _ = stopped(stop.clone()) => return Ok(()),
    };
    metrics.leader.set(1);

    // The controller runs as its own task so that losing the lease can abort it on the
    // spot — reconciles in flight included — instead of letting them drain.
    let mut leading = tokio::spawn(controllers(client, port, options, sets, stop.clone()));
    tokio::select! {
        lost = elector.hold(acquired) => {
            leading.abort();
            metrics.leader.set(0);
            anyhow::bail!("lost the leader lease ({lost:?}); stopped at once, exiting so a restart rejoins as a standby");
        }
        finished = &mut leading => {
            metrics.leader.set(0);
            finished??;
        }
    }
    elector.release().await?;
    Ok(())
}

