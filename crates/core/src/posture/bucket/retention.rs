//! BKT-LOG-RETENTION: no lifecycle rule deletes the trail's logs before the policy's
//! retention (PCI DSS 10.5.1 asks for a year). The attack it answers is Stratus Red Team's
//! `cloudtrail-lifecycle-rule`: a rule that expires everything after a day, leaving the
//! trail logging and the evidence gone.
//!
//! A rule is read as S3 reads it (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/intro-lifecycle-filters.html>):
//! disabled rules do nothing; a prefix filter (in `Filter`, in `Filter.And`, or the legacy
//! rule-level `Prefix`) applies to the keys that start with it; a rule that also requires
//! a tag applies to none of CloudTrail's files, which carry no tags; an object-size filter
//! is read as applying (some log files may match). Expiration by date, or after fewer
//! days than the retention, of current or of noncurrent versions, is a shortening.

use super::{BucketFacts, BucketPosture, Verdict};

/// What trailwarden reads of one lifecycle rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LifecycleRule {
    pub id: String,
    pub enabled: bool,
    /// The key prefix it is limited to ("" for the whole bucket).
    pub prefix: String,
    /// Whether it applies only to objects with given tags.
    pub requires_tags: bool,
    /// Expiration of current versions after this many days.
    pub expiration_days: Option<u32>,
    /// Expiration of current versions on a date (every object past it goes at once).
    pub expiration_date: Option<String>,
    /// Expiration of noncurrent versions this many days after they become noncurrent.
    pub noncurrent_days: Option<u32>,
}

impl LifecycleRule {
    /// Whether S3 applies the rule to any key under `path`.
    fn applies_under(&self, path: &str) -> bool {
        self.enabled && !self.requires_tags && (path.starts_with(&self.prefix) || self.prefix.starts_with(path))
    }

    /// How it deletes logs sooner than `days`, if it does.
    fn shortens(&self, days: u32) -> Option<String> {
        let mut how = vec![];
        if let Some(d) = self.expiration_days.filter(|d| *d < days) {
            how.push(format!("expires them after {d} days"));
        }
        if let Some(date) = &self.expiration_date {
            how.push(format!("expires them on {date}"));
        }
        if let Some(d) = self.noncurrent_days.filter(|d| *d < days) {
            how.push(format!("expires their noncurrent versions after {d} days"));
        }
        (!how.is_empty()).then(|| format!("lifecycle rule {:?} {}", self.id, how.join(" and ")))
    }
}

/// Where every log and digest file of the trail lies: `[prefix/]AWSLogs/` (an account's
/// and an organization's folders alike).
pub fn logs_path(prefix: Option<&str>) -> String {
    match prefix.map(|p| p.trim_matches('/')).filter(|p| !p.is_empty()) {
        Some(p) => format!("{p}/AWSLogs/"),
        None => "AWSLogs/".to_owned(),
    }
}

/// The rules that delete the trail's logs before the retention, with how.
pub fn offending<'a>(rules: &'a [LifecycleRule], prefix: Option<&str>, days: u32) -> Vec<(&'a LifecycleRule, String)> {
    let path = logs_path(prefix);
    rules.iter().filter(|r| r.applies_under(&path)).filter_map(|r| r.shortens(days).map(|how| (r, how))).collect()
}

pub fn retention(facts: &BucketFacts, prefix: Option<&str>, posture: &BucketPosture) -> Result<Verdict, String> {
    let rules = facts.lifecycle.as_ref().map_err(Clone::clone)?;
    let days = posture.retention_days;
    let found = offending(rules, prefix, days);
    Ok(if found.is_empty() {
        Ok(format!("no lifecycle rule deletes the logs in {}/{} before {days} days", facts.name, logs_path(prefix)))
    } else {
        Err(found.into_iter().map(|(_, how)| how).collect::<Vec<_>>().join("; "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(id: &str, prefix: &str, days: Option<u32>) -> LifecycleRule {
        LifecycleRule {
            id: id.into(),
            enabled: true,
            prefix: prefix.into(),
            requires_tags: false,
            expiration_days: days,
            expiration_date: None,
            noncurrent_days: None,
        }
    }

    fn ids(rules: &[LifecycleRule], prefix: Option<&str>) -> Vec<String> {
        offending(rules, prefix, 365).into_iter().map(|(r, _)| r.id.clone()).collect()
    }

    #[test]
    fn the_stratus_rule_a_day_over_the_whole_bucket_offends() {
        assert_eq!(ids(&[rule("nuke", "", Some(1))], None), ["nuke"]);
        assert_eq!(ids(&[rule("nuke", "", Some(1))], Some("team")), ["nuke"]);
    }

    #[test]
    fn a_rule_is_read_as_s3_reads_it() {
        let rules = [
            rule("long", "", Some(400)),
            rule("elsewhere", "tmp/", Some(1)),
            rule("narrower", "AWSLogs/111122223333/CloudTrail/", Some(30)),
            LifecycleRule { enabled: false, ..rule("disabled", "", Some(1)) },
            LifecycleRule { requires_tags: true, ..rule("tagged", "", Some(1)) },
            LifecycleRule { expiration_date: Some("2027-01-01T00:00:00Z".into()), ..rule("dated", "AWS", None) },
            LifecycleRule { noncurrent_days: Some(7), ..rule("noncurrent", "AWSLogs/", None) },
        ];
        assert_eq!(ids(&rules, None), ["narrower", "dated", "noncurrent"]);
        // Under a trail prefix, rules for the bucket root's AWSLogs/ no longer apply.
        assert_eq!(ids(&rules, Some("team")), Vec::<String>::new());
        assert_eq!(ids(&[rule("team", "team/", Some(90))], Some("team/")), ["team"]);
        assert_eq!(ids(&[rule("year", "", Some(365))], None), Vec::<String>::new());
    }
}
