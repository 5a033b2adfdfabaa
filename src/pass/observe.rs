//! Stage `observe`: what the trail, the account and the log bucket look like now, read
//! with as few calls as possible. DescribeTrails, GetTrailStatus and ListTags are always
//! needed; selectors and insights are read only when the trail reports custom ones or
//! the policy declares some.

use trailwarden_core::posture::PostureFacts;
use trailwarden_core::trail::{Insights, Selectors, Tags, TrailDescription};
use trailwarden_core::{Desired, Observed, ObservedTrail, Reach};

use super::resolve::Resolved;
use crate::aws::{AwsError, AwsPort, AwsResult};

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

/// The accounts a pass deals in, looked up once per look: the one it acts in (the role's,
/// or the controller's own, asked once and remembered), and the one that owns the trail.
/// An organization trail is the organization's management account's, whichever account
/// creates and manages it (a delegated administrator): its ARN carries that account.
pub struct Accounts {
    pub acting: String,
    pub owner: String,
    /// The organization's id, for an organization trail (its logs' path names it).
    pub organization_id: Option<String>,
}

pub async fn accounts<P: AwsPort>(port: &P, desired: &Desired) -> AwsResult<Accounts> {
    let acting = port.account_id(&desired.scope).await?;
    let organization = match desired.settings.organization {
        true => port.organization(&desired.scope, &acting).await?,
        false => None,
    };
    Ok(match organization {
        Some(org) => Accounts { acting, owner: org.management_account, organization_id: Some(org.id) },
        None => Accounts { owner: acting.clone(), acting, organization_id: None },
    })
}

/// With the trail seen: the bucket's and key's facts. Run only for a trail the policy may
/// touch, so a trail that is not ours costs no posture reads.
pub async fn around<P: AwsPort>(port: &P, resolved: &Resolved, accounts: Accounts, observed: Observed) -> Observation {
    let desired = &resolved.desired;
    let bucket_reach = desired.bucket_reach(&accounts.acting);
    let bucket = port.describe_bucket(&bucket_reach, &desired.settings.bucket).await;
    let bucket_missing = bucket.as_ref().is_err_and(|e| e.kind == crate::aws::ErrorKind::BucketNotFound);
    let bucket = bucket.map_err(|e| e.to_string());
    let key = resolved.key.as_ref().map(|k| k.clone().map_err(|e| e.to_string()));
    let Accounts { owner: account, organization_id, .. } = accounts;
    Observation { observed, account, organization_id, bucket_reach, facts: PostureFacts { bucket, key, bucket_missing } }
}

/// Of the trails DescribeTrails lists in the policy's scope, the policy's own: the one of
/// the trail's owner with its name, matched by ARN. The list holds more than the account's
/// trails: in a member account, the organization's trail of the management account is
/// listed too, and a trail of the same name there is never ours (unless the policy declares
/// that organization trail). A trail of the account homed in another region is listed as
/// its shadow.
pub fn find(desired: &Desired, owner: &str, trails: Vec<TrailDescription>) -> Option<TrailDescription> {
    let home = desired.expected_trail_arn(owner);
    let ours = |t: &TrailDescription| {
        t.arn == home || (t.name == desired.trail_name && trail_account(&t.arn) == Some(owner) && t.home_region != desired.scope.region)
    };
    // The trail homed here before any shadow of the same name.
    let mut candidates: Vec<TrailDescription> = trails.into_iter().filter(ours).collect();
    candidates.sort_by_key(|t| t.arn != home);
    candidates.into_iter().next()
}

/// The account a trail's ARN (`arn:<partition>:cloudtrail:<region>:<account>:trail/<name>`) names.
fn trail_account(arn: &str) -> Option<&str> {
    arn.split(':').nth(4)
}

/// A trail that could not be read whole.
#[derive(Debug)]
pub struct Unread {
    pub error: AwsError,
    /// What was read before the failure, when the trail and its logging state were.
    pub partial: Option<Partial>,
}

/// The trail and its logging state, read; its tags maybe; something after them not.
#[derive(Debug)]
pub struct Partial {
    pub arn: String,
    pub is_logging: bool,
    pub tags: Option<Tags>,
}

impl From<Unread> for AwsError {
    fn from(unread: Unread) -> AwsError {
        unread.error
    }
}

/// The policy's trail as AWS shows it now.
///
/// Restoring logging needs only the trail and its logging state: a failure to read its
/// tags, selectors or insights returns what was read ([`Unread::partial`]) so that the
/// pass can still restart it.
pub async fn trail<P: AwsPort>(port: &P, desired: &Desired, owner: &str) -> Result<Observed, Unread> {
    let whole = |error| Unread { error, partial: None };
    let scope = &desired.scope;
    let trails = port.describe_trails(scope, &desired.trail_name).await.map_err(whole)?;
    let Some(description) = find(desired, owner, trails) else {
        return Ok(Observed::Absent);
    };
    if description.home_region != scope.region {
        return Ok(Observed::Shadow { arn: description.arn, home_region: description.home_region });
    }
    let arn = description.arn.as_str();
    let status = port.get_trail_status(scope, arn).await.map_err(whole)?;
    let is_logging = status.is_logging;
    let partial = |tags: Option<Tags>| {
        move |error| Unread { error, partial: Some(Partial { arn: arn.to_owned(), is_logging, tags }) }
    };
    let tags = port.list_tags(scope, arn).await.map_err(partial(None))?;
    let selectors = if description.has_custom_event_selectors || !desired.selectors.is_aws_default() {
        port.get_event_selectors(scope, arn).await.map_err(partial(Some(tags.clone())))?
    } else {
        Selectors::aws_default()
    };
    let insights = if description.has_insight_selectors || !desired.insights.is_empty() {
        port.get_insight_selectors(scope, arn).await.map_err(partial(Some(tags.clone())))?
    } else {
        Insights::new()
    };
    Ok(Observed::Present(Box::new(ObservedTrail { description, status, selectors, insights, tags })))
}
