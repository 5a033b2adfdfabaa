#!/usr/bin/env python3
"""Render tests of the chart: what `helm template` makes of the values the chart offers.

    python3 charts/trailwarden/tests/render_test.py HELM [PROMTOOL]

HELM and PROMTOOL are the paths `hack/tools.sh all` prints (helm, then promtool). Needs
PyYAML. Each test prints PASS or FAIL; the exit status is non-zero when one fails.

- Every flag of `trailwarden run` (each `env = "TRAILWARDEN_..."` of RunArgs in
  src/main.rs) is set by the Deployment from a value of its own.
- The lease: what `trailwarden run` refuses (a renew deadline not above 0 and below the
  lease duration, with leader election on) fails the render with a message naming both
  values; what it accepts renders.
- extraEnv may not set a variable the chart sets.
- The alerts: prometheusRule.alerts.<name> (enabled, severity, for, labels),
  alertLabels and driftPersistingFor change what they say and nothing else; an unknown
  alert name fails the render; every rendered rule set passes `promtool check rules`.
- The ServiceMonitor's relabelings and metricRelabelings.
- The `helm test` pod: a test hook, restricted pod security, its image, labels the
  controller's Service does not select, and the NetworkPolicy admitting it.
- The EKS guide's values file (docs/eks/values.yaml) renders, labelled for a default
  kube-prometheus-stack.
- The CRDs: TrailPolicy and TrailPolicySet, as files/ holds them, labelled and kept on
  uninstall (crds.keep), or not rendered (crds.enabled: false).
- The ClusterRole: the verbs of each resource, the TrailPolicySet controller's (create
  and delete TrailPolicies; read sets, patch their status) included, and no more.
- The admission policies (admissionPolicy.enabled): the TrailPolicy policy and the
  TrailPolicySet policy with their bindings, in the order helm renders them; the
  controller's ServiceAccount privileged on generated (labelled) TrailPolicies only; every
  rule of each with its message, the floor's when floor.* is set; the set's shared rules
  the policy's own, read on spec.template.
"""
import copy
import os
import re
import subprocess
import sys
import tempfile

import yaml

CHART = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
ROOT = os.path.normpath(os.path.join(CHART, "..", ".."))
HELM = sys.argv[1] if len(sys.argv) > 1 else "helm"
PROMTOOL = sys.argv[2] if len(sys.argv) > 2 else None
ALL_OPTIONS = os.path.join(CHART, "ci", "all-options-values.yaml")
FILE_GROUPS = yaml.safe_load(open(os.path.join(CHART, "files", "alerts.yaml")))["groups"]

failed = 0


def helm(*args, values=None, ok=True):
    """`helm template trailwarden CHART` with args (and a values document); returns the
    documents, or with ok=False the error text (failing if the render succeeded)."""
    cmd = [HELM, "template", "trailwarden", CHART, "--namespace", "tw", *args]
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        if values is not None:
            yaml.safe_dump(values, f)
            f.flush()
            cmd += ["-f", f.name]
        out = subprocess.run(cmd, capture_output=True, text=True)
    if ok:
        if out.returncode != 0:
            raise AssertionError(f"helm template {' '.join(args)} {values or ''} failed:\n{out.stderr}")
        return [d for d in yaml.safe_load_all(out.stdout) if d]
    if out.returncode == 0:
        raise AssertionError(f"helm template {' '.join(args)} {values or ''} rendered; it should have failed")
    return out.stderr


def one(docs, kind):
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, f"{len(found)} {kind} rendered"
    return found[0]


def env_of(docs):
    container = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    names = [e["name"] for e in container["env"]]
    assert len(names) == len(set(names)), f"an env name twice: {names}"
    return {e["name"]: e.get("value") for e in container["env"]}


def test(fn):
    global failed
    try:
        fn()
        print(f"PASS  {fn.__doc__}")
    except AssertionError as e:
        failed += 1
        print(f"FAIL  {fn.__doc__}\n      " + str(e).replace("\n", "\n      "))
    return fn


# ---------------------------------------------------------------------------------------
# Flags.

def run_flags():
    """The env names of RunArgs in src/main.rs."""
    text = open(os.path.join(ROOT, "src", "main.rs")).read()
    block = text.split("pub(crate) struct RunArgs", 1)[1].split("\n}\n", 1)[0]
    return set(re.findall(r'env = "([A-Z0-9_]+)"', block))


@test
def every_flag_has_a_value():
    """every `trailwarden run` flag (src/main.rs RunArgs env) is set by a value of the chart"""
    flags = run_flags()
    assert len(flags) > 20, f"only {len(flags)} flags found in src/main.rs"
    docs = helm("-f", ALL_OPTIONS, "--set", "events.queueUrl=https://sqs.eu-west-1.amazonaws.com/111122223333/q",
                "--set", "leaderElection.enabled=true")
    env = env_of(docs)
    missing = sorted(flags - set(env))
    assert not missing, f"flags the chart does not set: {missing}"
    want = {
        "TRAILWARDEN_AWS_MAX_ATTEMPTS": "5", "TRAILWARDEN_AWS_READS_PER_SECOND": "5",
        "TRAILWARDEN_AWS_WRITES_PER_SECOND": "0.5", "TRAILWARDEN_SELECTOR": "team=security",
        "TRAILWARDEN_LEASE_NAMESPACE": "kube-system", "TRAILWARDEN_LEASE_RENEW_DEADLINE_SECONDS": "13.5",
        "TRAILWARDEN_HTTP_ADDR": "0.0.0.0:8080", "TRAILWARDEN_AWS_RETRY_MODE": "adaptive",
        "TRAILWARDEN_VERIFY_LOGS_INTERVAL_SECONDS": "300", "TRAILWARDEN_VERIFY_LOGS_LOOKBACK_HOURS": "48",
        "TRAILWARDEN_VERIFY_LOGS_RECHECK_HOURS": "12",
    }
    got = {k: env.get(k) for k in want}
    assert got == want, f"env {got}, want {want}"
    role = [d for d in docs if d["kind"] == "Role"][0]
    assert role["metadata"]["namespace"] == "kube-system", "the lease Role is not in leaseNamespace"


@test
def defaults_and_integers():
    """defaults: optional flags left unset, pacing and attempts set; large integers stay integers"""
    env = env_of(helm())
    for name in ("TRAILWARDEN_SELECTOR", "TRAILWARDEN_LEASE_NAMESPACE", "TRAILWARDEN_EVENTS_QUEUE_URL", "TRAILWARDEN_AWS_ENDPOINT"):
        assert name not in env, f"{name} set by default"
    want = {"TRAILWARDEN_AWS_MAX_ATTEMPTS": "3", "TRAILWARDEN_AWS_READS_PER_SECOND": "10",
            "TRAILWARDEN_AWS_WRITES_PER_SECOND": "1", "TRAILWARDEN_HTTP_ADDR": "[::]:8080",
            "TRAILWARDEN_VERIFY_LOGS_INTERVAL_SECONDS": "600", "TRAILWARDEN_VERIFY_LOGS_LOOKBACK_HOURS": "24",
            "TRAILWARDEN_VERIFY_LOGS_RECHECK_HOURS": "24"}
    assert {k: env[k] for k in want} == want, {k: env[k] for k in want}
    env = env_of(helm(values={"stallSeconds": 86400}))
    assert env["TRAILWARDEN_STALL_SECONDS"] == "86400", env["TRAILWARDEN_STALL_SECONDS"]
    # The log verifier off is 0, as the flag reads it; its largest values stay integers.
    env = env_of(helm(values={"verifyLogs": {"intervalSeconds": 0, "lookbackHours": 2160, "recheckHours": 720}}))
    got = [env[f"TRAILWARDEN_VERIFY_LOGS_{n}"] for n in ("INTERVAL_SECONDS", "LOOKBACK_HOURS", "RECHECK_HOURS")]
    assert got == ["0", "2160", "720"], got


@test
def stalled_alert_follows_stall_seconds():
    """TrailwardenStalled waits for the stall /healthz fails on (stallSeconds)"""
    docs = helm(values={"prometheusRule": {"enabled": True}, "stallSeconds": 600})
    rules = [r for d in docs if d["kind"] == "PrometheusRule" for g in d["spec"]["groups"] for r in g["rules"]]
    stalled = next(r for r in rules if r.get("alert") == "TrailwardenStalled")
    assert "> 600" in stalled["expr"] and "> 300" not in stalled["expr"], stalled["expr"]
    assert "more than 600 seconds" in stalled["annotations"]["summary"], stalled["annotations"]


@test
def a_shard_is_one_value():
    """shard: the release selects its shard's label (with selector) and elects on a Lease of its own"""
    env = env_of(helm(values={"shard": "b", "selector": "team=security"}))
    assert env["TRAILWARDEN_SELECTOR"] == "team=security,trailwarden.dev/shard=b", env["TRAILWARDEN_SELECTOR"]
    assert env["TRAILWARDEN_LEASE_NAME"] == "trailwarden-b", env["TRAILWARDEN_LEASE_NAME"]
    env = env_of(helm())
    assert "TRAILWARDEN_SELECTOR" not in env and env["TRAILWARDEN_LEASE_NAME"] == "trailwarden", env


@test
def schema_refuses_bad_flag_values():
    """values.schema.json refuses values the flags' parsers refuse"""
    for values in ({"aws": {"maxAttempts": 0}}, {"aws": {"maxAttempts": 11}}, {"aws": {"readsPerSecond": -1}},
                   {"aws": {"readsPerSecond": 1001}}, {"aws": {"writesPerSecond": "fast"}},
                   {"stallSeconds": 1}, {"httpListenAddress": "127.0.0.1"}, {"selector": 3},
                   {"leaderElection": {"leaseNamespace": "Not_A_Namespace"}},
                   {"leaderElection": {"renewDeadlineSeconds": 0}}, {"leaderElection": {"leaseDurationSeconds": 1}},
                   {"leaderElection": {"leaseDurationSeconds": 15.5}},
                   {"verifyLogs": {"intervalSeconds": -1}}, {"verifyLogs": {"intervalSeconds": 86401}},
                   {"verifyLogs": {"intervalSeconds": "10m"}}, {"verifyLogs": {"lookbackHours": 0}},
                   {"verifyLogs": {"lookbackHours": 2161}}, {"verifyLogs": {"recheckHours": 0}},
                   {"verifyLogs": {"recheckHours": 721}}, {"verifyLogs": {"recheckHour": 12}}):
        err = helm(values=values, ok=False)
        assert "values don't meet the specifications of the schema" in err, f"{values}: {err}"


@test
def extra_env_may_not_repeat_a_flag():
    """extraEnv setting a variable the chart sets fails the render, naming the value to use"""
    err = helm(values={"extraEnv": [{"name": "TRAILWARDEN_AWS_MAX_ATTEMPTS", "value": "5"}]}, ok=False)
    assert "extraEnv sets TRAILWARDEN_AWS_MAX_ATTEMPTS" in err and "aws.maxAttempts" in err, err
    env = env_of(helm(values={"extraEnv": [{"name": "AWS_STS_REGIONAL_ENDPOINTS", "value": "regional"}]}))
    assert env["AWS_STS_REGIONAL_ENDPOINTS"] == "regional"


# ---------------------------------------------------------------------------------------
# The lease: what src/cmd/run.rs refuses (with leader election on, the lease at least
# 2 s): a renew deadline that is not above 0 and below the lease duration.

@test
def lease_refused_as_the_binary_refuses():
    """leaderElection: renewDeadlineSeconds >= leaseDurationSeconds fails the render; below renders"""
    for lease, renew in ((10, 10), (5, 10), (15, 15), (15, 20), (2, 2)):
        err = helm(values={"leaderElection": {"leaseDurationSeconds": lease, "renewDeadlineSeconds": renew}}, ok=False)
        assert "must be above 0 and below leaderElection.leaseDurationSeconds" in err, f"{lease}/{renew}: {err}"
        assert f"({renew})" in err and f"({lease})" in err, f"{lease}/{renew}: the message does not name both: {err}"
    for lease, renew in ((15, 10), (11, 10), (10, 9.99), (2, 1), (3600, 3599)):
        env = env_of(helm(values={"leaderElection": {"leaseDurationSeconds": lease, "renewDeadlineSeconds": renew}}))
        assert env["TRAILWARDEN_LEASE_DURATION_SECONDS"] == str(lease), env["TRAILWARDEN_LEASE_DURATION_SECONDS"]
    # Without leader election the binary never looks at the lease: neither does the render.
    helm(values={"replicaCount": 1, "leaderElection": {"enabled": False, "leaseDurationSeconds": 5}})


# ---------------------------------------------------------------------------------------
# Alerts.

def groups(values):
    base = {"prometheusRule": {"enabled": True}}
    for key, value in (values or {}).items():
        base["prometheusRule"][key] = value
    rule = one(helm("--show-only", "templates/prometheusrule.yaml", values=base), "PrometheusRule")
    spec_groups = rule["spec"]["groups"]
    if PROMTOOL:
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
            yaml.safe_dump({"groups": spec_groups}, f)
            f.flush()
            out = subprocess.run([PROMTOOL, "check", "rules", f.name], capture_output=True, text=True)
            assert out.returncode == 0, f"promtool check rules on the rendered rules ({values}):\n{out.stdout}{out.stderr}"
    return spec_groups


def expected(change):
    """files/alerts.yaml, each rule as change(rule) returns it (None: left out). Release
    "trailwarden" and the default runbookBaseUrl leave the jobs and runbook URLs as they are."""
    want = copy.deepcopy(FILE_GROUPS)
    for group in want:
        group["rules"] = [r for r in (change(r) for r in group["rules"]) if r is not None]
    return [g for g in want if g["rules"]]


@test
def alerts_default_is_the_file():
    """PrometheusRule with default values carries files/alerts.yaml as it is"""
    assert groups(None) == FILE_GROUPS


@test
def alerts_customised():
    """prometheusRule.alerts (enabled, severity, for, labels) and alertLabels change only what they name"""
    got = groups({
        "alertLabels": {"team": "security", "severity": "ignored"},
        "alerts": {
            "TrailwardenAwsThrottled": {"enabled": False},
            "TrailNotLogging": {"enabled": True, "for": "5m"},
            "TrailPolicyNotCompliant": {"severity": "critical", "for": "30m", "labels": {"pager": "true", "team": "audit"}},
            "TrailContested": {"for": "1m"},
        },
    })

    def change(rule):
        rule = copy.deepcopy(rule)
        name = rule["alert"]
        if name == "TrailwardenAwsThrottled":
            return None
        rule["labels"] = {"team": "security", **rule["labels"]}
        if name == "TrailNotLogging":
            rule["for"] = "5m"
        if name == "TrailPolicyNotCompliant":
            rule["for"] = "30m"
            rule["labels"].update({"pager": "true", "team": "audit", "severity": "critical"})
        if name == "TrailContested":
            rule["for"] = "1m"
        return rule

    assert got == expected(change), "the customised rules differ from the file changed as asked"


@test
def drift_persisting_for():
    """driftPersistingFor still sets TrailDriftPersisting's for; alerts.TrailDriftPersisting.for wins over it"""
    def drift(value):
        def change(rule):
            if rule["alert"] == "TrailDriftPersisting":
                rule = dict(rule, **{"for": value})
            return rule
        return change
    assert groups({"driftPersistingFor": "10m"}) == expected(drift("10m"))
    assert groups({"driftPersistingFor": "10m", "alerts": {"TrailDriftPersisting": {"for": "20m"}}}) == expected(drift("20m"))


@test
def all_alerts_disabled():
    """every alert disabled leaves no group (and promtool still takes it)"""
    names = [r["alert"] for g in FILE_GROUPS for r in g["rules"]]
    assert groups({"alerts": {n: {"enabled": False} for n in names}}) == []


@test
def unknown_alert_name_fails():
    """prometheusRule.alerts naming no alert of files/alerts.yaml fails the render, listing the alerts"""
    err = helm(values={"prometheusRule": {"enabled": True, "alerts": {"TrailNotLoging": {"enabled": False}}}}, ok=False)
    assert "prometheusRule.alerts.TrailNotLoging" in err and "TrailNotLogging" in err, err
    err = helm(values={"prometheusRule": {"enabled": True, "alerts": {"TrailNotLogging": {"severity": "high", "for": "soon"}}}}, ok=False)
    assert "values don't meet the specifications of the schema" in err, err


@test
def service_monitor_relabelings():
    """serviceMonitor.relabelings and metricRelabelings reach the endpoint"""
    relabel = [{"targetLabel": "cluster", "replacement": "prod"}]
    drop = [{"sourceLabels": ["__name__"], "regex": "go_.*", "action": "drop"}]
    sm = one(helm("--show-only", "templates/servicemonitor.yaml", values={
        "serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus-stack"},
                           "relabelings": relabel, "metricRelabelings": drop}}), "ServiceMonitor")
    endpoint = sm["spec"]["endpoints"][0]
    assert endpoint["relabelings"] == relabel and endpoint["metricRelabelings"] == drop, endpoint
    assert sm["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    sm = one(helm("--show-only", "templates/servicemonitor.yaml", values={"serviceMonitor": {"enabled": True}}), "ServiceMonitor")
    assert "relabelings" not in sm["spec"]["endpoints"][0] and "metricRelabelings" not in sm["spec"]["endpoints"][0]


# ---------------------------------------------------------------------------------------
# helm test.

@test
def test_pod():
    """the helm test pod: a test hook, restricted security, not selected by the Service, admitted by the NetworkPolicy"""
    docs = helm(values={"networkPolicy": {"enabled": True}})
    pods = [d for d in docs if d["kind"] == "Pod"]
    assert len(pods) == 1, f"{len(pods)} test pods"
    pod = pods[0]
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    spec = pod["spec"]
    assert spec["restartPolicy"] == "Never" and spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert isinstance(spec["securityContext"]["runAsUser"], int) and spec["securityContext"]["runAsUser"] > 0
    (c,) = spec["containers"]
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False and sc["capabilities"] == {"drop": ["ALL"]}, sc
    assert c["image"] == "docker.io/curlimages/curl:8.17.0", c["image"]
    env = {e["name"]: e["value"] for e in c["env"]}
    assert env["BASE_URL"] == "http://trailwarden.tw.svc:8080", env
    script = c["command"][-1]
    for needle in ("/healthz", "/readyz", "/metrics", "trailwarden_build_info", "200"):
        assert needle in script, f"the test script does not mention {needle}"
    labels = pod["metadata"]["labels"]
    selector = one(docs, "Service")["spec"]["selector"]
    assert not all(labels.get(k) == v for k, v in selector.items()), "the Service selects the test pod"
    netpol = one(docs, "NetworkPolicy")
    admitted = [peer["podSelector"]["matchLabels"] for rule in netpol["spec"]["ingress"] for peer in rule.get("from", [])
                if "podSelector" in peer and "namespaceSelector" not in peer and "ipBlock" not in peer]
    assert any(all(labels.get(k) == v for k, v in m.items()) for m in admitted), f"no ingress rule admits {labels}"
    # Disabled: no pod, no rule for it.
    docs = helm(values={"networkPolicy": {"enabled": True}, "tests": {"enabled": False}})
    assert not [d for d in docs if d["kind"] == "Pod"]
    assert len(one(docs, "NetworkPolicy")["spec"]["ingress"]) == 1
    # A digest wins over the tag.
    docs = helm("-f", ALL_OPTIONS)
    (c,) = [d for d in docs if d["kind"] == "Pod"][0]["spec"]["containers"]
    assert c["image"].startswith("registry.example.com/mirror/curlimages/curl@sha256:"), c["image"]


# ---------------------------------------------------------------------------------------
# The EKS guide's values.

@test
def eks_guide_values():
    """docs/eks/values.yaml renders, labelled release: kube-prometheus-stack for a default kube-prometheus-stack"""
    path = os.path.join(ROOT, "docs", "eks", "values.yaml")
    assert os.path.exists(path), f"{path} is missing"
    docs = helm("-f", path, "--set-string", "serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn=arn:aws:iam::111122223333:role/trailwarden")
    for kind in ("ServiceMonitor", "PrometheusRule"):
        assert one(docs, kind)["metadata"]["labels"].get("release") == "kube-prometheus-stack", f"{kind} not labelled"
    c = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert c["image"].startswith("ghcr.io/trailwarden/trailwarden:"), c["image"]


# ---------------------------------------------------------------------------------------
# The CRDs and the ClusterRole.

CRD_FILES = {"trailpolicies.trailwarden.dev": "trailpolicy-crd.yaml", "trailpolicysets.trailwarden.dev": "trailpolicyset-crd.yaml"}


@test
def crds():
    """crds: the TrailPolicy and TrailPolicySet CRDs as files/ holds them, labelled, kept on uninstall; keep and enabled off"""
    found = [d for d in helm() if d["kind"] == "CustomResourceDefinition"]
    names = [d["metadata"]["name"] for d in found]
    assert names == list(CRD_FILES), f"CRDs rendered: {names}"
    for crd in found:
        name = crd["metadata"]["name"]
        want = yaml.safe_load(open(os.path.join(CHART, "files", CRD_FILES[name])))
        assert crd["spec"] == want["spec"], f"{name}: its spec differs from files/{CRD_FILES[name]}"
        assert crd["metadata"]["annotations"].get("helm.sh/resource-policy") == "keep", f"{name}: {crd['metadata']['annotations']}"
        assert crd["metadata"]["labels"].get("app.kubernetes.io/managed-by") == "Helm", f"{name}: {crd['metadata']['labels']}"
    loose = [d for d in helm(values={"crds": {"keep": False}}) if d["kind"] == "CustomResourceDefinition"]
    assert len(loose) == 2 and not any((d["metadata"].get("annotations") or {}).get("helm.sh/resource-policy") for d in loose)
    assert not [d for d in helm(values={"crds": {"enabled": False}}) if d["kind"] == "CustomResourceDefinition"]


@test
def cluster_role():
    """the ClusterRole: TrailPolicies (create and delete for the sets' policies), TrailPolicySets read and their status patched, Events"""
    role = one(helm("--show-only", "templates/clusterrole.yaml"), "ClusterRole")
    got = {}
    for rule in role["rules"]:
        assert not rule.get("resourceNames") and not rule.get("nonResourceURLs"), rule
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                got.setdefault(f"{group}/{resource}", set()).update(rule["verbs"])
    want = {
        "trailwarden.dev/trailpolicies": {"get", "list", "watch", "create", "patch", "update", "delete"},
        "trailwarden.dev/trailpolicies/status": {"get", "patch", "update"},
        "trailwarden.dev/trailpolicies/finalizers": {"update"},
        "trailwarden.dev/trailpolicysets": {"get", "list", "watch"},
        "trailwarden.dev/trailpolicysets/status": {"patch"},
        "trailwarden.dev/trailpolicysets/finalizers": {"update"},
        "events.k8s.io/events": {"create", "patch"},
        "/events": {"create", "patch"},
    }
    assert got == want, "rules differ:\n" + "\n".join(
        f"  {k}: {sorted(got.get(k, []))}, want {sorted(want.get(k, []))}" for k in sorted(set(got) | set(want)) if got.get(k) != want.get(k))


# ---------------------------------------------------------------------------------------
# The admission policies.

VAP_FILE = "templates/validatingadmissionpolicy.yaml"
FLOOR = {"logging": True, "multiRegion": True, "managementEvents": True, "logFileValidation": True, "kms": True,
         "bucketAccounts": ["111122223333", "444455556666"], "keyAccounts": ["111122223333"]}
WHO_SET = "only members of the groups platform-admins, security may set it"
WHO_CHANGE = "only members of the groups platform-admins, security may change it"
WHO_DELETE = "only members of the groups platform-admins, security may delete it"


def privileged_messages(spec, deletion, kind, deletes):
    """The messages of the rules both policies share, for a spec at `spec`."""
    f = spec + "."
    return [
        f"{f}adoption: Always is refused: {WHO_SET}",
        f"{deletion}: Delete is refused: {WHO_SET}",
        f"{f}posture.bucket.manage: true is refused: {WHO_SET}",
        f"{f}posture.kms.manage: true is refused: {WHO_SET}",
        f"{f}s3.bucketName may not change while {f}posture.bucket.manage is true (the new bucket's policy would be rewritten): {WHO_CHANGE}",
        f"{f}s3.keyPrefix may not change while {f}posture.bucket.manage is true (the bucket's policy would be rewritten for the new prefix): {WHO_CHANGE}",
        f"{f}logArchive may not change while {f}posture.bucket.manage is true (the bucket's policy would be rewritten in the new account): {WHO_CHANGE}",
        f"{f}kmsKeyId may not change while {f}posture.kms.manage is true (the new key's policy would be rewritten): {WHO_CHANGE}",
        f"deleting a {kind} whose {deletion} is Delete is refused ({deletes}): {WHO_DELETE}",
    ]


def floor_messages(spec, kind, bucket_from, key_from):
    f = spec + "."
    return [
        f"{f}logging: false is below the operator's floor (floor.logging): every trail must log",
        f"{f}multiRegion: false is below the operator's floor (floor.multiRegion): every trail must record all regions",
        f"{f}logFileValidation: false is below the operator's floor (floor.logFileValidation): every trail must deliver digest files",
        f"a {kind} without {f}kmsKeyId is below the operator's floor (floor.kms): every trail must encrypt its logs with a KMS key",
        f"{f}eventSelectors is below the operator's floor (floor.managementEvents): they must record every management event, read and write, from every source (a selector with includeManagementEvents: true and readWriteType: All, the defaults, and no excludeManagementEventSources does)",
        f"{f}advancedEventSelectors is below the operator's floor (floor.managementEvents): they must record every management event, read and write (a selector whose only field selector is eventCategory equals [Management] does)",
        f"the log bucket's account ({bucket_from}) is below the operator's floor (floor.bucketAccounts): it must be one of 111122223333, 444455556666",
        f"the KMS key's account ({key_from}) is below the operator's floor (floor.keyAccounts): it must be one of 111122223333",
    ]


POLICY_PRIVILEGED = privileged_messages("spec", "spec.deletionPolicy", "TrailPolicy", "the trail would be deleted with it")
SET_PRIVILEGED = privileged_messages("spec.template", "spec.accountRemoval", "TrailPolicySet",
                                     "its generated policies carry deletionPolicy: Delete and go with it") + [
    f"spec.targets and spec.organizationRoleArn may not change while spec.accountRemoval is Delete (the policy of every account that leaves the targets would be deleted, and its trail with it): {WHO_CHANGE}",
    f"spec.serviceControlPolicy may not be added or changed (the controller would write a service control policy across the set's organizational units): {WHO_CHANGE}",
]
POLICY_FLOOR = floor_messages("spec", "TrailPolicy", "spec.logArchive.accountId, else the account of spec.account.roleArn",
                              "of spec.kmsKeyId when it is an ARN, else of spec.account.roleArn")
SET_FLOOR = floor_messages("spec.template", "TrailPolicySet", "spec.template.logArchive.accountId", "of spec.template.kmsKeyId, an ARN")


def admission_docs(*args, values=None):
    base = {"admissionPolicy": {"enabled": True, "privilegedGroups": ["platform-admins", "security"]}}
    return helm("--show-only", VAP_FILE, *args, values={**base, **(values or {})})


@test
def admission_policies_render():
    """admissionPolicy: the TrailPolicy and TrailPolicySet policies and their bindings, in helm's order; nothing when off"""
    docs = admission_docs()
    got = [(d["kind"], d["metadata"]["name"]) for d in docs]
    assert got == [("ValidatingAdmissionPolicy", "trailwarden-privileged-fields"),
                   ("ValidatingAdmissionPolicy", "trailwarden-set-privileged-fields"),
                   ("ValidatingAdmissionPolicyBinding", "trailwarden-privileged-fields"),
                   ("ValidatingAdmissionPolicyBinding", "trailwarden-set-privileged-fields")], got
    policy, tset, policy_binding, set_binding = docs
    for vap, binding, resource in ((policy, policy_binding, "trailpolicies"), (tset, set_binding, "trailpolicysets")):
        assert binding["spec"] == {"policyName": vap["metadata"]["name"], "validationActions": ["Deny"]}, binding["spec"]
        assert vap["spec"]["failurePolicy"] == "Fail"
        assert vap["spec"]["matchConstraints"]["resourceRules"] == [{
            "apiGroups": ["trailwarden.dev"], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE", "DELETE"],
            "resources": [resource]}], vap["spec"]["matchConstraints"]
        assert vap["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
        names = [v["name"] for v in vap["spec"]["variables"]]
        assert names[0] == "privileged" and len(names) == len(set(names)), names
    # Off (the default): neither.
    assert not [d for d in helm() if d["kind"].startswith("ValidatingAdmissionPolicy")]


@test
def admission_policy_controller_identity():
    """admissionPolicy: the controller's ServiceAccount, on policies labelled trailwarden.dev/set, is privileged on TrailPolicies only"""
    def privileged(docs, i):
        return next(v["expression"] for v in docs[i]["spec"]["variables"] if v["name"] == "privileged")
    docs = admission_docs()
    expr = privileged(docs, 0)
    assert 'request.userInfo.username == "system:serviceaccount:tw:trailwarden"' in expr, expr
    assert "'trailwarden.dev/set' in oldObject.metadata.labels" in expr and "'trailwarden.dev/set' in object.metadata.labels" in expr, expr
    assert 'g in ["platform-admins","security"]' in expr, expr
    set_expr = privileged(docs, 1)
    assert "username" not in set_expr and 'g in ["platform-admins","security"]' in set_expr, set_expr
    # The ServiceAccount's name and the release's namespace, as the chart names them.
    docs = admission_docs("--namespace", "audit", values={"serviceAccount": {"create": False, "name": "warden"}})
    assert '"system:serviceaccount:audit:warden"' in privileged(docs, 0), privileged(docs, 0)
    docs = admission_docs(values={"fullnameOverride": "warden"})
    assert [d["metadata"]["name"] for d in docs] == ["warden-privileged-fields", "warden-set-privileged-fields"] * 2
    assert '"system:serviceaccount:tw:warden"' in privileged(docs, 0)
    # Names that would be the same once cut to 63 characters fail the render.
    err = helm("--show-only", VAP_FILE, values={"admissionPolicy": {"enabled": True}, "fullnameOverride": "w" * 62}, ok=False)
    assert "are the same" in err, err


@test
def admission_policy_rules():
    """admissionPolicy: every rule of each policy, with its message; the set's shared rules are the policy's on spec.template"""
    for floor in (False, True):
        docs = admission_docs(values={"floor": FLOOR} if floor else None)
        policy, tset = docs[0]["spec"], docs[1]["spec"]
        want_policy = POLICY_PRIVILEGED + (POLICY_FLOOR if floor else [])
        want_set = SET_PRIVILEGED + (SET_FLOOR if floor else [])
        got_policy = [v["message"] for v in policy["validations"]]
        got_set = [v["message"] for v in tset["validations"]]
        assert got_policy == want_policy, "TrailPolicy messages differ:\n" + "\n".join(
            f"  got  {g}\n  want {w}" for g, w in zip(got_policy + [""] * 9, want_policy + [""] * 9) if g != w)
        assert got_set == want_set, "TrailPolicySet messages differ:\n" + "\n".join(
            f"  got  {g}\n  want {w}" for g, w in zip(got_set + [""] * 9, want_set + [""] * 9) if g != w)
        reasons = {v["message"]: v["reason"] for v in policy["validations"] + tset["validations"]}
        assert all(reasons[m] == "Forbidden" for m in POLICY_PRIVILEGED + SET_PRIVILEGED), reasons
        assert all(reasons[m] == "Invalid" for m in (POLICY_FLOOR + SET_FLOOR if floor else [])), reasons
        # Written once: the set's shared validations are the policy's, read on spec.template.
        shared = len(POLICY_PRIVILEGED)
        pairs = list(zip(policy["validations"][:shared], tset["validations"][:shared]))
        if floor:
            pairs += list(zip(policy["validations"][shared:], tset["validations"][shared + 2:]))
        for p, t in pairs:
            assert t["expression"] == p["expression"].replace("object.spec.", "object.spec.template."), (p["expression"], t["expression"])
        # And so are their variables, but for where the deletion field lies and the spec's guard.
        pvars = {v["name"]: v["expression"] for v in policy["variables"]}
        svars = {v["name"]: v["expression"] for v in tset["variables"]}
        assert set(svars) - set(pvars) == {"retargets", "scpWritten"} and set(pvars) <= set(svars), (sorted(pvars), sorted(svars))
        for name, expr in pvars.items():
            if name == "privileged":
                continue
            want = (expr.replace("Object.spec.deletionPolicy", "Object.spec.accountRemoval")
                        .replace("object.spec.deletionPolicy", "object.spec.accountRemoval")
                        .replace("bject.spec.", "bject.spec.template.")
                        .replace("has(object.spec)", "has(object.spec) && has(object.spec.template)")
                        .replace("has(oldObject.spec)", "has(oldObject.spec) && has(oldObject.spec.template)")
                        .replace("object.spec != oldObject.spec", "object.spec.template != oldObject.spec.template"))
            if name in ("deletionDelete", "deletesTrail"):
                # The set's deletion field lies on its spec, not on the template: guarded by has(spec) alone.
                want = want.replace("has(object.spec) && has(object.spec.template)", "has(object.spec)") \
                           .replace("has(oldObject.spec) && has(oldObject.spec.template)", "has(oldObject.spec)") \
                           .replace("spec.template.accountRemoval", "spec.accountRemoval")
            if name in ("wasDeletionDelete",):
                want = want.replace("spec.template.accountRemoval", "spec.accountRemoval")
            assert svars[name] == want, f"{name}:\n  policy {expr}\n  set    {svars[name]}\n  want   {want}"
        # The set's own rules read what they say.
        assert "object.spec.serviceControlPolicy != oldObject.spec.serviceControlPolicy" in svars["scpWritten"]
        assert "object.spec.targets != oldObject.spec.targets" in svars["retargets"]
        assert "variables.deletionDelete || variables.wasDeletionDelete" in svars["retargets"]
        assert "object.spec.template != oldObject.spec.template" in svars["floorApplies"]
    # An empty group list: no one, said so.
    docs = helm("--show-only", VAP_FILE, values={"admissionPolicy": {"enabled": True}})
    msgs = [v["message"] for d in docs[:2] for v in d["spec"]["validations"]]
    assert all("admissionPolicy.privilegedGroups is empty" in m for m in msgs), msgs
    assert 'g in []' in docs[0]["spec"]["variables"][0]["expression"]


print(f"render tests: {failed} failed")
sys.exit(1 if failed else 0)
