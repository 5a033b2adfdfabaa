#!/usr/bin/env bash
# make bench-scale [POLICIES=1000] [ACCOUNTS=250]: the release controller at scale on a bed
# of its own (.bed-scale): converge time and AWS calls by operation, steady-window calls per
# policy per resync, RSS and idle CPU, the event-path heal time at scale, and the RSS after
# all but 2 policies are deleted. Knobs (environment): STEADY_SECONDS (120), IDLE_SECONDS
# (60), EVENT_CYCLES (30), CONVERGE_TIMEOUT_SECONDS (600), SETTLE_SECONDS (30), SEED,
# RESYNC_SECONDS (60), BENCH_LD_PRELOAD (an allocator's .so preloaded into the controller
# alone, to compare allocators).
# The controller's log is kept in .bed-scale/controller.log.
set -euo pipefail
export POLICIES=${POLICIES:-1000} ACCOUNTS=${ACCOUNTS:-250}
exec "$(dirname "$0")/bench-release.sh" scale bench_scale scale_benchmark
