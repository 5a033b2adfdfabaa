//! Where CloudTrail puts a trail's digest files, and how their names sort.
//!
//! `[prefix/]AWSLogs/[o-ID/]<account>/CloudTrail-Digest/<region>/<yyyy>/<mm>/<dd>/`
//! `<account>_CloudTrail-Digest_<region>_<trail>_<home region>_<yyyymmddThhmmssZ>.json.gz`
//! (the organization's id only for organization trails). The name ends with the digest's
//! end time, so keys sort by time within a day's folder and folders sort by day: S3's
//! listing order is the chain's order.

use jiff::Timestamp;

/// The digest files of one trail, for one account and one region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DigestLocation {
    pub bucket: String,
    pub prefix: Option<String>,
    pub organization_id: Option<String>,
    pub account: String,
    /// The region whose events the digests cover.
    pub region: String,
    pub trail_name: String,
    pub home_region: String,
}

/// `yyyymmddThhmmssZ`, the time in a digest's name.
const KEY_TIME: &str = "%Y%m%dT%H%M%SZ";
/// `_yyyymmddThhmmssZ.json.gz`: what follows the home region in a digest's name.
const TAIL_LEN: usize = "_20150817T150131Z.json.gz".len();

impl DigestLocation {
    /// `[prefix/]AWSLogs/[o-ID/]`: the accounts' folders are under it.
    pub fn accounts_folder(&self) -> String {
        let mut folder = String::new();
        if let Some(prefix) = self.prefix.as_deref().filter(|p| !p.is_empty()) {
            folder.push_str(prefix);
            folder.push('/');
        }
        folder.push_str("AWSLogs/");
        if let Some(org) = &self.organization_id {
            folder.push_str(org);
            folder.push('/');
        }
        folder
    }

    /// The folder of the account's digests: one folder per region is under it.
    pub fn regions_folder(&self) -> String {
        format!("{}{}/CloudTrail-Digest/", self.accounts_folder(), self.account)
    }

    /// The folder every digest of this trail, account and region is under.
    pub fn folder(&self) -> String {
        format!("{}{}/", self.regions_folder(), self.region)
    }

    /// The same trail's chain for another account and region.
    pub fn of(&self, account: &str, region: &str) -> Self {
        DigestLocation { account: account.to_owned(), region: region.to_owned(), ..self.clone() }
    }

    /// Whether `key` is a digest of this trail (and not of another trail writing to the
    /// same folder, nor a backfill digest, whose name ends otherwise).
    pub fn holds(&self, key: &str) -> bool {
        let Some(rest) = key.strip_prefix(&self.folder()) else { return false };
        // yyyy/mm/dd/
        let mut parts = rest.splitn(4, '/');
        let date_ok = (0..3).all(|_| parts.next().is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())));
        let Some(name) = parts.next() else { return false };
        let stem = format!(
            "{}_CloudTrail-Digest_{}_{}_{}",
            self.account, self.region, self.trail_name, self.home_region
        );
        date_ok && name.len() == stem.len() + TAIL_LEN && name.starts_with(&stem) && key_time(key).is_some()
    }

    /// The key S3 should list after to find the digests that end at or after `from`
    /// (a name a minute earlier, which need not exist).
    pub fn start_after(&self, from: Timestamp) -> String {
        let at = from - jiff::SignedDuration::from_secs(60);
        let day = at.strftime("%Y/%m/%d");
        format!(
            "{}{day}/{}_CloudTrail-Digest_{}_{}_{}_{}.json.gz",
            self.folder(),
            self.account,
            self.region,
            self.trail_name,
            self.home_region,
            at.strftime(KEY_TIME)
        )
    }
}

/// The end time a digest's name carries.
pub fn key_time(key: &str) -> Option<Timestamp> {
    let stamp = key.len().checked_sub(TAIL_LEN).and_then(|at| key.get(at + 1..key.len() - ".json.gz".len()))?;
    jiff::civil::DateTime::strptime(KEY_TIME, stamp).ok()?.to_zoned(jiff::tz::TimeZone::UTC).ok().map(|z| z.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location(prefix: Option<&str>, org: Option<&str>) -> DigestLocation {
        DigestLocation {
            bucket: "logs".into(),
            prefix: prefix.map(Into::into),
            organization_id: org.map(Into::into),
            account: "111122223333".into(),
            region: "us-east-2".into(),
            trail_name: "audit".into(),
            home_region: "us-east-2".into(),
        }
    }

    const KEY: &str = "AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2015/08/17/111122223333_CloudTrail-Digest_us-east-2_audit_us-east-2_20150817T150131Z.json.gz";

    #[test]
    fn a_digest_of_the_trail_is_recognised_with_its_time() {
        let here = location(None, None);
        assert!(here.holds(KEY));
        assert_eq!(key_time(KEY).unwrap().to_string(), "2015-08-17T15:01:31Z");
        assert!(location(Some("team"), None).holds(&format!("team/{KEY}")));
        assert!(!location(Some("team"), None).holds(KEY));
        let org = KEY.replacen("AWSLogs/", "AWSLogs/o-abc123/", 1);
        assert!(location(None, Some("o-abc123")).holds(&org));
    }

    #[test]
    fn another_trail_a_backfill_or_a_stray_object_is_not_the_trails_digest() {
        let here = location(None, None);
        assert!(!here.holds(&KEY.replace("_audit_", "_audit2_")));
        assert!(!here.holds(&KEY.replace(".json.gz", "_backfill.json.gz")));
        assert!(!here.holds(&KEY.replace("/2015/08/17/", "/2015/08/")));
        assert!(!here.holds(&KEY.replace("T150131Z", "T15013xZ")));
    }

    #[test]
    fn an_organization_trails_chains_are_per_account_and_region() {
        let org = location(Some("team"), Some("o-abc123"));
        assert_eq!(org.accounts_folder(), "team/AWSLogs/o-abc123/");
        let member = org.of("444455556666", "eu-west-1");
        assert_eq!(member.folder(), "team/AWSLogs/o-abc123/444455556666/CloudTrail-Digest/eu-west-1/");
        assert_eq!(member.home_region, "us-east-2", "the name carries the home region whatever the chain's");
    }

    #[test]
    fn listing_starts_a_minute_before_the_window() {
        let from: Timestamp = "2015-08-17T15:01:31Z".parse().unwrap();
        let after = location(None, None).start_after(from);
        assert!(after.ends_with("2015/08/17/111122223333_CloudTrail-Digest_us-east-2_audit_us-east-2_20150817T150031Z.json.gz"));
        assert!(after.as_str() < KEY);
    }
}
