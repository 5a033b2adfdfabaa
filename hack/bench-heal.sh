#!/usr/bin/env bash
# make bench-heal: times heals by the release controller on a bed of its own (.bed-heal)
# over HEAL_CYCLES cycles (default 30): StopLogging by the poll, with and without injected
# AWS faults, then six breaks by the event path (see tests/bench_heal.rs); prints p50 /
# p99 / max. The controller's log is kept in .bed-heal/controller.log.
set -euo pipefail
exec "$(dirname "$0")/bench-release.sh" heal bench_heal heal_times
