#!/usr/bin/env bash
# The independent judge (hack/bed/judge.py): AWS CLI's `cloudtrail validate-logs` and
# `trailwarden verify-logs` on the same tampered digest chains in a moto bed of its own.
# Usage: hack/bed/judge.sh [TRAILWARDEN_BINARY]   (default: ${CARGO_TARGET_DIR:-target}/debug/trailwarden)
# Exit 0: every row of the matrix passed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
binary=${1:-${CARGO_TARGET_DIR:-$root/target}/debug/trailwarden}
if [ ! -x "$binary" ]; then
  echo "judge.sh: no trailwarden binary at $binary (build it with cargo, or pass its path)" >&2
  exit 2
fi
aws_venv=$("$here/awscli-venv.sh")
moto_venv=$("$here/moto-venv.sh")
exec "$moto_venv/bin/python" "$here/judge.py" --trailwarden "$binary" --aws "$aws_venv/bin/aws"
