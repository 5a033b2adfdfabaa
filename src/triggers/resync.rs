//! Source: the periodic look. After each successful pass the policy is requeued for
//! `resyncSeconds` later, plus up to 10% jitter, so many policies created together do
//! not all call AWS in the same second.

use std::time::Duration;

use jiff::Timestamp;

pub fn next_resync(resync_seconds: u32, seed: &str, now: Timestamp) -> Duration {
    let base = Duration::from_secs(u64::from(resync_seconds.max(1)));
    let spread = base.as_millis() as u64 / 10;
    if spread == 0 {
        return base;
    }
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in seed.bytes().chain(now.as_nanosecond().to_le_bytes()) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3);
    }
    base + Duration::from_millis(hash % spread)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_ten_percent() {
        let now = Timestamp::now();
        for seed in ["a", "b", "c", "policy-uid"] {
            let d = next_resync(60, seed, now);
            assert!(d >= Duration::from_secs(60) && d < Duration::from_secs(66), "{d:?}");
        }
    }
}
