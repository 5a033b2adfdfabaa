#!/usr/bin/env bash
# hack/bench-release.sh NAME TEST FUNCTION: what `make bench-heal`, `make bench-scale` and
# `make bench-org` share. Builds the release controller and the bench harness TEST, brings up a bed of its
# own in .bed-NAME (torn down at the end), installs both CRDs from the binary under test,
# and runs FUNCTION of TEST against that binary (TRAILWARDEN_BIN), printing as it goes.
set -euo pipefail
name=$1 test=$2 function=$3
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bed=$root/.bed-$name
t0=$(date +%s)

cargo build --release --locked
cargo build --locked --test "$test"
bin=${CARGO_TARGET_DIR:-$root/target}/release/trailwarden
echo "bench-$name: measuring $bin ($(git describe --always --dirty 2>/dev/null || echo unknown revision))"

trap '"$root/hack/bed/down.sh" "$bed"' EXIT
"$root/hack/bed/up.sh" "$bed"
# shellcheck disable=SC1091
source "$bed/env"
"$bin" crd --all | kubectl apply -f - >/dev/null
kubectl wait --for condition=established crd/trailpolicies.trailwarden.dev crd/trailpolicysets.trailwarden.dev --timeout=30s >/dev/null

TRAILWARDEN_BIN=$bin cargo test --locked --test "$test" "$function" -- --exact --nocapture 2>&1 \
  | grep --line-buffered -v '^running [0-9]* test\|^test result:\|has been running for over'
echo "bench-$name: done in $(( $(date +%s) - t0 )) s (builds and bed included); controller log: $bed/controller.log"
