#!/usr/bin/env bash
# make bench-heal: brings up the bed and times heals by the release controller over
# HEAL_CYCLES cycles (default 30): StopLogging by the poll, with and without injected AWS
# faults, then six breaks by the event path (see tests/bench_heal.rs); prints p50 / p99 /
# max. The controller's log is kept in .bed/controller.log.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bed=$root/.bed
cargo build --release --locked
cargo build --locked --test bench_heal
bin=${CARGO_TARGET_DIR:-$root/target}/release/trailwarden
echo "bench-heal: measuring $bin ($(git describe --always --dirty 2>/dev/null || echo unknown revision))"
trap '"$root/hack/bed/down.sh" "$bed"' EXIT
"$root/hack/bed/up.sh" "$bed"
# shellcheck disable=SC1091
source "$bed/env"
"$bin" crd --all | kubectl apply -f - >/dev/null
kubectl wait --for condition=established crd/trailpolicies.trailwarden.dev crd/trailpolicysets.trailwarden.dev --timeout=30s >/dev/null
TRAILWARDEN_BIN=$bin cargo test --locked --test bench_heal heal_times -- --nocapture 2>&1 | grep -v '^test \|^running \|^$'
