//! trailwarden's domain, with no Kubernetes, AWS SDK or async runtime in sight.
//!
//! ```text
//! policy::Desired ─┐
//!                  ├─► plan::plan ─► Plan { drift, actions, blocked }      (pure)
//! observed::Observed┘
//! posture::{trail, bucket, key} ─► checks (findings) and fixes             (pure)
//! report::Report ◄── what a pass applied and saw                           (pure)
//! notify::messages ◄── what a pass corrected and newly failed               (pure)
//! ```
//!
//! Everything here is plain data and pure functions: the binary crate reads AWS into
//! these types, carries out the plan through its AWS port, and maps the report onto the
//! `TrailPolicy` status.
#![forbid(unsafe_code)]

pub mod bounded;
pub mod events;
pub mod floor;
pub mod guardrails;
pub mod integrity;
pub mod notify;
pub mod observed;
pub mod ownership;
pub mod plan;
pub mod policy;
pub mod posture;
pub mod report;
pub mod set;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod trail;

pub use observed::{Observed, ObservedTrail};
pub use plan::{Action, Blocked, Drift, Plan, plan};
pub use policy::{Adoption, DeletionPolicy, Desired, LogArchive, Mode, OWNER_TAG, OWNER_UID_TAG, Reach, Scope};
