//! What `-f` names, read and sorted out: files, directories (their `*.yaml` / `*.yml`, in
//! name order; with `--recursive` their subdirectories too) and standard input, split into
//! YAML documents with the line each starts on. Each document is a TrailPolicy (checked
//! against the CRD's schema), a document of another kind (skipped and counted; a `List`'s
//! items are sorted out one by one), or an error.

use trailwarden::k8s::set::api as crate_set;
use std::path::{Path, PathBuf};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaProps;
use kube::Resource as _;
use serde::{Deserialize as _, Serialize};
use serde_json::Value;
use trailwarden::api::TrailPolicy;

use super::schema::{self, Problem};

/// Where a document came from.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    /// The file as named (a directory's files as `DIR/NAME`); `-` for standard input.
    pub file: String,
    /// The document's number in its file, from 1 (empty documents are not counted).
    pub document: Option<usize>,
    /// The item's number, from 1, when the document is a `List`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<usize>,
    /// The line the document starts on, from 1.
    pub line: Option<usize>,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let file = if self.file == "-" { "<stdin>" } else { &self.file };
        match (self.line, self.document) {
            (Some(line), Some(document)) => write!(f, "{file}:{line} (document {document}")?,
            _ => return write!(f, "{file}"),
        }
        if let Some(item) = self.item {
            write!(f, ", item {item}")?;
        }
        write!(f, ")")
    }
}

pub enum Found {
    Policy(Source, Box<TrailPolicy>),
    /// A TrailPolicy (or what was meant to be one) that the schema refuses.
    Invalid { source: Source, policy: Option<String>, problems: Vec<Problem> },
    /// A file or document that could not be read at all.
    Unreadable(Source, String),
    /// Another kind of document, by kind.
    Skipped(Source, String),
}

/// Everything `-f` names, in order.
pub fn read(names: &[String], recursive: bool) -> Vec<Found> {
    let schema = schema::trail_policy_schema();
    let mut found = vec![];
    for name in names {
        for file in expand(name, recursive) {
            let file = match file {
                Ok(file) => file,
                Err((file, why)) => {
                    found.push(Found::Unreadable(Source { file, document: None, item: None, line: None }, why));
                    continue;
                }
            };
            let text = if file == "-" {
                std::io::read_to_string(std::io::stdin())
            } else {
                std::fs::read_to_string(&file)
            };
            match text {
                Ok(text) => sort_out(&file, &text, &schema, &mut found),
                Err(e) => found.push(Found::Unreadable(Source { file, document: None, item: None, line: None }, format!("cannot read: {e}"))),
            }
        }
    }
    found
}

/// The files a name stands for: itself, or a directory's YAML files in name order.
fn expand(name: &str, recursive: bool) -> Vec<Result<String, (String, String)>> {
    if name == "-" {
        return vec![Ok(name.to_owned())];
    }
    let path = Path::new(name);
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => {
            let mut out = vec![];
            walk_dir(path, recursive, &mut out);
            out
        }
        Ok(_) => vec![Ok(name.to_owned())],
        Err(e) => vec![Err((name.to_owned(), format!("cannot read: {e}")))],
    }
}

fn walk_dir(dir: &Path, recursive: bool, out: &mut Vec<Result<String, (String, String)>>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => return out.push(Err((dir.display().to_string(), format!("cannot read the directory: {e}")))),
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    let mut subdirs = vec![];
    for path in paths {
        let hidden = path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            subdirs.push(path);
        } else if path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml")) {
            out.push(Ok(path.display().to_string()));
        }
    }
    if recursive {
        for sub in subdirs {
            walk_dir(&sub, recursive, out);
        }
    }
}

/// One YAML document of a stream: its text and the line its text begins on.
#[derive(Debug, PartialEq)]
struct Chunk {
    /// The first line of the chunk's text (where parse errors count from).
    origin: usize,
    /// The first line holding content: where the document starts.
    start: usize,
    text: String,
}

/// A stream cut at its `---` and `...` markers; documents with nothing but comments and
/// blank lines are dropped.
fn chunks(text: &str) -> Vec<Chunk> {
    let mut out = vec![];
    let mut current: Option<Chunk> = None;
    let finish = |chunk: Option<Chunk>, out: &mut Vec<Chunk>| {
        if let Some(c) = chunk
            && c.start != 0
        {
            out.push(c);
        }
    };
    for (i, line) in text.lines().enumerate() {
        let number = i + 1;
        let marker = line.strip_prefix("---").filter(|rest| rest.is_empty() || rest.starts_with([' ', '\t']));
        if let Some(rest) = marker {
            finish(current.take(), &mut out);
            let mut chunk = Chunk { origin: number, start: 0, text: String::new() };
            let rest = rest.trim_start();
            if !rest.is_empty() && !rest.starts_with('#') {
                chunk.start = number;
                chunk.text.push_str(rest);
            }
            chunk.text.push('\n');
            current = Some(chunk);
            continue;
        }
        if line == "..." || line.starts_with("... ") {
            finish(current.take(), &mut out);
            continue;
        }
        let chunk = current.get_or_insert_with(|| Chunk { origin: number, start: 0, text: String::new() });
        if chunk.start == 0 && line.starts_with('%') {
            // A directive (`%YAML 1.2`) of the next document.
            chunk.text.push('\n');
            continue;
        }
        let content = line.trim();
        if chunk.start == 0 && !content.is_empty() && !content.starts_with('#') {
            chunk.start = number;
        }
        chunk.text.push_str(line);
        chunk.text.push('\n');
    }
    finish(current.take(), &mut out);
    out
}

fn sort_out(file: &str, text: &str, schema: &JSONSchemaProps, found: &mut Vec<Found>) {
    for (i, chunk) in chunks(text).into_iter().enumerate() {
        let source = Source { file: file.to_owned(), document: Some(i + 1), item: None, line: Some(chunk.start) };
        let value = serde_yaml::Deserializer::from_str(&chunk.text).next().map(serde_yaml::Value::deserialize);
        let value = match value {
            Some(Ok(v)) => v,
            Some(Err(e)) => {
                let at = e.location().map(|l| format!(" at line {}, column {}", chunk.origin + l.line() - 1, l.column())).unwrap_or_default();
                let message = e.to_string();
                let message = message.split(" at line ").next().unwrap_or(&message);
                found.push(Found::Unreadable(source, format!("not YAML{at}: {message}")));
                continue;
            }
            None => continue,
        };
        if value.is_null() {
            continue;
        }
        match serde_json::to_value(&value) {
            Ok(json) => sort_out_object(source, json, schema, found),
            Err(e) => found.push(Found::Unreadable(source, format!("not a Kubernetes object: {e}"))),
        }
    }
}

fn sort_out_object(source: Source, value: Value, schema: &JSONSchemaProps, found: &mut Vec<Found>) {
    let text = |field: &str| value.get(field).and_then(Value::as_str).map(str::to_owned);
    let (api_version, kind) = (text("apiVersion"), text("kind"));
    let group = TrailPolicy::group(&());
    let ours = api_version.as_deref().is_some_and(|a| a.split('/').next() == Some(&*group));
    let invalid = |message: String| Found::Invalid {
        source: source.clone(),
        policy: value.pointer("/metadata/name").and_then(Value::as_str).map(str::to_owned),
        problems: vec![Problem { path: "kind".into(), message }],
    };
    let Some(kind) = kind else {
        if ours {
            found.push(invalid("required".into()));
        } else {
            found.push(Found::Skipped(source, if value.is_object() { "(no kind)".into() } else { "(not an object)".into() }));
        }
        return;
    };
    let expected_kind = TrailPolicy::kind(&());
    let expected_version = TrailPolicy::api_version(&());
    if kind == "List"
        && let Some(items) = value.get("items").and_then(Value::as_array)
    {
        if items.is_empty() {
            found.push(Found::Skipped(source.clone(), kind));
        }
        for (i, item) in items.iter().enumerate() {
            let source = Source { item: Some(i + 1), ..source.clone() };
            sort_out_object(source, item.clone(), schema, found);
        }
        return;
    }
    if kind == expected_kind && (ours || api_version.is_none()) {
        if api_version.as_deref() != Some(&*expected_version) {
            let problems = vec![Problem {
                path: "apiVersion".into(),
                message: match api_version {
                    Some(v) => format!("{v} is not a version this trailwarden reads ({expected_version})"),
                    None => format!("required ({expected_version})"),
                },
            }];
            let policy = value.pointer("/metadata/name").and_then(Value::as_str).map(str::to_owned);
            found.push(Found::Invalid { source, policy, problems });
            return;
        }
        found.push(policy(source, value, schema));
    } else if ours && kind == <crate_set::TrailPolicySet as kube::Resource>::kind(&()) {
        // A set is judged through the policies it generates, once they exist.
        found.push(Found::Skipped(source, kind));
    } else if ours {
        found.push(invalid(format!("{kind} is not a kind of {group} (did you mean {expected_kind}?)")));
    } else if kind != expected_kind && kind.eq_ignore_ascii_case(&expected_kind) {
        found.push(invalid(format!("{kind} (did you mean {expected_kind}?)")));
    } else {
        found.push(Found::Skipped(source, kind));
    }
}

fn policy(source: Source, value: Value, schema: &JSONSchemaProps) -> Found {
    let name = value.pointer("/metadata/name").and_then(Value::as_str).map(str::to_owned);
    let problems = schema::validate(schema, &value);
    if !problems.is_empty() {
        return Found::Invalid { source, policy: name, problems };
    }
    match serde_json::from_value::<TrailPolicy>(value) {
        Ok(mut policy) => {
            // Not stored by an API server: stand in for the uid it would give.
            policy.metadata.uid.get_or_insert_with(|| "trailwarden-check".into());
            Found::Policy(source, Box::new(policy))
        }
        Err(e) => Found::Invalid { source, policy: name, problems: vec![Problem { path: "<document>".into(), message: e.to_string() }] },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_and_the_lines_they_start_on() {
        let text = "# a comment\n---\n# only a comment\n---\napiVersion: v1\nkind: ConfigMap\n---   # trailing\n\nkind: A\n...\n--- kind: B\n";
        let found: Vec<(usize, String)> = chunks(text).into_iter().map(|c| (c.start, c.text.trim().to_owned())).collect();
        assert_eq!(found, [(5, "apiVersion: v1\nkind: ConfigMap".to_owned()), (9, "kind: A".to_owned()), (11, "kind: B".to_owned())]);
        assert_eq!(chunks("a: 1\n").into_iter().map(|c| c.start).collect::<Vec<_>>(), [1]);
        assert!(chunks("\n# nothing\n---\n").is_empty());
    }

    fn sorted(text: &str) -> Vec<String> {
        let mut found = vec![];
        sort_out("f.yaml", text, &schema::trail_policy_schema(), &mut found);
        found
            .into_iter()
            .map(|f| match f {
                Found::Policy(s, p) => format!("policy {} at {s}", p.metadata.name.unwrap()),
                Found::Invalid { source, policy, problems } => {
                    format!("invalid {policy:?} at {source}: {}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))
                }
                Found::Unreadable(s, why) => format!("unreadable at {s}: {why}"),
                Found::Skipped(s, kind) => format!("skipped {kind} at {s}"),
            })
            .collect()
    }

    #[test]
    fn other_kinds_are_skipped_and_ours_checked() {
        let text = "\
apiVersion: v1
kind: ConfigMap
metadata: {name: c}
---
apiVersion: trailwarden.dev/v1alpha1
kind: TrailPolicy
metadata: {name: good}
spec: {region: us-east-1, s3: {bucketName: logs}}
---
apiVersion: trailwarden.dev/v1alpha1
kind: TrailPolicy
metadata: {name: typo}
spec: {region: us-east-1, s3: {bucketName: logs}, logFileValidaton: false}
---
apiVersion: trailwarden.dev/v1beta9
kind: TrailPolicy
metadata: {name: future}
---
apiVersion: v1
kind: List
items:
- {apiVersion: apps/v1, kind: Deployment, metadata: {name: d}}
- {apiVersion: trailwarden.dev/v1alpha1, kind: Trailpolicy, metadata: {name: cased}}
---
a: [unclosed
---
just a string
";
        assert_eq!(
            sorted(text),
            [
                "skipped ConfigMap at f.yaml:1 (document 1)",
                "policy good at f.yaml:5 (document 2)",
                "invalid Some(\"typo\") at f.yaml:10 (document 3): spec.logFileValidaton: unknown field (did you mean \"logFileValidation\"?)",
                "invalid Some(\"future\") at f.yaml:15 (document 4): apiVersion: trailwarden.dev/v1beta9 is not a version this trailwarden reads (trailwarden.dev/v1alpha1)",
                "skipped Deployment at f.yaml:19 (document 5, item 1)",
                "invalid Some(\"cased\") at f.yaml:19 (document 5, item 2): kind: Trailpolicy is not a kind of trailwarden.dev (did you mean TrailPolicy?)",
                "unreadable at f.yaml:25 (document 6): not YAML at line 26, column 1: did not find expected ',' or ']'",
                "skipped (not an object) at f.yaml:27 (document 7)",
            ]
        );
    }
}
