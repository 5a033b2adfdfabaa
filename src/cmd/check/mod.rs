//! `trailwarden check`: judge the trails of TrailPolicy manifests against AWS once,
//! without a cluster and without changing anything; a gate for CI.
//!
//! [`input`] reads what `-f` names and sorts each document out (a TrailPolicy checked
//! against the CRD's [`schema`], another kind skipped, or an error); each valid policy is
//! judged on its own (an AWS error is that policy's result, the others are still judged);
//! [`render`] writes the table, JSON, SARIF or JUnit report. Exit codes: 2 when any input
//! could not be read or validated or any policy could not be judged, else 1 when a
//! required check fails (or, with `--fail-on unknown`, the default, could not be
//! evaluated), else 0.

mod input;
mod render;
mod schema;

use std::io::Write as _;

use futures::StreamExt as _;
use serde::Serialize;
use trailwarden::aws::sdk::{AwsOptions, SdkAws};
use trailwarden_core::posture::{Check, CheckStatus};

use crate::{CheckArgs, Output};
use input::{Found, Source};
use schema::Problem;

/// Which required checks make `check` exit 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum FailOn {
    /// Only required checks that fail.
    Fail,
    /// Required checks that fail or could not be evaluated.
    Unknown,
}

/// Policies judged at once.
const CONCURRENCY: usize = 4;
/// More policies than this and progress goes to standard error.
const PROGRESS_ABOVE: usize = 3;

/// One TrailPolicy document's result (or one input that could not be read): what the
/// JSON output lists, in input order.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Entry {
    /// `metadata.name`, when the document has one.
    pub policy: Option<String>,
    #[serde(flatten)]
    pub source: Source,
    pub trail_arn: Option<String>,
    /// False when a required check fails, None when one could not be evaluated (or the
    /// policy could not be judged).
    pub compliant: Option<bool>,
    pub findings: Vec<Check>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<EntryError>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EntryError {
    pub kind: ErrorKind,
    pub message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<Problem>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum ErrorKind {
    /// A file or document that could not be read.
    Input,
    /// A TrailPolicy the CRD's schema refuses.
    Invalid,
    /// A valid policy whose trail could not be judged (AWS refused or failed).
    Judge,
}

impl Entry {
    fn error(source: Source, policy: Option<String>, kind: ErrorKind, message: String, problems: Vec<Problem>) -> Entry {
        Entry {
            policy,
            source,
            trail_arn: None,
            compliant: None,
            findings: vec![],
            error: Some(EntryError { kind, message, problems }),
        }
    }

    /// Whether this entry makes the gate fail (exit 1).
    pub fn fails_gate(&self, fail_on: FailOn) -> bool {
        self.findings.iter().any(|f| f.required && gating(f.status, fail_on))
    }
}

/// Whether a required check in this status fails the gate.
pub(crate) fn gating(status: CheckStatus, fail_on: FailOn) -> bool {
    match status {
        CheckStatus::Pass => false,
        CheckStatus::Fail => true,
        CheckStatus::Unknown => fail_on == FailOn::Unknown,
    }
}

/// The counts of the totals line.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Totals {
    pub judged: usize,
    pub compliant: usize,
    pub not_compliant: usize,
    pub unknown: usize,
    pub errors: usize,
    pub skipped: usize,
    /// Skipped documents by kind.
    pub skipped_kinds: std::collections::BTreeMap<String, usize>,
}

impl Totals {
    fn of(entries: &[Entry], skipped: &[(Source, String)]) -> Totals {
        let mut t = Totals::default();
        for e in entries {
            if e.error.is_some() {
                t.errors += 1;
                continue;
            }
            t.judged += 1;
            match e.compliant {
                Some(true) => t.compliant += 1,
                Some(false) => t.not_compliant += 1,
                None => t.unknown += 1,
            }
        }
        t.skipped = skipped.len();
        for (_, kind) in skipped {
            *t.skipped_kinds.entry(kind.clone()).or_default() += 1;
        }
        t
    }

    pub fn line(&self) -> String {
        let plural = |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let mut line = format!(
            "{} judged: {} compliant, {} not compliant, {} unknown; {}; {}",
            plural(self.judged, "policy", "policies"),
            self.compliant,
            self.not_compliant,
            self.unknown,
            plural(self.errors, "error", "errors"),
            plural(self.skipped, "document skipped", "documents skipped"),
        );
        if !self.skipped_kinds.is_empty() {
            let kinds: Vec<String> = self.skipped_kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
            line += &format!(" ({})", kinds.join(", "));
        }
        line
    }
}

pub(crate) async fn check(args: CheckArgs) -> anyhow::Result<std::process::ExitCode> {
    let found = input::read(&args.files, args.recursive);
    let mut slots: Vec<Option<Entry>> = vec![];
    let mut to_judge = vec![];
    let mut skipped = vec![];
    for f in found {
        match f {
            Found::Policy(source, policy) => {
                to_judge.push((slots.len(), source, policy));
                slots.push(None);
            }
            Found::Invalid { source, policy, problems } => {
                let message = problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
                slots.push(Some(Entry::error(source, policy, ErrorKind::Invalid, message, problems)));
            }
            Found::Unreadable(source, why) => slots.push(Some(Entry::error(source, None, ErrorKind::Input, why, vec![]))),
            Found::Skipped(source, kind) => skipped.push((source, kind)),
        }
    }

    if !to_judge.is_empty() {
        // One look per policy: nothing to share between passes.
        let port = SdkAws::new(AwsOptions::one_shot(args.aws_endpoint_url.clone())).await;
        let total = to_judge.len();
        let progress = total > PROGRESS_ABOVE;
        let port = &port;
        let mut judged = futures::stream::iter(to_judge)
            .map(|(slot, source, policy)| async move { (slot, judge_one(port, source, &policy).await) })
            .buffer_unordered(CONCURRENCY);
        let mut done = 0;
        while let Some((slot, entry)) = judged.next().await {
            done += 1;
            if progress {
                eprintln!("trailwarden check: [{done}/{total}] {} {}", entry.policy.as_deref().unwrap_or("-"), render::verdict(&entry));
            }
            slots[slot] = Some(entry);
        }
    }
    let entries: Vec<Entry> = slots.into_iter().flatten().collect();
    let totals = Totals::of(&entries, &skipped);
    let nothing = entries.is_empty();

    let text = match args.output {
        Output::Table => render::table(&entries, &totals, args.fail_on),
        Output::Json => serde_json::to_string_pretty(&entries)? + "\n",
        Output::Sarif => serde_json::to_string_pretty(&render::sarif(&entries, args.fail_on))? + "\n",
        Output::Junit => render::junit(&entries, args.fail_on),
    };
    // A reader that has seen enough (`| head`) is no error of ours.
    match std::io::stdout().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
        _ => {}
    }
    if !matches!(args.output, Output::Table) {
        eprintln!("trailwarden check: {}", totals.line());
    }
    if nothing {
        anyhow::bail!("no TrailPolicy in the input ({})", args.files.join(", "));
    }
    let code = if entries.iter().any(|e| e.error.is_some()) {
        2
    } else if entries.iter().any(|e| e.fails_gate(args.fail_on)) {
        1
    } else {
        0
    };
    Ok(std::process::ExitCode::from(code))
}

async fn judge_one(port: &SdkAws, source: Source, policy: &trailwarden::api::TrailPolicy) -> Entry {
    let name = policy.metadata.name.clone();
    let desired = match trailwarden::k8s::desired::desired(policy) {
        Ok(d) => d,
        Err(e) => return Entry::error(source, name, ErrorKind::Invalid, e.to_string(), vec![]),
    };
    match trailwarden::pass::judge(port, desired, jiff::Timestamp::now()).await {
        Ok(j) => Entry { policy: Some(j.policy), source, trail_arn: Some(j.trail_arn), compliant: j.compliant, findings: j.findings, error: None },
        Err(e) => Entry::error(source, name, ErrorKind::Judge, format!("could not be judged: {}", readable(&e.to_string())), vec![]),
    }
}

/// An SDK error as people read it: without the debug dump that follows some (the
/// connector's whole state), and at most 600 characters.
fn readable(message: &str) -> String {
    let cut = message.find(" (DispatchFailure(").map_or(message, |at| &message[..at]);
    match cut.char_indices().nth(600) {
        Some((at, _)) => format!("{}…", &cut[..at]),
        None => cut.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdk_errors_lose_their_debug_dump() {
        let m = "CloudTrail.DescribeTrails failed (Unavailable): dispatch failure: AccessDenied (DispatchFailure(DispatchFailure { … }))";
        assert_eq!(readable(m), "CloudTrail.DescribeTrails failed (Unavailable): dispatch failure: AccessDenied");
        assert_eq!(readable(&"é".repeat(700)).chars().count(), 601);
    }

    #[test]
    fn the_gate() {
        assert!(gating(CheckStatus::Fail, FailOn::Fail) && gating(CheckStatus::Unknown, FailOn::Unknown));
        assert!(!gating(CheckStatus::Unknown, FailOn::Fail) && !gating(CheckStatus::Pass, FailOn::Unknown));
    }
}
