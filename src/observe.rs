//! `AWS → Observed`: what the trail looks like right now, read with as few calls as
//! possible. DescribeTrails, GetTrailStatus and ListTags are always needed; selectors and
//! insights are read only when the trail reports custom ones or the policy declares some.

use crate::aws::{AwsPort, AwsResult};
use crate::desired::Desired;
use crate::trail::{Insights, Selectors, Tags, TrailDescription, TrailStatus};

#[derive(Clone, Debug, PartialEq)]
pub enum Observed {
    /// No trail of that name is visible in the home region.
    Absent,
    /// A multi-region trail of that name exists, but its home is another region: this
    /// region only holds its shadow, which cannot be changed from here.
    Shadow { arn: String, home_region: String },
    Present(Box<ObservedTrail>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct ObservedTrail {
    pub description: TrailDescription,
    pub status: TrailStatus,
    pub selectors: Selectors,
    pub insights: Insights,
    pub tags: Tags,
}

impl ObservedTrail {
    pub fn arn(&self) -> &str {
        &self.description.arn
    }

    /// The trail exactly as `desired` declares it, with this ARN and status: what AWS
    /// reports once every planned action has succeeded.
    pub fn as_desired(desired: &Desired, arn: String, status: TrailStatus) -> Self {
        ObservedTrail {
            description: TrailDescription {
                name: desired.trail_name.clone(),
                arn,
                home_region: desired.scope.region.clone(),
                settings: desired.settings.clone(),
                has_custom_event_selectors: !desired.selectors.is_aws_default(),
                has_insight_selectors: !desired.insights.is_empty(),
            },
            status,
            selectors: desired.selectors.clone(),
            insights: desired.insights.clone(),
            tags: desired.all_tags(),
        }
    }
}

pub async fn observe<P: AwsPort>(port: &P, desired: &Desired) -> AwsResult<Observed> {
    let scope = &desired.scope;
    let trails = port.describe_trails(scope).await?;
    let Some(description) = trails.into_iter().find(|t| t.name == desired.trail_name) else {
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
