#!/usr/bin/env bash
# Creates (once) a venv holding the pinned moto server and prints the venv's path.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
cache=${TRAILWARDEN_CACHE:-$HOME/.cache/trailwarden}
venv="$cache/venv/moto-$MOTO_VERSION"
if [ ! -x "$venv/bin/moto_server" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" >&2
fi
echo "$venv"
