//! A TrailPolicySet's service control policy in AWS Organizations: read (by the id the set
//! recorded, else by name), created tagged as the set's, its content and attachments
//! written. Only the management account (or a delegated administrator for policy
//! management) may make these calls.

use std::collections::BTreeSet;

use aws_sdk_organizations::types::{PolicyType, Tag};
use trailwarden_core::Scope;
use trailwarden_core::set::prevention::{OWNER_TAG, ObservedScp};

use super::AwsResult;
use super::organizations::ORGANIZATIONS;
use super::paging::{Bound, pages};
use super::sdk::SdkAws;

/// ListPolicies read at most when looking an SCP up by name (20 a page: Organizations
/// allows 1,000 SCPs).
const POLICIES: Bound = Bound { pages: 60, items: usize::MAX };
/// An SCP's targets read at most (20 a page: a root, 2,000 OUs and 10,000 accounts).
const TARGETS: Bound = Bound { pages: 600, items: usize::MAX };

impl SdkAws {
    /// The SCP named `name` (the one of id `recorded` first: the set made it), its
    /// content, whether it carries `set` in the owner tag, and its targets. None when
    /// Organizations holds no SCP of that name.
    pub async fn service_control_policy(&self, scope: &Scope, name: &str, recorded: Option<&str>, set: &str) -> AwsResult<Option<ObservedScp>> {
        let mut found = None;
        if let Some(recorded) = recorded {
            // The id the set recorded counts only under the declared name: a status
            // edited to name another policy's id never makes that policy the set's.
            found = self.scp_content(scope, recorded).await?.filter(|(_, held, _)| held == name);
        }
        if found.is_none()
            && let Some(id) = self.scp_named(scope, name).await?
        {
            found = self.scp_content(scope, &id).await?;
        }
        let Some((id, _, content)) = found else { return Ok(None) };
        let tags = self.call(scope, &ORGANIZATIONS, "ListTagsForResource", |o| o.list_tags_for_resource().resource_id(&id).send()).await?;
        let tagged = tags.tags().iter().any(|t| t.key() == OWNER_TAG && t.value() == set);
        let targets = self.scp_targets(scope, &id).await?;
        Ok(Some(ObservedScp { id, content, tagged, targets }))
    }

    /// The policy's id, name and content, or None when Organizations holds no policy `id`.
    async fn scp_content(&self, scope: &Scope, id: &str) -> AwsResult<Option<(String, String, String)>> {
        match self.call(scope, &ORGANIZATIONS, "DescribePolicy", |o| o.describe_policy().policy_id(id).send()).await {
            Ok(out) => {
                let policy = out.policy();
                let name = policy.and_then(|p| p.policy_summary()).and_then(|s| s.name()).unwrap_or_default().to_owned();
                Ok(Some((id.to_owned(), name, policy.and_then(|p| p.content()).unwrap_or_default().to_owned())))
            }
            Err(e) if e.code == "PolicyNotFoundException" => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn scp_named(&self, scope: &Scope, name: &str) -> AwsResult<Option<String>> {
        let listed = pages(POLICIES, |token| async move {
            let page = self
                .call(scope, &ORGANIZATIONS, "ListPolicies", |o| o.list_policies().filter(PolicyType::ServiceControlPolicy).set_next_token(token).send())
                .await?;
            let named = page.policies().iter().filter(|p| p.name() == Some(name)).filter_map(|p| p.id().map(str::to_owned)).collect();
            Ok((named, page.next_token().map(str::to_owned)))
        })
        .await?;
        Ok(listed.into_iter().next())
    }

    async fn scp_targets(&self, scope: &Scope, id: &str) -> AwsResult<BTreeSet<String>> {
        let targets = pages(TARGETS, |token| async move {
            let page = self
                .call(scope, &ORGANIZATIONS, "ListTargetsForPolicy", |o| o.list_targets_for_policy().policy_id(id).set_next_token(token).send())
                .await?;
            let targets = page.targets().iter().filter_map(|t| t.target_id().map(str::to_owned)).collect();
            Ok((targets, page.next_token().map(str::to_owned)))
        })
        .await?;
        Ok(targets.into_iter().collect())
    }

    /// Creates the SCP, tagged as `set`'s; its id.
    pub async fn create_service_control_policy(&self, scope: &Scope, name: &str, content: &str, set: &str) -> AwsResult<String> {
        let tag = owner_tag(set);
        let created = self
            .call(scope, &ORGANIZATIONS, "CreatePolicy", |o| {
                o.create_policy()
                    .name(name)
                    .description(format!("trailwarden: kept by TrailPolicySet {set}; denies the calls that blind CloudTrail"))
                    .r#type(PolicyType::ServiceControlPolicy)
                    .content(content)
                    .tags(tag)
                    .send()
            })
            .await?;
        Ok(created.policy().and_then(|p| p.policy_summary()).and_then(|s| s.id()).unwrap_or_default().to_owned())
    }

    pub async fn update_service_control_policy(&self, scope: &Scope, id: &str, content: &str) -> AwsResult<()> {
        self.call(scope, &ORGANIZATIONS, "UpdatePolicy", |o| o.update_policy().policy_id(id).content(content).send()).await.map(|_| ())
    }

    pub async fn tag_service_control_policy(&self, scope: &Scope, id: &str, set: &str) -> AwsResult<()> {
        let tag = owner_tag(set);
        self.call(scope, &ORGANIZATIONS, "TagResource", |o| o.tag_resource().resource_id(id).tags(tag).send()).await.map(|_| ())
    }

    pub async fn attach_service_control_policy(&self, scope: &Scope, id: &str, target: &str) -> AwsResult<()> {
        self.call(scope, &ORGANIZATIONS, "AttachPolicy", |o| o.attach_policy().policy_id(id).target_id(target).send()).await.map(|_| ())
    }

    pub async fn detach_service_control_policy(&self, scope: &Scope, id: &str, target: &str) -> AwsResult<()> {
        self.call(scope, &ORGANIZATIONS, "DetachPolicy", |o| o.detach_policy().policy_id(id).target_id(target).send()).await.map(|_| ())
    }
}

fn owner_tag(set: &str) -> Tag {
    Tag::builder().key(OWNER_TAG).value(set).build().expect("a tag with key and value")
}
