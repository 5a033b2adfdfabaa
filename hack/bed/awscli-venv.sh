#!/usr/bin/env bash
# Creates (once) a venv holding the pinned AWS CLI v1 and prints the venv's path. The bed's
# tests run its `aws cloudtrail validate-logs` against the bed's CloudTrail delivery
# (hack/bed/delivery.py) as an independent judge: AWS's own validator, not ours.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
cache=${TRAILWARDEN_CACHE:-$HOME/.cache/trailwarden}
venv="$cache/venv/awscli-$AWSCLI_VERSION"
if [ ! -x "$venv/bin/aws" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check "awscli==$AWSCLI_VERSION" >&2
fi
echo "$venv"
