//! Leader election on a `coordination.k8s.io` Lease, so two replicas can run and only
//! one reconciles.
//!
//! As client-go does, expiry is judged on our own clock: a lease is free when its record
//! has not changed for a whole lease duration since we first saw it that way, so clock
//! skew between replicas cannot hand the lease to two holders.
//!
//! And as client-go separates `renewDeadline` from `leaseDuration`: a leader that has not
//! renewed within the renew deadline (shorter than the lease) gives up at once — before
//! any standby can see the lease as expired — so a leader cut off from the apiserver
//! stops writing to AWS before another one starts. Every apiserver call has a timeout.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::Client;
use tokio::sync::Mutex;
use tokio::time::Instant;
use tracing::{debug, info, warn};

#[derive(Clone, Debug)]
pub struct LeaseConfig {
    pub name: String,
    pub namespace: String,
    /// This replica's identity (the pod name).
    pub identity: String,
    pub duration: Duration,
    /// How long a leader keeps leading without a successful renewal. Shorter than
    /// `duration`; the difference is the margin in which the old leader has stopped and
    /// no standby may yet start.
    pub renew_deadline: Duration,
}

impl LeaseConfig {
    /// The renew deadline client-go's defaults imply (10 s of a 15 s lease): two thirds.
    pub fn default_renew_deadline(duration: Duration) -> Duration {
        duration * 2 / 3
    }

    /// How often the holder renews and a standby tries to take the lease.
    pub fn retry_every(&self) -> Duration {
        (self.duration / 7).max(Duration::from_millis(500))
    }

    /// The longest one apiserver call of the lease may take.
    fn call_timeout(&self) -> Duration {
        self.retry_every().max(Duration::from_secs(1))
    }
}

/// How a leader stopped leading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LostLease {
    /// Another replica holds the lease now.
    TakenOver,
    /// No renewal succeeded within the renew deadline (the apiserver unreachable or slow).
    DeadlinePassed,
}

#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("the apiserver did not answer within {0:?}")]
    TimedOut(Duration),
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

    /// Waits until this replica holds the lease; returns when the winning attempt began,
    /// which is when the renew deadline starts to count.
    pub async fn acquire(&self) -> Instant {
        loop {
            let started = Instant::now();
            match self.attempt().await {
                Ok(true) => {
                    info!(lease = %self.config.name, identity = %self.config.identity, "became leader");
                    return started;
                }
                Ok(false) => {}
                Err(e) => warn!(error = %e, "could not read or take the lease; retrying"),
            }
            tokio::time::sleep(self.config.retry_every()).await;
        }
    }

    /// Keeps the lease renewed from `renewed` (when the last successful attempt began)
    /// and returns as soon as it is lost. The deadline is enforced on the clock, not
    /// after a slow call returns: a hanging apiserver cannot keep us leading.
    pub async fn hold(&self, mut renewed: Instant) -> LostLease {
        loop {
            let deadline = renewed + self.config.renew_deadline;
            let attempt = async {
                tokio::time::sleep(self.config.retry_every()).await;
                let started = Instant::now();
                (started, self.attempt().await)
            };
            match tokio::time::timeout_at(deadline, attempt).await {
                Err(_) => {
                    warn!(deadline = ?self.config.renew_deadline, "lease not renewed within the renew deadline; stepping down");
                    return LostLease::DeadlinePassed;
                }
                Ok((started, Ok(true))) => renewed = started,
                Ok((_, Ok(false))) => {
                    warn!("another replica holds the lease now; stepping down");
                    return LostLease::TakenOver;
                }
                Ok((_, Err(e))) => warn!(error = %e, "lease renewal failed; retrying until the renew deadline"),
            }
        }
    }

    /// One try to take or renew the lease, within the call timeout.
    async fn attempt(&self) -> Result<bool, LeaseError> {
        let limit = self.config.call_timeout();
        tokio::time::timeout(limit, self.try_acquire_or_renew()).await.map_err(|_| LeaseError::TimedOut(limit))?.map_err(Into::into)
    }

    /// Gives the lease up so a standby takes over at once instead of waiting for expiry.
    pub async fn release(&self) -> Result<(), LeaseError> {
        let limit = self.config.call_timeout();
        tokio::time::timeout(limit, self.release_now()).await.map_err(|_| LeaseError::TimedOut(limit))?.map_err(Into::into)
    }

    async fn release_now(&self) -> Result<(), kube::Error> {
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
