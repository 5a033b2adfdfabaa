//! How a pass fails, and how soon a failed pass is tried again.

use std::time::Duration;

use trailwarden_core::report::{Failure, StageFailure};

use super::desired::InvalidSpec;
use crate::pass::cleanup::CleanupError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    InvalidSpec(#[from] InvalidSpec),
    /// The pass ran to its end, but a stage failed (already in the status).
    #[error("{0}")]
    Stage(StageFailure),
    #[error(transparent)]
    Cleanup(#[from] CleanupError),
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Finalizer(Box<kube::runtime::finalizer::Error<Error>>),
}

impl Error {
    /// Category for logs, Events and metrics.
    pub fn category(&self) -> Failure {
        match self {
            Error::InvalidSpec(_) => Failure::InvalidSpec,
            Error::Stage(f) => f.failure,
            Error::Cleanup(e) => e.category(),
            Error::Kube(_) => Failure::KubernetesApi,
            Error::Finalizer(e) => match e.as_ref() {
                kube::runtime::finalizer::Error::ApplyFailed(inner)
                | kube::runtime::finalizer::Error::CleanupFailed(inner) => inner.category(),
                _ => Failure::Finalizer,
            },
        }
    }
}

/// Whether the finalizer patch was refused because the object's finalizers were not what
/// the cached object showed (the patch tests them first: 422 Invalid, or 409 Conflict).
pub(super) fn stale_finalizers(error: &Error) -> bool {
    use kube::runtime::finalizer::Error as F;
    let Error::Finalizer(e) = error else { return false };
    match e.as_ref() {
        F::AddFinalizer(kube::Error::Api(status)) | F::RemoveFinalizer(kube::Error::Api(status)) => {
            status.code == 422 || status.code == 409
        }
        _ => false,
    }
}

/// CloudTrail refuses a bucket or key whose policy does not let it in (DeliveryRefused),
/// and a policy just written may take some seconds to apply: the first refusals are asked
/// again at this pace, before the ordinary back-off.
const POLICY_SETTLING: Duration = Duration::from_secs(2);
const POLICY_SETTLING_TRIES: u32 = 5;

/// When the `failures`-th failure in a row of a policy's pass is tried again.
pub(super) fn retry_in(error: &Error, failures: u32) -> Duration {
    if error.category() == Failure::DeliveryRefused && failures <= POLICY_SETTLING_TRIES {
        return POLICY_SETTLING;
    }
    backoff(failures)
}

pub(super) fn backoff(failures: u32) -> Duration {
    Duration::from_secs(2u64.saturating_pow(failures.min(16)).min(300))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_delivery_is_asked_again_within_seconds_a_few_times() {
        use trailwarden_core::report::Stage;
        let refused = |failure| Error::Stage(StageFailure { stage: Stage::Settings, failure, message: String::new() });
        let delivery = refused(Failure::DeliveryRefused);
        assert_eq!(retry_in(&delivery, 1), POLICY_SETTLING);
        assert_eq!(retry_in(&delivery, POLICY_SETTLING_TRIES), POLICY_SETTLING);
        assert_eq!(retry_in(&delivery, POLICY_SETTLING_TRIES + 1), backoff(POLICY_SETTLING_TRIES + 1), "then the ordinary back-off");
        assert_eq!(retry_in(&refused(Failure::AccessDenied), 5), backoff(5));
    }

    #[test]
    fn backoff_doubles_then_caps() {
        assert_eq!(backoff(1), Duration::from_secs(2));
        assert_eq!(backoff(2), Duration::from_secs(4));
        assert_eq!(backoff(8), Duration::from_secs(256));
        assert_eq!(backoff(9), Duration::from_secs(300));
        assert_eq!(backoff(100), Duration::from_secs(300));
    }
}
