#!/usr/bin/env bash
# Builds kube-apiserver and etcd from their Go modules (no binary downloads exist here)
# and caches them under ~/.cache/trailwarden/bin/<part>-<version>[-<flavour>]/. A cached binary is
# reused as is, so only the first run on a machine pays for the build.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
cache=${TRAILWARDEN_CACHE:-$HOME/.cache/trailwarden}
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0

# The apiserver's build flavour is part of its cache key: "stamped" builds carry the
# version (see below), so a machine holding an older unstamped build rebuilds once.
APISERVER_FLAVOUR=stamped

build_apiserver() {
  local key="kube-apiserver-$KUBE_VERSION-$APISERVER_FLAVOUR"
  local out="$cache/bin/$key/kube-apiserver"
  [ -x "$out" ] && { echo "$out"; return; }
  mkdir -p "$cache/bin" "$(dirname "$out")"
  # Two beds started at once on a fresh machine must not build into the same source
  # directory: the second waits for the first and then reuses its binary.
  exec 9>"$cache/bin/.$key.lock"
  flock 9
  [ -x "$out" ] && { exec 9>&-; echo "$out"; return; }
  local src="$cache/src/$key"
  rm -rf "$src"; mkdir -p "$src"
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
  # Stamp the version the way Kubernetes' own build does (hack/lib/version.sh): the
  # -X variables k8s.io/component-base/version reads, so /version (kubectl version,
  # Helm's kubeVersion checks) reports e.g. v1.34.4 rather than v0.0.0-master. The module
  # carries no commit hash, so gitCommit is left empty; the build date is the version's
  # publication time from the module proxy, which keeps the build reproducible.
  local major=${KUBE_VERSION#v}; major=${major%%.*}
  local minor_only=${minor%%.*}
  local published
  published=$(cd "$src" && go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" \
    | python3 -c 'import json,sys; print(json.load(open(json.load(sys.stdin)["Info"]))["Time"])')
  local ldflags="-s -w" pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor_only"
    ldflags+=" -X $pkg.gitCommit= -X $pkg.gitTreeState=clean -X $pkg.buildDate=$published"
  done
  (cd "$src" && go mod tidy >&2 && go build -trimpath -ldflags="$ldflags" -o "$out.tmp" . >&2)
  mv "$out.tmp" "$out"
  exec 9>&-
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
