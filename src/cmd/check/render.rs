//! The reports `check` writes: a table for people, and JSON, SARIF 2.1.0 (code scanning)
//! and JUnit XML (CI test reports) for machines.

use serde_json::{Value, json};
use trailwarden_core::posture::{Check, CheckStatus};

use super::{Entry, ErrorKind, FailOn, Totals, gating};

/// The verdict word of an entry.
pub fn verdict(entry: &Entry) -> &'static str {
    if entry.error.is_some() {
        return "ERROR";
    }
    match entry.compliant {
        Some(true) => "COMPLIANT",
        Some(false) => "NOT COMPLIANT",
        None => "UNKNOWN",
    }
}

fn error_label(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Input => "cannot be read",
        ErrorKind::Invalid => "invalid",
        ErrorKind::Judge => "not judged",
    }
}

pub fn table(entries: &[Entry], totals: &Totals, fail_on: FailOn) -> String {
    let mut out = String::new();
    for e in entries {
        let policy = e.policy.as_deref().unwrap_or("-");
        match &e.error {
            Some(error) => {
                out += &format!("{policy}  ERROR  {}\n", error_label(error.kind));
                out += &format!("  at {}\n", e.source);
                if error.problems.is_empty() {
                    out += &format!("  {}\n", error.message);
                }
                for p in &error.problems {
                    out += &format!("  {p}\n");
                }
            }
            None => {
                out += &format!("{policy}  {}  {}\n", e.trail_arn.as_deref().unwrap_or("-"), verdict(e));
                out += &format!("  at {}\n", e.source);
                out += &format!("  {:<8} {:<9} {:<27} {:<40} MESSAGE\n", "STATUS", "REQUIRED", "CHECK", "CONTROLS");
                for f in &e.findings {
                    let required = if f.required { "yes" } else { "no" };
                    let status = format!("{:?}", f.status);
                    out += &format!("  {status:<8} {required:<9} {:<27} {:<40} {}\n", f.id, f.controls.join(", "), f.message);
                }
            }
        }
        out += "\n";
    }
    let gate = if entries.iter().any(|e| e.error.is_some()) {
        "ERROR (exit 2)"
    } else if entries.iter().any(|e| e.fails_gate(fail_on)) {
        "FAIL (exit 1)"
    } else {
        "PASS"
    };
    out += &format!("total: {}; gate {gate}\n", totals.line());
    out
}

/// A line on what a check verifies, for SARIF rules.
fn describe(id: &str) -> &'static str {
    match id {
        "CT-EXISTS" => "The trail the policy names exists in its home region.",
        "CT-LOGGING" => "The trail is logging.",
        "CT-MULTI-REGION" => "The trail records events of every region.",
        "CT-GLOBAL-SERVICE-EVENTS" => "The trail records events of global services (IAM, STS, CloudFront).",
        "CT-MANAGEMENT-EVENTS" => "The event selectors let all management events (read and write) through.",
        "CT-LOG-VALIDATION" => "Log file integrity validation is on.",
        "CT-KMS-ENCRYPTION" => "Log files are encrypted with the KMS key the policy declares.",
        "CT-CLOUDWATCH-LOGS" => "Events are also delivered to the CloudWatch Logs group the policy declares.",
        "CT-INSIGHTS" => "The Insights types the policy declares are on.",
        "CT-S3-DATA-EVENTS-WRITE" => "S3 object-level write events are recorded.",
        "CT-S3-DATA-EVENTS-READ" => "S3 object-level read events are recorded.",
        "CT-DELIVERY-HEALTH" => "Log delivery to S3 (and CloudWatch Logs) reports no recent error.",
        "BKT-READABLE" => "The log bucket's settings could be read.",
        "BKT-PUBLIC-ACCESS-BLOCK" => "The log bucket blocks public access.",
        "BKT-NOT-PUBLIC" => "The log bucket's policy and ACL grant nothing to the public.",
        "BKT-ACCESS-LOGGING" => "The log bucket has server access logging on.",
        "BKT-VERSIONING" => "The log bucket is versioned.",
        "BKT-MFA-DELETE" => "The log bucket requires MFA to delete versions.",
        "BKT-CLOUDTRAIL-POLICY" => "The log bucket's policy lets CloudTrail (this trail only) write the logs.",
        "BKT-ACLS-DISABLED" => "The log bucket's Object Ownership is BucketOwnerEnforced (ACLs off).",
        "KMS-KEY-READABLE" => "The trail's KMS key could be described.",
        "KMS-KEY-ENABLED" => "The trail's KMS key is enabled.",
        "KMS-KEY-SYMMETRIC" => "The trail's KMS key is a symmetric encryption key.",
        "KMS-KEY-ROTATION" => "The trail's KMS key rotates automatically.",
        "KMS-KEY-REGION" => "The trail's KMS key lives in the trail's region.",
        "KMS-KEY-CLOUDTRAIL-POLICY" => "The key policy lets CloudTrail (this trail only) encrypt with the key.",
        _ => "A trailwarden posture check.",
    }
}

/// SARIF rule ids of what is not a check.
const RULE_INPUT: &str = "TW-INPUT";
const RULE_INVALID: &str = "TW-INVALID";
const RULE_NOT_JUDGED: &str = "TW-NOT-JUDGED";

fn error_rule(kind: ErrorKind) -> (&'static str, &'static str) {
    match kind {
        ErrorKind::Input => (RULE_INPUT, "A file or YAML document that could not be read."),
        ErrorKind::Invalid => (RULE_INVALID, "A TrailPolicy that the CRD's schema refuses (unknown field, wrong type or value)."),
        ErrorKind::Judge => (RULE_NOT_JUDGED, "A TrailPolicy whose trail could not be judged (AWS refused or failed)."),
    }
}

/// A file name as a SARIF `uri`: relative paths stay relative (to the repository, for code
/// scanning), absolute ones become `file://` URIs; anything outside a URI's characters is
/// percent-encoded.
fn uri(file: &str) -> String {
    let mut out = String::new();
    if file.starts_with('/') {
        out.push_str("file://");
    }
    let path = file.strip_prefix("./").unwrap_or(file);
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/!$&'()*+,;=:@".contains(&b) {
            out.push(b as char);
        } else {
            out += &format!("%{b:02X}");
        }
    }
    out
}

fn locations(entry: &Entry) -> Value {
    let mut location = serde_json::Map::new();
    if entry.source.file != "-" {
        let mut physical = json!({"artifactLocation": {"uri": uri(&entry.source.file)}});
        if let Some(line) = entry.source.line {
            physical["region"] = json!({"startLine": line});
        }
        location.insert("physicalLocation".into(), physical);
    }
    let mut logical = vec![];
    if let Some(policy) = &entry.policy {
        logical.push(json!({"name": policy, "fullyQualifiedName": format!("TrailPolicy/{policy}"), "kind": "object"}));
    }
    if let Some(arn) = &entry.trail_arn {
        let name = arn.rsplit('/').next().unwrap_or(arn);
        logical.push(json!({"name": name, "fullyQualifiedName": arn, "kind": "resource"}));
    }
    if !logical.is_empty() {
        location.insert("logicalLocations".into(), Value::Array(logical));
    }
    json!([location])
}

fn level(check: &Check) -> &'static str {
    match (check.status, check.required) {
        (CheckStatus::Fail, true) => "error",
        (CheckStatus::Fail, false) => "warning",
        _ => "note",
    }
}

/// One run of the tool `trailwarden`: a rule per check id met (its controls in its
/// properties), a result per failing or unknown check and per policy in error.
pub fn sarif(entries: &[Entry], fail_on: FailOn) -> Value {
    let mut rules: Vec<Value> = vec![];
    let mut index: std::collections::HashMap<String, usize> = Default::default();
    let mut rule = |id: &str, text: &str, controls: &[&str]| -> usize {
        *index.entry(id.to_owned()).or_insert_with(|| {
            rules.push(json!({
                "id": id,
                "shortDescription": {"text": text},
                "properties": {"controls": controls, "tags": ["security", "cloudtrail"]},
            }));
            rules.len() - 1
        })
    };
    let mut results = vec![];
    let mut notifications = vec![];
    for e in entries {
        if let Some(error) = &e.error {
            let (id, text) = error_rule(error.kind);
            let rule_index = rule(id, text, &[]);
            let where_ = e.policy.clone().unwrap_or_else(|| e.source.to_string());
            let message = format!("{where_}: {} ({}): {}", error_label(error.kind), e.source, error.message);
            results.push(json!({
                "ruleId": id,
                "ruleIndex": rule_index,
                "level": "error",
                "message": {"text": message},
                "locations": locations(e),
            }));
            notifications.push(json!({"level": "error", "message": {"text": message}}));
            continue;
        }
        for f in &e.findings {
            let rule_index = rule(f.id, describe(f.id), f.controls);
            if f.status == CheckStatus::Pass {
                continue;
            }
            let policy = e.policy.as_deref().unwrap_or("-");
            let status = if f.status == CheckStatus::Fail { "fails" } else { "could not be evaluated" };
            let required = if f.required { "required" } else { "not required" };
            results.push(json!({
                "ruleId": f.id,
                "ruleIndex": rule_index,
                "level": level(f),
                "message": {"text": format!("{policy}: {} {status} ({required}): {}", f.id, f.message)},
                "locations": locations(e),
                "partialFingerprints": {"trailwardenPolicyCheck/v1": format!("{policy}/{}", f.id)},
                "properties": {
                    "policy": policy,
                    "trailArn": e.trail_arn,
                    "status": format!("{:?}", f.status),
                    "required": f.required,
                    "failsGate": f.required && gating(f.status, fail_on),
                    "controls": f.controls,
                },
            }));
        }
    }
    let mut invocation = json!({"executionSuccessful": notifications.is_empty()});
    if !notifications.is_empty() {
        invocation["toolExecutionNotifications"] = Value::Array(notifications);
    }
    json!({
        "$schema": "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "trailwarden",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "invocations": [invocation],
            "results": results,
        }],
    })
}

/// Text for XML content and attribute values: the five markup characters as entities,
/// line breaks and tabs as character references (kept in attributes), and characters XML
/// 1.0 cannot carry replaced by U+FFFD.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out += "&amp;",
            '<' => out += "&lt;",
            '>' => out += "&gt;",
            '"' => out += "&quot;",
            '\'' => out += "&apos;",
            '\n' => out += "&#10;",
            '\r' => out += "&#13;",
            '\t' => out += "&#9;",
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// A testsuite per policy, a testcase per check: `<failure>` for a failing check (its
/// `type` says whether it is required), `<error type="unknown">` for a required check
/// that could not be evaluated when that fails the gate (`--fail-on unknown`), else
/// `<skipped>`. A policy in error is a testsuite with one testcase in `<error>`.
pub fn junit(entries: &[Entry], fail_on: FailOn) -> String {
    let mut suites = String::new();
    let (mut all_tests, mut all_failures, mut all_errors, mut all_skipped) = (0, 0, 0, 0);
    for e in entries {
        let name = e.policy.clone().unwrap_or_else(|| e.source.to_string());
        let mut cases = String::new();
        let (mut tests, mut failures, mut errors, mut skipped) = (0, 0, 0, 0);
        let file = if e.source.file == "-" { String::new() } else { format!(" file=\"{}\"", xml(&e.source.file)) };
        let line = e.source.line.map(|l| format!(" line=\"{l}\"")).unwrap_or_default();
        let classname = format!("trailwarden.{name}");
        if let Some(error) = &e.error {
            tests += 1;
            errors += 1;
            let case = match error.kind {
                ErrorKind::Input => "read",
                ErrorKind::Invalid => "validate",
                ErrorKind::Judge => "judge",
            };
            let body = if error.problems.is_empty() {
                error.message.clone()
            } else {
                error.problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
            };
            cases += &format!(
                "    <testcase name=\"{case}\" classname=\"{}\"{file}{line}>\n      <error type=\"{}\" message=\"{}\">{}</error>\n    </testcase>\n",
                xml(&classname),
                error_label(error.kind),
                xml(&format!("{} ({})", error_label(error.kind), e.source)),
                xml(&body),
            );
        }
        for f in &e.findings {
            tests += 1;
            let mut case = format!("    <testcase name=\"{}\" classname=\"{}\"{file}{line}", xml(f.id), xml(&classname));
            let detail = format!("{} [{}]: {}", f.id, f.controls.join(", "), f.message);
            let required = if f.required { "required" } else { "not-required" };
            match f.status {
                CheckStatus::Pass => case += "/>\n",
                CheckStatus::Fail => {
                    failures += 1;
                    case += &format!(">\n      <failure type=\"{required}\" message=\"{}\">{}</failure>\n    </testcase>\n", xml(&f.message), xml(&detail));
                }
                CheckStatus::Unknown if f.required && gating(f.status, fail_on) => {
                    errors += 1;
                    case += &format!(">\n      <error type=\"unknown\" message=\"{}\">{}</error>\n    </testcase>\n", xml(&f.message), xml(&detail));
                }
                CheckStatus::Unknown => {
                    skipped += 1;
                    case += &format!(">\n      <skipped message=\"{}: {}\"/>\n    </testcase>\n", if f.required { "unknown" } else { "unknown, not required" }, xml(&f.message));
                }
            }
            cases += &case;
        }
        let mut properties = format!("      <property name=\"file\" value=\"{}\"/>\n", xml(&e.source.file));
        if let Some(l) = e.source.line {
            properties += &format!("      <property name=\"line\" value=\"{l}\"/>\n");
        }
        if let Some(arn) = &e.trail_arn {
            properties += &format!("      <property name=\"trailArn\" value=\"{}\"/>\n", xml(arn));
        }
        properties += &format!("      <property name=\"verdict\" value=\"{}\"/>\n", verdict(e));
        suites += &format!(
            "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\">\n    <properties>\n{properties}    </properties>\n{cases}  </testsuite>\n",
            xml(&name),
        );
        all_tests += tests;
        all_failures += failures;
        all_errors += errors;
        all_skipped += skipped;
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"trailwarden check\" tests=\"{all_tests}\" failures=\"{all_failures}\" errors=\"{all_errors}\" skipped=\"{all_skipped}\">\n{suites}</testsuites>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::super::input::Source;
    use super::super::{EntryError, Totals};
    use super::*;

    fn check(id: &'static str, status: CheckStatus, required: bool) -> Check {
        Check { id, status, controls: &["CIS 3.1"], message: format!("<{id}> & \"quoted\"\u{1}"), required }
    }

    fn entries() -> Vec<Entry> {
        let source = |line| Source { file: "policies/a b.yaml".into(), document: Some(1), item: None, line: Some(line) };
        vec![
            Entry {
                policy: Some("audit".into()),
                source: source(1),
                trail_arn: Some("arn:aws:cloudtrail:us-east-1:111122223333:trail/audit".into()),
                compliant: Some(false),
                findings: vec![
                    check("CT-LOGGING", CheckStatus::Pass, true),
                    check("CT-LOG-VALIDATION", CheckStatus::Fail, true),
                    check("BKT-MFA-DELETE", CheckStatus::Fail, false),
                    check("BKT-VERSIONING", CheckStatus::Unknown, true),
                ],
                error: None,
            },
            Entry {
                policy: Some("typo".into()),
                source: source(9),
                trail_arn: None,
                compliant: None,
                findings: vec![],
                error: Some(EntryError {
                    kind: ErrorKind::Invalid,
                    message: "spec.regoin: unknown field".into(),
                    problems: vec![super::super::Problem { path: "spec.regoin".into(), message: "unknown field".into() }],
                }),
            },
        ]
    }

    #[test]
    fn sarif_levels_rules_and_locations() {
        let log = sarif(&entries(), FailOn::Unknown);
        let run = &log["runs"][0];
        let rules: Vec<&str> = run["tool"]["driver"]["rules"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
        assert_eq!(rules, ["CT-LOGGING", "CT-LOG-VALIDATION", "BKT-MFA-DELETE", "BKT-VERSIONING", "TW-INVALID"]);
        let levels: Vec<(&str, &str)> =
            run["results"].as_array().unwrap().iter().map(|r| (r["ruleId"].as_str().unwrap(), r["level"].as_str().unwrap())).collect();
        assert_eq!(levels, [("CT-LOG-VALIDATION", "error"), ("BKT-MFA-DELETE", "warning"), ("BKT-VERSIONING", "note"), ("TW-INVALID", "error")]);
        let location = &run["results"][0]["locations"][0];
        assert_eq!(location["physicalLocation"]["artifactLocation"]["uri"], "policies/a%20b.yaml");
        assert_eq!(location["physicalLocation"]["region"]["startLine"], 1);
        assert_eq!(location["logicalLocations"][1]["fullyQualifiedName"], "arn:aws:cloudtrail:us-east-1:111122223333:trail/audit");
        assert_eq!(run["results"][3]["locations"][0]["physicalLocation"]["region"]["startLine"], 9);
        assert_eq!(run["invocations"][0]["executionSuccessful"], false);
    }

    #[test]
    fn junit_escapes_and_counts() {
        let xml = junit(&entries(), FailOn::Unknown);
        assert!(xml.contains("<testsuites name=\"trailwarden check\" tests=\"5\" failures=\"2\" errors=\"2\" skipped=\"0\">"), "{xml}");
        assert!(xml.contains("message=\"&lt;CT-LOG-VALIDATION&gt; &amp; &quot;quoted&quot;\u{FFFD}\""), "{xml}");
        assert!(!xml.contains('\u{1}'));
        assert!(xml.contains("<failure type=\"not-required\""), "{xml}");
        let xml = junit(&entries(), FailOn::Fail);
        assert!(xml.contains("<skipped message=\"unknown: "), "{xml}");
        let totals = Totals::of(&entries(), &[]);
        assert_eq!((totals.judged, totals.not_compliant, totals.errors), (1, 1, 1));
        let table = table(&entries(), &totals, FailOn::Unknown);
        assert!(table.starts_with("audit  arn:aws:cloudtrail:us-east-1:111122223333:trail/audit  NOT COMPLIANT\n"), "{table}");
        assert!(table.contains("typo  ERROR  invalid\n  at policies/a b.yaml:9 (document 1)\n  spec.regoin: unknown field\n"), "{table}");
        assert!(table.ends_with("total: 1 policy judged: 0 compliant, 1 not compliant, 0 unknown; 1 error; 0 documents skipped; gate ERROR (exit 2)\n"), "{table}");
    }
}
