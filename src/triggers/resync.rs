//! Source: the periodic look. After each successful pass the policy is requeued for its
//! group's next slot. A group is the policies of one account and region: they are looked
//! at in the same slot, every `resyncSeconds`, at an offset within the period that the
//! group's name decides. Their passes then share one read of the account's trails (see
//! `aws::recent`), while the groups spread over the period so that a thousand policies do
//! not all call AWS in the same second.
//!
//! Each cycle's slot moves by up to a tenth of the period either way, by a draw of the
//! group, the cycle and a secret of this process: someone who stops logging just after a
//! look cannot learn when the next one comes. The group's policies draw alike, so they
//! still share their reads.

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::OnceLock;
use std::time::Duration;

use jiff::Timestamp;

fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3))
}

/// This process's secret for the jitter draws.
fn secret() -> u64 {
    static SECRET: OnceLock<u64> = OnceLock::new();
    *SECRET.get_or_init(|| std::collections::hash_map::RandomState::new().hash_one("trailwarden resync"))
}

/// The time until the group's first slot at least a tenth of the period from `now`, moved
/// by the cycle's jitter: between 0 and 1.2 periods, and 0.8 to 1.2 periods between the
/// looks of a group that nothing else disturbs.
pub fn next_resync(resync_seconds: u32, group: &str, now: Timestamp) -> Duration {
    next_resync_with(secret(), resync_seconds, group, now)
}

fn next_resync_with(secret: u64, resync_seconds: u32, group: &str, now: Timestamp) -> Duration {
    let period = u64::from(resync_seconds.max(1)) * 1000;
    let offset = fnv(group) % period;
    let now = now.as_millisecond().max(0) as u64;
    let earliest = now + period / 10;
    let into_cycle = (earliest + period - offset) % period;
    let slot = if into_cycle == 0 { earliest } else { earliest + period - into_cycle };
    let tenth = period / 10;
    // SipHash (keyed by the secret through its input): FNV's low bits repeat for inputs
    // that differ only in their last digits, as successive cycles do.
    let mut hasher = std::hash::DefaultHasher::new();
    (secret, group, slot / period).hash(&mut hasher);
    let draw = hasher.finish() % (2 * tenth + 1);
    // slot - tenth is at least `now`: the slot is a tenth of the period away at least.
    Duration::from_millis(slot - tenth + draw - now)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: u64 = 7;

    fn at(millis: i64) -> Timestamp {
        Timestamp::from_millisecond(1_790_000_000_000 + millis).unwrap()
    }

    #[test]
    fn the_policies_of_a_group_look_together_and_never_later_than_one_and_a_fifth_periods() {
        for group in ["arn:aws:iam::111122223333:role/trailwarden/us-east-1", "self/eu-west-1"] {
            for i in 0..200 {
                let now = at(i * 997);
                let wait = next_resync_with(SECRET, 60, group, now);
                assert!(wait <= Duration::from_secs(72), "{wait:?}");
                // Another policy of the group finishing a little later looks at the same
                // time, or (when the slot fell between the two) a cycle later.
                let other = next_resync_with(SECRET, 60, group, at(i * 997 + 300));
                let (mine, theirs) = (wait.as_millis(), other.as_millis() + 300);
                assert!(mine == theirs || (48_000..=72_000).contains(&(theirs - mine)), "{group} at {i}: {mine} {theirs}");
            }
        }
    }

    #[test]
    fn an_undisturbed_group_looks_every_period_give_or_take_a_tenth_at_unpredictable_times() {
        let group = "self/us-east-1";
        let mut now = at(0);
        let mut gaps = vec![];
        for _ in 0..50 {
            let wait = next_resync_with(SECRET, 60, group, now);
            now += jiff::SignedDuration::from_millis(wait.as_millis() as i64 + 800);
            gaps.push(wait.as_millis() + 800);
        }
        for gap in &gaps[1..] {
            assert!((48_000..=72_000).contains(gap), "{gaps:?}");
        }
        let mut distinct = gaps[1..].to_vec();
        distinct.sort();
        distinct.dedup();
        assert!(distinct.len() > 40, "the gaps vary: {gaps:?}");
        // Another process draws other times.
        let elsewhere: Vec<u128> = (0..10).map(|i| next_resync_with(SECRET + 1, 60, group, at(i * 60_000)).as_millis()).collect();
        let here: Vec<u128> = (0..10).map(|i| next_resync_with(SECRET, 60, group, at(i * 60_000)).as_millis()).collect();
        assert_ne!(elsewhere, here);
    }

    #[test]
    fn groups_are_spread_over_the_period() {
        let now = at(0);
        let mut slots: Vec<u128> =
            (0..100).map(|i| next_resync_with(SECRET, 60, &format!("arn:aws:iam::{i:012}:role/t/us-east-1"), now).as_millis()).collect();
        slots.sort();
        slots.dedup();
        assert!(slots.len() > 90, "100 groups in {} distinct slots", slots.len());
    }
}
