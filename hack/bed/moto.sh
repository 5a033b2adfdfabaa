#!/usr/bin/env bash
# Stops or starts the bed's moto on the port it had: moto restarted, all its state gone,
# as tests/emulator_restart.rs needs. Usage: hack/bed/moto.sh stop|start [DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${2:-$here/../../.bed}
dir=$(cd "$dir" && pwd)
port=$(sed -n 's|^export TRAILWARDEN_AWS_ENDPOINT=http://127.0.0.1:||p' "$dir/env")
[ -n "$port" ] || { echo "moto.sh: no TRAILWARDEN_AWS_ENDPOINT in $dir/env" >&2; exit 1; }

case "${1:-}" in
  stop)
    pid=$(cat "$dir/moto.pid" 2>/dev/null || true)
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || exit 0
    kill "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || exit 0; sleep 0.05; done
    kill -9 "$pid" 2>/dev/null || true
    ;;
  start)
    venv=$("$here/moto-venv.sh")
    TZ=UTC TRAILWARDEN_BED_DELIVERY_SECONDS=${TRAILWARDEN_BED_DELIVERY_SECONDS:-0} "$venv/bin/python" "$here/moto_server.py" 127.0.0.1 "$port" >> "$dir/moto.log" 2>&1 &
    echo $! >> "$dir/pids"
    echo $! > "$dir/moto.pid"
    for _ in $(seq 1 200); do
      curl -fsS "http://127.0.0.1:$port/moto-api/" >/dev/null 2>&1 && exit 0
      sleep 0.05
    done
    echo "moto.sh: moto did not come back on :$port" >&2; exit 1
    ;;
  *) echo "usage: $0 stop|start [DIR]" >&2; exit 2 ;;
esac
