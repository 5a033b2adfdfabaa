#!/usr/bin/env bash
# A Python venv holding one pinned PyPI package, created on first use and cached under
# ~/.cache/trailwarden/venv/<name>-<version>; prints the venv's path. A venv whose install
# did not finish (no .installed marker) is made again; concurrent callers wait for one install.
# Usage: hack/pyvenv.sh PACKAGE==VERSION
set -euo pipefail
spec=$1
venv=${TRAILWARDEN_CACHE:-$HOME/.cache/trailwarden}/venv/${spec%%==*}-${spec##*==}
mkdir -p "$(dirname "$venv")"
# Tests running at once may ask for the same venv: one installs, the others wait.
exec 9>"$venv.lock"
flock 9
if [ ! -f "$venv/.installed" ]; then
  echo "pyvenv: installing $spec from PyPI into $venv (first run only)" >&2
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$spec" >&2
  touch "$venv/.installed"
fi
echo "$venv"
