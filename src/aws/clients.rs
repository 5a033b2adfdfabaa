//! One set of service clients per [`Scope`]: the scope's region and, for a scope that
//! names a role, credentials from STS AssumeRole. Every client records its calls.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use aws_config::SdkConfig;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_types::region::Region;
use tokio::sync::Mutex;
use trailwarden_core::Scope;

use super::CallLog;
use super::calls::RecordCalls;
use super::own_keys::{OwnKeys, RecordSigningKey};
use super::recent::Kept;

/// The clients of one scope, each built on its first call: most scopes only ever call
/// CloudTrail and S3, and a client holds a good deal of configuration (some hundreds of
/// KiB for six of them, times a hundred accounts). Cloning is cheap: a shared handle.
#[derive(Clone)]
pub(super) struct Clients(Arc<ScopeClients>);

struct ScopeClients {
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
            let scope = &*self.0;
            scope
                .$name
                .get_or_init(|| {
                    $sdk::Client::from_conf(
                        $sdk::config::Builder::from(&scope.config)
                            $(.$setting($value(scope)))*
                            .interceptor(RecordCalls(scope.calls.clone()))
                            .interceptor(RecordSigningKey(scope.own_keys.clone()))
                            .build(),
                    )
                })
                .clone()
        }
    };
}

impl Clients {
    pub(super) fn config(&self) -> SdkConfig {
        self.0.config.clone()
    }

    client!(cloudtrail, aws_sdk_cloudtrail);
    client!(kms, aws_sdk_kms);
    client!(organizations, aws_sdk_organizations);
    client!(s3, aws_sdk_s3, force_path_style(|s: &ScopeClients| s.s3_path_style));
    client!(sns, aws_sdk_sns);
    client!(sqs, aws_sdk_sqs);
    client!(sts, aws_sdk_sts);
}

/// A service as errors name it, and which of a scope's clients calls it.
pub(super) struct Service<C> {
    pub(super) name: &'static str,
    pub(super) client: fn(&Clients) -> C,
    /// Whether its calls spend a governed account's API budget and so are paced. The events
    /// queue is ours and is not: paced, its deletes would wait on the write rate.
    pub(super) paced: bool,
    /// The shared reads its writes make stale.
    pub(super) kept: Option<Kept>,
}

/// Builds each scope's clients once and keeps them while a policy acts there (the
/// controller says which scopes those are: [`ClientCache::release_unused`]).
pub(super) struct ClientCache {
    base: SdkConfig,
    /// S3 addressed by path rather than host name, as emulators behind an endpoint override need.
    s3_path_style: bool,
    calls: CallLog,
    /// The keys every client signs with, for the event path to recognise our own calls.
    pub(super) own_keys: OwnKeys,
    by_scope: Mutex<HashMap<Scope, Clients>>,
}

impl ClientCache {
    pub(super) fn new(base: SdkConfig, s3_path_style: bool, calls: CallLog) -> Self {
        ClientCache { base, s3_path_style, calls, own_keys: OwnKeys::default(), by_scope: Mutex::default() }
    }

    /// Drops the clients (and the role's credentials) of every scope outside `in_use`. The
    /// controller's own scopes (no role) are kept: the event queue's and the own-account
    /// lookups' clients are not any policy's.
    pub(super) async fn release_unused(&self, in_use: &std::collections::HashSet<Scope>) {
        self.by_scope.lock().await.retain(|scope, _| scope.role_arn.is_none() || in_use.contains(scope));
    }

    pub(super) async fn get(&self, scope: &Scope) -> Clients {
        // Held while building, so concurrent first calls of a scope assume its role once.
        let mut by_scope = self.by_scope.lock().await;
        if let Some(clients) = by_scope.get(scope) {
            return clients.clone();
        }
        let clients = self.build(scope).await;
        by_scope.insert(scope.clone(), clients.clone());
        clients
    }

    async fn build(&self, scope: &Scope) -> Clients {
        let region = Region::new(scope.region.clone());
        let mut builder = self.base.to_builder();
        builder.set_region(Some(region.clone()));
        if let Some(role_arn) = &scope.role_arn {
            let mut provider =
                aws_config::sts::AssumeRoleProvider::builder(role_arn).session_name("trailwarden").region(region);
            if let Some(external_id) = &scope.external_id {
                provider = provider.external_id(external_id);
            }
            let provider = provider.configure(&self.base).build().await;
            // The provider's own STS client does not pass through our interceptor; the
            // role is assumed for this scope's calls, so record that here.
            self.calls.count("STS", "AssumeRole");
            builder.set_credentials_provider(Some(SharedCredentialsProvider::new(provider)));
            // A cache of this scope's own. The shared one of the base config holds 64
            // credentials at most and drops an arbitrary one when full: with more roles
            // than that, every pass assumed its role again (seen: 5,769 AssumeRole calls
            // for 1,000 policies over 100 accounts). Dropped with the scope's clients.
            builder.set_identity_cache(Some(aws_config::identity::IdentityCache::lazy().build()));
        }
        Clients(Arc::new(ScopeClients {
            config: builder.build(),
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

    fn scope(role: Option<&str>) -> Scope {
        Scope { role_arn: role.map(str::to_owned), external_id: None, region: "us-east-1".into() }
    }

    #[tokio::test]
    async fn the_clients_of_scopes_no_policy_uses_are_dropped_and_our_own_kept() {
        // Nothing is sent: clients and role providers are built lazily.
        let base = aws_config::defaults(BehaviorVersion::latest()).region(Region::new("us-east-1")).load().await;
        let cache = ClientCache::new(base, true, CallLog::with_metrics(None));
        let (used, gone, own) =
            (scope(Some("arn:aws:iam::111122223333:role/t")), scope(Some("arn:aws:iam::444455556666:role/t")), scope(None));
        for s in [&used, &gone, &own] {
            cache.get(s).await;
        }
        assert_eq!(cache.by_scope.lock().await.len(), 3);
        cache.release_unused(&HashSet::from([used.clone()])).await;
        let kept: HashSet<Scope> = cache.by_scope.lock().await.keys().cloned().collect();
        assert_eq!(kept, HashSet::from([used, own]));
    }
}
