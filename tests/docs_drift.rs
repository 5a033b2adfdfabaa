//! The docs list what the code has, no more and no less: each flag and its environment
//! variable, each metric, each alert, each condition and Event reason. A name added on one
//! side and not the other fails here, so the README, the runbooks, the EKS guide and the
//! chart cannot drift from the binary.
//!
//! Read from the code: the flags and variables from `trailwarden run --help` (clap prints
//! what the binary accepts), the metric names from the string literals under `src/` that
//! name one, the reasons from the domain's enums. Read from the docs: the README's flag
//! table and metrics section, the runbooks' sections, the chart's deployment template.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use strum::IntoEnumIterator;
use trailwarden_core::report::{Failure, Reason};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every `prefix…` token in `text`: a run of the characters names are made of.
fn tokens(text: &str, prefix: &str, name: impl Fn(char) -> bool) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        let token: String = rest[at..].chars().take_while(|c| name(*c)).collect();
        rest = &rest[at + prefix.len()..];
        if token.len() > prefix.len() {
            found.insert(token);
        }
    }
    found
}

fn metric_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'
}

/// `trailwarden run --help`: (flags, environment variables).
fn run_flags() -> (BTreeSet<String>, BTreeSet<String>) {
    let out = Command::new(env!("CARGO_BIN_EXE_trailwarden")).args(["run", "--help"]).output().expect("the binary runs");
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    let flags = tokens(&help, "--", |c| c.is_ascii_lowercase() || c == '-' || c.is_ascii_digit())
        .into_iter()
        .filter(|f| f != "--help" && f.len() > 3)
        .collect();
    let env = tokens(&help, "TRAILWARDEN_", |c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit());
    (flags, env)
}

fn difference(a: &BTreeSet<String>, b: &BTreeSet<String>) -> Vec<String> {
    a.difference(b).cloned().collect()
}

#[test]
fn every_flag_is_in_the_readme_table_and_settable_from_the_chart() {
    let (flags, env) = run_flags();
    assert!(flags.len() > 20 && env.len() > 20, "read the help: {flags:?} {env:?}");
    let readme = read("README.md");
    let table: String = readme.lines().filter(|l| l.starts_with("| `--")).collect::<Vec<_>>().join("\n");
    let documented = tokens(&table, "--", |c| c.is_ascii_lowercase() || c == '-' || c.is_ascii_digit());
    let missing = difference(&flags, &documented);
    assert!(missing.is_empty(), "flags of `trailwarden run` missing from the README's flag table: {missing:?}");
    let unknown = difference(&documented, &flags);
    assert!(unknown.is_empty(), "the README's flag table lists flags `trailwarden run` does not take: {unknown:?}");

    let deployment = read("charts/trailwarden/templates/deployment.yaml");
    let set = tokens(&deployment, "TRAILWARDEN_", |c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit());
    let missing = difference(&env, &set);
    assert!(missing.is_empty(), "flags the chart cannot set (their variable is not in templates/deployment.yaml): {missing:?}");
    let unknown = difference(&set, &env);
    assert!(unknown.is_empty(), "the chart sets variables the binary does not read: {unknown:?}");
}

/// The metric names the code registers: string literals under `src/` that start with
/// `trailwarden_`.
fn code_metrics() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut dirs = vec![root().join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                names.extend(tokens(&text, "\"trailwarden_", |c| c == '"' || metric_char(c)).into_iter().filter_map(|t| {
                    let name = t.trim_start_matches('"');
                    // Only whole literals: "trailwarden_x" followed by its closing quote.
                    name.strip_suffix('"').filter(|n| !n.contains('"')).map(str::to_owned)
                }));
            }
        }
    }
    names
}

#[test]
fn every_metric_is_in_the_readme_and_the_readme_names_no_other() {
    let code = code_metrics();
    assert!(code.len() > 30, "read the metric names: {code:?}");
    let readme = read("README.md");
    let section = readme.split("### Metrics").nth(1).and_then(|s| s.split("\n### ").next()).expect("the README has a Metrics section");
    let documented = tokens(section, "trailwarden_", metric_char);
    let missing = difference(&code, &documented);
    assert!(missing.is_empty(), "metrics missing from the README's Metrics section: {missing:?}");
    // The whole README may name a metric only if the code has it (or a histogram's series).
    let anywhere = tokens(&readme, "trailwarden_", metric_char);
    let histogram = |n: &String| ["_bucket", "_count", "_sum"].iter().any(|s| n.strip_suffix(s).is_some_and(|base| code.contains(base)));
    let unknown: Vec<String> = anywhere.into_iter().filter(|n| !code.contains(n) && !histogram(n)).collect();
    assert!(unknown.is_empty(), "the README names metrics the code does not export: {unknown:?}");
}

#[test]
fn every_alert_has_a_runbook_and_every_runbook_an_alert() {
    let rules: serde_yaml::Value = serde_yaml::from_str(&read("charts/trailwarden/files/alerts.yaml")).unwrap();
    let alerts: BTreeSet<String> = rules["groups"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_sequence().unwrap().iter())
        .filter_map(|r| r["alert"].as_str().map(str::to_owned))
        .collect();
    let runbooks = read("docs/runbooks.md");
    let sections: BTreeSet<String> =
        runbooks.lines().filter_map(|l| l.strip_prefix("## ")).map(|s| s.trim().to_owned()).filter(|s| !s.contains(' ')).collect();
    let missing = difference(&alerts, &sections);
    assert!(missing.is_empty(), "alerts without a runbook section in docs/runbooks.md: {missing:?}");
    let unknown = difference(&sections, &alerts);
    assert!(unknown.is_empty(), "runbook sections for alerts the chart does not ship: {unknown:?}");
    // Every metric an alert uses is one the code exports.
    let code = code_metrics();
    let used = tokens(&read("charts/trailwarden/files/alerts.yaml"), "trailwarden_", metric_char);
    let unknown: Vec<String> = used.into_iter().filter(|m| !code.contains(m)).collect();
    assert!(unknown.is_empty(), "alerts use metrics the code does not export: {unknown:?}");
}

#[test]
fn every_metric_a_runbook_sends_people_to_has_a_dashboard_panel() {
    let runbooks = tokens(&read("docs/runbooks.md"), "trailwarden_", metric_char);
    let dashboard = read("charts/trailwarden/files/dashboard.json");
    let missing: Vec<&String> = runbooks.iter().filter(|m| !dashboard.contains(m.as_str())).collect();
    assert!(missing.is_empty(), "metrics the runbooks name without a dashboard panel: {missing:?}");
}

#[test]
fn every_event_reason_is_in_the_readme() {
    let readme = read("README.md");
    let events = readme.split("### What `kubectl get tp` shows").nth(1).and_then(|s| s.split("\n### ").next()).expect("the section");
    // Reasons that are only ever conditions, never Events.
    let conditions_only = ["Reconciled", "InSync", "DriftDetected", "Logging", "NotLogging", "TrailAbsent", "ChecksPass",
        "ChecksFailing", "ChecksUnknown", "NotEvaluated", "NotObserved", "Uncontested"];
    let missing: Vec<&str> = Reason::iter()
        .map(<&'static str>::from)
        .filter(|r| !conditions_only.contains(r) && !events.contains(&format!("`{r}`")))
        .collect();
    assert!(missing.is_empty(), "Event reasons missing from the README's list: {missing:?}");
    // Failures are Events too (a Warning per failed stage), named in the EKS guide's table.
    let guide = read("docs/eks.md");
    let missing: Vec<&str> = Failure::iter().map(Failure::name).filter(|f| !guide.contains(&format!("| `{f}`"))).collect();
    assert!(missing.is_empty(), "failure reasons missing from docs/eks.md's troubleshooting table: {missing:?}");
}
