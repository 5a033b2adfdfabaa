//! `plan(Desired, Observed) → Plan`: what differs, and the ordered AWS actions that make
//! the trail as declared. Pure: no I/O, no clock, so every rule here is unit-tested.

use std::fmt;

use serde::Serialize;

use crate::observed::{Observed, ObservedTrail};
use crate::ownership::{self, Title};
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
    /// Another live policy names the same trail and owns it (see [`crate::ownership`]).
    Conflict { owner: String, trail: String, title: Title },
    /// Adopting the trail would take away settings it has and the policy lacks.
    AdoptionWouldWeaken { arn: String, losses: Vec<String> },
}

impl Blocked {
    pub fn reason(&self) -> Reason {
        match self {
            Blocked::NotOwned { .. } => Reason::NotOwned,
            Blocked::Shadow { .. } => Reason::ShadowTrail,
            Blocked::Guardrail(_) => Reason::Guardrail,
            Blocked::Conflict { .. } => Reason::Conflict,
            Blocked::AdoptionWouldWeaken { .. } => Reason::AdoptionWouldWeaken,
        }
    }

    /// What the Synced and Logging conditions say while blocked.
    pub fn summary(&self) -> &'static str {
        match self {
            Blocked::NotOwned { .. } | Blocked::Shadow { .. } => "not managed by this policy",
            Blocked::Guardrail(_) => "outside the controller's guardrails",
            Blocked::Conflict { .. } => "managed by another policy",
            Blocked::AdoptionWouldWeaken { .. } => "not adopted: adopting would weaken the trail",
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
            Blocked::Conflict { owner, trail, title } => {
                let why = match title {
                    Title::Tagged => "the trail carries its uid tag",
                    Title::Oldest => "it is the oldest policy naming this trail",
                };
                write!(
                    f,
                    "trail {trail} is managed by policy {owner} ({why}); this policy names the same trail and \
                     changes nothing: delete one of the two, or name another trail"
                )
            }
            Blocked::AdoptionWouldWeaken { arn, losses } => write!(
                f,
                "adopting trail {arn} would weaken it: it would lose {}. Declare these in the policy, or set \
                 adoptionMayWeaken: true to adopt it anyway",
                losses.join("; ")
            ),
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

fn ownership(desired: &Desired, arn: &str, tags: &Tags) -> Ownership {
    let tagged_uid = tags.get(OWNER_UID_TAG);
    // The trail the policy made or adopted stays its own whatever its tags now say: the
    // tags are put back, and removing them is no way to pull a trail from its policy.
    if tagged_uid == Some(&desired.policy_uid) || desired.remembered.trail_arn.as_deref() == Some(arn) {
        return Ownership::Ours;
    }
    // Another live policy's trail is never adopted, whatever `adoption` says.
    if desired.adoption != Adoption::Never
        && let Some(other) = tagged_uid.and_then(|uid| desired.peers.live.get(uid))
    {
        return Ownership::NotOwned(format!(
            "it carries the tag {OWNER_UID_TAG} of policy {other}, which is alive and manages it; \
             adoption never takes a trail from a live policy"
        ));
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

/// Whether the existing trail `arn` is this policy's to change or delete.
pub fn is_ours(desired: &Desired, arn: &str, tags: &Tags) -> bool {
    ownership(desired, arn, tags) == Ownership::Ours
}

/// Why the policy may not touch the trail it names, if it may not.
pub fn blocked(desired: &Desired, observed: &Observed) -> Option<Blocked> {
    if let Some(conflict) = conflict(desired, observed) {
        return Some(conflict);
    }
    match observed {
        Observed::Absent => None,
        Observed::Shadow { arn, home_region } => Some(Blocked::Shadow { arn: arn.clone(), home_region: home_region.clone() }),
        Observed::Present(trail) => match ownership(desired, trail.arn(), &trail.tags) {
            Ownership::NotOwned(why) => Some(Blocked::NotOwned { arn: trail.arn().to_owned(), why }),
            Ownership::Adoptable if !desired.adoption_may_weaken => {
                let losses = weakening(desired, trail);
                (!losses.is_empty()).then(|| Blocked::AdoptionWouldWeaken { arn: trail.arn().to_owned(), losses })
            }
            Ownership::Adoptable | Ownership::Ours => None,
        },
    }
}

/// The policy that owns the trail, when it is another one than `desired`'s.
fn conflict(desired: &Desired, observed: &Observed) -> Option<Blocked> {
    if desired.peers.rivals.is_empty() {
        return None;
    }
    let this = desired.claimant();
    let tagged_uid = observed.trail().and_then(|t| t.tags.get(OWNER_UID_TAG)).map(String::as_str);
    let (owner, title) = ownership::owner(&this, &desired.peers.rivals, tagged_uid);
    (owner.uid != this.uid).then(|| Blocked::Conflict {
        owner: owner.name.clone(),
        trail: observed.arn().map_or_else(|| desired.trail_name.clone(), str::to_owned),
        title,
    })
}

/// What adopting `trail` would take away from it: each setting the trail has and the
/// policy would clear or turn off, named as the policy spells it, with what it carries.
/// Empty when the policy asks for at least as much.
pub fn weakening(desired: &Desired, trail: &ObservedTrail) -> Vec<String> {
    let (want, have) = (&desired.settings, &trail.description.settings);
    let mut losses = vec![];
    let mut lost = |what: String| losses.push(what);
    if let (None, Some(key)) = (&want.kms_key, &have.kms_key) {
        lost(format!("kmsKeyId (log files encrypted with {key})"));
    }
    if have.log_file_validation && !want.log_file_validation {
        lost("logFileValidation (digest files proving the logs untampered)".into());
    }
    if have.multi_region && !want.multi_region {
        lost("multiRegion (events of every region)".into());
    }
    if have.include_global_service_events && !want.include_global_service_events {
        lost("includeGlobalServiceEvents (events of global services such as IAM)".into());
    }
    if have.organization && !want.organization {
        lost("organization (events of every account of the organization)".into());
    }
    if let (None, Some(cwl)) = (&want.cloud_watch_logs, &have.cloud_watch_logs) {
        lost(format!("cloudWatchLogs (delivery to {})", cwl.log_group_arn));
    }
    if let (None, Some(topic)) = (&want.sns_topic, &have.sns_topic) {
        lost(format!("snsTopicName (notifications to {topic})"));
    }
    if trail.status.is_logging && !desired.logging {
        lost("logging (the trail is logging; the policy would stop it)".into());
    }
    if desired.selectors.is_aws_default() {
        match &trail.selectors {
            Selectors::Advanced(advanced) => {
                lost(format!("advancedEventSelectors ({} advanced selector(s))", advanced.len()));
            }
            Selectors::Basic(basic) => {
                let types: std::collections::BTreeSet<&str> =
                    basic.iter().flat_map(|s| &s.data_resources).map(|d| d.type_.as_str()).collect();
                if !types.is_empty() {
                    lost(format!("eventSelectors (data events of {})", types.into_iter().collect::<Vec<_>>().join(", ")));
                }
            }
        }
    }
    let insights: Insights = trail.insights.difference(&desired.insights).copied().collect();
    if !insights.is_empty() {
        lost(format!("insights ({})", describe_insights(&insights)));
    }
    losses
}

pub fn plan(desired: &Desired, observed: &Observed) -> Plan {
    if let Some(blocked) = blocked(desired, observed) {
        return Plan { blocked: Some(blocked), ..Plan::default() };
    }
    match observed {
        Observed::Absent | Observed::Shadow { .. } => plan_create(desired),
        Observed::Present(trail) => plan_existing(desired, trail, !is_ours(desired, trail.arn(), &trail.tags)),
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
