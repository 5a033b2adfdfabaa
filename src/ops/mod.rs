//! Operating the controller: `/metrics`, `/healthz`, `/readyz`, and the Prometheus metrics.

pub mod http;
pub mod integrity_metrics;
pub mod metrics;
pub mod progress;
pub mod set_metrics;
pub mod sparse;
mod policy_gauges;
