//! What becomes of the trail when its policy goes away: `deletionPolicy`, honoured by
//! the finalizer. An error keeps the finalizer, so a refusing AWS is retried, never skipped.

use trailwarden_core::plan::is_ours;
use trailwarden_core::report::{Failure, Notice, Reason, Severity};
use trailwarden_core::{DeletionPolicy, Desired, OWNER_TAG, OWNER_UID_TAG};

use crate::aws::{AwsError, AwsPort};

#[derive(Debug, PartialEq, Eq)]
pub enum Cleanup {
    /// Audit mode: AWS is never written to, so nothing was done.
    AuditOnly,
    NoTrail,
    NotOurs { arn: String },
    Retained { arn: String },
    Deleted { arn: String },
}

#[derive(Debug, thiserror::Error)]
pub enum CleanupError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("trail {0} is still listed after DeleteTrail; waiting for it to go")]
    DeletionPending(String),
}

impl CleanupError {
    pub fn category(&self) -> Failure {
        match self {
            CleanupError::Aws(e) => e.category(),
            CleanupError::DeletionPending(_) => Failure::DeletionPending,
        }
    }
}

impl Cleanup {
    pub fn notice(&self) -> Notice {
        let (reason, note) = match self {
            Cleanup::AuditOnly => (Reason::Released, "audit mode: the trail was not touched".to_owned()),
            Cleanup::NoTrail => (Reason::Released, "no trail to clean up".to_owned()),
            Cleanup::NotOurs { arn } => (Reason::TrailLeftAlone, format!("trail {arn} is not managed by this policy; left as it is")),
            Cleanup::Retained { arn } => (
                Reason::TrailRetained,
                format!("deletionPolicy Retain: trail {arn} kept, our tags removed; nothing heals it any more"),
            ),
            Cleanup::Deleted { arn } => (Reason::TrailDeleted, format!("deletionPolicy Delete: trail {arn} deleted")),
        };
        // A trail no policy heals any more, or gone, is never routine.
        let severity = if self.weakening().is_some() { Severity::Warning } else { Severity::Normal };
        Notice { severity, reason: reason.into(), action: "Cleanup", note }
    }

    /// What the deletion took from the trail, as `trailwarden_weakening_total` names it.
    pub fn weakening(&self) -> Option<&'static str> {
        match self {
            Cleanup::Retained { .. } => Some("trail_retained"),
            Cleanup::Deleted { .. } => Some("trail_deleted"),
            _ => None,
        }
    }
}

pub async fn cleanup<P: AwsPort>(port: &P, desired: &Desired) -> Result<Cleanup, CleanupError> {
    if desired.audit() {
        return Ok(Cleanup::AuditOnly);
    }
    // What is removed or deleted is judged from fresh reads, never shared ones.
    let fresh = port.fresh(false);
    let port = fresh.as_ref().unwrap_or(port);
    let scope = &desired.scope;
    let owner = super::observe::accounts(port, desired).await?.owner;
    let trails = port.describe_trails(scope, &desired.trail_name).await?;
    let Some(trail) = super::observe::find(desired, &owner, trails).filter(|t| t.home_region == scope.region) else {
        return Ok(Cleanup::NoTrail);
    };
    let tags = port.list_tags(scope, &trail.arn).await?;
    if !is_ours(desired, &trail.arn, &tags) {
        return Ok(Cleanup::NotOurs { arn: trail.arn });
    }
    match desired.deletion_policy {
        DeletionPolicy::Retain => {
            port.remove_tags(scope, &trail.arn, &[OWNER_TAG.to_owned(), OWNER_UID_TAG.to_owned()]).await?;
            Ok(Cleanup::Retained { arn: trail.arn })
        }
        DeletionPolicy::Delete => {
            port.delete_trail(scope, &trail.arn).await?;
            if port.describe_trails(scope, &desired.trail_name).await?.iter().any(|t| t.arn == trail.arn) {
                return Err(CleanupError::DeletionPending(trail.arn));
            }
            Ok(Cleanup::Deleted { arn: trail.arn })
        }
    }
}
