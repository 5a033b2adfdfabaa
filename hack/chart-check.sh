#!/usr/bin/env bash
# Checks of the Helm chart in charts/trailwarden, against the test bed's real apiserver.
# Usage: hack/chart-check.sh [METRICS_SCRAPE]
#   METRICS_SCRAPE  a file holding a /metrics scrape of a running controller; with it, every
#                   metric the alerts and the dashboard use must appear in it (else skipped).
# Needs KUBECONFIG in the environment (source the bed's env file, as `make test` does);
# helm and promtool come from hack/tools.sh. Each check prints PASS, FAIL or SKIP; the last
# line is "chart-checks: N passed, M failed" and the exit status is non-zero when M > 0.
set -uo pipefail   # no -e here: each check runs in a subshell of its own with -e
root=$(cd "$(dirname "$0")/.." && pwd)
chart=$root/charts/trailwarden
scrape=${1:-}
ns=${CHART_CHECK_NAMESPACE:-trailwarden-chart-check}
release=trailwarden
all_options=$chart/ci/all-options-values.yaml

# shellcheck source=hack/checks.sh
source "$root/hack/checks.sh"

# ---------------------------------------------------------------------------------------
# The tools.

tools_ready() {
  local tools
  tools=$("$root/hack/tools.sh" all)
  helm=$(echo "$tools" | sed -n 1p)
  promtool=$(echo "$tools" | sed -n 2p)
  [ -x "$helm" ] && [ -x "$promtool" ]
  # PyYAML for reading YAML: the bed's moto venv has it.
  py="$("$root/hack/bed/moto-venv.sh")/bin/python"
  "$py" -c 'import yaml'
  printf '%s\n%s\n%s\n' "$helm" "$promtool" "$py" > "$work/tools"
  echo "note: $("$helm" version --short), $("$promtool" --version 2>&1 | head -n 1)"
}
check "helm and promtool are at hand (hack/tools.sh)" tools_ready
helm=$(sed -n 1p "$work/tools" 2>/dev/null || true); helm=${helm:-helm}
promtool=$(sed -n 2p "$work/tools" 2>/dev/null || true); promtool=${promtool:-promtool}
py=$(sed -n 3p "$work/tools" 2>/dev/null || true); py=${py:-python3}

# Kinds of the objects in a multi-document YAML file, one per line, sorted.
kinds() {
  "$py" -c 'import sys, yaml
print("\n".join(sorted(d["kind"] for d in yaml.safe_load_all(open(sys.argv[1])) if d)))' "$1"
}

render() { # OUT [helm template args...]
  local out=$1; shift
  "$helm" template "$release" "$chart" --namespace "$ns" "$@" > "$out"
}

# ---------------------------------------------------------------------------------------
# The chart itself.

crd_is_copy() {
  local kind
  for kind in trailpolicy trailpolicyset; do
    if ! cmp -s "$root/crds/$kind.yaml" "$chart/files/$kind-crd.yaml"; then
      echo "charts/trailwarden/files/$kind-crd.yaml is stale; refresh it with make crd"
      diff -u "$root/crds/$kind.yaml" "$chart/files/$kind-crd.yaml" | head -n 30
      return 1
    fi
  done
  # The template renders them unchanged, in this order, but for our labels and the keep
  # annotation.
  render "$work/crd.yaml" --show-only templates/crd.yaml
  "$py" - "$root/crds/trailpolicy.yaml" "$root/crds/trailpolicyset.yaml" "$work/crd.yaml" <<'PY'
import sys, yaml
wants = [yaml.safe_load(open(f)) for f in sys.argv[1:3]]
gots = [d for d in yaml.safe_load_all(open(sys.argv[3])) if d]
if len(gots) != len(wants):
    sys.exit(f"templates/crd.yaml rendered {len(gots)} documents, want {len(wants)} (crds/trailpolicy.yaml, crds/trailpolicyset.yaml)")
for path, want, got in zip(("crds/trailpolicy.yaml", "crds/trailpolicyset.yaml"), wants, gots):
    annotations = got["metadata"].pop("annotations")
    labels = got["metadata"].pop("labels")
    want["metadata"].pop("annotations", None); want["metadata"].pop("labels", None)
    if got != want:
        sys.exit(f"the rendered CRD {got['metadata'].get('name')} differs from {path}")
    if annotations.get("helm.sh/resource-policy") != "keep" or labels.get("app.kubernetes.io/managed-by") != "Helm":
        sys.exit(f"{want['metadata']['name']}: annotations {annotations}, labels {labels}")
PY
}
check "the chart's CRDs (files/*-crd.yaml, templates/crd.yaml) are crds/trailpolicy.yaml and crds/trailpolicyset.yaml" crd_is_copy

check "helm lint --strict (default values)" "$helm" lint --strict "$chart"
check "helm lint --strict (ci/all-options-values.yaml)" "$helm" lint --strict "$chart" -f "$all_options"

render_default() {
  render "$work/default.yaml"
  local want got
  want=$(printf '%s\n' ClusterRole ClusterRoleBinding CustomResourceDefinition CustomResourceDefinition Deployment Pod PodDisruptionBudget Role RoleBinding Service ServiceAccount)
  got=$(kinds "$work/default.yaml")
  [ "$got" = "$want" ] || { echo "rendered kinds:"; echo "$got"; echo "expected:"; echo "$want"; return 1; }
}
check "helm template renders (default values)" render_default

render_all() {
  render "$work/all.yaml" -f "$all_options"
  local want got
  want=$(printf '%s\n' ClusterRole ClusterRoleBinding ConfigMap CustomResourceDefinition CustomResourceDefinition Deployment NetworkPolicy Pod \
    PodDisruptionBudget PrometheusRule Role RoleBinding Service ServiceAccount ServiceMonitor \
    ValidatingAdmissionPolicy ValidatingAdmissionPolicy ValidatingAdmissionPolicyBinding ValidatingAdmissionPolicyBinding)
  got=$(kinds "$work/all.yaml")
  [ "$got" = "$want" ] || { echo "rendered kinds:"; echo "$got"; echo "expected:"; echo "$want"; return 1; }
}
check "helm template renders (ci/all-options-values.yaml)" render_all

no_pdb_for_one_replica() {
  render "$work/one.yaml" --set replicaCount=1
  ! kinds "$work/one.yaml" | grep -qx PodDisruptionBudget || { echo "a PodDisruptionBudget was rendered for 1 replica"; return 1; }
}
check "replicaCount=1 renders no PodDisruptionBudget" no_pdb_for_one_replica

leader_election_guard() {
  if render "$work/guard.yaml" --set leaderElection.enabled=false > "$work/guard.err" 2>&1; then
    echo "2 replicas without leader election rendered"; return 1
  fi
  grep -q 'needs leaderElection.enabled' "$work/guard.err" || { cat "$work/guard.err"; return 1; }
  # One replica without leader election is fine, and has no Lease Role.
  render "$work/single.yaml" --set replicaCount=1 --set leaderElection.enabled=false
  ! kinds "$work/single.yaml" | grep -qx Role || { echo "a leader-election Role was rendered without leader election"; return 1; }
  grep -A1 'name: TRAILWARDEN_LEADER_ELECTION' "$work/single.yaml" | grep -q 'value: "false"'
}
check "replicaCount > 1 without leader election is refused; 1 replica without it renders" leader_election_guard

schema_rejects() {
  local bad
  for bad in logFormat=xml replicaCont=2 aws.region=mars leaderElection.leaseDurationSeconds=1 \
    serviceMonitor.interval=often image.pullPolicy=Sometimes admissionPolicy.enable=true \
    admissionPolicy.privilegedGroups=admins podAntiAffinityPreset=sometimes image.digest=latest \
    networkPolicy.enable=true 'networkPolicy.httpsCidrs={anywhere}'; do
    if render "$work/bad.yaml" --set "$bad" > "$work/bad.err" 2>&1; then
      echo "--set $bad was accepted"; return 1
    fi
    grep -q 'values don.t meet the specifications of the schema' "$work/bad.err" \
      || { echo "--set $bad failed, but not by the schema:"; cat "$work/bad.err"; return 1; }
  done
}
check "values.schema.json refuses bad values (typo, unknown enum, bad region, duration)" schema_rejects

# The Deployment's pod placement, image and arguments as values set them.
pod_options() {
  render "$work/pod-default.yaml" --show-only templates/deployment.yaml
  render "$work/pod-hard.yaml" --show-only templates/deployment.yaml --set podAntiAffinityPreset=hard
  render "$work/pod-none.yaml" --show-only templates/deployment.yaml --set podAntiAffinityPreset=none
  render "$work/pod-all.yaml" --show-only templates/deployment.yaml -f "$all_options"
  ! kinds "$work/default.yaml" | grep -qx NetworkPolicy || { echo "a NetworkPolicy was rendered by default"; return 1; }
  "$py" - "$work"/pod-{default,hard,none,all}.yaml <<'PY'
import sys, yaml
default, hard, none, full = (yaml.safe_load(open(f))["spec"]["template"]["spec"] for f in sys.argv[1:5])
selector = {"app.kubernetes.io/name": "trailwarden", "app.kubernetes.io/instance": "trailwarden"}
term = {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": selector}}
want = {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "podAffinityTerm": term}]}
assert default["affinity"]["podAntiAffinity"] == want, default["affinity"]
assert hard["affinity"]["podAntiAffinity"] == {"requiredDuringSchedulingIgnoredDuringExecution": [term]}, hard["affinity"]
assert "affinity" not in none, none.get("affinity")
c = default["containers"][0]
assert c["image"] == "ghcr.io/trailwarden/trailwarden:0.2.0" and c["args"] == ["run"], (c["image"], c["args"])
assert {e["name"]: e.get("value") for e in c["env"]}["TRAILWARDEN_HTTP_ADDR"] == "[::]:8080"
assert "volumes" not in default and "topologySpreadConstraints" not in default
c = full["containers"][0]
assert c["image"].startswith("registry.example.com/security/trailwarden@sha256:"), c["image"]
assert c["args"] == ["run", "--http-addr=0.0.0.0:8080", "--selector=team=security"], c["args"]
assert [m["name"] for m in c["volumeMounts"]] == ["proxy-ca", "tmp"] and [v["name"] for v in full["volumes"]] == ["proxy-ca", "tmp"]
# ci/all-options-values.yaml sets affinity, which replaces the preset's.
assert full["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]["weight"] == 100
zone, host = full["topologySpreadConstraints"]
assert zone["labelSelector"] == {"matchLabels": {"app.kubernetes.io/name": "warden", "app.kubernetes.io/instance": "trailwarden"}}, zone
assert host["labelSelector"] == {"matchLabels": {"app.kubernetes.io/name": "warden"}}, host
PY
}
check "pod options: soft anti-affinity by default (hard, none), affinity overrides, spread constraints, image.digest, extraArgs, extra volumes" pod_options

# charts/trailwarden/README.md is helm-docs' output for values.yaml's "# --" comments.
chart_readme() {
  local helm_docs; helm_docs=$("$root/hack/tools.sh" helm-docs)
  rm -rf "$work/readme"; mkdir -p "$work/readme"; cp -r "$chart" "$work/readme/"
  "$helm_docs" --chart-search-root "$work/readme/trailwarden" --sort-values-order file --skip-version-footer > /dev/null 2>&1
  diff -u "$chart/README.md" "$work/readme/trailwarden/README.md" > "$work/readme.diff" || {
    echo "charts/trailwarden/README.md is stale; regenerate it with:"
    echo "  \$(hack/tools.sh helm-docs) --chart-search-root charts/trailwarden --sort-values-order file --skip-version-footer"
    head -n 30 "$work/readme.diff"; return 1
  }
}
check "charts/trailwarden/README.md is helm-docs' output for values.yaml (hack/tools.sh helm-docs)" chart_readme

# ---------------------------------------------------------------------------------------
# The rendered manifests against the real apiserver.

kube() { kubectl --request-timeout=30s "$@"; }

need_bed() {
  [ -n "${KUBECONFIG:-}" ] || {
    echo "KUBECONFIG is not set: these checks need the test bed (make test, or hack/bed/up.sh DIR && source DIR/env)"
    return 1
  }
  kube create namespace "$ns" --dry-run=client -o yaml | kube apply -f - > /dev/null
}

# The bed's apiserver reports the version it was built from (hack/bed/build-bins.sh stamps
# it), so Chart.yaml's kubeVersion and Helm's version checks meet a real version: the
# chart installs, and a copy of it wanting a newer Kubernetes is refused.
bed_version() {
  need_bed
  local KUBE_VERSION
  # shellcheck source=bed/versions.env
  source "$root/hack/bed/versions.env"
  kube get --raw /version > "$work/version.json"
  "$py" - "$work/version.json" "$KUBE_VERSION" <<'PY'
import json, sys
v, want = json.load(open(sys.argv[1])), sys.argv[2]
major, minor = want.lstrip("v").split(".")[:2]
got = (v["gitVersion"], v["major"], v["minor"])
if got != (want, major, minor):
    sys.exit(f"the apiserver reports {got}, want {(want, major, minor)} (hack/bed/versions.env)")
PY
  rm -rf "$work/newer"; mkdir -p "$work/newer"; cp -r "$chart" "$work/newer/"
  sed -i 's/^kubeVersion: .*/kubeVersion: ">=1.99.0-0"/' "$work/newer/trailwarden/Chart.yaml"
  if "$helm" install "$release" "$work/newer/trailwarden" --namespace "$ns" --dry-run=server --set crds.enabled=false > "$work/newer.out" 2>&1; then
    echo "a chart wanting Kubernetes >=1.99 installed on $KUBE_VERSION"; return 1
  fi
  grep -q 'kubeVersion' "$work/newer.out" || { cat "$work/newer.out"; return 1; }
  echo "note: the bed's apiserver reports $KUBE_VERSION; kubeVersion $(awk '$1 == "kubeVersion:" {print $2}' "$chart/Chart.yaml") holds, >=1.99.0-0 is refused"
}
check "the bed's apiserver reports the version of hack/bed/versions.env; Helm's kubeVersion check uses it" bed_version

# The Prometheus Operator's CRDs are not on the bed. Minimal stand-ins (the real group,
# versions and kinds, any spec) let the apiserver take ServiceMonitor and PrometheusRule
# objects; the stand-ins check their metadata and apiVersion/kind, not their spec.
standin_crds() {
  local kind plural missing=()
  for kind in ServiceMonitor PrometheusRule; do
    plural="$(echo "$kind" | tr '[:upper:]' '[:lower:]')s"
    kube get crd "$plural.monitoring.coreos.com" > /dev/null 2>&1 || missing+=("$kind")
  done
  if [ ${#missing[@]} = 0 ]; then
    if kube get crd -l trailwarden.dev/chart-check=stand-in -o name | grep -q .; then
      echo "note: using stand-in CRDs for ServiceMonitor and PrometheusRule (spec unchecked) installed by an earlier run"
    fi
    return 0
  fi
  for kind in "${missing[@]}"; do
    plural="$(echo "$kind" | tr '[:upper:]' '[:lower:]')s"
    cat <<YAML
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: $plural.monitoring.coreos.com
  labels: { trailwarden.dev/chart-check: stand-in }
spec:
  group: monitoring.coreos.com
  names: { kind: $kind, listKind: ${kind}List, plural: $plural, singular: $(echo "$kind" | tr '[:upper:]' '[:lower:]') }
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          required: [spec]
          properties:
            spec: { type: object, x-kubernetes-preserve-unknown-fields: true }
YAML
  done | kube apply --server-side --field-manager=trailwarden-chart-check -f - > /dev/null
  for kind in "${missing[@]}"; do
    plural="$(echo "$kind" | tr '[:upper:]' '[:lower:]')s"
    kube wait --for condition=Established --timeout=30s "crd/$plural.monitoring.coreos.com" > /dev/null
  done
  echo "note: installed stand-in CRDs for ${missing[*]} (monitoring.coreos.com/v1, spec unchecked): the Prometheus Operator is not on the bed"
}

dry_run() { # FILE
  need_bed
  kube apply --server-side --dry-run=server --field-manager=trailwarden-chart-check -f "$1"
}
check "server-side dry-run on the bed's apiserver (default values)" dry_run "$work/default.yaml"

dry_run_all() {
  need_bed
  standin_crds
  kube apply --server-side --dry-run=server --field-manager=trailwarden-chart-check -f "$work/all.yaml"
}
check "server-side dry-run on the bed's apiserver (ci/all-options-values.yaml)" dry_run_all

# The default render (as release "chart-check", CRDs left out) applied for real (the bed
# runs no controller-manager, so no pod starts), then the apiserver asked, as the chart's
# ServiceAccount, for every permission the controller uses and for some it must not have.
# The objects are deleted afterwards.
rbac() {
  need_bed
  # kubectl auth can-i resolves resource names through discovery, so the TrailPolicy and
  # TrailPolicySet CRDs must be served: install the chart's copy for real when the bed
  # lacks one.
  local crd plural
  for crd in trailpolicy:trailpolicies trailpolicyset:trailpolicysets; do
    plural=${crd#*:} crd=${crd%%:*}
    if ! kube get crd "$plural.trailwarden.dev" > /dev/null 2>&1; then
      kube apply --server-side --field-manager=trailwarden-chart-check -f "$root/crds/$crd.yaml" > /dev/null
      kube wait --for condition=Established --timeout=30s "crd/$plural.trailwarden.dev" > /dev/null
      echo "note: installed the CRD crds/$crd.yaml on the bed"
    fi
  done
  # The CRDs left out: these objects are deleted afterwards, and the bed's CRDs must stay.
  "$helm" template chart-check "$chart" --namespace "$ns" --set crds.enabled=false > "$work/rbac.yaml"
  kube apply --server-side --field-manager=trailwarden-chart-check -f "$work/rbac.yaml" > /dev/null
  local sa="system:serviceaccount:$ns:chart-check-trailwarden" bad=0 asked=0 verb what want got
  while read -r want verb what; do
    [ -n "$want" ] || continue
    asked=$((asked + 1))
    # WHAT is RESOURCE[/NAME][:SUBRESOURCE][@NAMESPACE] (namespace default: default).
    local target=${what%%@*} args
    args=("$verb" "${target%%:*}" --as "$sa")
    case $what in *@*) args+=(-n "${what##*@}") ;; *) args+=(-n default) ;; esac
    case $target in *:*) args+=(--subresource "${target##*:}") ;; esac
    if kube auth can-i "${args[@]}" > /dev/null 2>&1; then got=yes; else got=no; fi
    [ "$got" = "$want" ] || { echo "can-i ${args[*]}: $got, want $want"; bad=1; }
  done <<CASES
yes get       trailpolicies.trailwarden.dev
yes list      trailpolicies.trailwarden.dev
yes watch     trailpolicies.trailwarden.dev
yes create    trailpolicies.trailwarden.dev
yes patch     trailpolicies.trailwarden.dev
yes update    trailpolicies.trailwarden.dev
yes delete    trailpolicies.trailwarden.dev
yes get       trailpolicies.trailwarden.dev:status
yes patch     trailpolicies.trailwarden.dev:status
yes update    trailpolicies.trailwarden.dev:status
yes update    trailpolicies.trailwarden.dev:finalizers
yes get       trailpolicysets.trailwarden.dev
yes list      trailpolicysets.trailwarden.dev
yes watch     trailpolicysets.trailwarden.dev
yes patch     trailpolicysets.trailwarden.dev:status
yes update    trailpolicysets.trailwarden.dev:finalizers
yes create    events.events.k8s.io
yes patch     events.events.k8s.io
yes create    events
yes patch     events
yes create    events.events.k8s.io@kube-system
yes create    leases.coordination.k8s.io@$ns
yes get       leases.coordination.k8s.io/trailwarden@$ns
yes update    leases.coordination.k8s.io/trailwarden@$ns
no  deletecollection trailpolicies.trailwarden.dev
no  create    trailpolicies.trailwarden.dev:status
no  patch     trailpolicies.trailwarden.dev:finalizers
no  create    trailpolicysets.trailwarden.dev
no  patch     trailpolicysets.trailwarden.dev
no  update    trailpolicysets.trailwarden.dev
no  delete    trailpolicysets.trailwarden.dev
no  update    trailpolicysets.trailwarden.dev:status
no  delete    events.events.k8s.io
no  get       secrets@$ns
no  list      leases.coordination.k8s.io@$ns
no  update    leases.coordination.k8s.io/someone-else@$ns
no  delete    leases.coordination.k8s.io/trailwarden@$ns
no  create    leases.coordination.k8s.io@default
no  update    customresourcedefinitions.apiextensions.k8s.io
CASES
  kube delete --wait=false -f "$work/rbac.yaml" > /dev/null
  [ "$bad" = 0 ]
  echo "note: all $asked kubectl auth can-i answers as $sa are as expected"
}
check "RBAC: the ServiceAccount may do what the controller does and no more (kubectl auth can-i)" rbac

# Helm's own install path against the bed, without installing: hooks, ownership checks
# and NOTES.txt, for both values files.
helm_install_dry_run() {
  need_bed
  local values
  for values in "" "$all_options"; do
    # The bed's CRD was not installed by Helm: left out here, as a second release would.
    "$helm" install "$release" "$chart" --namespace "$ns" --dry-run=server --set crds.enabled=false ${values:+-f "$values"} > "$work/install.out"
    grep -q '^NOTES:' "$work/install.out" || { echo "no NOTES in the output of helm install --dry-run ${values:+-f $values}"; return 1; }
  done
}
check "helm install --dry-run=server against the bed, NOTES.txt included (both values files)" helm_install_dry_run

# A CRD upgrade as a user meets it, on a bed of its own (this one replaces the CRD):
# the chart as released before `adoptionMayWeaken` existed (its CRD in crds/, which Helm
# never upgrades) installed; a policy with the new field loses it to the old schema; the
# CRD handed to the release as the README says; `helm upgrade` to this chart; the field
# is then kept, and the TrailPolicySet CRD installed beside it.
OLD_CHART_COMMIT=656b921
crd_upgrade() {
  local bed="$work/upgrade-bed" old="$work/old-chart"
  mkdir -p "$old"
  git -C "$root" archive "$OLD_CHART_COMMIT" charts/trailwarden | tar -x -C "$old"
  [ -f "$old/charts/trailwarden/crds/trailpolicy.yaml" ] || { echo "the old chart has no crds/"; return 1; }
  "$root/hack/bed/up.sh" "$bed" > "$work/upgrade-bed.log" 2>&1 || { tail "$work/upgrade-bed.log"; return 1; }
  local rc=0
  (
    set -e
    export KUBECONFIG="$bed/kubeconfig"
    k() { kubectl "$@"; }
    policy() { # NAME
      printf 'apiVersion: trailwarden.dev/v1alpha1\nkind: TrailPolicy\nmetadata: {name: %s}\nspec: {region: us-east-1, s3: {bucketName: audit-logs}, adoptionMayWeaken: true}\n' "$1"
    }
    "$helm" install tw "$old/charts/trailwarden" --namespace tw --create-namespace > /dev/null
    k wait --for condition=Established --timeout=30s crd/trailpolicies.trailwarden.dev > /dev/null
    policy before | k apply --validate=false -f - > /dev/null
    [ -z "$(k get tp before -o jsonpath='{.spec.adoptionMayWeaken}')" ] || { echo "the old CRD kept a field it does not know"; exit 1; }
    # Hand the CRD Helm installed from crds/ to the release (README: upgrading from a chart
    # with crds/), then upgrade.
    k label crd trailpolicies.trailwarden.dev app.kubernetes.io/managed-by=Helm --overwrite > /dev/null
    k annotate crd trailpolicies.trailwarden.dev meta.helm.sh/release-name=tw meta.helm.sh/release-namespace=tw --overwrite > /dev/null
    "$helm" upgrade tw "$chart" --namespace tw > /dev/null
    policy after | k apply -f - > /dev/null
    [ "$(k get tp after -o jsonpath='{.spec.adoptionMayWeaken}')" = "true" ] || { echo "after helm upgrade the new field is still pruned"; exit 1; }
    [ "$(k get crd trailpolicies.trailwarden.dev -o jsonpath='{.metadata.annotations.helm\.sh/resource-policy}')" = "keep" ]
    # The TrailPolicySet CRD, which the old chart lacked, comes with the upgrade, kept alike.
    [ "$(k get crd trailpolicysets.trailwarden.dev -o jsonpath='{.metadata.annotations.helm\.sh/resource-policy}')" = "keep" ]
    # Uninstalled, the CRDs (and so every policy) stay.
    "$helm" uninstall tw --namespace tw > /dev/null
    k get crd trailpolicies.trailwarden.dev trailpolicysets.trailwarden.dev > /dev/null
    k get tp after > /dev/null
  ) || rc=$?
  "$root/hack/bed/down.sh" "$bed" > /dev/null 2>&1 || true
  return "$rc"
}
check "CRD upgrade: chart at $OLD_CHART_COMMIT installed, upgraded to this one, the new field kept, the TrailPolicySet CRD added; uninstall keeps the CRDs" crd_upgrade

# ---------------------------------------------------------------------------------------
# Alerts and dashboard.

check "render tests (charts/trailwarden/tests/render_test.py: flags, lease, alerts, relabelings, helm test pod, docs/eks values, CRDs, ClusterRole, admission policies)" "$py" "$chart/tests/render_test.py" "$helm" "$promtool"

check "promtool check rules files/alerts.yaml" "$promtool" check rules "$chart/files/alerts.yaml"
check "promtool test rules tests/alerts_test.yaml" "$promtool" test rules "$chart/tests/alerts_test.yaml"

# The PrometheusRule holds the very rules promtool tested: with default values (release
# "trailwarden", whose full name is the job the file names) its groups equal
# files/alerts.yaml's; a driftPersistingFor changes only TrailDriftPersisting's `for`; another
# release name changes only the job matchers, and runbookBaseUrl only the runbook URLs' base.
rule_is_file() {
  render "$work/rule.yaml" --set prometheusRule.enabled=true --show-only templates/prometheusrule.yaml
  render "$work/rule10.yaml" --set prometheusRule.enabled=true --set prometheusRule.driftPersistingFor=10m \
    --show-only templates/prometheusrule.yaml
  "$helm" template audit "$chart" --namespace "$ns" --set prometheusRule.enabled=true \
    --set prometheusRule.runbookBaseUrl=https://wiki.example.com/trailwarden/runbooks --show-only templates/prometheusrule.yaml > "$work/rule-audit.yaml"
  "$py" - "$chart/files/alerts.yaml" "$work/rule.yaml" "$work/rule10.yaml" "$work/rule-audit.yaml" <<'PY'
import copy, sys, yaml
file_groups = yaml.safe_load(open(sys.argv[1]))["groups"]
rendered = yaml.safe_load(open(sys.argv[2]))["spec"]["groups"]
if rendered != file_groups:
    sys.exit("the PrometheusRule's groups differ from files/alerts.yaml")
want = copy.deepcopy(file_groups)
for group in want:
    for rule in group["rules"]:
        if rule.get("alert") == "TrailDriftPersisting":
            rule["for"] = "10m"
if yaml.safe_load(open(sys.argv[3]))["spec"]["groups"] != want:
    sys.exit("driftPersistingFor=10m changed more (or less) than TrailDriftPersisting's for")
want = copy.deepcopy(file_groups)
for group in want:
    for rule in group["rules"]:
        if 'job="trailwarden"' not in rule["expr"]:
            sys.exit(f"{rule['alert']}: its expr does not match the job (job=\"trailwarden\")")
        rule["expr"] = rule["expr"].replace('job="trailwarden"', 'job="audit-trailwarden"')
        url = rule["annotations"]["runbook_url"]
        rule["annotations"]["runbook_url"] = "https://wiki.example.com/trailwarden/runbooks#" + url.split("#", 1)[1]
if yaml.safe_load(open(sys.argv[4]))["spec"]["groups"] != want:
    sys.exit("release audit with a runbookBaseUrl changed more (or less) than the job matchers and runbook URLs")
PY
}
check "PrometheusRule carries files/alerts.yaml (only for, job and runbook base from values and release)" rule_is_file

# Every alert links to its runbook: a runbook_url whose anchor is a heading of
# docs/runbooks.md (as GitHub derives anchors: lower case, spaces to '-', punctuation
# dropped), and the URL's base is the chart's default runbookBaseUrl.
runbooks() {
  "$py" - "$chart/files/alerts.yaml" "$root/docs/runbooks.md" "$chart/values.yaml" <<'PY'
import re, sys, yaml
rules = [r for g in yaml.safe_load(open(sys.argv[1]))["groups"] for r in g["rules"] if "alert" in r]
anchors, fenced = set(), False
for line in open(sys.argv[2]):
    if line.startswith("```"):
        fenced = not fenced
    m = None if fenced else re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
    if m:
        anchors.add(re.sub(r"[^\w\- ]", "", m.group(1).lower()).replace(" ", "-"))
base = yaml.safe_load(open(sys.argv[3]))["prometheusRule"]["runbookBaseUrl"]
bad = []
for rule in rules:
    url = rule.get("annotations", {}).get("runbook_url", "")
    if "#" not in url:
        bad.append(f"{rule['alert']}: no runbook_url with an anchor")
    elif url.split("#", 1)[0] != base:
        bad.append(f"{rule['alert']}: runbook_url {url} does not start with runbookBaseUrl {base}")
    elif url.split("#", 1)[1] not in anchors:
        bad.append(f"{rule['alert']}: #{url.split('#', 1)[1]} is no heading of docs/runbooks.md")
if bad:
    sys.exit("\n".join(bad))
print(f"note: {len(rules)} alerts, each with a runbook_url to its section of docs/runbooks.md")
PY
}
check "every alert's runbook_url points at a heading of docs/runbooks.md" runbooks

dashboard_is_file() {
  render "$work/dash.yaml" --set grafanaDashboard.enabled=true --show-only templates/grafana-dashboard.yaml
  "$py" - "$chart/files/dashboard.json" "$work/dash.yaml" <<'PY'
import json, sys, yaml
dashboard = json.load(open(sys.argv[1]))
cm = yaml.safe_load(open(sys.argv[2]))
if cm["metadata"]["labels"].get("grafana_dashboard") != "1":
    sys.exit("the ConfigMap lacks the label grafana_dashboard: \"1\"")
if json.loads(cm["data"]["trailwarden.json"]) != dashboard:
    sys.exit("the ConfigMap's trailwarden.json differs from files/dashboard.json")
PY
}
check "dashboard ConfigMap carries files/dashboard.json, labelled grafana_dashboard: \"1\"" dashboard_is_file

# Every query of the dashboard, with Grafana's variables given values, as a recording rule
# that promtool parses.
dashboard_promql() {
  "$py" - "$chart/files/dashboard.json" > "$work/dashboard-queries.yaml" <<'PY'
import json, sys
dashboard = json.load(open(sys.argv[1]))
exprs = []
def walk(panels):
    for panel in panels:
        walk(panel.get("panels", []))
        for target in panel.get("targets", []):
            exprs.append((panel["title"], target["expr"]))
walk(dashboard["panels"])
if not exprs:
    sys.exit("no queries found")
print("groups:\n  - name: dashboard-queries\n    rules:")
for i, (title, expr) in enumerate(exprs):
    expr = expr.replace("$__rate_interval", "5m").replace("$job", ".*").replace("$policy", ".*")
    print(f"      - record: dashboard:query_{i}\n        expr: {json.dumps(expr)}")
print(f"{len(exprs)} queries", file=sys.stderr)
PY
  "$promtool" check rules "$work/dashboard-queries.yaml"
}
check "every dashboard query is valid PromQL (promtool)" dashboard_promql

# Metric names the alerts and the dashboard query, histogram series reduced to their metric.
used_metrics() {
  "$py" - "$chart/files/alerts.yaml" "$chart/files/dashboard.json" <<'PY'
import json, re, sys, yaml
exprs = [r["expr"] for g in yaml.safe_load(open(sys.argv[1]))["groups"] for r in g["rules"]]
def walk(panels):
    for panel in panels:
        walk(panel.get("panels", []))
        exprs.extend(t["expr"] for t in panel.get("targets", []))
dashboard = json.load(open(sys.argv[2]))
walk(dashboard["panels"])
exprs.extend(v["definition"] for v in dashboard["templating"]["list"] if "definition" in v)
names = {re.sub(r"_(bucket|sum|count)$", "", n) for e in exprs for n in re.findall(r"\btrailwarden_[A-Za-z0-9_]+", e)}
print("\n".join(sorted(names)))
PY
}

metrics_registered() {
  used_metrics > "$work/used"
  [ -s "$work/used" ]
  grep -rhoE '"trailwarden_[a-z0-9_]+"' "$root/src" | tr -d '"' | sort -u > "$work/registered"
  local missing
  missing=$(comm -23 "$work/used" "$work/registered")
  [ -z "$missing" ] || { echo "used by alerts or dashboard but not registered in src/:"; echo "$missing"; return 1; }
  echo "note: $(wc -l < "$work/used") metric names used, all registered in src/"
}
check "alert and dashboard metrics are ones the controller registers (src/)" metrics_registered

metrics_scraped() {
  [ -r "$scrape" ] || { echo "cannot read the scrape file $scrape"; return 1; }
  used_metrics > "$work/used"
  [ -s "$work/used" ]
  # Names from "# TYPE name kind" lines and from samples; histogram series count for their metric.
  awk '$1 == "#" && $2 == "TYPE" {print $3; next} /^[a-zA-Z_:]/ {sub(/[{ ].*/, ""); print}' "$scrape" \
    | sed -E 's/_(bucket|sum|count)$//' | sort -u > "$work/scraped"
  local missing
  missing=$(comm -23 "$work/used" "$work/scraped")
  [ -z "$missing" ] || { echo "used by alerts or dashboard but absent from $scrape:"; echo "$missing"; return 1; }
  echo "note: $(wc -l < "$work/used") metric names used, all in the scrape"
}
process_metrics_scraped() {
  local name
  for name in process_cpu_seconds_total process_resident_memory_bytes process_open_fds process_start_time_seconds; do
    grep -q "^$name " "$scrape" || { echo "$name is absent from $scrape"; return 1; }
  done
}
if [ -n "$scrape" ]; then
  check "alert and dashboard metrics appear in the /metrics scrape ($scrape)" metrics_scraped
  check "process_* metrics (prometheus' process collector) appear in the scrape" process_metrics_scraped
else
  skip "alert and dashboard metrics appear in a /metrics scrape" "no scrape file given"
fi

[ "$skipped" = 0 ] || printf 'chart checks skipped: %d\n' "$skipped"
printf 'chart-checks: %d passed, %d failed\n' "$passed" "$failed"
[ "$failed" = 0 ]
