//! Reading IAM policy documents (bucket and key policies) the way the posture checks need,
//! and writing CloudTrail's statements into them without touching anyone else's.
//!
//! Policies are written by whoever may edit them, so reading one must stay cheap whatever
//! it holds: a document is refused past [`MAX_DOCUMENT_BYTES`] or [`MAX_STATEMENTS`],
//! wildcards are matched in time bounded by the product of the lengths ([`wildcard`]),
//! and a pattern or text past [`MAX_MATCH_BYTES`] is not evaluated at all. Whatever cannot
//! be evaluated is read on the side that cannot make a check pass wrongly (see
//! [`Statement`]).

mod wildcard;

use serde_json::{Value, json};

#[cfg(test)]
pub(crate) use wildcard::glob_steps;
pub use wildcard::{MAX_MATCH_BYTES, Match, glob, wildcard, wildcard_ignore_case};

/// Statement ids trailwarden owns. A statement pinned to one trail (by `aws:SourceArn`)
/// has its id made of one of the first three prefixes and the trail's [`trail_suffix`], so
/// the statements of any number of trails sharing a bucket or a key live side by side;
/// repairing a policy for one trail replaces only that trail's. `kms:DescribeKey` has no
/// trail condition: one statement, [`KEY_DESCRIBE_SID`], identical for every trail.
///
/// The bare prefixes are the ids older versions wrote (one statement per bucket or key,
/// pinned to whichever trail wrote last): a repair removes them, so those policies migrate.
pub const BUCKET_ACL_SID: &str = "TrailwardenCloudTrailAclCheck";
pub const BUCKET_WRITE_SID: &str = "TrailwardenCloudTrailWrite";
pub const KEY_ENCRYPT_SID: &str = "TrailwardenCloudTrailEncrypt";
pub const KEY_DESCRIBE_SID: &str = "TrailwardenCloudTrailDescribeKey";
const LEGACY_SIDS: &[&str] = &[BUCKET_ACL_SID, BUCKET_WRITE_SID, KEY_ENCRYPT_SID, KEY_DESCRIBE_SID];

/// The per-trail part of a statement id: 16 hex digits of the 64-bit FNV-1a hash of the
/// trail's ARN. Stable across versions and builds (it is written into AWS and read back),
/// and made only of ASCII alphanumerics, as IAM wants of a Sid.
pub fn trail_suffix(trail_arn: &str) -> String {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let hash = trail_arn.bytes().fold(OFFSET, |h, b| (h ^ u64::from(b)).wrapping_mul(PRIME));
    format!("{hash:016x}")
}

/// The id of one of a trail's statements: `prefix` (one of the constants above) and the
/// trail's suffix.
pub fn trail_sid(prefix: &str, trail_arn: &str) -> String {
    format!("{prefix}{}", trail_suffix(trail_arn))
}

pub const CLOUDTRAIL: &str = "cloudtrail.amazonaws.com";

/// The largest policy document read, in bytes. AWS caps a bucket policy at 20 KB and a
/// key policy at 32 KB; a larger one did not come from AWS as it stands, and is refused
/// (the checks that need it are Unknown, never Pass, and no fix rewrites it).
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;

/// The most statements read from one document. The smallest useful statement takes some
/// 65 bytes, so even a 32 KB key policy holds fewer than 500.
pub const MAX_STATEMENTS: usize = 1000;

/// A parsed policy document.
#[derive(Clone, Debug, PartialEq)]
pub struct Document(Value);

/// The string values of an element that IAM accepts as a string or a list of strings.
/// `None` when the element has any other shape (a number, an object, a list holding a
/// non-string): it cannot be evaluated, and each caller reads that on its safe side.
fn strings(v: &Value) -> Option<Vec<&str>> {
    match v {
        Value::String(s) => Some(vec![s.as_str()]),
        Value::Array(a) => a.iter().map(Value::as_str).collect(),
        _ => None,
    }
}

/// Whether any of `patterns` matches `target`: `Yes` if one surely does, else `TooLong`
/// if one could not be evaluated, else `No`.
fn any_match(patterns: &Value, target: &str, matcher: fn(&str, &str) -> Match) -> Match {
    let Some(patterns) = strings(patterns) else { return Match::TooLong };
    let mut verdict = Match::No;
    for p in patterns {
        match matcher(p, target) {
            Match::Yes => return Match::Yes,
            Match::TooLong => verdict = Match::TooLong,
            Match::No => {}
        }
    }
    verdict
}

/// An IP address or a CIDR no wider than /8 (IPv4) or /32 (IPv6).
fn narrow_cidr(value: &str) -> bool {
    let (address, bits) = match value.split_once('/') {
        Some((a, b)) => match b.parse::<u8>() {
            Ok(bits) => (a, Some(bits)),
            Err(_) => return false,
        },
        None => (value, None),
    };
    match address.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => bits.is_none_or(|b| (8..=32).contains(&b)),
        Ok(std::net::IpAddr::V6(_)) => bits.is_none_or(|b| (32..=128).contains(&b)),
        Err(_) => false,
    }
}

/// One statement, read leniently (IAM accepts a string or a list almost everywhere).
///
/// Each question a check asks has a safe side, and an element that cannot be evaluated
/// (an odd shape, or a wildcard pattern longer than [`MAX_MATCH_BYTES`]) is read on it:
/// - may it open the bucket to anyone? ([`Statement::anyone`], [`Statement::may_allow`],
///   [`Statement::limits_public_access`]): yes, so a public bucket never looks private;
/// - does it grant CloudTrail what it needs? ([`Statement::allows`],
///   [`Statement::grants_action`], [`Statement::covers`], [`Statement::to_service`],
///   [`Statement::limited_to_source`], a condition value that must match): no, so a
///   missing grant never looks present;
/// - may a Deny take that grant away? ([`Statement::denies`]): yes, for the same reason.
pub struct Statement<'a>(&'a Value);

impl<'a> Statement<'a> {
    pub fn sid(&self) -> Option<&'a str> {
        self.0.get("Sid").and_then(Value::as_str)
    }

    /// Effect Allow, exactly: what a grant needs.
    pub fn allows(&self) -> bool {
        self.0.get("Effect").and_then(Value::as_str) == Some("Allow")
    }

    /// Anything but Effect Deny. IAM accepts no other Effect; a document that has one
    /// anyway is not trusted to deny.
    pub fn may_allow(&self) -> bool {
        self.0.get("Effect").and_then(Value::as_str) != Some("Deny")
    }

    /// A short name for messages: the Sid, or the statement's position.
    pub fn label(&self, index: usize) -> String {
        self.sid().map(str::to_owned).unwrap_or_else(|| index.to_string())
    }

    /// How `Action`/`NotAction` (or `Resource`/`NotResource`) apply to `target`: `Yes`
    /// when the statement surely applies, `No` when it surely does not, `TooLong` when
    /// that cannot be told (an odd shape, a pattern over the cap, neither or both of the
    /// pair present).
    fn applies(&self, positive: &str, negative: &str, target: &str, matcher: fn(&str, &str) -> Match) -> Match {
        match (self.0.get(positive), self.0.get(negative)) {
            (Some(v), None) => any_match(v, target, matcher),
            (None, Some(not)) => match any_match(not, target, matcher) {
                Match::Yes => Match::No,
                Match::No => Match::Yes,
                Match::TooLong => Match::TooLong,
            },
            _ => Match::TooLong,
        }
    }

    /// Surely grants `action` (wildcards honoured, case-insensitively as IAM does; a
    /// NotAction grants everything it surely does not name).
    pub fn grants_action(&self, action: &str) -> bool {
        self.applies("Action", "NotAction", action, wildcard_ignore_case).sure()
    }

    /// Surely covers `resource` (wildcards honoured; NotResource as NotAction).
    pub fn covers(&self, resource: &str) -> bool {
        self.applies("Resource", "NotResource", resource, wildcard).sure()
    }

    /// Names `service` as a service principal.
    pub fn to_service(&self, service: &str) -> bool {
        self.0
            .get("Principal")
            .and_then(|p| p.get("Service"))
            .and_then(strings)
            .is_some_and(|s| s.contains(&service))
    }

    /// Whether the principal cannot be read: IAM accepts only `"*"` as a bare string, and
    /// otherwise a non-empty object of strings or string lists.
    fn principal_unreadable(&self) -> bool {
        match self.0.get("Principal") {
            Some(Value::String(s)) => s != "*",
            Some(Value::Object(map)) => map.is_empty() || map.values().any(|v| strings(v).is_none()),
            Some(_) | None => true,
        }
    }

    fn principal_is_everyone(&self) -> bool {
        match self.0.get("Principal") {
            Some(Value::String(s)) => s == "*",
            Some(p) => p.get("AWS").and_then(strings).is_some_and(|a| a.contains(&"*")),
            None => false,
        }
    }

    /// Open to anyone: a `*` principal, a NotPrincipal (everyone but the few named), or
    /// a principal that cannot be read.
    pub fn anyone(&self) -> bool {
        self.has_not_principal() || self.principal_is_everyone() || self.principal_unreadable()
    }

    /// May apply to the service principal `service`: a `*` principal, the service named,
    /// a NotPrincipal that does not surely name it, or a principal that cannot be read.
    fn may_reach_service(&self, service: &str) -> bool {
        if let Some(not) = self.0.get("NotPrincipal") {
            return !not.get("Service").and_then(strings).is_some_and(|s| s.contains(&service));
        }
        self.principal_is_everyone() || self.principal_unreadable() || self.to_service(service)
    }

    /// A Deny without conditions that may take `action` on `resource` away from the
    /// service principal `service`. A Deny with conditions (the usual one refusing
    /// requests without `aws:SecureTransport`) is taken not to apply to CloudTrail's own
    /// requests: judging conditions is beyond these checks.
    pub fn denies(&self, service: &str, action: &str, resource: &str) -> bool {
        !self.may_allow()
            && !self.has_conditions()
            && self.may_reach_service(service)
            && self.applies("Action", "NotAction", action, wildcard_ignore_case).may()
            && self.applies("Resource", "NotResource", resource, wildcard).may()
    }

    pub fn has_not_principal(&self) -> bool {
        self.0.get("NotPrincipal").is_some()
    }

    /// Has conditions: a non-empty Condition object. (A Condition of any other shape is not
    /// one IAM accepts and counts as none, the safe reading for a public grant.)
    pub fn has_conditions(&self) -> bool {
        self.0.get("Condition").and_then(Value::as_object).is_some_and(|c| !c.is_empty())
    }

    /// Whether the conditions keep a grant to `*` from being public, as S3 defines it ("The
    /// meaning of public"): some condition pins a fixed value (no wildcard) of
    /// `aws:SourceArn`, `aws:SourceVpc`, `aws:SourceVpce`, `aws:SourceOwner`,
    /// `aws:SourceAccount`, `aws:userid` or `s3:x-amz-server-side-encryption-aws-kms-key-id`
    /// under a positive operator, or limits `aws:SourceIp` to CIDRs no wider than /8 (IPv4)
    /// or /32 (IPv6). Anything else (`aws:SecureTransport`, a negated or `IfExists`
    /// operator, a wildcard, an odd shape) leaves the grant public.
    pub fn limits_public_access(&self) -> bool {
        const FIXED_KEYS: &[&str] = &[
            "aws:sourcearn",
            "aws:sourcevpc",
            "aws:sourcevpce",
            "aws:sourceowner",
            "aws:sourceaccount",
            "aws:userid",
            "s3:x-amz-server-side-encryption-aws-kms-key-id",
        ];
        const POSITIVE: &[&str] = &["StringEquals", "StringEqualsIgnoreCase", "StringLike", "ArnEquals", "ArnLike"];
        let Some(conditions) = self.0.get("Condition").and_then(Value::as_object) else { return false };
        conditions.iter().any(|(operator, block)| {
            let Some(block) = block.as_object() else { return false };
            block.iter().any(|(key, values)| {
                let Some(values) = strings(values).filter(|v| !v.is_empty()) else { return false };
                let key = key.to_ascii_lowercase();
                if key == "aws:sourceip" {
                    operator == "IpAddress" && values.iter().all(|v| narrow_cidr(v))
                } else {
                    POSITIVE.contains(&operator.as_str())
                        && FIXED_KEYS.contains(&key.as_str())
                        && values.iter().all(|v| !v.is_empty() && !v.contains(['*', '?']))
                }
            })
        })
    }

    /// The values a condition key must equal or match, under any of the operators given.
    /// A value of an odd shape is left out, so it cannot help a grant count.
    pub fn condition(&self, operators: &[&str], key: &str) -> Vec<&'a str> {
        let Some(conditions) = self.0.get("Condition").and_then(Value::as_object) else { return vec![] };
        operators
            .iter()
            .filter_map(|op| conditions.get(*op))
            .filter_map(|block| block.get(key))
            .flat_map(|v| strings(v).unwrap_or_default())
            .collect()
    }

    /// Limited to this source ARN: there is an `aws:SourceArn` condition and each of its
    /// values surely matches the ARN (a value over the cap cannot be shown to).
    pub fn limited_to_source(&self, arn: &str) -> bool {
        let values = self.condition(&["StringEquals", "ArnEquals", "StringLike", "ArnLike"], "aws:SourceArn");
        !values.is_empty() && values.iter().all(|v| wildcard(v, arn).sure())
    }
}

impl Document {
    /// Parses a policy document, refusing one larger than [`MAX_DOCUMENT_BYTES`] or with
    /// more than [`MAX_STATEMENTS`] statements. Nesting deeper than serde_json's recursion
    /// limit (128 levels) is refused by the parser before it could exhaust the stack.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.len() > MAX_DOCUMENT_BYTES {
            return Err(format!(
                "the policy is {} bytes, more than the {MAX_DOCUMENT_BYTES} trailwarden reads (AWS allows 20 KB for a bucket policy, 32 KB for a key policy)",
                text.len()
            ));
        }
        let value: Value = serde_json::from_str(text).map_err(|e| format!("the policy is not JSON: {e}"))?;
        match value.get("Statement") {
            Some(Value::Array(list)) if list.len() > MAX_STATEMENTS => {
                Err(format!("the policy has {} statements, more than the {MAX_STATEMENTS} trailwarden reads", list.len()))
            }
            Some(s) if s.is_array() || s.is_object() => Ok(Document(value)),
            _ => Err("the policy has no Statement".into()),
        }
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

    /// Puts one trail's statements `ours` in: a statement with the Sid of one of `ours` is
    /// replaced, and so is one with a legacy id (see [`BUCKET_ACL_SID`]); every other
    /// statement, other trails' included, stays as it was.
    pub fn with_our_statements(&self, ours: Vec<Value>) -> Self {
        let mut value = self.0.clone();
        let mut kept: Vec<Value> = match value.get("Statement") {
            Some(Value::Array(list)) => list.clone(),
            Some(single) => vec![single.clone()],
            None => vec![],
        };
        let replaced: Vec<&str> = ours.iter().filter_map(|s| s.get("Sid").and_then(Value::as_str)).chain(LEGACY_SIDS.iter().copied()).collect();
        kept.retain(|s| !s.get("Sid").and_then(Value::as_str).is_some_and(|sid| replaced.contains(&sid)));
        kept.extend(ours);
        value["Statement"] = Value::Array(kept);
        if value.get("Version").is_none() {
            value["Version"] = json!("2012-10-17");
        }
        Document(value)
    }

    /// The same document without the statements at `indices` (as [`Document::statements`]
    /// numbers them).
    pub fn without(&self, indices: &[usize]) -> Self {
        let mut value = self.0.clone();
        let kept: Vec<Value> = match value.get("Statement") {
            Some(Value::Array(list)) => {
                list.iter().enumerate().filter(|(i, _)| !indices.contains(i)).map(|(_, s)| s.clone()).collect()
            }
            Some(single) if !indices.contains(&0) => vec![single.clone()],
            _ => vec![],
        };
        value["Statement"] = Value::Array(kept);
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

/// The bucket statements CloudTrail needs for one trail, with that trail's ids: the ACL
/// check, and writes under `[prefix/]AWSLogs/<account>/` (for an organization trail also
/// under `[prefix/]AWSLogs/o-*/`, where it writes the member accounts' logs), each limited
/// by `aws:SourceArn` to the trail.
pub fn bucket_statements(bucket: &str, trail: super::TrailRef<'_>) -> Vec<Value> {
    let p = partition(trail.arn);
    let objects = |path: String| format!("arn:{p}:s3:::{bucket}/{path}*");
    let mut writes = vec![json!(objects(log_path(trail.prefix, trail.account)))];
    if trail.organization {
        writes.push(json!(objects(log_path(trail.prefix, "o-*"))));
    }
    let writes = if writes.len() == 1 { writes.remove(0) } else { Value::Array(writes) };
    vec![
        json!({
            "Sid": trail_sid(BUCKET_ACL_SID, trail.arn),
            "Effect": "Allow",
            "Principal": {"Service": CLOUDTRAIL},
            "Action": "s3:GetBucketAcl",
            "Resource": format!("arn:{p}:s3:::{bucket}"),
            "Condition": {"StringEquals": {"aws:SourceArn": trail.arn}},
        }),
        json!({
            "Sid": trail_sid(BUCKET_WRITE_SID, trail.arn),
            "Effect": "Allow",
            "Principal": {"Service": CLOUDTRAIL},
            "Action": "s3:PutObject",
            "Resource": writes,
            "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", "aws:SourceArn": trail.arn}},
        }),
    ]
}

/// The key statements CloudTrail needs for one trail: encryption, with that trail's id and
/// limited by `aws:SourceArn` to it, and the shared `kms:DescribeKey`.
pub fn key_statements(account: &str, trail_arn: &str) -> Vec<Value> {
    let p = partition(trail_arn);
    vec![
        json!({
            "Sid": trail_sid(KEY_ENCRYPT_SID, trail_arn),
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
mod crafted_policies;
#[cfg(test)]
mod tests;
