//! The Kubernetes side: the CRD's types ([`api`]), the mappings between it and the
//! domain ([`desired`] in, [`status`] out), the client, the controller and the leader lease. The
//! only place that knows `TrailPolicyStatus`, `Condition` and `Time`.

pub mod api;
pub mod client;
pub mod controller;
pub mod desired;
pub mod leader;
pub mod recorder;
pub mod set;
mod retry;
pub mod status;
pub mod turns;
