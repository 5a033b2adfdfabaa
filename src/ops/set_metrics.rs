//! The sets' series: CloudTrail's standing in each set's organization.

use prometheus::{IntGaugeVec, Opts, Registry};

use crate::k8s::set::api::TrailPolicySetStatus;

#[derive(Clone)]
pub struct SetMetrics {
    trusted_access: IntGaugeVec,
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
        SetMetrics { trusted_access }
    }

    pub fn standing(&self, set: &str, status: &TrailPolicySetStatus) {
        match status.organization.as_ref().and_then(|o| o.cloud_trail_trusted_access) {
            Some(on) => self.trusted_access.with_label_values(&[set]).set(i64::from(on)),
            None => {
                let _ = self.trusted_access.remove_label_values(&[set]);
            }
        }
    }
}
