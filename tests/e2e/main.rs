//! Integration tests against the real test bed: kube-apiserver + etcd and the moto AWS
//! emulator, started by `hack/bed/up.sh` (`make test` does it). One binary, many modules,
//! so the heavy dependencies link once.

mod support;

mod admission;
mod attack;
mod admission_policy;
mod aws_roundtrip;
mod blockers;
mod check;
mod client;
mod drift;
mod error_codes;
mod events;
mod faults;
mod first_hour;
mod gitops;
mod guardrails;
mod integrity;
mod landing_zone;
mod ownership;
mod posture;
mod production;
mod quiet;
mod partition;
mod reconciler;
mod evidence;
mod evidence_events;
mod shards;
mod replica;
mod sets;
mod set_prevention;
mod shared_posture;
mod shared_reads;
mod triggers;
