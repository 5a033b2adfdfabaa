//! Leader election on a `coordination.k8s.io` Lease, so two replicas can run and only
//! one reconciles.
//!
//! As client-go does, expiry is judged on our own clock: a lease is free when its record
//! has not changed for a whole lease duration since we first saw it that way, so clock
//! skew between replicas cannot hand the lease to two holders.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::Client;
use tokio::sync::Mutex;
use tokio::time::Instant;
use tracing::{debug, info};

#[derive(Clone, Debug)]
pub struct LeaseConfig {
    pub name: String,
    pub namespace: String,
    /// This replica's identity (the pod name).
    pub identity: String,
    pub duration: Duration,
}

impl LeaseConfig {
    /// How often the holder renews: a third of the lease, as client-go does.
    pub fn renew_every(&self) -> Duration {
        self.duration / 3
    }

    /// How often a standby replica tries to take the lease.
    pub fn retry_every(&self) -> Duration {
        (self.duration / 7).max(Duration::from_millis(500))
    }
}

pub struct LeaderElector {
    api: Api<Lease>,
    config: LeaseConfig,
    /// The lease record last seen (holder, renew time) and when we first saw it.
    observed: Mutex<Option<(String, Instant)>>,
}

impl LeaderElector {
    pub fn new(client: Client, config: LeaseConfig) -> Self {
        LeaderElector { api: Api::namespaced(client, &config.namespace), config, observed: Mutex::new(None) }
    }

    pub fn config(&self) -> &LeaseConfig {
        &self.config
    }

    /// Waits until this replica holds the lease.
    pub async fn acquire(&self) -> Result<(), kube::Error> {
        loop {
            if self.try_acquire_or_renew().await? {
                info!(lease = %self.config.name, identity = %self.config.identity, "became leader");
                return Ok(());
            }
            tokio::time::sleep(self.config.retry_every()).await;
        }
    }

    /// Renews the lease; false when someone else holds it now.
    pub async fn renew(&self) -> Result<bool, kube::Error> {
        self.try_acquire_or_renew().await
    }

    /// Gives the lease up so a standby takes over at once instead of waiting for expiry.
    pub async fn release(&self) -> Result<(), kube::Error> {
        let Some(mut lease) = self.api.get_opt(&self.config.name).await? else { return Ok(()) };
        let spec = lease.spec.get_or_insert_with(Default::default);
        if spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.renew_time = None;
        spec.acquire_time = None;
        self.api.replace(&self.config.name, &PostParams::default(), &lease).await?;
        info!(lease = %self.config.name, "released leadership");
        Ok(())
    }

    async fn try_acquire_or_renew(&self) -> Result<bool, kube::Error> {
        let now = MicroTime(Timestamp::now());
        let me = self.config.identity.clone();
        let duration = i32::try_from(self.config.duration.as_secs()).unwrap_or(i32::MAX);
        let Some(mut lease) = self.api.get_opt(&self.config.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta { name: Some(self.config.name.clone()), ..Default::default() },
                spec: Some(LeaseSpec {
                    holder_identity: Some(me),
                    lease_duration_seconds: Some(duration),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            return conflict_is_false(self.api.create(&PostParams::default(), &lease).await);
        };
        let spec = lease.spec.get_or_insert_with(Default::default);
        let holder = spec.holder_identity.clone().unwrap_or_default();
        if holder != me && !holder.is_empty() && !self.expired(&holder, spec).await {
            debug!(holder, "lease held by another replica");
            return Ok(false);
        }
        if holder != me {
            spec.acquire_time = Some(now.clone());
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
        spec.holder_identity = Some(me);
        spec.lease_duration_seconds = Some(duration);
        spec.renew_time = Some(now);
        // replace carries the resourceVersion we read: if another replica wrote in
        // between, the apiserver refuses with 409 and we did not take the lease.
        conflict_is_false(self.api.replace(&self.config.name, &PostParams::default(), &lease).await)
    }

    /// True when the holder's record has not changed for a whole lease duration.
    async fn expired(&self, holder: &str, spec: &LeaseSpec) -> bool {
        let record = format!("{holder}@{:?}", spec.renew_time.as_ref().map(|t| t.0));
        let mut observed = self.observed.lock().await;
        match observed.as_ref() {
            Some((seen, since)) if *seen == record => {
                let lease = Duration::from_secs(spec.lease_duration_seconds.unwrap_or(15).max(1) as u64);
                since.elapsed() > lease
            }
            _ => {
                *observed = Some((record, Instant::now()));
                false
            }
        }
    }
}

fn conflict_is_false<T>(result: Result<T, kube::Error>) -> Result<bool, kube::Error> {
    match result {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}
