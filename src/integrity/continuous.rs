//! Continuous verification: every `interval`, each policy whose trail has log-file
//! validation has each of its digest chains (one per account and region: `chains`) walked
//! from where the last walk of that chain stopped (kept in the policy's
//! `status.logIntegrity`, so a restart resumes, never starts over), and what is found is
//! written there, published as a Warning Event and counted.
//!
//! Cost, per chain, at CloudTrail's pace (a digest an hour, a log file every few minutes):
//! one ListObjectsV2 and one GetObject of the last digest a walk, plus a GetObject per new
//! digest and per log file it lists; per trail one or two folder listings; per round one
//! ListPublicKeys per region and one GetBucketLocation per bucket, shared (`round_cache`).
//!
//! Runs on the leader only (it is spawned by the controller), one chain at a time, each
//! under its own deadline; a chain that fails or overruns is named in the record's
//! `error`, the others' progress kept, and tried again next round.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use futures::channel::mpsc;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use tracing::{debug, info, warn};
use trailwarden_core::integrity::{DigestLocation, Link, Verdict};

use super::chains;

use super::round_cache::RoundCache;
use super::walk::{Walk, WalkError};
use crate::aws::AwsPort;
use crate::aws::sdk::SdkAws;
use crate::k8s::api::{DigestLink, IntegrityFinding, LogIntegrity, TrailPolicy};
use crate::k8s::recorder::NoteKeeper;
use crate::ops::sparse::shrink_if_sparse;
use crate::ops::integrity_metrics::IntegrityMetrics;

/// The field manager of `status.logIntegrity`: the pass's apply never names the field.
const MANAGER: &str = "trailwarden-log-verifier";

/// Findings a record keeps (the latest).
const FINDINGS_KEPT: usize = 10;

/// How the controller runs the verifier (`--verify-logs-*`).
#[derive(Clone)]
pub struct VerifyOptions {
    pub port: SdkAws,
    /// Between two rounds over the policies.
    pub interval: Duration,
    /// How far back the first walk of a trail looks, and how far back each recheck
    /// verifies every file again.
    pub lookback: SignedDuration,
    /// How often a trail's whole lookback window is verified again (a file deleted or
    /// changed after its first walk is found then).
    pub recheck: Duration,
    /// Longest one trail's walk may take.
    pub deadline: Duration,
    pub metrics: IntegrityMetrics,
}

/// Starts the rounds; the policies whose record changed are sent on the returned stream,
/// so that a pass re-judges their CT-LOG-INTEGRITY at once.
pub fn spawn(client: Client, policies: Store<TrailPolicy>, recorder: NoteKeeper, options: VerifyOptions) -> mpsc::Receiver<ObjectRef<TrailPolicy>> {
    let (changed, requests) = mpsc::channel(256);
    tokio::spawn(rounds(client, policies, recorder, options, changed));
    requests
}

/// Whether the verifier walks this policy's logs: validation on, and not being deleted.
fn verified(policy: &TrailPolicy) -> bool {
    policy.spec.log_file_validation && policy.metadata.deletion_timestamp.is_none()
}

async fn rounds(
    client: Client,
    policies: Store<TrailPolicy>,
    recorder: NoteKeeper,
    options: VerifyOptions,
    mut changed: mpsc::Sender<ObjectRef<TrailPolicy>>,
) {
    info!(interval_s = options.interval.as_secs(), "log verifier started");
    // The first round waits an interval: the passes come first at a start.
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + options.interval, options.interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Per policy uid, the latest record and when it was last written: the next walk
    // resumes from here even when the write of its progress was left for later.
    let mut kept: HashMap<String, (LogIntegrity, Instant)> = HashMap::new();
    // Per policy uid, its name: the metric series to drop when it goes.
    let mut names: HashMap<String, String> = HashMap::new();
    // Per policy uid, when its window was last verified whole.
    let mut rechecked: HashMap<String, Instant> = HashMap::new();
    loop {
        ticks.tick().await;
        let started = Timestamp::now();
        let cache = RoundCache::new(&options.port, started - options.lookback, started + SignedDuration::from_hours(1));
        // The round's turns are references, not the policies: a round over thousands of
        // trails takes minutes, and the policies deleted meanwhile must neither be walked
        // nor kept in memory until their turn.
        let turns: Vec<ObjectRef<TrailPolicy>> = policies.state().iter().filter(|p| verified(p)).map(|p| ObjectRef::from_obj(&**p)).collect();
        // A policy gone, or no longer validating its logs: its record and series go.
        let verifying: HashSet<&str> = turns.iter().filter_map(|turn| turn.extra.uid.as_deref()).collect();
        names.retain(|uid, name| {
            let live = verifying.contains(uid.as_str());
            if !live {
                options.metrics.forget(name);
                kept.remove(uid);
                rechecked.remove(uid);
            }
            live
        });
        shrink_if_sparse(&mut names);
        shrink_if_sparse(&mut kept);
        shrink_if_sparse(&mut rechecked);
        for turn in turns {
            // The policy as it is at its turn.
            let Some(policy) = policies.get(&turn) else { continue };
            if !verified(&policy) {
                continue;
            }
            let uid = policy.uid().unwrap_or_default();
            names.insert(uid.clone(), policy.name_any());
            let on_record = policy.status.as_ref().and_then(|s| s.log_integrity.clone());
            // The record written a while ago and gone from the status: someone removed it
            // to start over (the findings are kept until then).
            if on_record.is_none() && kept.get(&uid).is_some_and(|(_, written)| written.elapsed() >= RESET_AFTER) {
                info!(policy = %policy.name_any(), "status.logIntegrity removed: verifying the trail's logs from the start");
                kept.remove(&uid);
                rechecked.remove(&uid);
            }
            let before = match kept.get(&uid) {
                Some((record, _)) => Some(record.clone()),
                None => on_record,
            };
            let whole = rechecked.get(&uid).is_none_or(|at| at.elapsed() >= options.recheck);
            let Some(record) = verify_one(&policy, before.clone(), whole, &options, &cache).await else { continue };
            if whole && record.error.is_none() {
                rechecked.insert(uid.clone(), Instant::now());
            }
            let news = before.as_ref().is_none_or(|b| says_more(b, &record));
            let due = kept.get(&uid).is_none_or(|(_, written)| written.elapsed() >= REFRESH);
            if !news && !due {
                let written = kept.get(&uid).map_or_else(Instant::now, |(_, w)| *w);
                kept.insert(uid, (record, written));
                continue;
            }
            let name = policy.name_any();
            if let Err(e) = write(&client, &name, &record).await {
                match &e {
                    // Deleted while its logs were being verified: nothing to record it on.
                    kube::Error::Api(response) if response.code == 404 => {
                        debug!(policy = %name, "policy gone before the log verifier's record was written")
                    }
                    _ => warn!(policy = %name, error = %e, "could not write the log verifier's record"),
                }
                kept.insert(uid, (record, Instant::now() - REFRESH));
                continue;
            }
            publish_new_findings(&recorder, before.as_ref(), &policy, &record).await;
            kept.insert(uid, (record, Instant::now()));
            if news {
                // A full channel means passes are already queued.
                let _ = changed.try_send(ObjectRef::from_obj(&*policy));
            }
        }
        options.metrics.round_finished();
    }
}

/// How long after its write a record missing from the status is taken as removed (the
/// watch shows a write within moments; this leaves it ample time).
const RESET_AFTER: Duration = Duration::from_secs(60);

/// How often a record whose walks found nothing new is written anyway (its progress, and
/// the proof that the verifier looks), as the policy's status is (`STATUS_REFRESH`): every
/// walk's time is a metric, `trailwarden_log_integrity_last_round_timestamp_seconds`.
pub const REFRESH: Duration = Duration::from_secs(6 * 3600);

/// Whether `after` says something `before` does not, besides progress along an intact
/// chain: a finding, a verdict, an error that came or went.
fn says_more(before: &LogIntegrity, after: &LogIntegrity) -> bool {
    before.intact != after.intact || before.findings != after.findings || before.error != after.error || before.last_digests.len() != after.last_digests.len()
}

/// One trail's walk from where its record stopped; None when nothing is to be written.
/// `whole`: verify the whole lookback window again, not only what came since the last walk.
async fn verify_one(
    policy: &TrailPolicy,
    before: Option<LogIntegrity>,
    whole: bool,
    options: &VerifyOptions,
    cache: &RoundCache<'_, SdkAws>,
) -> Option<LogIntegrity> {
    let name = policy.name_any();
    let status = policy.status.as_ref()?;
    let arn = status.owned_trail_arn.as_ref().or(status.trail_arn.as_ref())?;
    let before = before.unwrap_or_else(|| LogIntegrity { intact: true, ..LogIntegrity::default() });
    let now = Timestamp::now();
    let outcome = walk(policy, arn, &before, whole, now, options, cache).await;
    let mut record = LogIntegrity { last_check_time: Some(Time(now)), error: None, ..before.clone() };
    match outcome {
        Ok(chains) => {
            for (chain, verdict) in &chains {
                match verdict {
                    Ok(verdict) => {
                        options.metrics.walked(if verdict.intact() { "intact" } else { "broken" });
                        merge(&mut record, chain, verdict, whole, now, &options.metrics);
                    }
                    Err(e) => {
                        options.metrics.walked("failed");
                        warn!(policy = %name, account = %chain.account, region = %chain.region, error = %e, "could not walk a digest chain");
                        // The first chain that failed is named; the others' progress stands.
                        record.error.get_or_insert_with(|| {
                            trailwarden_core::bounded::text(&format!("chain {}/{}: {e}", chain.account, chain.region), 1024)
                        });
                    }
                }
            }
        }
        Err(e) => {
            options.metrics.walked("failed");
            warn!(policy = %name, error = %e, "could not find the trail's digest chains");
            record.error = Some(trailwarden_core::bounded::text(&e.to_string(), 1024));
        }
    }
    record.verified_through = proven_through(&record.last_digests, now - options.lookback);
    options.metrics.standing(&name, record.intact, record.verified_through.as_ref().map(|t| t.0));
    Some(record)
}

/// How far every chain is proven: the oldest of the chains' newest digests — of the
/// chains CloudTrail still writes (a newest digest within the lookback); when none is,
/// of all (a trail that stopped is proven only as far as its last digest).
fn proven_through(links: &[DigestLink], recent: Timestamp) -> Option<Time> {
    let oldest = |links: &mut dyn Iterator<Item = &DigestLink>| links.map(|l| l.end_time.clone()).min_by_key(|t| t.0);
    oldest(&mut links.iter().filter(|l| l.end_time.0 >= recent)).or_else(|| oldest(&mut links.iter()))
}

/// Every chain of the trail walked, each from its own last digest: the verdicts by chain.
async fn walk(
    policy: &TrailPolicy,
    arn: &str,
    before: &LogIntegrity,
    whole: bool,
    now: Timestamp,
    options: &VerifyOptions,
    cache: &RoundCache<'_, SdkAws>,
) -> Result<Vec<(DigestLocation, Result<Verdict, String>)>, WalkError> {
    let desired = crate::k8s::desired::desired(policy).map_err(|e| WalkError::Spec(e.to_string()))?;
    let (owner, home_region, trail_name) = parse_arn(arn).ok_or_else(|| WalkError::Spec(format!("not a trail ARN: {arn}")))?;
    // The log archive's role reads its bucket; without one, the policy's own credentials.
    let scope = desired.log_archive.as_ref().and_then(|la| la.role.clone()).unwrap_or_else(|| desired.scope.clone());
    let organization_id = if desired.settings.organization {
        options.port.organization(&desired.scope, owner).await?.map(|o| o.id)
    } else {
        None
    };
    let base = DigestLocation {
        bucket: desired.settings.bucket.clone(),
        prefix: desired.settings.key_prefix.clone(),
        organization_id,
        account: owner.to_owned(),
        region: home_region.to_owned(),
        trail_name: trail_name.to_owned(),
        home_region: home_region.to_owned(),
    };
    let deadline = options.deadline;
    let mut chains = tokio::time::timeout(deadline, chains::discover(cache, &scope, &base))
        .await
        .map_err(|_| WalkError::Spec(format!("listing the trail's digest chains took longer than {} s", deadline.as_secs())))??;
    // A chain verified before and no longer listed (its folder emptied): walked still, so
    // its last digest's absence is found.
    for known in &before.last_digests {
        let chain = base.of(&known.account, &known.region);
        if known.bucket == base.bucket && !chains.contains(&chain) {
            chains.push(chain);
        }
    }
    let mut verdicts = vec![];
    for location in chains {
        let resume = before
            .last_digests
            .iter()
            .find(|l| !whole && l.bucket == location.bucket && l.account == location.account && l.region == location.region)
            .map(|l| Link { bucket: l.bucket.clone(), key: l.key.clone(), end_time: l.end_time.0, signature: l.signature.clone() });
        let from = resume.as_ref().map_or(now - options.lookback, |l| l.end_time);
        debug!(policy = %policy.name_any(), bucket = %location.bucket, account = %location.account, region = %location.region, %from, "walking a digest chain");
        // Each chain under its own deadline, so one slow or unreadable chain costs only itself.
        let walked = tokio::time::timeout(deadline, Walk { port: cache, scope: &scope, location: &location }.run(from, now, resume.as_ref())).await;
        let verdict = match walked {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(_) => Err(format!("the walk took longer than {} s and was abandoned", deadline.as_secs())),
        };
        verdicts.push((location, verdict));
    }
    Ok(verdicts)
}

fn parse_arn(arn: &str) -> Option<(&str, &str, &str)> {
    match arn.split(':').collect::<Vec<_>>().as_slice() {
        ["arn", _, "cloudtrail", region, account, resource] => Some((account, region, resource.strip_prefix("trail/")?)),
        _ => None,
    }
}

/// The record with a walk's verdict added: counts (of files verified for the first time:
/// a recheck of the whole window counts only when it is the first walk), the newest
/// digest, findings not on record yet.
fn merge(record: &mut LogIntegrity, chain: &DigestLocation, verdict: &Verdict, whole: bool, now: Timestamp, metrics: &IntegrityMetrics) {
    let same = |l: &DigestLink| l.account == chain.account && l.region == chain.region;
    let known = record.last_digests.iter().position(same);
    if !whole || known.is_none() {
        record.digests_verified += u64::from(verdict.digests_valid);
        record.logs_verified += u64::from(verdict.logs_valid);
    }
    let newer = |end: Timestamp| known.is_none_or(|i| record.last_digests[i].end_time.0 < end);
    if let Some(newest) = verdict.newest.as_ref().filter(|n| newer(n.end_time)) {
        let link = DigestLink {
            account: chain.account.clone(),
            region: chain.region.clone(),
            bucket: newest.bucket.clone(),
            key: newest.key.clone(),
            end_time: Time(newest.end_time),
            signature: newest.signature.clone(),
        };
        match known {
            Some(i) => record.last_digests[i] = link,
            None => record.last_digests.push(link),
        }
    }

    for finding in &verdict.findings {
        let problem: &str = finding.problem.into();
        let object = finding.object();
        if record.findings.iter().any(|f| f.problem == problem && f.object == object) {
            continue;
        }
        metrics.found(finding.problem);
        record.findings.push(IntegrityFinding {
            problem: problem.to_owned(),
            object,
            detail: finding.detail.clone(),
            found_time: Time(now),
        });
    }
    let excess = record.findings.len().saturating_sub(FINDINGS_KEPT);
    record.findings.drain(..excess);
    record.intact = record.intact && verdict.intact();
}

async fn write(client: &Client, name: &str, record: &LogIntegrity) -> Result<(), kube::Error> {
    let api = Api::<TrailPolicy>::all(client.clone());
    let body = json!({
        "apiVersion": "trailwarden.dev/v1alpha1",
        "kind": "TrailPolicy",
        "status": { "logIntegrity": record },
    });
    tokio::time::timeout(Duration::from_secs(30), api.patch_status(name, &PatchParams::apply(MANAGER).force(), &Patch::Apply(&body)))
        .await
        .map_err(|_| kube::Error::Service("the status write took longer than 30 s".into()))?
        .map(|_| ())
}

/// A Warning for each finding this walk added.
async fn publish_new_findings(recorder: &NoteKeeper, before: Option<&LogIntegrity>, policy: &TrailPolicy, record: &LogIntegrity) {
    let before = before.map(|r| r.findings.clone()).unwrap_or_default();
    let reference = policy.object_ref(&());
    for finding in record.findings.iter().filter(|f| !before.contains(f)) {
        let event = Event {
            type_: EventType::Warning,
            reason: "LogIntegrityBroken".into(),
            note: Some(trailwarden_core::bounded::text(
                &format!("{} {}: {}", finding.problem, finding.object, finding.detail),
                trailwarden_core::bounded::EVENT_NOTE_BYTES,
            )),
            action: "VerifyLogs".into(),
            secondary: None,
        };
        if let Err(e) = recorder.publish(&event, &reference).await {
            warn!(error = %e, "could not publish event");
        }
    }
}
