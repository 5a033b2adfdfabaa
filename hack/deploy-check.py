#!/usr/bin/env python3
"""Static checks of what deploy/iam/ and examples/{argocd,flux}/ ship, beside cfn-lint.

Run by hack/cfn-lint.sh (so in `make test`) with the cfn-lint venv's Python (PyYAML is a
cfn-lint dependency). It checks:

- deploy/iam/controller-role.yaml: its role's policy document equals deploy/iam-policy.json
  exactly; the IRSA trust (a JSON string once substituted) and the Pod Identity trust say
  what docs/eks.md says; the Pod Identity association exists only with Pod Identity.
- deploy/iam/member-role.yaml: with every option on, its statements are those of
  deploy/iam-policy.json of the same names less the events queue and sts:AssumeRole, with
  the same actions and at least the same conditions, and every resource in the role's own
  account; its trust requires sts:ExternalId; its default name is one the controller may
  assume (ActInOtherAccounts) and the chart's allowedRoleArns example matches.
- examples/argocd/*.yaml, examples/flux/*.yaml: each document parses, has the apiVersion,
  kind and fields its kind requires and no spec field outside those its kind knows; the
  Helm values given (Argo CD valuesObject, Flux values) exist in the chart's values.yaml;
  sourceRefs and dependsOn name objects defined beside them.
- docs/eks.md: its JSON blocks parse, its values file gives only values the chart has, its
  TrailPolicies have the right apiVersion and a region. (Its troubleshooting table is
  checked against the reasons by a Rust test, crates/core/src/report/eks_doc.rs.)

Prints one line per file checked and exits 1 with every problem listed.
"""
import fnmatch
import json
import pathlib
import re
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
problems = []


def problem(where, message):
    problems.append(f"{where}: {message}")


class CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short forms (!Ref, !Sub, !If, ...) as their long forms."""


def _cfn_tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _cfn_tag)


def load_cfn(path):
    return yaml.load(path.read_text(), Loader=CfnLoader)


def as_list(value):
    return value if isinstance(value, list) else [value]


def with_every_option(value):
    """Resolves each Fn::If to its true branch and drops AWS::NoValue: the template with
    every condition on, the widest role it can make."""
    if isinstance(value, dict):
        if set(value) == {"Fn::If"}:
            return with_every_option(value["Fn::If"][1])
        return {k: with_every_option(v) for k, v in value.items()}
    if isinstance(value, list):
        return [with_every_option(v) for v in value if v != {"Ref": "AWS::NoValue"}]
    return value


IAM_POLICY = json.loads((ROOT / "deploy/iam-policy.json").read_text())
BY_SID = {s["Sid"]: s for s in IAM_POLICY["Statement"]}


def check_controller_role():
    where = "deploy/iam/controller-role.yaml"
    t = load_cfn(ROOT / where)
    role = t["Resources"]["ControllerRole"]["Properties"]
    documents = [p["PolicyDocument"] for p in role["Policies"]]
    if documents != [IAM_POLICY]:
        problem(where, "the role's policy document differs from deploy/iam-policy.json (copy the change across)")
    trust = role["AssumeRolePolicyDocument"]["Fn::If"]
    if trust[0] != "UsePodIdentity":
        problem(where, "the trust must be chosen by the UsePodIdentity condition")
    pod = trust[1]["Statement"]
    if len(pod) != 1 or pod[0]["Principal"] != {"Service": "pods.eks.amazonaws.com"} or sorted(as_list(pod[0]["Action"])) != [
        "sts:AssumeRole",
        "sts:TagSession",
    ]:
        problem(where, "the Pod Identity trust must let pods.eks.amazonaws.com sts:AssumeRole and sts:TagSession, and nothing else")
    keys = set(pod[0].get("Condition", {}).get("StringEquals", {}))
    if keys != {"aws:RequestTag/kubernetes-namespace", "aws:RequestTag/kubernetes-service-account"}:
        problem(where, "the Pod Identity trust must be limited to the namespace and ServiceAccount")
    text, variables = trust[2]["Fn::Sub"]
    issuer = "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE"
    values = {
        "OidcProviderArn": f"arn:aws:iam::111122223333:oidc-provider/{issuer}",
        "Issuer": issuer,
        "Namespace": "trailwarden",
        "ServiceAccountName": "trailwarden",
    }
    if set(variables) != {"Issuer"} or set(re.findall(r"\$\{([^}]+)\}", text)) - set(values):
        problem(where, "the IRSA trust substitutes something unexpected")
    try:
        irsa = json.loads(re.sub(r"\$\{([^}]+)\}", lambda m: values[m.group(1)], text))["Statement"]
    except (json.JSONDecodeError, KeyError) as e:
        problem(where, f"the IRSA trust is not JSON once substituted: {e}")
    else:
        expected = {f"{issuer}:sub": "system:serviceaccount:trailwarden:trailwarden", f"{issuer}:aud": "sts.amazonaws.com"}
        if (
            len(irsa) != 1
            or irsa[0]["Action"] != "sts:AssumeRoleWithWebIdentity"
            or irsa[0]["Principal"] != {"Federated": values["OidcProviderArn"]}
            or irsa[0]["Condition"] != {"StringEquals": expected}
        ):
            problem(where, "the IRSA trust must admit the OIDC provider's token for the ServiceAccount and sts.amazonaws.com only")
    association = t["Resources"].get("PodIdentityAssociation", {})
    if association.get("Type") != "AWS::EKS::PodIdentityAssociation" or association.get("Condition") != "UsePodIdentity":
        problem(where, "the Pod Identity association must exist, under UsePodIdentity")
    if "RoleArn" not in t.get("Outputs", {}):
        problem(where, "no RoleArn output")
    print(f"deploy-check: {where}: policy = deploy/iam-policy.json ({len(IAM_POLICY['Statement'])} statements), IRSA and Pod Identity trusts")


def in_this_account(resource, statement):
    if resource == "*":
        return True
    sub = resource.get("Fn::Sub") if isinstance(resource, dict) else None
    if not isinstance(sub, str):
        return False
    if "${AWS::AccountId}" in sub:
        return True
    # S3 bucket ARNs carry no account: the s3:ResourceAccount condition must hold it.
    accounts = statement.get("Condition", {}).get("StringEquals", {}).get("s3:ResourceAccount")
    return sub.startswith("arn:${AWS::Partition}:s3:::") and accounts is not None and {"Ref": "AWS::AccountId"} in as_list(accounts)


def check_member_role():
    where = "deploy/iam/member-role.yaml"
    t = load_cfn(ROOT / where)
    role = with_every_option(t["Resources"]["MemberRole"]["Properties"])
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    left_out = {"ReadTheEventsQueue", "ActInOtherAccounts"}
    expected = [sid for sid in BY_SID if sid not in left_out]
    if [s.get("Sid") for s in statements] != expected:
        problem(where, f"statements {[s.get('Sid') for s in statements]}, expected {expected}")
    for s in statements:
        sid = s.get("Sid")
        ref = BY_SID.get(sid)
        if ref is None:
            continue
        if sorted(as_list(s["Action"])) != sorted(as_list(ref["Action"])):
            problem(where, f"{sid}: actions differ from deploy/iam-policy.json")
        for operator, keys in ref.get("Condition", {}).items():
            for key, value in keys.items():
                if s.get("Condition", {}).get(operator, {}).get(key) != value:
                    problem(where, f"{sid}: lacks the condition {operator} {key}")
        for resource in as_list(s["Resource"]):
            if resource == "*" and ref["Resource"] != "*":
                problem(where, f"{sid}: on * where deploy/iam-policy.json is narrower")
            elif not in_this_account(resource, s):
                problem(where, f"{sid}: resource {resource} is not limited to this account")
    actions = {a for s in statements for a in as_list(s["Action"])}
    for forbidden in ("sqs:", "sts:"):
        if any(a.startswith(forbidden) for a in actions):
            problem(where, f"grants {forbidden}*")
    trust = role["AssumeRolePolicyDocument"]["Statement"]
    if any("sts:ExternalId" not in s.get("Condition", {}).get("StringEquals", {}) for s in trust):
        problem(where, "every trust statement must require sts:ExternalId")
    name = t["Parameters"]["RoleName"]["Default"]
    assumable = BY_SID["ActInOtherAccounts"]["Resource"].split(":role/", 1)[1]
    if not fnmatch.fnmatchcase(name, assumable):
        problem(where, f"default RoleName {name} is not assumable under ActInOtherAccounts ({assumable})")
    ci = yaml.safe_load((ROOT / "charts/trailwarden/ci/all-options-values.yaml").read_text())
    patterns = ci.get("guardrails", {}).get("allowedRoleArns", [])
    arn = f"arn:aws:iam::111122223333:role/{name}"
    if patterns and not any(fnmatch.fnmatchcase(arn, p) for p in patterns):
        problem(where, f"{arn} matches none of the chart's allowedRoleArns example {patterns}")
    print(f"deploy-check: {where}: {len(statements)} statements as deploy/iam-policy.json's, in this account, external id")


# Per kind: apiVersion, required dotted paths, and the spec fields it knows (a typo in an
# example is caught here; Argo CD and Flux would reject or ignore it).
KINDS = {
    "Application": (
        "argoproj.io/v1alpha1",
        ["metadata.name", "metadata.namespace", "spec.project", "spec.source.repoURL", "spec.source.targetRevision", "spec.source.path", "spec.destination.server"],
        {"project", "source", "sources", "destination", "syncPolicy", "ignoreDifferences", "info", "revisionHistoryLimit"},
    ),
    "GitRepository": (
        "source.toolkit.fluxcd.io/v1",
        ["metadata.name", "metadata.namespace", "spec.url", "spec.interval", "spec.ref"],
        {"url", "secretRef", "provider", "interval", "timeout", "ref", "verify", "proxySecretRef", "ignore", "suspend", "recurseSubmodules", "include", "sparseCheckout"},
    ),
    "HelmRepository": (
        "source.toolkit.fluxcd.io/v1",
        ["metadata.name", "metadata.namespace", "spec.url", "spec.interval"],
        {"url", "secretRef", "certSecretRef", "passCredentials", "interval", "insecure", "timeout", "suspend", "accessFrom", "type", "provider"},
    ),
    "HelmRelease": (
        "helm.toolkit.fluxcd.io/v2",
        ["metadata.name", "metadata.namespace", "spec.interval", "spec.chart.spec.chart", "spec.chart.spec.sourceRef.kind", "spec.chart.spec.sourceRef.name"],
        {
            "chart", "chartRef", "interval", "kubeConfig", "suspend", "releaseName", "targetNamespace", "storageNamespace", "dependsOn",
            "timeout", "maxHistory", "serviceAccountName", "persistentClient", "driftDetection", "install", "upgrade", "test", "rollback",
            "uninstall", "valuesFrom", "values", "postRenderers",
        },
    ),
    "Kustomization": (
        "kustomize.toolkit.fluxcd.io/v1",
        ["metadata.name", "metadata.namespace", "spec.interval", "spec.path", "spec.prune", "spec.sourceRef.kind", "spec.sourceRef.name"],
        {
            "commonMetadata", "components", "decryption", "deletionPolicy", "dependsOn", "force", "healthChecks", "images", "interval",
            "kubeConfig", "namePrefix", "nameSuffix", "patches", "path", "postBuild", "prune", "retryInterval", "serviceAccountName",
            "sourceRef", "suspend", "targetNamespace", "timeout", "wait", "healthCheckExprs",
        },
    ),
}


def lookup(doc, dotted):
    for part in dotted.split("."):
        if not isinstance(doc, dict) or part not in doc:
            return None
        doc = doc[part]
    return doc


CHART_VALUES = yaml.safe_load((ROOT / "charts/trailwarden/values.yaml").read_text())


def check_values(where, given, chart, path=""):
    """Every key given must be a key of the chart's values.yaml; below an empty map or a
    list in values.yaml (annotations, labels, extraEnv) anything goes."""
    for key, value in given.items():
        here = f"{path}.{key}" if path else key
        if key not in chart:
            problem(where, f"value {here} is not in charts/trailwarden/values.yaml")
        elif isinstance(value, dict) and isinstance(chart[key], dict) and chart[key]:
            check_values(where, value, chart[key], here)
        elif isinstance(value, dict) != isinstance(chart[key], dict):
            problem(where, f"value {here} is a {type(value).__name__} where values.yaml has a {type(chart[key]).__name__}")


def check_examples():
    docs = []
    for directory in ("examples/argocd", "examples/flux"):
        files = sorted((ROOT / directory).glob("*.yaml"))
        if not files:
            problem(directory, "no examples")
        for path in files:
            where = str(path.relative_to(ROOT))
            try:
                loaded = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
            except yaml.YAMLError as e:
                problem(where, f"does not parse: {e}")
                continue
            docs += [(where, d) for d in loaded]
            print(f"deploy-check: {where}: {', '.join(d.get('kind', '?') + '/' + str(lookup(d, 'metadata.name')) for d in loaded)}")
    defined = {(d.get("kind"), lookup(d, "metadata.name")) for _, d in docs}
    for where, d in docs:
        kind = d.get("kind")
        if kind not in KINDS:
            problem(where, f"unexpected kind {kind}")
            continue
        api_version, required, spec_fields = KINDS[kind]
        name = f"{kind}/{lookup(d, 'metadata.name')}"
        if d.get("apiVersion") != api_version:
            problem(where, f"{name}: apiVersion {d.get('apiVersion')}, expected {api_version}")
        for field in required:
            if lookup(d, field) in (None, ""):
                problem(where, f"{name}: {field} is required")
        for field in set(d.get("spec", {})) - spec_fields:
            problem(where, f"{name}: spec.{field} is not a field of {kind}")
        for ref in (lookup(d, "spec.sourceRef"), lookup(d, "spec.chart.spec.sourceRef")):
            if ref and (ref.get("kind"), ref.get("name")) not in defined:
                problem(where, f"{name}: sourceRef {ref.get('kind')}/{ref.get('name')} is not defined in the examples")
        for dep in lookup(d, "spec.dependsOn") or []:
            if (kind, dep.get("name")) not in defined:
                problem(where, f"{name}: dependsOn {dep.get('name')} is not a {kind} of the examples")
        values = lookup(d, "spec.values") if kind == "HelmRelease" else lookup(d, "spec.source.helm.valuesObject")
        if values is not None:
            check_values(f"{where} {name}", values, CHART_VALUES)
        if kind == "Application" and lookup(d, "spec.source.path") == "charts/trailwarden" and not values:
            problem(where, f"{name}: installs the chart without values")
    if not any(kind == "HelmRelease" and lookup(d, "spec.values") for _, d in docs if (kind := d.get("kind"))):
        problem("examples/flux", "no HelmRelease with values")


def check_guide():
    """docs/eks.md: its JSON blocks parse, its values file gives only values the chart has,
    its TrailPolicies are trailwarden.dev/v1alpha1 with a region."""
    where = "docs/eks.md"
    text = (ROOT / where).read_text()
    blocks = re.findall(r"^```(json|yaml)\n(.*?)^```", text, re.S | re.M)
    counts = {"json": 0, "values": 0, "policies": 0}
    for lang, body in blocks:
        try:
            if lang == "json":
                # The key policy example is a list of statements without its brackets.
                json.loads(body if body.lstrip().startswith('{\n  "Version"') else f"[{body}]")
                counts["json"] += 1
                continue
            doc = yaml.safe_load(body)
        except (json.JSONDecodeError, yaml.YAMLError) as e:
            problem(where, f"a {lang} block does not parse: {e}")
            continue
        if body.startswith("# trailwarden-values.yaml"):
            check_values(f"{where} values", doc, CHART_VALUES)
            counts["values"] += 1
        elif isinstance(doc, dict) and doc.get("kind") == "TrailPolicy":
            if doc.get("apiVersion") != "trailwarden.dev/v1alpha1" or not lookup(doc, "spec.region"):
                problem(where, f"TrailPolicy {lookup(doc, 'metadata.name')}: apiVersion or spec.region")
            counts["policies"] += 1
    if counts["values"] != 1:
        problem(where, "expected one values file block starting '# trailwarden-values.yaml'")
    print(f"deploy-check: {where}: {counts['json']} JSON blocks, {counts['values']} values file, {counts['policies']} TrailPolicies")


check_controller_role()
check_member_role()
check_examples()
check_guide()
if problems:
    print("deploy-check: FAILED", file=sys.stderr)
    for p in problems:
        print(f"  {p}", file=sys.stderr)
    sys.exit(1)
print("deploy-check: IAM templates and GitOps examples consistent")
