//! Source: the periodic look. After each successful pass the policy is requeued for its
//! group's next slot. A group is the policies of one account and region: they are looked
//! at in the same slot, every `resyncSeconds`, at an offset within the period that the
//! group's name decides. Their passes then share one read of the account's trails (see
//! `aws::recent`), while the groups spread over the period so that a thousand policies do
//! not all call AWS in the same second.

use std::time::Duration;

use jiff::Timestamp;

fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3))
}

/// The time until the group's first slot at least a tenth of the period from `now`: so
/// between 0.1 and 1.1 periods, and exactly one period between the looks of a group that
/// nothing else disturbs.
pub fn next_resync(resync_seconds: u32, group: &str, now: Timestamp) -> Duration {
    let period = u64::from(resync_seconds.max(1)) * 1000;
    let offset = fnv(group) % period;
    let now = now.as_millisecond().max(0) as u64;
    let earliest = now + period / 10;
    let into_cycle = (earliest + period - offset) % period;
    let slot = if into_cycle == 0 { earliest } else { earliest + period - into_cycle };
    Duration::from_millis(slot - now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_looks_in_one_slot_within_a_tenth_of_the_period() {
        let start = Timestamp::from_millisecond(1_790_000_000_123).unwrap();
        for group in ["arn:aws:iam::111122223333:role/trailwarden/us-east-1", "self/eu-west-1"] {
            let slots: Vec<u64> = (0..50)
                .map(|i| {
                    let now = start + jiff::SignedDuration::from_millis(i * 997);
                    let wait = next_resync(60, group, now);
                    assert!(wait >= Duration::from_secs(6) && wait < Duration::from_secs(66), "{wait:?}");
                    (now.as_millisecond() as u64 + wait.as_millis() as u64) % 60_000
                })
                .collect();
            assert!(slots.iter().all(|s| *s == slots[0]), "{group}: every look in the group's slot: {slots:?}");
        }
    }

    #[test]
    fn groups_are_spread_over_the_period() {
        let now = Timestamp::from_millisecond(1_790_000_000_000).unwrap();
        let mut slots: Vec<u128> =
            (0..100).map(|i| next_resync(60, &format!("arn:aws:iam::{i:012}:role/t/us-east-1"), now).as_millis()).collect();
        slots.sort();
        slots.dedup();
        assert!(slots.len() > 90, "100 groups in {} distinct slots", slots.len());
    }

    #[test]
    fn an_undisturbed_group_is_looked_at_once_per_period() {
        let group = "self/us-east-1";
        let first = Timestamp::from_millisecond(1_790_000_000_000).unwrap();
        let at = first + jiff::SignedDuration::from_millis(next_resync(60, group, first).as_millis() as i64);
        let pass = jiff::SignedDuration::from_millis(800);
        assert_eq!(next_resync(60, group, at + pass), Duration::from_secs(60) - Duration::from_millis(800));
    }
}
