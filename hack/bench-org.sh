#!/usr/bin/env bash
# make bench-org [ACCOUNTS=300]: a TrailPolicySet over an organization of ACCOUNTS member
# accounts on a bed of its own (.bed-org), with the release controller: convergence, the
# Organizations calls of one walk, new-account coverage time from its event, and an account
# moved out (Retain, then Delete). Knobs (environment): UNITS (3), CHILDREN (4),
# NEW_ACCOUNTS (10), PHASE_TIMEOUT_SECONDS (600). The controller's log is kept in
# .bed-org/controller.log.
set -euo pipefail
export ACCOUNTS=${ACCOUNTS:-300}
exec "$(dirname "$0")/bench-release.sh" org bench_org organization_benchmark
