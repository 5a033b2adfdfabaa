//! The per-policy gauges: `trailwarden_policy_ready`, `trailwarden_trail_logging`,
//! `_logging_desired`, `_in_sync`, `_compliant` and `trailwarden_compliance_check`. Kept as
//! one small record per policy and written as text only when `/metrics` is scraped, a
//! chunk at a time: a labelled gauge of the prometheus crate holds its labels and value
//! in some ten allocations (about 470 bytes), and at 23 series per policy that was 10.5
//! MiB of 1,000 policies, more than any other part of the controller. A record is about
//! 400 bytes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::ops::Bound;
use std::sync::{Arc, Mutex};

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

/// Not in the registry: `/metrics` writes these families after the registry's, a chunk
/// at a time ([`PolicyGauges::write_next`]).
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

/// Where a scrape of the per-policy gauges got to: the family being written (its place
/// in the page, [`Family::at`]) and the last policy written of it. Policies added or
/// removed between two chunks are seen or not, as between two families: a scrape was
/// never one instant.
#[derive(Debug, Default)]
pub struct Cursor {
    family: usize,
    after: Option<String>,
    headed: bool,
}

impl Cursor {
    /// Whether every family has been written.
    pub fn done(&self) -> bool {
        Family::at(self.family).is_none()
    }
}

/// A family of the page, in the order written: the states', the checks', the last
/// looks', the keys' deletions.
#[derive(Clone, Copy)]
enum Family {
    State(usize),
    Check,
    LastLook,
    KeyDeletion,
}

impl Family {
    /// The family at `index` in the page, none past the last.
    fn at(index: usize) -> Option<Self> {
        match index.checked_sub(STATES.len()) {
            None => Some(Family::State(index)),
            Some(0) => Some(Family::Check),
            Some(1) => Some(Family::LastLook),
            Some(2) => Some(Family::KeyDeletion),
            Some(_) => None,
        }
    }

    fn name_and_help(self) -> (&'static str, &'static str) {
        match self {
            Family::State(i) => (STATES[i].1, STATES[i].2),
            Family::Check => CHECK,
            Family::LastLook => LAST_LOOK,
            Family::KeyDeletion => KEY_DELETION,
        }
    }

    /// Hands each of the policy's samples of this family to `sample`: labels and value.
    fn samples(self, policy: &str, record: &Record, mut sample: impl FnMut(&[(&str, &str)], f64)) {
        let flag = |v: bool| if v { 1.0 } else { 0.0 };
        match self {
            Family::State(i) => {
                if let Some(v) = record.states[i] {
                    sample(&[("policy", policy)], flag(v));
                }
            }
            Family::Check => {
                for (id, v) in &record.checks {
                    sample(&[("check", id), ("policy", policy)], flag(*v));
                }
            }
            Family::LastLook => {
                if record.last_look > 0.0 {
                    sample(&[("policy", policy)], record.last_look);
                }
            }
            Family::KeyDeletion => {
                if let Some((key, at)) = &record.key_deletion {
                    sample(&[("key", key), ("policy", policy)], *at);
                }
            }
        }
    }
}

impl PolicyGauges {
    /// Appends the text of the next policies' samples to `out`, as the Prometheus text
    /// format writes them, until `out` holds `budget` bytes or the page ends. The page is
    /// written in such chunks and sent as it is written: gathered as families of samples
    /// for an encoder and then written whole, 1,000 policies' series took about 9 MiB at
    /// every scrape (the samples 6, the text 3), and ten times that at 10,000. The lock is
    /// held for one chunk, so a pass recording its gauges waits for a chunk, not the page.
    pub fn write_next(&self, cursor: &mut Cursor, out: &mut String, budget: usize) {
        let policies = self.policies.lock().expect("policy gauges lock");
        while let Some(family) = Family::at(cursor.family) {
            let (name, help) = family.name_and_help();
            let from = match &cursor.after {
                Some(after) => Bound::Excluded(after.as_str()),
                None => Bound::Unbounded,
            };
            for (policy, record) in policies.range::<str, _>((from, Bound::Unbounded)) {
                family.samples(policy, record, |labels, value| {
                    if !cursor.headed {
                        // A family with no sample is left out, as the crate's own vectors do.
                        let _ = writeln!(out, "# HELP {name} {}\n# TYPE {name} gauge", escape(help, false));
                        cursor.headed = true;
                    }
                    write_sample(out, name, labels, value);
                });
                if out.len() >= budget {
                    cursor.after = Some(policy.clone());
                    return;
                }
            }
            *cursor = Cursor { family: cursor.family + 1, after: None, headed: false };
        }
    }
}

/// One sample line: `name{label="value",…} value`.
fn write_sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    out.push_str(name);
    for (i, (label, value)) in labels.iter().enumerate() {
        let _ = write!(out, "{}{label}=\"{}\"", if i == 0 { '{' } else { ',' }, escape(value, true));
    }
    let _ = writeln!(out, "}} {value}");
}

/// The text format's escaping: a backslash and a newline always, a double quote in a
/// label's value.
fn escape(text: &str, quote: bool) -> std::borrow::Cow<'_, str> {
    let needs = text.contains(['\\', '\n']) || (quote && text.contains('"'));
    if !needs {
        return text.into();
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '\n' => escaped.push_str("\\n"),
            '"' if quote => escaped.push_str("\\\""),
            c => escaped.push(c),
        }
    }
    escaped.into()
}

#[cfg(test)]
mod tests {
    use prometheus::proto::{Gauge, LabelPair, Metric, MetricFamily, MetricType};
    use prometheus::{Encoder, TextEncoder};

    use super::*;

    fn page(gauges: &PolicyGauges, budget: usize) -> Vec<String> {
        let mut cursor = Cursor::default();
        let mut chunks = vec![];
        while !cursor.done() {
            let mut chunk = String::new();
            gauges.write_next(&mut cursor, &mut chunk, budget);
            chunks.push(chunk);
        }
        chunks
    }

    fn gauges() -> PolicyGauges {
        let gauges = PolicyGauges::new();
        gauges.set("audit", State::Ready, Some(true));
        gauges.set("audit", State::Logging, Some(false));
        gauges.set_checks("audit", [("CT-MULTI-REGION", Some(true)), ("CT-LOG-VALIDATION", Some(false))]);
        gauges.looked("audit", 1_765_000_000.25);
        gauges.key_deletion("audit", Some(("arn:aws:kms:us-east-1:111122223333:key/a\"b\\c\nd".into(), 1_766_000_000.0)));
        gauges.set("org", State::Ready, Some(false));
        gauges.set_checks("org", [("CT-MULTI-REGION", Some(false))]);
        gauges.set("paused", State::LoggingDesired, Some(false));
        gauges
    }

    /// A family: its name, its help and its samples (labels and value).
    type Family<'a> = (&'a str, &'a str, Vec<(Vec<(&'a str, &'a str)>, f64)>);

    /// The page as the prometheus crate's encoder writes the same samples.
    fn encoded(families: &[Family]) -> String {
        let families: Vec<MetricFamily> = families
            .iter()
            .map(|(name, help, samples)| {
                let mut family = MetricFamily::default();
                family.set_name((*name).into());
                family.set_help((*help).into());
                family.set_field_type(MetricType::GAUGE);
                family.set_metric(
                    samples
                        .iter()
                        .map(|(labels, value)| {
                            let labels = labels
                                .iter()
                                .map(|(n, v)| {
                                    let mut pair = LabelPair::default();
                                    pair.set_name((*n).into());
                                    pair.set_value((*v).into());
                                    pair
                                })
                                .collect();
                            let mut metric = Metric::from_label(labels);
                            let mut gauge = Gauge::default();
                            gauge.set_value(*value);
                            metric.set_gauge(gauge);
                            metric
                        })
                        .collect(),
                );
                family
            })
            .collect();
        let mut buf = vec![];
        TextEncoder::new().encode(&families, &mut buf).unwrap();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn the_page_is_what_the_crates_encoder_writes() {
        let key = "arn:aws:kms:us-east-1:111122223333:key/a\"b\\c\nd";
        let expected = encoded(&[
            (STATES[0].1, STATES[0].2, vec![(vec![("policy", "audit")], 1.0), (vec![("policy", "org")], 0.0)]),
            (STATES[1].1, STATES[1].2, vec![(vec![("policy", "audit")], 0.0)]),
            (STATES[2].1, STATES[2].2, vec![(vec![("policy", "paused")], 0.0)]),
            (
                CHECK.0,
                CHECK.1,
                vec![
                    (vec![("check", "CT-MULTI-REGION"), ("policy", "audit")], 1.0),
                    (vec![("check", "CT-LOG-VALIDATION"), ("policy", "audit")], 0.0),
                    (vec![("check", "CT-MULTI-REGION"), ("policy", "org")], 0.0),
                ],
            ),
            (LAST_LOOK.0, LAST_LOOK.1, vec![(vec![("policy", "audit")], 1_765_000_000.25)]),
            (KEY_DELETION.0, KEY_DELETION.1, vec![(vec![("key", key), ("policy", "audit")], 1_766_000_000.0)]),
        ]);
        assert_eq!(page(&gauges(), usize::MAX).concat(), expected);
    }

    #[test]
    fn a_page_written_a_policy_at_a_time_is_the_page_whole() {
        let gauges = gauges();
        let whole = page(&gauges, usize::MAX).concat();
        let chunks = page(&gauges, 1);
        assert!(chunks.len() > 8, "one chunk per policy and family: {chunks:?}");
        assert_eq!(chunks.concat(), whole);
    }

    #[test]
    fn policies_that_come_and_go_between_chunks_never_repeat_a_family() {
        let gauges = gauges();
        let mut cursor = Cursor::default();
        let mut text = String::new();
        gauges.write_next(&mut cursor, &mut text, 1);
        // After "audit"'s readiness: one policy goes, one comes before it, one after it.
        gauges.forget("org");
        gauges.set("aaa", State::Ready, Some(true));
        gauges.set("zzz", State::Ready, Some(true));
        while !cursor.done() {
            gauges.write_next(&mut cursor, &mut text, 1);
        }
        assert_eq!(text.matches(&format!("# TYPE {} gauge", STATES[0].1)).count(), 1, "{text}");
        assert!(text.contains("trailwarden_policy_ready{policy=\"zzz\"} 1"), "{text}");
        assert!(!text.contains("policy=\"org\""), "{text}");
    }
}
