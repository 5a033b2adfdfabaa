//! `plan(Desired, Observed) → Plan`: what differs, and the ordered AWS actions that make
//! the trail as declared. Pure: no I/O, no clock, so every rule here is unit-tested.

use std::fmt;

use serde::Serialize;

use crate::observed::{Observed, ObservedTrail};
use crate::report::{Reason, Stage};
use crate::policy::{Adoption, Desired, OWNER_TAG, OWNER_UID_TAG};
use crate::trail::{Insights, NONE, Selectors, Tags, TrailSettings, describe_insights};

/// One setting whose observed value differs from the desired one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Drift {
    pub field: String,
    pub desired: String,
    pub observed: String,
}

/// One AWS write. The order in [`Plan::actions`] is the order they must run in.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// CreateTrail with every declared setting and tag (ours included). Logging stays off.
    CreateTrail { name: String, settings: TrailSettings, tags: Tags },
    /// Tag a trail we did not create as this policy's, as `adoption` allows.
    AdoptTrail { tags: Tags },
    /// One UpdateTrail carrying every setting, so all corrections land together.
    UpdateTrail(TrailSettings),
    PutEventSelectors(Selectors),
    StartLogging,
    StopLogging,
    /// Also re-put after StartLogging: stopping logging drops Insights.
    PutInsightSelectors(Insights),
    /// Restore declared (or our own) tags; tags the policy does not name are left alone.
    AddTags(Tags),
}

impl Action {
    /// The AWS operation, as logs, status and metrics name it.
    pub fn name(&self) -> &'static str {
        match self {
            Action::CreateTrail { .. } => "CreateTrail",
            Action::AdoptTrail { .. } => "AdoptTrail",
            Action::UpdateTrail(_) => "UpdateTrail",
            Action::PutEventSelectors(_) => "PutEventSelectors",
            Action::StartLogging => "StartLogging",
            Action::StopLogging => "StopLogging",
            Action::PutInsightSelectors(_) => "PutInsightSelectors",
            Action::AddTags(_) => "AddTags",
        }
    }

    /// The stage of the pass that carries this action out.
    pub fn stage(&self) -> Stage {
        match self {
            Action::CreateTrail { .. } | Action::AdoptTrail { .. } => Stage::Trail,
            Action::StartLogging | Action::StopLogging => Stage::Logging,
            Action::UpdateTrail(_) => Stage::Settings,
            Action::PutEventSelectors(_) | Action::PutInsightSelectors(_) => Stage::Selectors,
            Action::AddTags(_) => Stage::Tags,
        }
    }
}

/// Why nothing may be done to the trail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Blocked {
    /// A trail of that name exists but is not ours and `adoption` does not let us take it.
    NotOwned { arn: String, why: String },
    /// The name belongs to a multi-region trail whose home is another region.
    Shadow { arn: String, home_region: String },
    /// The policy is outside the operator's guardrails: nothing is read or written for it.
    Guardrail(crate::guardrails::Breach),
}

impl Blocked {
    pub fn reason(&self) -> Reason {
        match self {
            Blocked::NotOwned { .. } => Reason::NotOwned,
            Blocked::Shadow { .. } => Reason::ShadowTrail,
            Blocked::Guardrail(_) => Reason::Guardrail,
        }
    }

    /// What the Synced and Logging conditions say while blocked.
    pub fn summary(&self) -> &'static str {
        match self {
            Blocked::NotOwned { .. } | Blocked::Shadow { .. } => "not managed by this policy",
            Blocked::Guardrail(_) => "outside the controller's guardrails",
        }
    }
}

impl fmt::Display for Blocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Blocked::NotOwned { arn, why } => write!(f, "trail {arn} is not managed by this policy: {why}"),
            Blocked::Shadow { arn, home_region } => write!(
                f,
                "trail {arn} is a multi-region trail whose home region is {home_region}; \
                 set spec.region to {home_region} or choose another trailName"
            ),
            Blocked::Guardrail(breach) => write!(f, "not reconciled: {breach}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Plan {
    pub drift: Vec<Drift>,
    pub actions: Vec<Action>,
    pub blocked: Option<Blocked>,
}

impl Plan {
    pub fn in_sync(&self) -> bool {
        self.blocked.is_none() && self.drift.is_empty() && self.actions.is_empty()
    }
}

/// How the policy relates to an existing trail.
#[derive(Debug, PartialEq, Eq)]
enum Ownership {
    Ours,
    Adoptable,
    NotOwned(String),
}

fn ownership(desired: &Desired, tags: &Tags) -> Ownership {
    if tags.get(OWNER_UID_TAG) == Some(&desired.policy_uid) {
        return Ownership::Ours;
    }
    let tagged_for_us = tags.get(OWNER_TAG) == Some(&desired.policy_name);
    match desired.adoption {
        Adoption::Always => Ownership::Adoptable,
        Adoption::IfTagged if tagged_for_us => Ownership::Adoptable,
        Adoption::IfTagged => Ownership::NotOwned(format!(
            "adoption is IfTagged and the trail lacks the tag {OWNER_TAG}={}",
            desired.policy_name
        )),
        Adoption::Never => Ownership::NotOwned(
            "trailwarden did not create it and adoption is Never (set adoption to IfTagged or Always to take it over)"
                .into(),
        ),
    }
}

/// Whether the existing trail is this policy's to change or delete.
pub fn is_ours(desired: &Desired, tags: &Tags) -> bool {
    ownership(desired, tags) == Ownership::Ours
}

/// Why the policy may not touch the trail it names, if it may not.
pub fn blocked(desired: &Desired, observed: &Observed) -> Option<Blocked> {
    match observed {
        Observed::Absent => None,
        Observed::Shadow { arn, home_region } => Some(Blocked::Shadow { arn: arn.clone(), home_region: home_region.clone() }),
        Observed::Present(trail) => match ownership(desired, &trail.tags) {
            Ownership::NotOwned(why) => Some(Blocked::NotOwned { arn: trail.arn().to_owned(), why }),
            Ownership::Adoptable | Ownership::Ours => None,
        },
    }
}

pub fn plan(desired: &Desired, observed: &Observed) -> Plan {
    if let Some(blocked) = blocked(desired, observed) {
        return Plan { blocked: Some(blocked), ..Plan::default() };
    }
    match observed {
        Observed::Absent | Observed::Shadow { .. } => plan_create(desired),
        Observed::Present(trail) => plan_existing(desired, trail, !is_ours(desired, &trail.tags)),
    }
}

fn plan_create(desired: &Desired) -> Plan {
    let mut actions = vec![Action::CreateTrail {
        name: desired.trail_name.clone(),
        settings: desired.settings.clone(),
        tags: desired.all_tags(),
    }];
    if !desired.selectors.is_aws_default() {
        actions.push(Action::PutEventSelectors(desired.selectors.clone()));
    }
    if desired.logging {
        actions.push(Action::StartLogging);
    }
    if !desired.insights.is_empty() {
        actions.push(Action::PutInsightSelectors(desired.insights.clone()));
    }
    let drift = vec![Drift { field: "trail".into(), desired: "present".into(), observed: "absent".into() }];
    Plan { drift, actions, blocked: None }
}

fn plan_existing(desired: &Desired, trail: &ObservedTrail, adopt: bool) -> Plan {
    let mut drift = vec![];
    let mut actions = vec![];
    if adopt {
        actions.push(Action::AdoptTrail { tags: desired.owner_tags() });
    }

    let settings = desired.settings.drift(&trail.description.settings);
    if !settings.is_empty() {
        drift.extend(settings);
        actions.push(Action::UpdateTrail(desired.settings.clone()));
    }

    if desired.selectors.normalised() != trail.selectors.normalised() {
        drift.push(Drift {
            field: desired.selectors.field().into(),
            desired: desired.selectors.describe(),
            observed: trail.selectors.describe(),
        });
        actions.push(Action::PutEventSelectors(desired.selectors.clone()));
    }

    let restart = desired.logging && !trail.status.is_logging;
    if desired.logging != trail.status.is_logging {
        drift.push(Drift {
            field: "logging".into(),
            desired: desired.logging.to_string(),
            observed: trail.status.is_logging.to_string(),
        });
        actions.push(if desired.logging { Action::StartLogging } else { Action::StopLogging });
    }

    let insights_differ = desired.insights != trail.insights;
    if insights_differ {
        drift.push(Drift {
            field: "insights".into(),
            desired: describe_insights(&desired.insights),
            observed: describe_insights(&trail.insights),
        });
    }
    if insights_differ || (restart && !desired.insights.is_empty()) {
        actions.push(Action::PutInsightSelectors(desired.insights.clone()));
    }

    // Our own tags are part of the drift only for a trail already ours; adoption adds them.
    let wanted = if adopt { desired.tags.clone() } else { desired.all_tags() };
    let mut restore = Tags::new();
    for (key, value) in &wanted {
        let current = trail.tags.get(key);
        if current != Some(value) {
            drift.push(Drift {
                field: format!("tags.{key}"),
                desired: value.clone(),
                observed: current.cloned().unwrap_or_else(|| NONE.into()),
            });
            restore.insert(key.clone(), value.clone());
        }
    }
    if !restore.is_empty() {
        actions.push(Action::AddTags(restore));
    }

    Plan { drift, actions, blocked: None }
}

#[cfg(test)]
mod tests;
