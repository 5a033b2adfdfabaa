//! The log verifier: follows a trail's digest chain in S3 and proves its log files intact
//! (`trailwarden verify-logs`, and the controller's continuous verification). The
//! judgement of each digest and log file is the domain's (`trailwarden_core::integrity`);
//! here are the walk that decides what to read next, and the hashing and signatures.

pub mod chains;
pub mod continuous;
pub mod crypto;
mod round_cache;
pub mod walk;

pub use walk::{Walk, WalkError};
