//! Operating the controller: `/metrics`, `/healthz`, `/readyz`, and the Prometheus metrics.

pub mod http;
pub mod metrics;
pub mod progress;
mod policy_gauges;
