//! [`AwsPort`] on the AWS SDK for Rust: the options, the adapter and the one path every
//! call takes ([`SdkAws::call`]: paced, sent, its failure classified). What each
//! operation sends and reads lives in the file of its service.
//!
//! Clients are built per region and shared by every [`Scope`] there, each call signed
//! with its scope's credentials (credentials.rs); they share one endpoint override, so
//! the same code talks to AWS in production and to the emulator in tests.

use std::error::Error;
use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::OnceCell;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig, retry::RetryConfig};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use tracing::debug;
use trailwarden_core::{Reach, Scope};
use trailwarden_core::posture::bucket::{BucketFacts, BucketFix};
use trailwarden_core::posture::key::{KeyFacts, KeyFix};
use trailwarden_core::trail::{Insights, Selectors, Tags, TrailDescription, TrailSettings, TrailStatus};

use super::calls::is_write;
use super::clients::{ClientCache, Service};
use super::error::aws_error;
use super::in_flight::Slots;
use super::limiter::Limiter;
use super::recent::RecentReads;
use super::{AwsPort, AwsResult, CallLog, Fresh, OwnKeys, RateLimits, cloudtrail, kms, organizations, s3, sns, sts};
use trailwarden_core::policy::Organization;

/// How to reach AWS.
#[derive(Clone, Default)]
pub struct AwsOptions {
    /// Send every call here instead of AWS (the emulator in tests and the demo).
    pub endpoint_url: Option<String>,
    /// Attempts per call, the first included; 1 turns retries off.
    pub max_attempts: u32,
    /// Longest wait for one attempt (None: no limit but the connect timeout).
    pub attempt_timeout: Option<Duration>,
    /// Longest wait for a call with its retries (None: no limit). Every shared read and
    /// every lock held across a call ends with it.
    pub operation_timeout: Option<Duration>,
    /// The SDK's retry strategy: standard (exponential back-off with jitter) or adaptive
    /// (the same, plus client-side rate limiting that slows down while AWS throttles).
    pub retry_mode: RetryMode,
    pub rate_limits: RateLimits,
    /// Where to count calls, latencies and throttles.
    pub metrics: Option<crate::ops::metrics::AwsMetrics>,
    /// How long a read of trails serves other passes (see [`RecentReads`]); zero: no read
    /// is shared.
    pub shared_reads: Duration,
    /// How long a read of a bucket's or key's facts serves other passes (at least
    /// `shared_reads`).
    pub shared_posture: Duration,
    /// Most calls in flight at once (0: no bound), a quarter of them in one scope at most
    /// (see `in_flight`); a call waits for a slot no longer than `operation_timeout`.
    pub max_in_flight: usize,
}

impl AwsOptions {
    /// A command's (`check`, `verify-logs`): the default timeouts, three attempts, no
    /// metrics, and no read shared (each is made once).
    pub fn one_shot(endpoint_url: Option<String>) -> Self {
        AwsOptions {
            endpoint_url,
            max_attempts: 3,
            attempt_timeout: Some(DEFAULT_ATTEMPT_TIMEOUT),
            operation_timeout: Some(DEFAULT_OPERATION_TIMEOUT),
            ..AwsOptions::default()
        }
    }
}

/// The controller's and `trailwarden check`'s defaults (`--aws-attempt-timeout-seconds`,
/// `--aws-operation-timeout-seconds`): well above a healthy call (CloudTrail and S3 answer
/// in well under a second), well below the resync a stalled pass would hold up.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(30);

/// The controller's default bound on calls in flight (`--aws-max-in-flight`): one for each
/// of the default 64 passes at once, well above what one account's pace lets through (10
/// reads a second per API).
pub const DEFAULT_MAX_IN_FLIGHT: u16 = 64;

/// How long a connection to AWS may take to open (the SDK's own default).
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_millis(3100);

/// Which of the SDK's own retry strategies to use; neither is written by hand here.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RetryMode {
    #[default]
    Standard,
    Adaptive,
}

impl RetryMode {
    fn config(self) -> RetryConfig {
        match self {
            RetryMode::Standard => RetryConfig::standard(),
            RetryMode::Adaptive => RetryConfig::adaptive(),
        }
    }
}

/// The SDK-backed port. Cheap to clone; clones share clients, limits, the call log and
/// recent reads.
#[derive(Clone)]
pub struct SdkAws {
    clients: Arc<ClientCache>,
    limiter: Arc<Limiter>,
    calls: CallLog,
    recent: Arc<RecentReads>,
    /// Which reads go past [`RecentReads`] (refreshing it): what a pass about to write
    /// looks through.
    fresh: Fresh,
    /// Our own account, asked once.
    own_account: Arc<OnceCell<String>>,
    /// The organization of each account asked about lately.
    organizations: Arc<organizations::Known>,
    /// Slots for calls in flight ([`AwsOptions::max_in_flight`]).
    in_flight: Option<Arc<Slots>>,
}

impl SdkAws {
    /// Loads credentials and settings the standard way (env, profile, web identity, IMDS).
    pub async fn new(options: AwsOptions) -> Self {
        // The SDK's default is a connect timeout alone: an answer that never comes would
        // hold a pass, and everything waiting on it, for good.
        let mut timeouts = TimeoutConfig::builder().connect_timeout(CONNECT_TIMEOUT);
        timeouts.set_operation_attempt_timeout(options.attempt_timeout).set_operation_timeout(options.operation_timeout);
        let timeouts = timeouts.build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .timeout_config(timeouts)
            .http_client(https_client())
            .retry_config(options.retry_mode.config().with_max_attempts(options.max_attempts.max(1)));
        if let Some(url) = &options.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let base = loader.load().await;
        let calls = CallLog::with_metrics(options.metrics.clone());
        SdkAws {
            clients: Arc::new(ClientCache::new(base, options.endpoint_url.is_some(), calls.clone())),
            limiter: Arc::new(Limiter::new(options.rate_limits)),
            calls,
            recent: Arc::new(RecentReads::new(options.shared_reads, options.shared_posture)),
            fresh: Fresh::Shared,
            own_account: Arc::default(),
            organizations: Arc::default(),
            in_flight: (options.max_in_flight > 0).then(|| {
                Arc::new(Slots::new(options.max_in_flight, options.operation_timeout.unwrap_or(DEFAULT_OPERATION_TIMEOUT)))
            }),
        }
    }

    /// Every operation this port has sent so far.
    pub fn calls(&self) -> &CallLog {
        &self.calls
    }

    /// What was read lately and is shared between passes; the event path makes it forget
    /// what an AWS event names.
    pub fn recent(&self) -> &RecentReads {
        &self.recent
    }

    /// The trails whose tags one ListTags fetches along with `trail`'s: the scope's other
    /// trails in its region and account as last read (never read for this), up to
    /// ListTags' 20. Their tags serve the passes of those trails' policies that come next.
    async fn tag_batch(&self, scope: &Scope, trail: &str) -> Vec<String> {
        let account = |arn: &str| arn.split(':').nth(4).map(str::to_owned);
        let trails = self.recent.peek_trails(scope).unwrap_or_default();
        let others = trails
            .into_iter()
            .filter(|t| t.home_region == scope.region && t.arn != trail && account(&t.arn) == account(trail))
            .map(|t| t.arn);
        std::iter::once(trail.to_owned()).chain(others).take(20).collect()
    }

    /// The access keys this port's requests were signed with lately.
    pub fn own_keys(&self) -> &OwnKeys {
        &self.clients.own_keys
    }

    /// The SDK configuration for a scope: its region and, for another account, the
    /// assumed role's credentials. Tests use it to build S3/KMS clients of their own.
    pub async fn sdk_config(&self, scope: &Scope) -> SdkConfig {
        self.clients.config_of(scope)
    }

    /// An S3 client for the scope, path-style when an endpoint override is set (as emulators need).
    pub async fn s3(&self, scope: &Scope) -> aws_sdk_s3::Client {
        self.clients.s3_of(scope)
    }

    /// Sends one `operation` of `service` from `scope`: for a paced service, waits for the
    /// operation's slot in the scope's pacing (the write rate for writes); then classifies a
    /// failure under the same name. A write that names nothing makes every shared read of
    /// its kind in the scope stale: writes go through [`SdkAws::call_on`].
    pub(super) async fn call<C, Fut, T, E, R>(
        &self,
        scope: &Scope,
        service: &Service<C>,
        operation: &'static str,
        send: impl FnOnce(C) -> Fut,
    ) -> AwsResult<T>
    where
        Fut: Future<Output = Result<T, SdkError<E, R>>>,
        E: ProvideErrorMetadata + Error + 'static,
        R: Debug,
    {
        self.call_on(scope, service, operation, None, send).await
    }

    /// [`SdkAws::call`] for a call about `what` (a trail by name or ARN, a bucket): a write
    /// makes only the shared reads of that stale.
    pub(super) async fn call_on<C, Fut, T, E, R>(
        &self,
        scope: &Scope,
        service: &Service<C>,
        operation: &'static str,
        what: Option<&str>,
        send: impl FnOnce(C) -> Fut,
    ) -> AwsResult<T>
    where
        Fut: Future<Output = Result<T, SdkError<E, R>>>,
        E: ProvideErrorMetadata + Error + 'static,
        R: Debug,
    {
        let write = is_write(operation);
        let scope_key = format!("{}/{}", scope.role_arn.as_deref().unwrap_or("self"), scope.region);
        if service.paced {
            self.limiter.acquire(format!("{scope_key}/{operation}"), write).await;
        }
        let _slot = match (&self.in_flight, service.bounded) {
            (Some(slots), true) => Some(slots.take(&scope_key, service.name, operation).await?),
            _ => None,
        };
        let client = (service.client)(&self.clients.get(scope));
        if write {
            // The moment a write leaves: what an audit of "who changed the trail when" needs.
            debug!(service = service.name, operation, role = scope.role_arn.as_deref().unwrap_or("self"), region = %scope.region, "AWS write");
        }
        let result = super::credentials::within(scope, send(client)).await;
        if let (true, Some(kept)) = (write, service.kept) {
            // Whatever the write touched is read again by the next asker, even when the
            // write failed (it may have been half applied).
            self.recent.wrote(kept, scope, what);
        }
        result.map_err(|e| aws_error(service.name, operation, e))
    }
}

/// The one HTTPS client every SDK client of every scope sends through, as the SDK would
/// build its default (rustls on aws-lc, a proxy from the environment). Left to the SDK,
/// each service client of each scope builds its own, with its own copy of the root
/// certificates and its own connection pool: measured at about 0.4 MiB per account.
/// Idle connections are fewer and shorter-lived than hyper's defaults (any number, 90 s):
/// a burst of passes left some 90 of them open, 46 KiB each.
fn https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::{Builder, ConnectorBuilder, proxy::ProxyConfig, tls};
    Builder::new().build_with_connector_fn(|settings, components| {
        let mut connector = ConnectorBuilder::default()
            .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc))
            .pool_max_idle_per_host(16)
            .pool_idle_timeout(Duration::from_secs(20));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

impl AwsPort for SdkAws {
    async fn describe_trails(&self, scope: &Scope, name: &str) -> AwsResult<Vec<TrailDescription>> {
        self.recent.trails(scope, name, self.fresh != Fresh::Shared, || cloudtrail::describe_trails(self, scope)).await
    }

    async fn get_trail_status(&self, scope: &Scope, trail: &str) -> AwsResult<TrailStatus> {
        cloudtrail::get_trail_status(self, scope, trail).await
    }

    async fn get_event_selectors(&self, scope: &Scope, trail: &str) -> AwsResult<Selectors> {
        cloudtrail::get_event_selectors(self, scope, trail).await
    }

    async fn get_insight_selectors(&self, scope: &Scope, trail: &str) -> AwsResult<Insights> {
        cloudtrail::get_insight_selectors(self, scope, trail).await
    }

    async fn list_tags(&self, scope: &Scope, trail: &str) -> AwsResult<Tags> {
        let fetch = || async {
            let batch = self.tag_batch(scope, trail).await;
            let mut by_trail = match cloudtrail::list_tags(self, scope, &batch).await {
                Ok(by_trail) => by_trail,
                // One trail of the batch refused (an organization's, say) must not cost
                // this one its tags.
                Err(_) if batch.len() > 1 => cloudtrail::list_tags(self, scope, &[trail.to_owned()]).await?,
                Err(e) => return Err(e),
            };
            let tags = by_trail.remove(trail).unwrap_or_default();
            for (other, tags) in by_trail {
                self.recent.put_tags(scope, other, tags);
            }
            Ok(tags)
        };
        self.recent.tags(scope, trail, self.fresh != Fresh::Shared, fetch).await
    }

    async fn create_trail(&self, scope: &Scope, name: &str, settings: &TrailSettings, tags: &Tags) -> AwsResult<String> {
        cloudtrail::create_trail(self, scope, name, settings, tags).await
    }

    async fn update_trail(&self, scope: &Scope, trail: &str, from: &TrailSettings, to: &TrailSettings) -> AwsResult<()> {
        cloudtrail::update_trail(self, scope, trail, from, to).await
    }

    async fn start_logging(&self, scope: &Scope, trail: &str) -> AwsResult<()> {
        cloudtrail::start_logging(self, scope, trail).await
    }

    async fn stop_logging(&self, scope: &Scope, trail: &str) -> AwsResult<()> {
        cloudtrail::stop_logging(self, scope, trail).await
    }

    async fn put_event_selectors(&self, scope: &Scope, trail: &str, selectors: &Selectors) -> AwsResult<()> {
        cloudtrail::put_event_selectors(self, scope, trail, selectors).await
    }

    async fn put_insight_selectors(&self, scope: &Scope, trail: &str, insights: &Insights) -> AwsResult<()> {
        cloudtrail::put_insight_selectors(self, scope, trail, insights).await
    }

    async fn add_tags(&self, scope: &Scope, trail: &str, tags: &Tags) -> AwsResult<()> {
        cloudtrail::add_tags(self, scope, trail, tags).await
    }

    async fn remove_tags(&self, scope: &Scope, trail: &str, keys: &[String]) -> AwsResult<()> {
        cloudtrail::remove_tags(self, scope, trail, keys).await
    }

    async fn delete_trail(&self, scope: &Scope, trail: &str) -> AwsResult<()> {
        cloudtrail::delete_trail(self, scope, trail).await
    }

    async fn account_id(&self, scope: &Scope) -> AwsResult<String> {
        if let Some(account) = scope.role_account() {
            return Ok(account.to_owned());
        }
        self.own_account.get_or_try_init(|| sts::account_id(self, scope)).await.cloned()
    }

    async fn organization(&self, scope: &Scope, account: &str) -> AwsResult<Option<Organization>> {
        organizations::organization(self, &self.organizations, scope, account).await
    }

    async fn describe_bucket(&self, reach: &Reach, bucket: &str) -> AwsResult<BucketFacts> {
        self.recent.bucket(reach, bucket, self.fresh == Fresh::All, || s3::describe_bucket(self, reach, bucket)).await
    }

    async fn describe_key(&self, reach: &Reach, key: &str) -> AwsResult<KeyFacts> {
        self.recent.key(&reach.scope, key, self.fresh != Fresh::Shared, || kms::describe_key(self, reach, key)).await
    }

    async fn fix_bucket(&self, reach: &Reach, bucket: &str, fix: &BucketFix) -> AwsResult<()> {
        s3::fix_bucket(self, reach, bucket, fix).await
    }

    async fn fix_key(&self, reach: &Reach, key_arn: &str, fix: &KeyFix) -> AwsResult<()> {
        kms::fix_key(self, reach, key_arn, fix).await
    }

    async fn release_unused(&self, in_use: &std::collections::HashSet<Scope>) {
        self.clients.release_unused(in_use);
    }

    fn fresh(&self, posture: bool) -> Option<Self> {
        let fresh = if posture { Fresh::All } else { Fresh::Trails };
        (self.recent.shared() && self.fresh == Fresh::Shared).then(|| SdkAws { fresh, ..self.clone() })
    }

    async fn publish(&self, scope: &Scope, topic_arn: &str, subject: &str, message: &str) -> AwsResult<()> {
        sns::publish(self, scope, topic_arn, subject, message).await
    }
}
