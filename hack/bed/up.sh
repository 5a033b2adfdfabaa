#!/usr/bin/env bash
# Starts the test bed on loopback: etcd, kube-apiserver (RBAC, TLS, client-cert admin)
# the moto AWS emulator, and a fault-injecting proxy in front of moto (fault_proxy.py).
# Usage: hack/bed/up.sh [DIR]   (default: .bed)
# Writes DIR/env (source it: KUBECONFIG, TRAILWARDEN_AWS_ENDPOINT, AWS_*, and the proxy's
# TRAILWARDEN_FAULTY_AWS_ENDPOINT / TRAILWARDEN_FAULT_CONTROL), DIR/pids and a log per
# process. hack/bed/down.sh DIR stops everything it started.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-$here/../../.bed}
mkdir -p "$dir"; dir=$(cd "$dir" && pwd)
if [ -f "$dir/pids" ]; then "$here/down.sh" "$dir"; fi
rm -rf "$dir"/{etcd-data,certs,*.log,env,pids,kubeconfig,aws-calls,metrics.prom,fault-proxy.port,moto.pid}
mkdir -p "$dir/certs"
started=$(date +%s%N)

bins=$("$here/build-bins.sh" all)
etcd_bin=$(echo "$bins" | sed -n 1p)
apiserver_bin=$(echo "$bins" | sed -n 2p)
venv=$("$here/moto-venv.sh")

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
etcd_client=$(free_port); etcd_peer=$(free_port); api_port=$(free_port); moto_port=$(free_port)

# Throwaway PKI: a CA, the apiserver's serving cert, an admin client cert and the
# service-account signing key pair.
c=$dir/certs
openssl_q() { openssl "$@" 2>/dev/null; }
openssl_q req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=trailwarden-bed-ca" -keyout "$c/ca.key" -out "$c/ca.crt"
openssl_q req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" -keyout "$c/apiserver.key" -out "$c/apiserver.csr"
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n' > "$c/apiserver.ext"
openssl_q x509 -req -in "$c/apiserver.csr" -CA "$c/ca.crt" -CAkey "$c/ca.key" -CAcreateserial -days 2 -extfile "$c/apiserver.ext" -out "$c/apiserver.crt"
openssl_q req -newkey rsa:2048 -nodes -subj "/O=system:masters/CN=bed-admin" -keyout "$c/admin.key" -out "$c/admin.csr"
printf 'extendedKeyUsage=clientAuth\n' > "$c/admin.ext"
openssl_q x509 -req -in "$c/admin.csr" -CA "$c/ca.crt" -CAkey "$c/ca.key" -CAcreateserial -days 2 -extfile "$c/admin.ext" -out "$c/admin.crt"
openssl_q genrsa -out "$c/sa.key" 2048
openssl_q rsa -in "$c/sa.key" -pubout -out "$c/sa.pub"

"$etcd_bin" --name bed --data-dir "$dir/etcd-data" \
  --listen-client-urls "http://127.0.0.1:$etcd_client" --advertise-client-urls "http://127.0.0.1:$etcd_client" \
  --listen-peer-urls "http://127.0.0.1:$etcd_peer" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" \
  --initial-cluster "bed=http://127.0.0.1:$etcd_peer" --unsafe-no-fsync --log-level warn \
  > "$dir/etcd.log" 2>&1 &
echo $! >> "$dir/pids"

"$apiserver_bin" --etcd-servers "http://127.0.0.1:$etcd_client" \
  --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
  --cert-dir "$c" --tls-cert-file "$c/apiserver.crt" --tls-private-key-file "$c/apiserver.key" \
  --client-ca-file "$c/ca.crt" --authorization-mode RBAC \
  --service-cluster-ip-range 10.0.0.0/24 \
  --service-account-key-file "$c/sa.pub" --service-account-signing-key-file "$c/sa.key" \
  --service-account-issuer https://kubernetes.default.svc \
  --disable-admission-plugins ServiceAccount --allow-privileged=true \
  > "$dir/kube-apiserver.log" 2>&1 &
echo $! >> "$dir/pids"

# moto answers in UTC so CloudTrail timestamps parse the same everywhere.
# CloudTrail delivery (hack/bed/delivery.py) on demand only: a test asks for each round
# (POST /moto-api/bed/deliver), so no timer writes into a bucket a test is emptying.
TZ=UTC TRAILWARDEN_BED_DELIVERY_SECONDS=${TRAILWARDEN_BED_DELIVERY_SECONDS:-0} "$venv/bin/python" "$here/moto_server.py" 127.0.0.1 "$moto_port" > "$dir/moto.log" 2>&1 &
echo $! >> "$dir/pids"
echo $! > "$dir/moto.pid"   # for hack/bed/moto.sh, which restarts moto alone

# The fault proxy forwards to moto and may answer as AWS does when it fails (throttling,
# 5xx, AccessDenied, resets, latency) by rules set at run time; it picks a free port and
# writes it to DIR/fault-proxy.port. See fault_proxy.py for its control API.
python3 "$here/fault_proxy.py" --upstream "http://127.0.0.1:$moto_port" --port-file "$dir/fault-proxy.port" \
  > "$dir/fault-proxy.log" 2>&1 &
echo $! >> "$dir/pids"

cat > "$dir/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: bed
  cluster:
    server: https://127.0.0.1:$api_port
    certificate-authority-data: $(base64 -w0 < "$c/ca.crt")
users:
- name: bed-admin
  user:
    client-certificate-data: $(base64 -w0 < "$c/admin.crt")
    client-key-data: $(base64 -w0 < "$c/admin.key")
contexts:
- name: bed
  context: { cluster: bed, user: bed-admin }
current-context: bed
KC

wait_for() { # name url [curl args...]
  local name=$1 url=$2; shift 2
  for _ in $(seq 1 600); do
    if curl -fsS -o /dev/null "$@" "$url" 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  echo "bed: $name did not become healthy; last log lines:" >&2
  tail -n 30 "$dir/$name.log" >&2
  "$here/down.sh" "$dir"
  exit 1
}
wait_for etcd "http://127.0.0.1:$etcd_client/health"
wait_for kube-apiserver "https://127.0.0.1:$api_port/readyz" --cacert "$c/ca.crt" --cert "$c/admin.crt" --key "$c/admin.key"
wait_for moto "http://127.0.0.1:$moto_port/moto-api/"
for _ in $(seq 1 100); do [ -s "$dir/fault-proxy.port" ] && break; sleep 0.05; done
proxy_port=$(cat "$dir/fault-proxy.port" 2>/dev/null || true)
wait_for fault-proxy "http://127.0.0.1:${proxy_port:-0}/__health"

cat > "$dir/env" <<ENV
export TRAILWARDEN_BED_DIR=$dir
export KUBECONFIG=$dir/kubeconfig
export TRAILWARDEN_AWS_ENDPOINT=http://127.0.0.1:$moto_port
# The AWS service models (botocore's, as moto ships them): tests/e2e/error_codes.rs holds
# the adapter's error table against them.
export TRAILWARDEN_BOTOCORE_DATA=$("$venv/bin/python" -c 'import botocore, os; print(os.path.join(os.path.dirname(botocore.__file__), "data"))')
# moto behind the fault proxy (tests/e2e/faults.rs): transparent until a rule is set at
# TRAILWARDEN_FAULT_CONTROL (PUT/DELETE /__faults[/NAME]); counts and writes at /__stats.
export TRAILWARDEN_FAULTY_AWS_ENDPOINT=http://127.0.0.1:$proxy_port
export TRAILWARDEN_FAULT_CONTROL=http://127.0.0.1:$proxy_port/__faults
export AWS_ACCESS_KEY_ID=testing
export AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
ENV
elapsed_ms=$(( ($(date +%s%N) - started) / 1000000 ))
printf 'bed: up in %d.%03ds (apiserver https://127.0.0.1:%s, moto http://127.0.0.1:%s, fault proxy :%s); source %s/env\n' \
  $((elapsed_ms / 1000)) $((elapsed_ms % 1000)) "$api_port" "$moto_port" "$proxy_port" "$dir"
