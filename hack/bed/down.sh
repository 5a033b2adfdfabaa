#!/usr/bin/env bash
# Stops what hack/bed/up.sh started in DIR (default: .bed): etcd, kube-apiserver, moto and
# the fault proxy, all listed in DIR/pids (the proxy exits cleanly on SIGTERM).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-$here/../../.bed}
[ -f "$dir/pids" ] || exit 0
pids=$(cat "$dir/pids")
kill $pids 2>/dev/null
for _ in $(seq 1 50); do
  alive=0; for p in $pids; do kill -0 "$p" 2>/dev/null && alive=1; done
  [ $alive = 0 ] && break; sleep 0.1
done
kill -9 $pids 2>/dev/null
rm -f "$dir/pids" "$dir/fault-proxy.port"
