//! Recent reads, shared: the trails of an account and region, a trail's tags, a bucket's
//! and a key's facts, each read once for every policy that asks within a few seconds.
//! Concurrent askers wait for the one call in flight instead of making their own.
//!
//! What may be served from here is bounded three ways:
//! - an answer is kept for the window at most (`--aws-shared-reads-seconds`; 0 turns
//!   sharing off), and failures are never kept;
//! - any write of ours to a scope, bucket or key drops what was read of it, and so does
//!   an AWS event naming it ([`RecentReads::forget`]);
//! - the pass writes only from fresh reads: a look through here that finds something to
//!   change looks again past it (`AwsPort::fresh`). A shared fact can delay a heal by
//!   the window, never cause a write.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;
use trailwarden_core::Scope;
use trailwarden_core::events::Subject;
use trailwarden_core::posture::bucket::BucketFacts;
use trailwarden_core::posture::key::KeyFacts;
use trailwarden_core::trail::{Tags, TrailDescription};

use super::AwsResult;

/// How long an answer serves other askers by default. Policies of one account and region
/// are resynced in the same slot (`triggers::resync`), so their passes fall well inside it.
pub const WINDOW: Duration = Duration::from_secs(3);

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

pub struct RecentReads {
    trails: Answers<Scope, Vec<TrailDescription>>,
    tags: Answers<(Scope, String), Tags>,
    buckets: Answers<(Scope, String), BucketFacts>,
    keys: Answers<(Scope, String), KeyFacts>,
}

impl RecentReads {
    /// Reads shared for `window` (zero: not shared at all).
    pub fn new(window: Duration) -> Self {
        RecentReads {
            trails: Answers::new(window),
            tags: Answers::new(window),
            buckets: Answers::new(window),
            keys: Answers::new(window),
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

    pub(super) async fn trails<Fut>(&self, scope: &Scope, fresh: bool, fetch: impl FnOnce() -> Fut) -> AwsResult<Vec<TrailDescription>>
    where
        Fut: Future<Output = AwsResult<Vec<TrailDescription>>>,
    {
        self.trails.get(scope, fresh, fetch).await
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

    pub(super) async fn bucket<Fut>(&self, scope: &Scope, bucket: &str, fresh: bool, fetch: impl FnOnce() -> Fut) -> AwsResult<BucketFacts>
    where
        Fut: Future<Output = AwsResult<BucketFacts>>,
    {
        self.buckets.get(&(scope.clone(), bucket.to_owned()), fresh, fetch).await
    }

    pub(super) async fn key<Fut>(&self, scope: &Scope, key: &str, fresh: bool, fetch: impl FnOnce() -> Fut) -> AwsResult<KeyFacts>
    where
        Fut: Future<Output = AwsResult<KeyFacts>>,
    {
        self.keys.get(&(scope.clone(), key.to_owned()), fresh, fetch).await
    }

    /// After a write of ours to `kept` in `scope`: a trail write drops the scope's trails
    /// and tags; a bucket write every bucket's facts (the call does not name the bucket,
    /// and bucket names are global); a key write the keys of the scope's account.
    pub(super) fn wrote(&self, kept: Kept, scope: &Scope) {
        match kept {
            Kept::Trails => {
                self.trails.forget(|s| s == scope);
                self.tags.forget(|(s, _)| s == scope);
            }
            Kept::Buckets => self.buckets.forget(|_| true),
            Kept::Keys => self.keys.forget(|(s, _)| s.role_arn == scope.role_arn),
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
        let recent = RecentReads::new(WINDOW);
        let ours = scope(Some("arn:aws:iam::111122223333:role/trailwarden"));
        let other = scope(Some("arn:aws:iam::444455556666:role/trailwarden"));
        for s in [&ours, &other] {
            recent.trails(s, false, || async { Ok(vec![]) }).await.unwrap();
            recent.put_tags(s, "arn:trail".into(), Tags::new());
        }
        assert_eq!(recent.kept(), 4);
        recent.wrote(Kept::Trails, &ours);
        assert_eq!(recent.kept(), 2, "only the written scope's trails and tags go");
        recent.forget("444455556666", &Subject::Trail("audit".into()));
        assert_eq!(recent.kept(), 0);
    }
}

#[cfg(test)]
mod unshared {
    use super::*;

    #[tokio::test]
    async fn a_zero_window_shares_nothing() {
        let recent = RecentReads::new(Duration::ZERO);
        let scope = Scope { role_arn: None, external_id: None, region: "us-east-1".into() };
        recent.trails(&scope, false, || async { Ok(vec![]) }).await.unwrap();
        recent.put_tags(&scope, "arn".into(), Tags::new());
        assert_eq!(recent.kept(), 0);
        assert!(!recent.shared());
    }
}
