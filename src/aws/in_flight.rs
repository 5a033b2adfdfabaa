//! Slots for AWS calls in flight. Every call in flight holds a connection, and hyper opens
//! one whenever none is idle: unbounded, the 128 passes of a burst held about 1,000 of them
//! at 1,000 policies, some 15 KiB each in buffers before TLS (heaptrack under
//! `make bench-scale`). A scope (role and region) gets a quarter of the slots at most, as
//! it gets a quarter of the passes (`k8s::turns`): calls that never answer in one account
//! or region hold its share, not everyone's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{AwsError, AwsResult, ErrorKind};

type Shares = Arc<Mutex<HashMap<String, Arc<Semaphore>>>>;

pub(super) struct Slots {
    all: Arc<Semaphore>,
    per_scope: usize,
    /// Each scope's share, while a call of the scope holds or waits for a slot.
    shares: Shares,
    /// The longest a call waits for its slot.
    wait: Duration,
}

/// One call's slot, given back when dropped.
#[derive(Debug)]
pub(super) struct Slot {
    _all: OwnedSemaphorePermit,
    own: Option<OwnedSemaphorePermit>,
    scope: String,
    shares: Shares,
    per_scope: usize,
}

impl Slots {
    /// `total` slots (at least one), a quarter of them (at least one) for one scope.
    pub(super) fn new(total: usize, wait: Duration) -> Self {
        let total = total.max(1);
        Slots { all: Arc::new(Semaphore::new(total)), per_scope: (total / 4).max(1), shares: Arc::default(), wait }
    }

    /// A slot for a call of `operation` in `scope`, waited for no longer than the wait:
    /// when every slot stays taken that long, the calls holding them are stuck, and this
    /// one is reported unavailable rather than queued behind them.
    pub(super) async fn take(&self, scope: &str, service: &'static str, operation: &'static str) -> AwsResult<Slot> {
        let share = {
            let mut shares = self.shares.lock().expect("slots lock");
            shares.entry(scope.to_owned()).or_insert_with(|| Arc::new(Semaphore::new(self.per_scope))).clone()
        };
        let permits = async {
            // The scope's share first: its calls queue there, holding nobody else's slot.
            let own = share.acquire_owned().await.ok()?;
            let all = self.all.clone().acquire_owned().await.ok()?;
            Some((own, all))
        };
        // The share moved into the wait and went with it: only the map and the slot keep
        // it from here, so an idle one can go.
        let taken = tokio::time::timeout(self.wait, permits).await;
        match taken {
            Ok(Some((own, all))) => {
                Ok(Slot { _all: all, own: Some(own), scope: scope.to_owned(), shares: self.shares.clone(), per_scope: self.per_scope })
            }
            // The semaphores are never closed: only the wait can run out.
            Ok(None) | Err(_) => {
                forget_if_idle(&self.shares, scope, self.per_scope);
                Err(AwsError {
                    service,
                    operation,
                    kind: ErrorKind::Unavailable,
                    code: "CallsInFlight".to_owned(),
                    message: format!("no slot for an AWS call freed up in {} s: the calls in flight are not finishing", self.wait.as_secs()),
                })
            }
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        drop(self.own.take());
        forget_if_idle(&self.shares, &self.scope, self.per_scope);
    }
}

/// Nothing is kept for a scope with no call holding or waiting for a slot (only the map
/// holds its share then, whole).
fn forget_if_idle(shares: &Shares, scope: &str, per_scope: usize) {
    let mut shares = shares.lock().expect("slots lock");
    if shares.get(scope).is_some_and(|s| Arc::strong_count(s) == 1 && s.available_permits() == per_scope) {
        shares.remove(scope);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: Duration = Duration::from_secs(30);

    async fn take(slots: &Slots, scope: &str) -> AwsResult<Slot> {
        slots.take(scope, "S3", "GetBucketPolicy").await
    }

    #[tokio::test(start_paused = true)]
    async fn a_scope_gets_a_quarter_and_a_stuck_one_holds_no_more() {
        let slots = Slots::new(8, WAIT);
        // Calls in one scope that never finish: they hold its share, two slots.
        let stuck = [take(&slots, "a").await.unwrap(), take(&slots, "a").await.unwrap()];
        let refused = take(&slots, "a").await.expect_err("a's share is taken");
        assert_eq!((refused.kind, refused.code.as_str(), refused.operation), (ErrorKind::Unavailable, "CallsInFlight", "GetBucketPolicy"));
        // Other scopes still get the other six.
        let mut others = vec![];
        for scope in ["b", "b", "c", "c", "d", "d"] {
            others.push(take(&slots, scope).await.expect("another scope is not held up by a"));
        }
        assert!(take(&slots, "e").await.is_err(), "all eight slots are taken");
        // A slot given back goes to the call waiting for it.
        let waiting = tokio::spawn({
            let slots = Arc::new(slots);
            async move { take(&slots, "e").await.is_ok() }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        drop(others.pop());
        assert!(waiting.await.unwrap());
        drop(stuck);
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_is_kept_for_a_scope_with_no_call() {
        let slots = Slots::new(4, WAIT);
        drop(take(&slots, "a").await.unwrap());
        assert!(slots.shares.lock().unwrap().is_empty());
        // Nor for one whose call gave up waiting for the slots every other scope holds.
        let held: Vec<_> = futures::future::join_all(["b", "c", "d", "e"].map(|s| take(&slots, s))).await;
        assert!(take(&slots, "a").await.is_err());
        assert!(!slots.shares.lock().unwrap().contains_key("a"));
        drop(held);
        assert!(slots.shares.lock().unwrap().is_empty());
    }
}
