//! The sets' series: CloudTrail's standing in each set's organization, and whether each
//! set's service control policy is held.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use prometheus::{IntGaugeVec, Opts, Registry};

use crate::k8s::set::api::TrailPolicySetStatus;

#[derive(Clone)]
pub struct SetMetrics {
    trusted_access: IntGaugeVec,
    scp_held: IntGaugeVec,
    /// The sets that have series, to drop those of a set deleted since.
    known: Arc<Mutex<BTreeSet<String>>>,
}

impl SetMetrics {
    pub(super) fn new(r: &Registry) -> Self {
        let trusted_access = IntGaugeVec::new(
            Opts::new(
                "trailwarden_set_cloudtrail_trusted_access",
                "1 while trusted access for CloudTrail is on in the organization of the TrailPolicySet, 0 once it is off (absent when it cannot be read).",
            ),
            &["set"],
        )
        .expect("valid gauge");
        r.register(Box::new(trusted_access.clone())).expect("metric registered once");
        let scp_held = IntGaugeVec::new(
            Opts::new(
                "trailwarden_set_scp_in_sync",
                "1 while the TrailPolicySet's service control policy is attached where declared, as declared; 0 when it is not (absent when the set declares none).",
            ),
            &["set"],
        )
        .expect("valid gauge");
        r.register(Box::new(scp_held.clone())).expect("metric registered once");
        SetMetrics { trusted_access, scp_held, known: Arc::default() }
    }

    pub fn standing(&self, set: &str, status: &TrailPolicySetStatus) {
        self.known.lock().expect("known sets lock").insert(set.to_owned());
        match status.organization.as_ref().and_then(|o| o.cloud_trail_trusted_access) {
            Some(on) => self.trusted_access.with_label_values(&[set]).set(i64::from(on)),
            None => {
                let _ = self.trusted_access.remove_label_values(&[set]);
            }
        }
        match &status.service_control_policy {
            Some(scp) => self.scp_held.with_label_values(&[set]).set(i64::from(scp.in_sync)),
            None => {
                let _ = self.scp_held.remove_label_values(&[set]);
            }
        }
    }

    /// Drops the series of every set `live` no longer holds: a deleted set's alerts stop.
    pub fn retain(&self, live: impl Fn(&str) -> bool) {
        self.known.lock().expect("known sets lock").retain(|set| {
            if live(set) {
                return true;
            }
            let _ = self.trusted_access.remove_label_values(&[set]);
            let _ = self.scp_held.remove_label_values(&[set]);
            false
        });
    }
}
