//! Fixtures for tests of the domain and of the crates built on it (feature `testing`): a
//! hardened policy, the trail exactly as it asks, and a bucket and a key that pass their
//! checks.

use crate::observed::ObservedTrail;
use crate::policy::{Adoption, DeletionPolicy, Desired, Mode, Scope};
use crate::posture::TrailRef;
use crate::posture::bucket::BucketFacts;
use crate::posture::key::KeyFacts;
use crate::trail::{Insights, Selectors, Tags, TrailSettings};

pub const TRAIL_ARN: &str = "arn:aws:cloudtrail:us-east-1:111122223333:trail/audit";
pub const KEY_ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

/// Policy "audit" (uid "uid-1"): multi-region, validated, KMS-encrypted, tagged team=security.
pub fn desired() -> Desired {
    Desired {
        policy_name: "audit".into(),
        policy_uid: "uid-1".into(),
        trail_name: "audit".into(),
        scope: Scope { role_arn: None, external_id: None, region: "us-east-1".into() },
        mode: Mode::Enforce,
        adoption: Adoption::Never,
        adoption_may_weaken: false,
        deletion_policy: DeletionPolicy::Retain,
        logging: true,
        settings: TrailSettings {
            bucket: "logs".into(),
            key_prefix: Some("audit".into()),
            sns_topic: None,
            kms_key: Some(KEY_ARN.into()),
            log_file_validation: true,
            include_global_service_events: true,
            multi_region: true,
            organization: false,
            cloud_watch_logs: None,
        },
        selectors: Selectors::aws_default(),
        insights: Insights::new(),
        tags: Tags::from([("team".into(), "security".into())]),
        posture: Default::default(),
        log_archive: None,
        notify_topic: None,
        peers: Default::default(),
        remembered: Default::default(),
        floor: Default::default(),
    }
}

/// The trail exactly as `d` wants it, created by that policy.
pub fn in_sync(d: &Desired) -> ObservedTrail {
    let mut trail = ObservedTrail::created(&d.trail_name, TRAIL_ARN.into(), &d.scope.region, &d.settings, &d.all_tags());
    trail.description.has_custom_event_selectors = !d.selectors.is_aws_default();
    trail.description.has_insight_selectors = !d.insights.is_empty();
    trail.selectors = d.selectors.clone();
    trail.insights = d.insights.clone();
    trail.status.is_logging = d.logging;
    trail
}

/// Basic selectors that record write management events only: below "every management
/// event, read and write".
pub fn write_only_management() -> Selectors {
    Selectors::Basic(vec![crate::trail::EventSelector {
        read_write_type: crate::trail::ReadWriteType::WriteOnly,
        include_management_events: true,
        exclude_management_event_sources: vec![],
        data_resources: vec![],
    }])
}

/// The account of [`TRAIL_ARN`].
pub const ACCOUNT: &str = "111122223333";

/// The trail of [`desired`] as the bucket and key checks see it.
pub fn trail_ref() -> TrailRef<'static> {
    TrailRef { arn: TRAIL_ARN, account: ACCOUNT, prefix: Some("audit"), organization: false, organization_id: None }
}

/// A private bucket: Block Public Access on, versioned, access-logged elsewhere, ACLs
/// off, no public grant and no bucket policy.
pub fn bucket(name: &str) -> BucketFacts {
    BucketFacts {
        name: name.into(),
        region: "us-east-1".into(),
        public_access_block: Ok([true; 4]),
        policy: Ok(None),
        public_acl_grantees: Ok(vec![]),
        versioning_enabled: Ok(true),
        mfa_delete_enabled: Ok(false),
        access_log_target: Ok(Some("access-logs".into())),
        object_ownership: Ok(Some("BucketOwnerEnforced".into())),
        lifecycle: Ok(vec![]),
        encryption: Ok(Some("AES256".into())),
        object_lock: Ok(None),
    }
}

/// [`KEY_ARN`]: enabled, symmetric, rotating, with this key policy.
pub fn key(policy: &str) -> KeyFacts {
    KeyFacts {
        arn: KEY_ARN.into(),
        state: Ok("Enabled".into()),
        deletion_date: None,
        spec: Ok("SYMMETRIC_DEFAULT".into()),
        rotation_enabled: Ok(true),
        policy: Ok(policy.into()),
    }
}
