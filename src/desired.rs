//! `TrailPolicy → Desired`: the spec with defaults applied and values normalised, so the
//! plan compares it with what AWS reports without tripping on spelling.

use crate::api::{Adoption, DeletionPolicy, Mode, OWNER_TAG, OWNER_UID_TAG, Posture, TrailPolicy};
use crate::aws::Scope;
use crate::trail::{CloudWatchTarget, Insights, Selectors, Tags, TrailSettings};

/// What one policy asks for, ready to compare with AWS.
#[derive(Clone, Debug, PartialEq)]
pub struct Desired {
    pub policy_name: String,
    pub policy_uid: String,
    pub trail_name: String,
    pub scope: Scope,
    pub mode: Mode,
    pub adoption: Adoption,
    pub deletion_policy: DeletionPolicy,
    pub logging: bool,
    /// `kms_key` holds the key as declared until [`Desired::with_kms_key_arn`] resolves it.
    pub settings: TrailSettings,
    pub selectors: Selectors,
    pub insights: Insights,
    /// The tags the policy declares (ours not included).
    pub tags: Tags,
    /// What the log bucket and the key must be, and whether we may fix them.
    pub posture: Posture,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSpec {
    #[error("the policy has no {0} yet (it has not been stored by the API server)")]
    MissingMetadata(&'static str),
}

impl Desired {
    pub fn from_policy(policy: &TrailPolicy) -> Result<Self, InvalidSpec> {
        let policy_name = policy.metadata.name.clone().ok_or(InvalidSpec::MissingMetadata("name"))?;
        let policy_uid = policy.metadata.uid.clone().ok_or(InvalidSpec::MissingMetadata("uid"))?;
        let spec = &policy.spec;
        let selectors = if !spec.advanced_event_selectors.is_empty() {
            Selectors::Advanced(spec.advanced_event_selectors.clone())
        } else if !spec.event_selectors.is_empty() {
            Selectors::Basic(spec.event_selectors.clone())
        } else {
            Selectors::aws_default()
        };
        Ok(Desired {
            trail_name: spec.effective_trail_name(&policy_name).to_owned(),
            scope: Scope::new(spec.account.as_ref(), &spec.region),
            mode: spec.mode,
            adoption: spec.adoption,
            deletion_policy: spec.deletion_policy,
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
            insights: spec.insights.iter().copied().collect(),
            tags: spec.tags.clone(),
            posture: spec.posture.clone(),
            policy_name,
            policy_uid,
        })
    }

    /// The same, with the declared KMS key (alias, id or ARN) replaced by the ARN AWS reports.
    pub fn with_kms_key_arn(mut self, arn: Option<String>) -> Self {
        self.settings.kms_key = arn;
        self
    }

    /// The tags that mark a trail as this policy's.
    pub fn owner_tags(&self) -> Tags {
        Tags::from([
            (OWNER_TAG.to_owned(), self.policy_name.clone()),
            (OWNER_UID_TAG.to_owned(), self.policy_uid.clone()),
        ])
    }

    /// Every tag the trail must carry: the declared ones and ours.
    pub fn all_tags(&self) -> Tags {
        let mut tags = self.tags.clone();
        tags.extend(self.owner_tags());
        tags
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::TrailPolicySpec;

    fn policy(spec: serde_json::Value) -> TrailPolicy {
        let spec: TrailPolicySpec = serde_json::from_value(spec).unwrap();
        let mut policy = TrailPolicy::new("audit", spec);
        policy.metadata.uid = Some("uid-1".into());
        policy
    }

    #[test]
    fn defaults_and_normalisation() {
        let desired = Desired::from_policy(&policy(serde_json::json!({
            "region": "eu-west-1", "s3": {"bucketName": "logs", "keyPrefix": ""}, "snsTopicName": ""
        })))
        .unwrap();
        assert_eq!(desired.trail_name, "audit", "trail name defaults to the policy name");
        assert_eq!(desired.settings.key_prefix, None, "empty prefix is no prefix");
        assert_eq!(desired.settings.sns_topic, None, "empty topic is no topic");
        assert!(desired.selectors.is_aws_default(), "no selectors declared means AWS's default");
        assert_eq!(desired.scope.region, "eu-west-1");
        assert_eq!(desired.all_tags().get(OWNER_UID_TAG).map(String::as_str), Some("uid-1"));
    }

    #[test]
    fn a_policy_not_yet_stored_is_refused() {
        let mut p = policy(serde_json::json!({"region": "eu-west-1", "s3": {"bucketName": "logs"}}));
        p.metadata.uid = None;
        assert_eq!(Desired::from_policy(&p), Err(InvalidSpec::MissingMetadata("uid")));
    }
}
