//! Posture: judge a trail, its log bucket and its KMS key against CIS / AWS FSBP / PCI
//! controls, and say what `manage: true` may correct. Pure: facts, the policy (which says
//! which checks are required) and the clock in; findings and fixes out. A fact that could
//! not be read makes its checks Unknown, never Pass.
//!
//! Each subject owns its checks end to end: [`bucket`] holds the bucket's facts, its
//! check ids, checks and fixes; [`key`] the same for the KMS key; [`trail`] the trail's
//! checks, with [`selectors`] judging what its event selectors let through (a trail can
//! log and still be blind). [`document`] reads bucket and key policies, bounded in size
//! and time whatever their authors put in them. A new check with a new fact and fix is a change to one of those files and to
//! the AWS adapter that reads the fact and carries out the fix.

pub mod bucket;
pub mod document;
pub mod key;
pub mod selectors;
pub mod trail;

use serde::Serialize;

use crate::policy::Desired;

/// A check's identity: its stable id (as status, metrics and `trailwarden check` show
/// it) and the controls it evidences.
pub trait CheckId: Copy + Into<&'static str> {
    fn controls(self) -> &'static [&'static str];
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum CheckStatus {
    Pass,
    Fail,
    Unknown,
}

/// The verdict of one posture check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    pub id: &'static str,
    pub status: CheckStatus,
    pub controls: &'static [&'static str],
    pub message: String,
    /// Whether the policy asks for this check to pass (a failing required check makes
    /// the policy not Compliant; the others are reported for information).
    pub required: bool,
}

/// Why a fact only the resource owner's account may read was not read: the pass acts
/// from another account (`service`: S3 or KMS) and has no role in the owner's.
pub fn owner_only(service: &str, owner: &str) -> String {
    format!(
        "{service} answers this only to the owner's account {owner}, and trailwarden acts from another: \
         set spec.logArchive.roleArn to a role in {owner} to have it judged"
    )
}

/// The outcome of a check whose facts were read: the pass or the fail message.
pub type Verdict = Result<String, String>;

fn check(id: impl CheckId, required: bool, verdict: Verdict) -> Check {
    let (status, message) = match verdict {
        Ok(m) => (CheckStatus::Pass, m),
        Err(m) => (CheckStatus::Fail, m),
    };
    Check { id: id.into(), status, controls: id.controls(), message, required }
}

/// A check on a fact that may not have been readable: `Err` makes it Unknown.
pub fn check_known<E: std::fmt::Display>(id: impl CheckId, required: bool, verdict: Result<Verdict, E>) -> Check {
    match verdict {
        Ok(v) => check(id, required, v),
        Err(why) => Check {
            id: id.into(),
            status: CheckStatus::Unknown,
            controls: id.controls(),
            message: format!("could not be evaluated: {why}"),
            required,
        },
    }
}

fn verdict(ok: bool, pass: &str, fail: &str) -> Verdict {
    if ok { Ok(pass.into()) } else { Err(fail.into()) }
}

/// The Compliant condition: False when a required check fails, True when all pass.
pub fn verdict_of(checks: &[Check]) -> (Option<bool>, String) {
    let failing: Vec<&str> = checks.iter().filter(|c| c.required && c.status == CheckStatus::Fail).map(|c| c.id).collect();
    let unknown = checks.iter().any(|c| c.required && c.status == CheckStatus::Unknown);
    if !failing.is_empty() {
        (Some(false), format!("required checks failing: {}", failing.join(", ")))
    } else if unknown {
        (None, "some required checks could not be evaluated".into())
    } else {
        let required = checks.iter().filter(|c| c.required).count();
        (Some(true), format!("all {required} required checks pass"))
    }
}

/// A posture correction (only with `posture.*.manage`, never in Audit mode).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fix {
    Bucket(bucket::BucketFix),
    Key(key::KeyFix),
}

impl Fix {
    /// The AWS operation that carries it out.
    pub fn name(&self) -> &'static str {
        match self {
            Fix::Bucket(f) => f.name(),
            Fix::Key(f) => f.name(),
        }
    }
}

/// The log bucket's and the key's facts, as read in one pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostureFacts {
    /// The bucket's facts, or why the bucket could not be read at all.
    pub bucket: Result<bucket::BucketFacts, String>,
    /// The key's facts when the policy declares a key: or why it could not be described.
    pub key: Option<Result<key::KeyFacts, String>>,
    /// S3 answered that the bucket does not exist: a fact, not a failure to read one.
    pub bucket_missing: bool,
}

/// What the bucket and key checks need to know about the trail.
#[derive(Clone, Copy, Debug)]
pub struct TrailRef<'a> {
    pub arn: &'a str,
    pub account: &'a str,
    pub prefix: Option<&'a str>,
    pub organization: bool,
    /// The organization's id (o-...), when known: an organization trail's logs go under
    /// `AWSLogs/<id>/`, and a bucket policy naming that id grants them.
    pub organization_id: Option<&'a str>,
}

impl<'a> TrailRef<'a> {
    pub fn new(desired: &'a Desired, arn: &'a str, account: &'a str) -> Self {
        TrailRef {
            arn,
            account,
            prefix: desired.settings.key_prefix.as_deref(),
            organization: desired.settings.organization,
            organization_id: None,
        }
    }

    /// The same trail, in the organization `id` (when known).
    pub fn in_organization(self, id: Option<&'a str>) -> Self {
        TrailRef { organization_id: id, ..self }
    }
}

impl PostureFacts {
    /// Bucket fixes, then key fixes, that `manage` allows for failing checks on facts we could read.
    pub fn fixes(&self, desired: &Desired, trail: TrailRef<'_>) -> (Vec<bucket::BucketFix>, Vec<key::KeyFix>) {
        let bucket = match &self.bucket {
            Ok(bucket) => bucket::fixes(bucket, trail, &desired.posture.bucket),
            Err(_) => vec![],
        };
        let key = match &self.key {
            Some(Ok(key)) => key::fixes(key, trail, &desired.posture.kms),
            _ => vec![],
        };
        (bucket, key)
    }

    pub fn checks(&self, desired: &Desired, trail: TrailRef<'_>) -> Vec<Check> {
        let mut checks = vec![];
        let bucket_region = match &self.bucket {
            Ok(bucket) => {
                checks.extend(bucket::checks(bucket, trail, &desired.posture.bucket));
                Some(bucket.region.as_str())
            }
            // Deleted: CloudTrail delivers nothing (and whoever takes the name next would
            // receive the logs); trailwarden never recreates a bucket.
            Err(why) if self.bucket_missing => {
                let name = &desired.settings.bucket;
                checks.push(check(
                    bucket::BucketCheck::Exists,
                    true,
                    Err(format!("the log bucket {name} does not exist: CloudTrail delivers nothing ({why})")),
                ));
                None
            }
            Err(why) => {
                checks.push(check_known::<&str>(bucket::BucketCheck::Readable, true, Err(why.as_str())));
                None
            }
        };
        match &self.key {
            Some(Ok(key)) => checks.extend(key::checks(key, trail, bucket_region, &desired.posture.kms)),
            Some(Err(why)) => checks.push(check_known::<&str>(key::KeyCheck::Readable, true, Err(why.as_str()))),
            None => {}
        }
        checks
    }
}
