//! CloudTrail's control plane allows roughly 10 reads and 1 write per second per API,
//! account and region, shared with every other tool in the account. We pace our own
//! calls so trailwarden is never the one that gets everybody throttled.

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

#[derive(Clone, Copy, Debug)]
pub struct RateLimits {
    pub reads_per_second: f64,
    pub writes_per_second: f64,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits { reads_per_second: 10.0, writes_per_second: 1.0 }
    }
}

/// Spaces calls with the same key at least `1/rate` apart.
#[derive(Debug)]
pub(crate) struct Limiter {
    limits: RateLimits,
    next_slot: Mutex<HashMap<String, Instant>>,
}

impl Limiter {
    pub(crate) fn new(limits: RateLimits) -> Self {
        Limiter { limits, next_slot: Mutex::new(HashMap::new()) }
    }

    /// Waits until a call with this key may go out. `key` names account, region and operation.
    pub(crate) async fn acquire(&self, key: String, write: bool) {
        let rate = if write { self.limits.writes_per_second } else { self.limits.reads_per_second };
        if rate <= 0.0 || !rate.is_finite() {
            return;
        }
        let gap = Duration::from_secs_f64(1.0 / rate);
        let slot = {
            let mut next = self.next_slot.lock().await;
            let now = Instant::now();
            let slot = next.get(&key).copied().filter(|s| *s > now).unwrap_or(now);
            if !next.contains_key(&key) {
                // A key whose slot has passed paces nothing: keep only those still ahead, so
                // accounts no policy uses any more cost nothing.
                next.retain(|_, s| *s > now);
            }
            next.insert(key, slot + gap);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn second_write_with_same_key_waits_one_gap() {
        let limiter = Limiter::new(RateLimits { reads_per_second: 10.0, writes_per_second: 1.0 });
        let start = Instant::now();
        limiter.acquire("a/us-east-1/StartLogging".into(), true).await;
        limiter.acquire("a/us-east-1/StartLogging".into(), true).await;
        assert_eq!(start.elapsed(), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn keys_whose_slot_has_passed_are_forgotten() {
        let limiter = Limiter::new(RateLimits::default());
        limiter.acquire("a/us-east-1/DescribeTrails".into(), false).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        limiter.acquire("b/us-east-1/DescribeTrails".into(), false).await;
        assert_eq!(limiter.next_slot.lock().await.keys().collect::<Vec<_>>(), ["b/us-east-1/DescribeTrails"]);
    }

    #[tokio::test(start_paused = true)]
    async fn different_keys_do_not_wait_for_each_other() {
        let limiter = Limiter::new(RateLimits::default());
        let start = Instant::now();
        limiter.acquire("a/us-east-1/StartLogging".into(), true).await;
        limiter.acquire("a/us-east-1/UpdateTrail".into(), true).await;
        limiter.acquire("b/us-east-1/StartLogging".into(), true).await;
        assert_eq!(start.elapsed(), Duration::ZERO);
    }
}
