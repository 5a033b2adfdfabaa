//! `TrailPolicy → Desired`: the one place the CRD's spec becomes the domain's view of
//! it, with defaults applied and empty strings read as "not set".

use trailwarden_core::posture::bucket::{LockMode, LockRequirement};
use kube::ResourceExt;
use trailwarden_core::ownership::Peers;
use trailwarden_core::posture::bucket::BucketPosture;
use trailwarden_core::posture::key::KmsPosture;
use trailwarden_core::trail::{self, CloudWatchTarget, Selectors, TrailSettings};
use trailwarden_core::{Adoption, DeletionPolicy, Desired, LogArchive, Mode, Scope, policy};

use super::api;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSpec {
    #[error("the policy has no {0} yet (it has not been stored by the API server)")]
    MissingMetadata(&'static str),
}

/// Where the policy's trail lives.
pub fn scope(spec: &api::TrailPolicySpec) -> Scope {
    Scope {
        role_arn: spec.account.as_ref().map(|a| a.role_arn.clone()),
        external_id: spec.account.as_ref().and_then(|a| a.external_id.clone()),
        region: spec.region.clone(),
    }
}

pub fn desired(policy: &api::TrailPolicy) -> Result<Desired, InvalidSpec> {
    let policy_name = policy.metadata.name.clone().ok_or(InvalidSpec::MissingMetadata("name"))?;
    let policy_uid = policy.uid().ok_or(InvalidSpec::MissingMetadata("uid"))?;
    let spec = &policy.spec;
    let selectors = if !spec.advanced_event_selectors.is_empty() {
        Selectors::Advanced(spec.advanced_event_selectors.iter().map(advanced_selector).collect())
    } else if !spec.event_selectors.is_empty() {
        Selectors::Basic(spec.event_selectors.iter().map(event_selector).collect())
    } else {
        Selectors::aws_default()
    };
    Ok(Desired {
        trail_name: spec.effective_trail_name(&policy_name).to_owned(),
        scope: scope(spec),
        mode: match spec.mode {
            api::Mode::Enforce => Mode::Enforce,
            api::Mode::Audit => Mode::Audit,
        },
        adoption: match spec.adoption {
            api::Adoption::Never => Adoption::Never,
            api::Adoption::IfTagged => Adoption::IfTagged,
            api::Adoption::Always => Adoption::Always,
        },
        adoption_may_weaken: spec.adoption_may_weaken,
        deletion_policy: match spec.deletion_policy {
            api::DeletionPolicy::Retain => DeletionPolicy::Retain,
            api::DeletionPolicy::Delete => DeletionPolicy::Delete,
        },
        logging: spec.logging,
        settings: TrailSettings {
            bucket: spec.s3.bucket_name.clone(),
            key_prefix: spec.s3.key_prefix.clone().filter(|p| !p.is_empty()),
            sns_topic: spec.sns_topic_name.clone().filter(|t| !t.is_empty()),
            kms_key: spec.kms_key_id.clone().filter(|k| !k.is_empty()),
            log_file_validation: spec.log_file_validation,
            include_global_service_events: spec.include_global_service_events,
            multi_region: spec.multi_region,
            organization: spec.organization,
            cloud_watch_logs: spec.cloud_watch_logs.as_ref().and_then(|c| {
                Some(CloudWatchTarget { log_group_arn: c.log_group_arn.clone()?, role_arn: c.role_arn.clone()? })
            }),
        },
        selectors,
        insights: spec.insights.iter().map(|i| insight(*i)).collect(),
        tags: spec.tags.clone(),
        posture: posture(&spec.posture),
        log_archive: spec.log_archive.as_ref().map(|la| LogArchive {
            account: la.account_id.clone(),
            role: la.role_arn.as_ref().map(|role| Scope {
                role_arn: Some(role.clone()),
                external_id: la.external_id.clone(),
                region: spec.region.clone(),
            }),
        }),
        notify_topic: spec.notify.as_ref().map(|n| n.sns_topic_arn.clone()),
        // The other policies are the controller's to fill in.
        peers: Peers { created: policy.metadata.creation_timestamp.as_ref().map(|t| t.0), ..Peers::default() },
        remembered: Default::default(),
        floor: Default::default(),
        policy_name,
        policy_uid,
    })
}

fn posture(p: &api::Posture) -> policy::Posture {
    let api::BucketPosture {
        manage,
        require_public_access_block,
        require_versioning,
        require_mfa_delete,
        require_access_logging,
        retention_days,
        object_lock,
    } = p.bucket.clone();
    let object_lock = object_lock.map(|l| LockRequirement {
        mode: match l.mode {
            api::LockMode::Governance => LockMode::Governance,
            api::LockMode::Compliance => LockMode::Compliance,
        },
        days: l.days,
    });
    let api::KmsPosture { manage: manage_key, require_rotation } = p.kms.clone();
    policy::Posture {
        bucket: BucketPosture {
            manage,
            require_public_access_block,
            require_versioning,
            require_mfa_delete,
            require_access_logging,
            retention_days,
            object_lock,
        },
        kms: KmsPosture { manage: manage_key, require_rotation },
    }
}

fn insight(i: api::InsightType) -> trail::InsightType {
    match i {
        api::InsightType::ApiCallRateInsight => trail::InsightType::ApiCallRateInsight,
        api::InsightType::ApiErrorRateInsight => trail::InsightType::ApiErrorRateInsight,
    }
}

fn event_selector(s: &api::EventSelector) -> trail::EventSelector {
    trail::EventSelector {
        read_write_type: match s.read_write_type {
            api::ReadWriteType::ReadOnly => trail::ReadWriteType::ReadOnly,
            api::ReadWriteType::WriteOnly => trail::ReadWriteType::WriteOnly,
            api::ReadWriteType::All => trail::ReadWriteType::All,
        },
        include_management_events: s.include_management_events,
        exclude_management_event_sources: s.exclude_management_event_sources.clone(),
        data_resources: s
            .data_resources
            .iter()
            .map(|d| trail::DataResource { type_: d.type_.clone(), values: d.values.clone() })
            .collect(),
    }
}

fn advanced_selector(s: &api::AdvancedEventSelector) -> trail::AdvancedEventSelector {
    trail::AdvancedEventSelector {
        name: s.name.clone(),
        field_selectors: s
            .field_selectors
            .iter()
            .map(|f| trail::AdvancedFieldSelector {
                field: f.field.clone(),
                equals: f.equals.clone(),
                starts_with: f.starts_with.clone(),
                ends_with: f.ends_with.clone(),
                not_equals: f.not_equals.clone(),
                not_starts_with: f.not_starts_with.clone(),
                not_ends_with: f.not_ends_with.clone(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trailwarden_core::OWNER_UID_TAG;

    fn policy(spec: serde_json::Value) -> api::TrailPolicy {
        let spec: api::TrailPolicySpec = serde_json::from_value(spec).unwrap();
        let mut policy = api::TrailPolicy::new("audit", spec);
        policy.metadata.uid = Some("uid-1".into());
        policy
    }

    #[test]
    fn defaults_and_normalisation() {
        let desired = desired(&policy(serde_json::json!({
            "region": "eu-west-1", "s3": {"bucketName": "logs", "keyPrefix": ""}, "snsTopicName": ""
        })))
        .unwrap();
        assert_eq!(desired.trail_name, "audit", "trail name defaults to the policy name");
        assert_eq!(desired.settings.key_prefix, None, "empty prefix is no prefix");
        assert_eq!(desired.settings.sns_topic, None, "empty topic is no topic");
        assert!(desired.selectors.is_aws_default(), "no selectors declared means AWS's default");
        assert_eq!(desired.scope.region, "eu-west-1");
        assert_eq!(desired.all_tags().get(OWNER_UID_TAG).map(String::as_str), Some("uid-1"));
        assert!(desired.posture.bucket.require_versioning && !desired.posture.bucket.manage);
    }

    #[test]
    fn selectors_and_account_are_carried_over() {
        let desired = desired(&policy(serde_json::json!({
            "region": "eu-west-1", "s3": {"bucketName": "logs"},
            "account": {"roleArn": "arn:aws:iam::111122223333:role/tw", "externalId": "xyz"},
            "advancedEventSelectors": [{"fieldSelectors": [{"field": "eventCategory", "equals": ["Management"]}]}]
        })))
        .unwrap();
        assert_eq!(desired.scope.role_account(), Some("111122223333"));
        assert_eq!(desired.scope.external_id.as_deref(), Some("xyz"));
        let Selectors::Advanced(advanced) = &desired.selectors else { panic!("{:?}", desired.selectors) };
        assert_eq!(advanced[0].field_selectors[0].equals, ["Management"]);
    }

    #[test]
    fn the_log_archive_account_and_its_role_are_carried_over() {
        let desired = desired(&policy(serde_json::json!({
            "region": "us-east-1", "s3": {"bucketName": "org-logs"},
            "logArchive": {"accountId": "444455556666", "roleArn": "arn:aws:iam::444455556666:role/archive", "externalId": "abc"}
        })))
        .unwrap();
        let archive = desired.log_archive.expect("log archive");
        assert_eq!(archive.account, "444455556666");
        let role = archive.role.expect("role");
        assert_eq!((role.role_account(), role.external_id.as_deref()), (Some("444455556666"), Some("abc")));
    }

    #[test]
    fn a_policy_not_yet_stored_is_refused() {
        let mut p = policy(serde_json::json!({"region": "eu-west-1", "s3": {"bucketName": "logs"}}));
        p.metadata.uid = None;
        assert_eq!(super::desired(&p), Err(InvalidSpec::MissingMetadata("uid")));
    }
}
