//! The per-policy gauges: `trailwarden_policy_ready`, `trailwarden_trail_logging`,
//! `_logging_desired`, `_in_sync`, `_compliant` and `trailwarden_compliance_check`. Kept as
//! one small record per policy and turned into samples only when `/metrics` is scraped, a
//! family at a time: a labelled gauge of the prometheus crate holds its labels and value
//! in some ten allocations (about 470 bytes), and at 23 series per policy that was 10.5
//! MiB of 1,000 policies, more than any other part of the controller. A record is about
//! 400 bytes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use prometheus::proto::{Gauge, LabelPair, Metric, MetricFamily, MetricType};

/// A state each policy has one gauge for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Ready,
    Logging,
    LoggingDesired,
    InSync,
    Compliant,
    Contested,
    BelowFloor,
    AliasMoved,
}

const STATES: [(State, &str, &str); 8] = [
    (State::Ready, "trailwarden_policy_ready", "1 when the policy's last pass succeeded in every stage."),
    (State::Logging, "trailwarden_trail_logging", "1 when the policy's trail is logging (absent while trailwarden cannot tell)."),
    (
        State::LoggingDesired,
        "trailwarden_trail_logging_desired",
        "1 when the policy declares logging: true, 0 when it declares logging: false.",
    ),
    (State::InSync, "trailwarden_trail_in_sync", "1 when the policy's trail matches it."),
    (State::Compliant, "trailwarden_trail_compliant", "1 when every required posture check passes."),
    (
        State::Contested,
        "trailwarden_trail_contested",
        "1 while logging is being stopped again after trailwarden restarts it (two or more restarts within 10 minutes).",
    ),
    (State::BelowFloor, "trailwarden_policy_below_floor", "1 while the policy asks for less than the operator's floor (it is held at the floor)."),
    (
        State::AliasMoved,
        "trailwarden_key_alias_moved",
        "1 while the policy's KMS alias names another key than the one pinned when its spec last changed.",
    ),
];
const CHECK: (&str, &str) =
    ("trailwarden_compliance_check", "1 when the posture check passes, 0 when it fails (absent when unknown).");
const KEY_DELETION: (&str, &str) = (
    "trailwarden_key_deletion_timestamp_seconds",
    "When KMS will delete the policy's key, in seconds since the Unix epoch, while its deletion is scheduled.",
);
const LAST_LOOK: (&str, &str) = (
    "trailwarden_policy_last_look_timestamp_seconds",
    "When the policy's last pass ended, in seconds since the Unix epoch (the status is not rewritten for it).",
);

/// What is exported of one policy; `None`: no sample (not known).
#[derive(Default)]
struct Record {
    states: [Option<bool>; STATES.len()],
    checks: Vec<(&'static str, bool)>,
    /// Seconds since the epoch; 0: no pass ended yet.
    last_look: f64,
    /// The key and when it will be deleted (seconds since the epoch), while scheduled.
    key_deletion: Option<(String, f64)>,
}

/// Not in the registry: `/metrics` writes these families after the registry's, one at a
/// time ([`PolicyGauges::each_family`]).
#[derive(Clone)]
pub struct PolicyGauges {
    policies: Arc<Mutex<BTreeMap<String, Record>>>,
}

impl PolicyGauges {
    pub fn new() -> Self {
        PolicyGauges { policies: Arc::default() }
    }

    /// Sets (or with `None` removes) one of the policy's state gauges.
    pub fn set(&self, policy: &str, state: State, value: Option<bool>) {
        let index = STATES.iter().position(|(s, _, _)| *s == state).expect("every state has a gauge");
        self.with(policy, |record| record.states[index] = value);
    }

    /// Sets the checks named (`None`: removes it, the check could not be judged); the
    /// policy's other checks keep their value.
    pub fn set_checks(&self, policy: &str, checks: impl IntoIterator<Item = (&'static str, Option<bool>)>) {
        self.with(policy, |record| {
            for (id, value) in checks {
                let at = record.checks.iter().position(|(c, _)| *c == id);
                match (at, value) {
                    (Some(i), Some(v)) => record.checks[i].1 = v,
                    (None, Some(v)) => record.checks.push((id, v)),
                    (Some(i), None) => {
                        record.checks.remove(i);
                    }
                    (None, None) => {}
                }
            }
        });
    }

    /// When the policy's last pass ended (seconds since the epoch).
    pub fn looked(&self, policy: &str, at: f64) {
        self.with(policy, |record| record.last_look = at);
    }

    /// The key's scheduled deletion, or none.
    pub fn key_deletion(&self, policy: &str, deletion: Option<(String, f64)>) {
        self.with(policy, |record| record.key_deletion = deletion);
    }

    /// Drops every series of a deleted policy.
    pub fn forget(&self, policy: &str) {
        self.policies.lock().expect("policy gauges lock").remove(policy);
    }

    fn with(&self, policy: &str, change: impl FnOnce(&mut Record)) {
        let mut policies = self.policies.lock().expect("policy gauges lock");
        match policies.get_mut(policy) {
            Some(record) => change(record),
            None => {
                let mut record = Record::default();
                change(&mut record);
                policies.insert(policy.to_owned(), record);
            }
        }
    }
}

impl Default for PolicyGauges {
    fn default() -> Self {
        Self::new()
    }
}

fn sample(labels: &[(&str, &str)], value: bool) -> Metric {
    sample_value(labels, if value { 1.0 } else { 0.0 })
}

fn sample_value(labels: &[(&str, &str)], value: f64) -> Metric {
    let labels = labels
        .iter()
        .map(|(name, value)| {
            let mut pair = LabelPair::default();
            pair.set_name((*name).to_owned());
            pair.set_value((*value).to_owned());
            pair
        })
        .collect();
    let mut metric = Metric::from_label(labels);
    let mut gauge = Gauge::default();
    gauge.set_value(value);
    metric.set_gauge(gauge);
    metric
}

fn family(name: &str, help: &str, metrics: Vec<Metric>) -> MetricFamily {
    let mut family = MetricFamily::default();
    family.set_name(name.to_owned());
    family.set_help(help.to_owned());
    family.set_field_type(MetricType::GAUGE);
    family.set_metric(metrics);
    family
}

impl PolicyGauges {
    /// Each family that has samples, built one at a time and handed to `write` before the
    /// next is built. Gathered all at once for the encoder, these families were the
    /// largest allocation at the controller's peak (7.5 MiB of 1,000 policies' series,
    /// heaptrack under `make bench-scale`). Each family is read under the lock on its
    /// own, so a pass recording its gauges waits for one family, not the page.
    pub fn each_family(&self, mut write: impl FnMut(&MetricFamily)) {
        let policies = || self.policies.lock().expect("policy gauges lock");
        let mut emit = |family: MetricFamily| {
            // A family with no sample is left out, as the crate's own vectors do.
            if !family.get_metric().is_empty() {
                write(&family);
            }
        };
        for (i, (_, name, help)) in STATES.iter().enumerate() {
            let metrics = policies()
                .iter()
                .filter_map(|(policy, record)| record.states[i].map(|v| sample(&[("policy", policy)], v)))
                .collect();
            emit(family(name, help, metrics));
        }
        let checks = policies()
            .iter()
            .flat_map(|(policy, record)| record.checks.iter().map(move |(id, v)| sample(&[("check", id), ("policy", policy)], *v)))
            .collect();
        emit(family(CHECK.0, CHECK.1, checks));
        let looks = policies()
            .iter()
            .filter(|(_, record)| record.last_look > 0.0)
            .map(|(policy, record)| sample_value(&[("policy", policy)], record.last_look))
            .collect();
        emit(family(LAST_LOOK.0, LAST_LOOK.1, looks));
        let deletions = policies()
            .iter()
            .filter_map(|(policy, record)| record.key_deletion.as_ref().map(|(key, at)| sample_value(&[("key", key), ("policy", policy)], *at)))
            .collect();
        emit(family(KEY_DELETION.0, KEY_DELETION.1, deletions));
    }
}
