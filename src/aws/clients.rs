//! One set of service clients per region, shared by every [`Scope`] there: a call runs
//! within its scope (credentials.rs), and the clients sign each request with that scope's
//! credentials. Every client records its calls and the key it signed them with.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use aws_config::SdkConfig;
use aws_config::identity::IdentityCache;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_types::region::Region;
use trailwarden_core::Scope;

use super::CallLog;
use super::calls::RecordCalls;
use super::credentials::{ScopeCredentials, ScopedCredentials};
use super::own_keys::{OwnKeys, RecordSigningKey};
use super::recent::Kept;

/// The clients of one region, each built on its first call: most regions only ever see
/// CloudTrail and S3 calls, and a client holds a good deal of configuration. Cloning is
/// cheap: a shared handle.
#[derive(Clone)]
pub(super) struct Clients(Arc<RegionClients>);

struct RegionClients {
    config: SdkConfig,
    s3_path_style: bool,
    calls: CallLog,
    own_keys: OwnKeys,
    cloudtrail: OnceLock<aws_sdk_cloudtrail::Client>,
    kms: OnceLock<aws_sdk_kms::Client>,
    organizations: OnceLock<aws_sdk_organizations::Client>,
    s3: OnceLock<aws_sdk_s3::Client>,
    sns: OnceLock<aws_sdk_sns::Client>,
    sqs: OnceLock<aws_sdk_sqs::Client>,
    sts: OnceLock<aws_sdk_sts::Client>,
}

// Every client records its calls and the key it signed them with.
macro_rules! client {
    ($name:ident, $sdk:ident $(, $setting:ident($value:expr))*) => {
        pub(super) fn $name(&self) -> $sdk::Client {
            let region = &*self.0;
            region
                .$name
                .get_or_init(|| {
                    $sdk::Client::from_conf(
                        $sdk::config::Builder::from(&region.config)
                            $(.$setting($value(region)))*
                            .interceptor(RecordCalls(region.calls.clone()))
                            .interceptor(RecordSigningKey(region.own_keys.clone()))
                            .build(),
                    )
                })
                .clone()
        }
    };
}

impl Clients {
    client!(cloudtrail, aws_sdk_cloudtrail);
    client!(kms, aws_sdk_kms);
    client!(organizations, aws_sdk_organizations);
    client!(s3, aws_sdk_s3, force_path_style(|r: &RegionClients| r.s3_path_style));
    client!(sns, aws_sdk_sns);
    client!(sqs, aws_sdk_sqs);
    client!(sts, aws_sdk_sts);
}

/// A service as errors name it, and which of a region's clients calls it.
pub(super) struct Service<C> {
    pub(super) name: &'static str,
    pub(super) client: fn(&Clients) -> C,
    /// Whether its calls spend a governed account's API budget and so are paced. The events
    /// queue is ours and is not: paced, its deletes would wait on the write rate.
    pub(super) paced: bool,
    /// The shared reads its writes make stale.
    pub(super) kept: Option<Kept>,
    /// Whether its calls count against the port's bound on calls in flight
    /// ([`AwsOptions::max_in_flight`](super::sdk::AwsOptions::max_in_flight)): every
    /// service's but the events queue's, whose long poll holds its call open for 20 s by
    /// design and is one call at a time.
    pub(super) bounded: bool,
}

/// Builds each region's clients once, and keeps each scope's credentials while a policy
/// acts there (the controller says which scopes those are: [`ClientCache::release_unused`]).
pub(super) struct ClientCache {
    base: SdkConfig,
    /// S3 addressed by path rather than host name, as emulators behind an endpoint override need.
    s3_path_style: bool,
    calls: CallLog,
    /// The keys every client signs with, for the event path to recognise our own calls.
    pub(super) own_keys: OwnKeys,
    credentials: Arc<ScopeCredentials>,
    by_region: Mutex<HashMap<String, Clients>>,
}

impl ClientCache {
    pub(super) fn new(base: SdkConfig, s3_path_style: bool, calls: CallLog) -> Self {
        let credentials = Arc::new(ScopeCredentials::new(base.clone(), calls.clone()));
        ClientCache { base, s3_path_style, calls, own_keys: OwnKeys::default(), credentials, by_region: Mutex::default() }
    }

    /// Forgets the credentials of every scope outside `in_use`; the region's clients stay.
    pub(super) fn release_unused(&self, in_use: &std::collections::HashSet<Scope>) {
        self.credentials.release_unused(in_use);
    }

    /// The clients of the scope's region (a call through them must run within the scope).
    pub(super) fn get(&self, scope: &Scope) -> Clients {
        let mut by_region = self.by_region.lock().expect("clients lock");
        by_region.entry(scope.region.clone()).or_insert_with(|| self.build(&scope.region, None)).clone()
    }

    /// The SDK configuration of one scope, its credentials bound to it: for clients built
    /// outside the port (tests), which run within no scope.
    pub(super) fn config_of(&self, scope: &Scope) -> SdkConfig {
        self.config(&scope.region, Some(scope.clone()))
    }

    /// An S3 client of one scope, its credentials bound to it (tests).
    pub(super) fn s3_of(&self, scope: &Scope) -> aws_sdk_s3::Client {
        self.build(&scope.region, Some(scope.clone())).s3()
    }

    fn config(&self, region: &str, fixed: Option<Scope>) -> SdkConfig {
        let mut builder = self.base.to_builder();
        builder.set_region(Some(Region::new(region.to_owned())));
        let provider = ScopedCredentials { all: self.credentials.clone(), fixed };
        builder.set_credentials_provider(Some(SharedCredentialsProvider::new(provider)));
        // Never the SDK's identity cache: it keys credentials by provider, and the one
        // provider here answers for every scope. ScopeCredentials caches per scope.
        builder.set_identity_cache(Some(IdentityCache::no_cache()));
        builder.build()
    }

    fn build(&self, region: &str, fixed: Option<Scope>) -> Clients {
        Clients(Arc::new(RegionClients {
            config: self.config(region, fixed),
            s3_path_style: self.s3_path_style,
            calls: self.calls.clone(),
            own_keys: self.own_keys.clone(),
            cloudtrail: OnceLock::new(),
            kms: OnceLock::new(),
            organizations: OnceLock::new(),
            s3: OnceLock::new(),
            sns: OnceLock::new(),
            sqs: OnceLock::new(),
            sts: OnceLock::new(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use aws_config::BehaviorVersion;

    use super::*;

    fn scope(role: Option<&str>, region: &str) -> Scope {
        Scope { role_arn: role.map(str::to_owned), external_id: None, region: region.into() }
    }

    #[tokio::test]
    async fn one_set_of_clients_per_region_whatever_the_scope() {
        let base = aws_config::defaults(BehaviorVersion::latest()).region(Region::new("us-east-1")).load().await;
        let cache = ClientCache::new(base, true, CallLog::with_metrics(None));
        for s in [scope(Some("arn:aws:iam::111122223333:role/t"), "us-east-1"), scope(None, "us-east-1"), scope(None, "eu-west-1")] {
            cache.get(&s).cloudtrail();
        }
        let regions: HashSet<String> = cache.by_region.lock().unwrap().keys().cloned().collect();
        assert_eq!(regions, HashSet::from(["us-east-1".to_owned(), "eu-west-1".to_owned()]));
    }
}
