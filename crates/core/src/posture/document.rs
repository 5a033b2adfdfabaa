//! Reading IAM policy documents (bucket and key policies) the way the posture checks need,
//! and writing CloudTrail's statements into them without touching anyone else's.

use serde_json::{Value, json};

/// Statement ids trailwarden owns; repairing a policy replaces exactly these.
pub const BUCKET_ACL_SID: &str = "TrailwardenCloudTrailAclCheck";
pub const BUCKET_WRITE_SID: &str = "TrailwardenCloudTrailWrite";
pub const KEY_ENCRYPT_SID: &str = "TrailwardenCloudTrailEncrypt";
pub const KEY_DESCRIBE_SID: &str = "TrailwardenCloudTrailDescribeKey";
const OUR_SIDS: &[&str] = &[BUCKET_ACL_SID, BUCKET_WRITE_SID, KEY_ENCRYPT_SID, KEY_DESCRIBE_SID];

pub const CLOUDTRAIL: &str = "cloudtrail.amazonaws.com";

/// A parsed policy document.
#[derive(Clone, Debug, PartialEq)]
pub struct Document(Value);

fn strings(v: &Value) -> Vec<&str> {
    match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    }
}

/// IAM-style wildcard match: `*` any run, `?` one character; case-sensitive.
pub fn glob(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

/// One statement, read leniently (IAM accepts a string or a list almost everywhere).
pub struct Statement<'a>(&'a Value);

impl<'a> Statement<'a> {
    pub fn sid(&self) -> Option<&'a str> {
        self.0.get("Sid").and_then(Value::as_str)
    }

    pub fn allows(&self) -> bool {
        self.0.get("Effect").and_then(Value::as_str) == Some("Allow")
    }

    /// Grants `action` (wildcards in the statement honoured; NotAction counts as a grant
    /// of everything it does not name).
    pub fn grants_action(&self, action: &str) -> bool {
        if let Some(actions) = self.0.get("Action") {
            return strings(actions).iter().any(|a| glob(&a.to_ascii_lowercase(), &action.to_ascii_lowercase()));
        }
        if let Some(not) = self.0.get("NotAction") {
            return !strings(not).iter().any(|a| glob(&a.to_ascii_lowercase(), &action.to_ascii_lowercase()));
        }
        false
    }

    /// Covers `resource` (wildcards in the statement honoured).
    pub fn covers(&self, resource: &str) -> bool {
        self.0.get("Resource").is_some_and(|r| strings(r).iter().any(|p| glob(p, resource)))
    }

    pub fn to_service(&self, service: &str) -> bool {
        self.0.get("Principal").and_then(|p| p.get("Service")).is_some_and(|s| strings(s).contains(&service))
    }

    /// Open to anyone: a `*` principal, or a NotPrincipal (everyone but the few named).
    pub fn anyone(&self) -> bool {
        if self.0.get("NotPrincipal").is_some() {
            return true;
        }
        match self.0.get("Principal") {
            Some(Value::String(s)) => s == "*",
            Some(p) => p.get("AWS").is_some_and(|a| strings(a).contains(&"*")),
            None => false,
        }
    }

    pub fn has_not_principal(&self) -> bool {
        self.0.get("NotPrincipal").is_some()
    }

    pub fn has_conditions(&self) -> bool {
        self.0.get("Condition").and_then(Value::as_object).is_some_and(|c| !c.is_empty())
    }

    /// The values a condition key must equal or match, under any of the operators given.
    pub fn condition(&self, operators: &[&str], key: &str) -> Vec<&'a str> {
        let Some(conditions) = self.0.get("Condition").and_then(Value::as_object) else { return vec![] };
        operators
            .iter()
            .filter_map(|op| conditions.get(*op))
            .filter_map(|block| block.get(key))
            .flat_map(strings)
            .collect()
    }

    /// Limited to exactly this source ARN (equality, or a pattern matching only it).
    pub fn limited_to_source(&self, arn: &str) -> bool {
        let values = self.condition(&["StringEquals", "ArnEquals", "StringLike", "ArnLike"], "aws:SourceArn");
        !values.is_empty() && values.iter().all(|v| glob(v, arn))
    }
}

impl Document {
    pub fn parse(text: &str) -> Result<Self, String> {
        let value: Value = serde_json::from_str(text).map_err(|e| format!("the policy is not JSON: {e}"))?;
        if !value.get("Statement").is_some_and(|s| s.is_array() || s.is_object()) {
            return Err("the policy has no Statement".into());
        }
        Ok(Document(value))
    }

    /// A document with no statements yet (for a bucket without a policy).
    pub fn empty() -> Self {
        Document(json!({"Version": "2012-10-17", "Statement": []}))
    }

    pub fn statements(&self) -> Vec<Statement<'_>> {
        match self.0.get("Statement") {
            Some(Value::Array(list)) => list.iter().map(Statement).collect(),
            Some(single) => vec![Statement(single)],
            None => vec![],
        }
    }

    /// Replaces trailwarden's statements with `ours`; every other statement stays as it was.
    pub fn with_our_statements(&self, ours: Vec<Value>) -> Self {
        let mut value = self.0.clone();
        let mut kept: Vec<Value> = match value.get("Statement") {
            Some(Value::Array(list)) => list.clone(),
            Some(single) => vec![single.clone()],
            None => vec![],
        };
        kept.retain(|s| !s.get("Sid").and_then(Value::as_str).is_some_and(|sid| OUR_SIDS.contains(&sid)));
        kept.extend(ours);
        value["Statement"] = Value::Array(kept);
        if value.get("Version").is_none() {
            value["Version"] = json!("2012-10-17");
        }
        Document(value)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0).expect("a JSON value serialises")
    }

    pub fn value(&self) -> &Value {
        &self.0
    }
}

/// Where CloudTrail writes a trail's log files: `[prefix/]AWSLogs/<account>/`.
pub fn log_path(prefix: Option<&str>, account: &str) -> String {
    match prefix.map(|p| p.trim_matches('/')).filter(|p| !p.is_empty()) {
        Some(p) => format!("{p}/AWSLogs/{account}/"),
        None => format!("AWSLogs/{account}/"),
    }
}

fn partition(trail_arn: &str) -> &str {
    trail_arn.split(':').nth(1).unwrap_or("aws")
}

/// The bucket statements CloudTrail needs for one trail.
pub fn bucket_statements(bucket: &str, prefix: Option<&str>, account: &str, trail_arn: &str) -> Vec<Value> {
    let p = partition(trail_arn);
    vec![
        json!({
            "Sid": BUCKET_ACL_SID,
            "Effect": "Allow",
            "Principal": {"Service": CLOUDTRAIL},
            "Action": "s3:GetBucketAcl",
            "Resource": format!("arn:{p}:s3:::{bucket}"),
            "Condition": {"StringEquals": {"aws:SourceArn": trail_arn}},
        }),
        json!({
            "Sid": BUCKET_WRITE_SID,
            "Effect": "Allow",
            "Principal": {"Service": CLOUDTRAIL},
            "Action": "s3:PutObject",
            "Resource": format!("arn:{p}:s3:::{bucket}/{}*", log_path(prefix, account)),
            "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", "aws:SourceArn": trail_arn}},
        }),
    ]
}

/// The key statements CloudTrail needs for one trail.
pub fn key_statements(account: &str, trail_arn: &str) -> Vec<Value> {
    let p = partition(trail_arn);
    vec![
        json!({
            "Sid": KEY_ENCRYPT_SID,
            "Effect": "Allow",
            "Principal": {"Service": CLOUDTRAIL},
            "Action": "kms:GenerateDataKey*",
            "Resource": "*",
            "Condition": {
                "StringEquals": {"aws:SourceArn": trail_arn},
                "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": format!("arn:{p}:cloudtrail:*:{account}:trail/*")},
            },
        }),
        json!({
            "Sid": KEY_DESCRIBE_SID,
            "Effect": "Allow",
            "Principal": {"Service": CLOUDTRAIL},
            "Action": "kms:DescribeKey",
            "Resource": "*",
        }),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_follows_iam_wildcards() {
        assert!(glob("kms:GenerateDataKey*", "kms:GenerateDataKey"));
        assert!(glob("s3:*", "s3:PutObject"));
        assert!(glob("arn:aws:s3:::b/AWSLogs/*", "arn:aws:s3:::b/AWSLogs/1/x"));
        assert!(!glob("arn:aws:s3:::b/other/*", "arn:aws:s3:::b/AWSLogs/1/x"));
        assert!(glob("arn:aws:cloudtrail:?s-east-1:*", "arn:aws:cloudtrail:us-east-1:1:trail/t"));
    }

    #[test]
    fn repair_replaces_only_our_statements_and_keeps_the_rest_verbatim() {
        let original = json!({
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:root"}, "Action": "kms:*", "Resource": "*"},
                {"Sid": KEY_DESCRIBE_SID, "Effect": "Deny", "Principal": "*", "Action": "kms:DescribeKey", "Resource": "*"},
                {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:role/ops"}, "Action": ["kms:Decrypt"], "Resource": "*",
                 "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}},
            ]
        });
        let doc = Document::parse(&original.to_string()).unwrap();
        let repaired = doc.with_our_statements(key_statements("1", "arn:aws:cloudtrail:us-east-1:1:trail/t"));
        let list = repaired.value()["Statement"].as_array().unwrap();
        assert_eq!(list.len(), 4);
        assert_eq!(list[0], original["Statement"][0], "root statement untouched");
        assert_eq!(list[1], original["Statement"][2], "foreign statement untouched, in order");
        assert_eq!(list[3]["Sid"], KEY_DESCRIBE_SID);
        assert_eq!(list[3]["Effect"], "Allow", "our broken statement replaced");
    }

    #[test]
    fn a_single_statement_object_is_read_as_a_list() {
        let doc = Document::parse(r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}}"#).unwrap();
        assert_eq!(doc.statements().len(), 1);
        assert!(doc.statements()[0].anyone());
    }

    #[test]
    fn not_json_is_an_error_not_a_pass() {
        assert!(Document::parse("not json").is_err());
        assert!(Document::parse("{}").is_err());
    }

    #[test]
    fn log_path_handles_prefix_slashes() {
        assert_eq!(log_path(Some("/audit/"), "1"), "audit/AWSLogs/1/");
        assert_eq!(log_path(Some(""), "1"), "AWSLogs/1/");
        assert_eq!(log_path(None, "1"), "AWSLogs/1/");
    }
}
