//! The organization set: `TrailPolicySet` → one `TrailPolicy` per target account.
//!
//! ```text
//! TrailPolicySet ─► walk the organization (AWS Organizations, paced, bounded)
//!                ─► cover (targets → accounts)  ─► plan (apply / remove)   (core, pure)
//!                ─► apply: server-side apply of each generated policy, owned by the set
//!                ─► report: counts and conditions from the policies' own status
//! ```
//!
//! The organization is walked when the set changes and every `walkSeconds`; a change of
//! one of its policies (their status, say) re-reports from the last walk without walking
//! again, so a thousand policies writing status cost no call to Organizations.

pub mod api;
mod prevention;
mod reconcile;
mod report;

pub use reconcile::{SET_LABEL, SetOptions, run};
