//! Recent reads, shared: the trails of an account and region, a trail's tags, a bucket's
//! and a key's facts, each read once for every policy that asks within a few seconds.
//! Concurrent askers wait for the one call in flight instead of making their own.
//!
//! What may be served from here is bounded three ways:
//! - an answer is kept for its window at most, and failures are never kept. The trails and
//!   their tags: `--aws-shared-reads-seconds` (0 turns sharing off). A bucket's and a key's
//!   facts: `--aws-shared-posture-seconds`, longer, since they are only reported from
//!   here and their changes arrive as AWS events;
//! - a write of ours drops what was read of what it wrote (one trail: the account's list
//!   is not served to that trail's asker, the others keep it; a bucket; the account's
//!   keys), and so does an AWS event naming it ([`RecentReads::forget`]);
//! - the pass writes only from fresh reads: a look through here that finds something to
//!   change looks again past it (`AwsPort::fresh`). A shared fact can delay a heal by
//!   the window, never cause a write.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;
use trailwarden_core::{Reach, Scope};
use trailwarden_core::events::Subject;
use trailwarden_core::posture::bucket::BucketFacts;
use trailwarden_core::posture::key::KeyFacts;
use trailwarden_core::trail::{Tags, TrailDescription};

/// The region in the key of a read that is the same from every region (a bucket's facts).
const ANY_REGION: &str = "*";

use super::AwsResult;

/// How long an answer about trails serves other askers by default. Policies of one account
/// and region are resynced in the same slot (`triggers::resync`), so their passes fall well
/// inside it.
pub const WINDOW: Duration = Duration::from_secs(3);

/// How long a bucket's or key's facts serve other askers by default: every policy that
/// logs to one bucket converges on one read of it, and a bucket shared by ten policies
/// resynced each minute is read once in five resyncs. A change by someone else is seen
/// through its AWS event at once, without the event path within this time and a resync.
pub const POSTURE_WINDOW: Duration = Duration::from_secs(300);

/// One answer, being fetched or fetched.
struct Entry<T> {
    since: Instant,
    answer: Arc<OnceCell<AwsResult<T>>>,
}

/// Answers by key. Expired entries are swept whenever a new one is made, so what is kept
/// is bounded by what was asked in the last window.
struct Answers<K, T> {
    window: Duration,
    entries: Mutex<HashMap<K, Entry<T>>>,
}

impl<K: Eq + Hash + Clone, T: Clone> Answers<K, T> {
    fn new(window: Duration) -> Self {
        Answers { window, entries: Mutex::new(HashMap::new()) }
    }

    /// The recent answer for `key`, or the answer `fetch` gives, shared with whoever asks
    /// meanwhile. A `fresh` asker always makes its own call, and its answer replaces
    /// what was kept.
    async fn get<F, Fut>(&self, key: &K, fresh: bool, fetch: F) -> AwsResult<T>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = AwsResult<T>>,
    {
        if self.window.is_zero() {
            return fetch().await;
        }
        let cell = {
            let mut entries = self.entries.lock().expect("recent reads lock");
            let usable = entries.get(key).filter(|e| !fresh && e.since.elapsed() < self.window);
            match usable {
                Some(entry) => entry.answer.clone(),
                None => {
                    entries.retain(|_, e| e.since.elapsed() < self.window);
                    let answer = Arc::new(OnceCell::new());
                    entries.insert(key.clone(), Entry { since: Instant::now(), answer: answer.clone() });
                    answer
                }
            }
        };
        let answer = cell.get_or_init(fetch).await.clone();
        if answer.is_err() {
            // A failure is the asker's alone: the next one tries again.
            let mut entries = self.entries.lock().expect("recent reads lock");
            if entries.get(key).is_some_and(|e| Arc::ptr_eq(&e.answer, &cell)) {
                entries.remove(key);
            }
        }
        answer
    }

    /// When the answer `key` would be served now was asked for.
    fn since(&self, key: &K) -> Option<Instant> {
        let entries = self.entries.lock().expect("recent reads lock");
        entries.get(key).filter(|e| e.since.elapsed() < self.window).map(|e| e.since)
    }

    /// A finished recent answer, if there is one; never calls AWS.
    fn peek(&self, key: &K) -> Option<T> {
        let entries = self.entries.lock().expect("recent reads lock");
        let entry = entries.get(key).filter(|e| e.since.elapsed() < self.window)?;
        entry.answer.get().and_then(|answer| answer.as_ref().ok()).cloned()
    }

    /// Answers filled in by a read that served several keys at once.
    fn put(&self, key: K, value: T) {
        if self.window.is_zero() {
            return;
        }
        let cell = OnceCell::new_with(Some(Ok(value)));
        let mut entries = self.entries.lock().expect("recent reads lock");
        entries.insert(key, Entry { since: Instant::now(), answer: Arc::new(cell) });
    }

    fn forget(&self, mut which: impl FnMut(&K) -> bool) {
        self.entries.lock().expect("recent reads lock").retain(|k, _| !which(k));
    }

    fn len(&self) -> usize {
        self.entries.lock().expect("recent reads lock").len()
    }
}

/// The kinds of answers kept here, as a service's writes touch them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kept {
    Trails,
    Buckets,
    Keys,
}

/// Whether a scope acts in `account`. A scope without a role acts in ours, which is not
/// known here: it is taken to, so an event about our own account is never missed.
fn in_account(scope: &Scope, account: &str) -> bool {
    scope.role_account().is_none_or(|a| a == account)
}

/// A trail's name, whether a call named it by name or by ARN (`…:trail/<name>`).
fn trail_name(trail: &str) -> &str {
    trail.rsplit_once(":trail/").map_or(trail, |(_, name)| name)
}

pub struct RecentReads {
    trails: Answers<Scope, Vec<TrailDescription>>,
    /// When we last wrote each trail, by scope and trail name: a list read before that
    /// is not served to that trail's asker.
    written: Mutex<HashMap<(Scope, String), Instant>>,
    tags: Answers<(Scope, String), Tags>,
    /// By how the bucket is reached, whatever the region asked from: its facts are read in
    /// its own region, and a bucket name is global.
    buckets: Answers<(Reach, String), BucketFacts>,
    keys: Answers<(Scope, String), KeyFacts>,
}

impl RecentReads {
    /// Trails and tags shared for `window`, bucket and key facts for `posture_window`
    /// (zero: not shared at all; the posture window is never shorter than the other).
    pub fn new(window: Duration, posture_window: Duration) -> Self {
        let posture_window = if window.is_zero() { window } else { posture_window.max(window) };
        RecentReads {
            trails: Answers::new(window),
            written: Mutex::default(),
            tags: Answers::new(window),
            buckets: Answers::new(posture_window),
            keys: Answers::new(posture_window),
        }
    }

    /// Whether reads are shared at all.
    pub fn shared(&self) -> bool {
        !self.trails.window.is_zero()
    }

    /// The scope's trails as read lately, without asking AWS.
    pub(super) fn peek_trails(&self, scope: &Scope) -> Option<Vec<TrailDescription>> {
        self.trails.peek(scope)
    }

    /// The scope's trails, for an asker after trail `name`: a list asked for before our
    /// last write to that trail is read again (and replaces the kept one).
    pub(super) async fn trails<Fut>(
        &self,
        scope: &Scope,
        name: &str,
        fresh: bool,
        fetch: impl FnOnce() -> Fut,
    ) -> AwsResult<Vec<TrailDescription>>
    where
        Fut: Future<Output = AwsResult<Vec<TrailDescription>>>,
    {
        let stale = || {
            let written = self.written.lock().expect("recent writes lock");
            let written = written.get(&(scope.clone(), trail_name(name).to_owned()));
            written.is_some_and(|w| self.trails.since(scope).is_some_and(|read| read <= *w))
        };
        self.trails.get(scope, fresh || stale(), fetch).await
    }

    pub(super) async fn tags<Fut>(&self, scope: &Scope, trail: &str, fresh: bool, fetch: impl FnOnce() -> Fut) -> AwsResult<Tags>
    where
        Fut: Future<Output = AwsResult<Tags>>,
    {
        self.tags.get(&(scope.clone(), trail.to_owned()), fresh, fetch).await
    }

    /// Tags read for other trails in the same call.
    pub(super) fn put_tags(&self, scope: &Scope, trail: String, tags: Tags) {
        self.tags.put((scope.clone(), trail), tags);
    }

    pub(super) async fn bucket<Fut>(&self, reach: &Reach, bucket: &str, fresh: bool, fetch: impl FnOnce() -> Fut) -> AwsResult<BucketFacts>
    where
        Fut: Future<Output = AwsResult<BucketFacts>>,
    {
        // The owner and whether the reach acts as it are part of the key: facts read for
        // one claimed owner are never served to a policy that names another.
        self.buckets.get(&(reach.in_region(ANY_REGION), bucket.to_owned()), fresh, fetch).await
    }

    pub(super) async fn key<Fut>(&self, scope: &Scope, key: &str, fresh: bool, fetch: impl FnOnce() -> Fut) -> AwsResult<KeyFacts>
    where
        Fut: Future<Output = AwsResult<KeyFacts>>,
    {
        self.keys.get(&(scope.clone(), key.to_owned()), fresh, fetch).await
    }

    /// After a write of ours to `kept` in `scope`, naming `what` (a trail by name or ARN, a
    /// bucket) or nothing. A trail write makes the scope's list stale for that trail and
    /// drops its tags; other trails' facts stand, as a write to one trail changes no
    /// other. A bucket write drops that bucket's facts (names are global), a key write the
    /// keys of the scope's account (a key is asked for by id, alias or ARN alike). A write
    /// that names nothing drops all of its kind in the scope.
    pub(super) fn wrote(&self, kept: Kept, scope: &Scope, what: Option<&str>) {
        match (kept, what) {
            (Kept::Trails, Some(trail)) => {
                let name = trail_name(trail);
                let now = Instant::now();
                let mut written = self.written.lock().expect("recent writes lock");
                written.retain(|_, at| now.duration_since(*at) < self.trails.window);
                written.insert((scope.clone(), name.to_owned()), now);
                self.tags.forget(|(s, t)| s == scope && trail_name(t) == name);
            }
            (Kept::Trails, None) => {
                self.trails.forget(|s| s == scope);
                self.tags.forget(|(s, _)| s == scope);
            }
            (Kept::Buckets, Some(bucket)) => self.buckets.forget(|(_, b)| b == bucket),
            (Kept::Buckets, None) => self.buckets.forget(|_| true),
            (Kept::Keys, _) => self.keys.forget(|(s, _)| s.role_arn == scope.role_arn),
        }
    }

    /// After an AWS event naming `subject` in `account`: what was read of the account's
    /// trails (a trail is named by name or ARN), of the bucket, or of the account's keys
    /// (named by id, alias or ARN) is read again by the next asker.
    pub fn forget(&self, account: &str, subject: &Subject) {
        match subject {
            Subject::Trail(_) => {
                self.trails.forget(|s| in_account(s, account));
                self.tags.forget(|(s, _)| in_account(s, account));
            }
            Subject::Bucket(bucket) => self.buckets.forget(|(_, b)| b == bucket),
            Subject::Key(_) => self.keys.forget(|(s, _)| in_account(s, account)),
        }
    }

    /// Answers kept now, for tests and diagnostics.
    pub fn kept(&self) -> usize {
        self.trails.len() + self.tags.len() + self.buckets.len() + self.keys.len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::aws::{AwsError, ErrorKind};

    fn scope(role: Option<&str>) -> Scope {
        Scope { role_arn: role.map(str::to_owned), external_id: None, region: "us-east-1".into() }
    }

    /// A read that answers `value` and counts itself in `calls`.
    async fn counted<T>(calls: &AtomicUsize, value: T) -> AwsResult<T> {
        calls.fetch_add(1, Ordering::SeqCst);
        Ok(value)
    }

    async fn ask(answers: &Answers<Scope, u32>, key: &Scope, fresh: bool, calls: &AtomicUsize, fail: bool) -> AwsResult<u32> {
        answers
            .get(key, fresh, || async {
                calls.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
                if fail {
                    Err(AwsError { service: "T", operation: "Read", kind: ErrorKind::Throttled, code: "x".into(), message: "x".into() })
                } else {
                    Ok(7)
                }
            })
            .await
    }

    #[tokio::test]
    async fn concurrent_askers_share_one_call_and_a_fresh_asker_makes_its_own() {
        let answers = Answers::new(WINDOW);
        let calls = AtomicUsize::new(0);
        let key = scope(None);
        let (a, b, c) = tokio::join!(
            ask(&answers, &key, false, &calls, false),
            ask(&answers, &key, false, &calls, false),
            ask(&answers, &key, false, &calls, false)
        );
        assert_eq!((a.unwrap(), b.unwrap(), c.unwrap()), (7, 7, 7));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        ask(&answers, &key, true, &calls, false).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2, "a fresh read is never served a finished answer");
    }

    #[tokio::test]
    async fn failures_are_not_kept() {
        let answers = Answers::new(WINDOW);
        let calls = AtomicUsize::new(0);
        let key = scope(None);
        assert!(ask(&answers, &key, false, &calls, true).await.is_err());
        ask(&answers, &key, false, &calls, false).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn writes_and_events_drop_what_they_touched_and_nothing_else() {
        let recent = RecentReads::new(WINDOW, WINDOW);
        let ours = scope(Some("arn:aws:iam::111122223333:role/trailwarden"));
        let other = scope(Some("arn:aws:iam::444455556666:role/trailwarden"));
        for s in [&ours, &other] {
            recent.trails(s, "audit", false, || async { Ok(vec![]) }).await.unwrap();
            recent.put_tags(s, "arn:aws:cloudtrail:us-east-1:1:trail/audit".into(), Tags::new());
        }
        assert_eq!(recent.kept(), 4);
        recent.wrote(Kept::Trails, &ours, None);
        assert_eq!(recent.kept(), 2, "only the written scope's trails and tags go");
        recent.forget("444455556666", &Subject::Trail("audit".into()));
        assert_eq!(recent.kept(), 0);
    }

    #[tokio::test]
    async fn a_write_to_one_trail_makes_the_list_stale_for_that_trail_alone() {
        let recent = RecentReads::new(WINDOW, WINDOW);
        let ours = scope(Some("arn:aws:iam::111122223333:role/trailwarden"));
        let calls = AtomicUsize::new(0);
        let list = |trail| recent.trails(&ours, trail, false, || counted(&calls, vec![]));
        list("audit").await.unwrap();
        recent.put_tags(&ours, "arn:aws:cloudtrail:us-east-1:111122223333:trail/audit".into(), Tags::new());
        recent.put_tags(&ours, "arn:aws:cloudtrail:us-east-1:111122223333:trail/other".into(), Tags::new());
        recent.wrote(Kept::Trails, &ours, Some("arn:aws:cloudtrail:us-east-1:111122223333:trail/audit"));
        list("other").await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1, "another trail's asker is served the list");
        list("audit").await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2, "the written trail's asker reads it again");
        list("audit").await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2, "and that read, after the write, serves it");
        assert_eq!(recent.kept(), 2, "the written trail's tags went, the other's stayed");
        recent.wrote(Kept::Trails, &ours, Some("created"));
        list("created").await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 3, "a trail created by name: its asker reads the list again");
    }

    #[tokio::test]
    async fn bucket_facts_outlive_the_trail_window_until_that_bucket_is_written() {
        let recent = RecentReads::new(Duration::from_millis(1), Duration::from_secs(60));
        let s = scope(None);
        let reach = Reach::owned(s.clone(), "111122223333".into());
        let facts = trailwarden_core::testing::bucket;
        for b in ["logs", "other"] {
            recent.bucket(&reach, b, false, || async { Ok(facts(b)) }).await.unwrap();
        }
        recent.trails(&s, "audit", false, || async { Ok(vec![]) }).await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let calls = AtomicUsize::new(0);
        let read = |b| recent.bucket(&reach, b, false, || counted(&calls, facts(b)));
        read("logs").await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 0, "past the trail window, the bucket's facts still serve");
        recent.wrote(Kept::Buckets, &s, Some("logs"));
        read("logs").await.unwrap();
        read("other").await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1, "only the written bucket is read again");
    }
}

#[cfg(test)]
mod unshared {
    use super::*;

    #[tokio::test]
    async fn a_zero_window_shares_nothing() {
        let recent = RecentReads::new(Duration::ZERO, POSTURE_WINDOW);
        let scope = Scope { role_arn: None, external_id: None, region: "us-east-1".into() };
        recent.trails(&scope, "audit", false, || async { Ok(vec![]) }).await.unwrap();
        recent.put_tags(&scope, "arn".into(), Tags::new());
        assert_eq!(recent.kept(), 0);
        assert!(!recent.shared());
    }
}
