#!/usr/bin/env bash
# make bench-scale [POLICIES=1000] [ACCOUNTS=250]: the release controller at scale on a bed
# of its own (.bed-scale): converge time and AWS calls by operation, steady-window calls per
# policy per resync, RSS and idle CPU, the event-path heal time at scale, and the RSS after
# all but 2 policies are deleted. Knobs (environment): STEADY_SECONDS (120), IDLE_SECONDS
# (60), EVENT_CYCLES (30), CONVERGE_TIMEOUT_SECONDS (600), SETTLE_SECONDS (30), SEED,
# RESYNC_SECONDS (60).
# The controller's log is kept in .bed-scale/controller.log.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bed=$root/.bed-scale
export POLICIES=${POLICIES:-1000} ACCOUNTS=${ACCOUNTS:-250}
t0=$(date +%s)

cargo build --release --locked
cargo build --locked --test bench_scale
bin=${CARGO_TARGET_DIR:-$root/target}/release/trailwarden
echo "bench-scale: measuring $bin ($(git describe --always --dirty 2>/dev/null || echo unknown revision))"

trap '"$root/hack/bed/down.sh" "$bed"' EXIT
"$root/hack/bed/up.sh" "$bed"
# shellcheck disable=SC1091
source "$bed/env"
"$bin" crd --all | kubectl apply -f - >/dev/null
kubectl wait --for condition=established crd/trailpolicies.trailwarden.dev --timeout=30s >/dev/null

TRAILWARDEN_BIN=$bin cargo test --locked --test bench_scale scale_benchmark -- --exact --nocapture 2>&1 \
  | grep --line-buffered -v '^running [0-9]* test\|^test result:\|has been running for over'
echo "bench-scale: done in $(( $(date +%s) - t0 )) s (builds and bed included); controller log: $bed/controller.log"
