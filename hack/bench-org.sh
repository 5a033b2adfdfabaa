#!/usr/bin/env bash
# make bench-org [ACCOUNTS=300]: a TrailPolicySet over an organization of ACCOUNTS member
# accounts on a bed of its own (.bed-org), with the release controller: convergence, the
# Organizations calls of one walk, new-account coverage time from its event, and an account
# moved out (Retain, then Delete). Knobs (environment): UNITS (3), CHILDREN (4),
# NEW_ACCOUNTS (10), PHASE_TIMEOUT_SECONDS (600). The controller's log is kept in
# .bed-org/controller.log.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bed=$root/.bed-org
export ACCOUNTS=${ACCOUNTS:-300}
t0=$(date +%s)

cargo build --release --locked
cargo build --locked --test bench_org
bin=${CARGO_TARGET_DIR:-$root/target}/release/trailwarden
echo "bench-org: measuring $bin ($(git describe --always --dirty 2>/dev/null || echo unknown revision))"

trap '"$root/hack/bed/down.sh" "$bed"' EXIT
"$root/hack/bed/up.sh" "$bed"
# shellcheck disable=SC1091
source "$bed/env"
"$bin" crd --all | kubectl apply -f - >/dev/null
kubectl wait --for condition=established crd/trailpolicies.trailwarden.dev crd/trailpolicysets.trailwarden.dev --timeout=30s >/dev/null

TRAILWARDEN_BIN=$bin cargo test --locked --test bench_org organization_benchmark -- --exact --nocapture 2>&1 \
  | grep --line-buffered -v '^running [0-9]* test\|^test result:\|has been running for over'
echo "bench-org: done in $(( $(date +%s) - t0 )) s (builds and bed included); controller log: $bed/controller.log"
