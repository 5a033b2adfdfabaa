#!/usr/bin/env bash
# Builds kube-apiserver and etcd from their Go modules (no binary downloads exist here)
# and caches them under ~/.cache/trailwarden/bin/<part>-<version>/. A cached binary is
# reused as is, so only the first run on a machine pays for the build.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
cache=${TRAILWARDEN_CACHE:-$HOME/.cache/trailwarden}
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0

build_apiserver() {
  local out="$cache/bin/kube-apiserver-$KUBE_VERSION/kube-apiserver"
  [ -x "$out" ] && { echo "$out"; return; }
  local src="$cache/src/kube-apiserver-$KUBE_VERSION"
  rm -rf "$src"; mkdir -p "$src" "$(dirname "$out")"
  # The staging replace list comes from the published kubernetes go.mod itself,
  # so it always matches the version we build.
  local modfile
  modfile=$(cd "$src" && go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  local minor=${KUBE_VERSION#v1.}
  local staging_version="v0.$minor"
  {
    echo "module trailwarden.dev/bed/kube-apiserver"
    echo
    echo "go $(go env GOVERSION | sed 's/^go//; s/^\([0-9]*\.[0-9]*\).*/\1/')"
    echo
    echo "require k8s.io/kubernetes $KUBE_VERSION"
    echo
    echo "replace ("
    grep -E '^\s*k8s\.io/[a-z0-9-]+ => \./staging/' "$modfile" \
      | awk -v v="$staging_version" '{print "\t" $1 " => " $1 " " v}'
    echo ")"
  } > "$src/go.mod"
  cat > "$src/main.go" <<'GO'
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
GO
  (cd "$src" && go mod tidy >&2 && go build -trimpath -ldflags='-s -w' -o "$out.tmp" . >&2)
  mv "$out.tmp" "$out"
  echo "$out"
}

build_etcd() {
  local out="$cache/bin/etcd-$ETCD_VERSION/etcd"
  [ -x "$out" ] && { echo "$out"; return; }
  local src="$cache/src/etcd-$ETCD_VERSION"
  rm -rf "$src"; mkdir -p "$src" "$(dirname "$out")"
  cat > "$src/go.mod" <<MOD
module trailwarden.dev/bed/etcd

go $(go env GOVERSION | sed 's/^go//; s/^\([0-9]*\.[0-9]*\).*/\1/')

require go.etcd.io/etcd/server/v3 $ETCD_VERSION
MOD
  cat > "$src/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
GO
  (cd "$src" && go mod tidy >&2 && go build -trimpath -ldflags='-s -w' -o "$out.tmp" . >&2)
  mv "$out.tmp" "$out"
  echo "$out"
}

case "${1:-all}" in
  apiserver) build_apiserver ;;
  etcd) build_etcd ;;
  all) build_etcd; build_apiserver ;;
  *) echo "usage: $0 [apiserver|etcd|all]" >&2; exit 2 ;;
esac
