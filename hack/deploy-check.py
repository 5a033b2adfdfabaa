#!/usr/bin/env python3
"""Static checks of what deploy/iam/ and examples/{argocd,flux}/ ship, beside cfn-lint.

Run by hack/cfn-lint.sh (so in `make test`) with the cfn-lint venv's Python (PyYAML is a
cfn-lint dependency). It checks:

- deploy/iam/controller-role.yaml: its role's policy document equals deploy/iam-policy.json
  exactly; the IRSA trust (a JSON string once substituted) and the Pod Identity trust say
  what docs/eks.md says; the Pod Identity association exists only with Pod Identity.
- deploy/iam-policy.json: the TrailPolicySetsOnly statements grant exactly, for a
  TrailPolicySet's organization walk, ListRoots and ListDelegatedAdministrators on "*" and
  ListOrganizationalUnitsForParent and ListAccountsForParent on root and OU ARNs; for its
  service control policy, ListPolicies on "*", the reads on SCP ARNs, CreatePolicy and
  TagResource only with the trailwarden.dev/set tag (and no other key) in the request,
  UpdatePolicy, AttachPolicy and DetachPolicy only on SCPs carrying that tag, and
  AttachPolicy and DetachPolicy on root, OU and account ARNs; no other statement grants
  any of them.
- deploy/iam/member-role.yaml: with every option on, its statements are those of
  deploy/iam-policy.json of the same names less the events queue, sts:AssumeRole and the
  TrailPolicySetsOnly statements, with the same actions and at least the same conditions,
  and every resource in the role's own account; its trust requires sts:ExternalId; its default name is one the controller may
  assume (ActInOtherAccounts) and the chart's allowedRoleArns example matches. Its two
  ...FromOutside statements (LogArchiveAccountId) grant, in the log-archive account only,
  exactly the bucket and key reads S3 and KMS answer to another account, as the test bed
  answers them (hack/bed/rules/s3.py OWNER_ONLY, hack/bed/rules/kms.py CROSS_ACCOUNT,
  and the reads trailwarden asks of the owner only, OWNER_ONLY_ASKED): never an owner-only
  read, never a fix.
- deploy/iam/log-archive-role.yaml: with every option on, exactly the ReadTheKey, FixTheKey,
  ReadTheLogBucket, FixTheLogBucket and LogVerifier... statements of
  deploy/iam-policy.json, their actions unchanged; with every option off, all but the two
  fixes; evaluated in each partition, its key ARNs are this account's, its bucket ARNs the
  BucketNames given and its object ARNs their [prefix/]AWSLogs/ files, held to this account
  by s3:ResourceAccount, its keys decrypting through S3, and the public keys on "*"; its trust as the member role's, its
  default name assumable.
- examples/argocd/*.yaml, examples/flux/*.yaml: each document parses, has the apiVersion,
  kind and fields its kind requires and no spec field outside those its kind knows; the
  Helm values given (Argo CD valuesObject, Flux values) exist in the chart's values.yaml;
  sourceRefs and dependsOn name objects defined beside them.
- docs/eks.md: its JSON blocks parse, its values file gives only values the chart has, its
  TrailPolicies have the right apiVersion and a region. (Its troubleshooting table is
  checked against the reasons by a Rust test, crates/core/src/report/eks_doc.rs.)

Prints one line per file checked and exits 1 with every problem listed.
"""
import ast
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
    # S3 bucket ARNs carry no account: the s3:ResourceAccount condition must hold it, and
    # only it.
    accounts = statement.get("Condition", {}).get("StringEquals", {}).get("s3:ResourceAccount")
    return sub.startswith("arn:${AWS::Partition}:s3:::") and accounts is not None and as_list(accounts) == [{"Ref": "AWS::AccountId"}]


def bed_constant(path, name):
    """A literal assignment of a test bed rule module (hack/bed/rules/), read without
    importing it (it needs moto)."""
    tree = ast.parse((ROOT / path).read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise SystemExit(f"deploy-check: {path} has no {name}")


# What S3 and KMS answer to another account than the bucket's or key's, as the bed answers
# it (and the product asks it): the bucket reads less the owner-only ones, the key reads
# KMS serves across accounts. The bed names S3 operations by method and subresource.
S3_SUBRESOURCE_READS = {
    "policy": "s3:GetBucketPolicy",
    "versioning": "s3:GetBucketVersioning",
    "lifecycle": "s3:GetLifecycleConfiguration",
}
# Reads trailwarden asks of the bucket owner's account only (src/aws/s3.rs: `outside`),
# whether or not the bed refuses them to another account.
OWNER_ONLY_ASKED = {"s3:GetLifecycleConfiguration", "s3:GetEncryptionConfiguration", "s3:GetBucketObjectLockConfiguration"}
OWNER_ONLY_S3 = bed_constant("hack/bed/rules/s3.py", "OWNER_ONLY")
OWNER_ONLY_READS = set(OWNER_ONLY_ASKED)
for _method, _sub in OWNER_ONLY_S3:
    if _method == "GET":
        if _sub not in S3_SUBRESOURCE_READS:
            problem("hack/deploy-check.py", f"the bed's S3 OWNER_ONLY names GET ?{_sub}: add its IAM action to S3_SUBRESOURCE_READS")
        OWNER_ONLY_READS.add(S3_SUBRESOURCE_READS.get(_sub, f"s3:?{_sub}"))
OUTSIDE_BUCKET_READS = set(as_list(BY_SID["ReadTheLogBucket"]["Action"])) - OWNER_ONLY_READS
OUTSIDE_KEY_READS = {f"kms:{op}" for op in bed_constant("hack/bed/rules/kms.py", "CROSS_ACCOUNT")}
if not OUTSIDE_KEY_READS <= set(as_list(BY_SID["ReadTheKey"]["Action"])):
    problem("deploy/iam-policy.json", f"ReadTheKey lacks reads the product makes across accounts: {sorted(OUTSIDE_KEY_READS)}")
# Statements of the member role for the log-archive account (LogArchiveAccountId): Sid,
# (actions, the resource's Fn::Sub, the s3:ResourceAccount it must be held to).
FROM_OUTSIDE = {
    "ReadTheLogArchiveKeyFromOutside": (OUTSIDE_KEY_READS, "arn:${AWS::Partition}:kms:*:${LogArchiveAccountId}:key/*", None),
    "ReadTheLogArchiveBucketFromOutside": (OUTSIDE_BUCKET_READS, "arn:${AWS::Partition}:s3:::*", [{"Ref": "LogArchiveAccountId"}]),
}


# The statements a TrailPolicySet needs: Sid, (actions, resources, condition). The
# organization walk (src/aws/organizations.rs: one ListRoots, then per root and OU
# ListOrganizationalUnitsForParent and ListAccountsForParent): ListRoots is authorised on
# no resource (the Service Authorization Reference lists none); the two others on the
# root and OU ARNs, which carry the management account's id whoever asks. The set's
# service control policy (src/aws/organizations_scp.rs): ListPolicies on no resource; the
# reads on SCP ARNs; CreatePolicy (which also needs TagResource for the tag it carries)
# and TagResource only with the set's tag in the request and no other tag key;
# UpdatePolicy, AttachPolicy and DetachPolicy only on an SCP carrying the set's tag, and
# AttachPolicy and DetachPolicy also on the targets (roots, OUs, accounts), which carry
# no such tag: a tag condition there would refuse every attachment.
SET_TAG = "trailwarden.dev/set"
SCPS = "arn:aws:organizations::*:policy/o-*/service_control_policy/p-*"
NEW_SCPS = "arn:aws:organizations::*:policy/o-*/service_control_policy/*"
TAGGED_IN_THE_REQUEST = {"Null": {f"aws:RequestTag/{SET_TAG}": "false"}, "ForAllValues:StringEquals": {"aws:TagKeys": [SET_TAG]}}
ROOTS_AND_OUS = ["arn:aws:organizations::*:root/o-*/r-*", "arn:aws:organizations::*:ou/o-*/ou-*"]
POLICY_SETS_ONLY = {
    "TrailPolicySetsOnlyListTheRoots": ({"organizations:ListDelegatedAdministrators", "organizations:ListRoots"}, ["*"], None),
    "TrailPolicySetsOnlyWalkTheOrganization": (
        {"organizations:ListAccountsForParent", "organizations:ListOrganizationalUnitsForParent"},
        ROOTS_AND_OUS,
        None,
    ),
    "TrailPolicySetsOnlyListTheScps": ({"organizations:ListPolicies"}, ["*"], None),
    "TrailPolicySetsOnlyReadTheScps": (
        {"organizations:DescribePolicy", "organizations:ListTagsForResource", "organizations:ListTargetsForPolicy"},
        [SCPS],
        None,
    ),
    "TrailPolicySetsOnlyCreateScpsTaggedForASet": ({"organizations:CreatePolicy"}, [NEW_SCPS], TAGGED_IN_THE_REQUEST),
    "TrailPolicySetsOnlyTagScpsForASet": ({"organizations:TagResource"}, [NEW_SCPS], TAGGED_IN_THE_REQUEST),
    "TrailPolicySetsOnlyChangeScpsTaggedForASet": (
        {"organizations:AttachPolicy", "organizations:DetachPolicy", "organizations:UpdatePolicy"},
        [SCPS],
        {"Null": {f"aws:ResourceTag/{SET_TAG}": "false"}},
    ),
    "TrailPolicySetsOnlyHangScpsOnTargets": (
        {"organizations:AttachPolicy", "organizations:DetachPolicy"},
        [*ROOTS_AND_OUS, "arn:aws:organizations::*:account/o-*/*"],
        None,
    ),
}


def check_policy_sets():
    where = "deploy/iam-policy.json"
    for sid, (actions, resources, condition) in POLICY_SETS_ONLY.items():
        s = BY_SID.get(sid)
        if s is None:
            problem(where, f"no statement {sid} (a TrailPolicySet's organization walk or service control policy)")
            continue
        if set(as_list(s["Action"])) != actions:
            problem(where, f"{sid}: actions {sorted(as_list(s['Action']))}, expected {sorted(actions)}")
        if as_list(s["Resource"]) != resources:
            problem(where, f"{sid}: resources {as_list(s['Resource'])}, expected {resources}")
        if s.get("Condition") != condition:
            problem(where, f"{sid}: condition {s.get('Condition')}, expected {condition} (as the README describes)")
    granted = {a for s in IAM_POLICY["Statement"] if s["Sid"] not in POLICY_SETS_ONLY for a in as_list(s["Action"])}
    for actions, _, _ in POLICY_SETS_ONLY.values():
        for action in sorted(actions & granted):
            problem(where, f"{action} is granted outside the TrailPolicySetsOnly statements too")
    # No write reaches an SCP without the set's tag, in the request or on the SCP.
    for sid, (actions, resources, condition) in POLICY_SETS_ONLY.items():
        writes = {a for a in actions if not a.startswith(("organizations:List", "organizations:Describe"))}
        if writes and any(r.startswith("arn:aws:organizations::*:policy/") for r in resources) and not (condition or {}).get("Null"):
            problem(where, f"{sid}: writes {sorted(writes)} to SCPs without a trailwarden.dev/set tag condition")
    print(
        f"deploy-check: {where}: TrailPolicySets ({len(POLICY_SETS_ONLY)} statements): the organization walk on the root and OU ARNs "
        "but for ListRoots; the service control policy's writes held to the trailwarden.dev/set tag"
    )


def check_trust_and_name(where, t, role):
    """The trust admits the controller's role with the external id, and the default name is
    one the controller may assume (ActInOtherAccounts)."""
    trust = role["AssumeRolePolicyDocument"]["Statement"]
    if any("sts:ExternalId" not in s.get("Condition", {}).get("StringEquals", {}) for s in trust):
        problem(where, "every trust statement must require sts:ExternalId")
    if any(s.get("Principal") != {"AWS": {"Ref": "ControllerRoleArn"}} for s in trust):
        problem(where, "the trust must name the controller's role (ControllerRoleArn) and nobody else")
    name = t["Parameters"]["RoleName"]["Default"]
    assumable = BY_SID["ActInOtherAccounts"]["Resource"].split(":role/", 1)[1]
    if not fnmatch.fnmatchcase(name, assumable):
        problem(where, f"default RoleName {name} is not assumable under ActInOtherAccounts ({assumable})")
    if not t["Parameters"]["RoleName"].get("AllowedPattern", "").startswith("trailwarden"):
        problem(where, "RoleName's AllowedPattern must require the trailwarden prefix")
    return name


def check_member_role():
    where = "deploy/iam/member-role.yaml"
    t = load_cfn(ROOT / where)
    raw = [s for p in t["Resources"]["MemberRole"]["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]
    role = with_every_option(t["Resources"]["MemberRole"]["Properties"])
    every = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    statements = [s for s in every if s.get("Sid") not in FROM_OUTSIDE]
    # The organization walk of a TrailPolicySet is the controller's own (or a role of the
    # management or delegated administrator account that spec.organizationRoleArn names),
    # never a member role's: see check_policy_sets.
    left_out = {"ReadTheEventsQueue", "ActInOtherAccounts", *POLICY_SETS_ONLY}
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
            elif isinstance(resource, dict) and "${LogArchiveAccountId}" in resource["Fn::Sub"]:
                problem(where, f"{sid}: reaches the log-archive account")
    # The log-archive account: only the reads S3 and KMS answer across accounts, only
    # when LogArchiveAccountId is given.
    outside = {s["Sid"]: s for s in every if s.get("Sid") in FROM_OUTSIDE}
    if set(outside) != set(FROM_OUTSIDE):
        problem(where, f"expected the statements {sorted(FROM_OUTSIDE)} for LogArchiveAccountId, found {sorted(outside)}")
    conditional = {s["Fn::If"][1].get("Sid"): s["Fn::If"][0] for s in raw if isinstance(s, dict) and "Fn::If" in s}
    for sid, s in outside.items():
        actions, resource, accounts = FROM_OUTSIDE[sid]
        if conditional.get(sid) != "LogArchive" or t["Conditions"].get("LogArchive") != {"Fn::Not": [{"Fn::Equals": [{"Ref": "LogArchiveAccountId"}, ""]}]}:
            problem(where, f"{sid}: must be granted only when LogArchiveAccountId is given (condition LogArchive)")
        if set(as_list(s["Action"])) != actions:
            problem(where, f"{sid}: actions {sorted(as_list(s['Action']))}, expected what another account is answered: {sorted(actions)}")
        if as_list(s["Resource"]) != [{"Fn::Sub": resource}]:
            problem(where, f"{sid}: resource {s['Resource']}, expected {resource}")
        held = s.get("Condition", {}).get("StringEquals", {}).get("s3:ResourceAccount")
        if accounts is not None and (held is None or as_list(held) != accounts):
            problem(where, f"{sid}: must be held to the log-archive account by s3:ResourceAccount")
    actions = {a for s in every for a in as_list(s["Action"])}
    for forbidden in ("sqs:", "sts:"):
        if any(a.startswith(forbidden) for a in actions):
            problem(where, f"grants {forbidden}*")
    name = check_trust_and_name(where, t, role)
    ci = yaml.safe_load((ROOT / "charts/trailwarden/ci/all-options-values.yaml").read_text())
    patterns = ci.get("guardrails", {}).get("allowedRoleArns", [])
    arn = f"arn:aws:iam::111122223333:role/{name}"
    if patterns and not any(fnmatch.fnmatchcase(arn, p) for p in patterns):
        problem(where, f"{arn} matches none of the chart's allowedRoleArns example {patterns}")
    print(
        f"deploy-check: {where}: {len(statements)} statements as deploy/iam-policy.json's, in this account, external id; "
        f"in the log archive {sorted(OUTSIDE_BUCKET_READS | OUTSIDE_KEY_READS)} only"
    )


def evaluate(value, refs, conditions):
    """The value CloudFormation makes of `value` (Ref, Fn::Sub, Fn::Join, Fn::Split, Fn::If,
    Fn::Equals, Fn::Not), with `refs` for parameters and pseudo parameters."""
    if isinstance(value, list):
        return [evaluate(v, refs, conditions) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Ref"}:
        return refs[value["Ref"]]
    if set(value) == {"Fn::Sub"}:
        text, variables = (value["Fn::Sub"], {}) if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"]
        names = {**refs, **{k: evaluate(v, refs, conditions) for k, v in variables.items()}}
        return re.sub(r"\$\{([^}]+)\}", lambda m: names[m.group(1)], text)
    if set(value) == {"Fn::Join"}:
        delimiter, parts = value["Fn::Join"]
        return delimiter.join(evaluate(parts, refs, conditions))
    if set(value) == {"Fn::Split"}:
        delimiter, text = value["Fn::Split"]
        return evaluate(text, refs, conditions).split(delimiter)
    if set(value) == {"Fn::If"}:
        name, yes, no = value["Fn::If"]
        return evaluate(yes if evaluate(conditions[name], refs, conditions) else no, refs, conditions)
    if set(value) == {"Fn::Equals"}:
        a, b = evaluate(value["Fn::Equals"], refs, conditions)
        return a == b
    if set(value) == {"Fn::Not"}:
        return not evaluate(value["Fn::Not"][0], refs, conditions)
    return {k: evaluate(v, refs, conditions) for k, v in value.items()}


def check_log_archive_role():
    where = "deploy/iam/log-archive-role.yaml"
    t = load_cfn(ROOT / where)
    properties = t["Resources"]["LogArchiveRole"]["Properties"]
    verifier = [sid for sid in BY_SID if sid.startswith("LogVerifier")]
    wanted = ["ReadTheKey", "FixTheKey", "ReadTheLogBucket", "FixTheLogBucket", *verifier]
    account, buckets = "444455556666", ["acme-cloudtrail", "aws-controltower-logs-*"]
    for partition in ("aws", "aws-cn", "aws-us-gov"):
        for fixes, sids in (("true", wanted), ("false", [s for s in wanted if not s.startswith("Fix")])):
            refs = {"AWS::Partition": partition, "AWS::AccountId": account, "AWS::NoValue": None, "BucketNames": buckets, "AllowPostureFixes": fixes}
            refs.update({k: v.get("Default", k) for k, v in t["Parameters"].items() if k not in refs})
            role = evaluate(properties, refs, t["Conditions"])
            statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"] if s is not None]
            if [s.get("Sid") for s in statements] != sids:
                problem(where, f"AllowPostureFixes={fixes}: statements {[s.get('Sid') for s in statements]}, expected {sids}")
                continue
            for s in statements:
                sid = s["Sid"]
                if sorted(as_list(s["Action"])) != sorted(as_list(BY_SID[sid]["Action"])):
                    problem(where, f"{sid}: actions differ from deploy/iam-policy.json")
                resources = as_list(s["Resource"])
                if sid.endswith("Key") or sid == "LogVerifierDecryptsTheLogFiles":
                    expected = [f"arn:{partition}:kms:*:{account}:key/*"]
                elif as_list(BY_SID[sid]["Resource"]) == ["*"]:
                    # CloudTrail's public keys: no resource scopes ListPublicKeys.
                    expected = ["*"]
                elif sid == "LogVerifierReadsTheLogFiles":
                    expected = [f"arn:{partition}:s3:::{b}/AWSLogs/*" for b in buckets]
                    expected += [f"arn:{partition}:s3:::{b}/*/AWSLogs/*" for b in buckets]
                    if as_list(s.get("Condition", {}).get("StringEquals", {}).get("s3:ResourceAccount")) != [account]:
                        problem(where, f"{sid}: must be held to this account by s3:ResourceAccount")
                else:
                    expected = [f"arn:{partition}:s3:::{b}" for b in buckets]
                    if as_list(s.get("Condition", {}).get("StringEquals", {}).get("s3:ResourceAccount")) != [account]:
                        problem(where, f"{sid}: must be held to this account by s3:ResourceAccount")
                if resources != expected:
                    problem(where, f"{sid} in {partition}: resources {resources}, expected {expected}")
    check_trust_and_name(where, t, properties)
    if "RoleArn" not in t.get("Outputs", {}):
        problem(where, "no RoleArn output")
    print(
        f"deploy-check: {where}: {len(wanted)} statements as deploy/iam-policy.json's, on the named buckets (their AWSLogs/ files) "
        "and this account's keys, external id"
    )


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
check_policy_sets()
check_member_role()
check_log_archive_role()
check_examples()
check_guide()
if problems:
    print("deploy-check: FAILED", file=sys.stderr)
    for p in problems:
        print(f"  {p}", file=sys.stderr)
    sys.exit(1)
print("deploy-check: IAM templates and GitOps examples consistent")
