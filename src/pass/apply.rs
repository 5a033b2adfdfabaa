//! Stage `apply`: carry out the plan, logging first, each stage on its own.
//!
//! Order (see the design notes): logging is restarted before anything else is attempted
//! on an existing trail, and waits on nothing that can fail for another reason. Then the
//! bucket's and key's posture fixes, then trail settings, selectors and Insights, and
//! tags; a write that fails is recorded under its stage and the next one still runs.
//! Only a trail that does not exist (CreateTrail refused) skips the trail's writes.
//!
//! The posture fixes come before the trail's settings because CloudTrail checks the
//! bucket and key policies on CreateTrail, UpdateTrail and PutInsightSelectors: a trail
//! moved to a new bucket or key is refused until their policies let CloudTrail in. A trail
//! to be created has nothing to restart, so its posture fixes go first of all — and their
//! failure still does not stop the attempt to create.

use trailwarden_core::observed::ObservedTrail;
use trailwarden_core::posture::PostureFacts;
use trailwarden_core::report::{Stage, StageFailure, Write};
use trailwarden_core::{Action, Desired, Observed};

use super::failed;
use super::observe::Observation;
use super::plan::Planned;
use super::resolve::Resolved;
use crate::aws::{AwsPort, AwsResult, ErrorKind};

/// What the writes of this pass did. Only [`apply`] makes one, so a report can only be
/// built from writes that were actually attempted.
pub struct Applied {
    /// The trail as the successful writes left it (None: there is none).
    pub(super) trail: Option<ObservedTrail>,
    /// The bucket and key facts as the successful fixes left them.
    pub(super) facts: PostureFacts,
    pub(super) writes: Vec<Write>,
    pub(super) failures: Vec<StageFailure>,
    /// CreateTrail was refused because the trail exists: the plan was made from facts
    /// that are out of date.
    pub(super) outdated: bool,
}

/// `restarted`: the StartLogging the pass made before its other reads, if it made one; it
/// stands for the plan's.
pub async fn apply<P: AwsPort>(
    port: &P,
    resolved: &Resolved,
    observation: &Observation,
    planned: &Planned,
    mut restarted: Option<AwsResult<()>>,
) -> Applied {
    let desired = &resolved.desired;
    let mut applied = Applied {
        trail: observation.observed.trail().cloned(),
        facts: observation.facts.clone(),
        writes: vec![],
        failures: resolved.key_error().map(|e| failed(Stage::Resolve, e)).into_iter().collect(),
        outdated: false,
    };
    // Audit mode writes nothing, whatever was planned (and made no early restart).
    if desired.audit() {
        return applied;
    }
    let creates = matches!(observation.observed, Observed::Absent);
    if creates && resolved.key_error().is_some_and(|e| e.kind == ErrorKind::KeyNotFound) {
        // A key known not to exist is never written into a trail (AWS would refuse it; an
        // emulator might not). The resolve failure already says why.
        return applied;
    }
    let actions = ordered(&planned.trail.actions, creates);
    // What goes before the bucket's and key's fixes: on an existing trail, restarting it
    // (and the adoption tags that make it ours); on a trail to be created, nothing.
    let first = if creates { 0 } else { actions.iter().take_while(|a| matches!(a.stage(), Stage::Trail | Stage::Logging)).count() };
    let (before_posture, after_posture) = actions.split_at(first);
    for action in before_posture {
        match (action, restarted.take()) {
            (Action::StartLogging, Some(outcome)) => record(action, outcome, &mut applied),
            (_, early) => {
                restarted = early;
                write_trail(port, resolved, action, &mut applied).await;
            }
        }
    }
    fix_posture(port, resolved, observation, planned, &mut applied).await;
    for action in after_posture {
        write_trail(port, resolved, action, &mut applied).await;
    }
    applied
}

/// One of the trail's actions, recorded in `applied` under its stage: the trail is
/// created, or written to as the successful writes so far left it.
async fn write_trail<P: AwsPort>(port: &P, resolved: &Resolved, action: &Action, applied: &mut Applied) {
    let desired = &resolved.desired;
    let stage = action.stage();
    if stage == Stage::Settings && resolved.key_error().is_some() {
        // The declared key could not be resolved to the ARN AWS reports: comparing or
        // writing it now would "correct" a key that may well be right.
        return;
    }
    let Some(trail) = applied.trail.take() else {
        if let Action::CreateTrail { name, settings, tags } = action {
            match port.create_trail(&desired.scope, name, settings, tags).await {
                Ok(arn) => {
                    applied.trail = Some(ObservedTrail::created(name, arn, &desired.scope.region, settings, tags));
                    applied.writes.push(Write { stage, operation: action.name(), detail: None });
                }
                Err(e) => {
                    applied.outdated = e.kind == ErrorKind::Exists;
                    applied.failures.push(failed(stage, &e));
                }
            }
        }
        // No trail (creation refused): nothing else can be written to it.
        return;
    };
    applied.trail = Some(trail);
    let outcome = act(port, desired, applied.trail.as_ref().expect("just put back"), action).await;
    record(action, outcome, applied);
}

/// The outcome of one write to the existing trail, in `applied`.
fn record(action: &Action, outcome: AwsResult<()>, applied: &mut Applied) {
    let Some(trail) = applied.trail.take() else { return };
    match outcome {
        Ok(()) => {
            applied.trail = Some(trail.after(action));
            applied.writes.push(Write { stage: action.stage(), operation: action.name(), detail: None });
        }
        Err(e) => {
            applied.trail = Some(trail);
            applied.failures.push(failed(action.stage(), &e));
        }
    }
}

/// The order the trail's actions run in. On an existing trail: by stage, logging first.
/// On a trail being created, in the plan's order (create, selectors, start logging,
/// Insights), so a new trail never records a single event under the wrong selectors;
/// a failed selector write still does not keep logging from starting.
fn ordered(actions: &[Action], creates: bool) -> Vec<&Action> {
    const STAGES: [Stage; 5] = [Stage::Trail, Stage::Logging, Stage::Settings, Stage::Selectors, Stage::Tags];
    let mut ordered: Vec<&Action> = actions.iter().collect();
    if !creates {
        ordered.sort_by_key(|a| STAGES.iter().position(|s| *s == a.stage()));
    }
    ordered
}

/// One write to an existing trail, addressed by ARN.
async fn act<P: AwsPort>(port: &P, desired: &Desired, trail: &ObservedTrail, action: &Action) -> AwsResult<()> {
    let (scope, arn) = (&desired.scope, trail.arn());
    match action {
        Action::CreateTrail { .. } => Ok(()),
        Action::AdoptTrail { tags } | Action::AddTags(tags) => port.add_tags(scope, arn, tags).await,
        Action::UpdateTrail(settings) => port.update_trail(scope, arn, &trail.description.settings, settings).await,
        Action::PutEventSelectors(selectors) => port.put_event_selectors(scope, arn, selectors).await,
        Action::StartLogging => port.start_logging(scope, arn).await,
        Action::StopLogging => port.stop_logging(scope, arn).await,
        Action::PutInsightSelectors(insights) => port.put_insight_selectors(scope, arn, insights).await,
    }
}

/// Stages `bucket-posture` and `key-posture`: each fix on its own, each in its resource's
/// region and through the scope that reaches it.
async fn fix_posture<P: AwsPort>(port: &P, resolved: &Resolved, observation: &Observation, planned: &Planned, applied: &mut Applied) {
    let desired = &resolved.desired;
    if let Ok(bucket) = &mut applied.facts.bucket {
        let reach = observation.bucket_reach.in_region(&bucket.region);
        for fix in &planned.bucket_fixes {
            match port.fix_bucket(&reach, &desired.settings.bucket, fix).await {
                Ok(()) => {
                    *bucket = fix.applied_to(bucket.clone());
                    applied.writes.push(Write { stage: Stage::BucketPosture, operation: fix.name(), detail: fix.describe() });
                }
                Err(e) => applied.failures.push(failed(Stage::BucketPosture, &e)),
            }
        }
    }
    if let (Some(Ok(key)), Some(reach)) = (&mut applied.facts.key, &resolved.key_reach) {
        for fix in &planned.key_fixes {
            match port.fix_key(reach, &key.arn, fix).await {
                Ok(()) => {
                    *key = fix.applied_to(key.clone());
                    applied.writes.push(Write { stage: Stage::KeyPosture, operation: fix.name(), detail: None });
                }
                Err(e) => applied.failures.push(failed(Stage::KeyPosture, &e)),
            }
        }
    }
}
