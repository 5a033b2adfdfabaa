//! Whether passes are getting done: a pass stuck past every timeout (a runtime starved,
//! a lock never released) must not leave a leader that looks alive. `/healthz` fails when
//! passes are in flight and none has finished for the stall bound; Kubernetes then
//! restarts the pod and a standby takes the lease.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prometheus::{Gauge, IntGauge};

use crate::ops::metrics::Metrics;

pub struct Progress {
    in_flight: AtomicUsize,
    last_finished: Mutex<Instant>,
    stall: Duration,
    in_flight_gauge: IntGauge,
    finished_gauge: Gauge,
}

/// One pass in flight; it counts as finished when dropped (done, failed or abandoned).
pub struct InFlight<'a>(&'a Progress);

impl Progress {
    pub fn new(stall: Duration, metrics: &Metrics) -> Progress {
        Progress {
            in_flight: AtomicUsize::new(0),
            last_finished: Mutex::new(Instant::now()),
            stall,
            in_flight_gauge: metrics.passes_in_flight.clone(),
            finished_gauge: metrics.last_pass_completed.clone(),
        }
    }

    pub fn started(&self) -> InFlight<'_> {
        let mut last = self.last_finished.lock().expect("progress lock");
        let now = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        if now == 1 {
            // Idle until now: the time without a finished pass counts from here.
            *last = Instant::now();
        }
        self.in_flight_gauge.set(now as i64);
        InFlight(self)
    }

    /// How long no pass has finished while some were in flight, when that is longer than
    /// the stall bound.
    pub fn stalled(&self) -> Option<Duration> {
        self.stalled_at(Instant::now())
    }

    fn stalled_at(&self, now: Instant) -> Option<Duration> {
        let last = self.last_finished.lock().expect("progress lock");
        if self.in_flight.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let since = now.saturating_duration_since(*last);
        (since > self.stall).then_some(since)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let progress = self.0;
        let mut last = progress.last_finished.lock().expect("progress lock");
        *last = Instant::now();
        let now = progress.in_flight.fetch_sub(1, Ordering::Relaxed) - 1;
        progress.in_flight_gauge.set(now as i64);
        progress.finished_gauge.set(SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STALL: Duration = Duration::from_secs(60);

    #[test]
    fn stalled_only_while_passes_are_in_flight_and_none_finished_for_the_bound() {
        let metrics = Metrics::new();
        let progress = Progress::new(STALL, &metrics);
        let later = || Instant::now() + STALL + Duration::from_secs(1);
        assert_eq!(progress.stalled_at(later()), None, "nothing in flight: idle, not stalled");
        let stuck = progress.started();
        assert_eq!(progress.stalled_at(Instant::now()), None, "just started");
        assert!(progress.stalled_at(later()).is_some(), "in flight, nothing finished for longer than the bound");
        assert!(metrics.render().contains("trailwarden_passes_in_flight 1"));
        drop(progress.started());
        assert_eq!(progress.stalled_at(Instant::now()), None, "another pass finished");
        assert!(progress.stalled_at(later()).is_some(), "and then nothing for longer than the bound");
        drop(stuck);
        assert_eq!(progress.stalled_at(later()), None);
        assert!(metrics.render().contains("trailwarden_passes_in_flight 0"));
    }
}
