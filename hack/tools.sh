#!/usr/bin/env bash
# The tools the chart checks need, made available on a fresh machine and cached under
# ~/.cache/trailwarden/bin/<tool>-<version>/ (no release binaries can be downloaded here):
#   helm      built from its Go module through the Go module proxy
#   promtool  taken from Debian's `prometheus` package
#   helm-docs built from its Go module (writes the chart's README.md from values.yaml)
#   actionlint built from its Go module (lints .github/workflows; hack/release-check.sh)
# Prints one absolute path per line, in the order asked (default: helm, then promtool;
# helm-docs and actionlint only when asked for by name).
# A cached tool is reused as is, so only the first run on a machine pays for it.
# Usage: hack/tools.sh [helm|promtool|helm-docs|actionlint|all]
set -euo pipefail
cache=${TRAILWARDEN_CACHE:-$HOME/.cache/trailwarden}

# Helm 3 (the chart is apiVersion v2, which Helm 3 reads). v3.22.0 wants Go >= 1.26.0.
HELM_VERSION=v3.22.0
# helm-docs: the chart's README.md is its output; a new version may change the output, so
# changing this means regenerating the README (hack/chart-check.sh says how).
HELM_DOCS_VERSION=v1.14.2
# actionlint: checks the GitHub Actions workflows (syntax, expressions, action inputs, and
# each `run:` script with shellcheck when shellcheck is on the PATH). v1.7.12 builds with
# Go 1.25 or later.
ACTIONLINT_VERSION=v1.7.12

log() { printf 'tools: %s\n' "$*" >&2; }

# Builds `name` (cached as $cache/bin/<name>-<version>/<name>) with `go install`, static and
# reproducible, from the Go module package `pkg` at `version`; prints its path.
go_tool() {
  local name=$1 version=$2 pkg=$3 ldflags=$4
  local dir="$cache/bin/$name-$version"
  log "building $name $version from its Go module (first run only, a few minutes)"
  local started; started=$(date +%s)
  rm -rf "$dir.tmp"; mkdir -p "$dir.tmp"
  # GOFLAGS is cleared: `go install pkg@version` refuses -mod and needs nothing else.
  (cd /tmp && GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS='' GOBIN="$dir.tmp" go install -trimpath \
    -ldflags "$ldflags" "$pkg@$version" >&2)
  rm -rf "$dir"; mv "$dir.tmp" "$dir"
  log "$name $version built in $(( $(date +%s) - started ))s"
  echo "$dir/$name"
}

# A cached Go-built tool's path, or nothing; fails when it would have to be built without go.
cached_go_tool() {
  local name=$1 version=$2
  local path="$cache/bin/$name-$version/$name"
  if [ -x "$path" ]; then echo "$path"; return; fi
  command -v go >/dev/null || { log "building $name needs go on the PATH"; exit 1; }
}

helm_path() {
  local cached; cached=$(cached_go_tool helm "$HELM_VERSION")
  if [ -n "$cached" ]; then echo "$cached"; return; fi
  # The Kubernetes version helm assumes when it talks to no cluster (helm template, lint)
  # comes from the client-go it is built with, as helm's own Makefile sets it.
  local gomod client_go k8s_minor
  gomod=$(cd /tmp && GOTOOLCHAIN=local GOFLAGS='' go mod download -json "helm.sh/helm/v3@$HELM_VERSION" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  client_go=$(awk '$1 == "k8s.io/client-go" {print $2; exit}' "$gomod")   # e.g. v0.35.1
  k8s_minor=$(echo "$client_go" | cut -d. -f2)
  local ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  local pkg
  for pkg in pkg/lint/rules pkg/chartutil; do
    ldflags+=" -X helm.sh/helm/v3/$pkg.k8sVersionMajor=1 -X helm.sh/helm/v3/$pkg.k8sVersionMinor=$k8s_minor"
  done
  go_tool helm "$HELM_VERSION" helm.sh/helm/v3/cmd/helm "$ldflags"
}

helm_docs_path() {
  local cached; cached=$(cached_go_tool helm-docs "$HELM_DOCS_VERSION")
  if [ -n "$cached" ]; then echo "$cached"; return; fi
  go_tool helm-docs "$HELM_DOCS_VERSION" github.com/norwoodj/helm-docs/cmd/helm-docs \
    "-s -w -X main.version=${HELM_DOCS_VERSION#v}"
}

actionlint_path() {
  local cached; cached=$(cached_go_tool actionlint "$ACTIONLINT_VERSION")
  if [ -n "$cached" ]; then echo "$cached"; return; fi
  # The version variable its own release builds set, so `actionlint -version` names it.
  go_tool actionlint "$ACTIONLINT_VERSION" github.com/rhysd/actionlint/cmd/actionlint \
    "-s -w -X github.com/rhysd/actionlint.version=${ACTIONLINT_VERSION#v}"
}

promtool_path() {
  local cached
  for cached in "$cache"/bin/promtool-*/promtool; do
    if [ -x "$cached" ]; then echo "$cached"; return; fi
  done
  if command -v promtool >/dev/null; then command -v promtool; return; fi
  command -v apt-get >/dev/null || { log "promtool is missing and there is no apt-get to fetch it with"; exit 1; }
  local started; started=$(date +%s)
  # The package index may be absent or stale on a fresh machine: update it once, only
  # when the package has no candidate version.
  local candidate
  candidate=$(apt-cache policy prometheus 2>/dev/null | awk '/Candidate:/ {print $2}')
  if [ -z "$candidate" ] || [ "$candidate" = "(none)" ]; then
    log "apt-get update (no candidate for the prometheus package yet)"
    apt-get update -qq >&2
    candidate=$(apt-cache policy prometheus 2>/dev/null | awk '/Candidate:/ {print $2}')
  fi
  if [ -z "$candidate" ] || [ "$candidate" = "(none)" ]; then
    log "Debian offers no prometheus package here"; exit 1
  fi
  # Only the promtool binary is wanted. Installing the package would also add a system
  # user and start a Prometheus server on 0.0.0.0:9090, so the package is fetched with
  # apt and unpacked into the cache instead; promtool is a self-contained Go binary.
  log "fetching promtool from Debian's prometheus $candidate"
  local work; work=$(mktemp -d)
  (cd "$work" && apt-get download -q -o APT::Sandbox::User=root "prometheus=$candidate" >&2)
  dpkg-deb -x "$work"/prometheus_*.deb "$work/root"
  local dir="$cache/bin/promtool-${candidate//[:+~]/_}"
  mkdir -p "$dir"
  install -m 0755 "$work/root/usr/bin/promtool" "$dir/promtool"
  rm -rf "$work"
  log "promtool ready in $(( $(date +%s) - started ))s"
  echo "$dir/promtool"
}

case "${1:-all}" in
  helm) helm_path ;;
  promtool) promtool_path ;;
  helm-docs) helm_docs_path ;;
  actionlint) actionlint_path ;;
  all) helm_path; promtool_path ;;
  *) echo "usage: $0 [helm|promtool|helm-docs|actionlint|all]" >&2; exit 2 ;;
esac
