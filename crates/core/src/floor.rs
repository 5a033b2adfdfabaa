//! The operator's floor: what no TrailPolicy may ask less of, whoever edits it. A Git
//! commit or anyone with update rights on a policy can otherwise turn logging off, narrow
//! its selectors or send its logs elsewhere, and the controller would carry it out.
//!
//! A policy below the floor is *held* at it, never carried below it: a setting the floor
//! names a value for (logging, multi-region, log-file validation) is raised to it; one it
//! cannot invent (the selectors, the key, the bucket) keeps what the trail has when that
//! meets the floor. A trail that does not exist yet is created at the floor, except that a
//! bucket or key of an account the floor does not allow is never given to a new trail.

use crate::observed::ObservedTrail;
use crate::policy::Desired;
use crate::posture::selectors::management_events;
use crate::trail::Selectors;

/// What the operator requires of every policy (`--floor`, `--floor-bucket-accounts`,
/// `--floor-key-accounts`); the default requires nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Floor {
    pub logging: bool,
    /// Multi-region, with global service events (CloudTrail requires both together).
    pub multi_region: bool,
    /// Every management event, read and write.
    pub management_events: bool,
    pub log_file_validation: bool,
    /// Log files encrypted with a KMS key.
    pub kms: bool,
    /// Accounts the log bucket may belong to; empty: any.
    pub bucket_accounts: Vec<String>,
    /// Accounts the KMS key may belong to; empty: any.
    pub key_accounts: Vec<String>,
}

/// The names `--floor` takes, one per requirement.
pub const REQUIREMENTS: [&str; 5] = ["logging", "multi-region", "management-events", "log-file-validation", "kms"];

/// The policy as the pass may carry it out, and where it was below the floor.
#[derive(Clone, Debug, PartialEq)]
pub struct Held {
    pub desired: Desired,
    /// One line per requirement the policy fell short of, saying what was held instead.
    pub shortfalls: Vec<String>,
    /// A trail that does not exist may not be created: it would deliver to a bucket, or
    /// encrypt with a key, of an account the floor does not allow.
    pub no_new_trail: Option<String>,
}

impl Floor {
    /// Sets the requirement `--floor` names; `false` for a name it does not know.
    pub fn require(&mut self, name: &str) -> bool {
        let slot = match name {
            "logging" => &mut self.logging,
            "multi-region" => &mut self.multi_region,
            "management-events" => &mut self.management_events,
            "log-file-validation" => &mut self.log_file_validation,
            "kms" => &mut self.kms,
            _ => return false,
        };
        *slot = true;
        true
    }

    /// `desired` held at the floor, given the trail as observed (if any) and the account
    /// the pass acts in (a declared bucket or key without an account of its own is there).
    pub fn hold(&self, mut desired: Desired, trail: Option<&ObservedTrail>, acting: &str) -> Held {
        let mut shortfalls = vec![];
        let mut no_new_trail = None;
        let have = trail.map(|t| &t.description.settings);
        if self.logging && !desired.logging {
            desired.logging = true;
            shortfalls.push("logging: false is below the floor (logging); the trail keeps logging".to_owned());
        }
        let settings = &mut desired.settings;
        if self.multi_region && !(settings.multi_region && settings.include_global_service_events) {
            settings.multi_region = true;
            settings.include_global_service_events = true;
            shortfalls.push("a single-region trail is below the floor (multi-region); the trail stays multi-region".to_owned());
        }
        if self.log_file_validation && !settings.log_file_validation {
            settings.log_file_validation = true;
            shortfalls.push("logFileValidation: false is below the floor (log-file-validation); validation stays on".to_owned());
        }
        if self.kms && settings.kms_key.is_none() {
            let kept = have.and_then(|s| s.kms_key.clone());
            let what = match &kept {
                Some(key) => format!("the trail keeps its key {key}"),
                None => "the trail has no key to keep; declare kmsKeyId".to_owned(),
            };
            settings.kms_key = kept;
            shortfalls.push(format!("no kmsKeyId is below the floor (kms); {what}"));
        }
        let bucket_owner = desired.bucket_reach(acting).owner;
        if !allowed(&self.bucket_accounts, &bucket_owner) {
            let why = format!(
                "bucket {} belongs to account {bucket_owner}, which the floor does not allow ({})",
                desired.settings.bucket,
                self.bucket_accounts.join(", ")
            );
            match have {
                Some(have) => {
                    desired.settings.bucket.clone_from(&have.bucket);
                    desired.settings.key_prefix.clone_from(&have.key_prefix);
                    shortfalls.push(format!("{why}; the trail keeps delivering to {}", have.bucket));
                }
                None => {
                    shortfalls.push(why.clone());
                    no_new_trail = Some(why);
                }
            }
        }
        if let Some(key) = desired.settings.kms_key.clone() {
            let key_owner = desired.key_reach(&key, acting).owner;
            if !allowed(&self.key_accounts, &key_owner) {
                let why = format!("key {key} belongs to account {key_owner}, which the floor does not allow ({})", self.key_accounts.join(", "));
                match have {
                    Some(have) => {
                        desired.settings.kms_key.clone_from(&have.kms_key);
                        shortfalls.push(format!("{why}; the trail keeps its key ({})", have.kms_key.as_deref().unwrap_or("none")));
                    }
                    None => {
                        shortfalls.push(why.clone());
                        no_new_trail.get_or_insert(why);
                    }
                }
            }
        }
        if self.management_events && management_events(&desired.selectors).is_err() {
            let kept = trail.map(|t| &t.selectors).filter(|s| management_events(s).is_ok());
            let what = match kept {
                Some(_) => "the trail keeps its selectors",
                None => "the trail records every management event (AWS's default selector)",
            };
            desired.selectors = kept.cloned().unwrap_or_else(Selectors::aws_default);
            shortfalls.push(format!("selectors that do not record every management event are below the floor (management-events); {what}"));
        }
        Held { desired, shortfalls, no_new_trail }
    }
}

fn allowed(accounts: &[String], account: &str) -> bool {
    accounts.is_empty() || accounts.iter().any(|a| a == account)
}

#[cfg(test)]
mod tests;
