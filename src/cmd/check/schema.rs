//! A TrailPolicy document checked against the CRD's structural schema before it is read
//! into the Rust types, so that a typo is an error and never silently the default.
//!
//! The schema is the one `trailwarden crd` prints (`TrailPolicy::crd()`), walked as the
//! apiserver's structural validation walks it: `properties` (any other field is unknown
//! unless `additionalProperties` gives the map's value schema), `required`, `type`, `enum`,
//! `nullable`, `minLength`/`maxLength`, `minItems`/`maxItems`, `minimum`/`maximum`, and
//! `pattern` in the one shape the CRD uses (a single character class repeated). The CEL
//! rules (`x-kubernetes-validations`) and `format` are left to the apiserver.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use serde::Serialize;
use serde_json::Value;

/// One way a document departs from the schema.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Where, as a field path (`spec.s3.bucketName`, `spec.eventSelectors[0].readWriteType`).
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// The CRD's `openAPIV3Schema` of its (only) version.
pub fn trail_policy_schema() -> JSONSchemaProps {
    use kube::CustomResourceExt as _;
    let crd = trailwarden::api::TrailPolicy::crd();
    crd.spec.versions.into_iter().next().and_then(|v| v.schema).and_then(|s| s.open_api_v3_schema).expect("the CRD has a schema")
}

/// Every problem of one TrailPolicy object (`apiVersion`, `kind`, `metadata`, `spec`, …).
pub fn validate(schema: &JSONSchemaProps, document: &Value) -> Vec<Problem> {
    let mut problems = vec![];
    let Value::Object(fields) = document else {
        problems.push(Problem { path: "<document>".into(), message: format!("must be an object, not {}", kind_of(document)) });
        return problems;
    };
    // What every object carries beside its schema; the apiserver checks metadata itself.
    let mut rest = fields.clone();
    for implicit in ["apiVersion", "kind"] {
        rest.remove(implicit);
    }
    match rest.remove("metadata") {
        Some(Value::Object(metadata)) => match metadata.get("name") {
            Some(Value::String(name)) if !name.is_empty() => {}
            Some(other) if !other.is_null() => {
                problems.push(Problem { path: "metadata.name".into(), message: format!("must be a string, not {}", kind_of(other)) })
            }
            _ => problems.push(Problem { path: "metadata.name".into(), message: "required".into() }),
        },
        Some(other) => problems.push(Problem { path: "metadata".into(), message: format!("must be an object, not {}", kind_of(&other)) }),
        None => problems.push(Problem { path: "metadata.name".into(), message: "required".into() }),
    }
    walk(schema, &Value::Object(rest), "", &mut problems);
    problems
}

fn walk(schema: &JSONSchemaProps, value: &Value, path: &str, problems: &mut Vec<Problem>) {
    let mut problem = |message: String| problems.push(Problem { path: display(path), message });
    if value.is_null() {
        // The apiserver prunes a null where the schema does not allow one; `required`
        // (checked by the parent) then finds it missing.
        return;
    }
    if schema.x_kubernetes_int_or_string == Some(true) {
        if !(value.is_string() || is_integer(value)) {
            problem(format!("must be an integer or a string, not {}", kind_of(value)));
        }
        return;
    }
    if let Some(expected) = schema.type_.as_deref() {
        let ok = match expected {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "boolean" => value.is_boolean(),
            "integer" => is_integer(value),
            "number" => value.is_number(),
            _ => true,
        };
        if !ok {
            problem(format!("must be {} {expected}, not {}", article(expected), kind_of(value)));
            return;
        }
    }
    if let Some(allowed) = &schema.enum_
        && !allowed.iter().any(|a| a.0 == *value)
    {
        let list: Vec<String> = allowed.iter().map(|a| a.0.to_string()).collect();
        problem(format!("{value} is not one of {}", list.join(", ")));
    }
    match value {
        Value::String(s) => {
            let length = s.chars().count() as i64;
            if let Some(max) = schema.max_length
                && length > max
            {
                problem(format!("must be at most {max} characters long, not {length}"));
            }
            if let Some(min) = schema.min_length
                && length < min
            {
                problem(format!("must be at least {min} characters long, not {length}"));
            }
            if let Some(pattern) = &schema.pattern
                && let Some(class) = CharClass::parse(pattern)
                && let Some(bad) = s.chars().find(|c| !class.contains(*c))
            {
                problem(format!("{bad:?} is not allowed (pattern {pattern})"));
            }
        }
        Value::Number(n) => {
            if let Some(x) = n.as_f64() {
                if let Some(max) = schema.maximum
                    && (x > max || (x == max && schema.exclusive_maximum == Some(true)))
                {
                    problem(format!("must be at most {max}, not {n}"));
                }
                if let Some(min) = schema.minimum
                    && (x < min || (x == min && schema.exclusive_minimum == Some(true)))
                {
                    problem(format!("must be at least {min}, not {n}"));
                }
            }
        }
        Value::Array(items) => {
            let count = items.len() as i64;
            if let Some(max) = schema.max_items
                && count > max
            {
                problem(format!("must have at most {max} items, not {count}"));
            }
            if let Some(min) = schema.min_items
                && count < min
            {
                problem(format!("must have at least {min} items, not {count}"));
            }
            if let Some(JSONSchemaPropsOrArray::Schema(item)) = &schema.items {
                for (i, v) in items.iter().enumerate() {
                    walk(item, v, &format!("{path}[{i}]"), problems);
                }
            }
        }
        Value::Object(fields) => {
            let count = fields.len() as i64;
            if let Some(max) = schema.max_properties
                && count > max
            {
                problem(format!("must have at most {max} entries, not {count}"));
            }
            for name in schema.required.iter().flatten() {
                if fields.get(name).is_none_or(Value::is_null) {
                    problems.push(Problem { path: join(path, name), message: "required".into() });
                }
            }
            let properties = schema.properties.as_ref();
            for (name, v) in fields {
                let here = join(path, name);
                if let Some(property) = properties.and_then(|p| p.get(name)) {
                    walk(property, v, &here, problems);
                } else if let Some(JSONSchemaPropsOrBool::Schema(entry)) = &schema.additional_properties {
                    walk(entry, v, &here, problems);
                } else if schema.additional_properties == Some(JSONSchemaPropsOrBool::Bool(true))
                    || schema.x_kubernetes_preserve_unknown_fields == Some(true)
                {
                } else {
                    let known: Vec<&str> = properties.map(|p| p.keys().map(String::as_str).collect()).unwrap_or_default();
                    let message = match closest(name, &known) {
                        Some(like) => format!("unknown field (did you mean {like:?}?)"),
                        None if known.is_empty() => "unknown field".to_owned(),
                        None => format!("unknown field (known: {})", known.join(", ")),
                    };
                    problems.push(Problem { path: here, message });
                }
            }
        }
        _ => {}
    }
}

fn is_integer(value: &Value) -> bool {
    value.as_i64().is_some() || value.as_u64().is_some() || value.as_f64().is_some_and(|f| f.fract() == 0.0 && f.is_finite())
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a number",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn article(type_: &str) -> &'static str {
    if type_.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() { name.to_owned() } else { format!("{path}.{name}") }
}

fn display(path: &str) -> String {
    if path.is_empty() { "<document>".into() } else { path.to_owned() }
}

/// The known name a typo most likely meant: within two edits, or differing only in case.
fn closest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    let lower = name.to_ascii_lowercase();
    known
        .iter()
        .map(|k| (if k.to_ascii_lowercase() == lower { 0 } else { edit_distance(&lower, &k.to_ascii_lowercase()) }, *k))
        .filter(|(d, k)| *d <= 2.min(k.len() / 3).max(1) || *d == 0)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Edits from one name to another, a swap of two neighbours counting as one (optimal
/// string alignment).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// `^[…]*$`: the only shape of `pattern` the CRD uses (tag values), checked without a
/// regex engine. Members are characters, ranges `a-z`, escapes `\.` and the Unicode
/// categories `\p{L}` (letters), `\p{N}` (numbers) and `\p{Z}` (separators); any other
/// pattern is left to the apiserver (a unit test keeps the CRD within this shape).
struct CharClass {
    chars: Vec<char>,
    ranges: Vec<(char, char)>,
    letters: bool,
    numbers: bool,
    separators: bool,
}

impl CharClass {
    fn parse(pattern: &str) -> Option<CharClass> {
        let body = pattern.strip_prefix("^[")?.strip_suffix("]*$")?;
        let mut class = CharClass { chars: vec![], ranges: vec![], letters: false, numbers: false, separators: false };
        let mut it = body.chars().peekable();
        let mut members = vec![];
        while let Some(c) = it.next() {
            match c {
                '\\' => match it.next()? {
                    'p' => {
                        let category: String = {
                            (it.next()? == '{').then_some(())?;
                            let mut name = String::new();
                            loop {
                                match it.next()? {
                                    '}' => break name,
                                    ch => name.push(ch),
                                }
                            }
                        };
                        match category.as_str() {
                            "L" => class.letters = true,
                            "N" => class.numbers = true,
                            "Z" => class.separators = true,
                            _ => return None,
                        }
                    }
                    escaped if escaped.is_ascii_punctuation() => members.push(escaped),
                    _ => return None,
                },
                '[' | ']' | '^' => return None,
                '-' if !members.is_empty() && it.peek().is_some_and(|n| *n != '\\') => {
                    let from = members.pop()?;
                    let to = it.next()?;
                    class.ranges.push((from, to));
                }
                other => members.push(other),
            }
        }
        class.chars = members;
        Some(class)
    }

    fn contains(&self, c: char) -> bool {
        self.chars.contains(&c)
            || self.ranges.iter().any(|(a, b)| (*a..=*b).contains(&c))
            || (self.letters && c.is_alphabetic() && !c.is_numeric())
            || (self.numbers && c.is_numeric())
            || (self.separators && c.is_whitespace() && !c.is_control())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn problems(document: Value) -> Vec<String> {
        validate(&trail_policy_schema(), &document).iter().map(ToString::to_string).collect()
    }

    fn policy(spec: Value) -> Value {
        json!({"apiVersion": "trailwarden.dev/v1alpha1", "kind": "TrailPolicy", "metadata": {"name": "audit"}, "spec": spec})
    }

    fn minimal() -> Value {
        json!({"region": "us-east-1", "s3": {"bucketName": "logs"}})
    }

    #[test]
    fn a_valid_policy_has_no_problems() {
        assert_eq!(problems(policy(minimal())), Vec::<String>::new());
        let mut spec = minimal();
        spec["tags"] = json!({"team": "sécurité: audit/1", "cost-center": "42"});
        spec["adoption"] = json!("IfTagged");
        spec["resyncSeconds"] = json!(300);
        spec["account"] = json!({"roleArn": "arn:aws:iam::111122223333:role/x", "externalId": null});
        assert_eq!(problems(policy(spec)), Vec::<String>::new());
    }

    #[test]
    fn a_typo_is_an_unknown_field_with_a_suggestion() {
        let spec = json!({"region": "us-east-1", "s3": {"bucketName": "logs", "keyPrefx": "audit"}, "isMultiRegion": true});
        let found = problems(policy(spec));
        assert!(found.contains(&"spec.s3.keyPrefx: unknown field (did you mean \"keyPrefix\"?)".to_owned()), "{found:?}");
        assert!(found.iter().any(|p| p.starts_with("spec.isMultiRegion: unknown field")), "{found:?}");
        let found = problems(json!({"apiVersion": "trailwarden.dev/v1alpha1", "kind": "TrailPolicy", "metadata": {"name": "a"}, "spce": {}}));
        assert!(found.contains(&"spce: unknown field (did you mean \"spec\"?)".to_owned()), "{found:?}");
        assert!(found.contains(&"spec: required".to_owned()), "{found:?}");
    }

    #[test]
    fn enums_types_required_and_bounds() {
        let mut spec = minimal();
        spec["adoption"] = json!("Sometimes");
        spec["resyncSeconds"] = json!("often");
        spec["s3"] = json!({});
        let found = problems(policy(spec));
        assert!(found.iter().any(|p| p.starts_with("spec.adoption: \"Sometimes\" is not one of \"Never\"")), "{found:?}");
        assert!(found.contains(&"spec.resyncSeconds: must be an integer, not a string".to_owned()), "{found:?}");
        assert!(found.contains(&"spec.s3.bucketName: required".to_owned()), "{found:?}");
        let mut spec = minimal();
        spec["resyncSeconds"] = json!(1);
        spec["tags"] = json!({"team": "a\u{0007}b", "n": 3});
        let found = problems(policy(spec));
        assert!(found.contains(&"spec.resyncSeconds: must be at least 5, not 1".to_owned()), "{found:?}");
        assert!(found.iter().any(|p| p.starts_with("spec.tags.team: '\\u{7}' is not allowed")), "{found:?}");
        assert!(found.contains(&"spec.tags.n: must be a string, not an integer".to_owned()), "{found:?}");
        let found = problems(json!({"kind": "TrailPolicy", "metadata": {}, "spec": minimal()}));
        assert_eq!(found, ["metadata.name: required"]);
    }

    #[test]
    fn every_pattern_of_the_crd_is_one_the_walker_checks() {
        fn patterns(schema: &JSONSchemaProps, out: &mut Vec<String>) {
            out.extend(schema.pattern.clone());
            for p in schema.properties.iter().flat_map(|p| p.values()) {
                patterns(p, out);
            }
            if let Some(JSONSchemaPropsOrBool::Schema(s)) = &schema.additional_properties {
                patterns(s, out);
            }
            if let Some(JSONSchemaPropsOrArray::Schema(s)) = &schema.items {
                patterns(s, out);
            }
            assert!(schema.any_of.is_none() && schema.one_of.is_none() && schema.all_of.is_none(), "the walker has no anyOf/oneOf/allOf");
        }
        let mut found = vec![];
        patterns(&trail_policy_schema(), &mut found);
        assert!(!found.is_empty());
        for p in found {
            assert!(CharClass::parse(&p).is_some(), "pattern {p} is not checked by `trailwarden check`");
        }
    }

    #[test]
    fn closest_names() {
        assert_eq!(closest("bucketname", &["bucketName", "keyPrefix"]), Some("bucketName"));
        assert_eq!(closest("regoin", &["region", "mode"]), Some("region"));
        assert_eq!(closest("zzz", &["region", "mode"]), None);
    }
}
