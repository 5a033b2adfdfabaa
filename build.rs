//! The git revision built, for `trailwarden_build_info{revision}`: from `GIT_REVISION` when
//! set (an image build passes it as a build argument: the build context has no `.git`),
//! else from git itself, else "unknown".

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=GIT_REVISION");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
    let from_git = || {
        let out = Command::new("git").args(["rev-parse", "--short=12", "HEAD"]).output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    let revision = std::env::var("GIT_REVISION").ok().filter(|r| !r.is_empty()).or_else(from_git).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=TRAILWARDEN_GIT_REVISION={revision}");
}
