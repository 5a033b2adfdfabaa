#!/usr/bin/env bash
# trailwarden's main job on a local bed: a real kube-apiserver + etcd and the moto AWS
# emulator; the controller running with the event path (EventBridge → SQS); a TrailPolicy
# applied; the trail broken three ways and healed, with the time each heal took.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bed=$root/.bed
trail=demo-audit

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "build trailwarden"
cargo build --locked --quiet
bin=${CARGO_TARGET_DIR:-$root/target}/debug/trailwarden

say "start the bed (kube-apiserver + etcd + moto)"
"$root/hack/bed/up.sh" "$bed"
controller_pid=
cleanup() {
  [ -n "$controller_pid" ] && kill "$controller_pid" 2>/dev/null && wait "$controller_pid" 2>/dev/null
  "$root/hack/bed/down.sh" "$bed"
}
trap cleanup EXIT
# shellcheck disable=SC1091
source "$bed/env"
py="$("$root/hack/bed/moto-venv.sh")/bin/python"
aws() { "$py" "$root/hack/aws.py" "$@"; }

say "install the CRD"
"$bin" crd --all | kubectl apply -f -
kubectl wait --for condition=established crd/trailpolicies.trailwarden.dev --timeout=30s

say "an S3 bucket (with access logging) and a KMS key for the trail, in the emulator; both weak"
aws setup trailwarden-demo-logs alias/trailwarden-demo

say "the event path: an SQS queue and an EventBridge rule for CloudTrail's API-call events"
queue=$(aws events-setup trailwarden-demo-events)
echo "queue $queue"

http_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
say "run the controller (log: $bed/controller.log, metrics: http://127.0.0.1:$http_port/metrics)"
"$bin" run --http-addr "127.0.0.1:$http_port" --events-queue-url "$queue" > "$bed/controller.log" 2>&1 &
controller_pid=$!

say "apply examples/demo.yaml"
kubectl apply -f examples/demo.yaml
kubectl wait --for condition=Synced tp/demo-audit --timeout=60s
kubectl get tp demo-audit
echo "AWS says: $(aws status $trail)"

# Breaks the trail with $2 and publishes the call's event $3 (as CloudTrail does on AWS;
# the emulator does not), then polls AWS until the python predicate $4 holds.
break_and_heal() {
  local what=$1 breaker=$2 event=$3 healed=$4
  say "break: $what"
  aws "$breaker" "$trail"
  local start now
  start=$(date +%s%N)
  aws publish "$event" "$trail"
  echo "AWS says: $(aws status $trail)"
  for _ in $(seq 1 240); do
    if aws status "$trail" | "$py" -c "import json,sys; s=json.load(sys.stdin); sys.exit(0 if ($healed) else 1)"; then
      now=$(date +%s%N)
      printf 'healed in %d ms — AWS says: %s\n' $(( (now - start) / 1000000 )) "$(aws status $trail)"
      return 0
    fi
    sleep 0.25
  done
  echo "not healed within 60 s" >&2
  return 1
}

break_and_heal "someone runs StopLogging" stop-logging StopLogging 's["exists"] and s["logging"]'
break_and_heal "someone turns off log-file validation" disable-validation UpdateTrail 's["exists"] and s["validation"]'
break_and_heal "someone deletes the trail" delete DeleteTrail 's["exists"] and s["logging"]'

say "what kubectl shows"
sleep 1
kubectl get tp
kubectl get events --field-selector involvedObject.name=demo-audit \
  -o custom-columns=TYPE:.type,REASON:.reason,MESSAGE:.message --sort-by=.metadata.creationTimestamp
kubectl get tp demo-audit -o jsonpath='{.status.remediationCount} remediations; last: {.status.lastRemediation.actions}{"\n"}'
kubectl get tp demo-audit -o jsonpath='{range .status.compliance[*]}{.status}{"\t"}{.id}{"\t"}{.controls}{"\n"}{end}'

say "trailwarden check: the same judgement from a CI pipeline, without a cluster"
"$bin" check -f examples/demo.yaml | head -n 4 || true

say "what Prometheus scrapes"
curl -s "http://127.0.0.1:$http_port/metrics" \
  | grep -E '^trailwarden_(trail_[a-z_]+\{|remediations_total|heal_seconds_(count|sum)|events_total|leader )'

say "demo done"
