//! The log verifier's series: whether each policy's trail's logs are proven intact, how
//! far, and what was found wrong.

use prometheus::{Gauge, GaugeVec, IntCounterVec, IntGaugeVec, Opts, Registry};
use trailwarden_core::integrity::Problem;

#[derive(Clone)]
pub struct IntegrityMetrics {
    intact: IntGaugeVec,
    verified: GaugeVec,
    findings: IntCounterVec,
    walks: IntCounterVec,
    last_round: Gauge,
}

impl IntegrityMetrics {
    pub(super) fn new(r: &Registry) -> Self {
        let gauge_vec = |name: &str, help: &str| {
            let g = GaugeVec::new(Opts::new(name, help), &["policy"]).expect("valid gauge");
            r.register(Box::new(g.clone())).expect("metric registered once");
            g
        };
        let intact = IntGaugeVec::new(
            Opts::new("trailwarden_log_integrity_intact", "1 while every digest and log file of the policy's trail verified so far is intact, 0 once one is not."),
            &["policy"],
        )
        .expect("valid gauge");
        r.register(Box::new(intact.clone())).expect("metric registered once");
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid counter");
            r.register(Box::new(c.clone())).expect("metric registered once");
            c
        };
        let last_round = Gauge::new(
            "trailwarden_log_integrity_last_round_timestamp_seconds",
            "When the log verifier last finished a round over the policies, in seconds since the Unix epoch.",
        )
        .expect("valid gauge");
        r.register(Box::new(last_round.clone())).expect("metric registered once");
        let metrics = IntegrityMetrics {
            intact,
            verified: gauge_vec(
                "trailwarden_log_integrity_verified_timestamp_seconds",
                "The end of the newest digest verified for the policy's trail, in seconds since the Unix epoch.",
            ),
            // By problem only: the policy and the file are in the policy's status and Event,
            // and ten series exist from the start whatever the number of policies.
            findings: counter(
                "trailwarden_log_integrity_findings_total",
                "Digest and log files found not intact, by problem (the policy's status.logIntegrity names them).",
                &["problem"],
            ),
            walks: counter("trailwarden_log_integrity_walks_total", "Walks along a digest chain, by outcome (intact, broken, failed).", &["outcome"]),
            last_round,
        };
        for outcome in ["intact", "broken", "failed"] {
            metrics.walks.with_label_values(&[outcome]);
        }
        for problem in Problem::ALL {
            metrics.findings.with_label_values(&[<&str>::from(problem)]);
        }
        metrics
    }

    pub fn walked(&self, outcome: &'static str) {
        self.walks.with_label_values(&[outcome]).inc();
    }

    pub fn standing(&self, policy: &str, intact: bool, verified_through: Option<jiff::Timestamp>) {
        self.intact.with_label_values(&[policy]).set(i64::from(intact));
        if let Some(t) = verified_through {
            self.verified.with_label_values(&[policy]).set(t.as_second() as f64);
        }
    }

    pub fn found(&self, problem: Problem) {
        self.findings.with_label_values(&[<&str>::from(problem)]).inc();
    }

    pub fn round_finished(&self) {
        self.last_round.set(jiff::Timestamp::now().as_second() as f64);
    }

    /// The series of a policy that is gone or no longer verified.
    pub fn forget(&self, policy: &str) {
        let _ = self.intact.remove_label_values(&[policy]);
        let _ = self.verified.remove_label_values(&[policy]);
    }
}
