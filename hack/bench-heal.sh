#!/usr/bin/env bash
# make bench-heal: brings up the bed and times heals over HEAL_CYCLES cycles (default 30):
# StopLogging by the poll, with and without injected AWS faults, and six breaks by the
# event path (see tests/bench_heal.rs); prints p50 / p99 / max.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bed=$root/.bed
cargo build --locked --tests
trap '"$root/hack/bed/down.sh" "$bed"' EXIT
"$root/hack/bed/up.sh" "$bed"
# shellcheck disable=SC1091
source "$bed/env"
cargo test --locked --test bench_heal heal_times -- --nocapture 2>&1 | grep -v '^test \|^running \|^$'
