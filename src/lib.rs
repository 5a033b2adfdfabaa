//! trailwarden keeps AWS CloudTrail trails the way `TrailPolicy` resources declare them.
//!
//! ```text
//! triggers ──► k8s::controller ──► pass: resolve → observe → plan → apply → report
//!  (policy watch,     │                 │          │                 │
//!   resync, …)        │                 └── aws (the port) ──────────┘
//!                     └── k8s::status ◄── Report (trailwarden_core)
//! ```
//!
//! The domain — desired state, observed state, the pure plan, posture checks and fixes,
//! the report — is the `trailwarden-core` crate, which knows neither Kubernetes nor AWS.
//! [`aws`] is the port to AWS and its SDK adapter; [`k8s`] the CRD, its mappings and the
//! controller; [`triggers`] the reasons to reconcile; [`pass`] one policy's reconcile;
//! [`ops`] metrics and health.
#![forbid(unsafe_code)]

pub mod aws;
pub mod integrity;
pub mod k8s;
pub mod ops;
pub mod pass;
pub mod triggers;

pub use k8s::api;
