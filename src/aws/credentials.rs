//! Each scope's credentials, chosen per request. The service clients are shared by every
//! scope of a region (a client and its configuration cost some 40 KiB: 20 MiB for the 500
//! account-and-region scopes of 1,000 policies, measured); what is the scope's own is its
//! credentials alone, a few hundred bytes, kept here.
//!
//! A call runs [`within`] its scope; the clients' credentials provider,
//! [`ScopedCredentials`], reads that scope and answers with its credentials: for a scope
//! that names a role, from STS AssumeRole (made with the controller's own credentials,
//! once per scope, again shortly before they expire); for the controller's own scope, from
//! the standard chain (env, profile, web identity, IMDS), cached the same way. A request
//! made outside any scope gets no credentials at all: it must never go out as the
//! controller's own identity by mistake.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, future};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_types::region::Region;
use trailwarden_core::Scope;

use super::CallLog;
use super::calls::RecordCalls;

tokio::task_local! {
    static SCOPE: Scope;
}

/// Runs `call` as a call of `scope`: every request it sends is signed with the scope's
/// credentials.
pub(super) async fn within<F: Future>(scope: &Scope, call: F) -> F::Output {
    SCOPE.scope(scope.clone(), call).await
}

/// Credentials are renewed this long before they expire (the SDK's own lazy cache keeps
/// a similar margin): a request signed just before expiry may reach AWS after it.
const RENEW_BEFORE: Duration = Duration::from_secs(5 * 60);

/// Every scope's credentials, as last obtained.
pub(super) struct ScopeCredentials {
    base: SdkConfig,
    calls: CallLog,
    /// One STS client per region, with the controller's own credentials: what assumes the
    /// scopes' roles.
    sts: Mutex<HashMap<String, aws_sdk_sts::Client>>,
    /// Per scope: its credentials, behind a lock of its own so the first requests of a
    /// scope wait for one AssumeRole rather than each making theirs.
    by_scope: Mutex<HashMap<Scope, Arc<tokio::sync::Mutex<Option<Credentials>>>>>,
}

impl ScopeCredentials {
    pub(super) fn new(base: SdkConfig, calls: CallLog) -> Self {
        ScopeCredentials { base, calls, sts: Mutex::default(), by_scope: Mutex::default() }
    }

    /// Forgets the credentials of every role scope outside `in_use` (the controller's own
    /// are kept: the event queue's and the own-account lookups' are not any policy's).
    pub(super) fn release_unused(&self, in_use: &std::collections::HashSet<Scope>) {
        self.by_scope.lock().expect("credentials lock").retain(|scope, _| scope.role_arn.is_none() || in_use.contains(scope));
    }

    async fn get(&self, scope: &Scope) -> Result<Credentials, CredentialsError> {
        let entry = self.by_scope.lock().expect("credentials lock").entry(scope.clone()).or_default().clone();
        let mut held = entry.lock().await;
        if let Some(credentials) = held.as_ref().filter(|c| fresh(c)) {
            return Ok(credentials.clone());
        }
        let credentials = match &scope.role_arn {
            Some(role) => self.assume(scope, role).await?,
            None => self.own().await?,
        };
        *held = Some(credentials.clone());
        Ok(credentials)
    }

    async fn own(&self) -> Result<Credentials, CredentialsError> {
        let chain = self.base.credentials_provider().ok_or_else(|| CredentialsError::not_loaded("no credentials configured"))?;
        chain.provide_credentials().await
    }

    async fn assume(&self, scope: &Scope, role: &str) -> Result<Credentials, CredentialsError> {
        let sts = self.sts(&scope.region);
        let answer = sts
            .assume_role()
            .role_arn(role)
            .role_session_name("trailwarden")
            .set_external_id(scope.external_id.clone())
            .send()
            .await
            .map_err(|e| match e {
                // A provider that timed out is an outage like any other (error.rs).
                SdkError::TimeoutError(_) => CredentialsError::provider_timed_out(Duration::from_secs(0)),
                other => CredentialsError::provider_error(DisplayErrorContext(other).to_string()),
            })?;
        let got = answer.credentials().ok_or_else(|| CredentialsError::provider_error("STS AssumeRole answered without credentials"))?;
        let expiry = SystemTime::try_from(*got.expiration()).ok();
        Ok(Credentials::new(got.access_key_id(), got.secret_access_key(), Some(got.session_token().to_owned()), expiry, "trailwarden-assume-role"))
    }

    fn sts(&self, region: &str) -> aws_sdk_sts::Client {
        let mut sts = self.sts.lock().expect("sts lock");
        sts.entry(region.to_owned())
            .or_insert_with(|| {
                let config = aws_sdk_sts::config::Builder::from(&self.base)
                    .region(Region::new(region.to_owned()))
                    .interceptor(RecordCalls(self.calls.clone()))
                    .build();
                aws_sdk_sts::Client::from_conf(config)
            })
            .clone()
    }
}

fn fresh(credentials: &Credentials) -> bool {
    credentials.expiry().is_none_or(|expiry| expiry > SystemTime::now() + RENEW_BEFORE)
}

/// The credentials provider of the shared clients: the credentials of the scope the
/// request runs [`within`], or of `fixed` (a client built for one scope).
#[derive(Clone)]
pub(super) struct ScopedCredentials {
    pub(super) all: Arc<ScopeCredentials>,
    pub(super) fixed: Option<Scope>,
}

impl std::fmt::Debug for ScopedCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScopedCredentials").field("fixed", &self.fixed).finish_non_exhaustive()
    }
}

impl ProvideCredentials for ScopedCredentials {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        let scope = self.fixed.clone().or_else(|| SCOPE.try_with(Scope::clone).ok());
        future::ProvideCredentials::new(async move {
            match scope {
                Some(scope) => self.all.get(&scope).await,
                None => Err(CredentialsError::not_loaded("a request made outside any scope is not signed")),
            }
        })
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
    async fn the_credentials_of_scopes_no_policy_uses_are_dropped_and_our_own_kept() {
        let base = aws_config::defaults(BehaviorVersion::latest()).region(Region::new("us-east-1")).load().await;
        let all = ScopeCredentials::new(base, CallLog::with_metrics(None));
        let (used, gone, own) = (scope(Some("arn:aws:iam::111122223333:role/t")), scope(Some("arn:aws:iam::444455556666:role/t")), scope(None));
        for s in [&used, &gone, &own] {
            all.by_scope.lock().unwrap().insert(s.clone(), Arc::default());
        }
        all.release_unused(&HashSet::from([used.clone()]));
        let kept: HashSet<Scope> = all.by_scope.lock().unwrap().keys().cloned().collect();
        assert_eq!(kept, HashSet::from([used, own]));
    }

    #[tokio::test]
    async fn a_request_outside_any_scope_gets_no_credentials() {
        let base = aws_config::defaults(BehaviorVersion::latest()).region(Region::new("us-east-1")).load().await;
        let provider = ScopedCredentials { all: Arc::new(ScopeCredentials::new(base, CallLog::with_metrics(None))), fixed: None };
        let refused = provider.provide_credentials().await.expect_err("no scope, no credentials");
        assert!(matches!(refused, CredentialsError::CredentialsNotLoaded(_)), "{refused:?}");
    }

    #[tokio::test]
    async fn credentials_are_renewed_before_they_expire() {
        let at = |secs: u64| Credentials::new("AKID", "secret", None, Some(SystemTime::now() + Duration::from_secs(secs)), "test");
        assert!(fresh(&at(3600)));
        assert!(!fresh(&at(60)), "within the renewal margin");
        assert!(fresh(&Credentials::new("AKID", "secret", None, None, "static")), "no expiry: static credentials");
    }
}
