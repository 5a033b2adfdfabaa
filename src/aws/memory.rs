//! [`AwsPort`] over plain data, for fast unit tests of the pass: no network, no sleeps.
//!
//! It keeps what AWS would: trails per account and region, buckets, keys and published
//! messages, and answers as AWS does where the pass depends on it (CreateTrail leaves
//! logging off, StopLogging drops Insights, unknown names fail with AWS's codes). Tests
//! script failures per operation and read back every call in order.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use trailwarden_core::policy::partition;
use trailwarden_core::posture::bucket::{BucketFacts, BucketFix, Known};
use trailwarden_core::posture::key::{KeyFacts, KeyFix};
use trailwarden_core::trail::{Insights, Selectors, Tags, TrailDescription, TrailSettings, TrailStatus};
use trailwarden_core::{ObservedTrail, Scope};

use super::{AwsError, AwsPort, AwsResult, ErrorKind, Fresh, is_write_operation};

/// The account a scope without a role acts in.
pub const OWN_ACCOUNT: &str = "111122223333";

const CLOUDTRAIL: &str = "CloudTrail";
const S3: &str = "S3";
const KMS: &str = "KMS";

/// One SNS message as published.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    pub topic_arn: String,
    pub subject: String,
    pub message: String,
}

/// The in-memory port. Cheap to clone; clones share one state, so a test can hand one
/// to the pass and inspect the other.
#[derive(Clone, Default)]
pub struct MemoryAws {
    state: Arc<Mutex<State>>,
    /// The state as of [`MemoryAws::sharing_reads`]: what a port that shares reads between
    /// passes may still answer with. Reads that are not fresh answer from it.
    shared: Option<Arc<Mutex<State>>>,
    fresh: Fresh,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct TrailKey {
    account: String,
    /// The trail's home region.
    region: String,
    name: String,
}

#[derive(Clone, Copy)]
struct Scripted {
    kind: ErrorKind,
    once: bool,
}

#[derive(Clone, Default)]
struct State {
    trails: BTreeMap<TrailKey, ObservedTrail>,
    buckets: BTreeMap<String, BucketFacts>,
    keys_by_arn: BTreeMap<String, KeyFacts>,
    /// `alias/name` → key ARN.
    aliases: BTreeMap<String, String>,
    published: Vec<Published>,
    /// Policies someone else puts on a bucket (by name) or key (by ARN) just before our
    /// next put of its policy: see [`MemoryAws::rewrite_before_put`].
    interlopers: BTreeMap<String, String>,
    scripted: BTreeMap<&'static str, Scripted>,
    calls: Vec<&'static str>,
    /// The organization every account of this port belongs to, if any.
    organization: Option<trailwarden_core::policy::Organization>,
}

fn account(scope: &Scope) -> &str {
    scope.role_account().unwrap_or(OWN_ACCOUNT)
}

/// The code AWS would send for a scripted failure of this kind.
fn scripted_code(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::NotFound => "TrailNotFoundException",
        ErrorKind::BucketNotFound => "NoSuchBucket",
        ErrorKind::KeyNotFound => "NotFoundException",
        ErrorKind::AccessDenied => "AccessDenied",
        ErrorKind::Throttled => "ThrottlingException",
        ErrorKind::Invalid => "InvalidParameterException",
        ErrorKind::Exists => "TrailAlreadyExistsException",
        ErrorKind::Unavailable => "Unavailable",
        ErrorKind::Conflict => "PolicyChanged",
        ErrorKind::Other => "InternalFailure",
        ErrorKind::Credentials => "ExpiredToken",
        ErrorKind::Quota => "MaximumNumberOfTrailsExceededException",
        ErrorKind::Organization => "CloudTrailAccessNotEnabledException",
        ErrorKind::DeliveryRefused => "InsufficientS3BucketPolicyException",
        ErrorKind::WrongRegion => "PermanentRedirect",
        ErrorKind::NotOwner => "MethodNotAllowed",
    }
}

/// One call in progress: the state, locked for the whole call, and the operation its
/// errors are reported under.
struct Call<'a> {
    state: MutexGuard<'a, State>,
    service: &'static str,
    operation: &'static str,
}

impl Call<'_> {
    fn refuse(&self, kind: ErrorKind, code: &str, message: String) -> AwsError {
        AwsError { service: self.service, operation: self.operation, kind, code: code.into(), message }
    }

    fn trail_key(&self, scope: &Scope, trail: &str) -> AwsResult<TrailKey> {
        let unknown = || self.refuse(ErrorKind::NotFound, "TrailNotFoundException", format!("Unknown trail: {trail}"));
        self.state.trail_key(scope, trail).ok_or_else(unknown)
    }

    fn trail(&self, scope: &Scope, trail: &str) -> AwsResult<&ObservedTrail> {
        let key = self.trail_key(scope, trail)?;
        Ok(&self.state.trails[&key])
    }

    /// A trail to change: AWS takes changes only in the trail's home region.
    fn home_trail_key(&self, scope: &Scope, trail: &str) -> AwsResult<TrailKey> {
        let key = self.trail_key(scope, trail)?;
        if key.region != scope.region {
            let why = format!("{trail} can only be changed in its home region {}", key.region);
            return Err(self.refuse(ErrorKind::Invalid, "InvalidHomeRegionException", why));
        }
        Ok(key)
    }

    fn trail_mut(&mut self, scope: &Scope, trail: &str) -> AwsResult<&mut ObservedTrail> {
        let key = self.home_trail_key(scope, trail)?;
        Ok(self.state.trails.get_mut(&key).expect("trail key was just found"))
    }

    /// Settings as CloudTrail accepts and then reports them: refused when the bucket or
    /// key does not exist, the topic and key named by ARN.
    fn accepted(&self, scope: &Scope, settings: &TrailSettings) -> AwsResult<TrailSettings> {
        if !self.state.buckets.contains_key(&settings.bucket) {
            let why = format!("S3 bucket {} does not exist", settings.bucket);
            return Err(self.refuse(ErrorKind::BucketNotFound, "S3BucketDoesNotExistException", why));
        }
        let mut accepted = settings.clone();
        if let Some(key) = &settings.kms_key {
            let Some(arn) = self.state.key_arn(key) else {
                return Err(self.refuse(ErrorKind::KeyNotFound, "KmsKeyNotFoundException", format!("KMS key {key} not found")));
            };
            accepted.kms_key = Some(arn);
        }
        let (region, account) = (&scope.region, account(scope));
        accepted.sns_topic = settings.sns_topic.as_ref().map(|topic| {
            if topic.starts_with("arn:") {
                topic.clone()
            } else {
                format!("arn:{}:sns:{region}:{account}:{topic}", partition(region))
            }
        });
        Ok(accepted)
    }

    /// One posture fact: its stored value, unless a test scripted its read to fail.
    fn fact<T>(&mut self, operation: &'static str, stored: Known<T>) -> Known<T> {
        self.state.called(self.service, operation).map_err(|e| e.to_string())?;
        stored
    }
}

impl State {
    /// A trail by ARN (in any region of any account) or by name (in the scope's).
    fn trail_key(&self, scope: &Scope, trail: &str) -> Option<TrailKey> {
        if trail.starts_with("arn:") {
            return self.trails.iter().find(|(_, t)| t.arn() == trail).map(|(key, _)| key.clone());
        }
        let key = TrailKey { account: account(scope).into(), region: scope.region.clone(), name: trail.into() };
        self.trails.contains_key(&key).then_some(key)
    }

    /// Records the call, then fails it if a test scripted that.
    fn called(&mut self, service: &'static str, operation: &'static str) -> AwsResult<()> {
        self.calls.push(operation);
        let Some(scripted) = self.scripted.get(operation).copied() else {
            return Ok(());
        };
        if scripted.once {
            self.scripted.remove(operation);
        }
        let code = scripted_code(scripted.kind).into();
        Err(AwsError { service, operation, kind: scripted.kind, code, message: "scripted failure".into() })
    }

    /// The ARN of a key named by ARN, alias (or alias ARN) or bare key id.
    fn key_arn(&self, key: &str) -> Option<String> {
        if self.keys_by_arn.contains_key(key) {
            return Some(key.to_owned());
        }
        if let Some((_, alias)) = key.split_once(":alias/") {
            return self.aliases.get(&format!("alias/{alias}")).cloned();
        }
        if key.starts_with("alias/") {
            return self.aliases.get(key).cloned();
        }
        self.keys_by_arn.keys().find(|arn| arn.rsplit_once(":key/").is_some_and(|(_, id)| id == key)).cloned()
    }
}

impl MemoryAws {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("memory AWS state lock")
    }

    /// This port, with reads that are not fresh answered from the state as it is now
    /// however it changes later, as a port sharing reads between passes might.
    pub fn sharing_reads(&self) -> MemoryAws {
        let snapshot = self.lock().clone();
        MemoryAws { state: self.state.clone(), shared: Some(Arc::new(Mutex::new(snapshot))), fresh: Fresh::Shared }
    }

    pub(super) fn fresh_view(&self, posture: bool) -> Option<MemoryAws> {
        let fresh = if posture { Fresh::All } else { Fresh::Trails };
        (self.shared.is_some() && self.fresh == Fresh::Shared).then(|| MemoryAws { fresh, ..self.clone() })
    }

    /// Starts a call: records it and fails it if scripted.
    fn begin(&self, service: &'static str, operation: &'static str) -> AwsResult<Call<'_>> {
        let source = match &self.shared {
            Some(shared)
                if !is_write_operation(operation)
                    && (self.fresh == Fresh::Shared || (self.fresh == Fresh::Trails && service == S3)) =>
            {
                shared
            }
            _ => &self.state,
        };
        let mut state = source.lock().expect("memory AWS state lock");
        state.called(service, operation)?;
        Ok(Call { state, service, operation })
    }

    /// Starts a policy put: the re-read `read` that precedes it, recorded and made on the
    /// live state (never on shared reads), failing if scripted. Errors are reported under
    /// `put`; the caller records `put` itself once the policy is found unchanged.
    fn begin_put(&self, service: &'static str, read: &'static str, put: &'static str) -> AwsResult<Call<'_>> {
        let mut state = self.lock();
        state.called(service, read)?;
        Ok(Call { state, service, operation: put })
    }

    pub fn with_bucket(self, facts: BucketFacts) -> Self {
        self.lock().buckets.insert(facts.name.clone(), facts);
        self
    }

    /// Every account in `org` (its management account owns the organization's trails).
    pub fn with_organization(self, org: trailwarden_core::policy::Organization) -> Self {
        self.lock().organization = Some(org);
        self
    }

    /// A key, reachable by its ARN, its key id and, when given, its alias (`alias/` optional).
    pub fn with_key(self, alias: Option<&str>, facts: KeyFacts) -> Self {
        let mut state = self.lock();
        if let Some(alias) = alias {
            let alias = if alias.starts_with("alias/") { alias.to_owned() } else { format!("alias/{alias}") };
            state.aliases.insert(alias, facts.arn.clone());
        }
        state.keys_by_arn.insert(facts.arn.clone(), facts);
        drop(state);
        self
    }

    /// Puts a trail in the scope's account with the scope's region as its home, as is.
    pub fn put_trail(&self, scope: &Scope, trail: ObservedTrail) {
        let key = TrailKey { account: account(scope).into(), region: scope.region.clone(), name: trail.description.name.clone() };
        self.lock().trails.insert(key, trail);
    }

    /// A trail by name in the scope's account and region, or by ARN.
    pub fn trail(&self, scope: &Scope, trail: &str) -> Option<ObservedTrail> {
        let state = self.lock();
        state.trail_key(scope, trail).map(|key| state.trails[&key].clone())
    }

    /// The ARN CreateTrail gives a trail of this name in the scope.
    pub fn trail_arn(scope: &Scope, name: &str) -> String {
        let region = &scope.region;
        format!("arn:{}:cloudtrail:{region}:{}:trail/{name}", partition(region), account(scope))
    }

    pub fn bucket(&self, name: &str) -> Option<BucketFacts> {
        self.lock().buckets.get(name).cloned()
    }

    /// A key by ARN, alias or key id.
    pub fn key(&self, key: &str) -> Option<KeyFacts> {
        let state = self.lock();
        state.key_arn(key).and_then(|arn| state.keys_by_arn.get(&arn).cloned())
    }

    pub fn published(&self) -> Vec<Published> {
        self.lock().published.clone()
    }

    /// Every later call of `operation` (its AWS name, e.g. "UpdateTrail") fails with
    /// `kind`, until [`MemoryAws::heal`].
    pub fn fail(&self, operation: &'static str, kind: ErrorKind) {
        self.lock().scripted.insert(operation, Scripted { kind, once: false });
    }

    /// The next call of `operation` fails with `kind`; the ones after succeed.
    pub fn fail_once(&self, operation: &'static str, kind: ErrorKind) {
        self.lock().scripted.insert(operation, Scripted { kind, once: true });
    }

    /// Someone else puts `policy` on the bucket (by name) or key (by ARN) between the
    /// read our next policy put was judged from and that put: the put then finds the
    /// policy changed and is refused, as the SDK adapter's re-read refuses it.
    pub fn rewrite_before_put(&self, bucket_or_key: &str, policy: &str) {
        self.lock().interlopers.insert(bucket_or_key.to_owned(), policy.to_owned());
    }

    pub fn heal(&self, operation: &str) {
        self.lock().scripted.remove(operation);
    }

    /// Every operation called so far, failed ones included, in order.
    pub fn calls(&self) -> Vec<&'static str> {
        self.lock().calls.clone()
    }

    /// The calls that would have changed something in AWS, in order.
    pub fn writes(&self) -> Vec<&'static str> {
        self.calls().into_iter().filter(|op| is_write_operation(op)).collect()
    }

    /// Forgets the calls so far, e.g. between two passes.
    pub fn clear_calls(&self) {
        self.lock().calls.clear();
    }
}

mod port;
#[cfg(test)]
mod tests;
