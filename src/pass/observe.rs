//! Stage `observe`: what the trail, the account and the log bucket look like now, read
//! with as few calls as possible. DescribeTrails, GetTrailStatus and ListTags are always
//! needed; selectors and insights are read only when the trail reports custom ones or
//! the policy declares some.

use trailwarden_core::posture::PostureFacts;
use trailwarden_core::trail::{Insights, Selectors, TrailDescription};
use trailwarden_core::policy::Organization;
use trailwarden_core::{Desired, Observed, ObservedTrail, Reach};

use super::resolve::Resolved;
use crate::aws::{AwsPort, AwsResult};

pub struct Observation {
    pub observed: Observed,
    /// The account that owns the trail (for an organization trail, the organization's
    /// management account, whichever account manages it).
    pub account: String,
    /// The organization's id, for an organization trail (its logs' path names it).
    pub organization_id: Option<String>,
    /// How the log bucket is reached (see [`Desired::bucket_reach`]).
    pub bucket_reach: Reach,
    pub facts: PostureFacts,
}

impl Observation {
    /// The trail's ARN: as observed, or as CloudTrail will name it once created.
    pub fn trail_arn(&self, desired: &Desired) -> String {
        self.observed.arn().map(str::to_owned).unwrap_or_else(|| desired.expected_trail_arn(&self.account))
    }
}

/// With the trail seen: the account it lives in, and the bucket and key facts. Run only
/// for a trail the policy may touch, so a trail that is not ours costs no posture reads.
pub async fn around<P: AwsPort>(port: &P, resolved: &Resolved, observed: Observed) -> AwsResult<Observation> {
    let desired = &resolved.desired;
    let acting = port.account_id(&desired.scope).await?;
    let organization = organization(port, desired).await?;
    let account = organization.as_ref().map_or_else(|| acting.clone(), |o| o.management_account.clone());
    let bucket_reach = desired.bucket_reach(&acting);
    let bucket = port.describe_bucket(&bucket_reach, &desired.settings.bucket).await.map_err(|e| e.to_string());
    let key = resolved.key.as_ref().map(|k| k.clone().map_err(|e| e.to_string()));
    let organization_id = organization.map(|o| o.id);
    Ok(Observation { observed, account, organization_id, bucket_reach, facts: PostureFacts { bucket, key } })
}

/// Of the trails DescribeTrails lists in the policy's scope, the policy's own: the one of
/// the policy's account with its name, matched by ARN. The list holds more than the
/// account's trails: in a member account, the organization's trail of the management
/// account is listed too, and a trail of the same name there is never ours. A trail of
/// the account homed in another region is listed as its shadow.
pub async fn find<P: AwsPort>(port: &P, desired: &Desired, trails: Vec<TrailDescription>) -> AwsResult<Option<TrailDescription>> {
    if !trails.iter().any(|t| t.name == desired.trail_name) {
        return Ok(None);
    }
    let account = trail_owner(port, desired).await?;
    let home = desired.expected_trail_arn(&account);
    let ours = |t: &TrailDescription| {
        t.arn == home || (t.name == desired.trail_name && trail_account(&t.arn) == Some(account.as_str()) && t.home_region != desired.scope.region)
    };
    // The trail homed here before any shadow of the same name.
    let mut candidates: Vec<TrailDescription> = trails.into_iter().filter(ours).collect();
    candidates.sort_by_key(|t| t.arn != home);
    Ok(candidates.into_iter().next())
}

/// The account that owns the policy's trail: the role's account or the controller's own
/// (asked once, then remembered) — and for an organization trail, the organization's
/// management account: an organization trail a delegated administrator creates is the
/// management account's, and its ARN says so.
pub async fn trail_owner<P: AwsPort>(port: &P, desired: &Desired) -> AwsResult<String> {
    match organization(port, desired).await? {
        Some(org) => Ok(org.management_account),
        None => port.account_id(&desired.scope).await,
    }
}

/// The organization of an organization trail's account; None for any other trail (not
/// asked) or an account in no organization.
async fn organization<P: AwsPort>(port: &P, desired: &Desired) -> AwsResult<Option<Organization>> {
    if !desired.settings.organization {
        return Ok(None);
    }
    let account = port.account_id(&desired.scope).await?;
    port.organization(&desired.scope, &account).await
}

/// The account a trail's ARN (`arn:<partition>:cloudtrail:<region>:<account>:trail/<name>`) names.
fn trail_account(arn: &str) -> Option<&str> {
    arn.split(':').nth(4)
}

/// The policy's trail as AWS shows it now.
pub async fn trail<P: AwsPort>(port: &P, desired: &Desired) -> AwsResult<Observed> {
    let scope = &desired.scope;
    let trails = port.describe_trails(scope, &desired.trail_name).await?;
    let Some(description) = find(port, desired, trails).await? else {
        return Ok(Observed::Absent);
    };
    if description.home_region != scope.region {
        return Ok(Observed::Shadow { arn: description.arn, home_region: description.home_region });
    }
    let arn = description.arn.as_str();
    let status = port.get_trail_status(scope, arn).await?;
    let tags = port.list_tags(scope, arn).await?;
    let selectors = if description.has_custom_event_selectors || !desired.selectors.is_aws_default() {
        port.get_event_selectors(scope, arn).await?
    } else {
        Selectors::aws_default()
    };
    let insights = if description.has_insight_selectors || !desired.insights.is_empty() {
        port.get_insight_selectors(scope, arn).await?
    } else {
        Insights::new()
    };
    Ok(Observed::Present(Box::new(ObservedTrail { description, status, selectors, insights, tags })))
}
