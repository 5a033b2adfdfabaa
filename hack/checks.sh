# The PASS/FAIL/SKIP harness the check scripts share (hack/chart-check.sh,
# hack/release-check.sh): sourced, never run. It sets passed, failed and skipped, and a
# scratch directory $work removed on exit.
#   check NAME COMMAND [ARGS...]  runs the command with -e in a subshell; its output is
#                                 shown when it fails, and its "note:" lines always
#   skip NAME WHY
# shellcheck shell=bash

passed=0 failed=0 skipped=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

check() {
  local name=$1; shift
  local out rc
  out=$(set -e; "$@" 2>&1)
  rc=$?
  if [ "$rc" = 0 ]; then
    passed=$((passed + 1))
    printf 'PASS  %s\n' "$name"
    printf '%s\n' "$out" | grep '^note:' | sed 's/^/      /'
  else
    failed=$((failed + 1))
    printf 'FAIL  %s\n' "$name"
    printf '%s\n' "$out" | tail -n 40 | sed 's/^/      /'
  fi
  return 0
}

skip() {
  skipped=$((skipped + 1))
  printf 'SKIP  %s (%s)\n' "$1" "$2"
}
