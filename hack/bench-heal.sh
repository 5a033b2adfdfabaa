#!/usr/bin/env bash
# make bench-heal: brings up the bed, times StopLogging → logging again over HEAL_CYCLES
# cycles (default 30): by the poll with and without injected AWS faults, and by the event
# path; prints p50 / p99 / max.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bed=$root/.bed
cargo build --locked --tests
trap '"$root/hack/bed/down.sh" "$bed"' EXIT
"$root/hack/bed/up.sh" "$bed"
# shellcheck disable=SC1091
source "$bed/env"
cargo test --locked --test bench_heal heal_after_stop_logging -- --nocapture 2>&1 | grep -v '^test \|^running \|^$'
