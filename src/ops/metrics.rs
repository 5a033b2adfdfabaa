//! Prometheus metrics. Each group registers itself into one registry that `/metrics`
//! serves; the controller, the reconcile outcome and the AWS port feed them.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

use strum::IntoEnumIterator;

use super::policy_gauges::{Cursor, PolicyGauges, State};
use trailwarden_core::posture::CheckStatus;
use trailwarden_core::report::{ConditionType, Failure, Reason, Report};

const HEAL_BUCKETS: &[f64] = &[0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0];
const LATENCY_BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Every collector trailwarden exports.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub reconcile: ReconcileMetrics,
    pub aws: AwsMetrics,
    pub events: EventMetrics,
    pub policies: IntGauge,
    pub leader: IntGauge,
    /// Passes started and not finished, and when the last one finished: `/healthz` fails
    /// when passes are in flight and none has finished for too long.
    pub passes_in_flight: IntGauge,
    pub last_pass_completed: prometheus::Gauge,
    /// Bytes the allocator has handed out and not had back, set by the binary after each
    /// heap trim: against `process_resident_memory_bytes`, it tells memory in use from
    /// memory the allocator keeps.
    pub heap_allocated: IntGauge,
    /// The log verifier's.
    pub integrity: super::integrity_metrics::IntegrityMetrics,
    /// The TrailPolicySets'.
    pub sets: super::set_metrics::SetMetrics,
}

/// What the reconciler did, per outcome, field, action and policy.
#[derive(Clone)]
pub struct ReconcileMetrics {
    reconciles: IntCounterVec,
    duration: Histogram,
    errors: IntCounterVec,
    drift: IntCounterVec,
    remediations: IntCounterVec,
    stage_failures: IntCounterVec,
    /// Each policy's state and checks.
    gauges: PolicyGauges,
    off_seconds: prometheus::CounterVec,
    weakening: IntCounterVec,
    tampered: IntCounterVec,
    heal: Histogram,
}

/// The `change` labels of `trailwarden_weakening_total`: a pass's (see
/// [`trailwarden_core::report::Weakening`]) and a deletion's.
const WEAKENINGS: [&str; 10] = [
    "logging_stopped",
    "multi_region_off",
    "global_events_off",
    "log_file_validation_off",
    "management_events_narrowed",
    "bucket_changed",
    "key_changed",
    "key_removed",
    "trail_retained",
    "trail_deleted",
];

/// The weakenings a policy's deletion makes.
const DELETIONS: [&str; 2] = ["trail_retained", "trail_deleted"];

/// AWS events read from the events queue.
#[derive(Clone)]
pub struct EventMetrics {
    events: IntCounterVec,
    queue_errors: prometheus::IntCounter,
    age: Histogram,
    reconciled: Histogram,
}

impl EventMetrics {
    /// One event, by source and event name (bounded: see `events::labels`) and outcome
    /// (matched, unmatched, failed_call, own_call, malformed).
    pub fn event(&self, (source, event): (&'static str, &'static str), outcome: &'static str) {
        self.events.with_label_values(&[source, event, outcome]).inc();
    }

    pub fn queue_error(&self) {
        self.queue_errors.inc();
    }

    /// Seconds from the call (its eventTime) to its arrival here.
    pub fn age(&self, seconds: f64) {
        self.age.observe(seconds);
    }

    /// Seconds from the call to the end of the pass its event asked for.
    pub fn reconciled_after(&self, seconds: f64) {
        self.reconciled.observe(seconds);
    }
}

/// Calls to AWS, recorded by the port's interceptor.
#[derive(Clone)]
pub struct AwsMetrics {
    requests: IntCounterVec,
    duration: HistogramVec,
    throttled: IntCounterVec,
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid counter");
    registry.register(Box::new(c.clone())).expect("metric registered once");
    c
}

fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid gauge");
    registry.register(Box::new(g.clone())).expect("metric registered once");
    g
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).expect("valid gauge");
    registry.register(Box::new(g.clone())).expect("metric registered once");
    g
}

fn histogram(registry: &Registry, name: &str, help: &str, buckets: &[f64]) -> Histogram {
    let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec())).expect("valid histogram");
    registry.register(Box::new(h.clone())).expect("metric registered once");
    h
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let r = Registry::new();
        // process_* (CPU seconds, resident memory, open file descriptors, start time).
        #[cfg(target_os = "linux")]
        r.register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))
            .expect("the process collector registers once");
        let reconcile = ReconcileMetrics {
            reconciles: counter(&r, "trailwarden_reconciles_total", "Reconciles by result (success, error).", &["result"]),
            duration: histogram(&r, "trailwarden_reconcile_duration_seconds", "Time one reconcile took.", LATENCY_BUCKETS),
            errors: counter(&r, "trailwarden_reconcile_errors_total", "Failed reconciles by reason.", &["reason"]),
            drift: counter(&r, "trailwarden_drift_detected_total", "Settings seen to differ from their policy, by field.", &["field"]),
            remediations: counter(&r, "trailwarden_remediations_total", "AWS corrections made, by action.", &["action"]),
            stage_failures: counter(
                &r,
                "trailwarden_stage_failures_total",
                "Pass stages that failed, by stage and reason (the other stages still ran).",
                &["stage", "reason"],
            ),
            gauges: {
                // Written by `render` after the registry's families, one at a time.
                PolicyGauges::new()
            },
            off_seconds: {
                let c = prometheus::CounterVec::new(
                    prometheus::Opts::new(
                        "trailwarden_trail_logging_off_seconds_total",
                        "Seconds the policy's trail was seen not logging while the policy wanted it logging (from CloudTrail's stop time).",
                    ),
                    &["policy"],
                )
                .expect("valid counter");
                r.register(Box::new(c.clone())).expect("metric registered once");
                c
            },
            weakening: counter(
                &r,
                "trailwarden_weakening_total",
                "Writes made because the policy said so that took something from its trail, by what they took.",
                &["policy", "change"],
            ),
            tampered: counter(
                &r,
                "trailwarden_ownership_tampered_total",
                "Times the uid tag of a trail the policy owns was found removed or changed (and put back).",
                &["policy"],
            ),
            heal: histogram(
                &r,
                "trailwarden_heal_seconds",
                "From the moment drift was first seen to the moment it was corrected.",
                HEAL_BUCKETS,
            ),
        };
        let aws = AwsMetrics {
            requests: counter(
                &r,
                "trailwarden_aws_requests_total",
                "AWS API calls by service, operation and outcome.",
                &["service", "operation", "outcome"],
            ),
            duration: {
                let h = HistogramVec::new(
                    HistogramOpts::new("trailwarden_aws_request_duration_seconds", "AWS API call latency, retries included.")
                        .buckets(LATENCY_BUCKETS.to_vec()),
                    &["service", "operation"],
                )
                .expect("valid histogram");
                r.register(Box::new(h.clone())).expect("metric registered once");
                h
            },
            throttled: counter(&r, "trailwarden_aws_throttled_total", "AWS calls refused as throttled.", &["service"]),
        };
        let events = EventMetrics {
            events: counter(
                &r,
                "trailwarden_events_total",
                "AWS events read from the events queue, by source, event name and outcome.",
                &["source", "event", "outcome"],
            ),
            queue_errors: {
                let c = prometheus::IntCounter::new("trailwarden_event_queue_errors_total", "Failed reads of the events queue.")
                    .expect("valid counter");
                r.register(Box::new(c.clone())).expect("metric registered once");
                c
            },
            age: histogram(
                &r,
                "trailwarden_event_age_seconds",
                "From an AWS call (its eventTime) to its event being read from the queue.",
                HEAL_BUCKETS,
            ),
            reconciled: histogram(
                &r,
                "trailwarden_event_to_reconcile_seconds",
                "From an AWS call (its eventTime) to the end of the pass its event asked for.",
                HEAL_BUCKETS,
            ),
        };
        let policies = gauge(&r, "trailwarden_policies", "TrailPolicies this controller watches.");
        let leader = gauge(&r, "trailwarden_leader", "1 while this replica holds the leader lease.");
        let passes_in_flight = gauge(&r, "trailwarden_passes_in_flight", "Passes started and not yet finished.");
        let last_pass_completed = {
            let g = prometheus::Gauge::new(
                "trailwarden_last_pass_completed_timestamp_seconds",
                "When the last pass finished, in seconds since the Unix epoch.",
            )
            .expect("valid gauge");
            r.register(Box::new(g.clone())).expect("metric registered once");
            g
        };
        let heap_allocated = gauge(
            &r,
            "trailwarden_heap_allocated_bytes",
            "Heap bytes in use (allocated and not freed), measured after each heap trim; 0 where the allocator cannot say.",
        );
        // Series that exist from the start, so dashboards and alerts see zeros, not gaps.
        for result in ["success", "error"] {
            reconcile.reconciles.with_label_values(&[result]);
        }
        for reason in Failure::iter() {
            reconcile.errors.with_label_values(&[reason.name()]);
        }
        for service in ["CloudTrail", "KMS", "S3", "STS"] {
            aws.throttled.with_label_values(&[service]);
        }
        let build = gauge_vec(&r, "trailwarden_build_info", "Build information: the version and the git revision built.", &["version", "revision"]);
        build.with_label_values(&[env!("CARGO_PKG_VERSION"), env!("TRAILWARDEN_GIT_REVISION")]).set(1);
        let integrity = super::integrity_metrics::IntegrityMetrics::new(&r);
        let sets = super::set_metrics::SetMetrics::new(&r);
        Metrics { registry: r, reconcile, aws, events, policies, leader, passes_in_flight, last_pass_completed, heap_allocated, integrity, sets }
    }

    /// The Prometheus text exposition of every metric, whole.
    pub fn render(&self) -> String {
        self.page().collect()
    }

    /// The Prometheus text exposition of every metric, in chunks of about [`CHUNK`] bytes
    /// to be sent as they are written: the registry's families first, then the
    /// per-policy gauges, a slice of policies at a time.
    pub fn page(&self) -> impl Iterator<Item = String> + Send + 'static {
        let registry = self.registry.clone();
        let head = std::iter::once_with(move || {
            let mut buf = Vec::new();
            TextEncoder::new().encode(&registry.gather(), &mut buf).expect("text encoding");
            String::from_utf8(buf).expect("prometheus text is UTF-8")
        });
        let gauges = self.reconcile.gauges.clone();
        let mut cursor = Cursor::default();
        let policies = std::iter::from_fn(move || {
            (!cursor.done()).then(|| {
                let mut chunk = String::with_capacity(CHUNK + CHUNK / 8);
                gauges.write_next(&mut cursor, &mut chunk, CHUNK);
                chunk
            })
        });
        head.chain(policies)
    }
}

/// About how much of `/metrics` is written before it is sent.
pub const CHUNK: usize = 64 * 1024;

impl ReconcileMetrics {
    /// Records one reconcile: its result, drift, corrections and the policy's state.
    /// `healed_after` is how long the corrected drift had been known, when it was corrected.
    /// A state the pass could not establish (Unknown) removes its series rather than
    /// keeping the last value: an alert on a stale 1 would stay silent while logging is off.
    pub fn observe(&self, policy: &str, report: &Report, seconds: f64, healed_after: Option<f64>) {
        self.duration.observe(seconds);
        match report.failures.first() {
            None => self.reconciles.with_label_values(&["success"]).inc(),
            Some(first) => {
                self.reconciles.with_label_values(&["error"]).inc();
                self.errors.with_label_values(&[first.failure.name()]).inc();
                for failure in &report.failures {
                    self.stage_failures.with_label_values(&[failure.stage.name(), failure.failure.name()]).inc();
                }
            }
        }
        for drift in report.corrected.iter().chain(&report.drift) {
            self.drift.with_label_values(&[drift.field.split('.').next().unwrap_or(&drift.field)]).inc();
        }
        for write in &report.applied {
            self.remediations.with_label_values(&[write.operation]).inc();
        }
        if let Some(after) = healed_after {
            self.heal.observe(after);
        }
        for condition in &report.conditions {
            let state = match condition.type_ {
                ConditionType::Logging => State::Logging,
                ConditionType::Synced => State::InSync,
                ConditionType::Compliant => State::Compliant,
                ConditionType::Ready => State::Ready,
                ConditionType::Contested => State::Contested,
                // Derived for GitOps tools from Ready and Synced, which have gauges.
                ConditionType::Reconciling | ConditionType::Stalled => continue,
            };
            self.gauges.set(policy, state, condition.status);
        }
        let checks = report.findings.iter().map(|finding| {
            let value = match finding.status {
                CheckStatus::Pass => Some(true),
                CheckStatus::Fail => Some(false),
                CheckStatus::Unknown => None,
            };
            (finding.id, value)
        });
        self.gauges.set_checks(policy, checks);
        self.gauges.set(policy, State::BelowFloor, Some(!report.below_floor.is_empty()));
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
        self.gauges.looked(policy, now);
        if let Some(deletion) = &report.key_deletion {
            self.gauges.key_deletion(policy, deletion.as_ref().map(|(key, at)| (key.clone(), at.as_millisecond() as f64 / 1000.0)));
        }
        self.gauges.set(policy, State::AliasMoved, Some(report.alias_moved));
        for weakening in &report.weakened {
            self.weakening.with_label_values(&[policy, weakening.change]).inc();
        }
        if report.notices.iter().any(|n| n.reason == <&str>::from(Reason::OwnershipTampered)) {
            self.tampered.with_label_values(&[policy]).inc();
        }
    }

    /// A policy whose deletion cannot finish: not Ready, whatever its last pass said.
    pub fn cleanup_failing(&self, policy: &str) {
        self.gauges.set(policy, State::Ready, Some(false));
    }

    /// Adds the seconds the policy's trail was seen not logging while it should have been.
    pub fn logging_off(&self, policy: &str, seconds: f64) {
        self.off_seconds.with_label_values(&[policy]).inc_by(seconds.max(0.0));
    }

    /// A write made because the policy said so that took something from its trail, outside
    /// a pass (the trail retained or deleted with its policy).
    pub fn weakened(&self, policy: &str, change: &str) {
        self.weakening.with_label_values(&[policy, change]).inc();
    }

    /// Records what the policy declares (its spec's `logging`), so that dashboards can
    /// tell a trail stopped on purpose from one that stopped by itself.
    pub fn declared(&self, policy: &str, logging: bool) {
        self.gauges.set(policy, State::LoggingDesired, Some(logging));
    }

    /// Drops a deleted policy's series, save what its deletion did to its trail: that
    /// stays until [`ReconcileMetrics::retire`], so that alerts can see it.
    pub fn forget(&self, policy: &str) {
        self.gauges.forget(policy);
        let _ = self.off_seconds.remove_label_values(&[policy]);
        let _ = self.tampered.remove_label_values(&[policy]);
        for change in WEAKENINGS.iter().filter(|c| !DELETIONS.contains(c)) {
            let _ = self.weakening.remove_label_values(&[policy, change]);
        }
    }

    /// Drops the last series of a policy deleted a while ago.
    pub fn retire(&self, policy: &str) {
        for change in DELETIONS {
            let _ = self.weakening.remove_label_values(&[policy, change]);
        }
    }
}

impl AwsMetrics {
    pub fn record(&self, service: &str, operation: &str, outcome: &str, seconds: f64, throttled: bool) {
        self.requests.with_label_values(&[service, operation, outcome]).inc();
        self.duration.with_label_values(&[service, operation]).observe(seconds);
        if throttled {
            self.throttled.with_label_values(&[service]).inc();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_logging_is_exported_and_forgotten_with_the_policy() {
        let metrics = Metrics::new();
        metrics.reconcile.declared("paused", false);
        metrics.reconcile.declared("org-audit", true);
        let scrape = metrics.render();
        assert!(scrape.contains("trailwarden_trail_logging_desired{policy=\"paused\"} 0"), "{scrape}");
        assert!(scrape.contains("trailwarden_trail_logging_desired{policy=\"org-audit\"} 1"), "{scrape}");
        metrics.reconcile.declared("paused", true);
        assert!(metrics.render().contains("trailwarden_trail_logging_desired{policy=\"paused\"} 1"));
        metrics.reconcile.forget("paused");
        let after = metrics.render();
        assert!(!after.contains("policy=\"paused\""), "{after}");
        assert!(after.contains("trailwarden_trail_logging_desired{policy=\"org-audit\"} 1"), "{after}");
    }

    #[test]
    fn policy_states_and_checks_are_exported_an_unknown_one_removed_and_all_forgotten_with_the_policy() {
        let metrics = Metrics::new();
        let gauges = &metrics.reconcile.gauges;
        gauges.set("audit", State::Ready, Some(true));
        gauges.set("audit", State::Logging, Some(false));
        gauges.set_checks("audit", [("cis-3.2", Some(true)), ("cis-3.5", Some(false))]);
        let scrape = metrics.render();
        for line in [
            "trailwarden_policy_ready{policy=\"audit\"} 1",
            "trailwarden_trail_logging{policy=\"audit\"} 0",
            "trailwarden_compliance_check{check=\"cis-3.2\",policy=\"audit\"} 1",
            "trailwarden_compliance_check{check=\"cis-3.5\",policy=\"audit\"} 0",
            "# TYPE trailwarden_compliance_check gauge",
        ] {
            assert!(scrape.lines().any(|l| l == line), "{line} missing from:\n{scrape}");
        }
        assert!(!scrape.contains("trailwarden_trail_in_sync{"), "never set: no sample");
        for family in ["trailwarden_policy_ready", "trailwarden_compliance_check", "trailwarden_reconciles_total"] {
            assert_eq!(scrape.matches(&format!("# TYPE {family} ")).count(), 1, "{family} written once:\n{scrape}");
        }
        gauges.set("audit", State::Logging, None);
        gauges.set_checks("audit", [("cis-3.5", None)]);
        let scrape = metrics.render();
        assert!(!scrape.contains("trailwarden_trail_logging{"), "{scrape}");
        assert!(!scrape.contains("cis-3.5") && scrape.contains("cis-3.2"), "only the unknown check went: {scrape}");
        metrics.reconcile.forget("audit");
        assert!(!metrics.render().contains("policy=\"audit\""));
    }
}
