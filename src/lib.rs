//! trailwarden keeps AWS CloudTrail trails the way `TrailPolicy` resources declare them.
//!
//! The reconcile is a one-way pipeline:
//! `TrailPolicy → Desired` ([`desired`]), `AWS → Observed` ([`observe`], [`resources`]),
//! `plan(Desired, Observed) → Plan` ([`plan`], pure), `apply(Plan)` through the AWS port
//! ([`aws`]), then posture ([`posture`], pure), notifications ([`notify`]) and status,
//! Events and metrics ([`reconcile`], [`controller`], [`metrics`]). [`leader`] and
//! [`http`] make it a well-behaved replica.
#![forbid(unsafe_code)]

pub mod api;
pub mod aws;
pub mod controller;
pub mod desired;
#[cfg(test)]
mod fixtures;
pub mod http;
pub mod leader;
pub mod metrics;
pub mod notify;
pub mod observe;
pub mod plan;
pub mod posture;
pub mod reconcile;
pub mod resources;
pub mod trail;
