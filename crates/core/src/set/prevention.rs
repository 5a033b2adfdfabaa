//! The preventive half of a set: a service control policy (SCP) that denies the calls
//! which blind CloudTrail — on the set's trail, its log bucket and its key — to every
//! principal of the covered accounts but trailwarden's member role and the operator's
//! break-glass roles. Pure: what the SCP should say and where it should hang, compared
//! with what Organizations holds, gives the writes.
//!
//! Detection and correction (the trail heals within a second) still leave a second of
//! blindness and an endless tug-of-war with whoever keeps stopping the trail; the SCP
//! ends the tug-of-war: the call is refused before it lands. SCPs never apply to the
//! management account (AWS), so it still needs the reactive half.

use std::collections::BTreeSet;

use serde_json::{Value, json};

/// Organizations' limit on an SCP's document, in characters
/// (https://docs.aws.amazon.com/organizations/latest/userguide/orgs_reference_limits.html).
pub const MAX_CHARACTERS: usize = 5_120;
/// Organizations' limit on a policy's name.
pub const MAX_NAME: usize = 128;
/// The tag that marks an SCP as a set's (its value: the set's name). An SCP without it is
/// never written, whatever its name.
pub const OWNER_TAG: &str = "trailwarden.dev/set";

/// The CloudTrail calls that stop, delete or loosen a trail.
const TRAIL_ACTIONS: &[&str] = &[
    "cloudtrail:StopLogging",
    "cloudtrail:DeleteTrail",
    "cloudtrail:UpdateTrail",
    "cloudtrail:PutEventSelectors",
    "cloudtrail:PutInsightSelectors",
];
/// The S3 calls that expire, expose or remove the logs (IAM's action names: one
/// s3:PutLifecycleConfiguration covers PutBucketLifecycle and DeleteBucketLifecycle).
const BUCKET_ACTIONS: &[&str] = &[
    "s3:PutLifecycleConfiguration",
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
    "s3:PutBucketVersioning",
    "s3:PutEncryptionConfiguration",
    "s3:PutBucketObjectLockConfiguration",
    "s3:DeleteBucket",
];
/// The KMS calls that make the encrypted logs unreadable.
const KEY_ACTIONS: &[&str] = &["kms:DisableKey", "kms:ScheduleKeyDeletion", "kms:PutKeyPolicy", "kms:DisableKeyRotation"];

/// What a set declares its SCP protects, and for whom it makes exceptions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Protected {
    pub partition: String,
    /// The trail's region (a key named by id or alias is looked for there).
    pub region: String,
    pub trail_name: String,
    pub bucket: String,
    /// The template's kmsKeyId: an alias, key id, or key or alias ARN.
    pub kms_key: Option<String>,
    /// The member role's name: trailwarden acts in every account through it.
    pub member_role: String,
    /// Other roles of trailwarden's (the log archive's) and the operator's break-glass
    /// roles, as ARNs (wildcards allowed, as in ArnNotLike).
    pub exempt_roles: Vec<String>,
    /// Accounts the set excludes: the SCP hangs on their OU too, so it exempts them.
    pub excluded_accounts: Vec<String>,
}

/// The SCP's document: compact JSON (its size counts against [`MAX_CHARACTERS`]).
pub fn document(p: &Protected) -> Value {
    let mut exempt: Vec<String> = vec![format!("arn:{}:iam::*:role/{}", p.partition, p.member_role)];
    exempt.extend(p.exempt_roles.iter().cloned());
    exempt.dedup();
    let mut unless = json!({"ArnNotLike": {"aws:PrincipalArn": exempt}});
    if !p.excluded_accounts.is_empty() {
        unless["StringNotEquals"] = json!({"aws:PrincipalAccount": p.excluded_accounts});
    }
    let deny = |sid: &str, actions: &[&str], resource: String, extra: Option<Value>| {
        let mut condition = unless.clone();
        if let Some(Value::Object(extra)) = extra {
            condition.as_object_mut().expect("an object").extend(extra);
        }
        json!({"Sid": sid, "Effect": "Deny", "Action": actions, "Resource": resource, "Condition": condition})
    };
    let mut statements = vec![
        deny("TrailwardenKeepsTheTrail", TRAIL_ACTIONS, format!("arn:{}:cloudtrail:*:*:trail/{}", p.partition, p.trail_name), None),
        deny("TrailwardenKeepsTheBucket", BUCKET_ACTIONS, format!("arn:{}:s3:::{}", p.partition, p.bucket), None),
    ];
    if let Some(key) = &p.kms_key {
        let (resource, alias) = key_resource(&p.partition, &p.region, key);
        let extra = alias.map(|a| json!({"ForAnyValue:StringEquals": {"kms:ResourceAliases": a}}));
        statements.push(deny("TrailwardenKeepsTheKey", KEY_ACTIONS, resource, extra));
    }
    json!({"Version": "2012-10-17", "Statement": statements})
}

/// The resource a key statement names, and the alias it must carry when the template
/// names the key by alias (SCPs match keys by ARN; an alias is a condition on the key).
fn key_resource(partition: &str, region: &str, key: &str) -> (String, Option<String>) {
    if key.starts_with("arn:") {
        match key.split_once(":alias/") {
            Some((prefix, alias)) => (format!("{prefix}:key/*"), Some(format!("alias/{alias}"))),
            None => (key.to_owned(), None),
        }
    } else if key.starts_with("alias/") {
        (format!("arn:{partition}:kms:{region}:*:key/*"), Some(key.to_owned()))
    } else {
        (format!("arn:{partition}:kms:{region}:*:key/{key}"), None)
    }
}

/// The document as Organizations is sent it.
pub fn content(document: &Value) -> String {
    document.to_string()
}

/// The SCP as Organizations holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedScp {
    pub id: String,
    pub content: String,
    /// Carries the owner tag with this set's name.
    pub tagged: bool,
    /// Roots, OUs and accounts it is attached to.
    pub targets: BTreeSet<String>,
}

/// Why the SCP cannot be kept as declared (nothing is written).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unkeepable {
    #[error("an SCP named {name} exists ({id}) and is not this set's (no {OWNER_TAG} tag naming it): left alone; give serviceControlPolicy.name another name")]
    NameTaken { name: String, id: String },
    #[error("the SCP would be {0} characters, over Organizations' {MAX_CHARACTERS}: shorten the break-glass roles or excluded accounts")]
    TooLarge(usize),
    #[error("the SCP's name {0} is over Organizations' {MAX_NAME} characters: set serviceControlPolicy.name")]
    NameTooLong(String),
}

/// The writes that make Organizations hold the declared SCP.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScpPlan {
    /// No SCP of ours yet: create it (tagged) with this content.
    pub create: bool,
    /// Its content differs (or it is to be created): the declared content.
    pub content: Option<String>,
    /// Ours by the id the set recorded, but its owner tag was removed: tag it again.
    pub retag: bool,
    pub attach: Vec<String>,
    pub detach: Vec<String>,
}

impl ScpPlan {
    pub fn in_sync(&self) -> bool {
        *self == ScpPlan::default()
    }

    /// What is out of place, for status and Events: "content", "attachment ou-…", …
    pub fn drift(&self) -> Vec<String> {
        // A missing SCP is all there is to say: its attachments come with it.
        if self.create {
            return vec!["missing".to_owned()];
        }
        let mut drift = vec![];
        if self.content.is_some() {
            drift.push("content".to_owned());
        }
        if self.retag {
            drift.push(format!("{OWNER_TAG} tag"));
        }
        drift.extend(self.attach.iter().map(|t| format!("not attached to {t}")));
        drift.extend(self.detach.iter().map(|t| format!("attached to {t}")));
        drift
    }
}

/// The plan: `declared` content hung on `targets`, against the SCP Organizations holds
/// under the name (`observed`). `recorded`: the id the set last wrote in its status — a
/// policy with that id is ours even if someone stripped its tag.
pub fn plan(name: &str, declared: &Value, targets: &BTreeSet<String>, observed: Option<&ObservedScp>, recorded: Option<&str>) -> Result<ScpPlan, Unkeepable> {
    if name.chars().count() > MAX_NAME {
        return Err(Unkeepable::NameTooLong(name.to_owned()));
    }
    let content = content(declared);
    let size = content.chars().count();
    if size > MAX_CHARACTERS {
        return Err(Unkeepable::TooLarge(size));
    }
    let Some(observed) = observed else {
        return Ok(ScpPlan { create: true, content: Some(content), attach: targets.iter().cloned().collect(), ..ScpPlan::default() });
    };
    let recorded = recorded == Some(observed.id.as_str());
    if !observed.tagged && !recorded {
        return Err(Unkeepable::NameTaken { name: name.to_owned(), id: observed.id.clone() });
    }
    // Compared as JSON, not as text: Organizations may hand back the document reformatted.
    let same = serde_json::from_str::<Value>(&observed.content).is_ok_and(|held| held == *declared);
    Ok(ScpPlan {
        create: false,
        content: (!same).then_some(content),
        retag: !observed.tagged,
        attach: targets.difference(&observed.targets).cloned().collect(),
        detach: observed.targets.difference(targets).cloned().collect(),
    })
}

#[cfg(test)]
mod tests;
