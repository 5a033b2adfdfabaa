"""Bed rules for service control policies (SCPs): see rules/__init__.py.

Two parts. First, what the Organizations API refuses about SCPs and moto 5.2.5 accepts:
attaching a policy whose type the root has not enabled, a sixth SCP on one target, a
duplicate attachment, detaching what is not attached or the target's last SCP, content too
large or not JSON; and what disabling and re-enabling the SCP type does to attachments.

Second, what SCPs do, which moto does not model at all: `refusal()` decides whether the
SCPs of a member account's organization let one call through. CloudTrail's and KMS's
requests ask it here (`guard_json_service`, before moto runs the action); S3's bucket
requests ask it from rules/s3.py's chain of bucket rules.

In moto an organization lives in the Organizations backend of its management account
(rules/organizations.py finds it); its root, OUs and accounts keep `attached_policies`.
"""

import json

from moto.cloudtrail.responses import CloudTrailResponse
from moto.core.exceptions import JsonRESTError, ServiceException
from moto.core.utils import camelcase_to_underscores
from moto.iam.models import iam_backends
from moto.kms.responses import KmsResponse
from moto.organizations.models import FakeRoot
from moto.organizations.responses import OrganizationsResponse
from moto.organizations.utils import DEFAULT_SCP_POLICY_ID
from moto.utilities.utils import get_partition

from . import organizations
from .cloudtrail import TRAIL_PARAMETER
from .policy import ALLOWED, DENIED, evaluate_attached

SCP = "SERVICE_CONTROL_POLICY"
# https://docs.aws.amazon.com/organizations/latest/userguide/orgs_reference_limits.html
MAX_SCPS_PER_TARGET = 5
MAX_SCP_CHARACTERS = 5120


class Refusal(ServiceException):
    """An Organizations error as botocore's model shapes it (and the Rust SDK decodes it):
    the code in `__type`, a Message, and for ConstraintViolationException its Reason."""

    def __init__(self, code, message, reason=None):
        super().__init__(code, message)
        if reason is not None:
            self.reason = reason


# -- the organization's structure ------------------------------------------------------


def root(backend):
    return next(ou for ou in backend.ou if isinstance(ou, FakeRoot))


def enabled(backend, policy_type):
    """Whether `policy_type` is enabled in the organization's root."""
    return any(t["Type"] == policy_type and t["Status"] == "ENABLED" for t in root(backend).policy_types)


def find_target(backend, target_id):
    """The root, OU or account `target_id` names, or None (moto then answers its own
    not-found error)."""
    return next((t for t in [*backend.ou, *backend.accounts] if t.id == target_id), None)


def scps(target):
    return [p for p in target.attached_policies if p.type == SCP]


def attached(backend, policy, target):
    """Whether `policy` is attached to `target`. While a policy type is disabled nothing of
    that type is attached, whatever moto keeps (it attaches FullAWSAccess to every new
    root, OU and account whether SCPs are enabled or not)."""
    return policy in target.attached_policies and enabled(backend, policy.type)


# -- part 1: the Organizations API -------------------------------------------------------


def refuse_attach(backend, policy, target):
    """AttachPolicy refuses, in this order:
    - a policy whose type is not enabled in the root: PolicyTypeNotEnabledException ("You
      can't attach policies of the specified type to entities in a root until you enable
      that type in the root");
    - a policy already attached to the target: DuplicatePolicyAttachmentException;
    - a sixth SCP on one root, OU or account: ConstraintViolationException, Reason
      MAX_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED (the model's reason for "the number of
      policies of a certain type that can be attached to an entity"; POLICY_NUMBER_LIMIT_EXCEEDED
      is the organization's number of policies). The AWS managed FullAWSAccess counts: it
      is an attached SCP like any other. SCPs inherited from parents do not.
    moto attaches in every case (a duplicate silently).
    https://docs.aws.amazon.com/organizations/latest/APIReference/API_AttachPolicy.html
    (its Errors, ConstraintViolationException's reasons among them)
    https://docs.aws.amazon.com/organizations/latest/userguide/orgs_reference_limits.html
    (5 SCPs attached to a root, OU or account; third-party reports say AWS raised this to
    10 in May 2026 -- MAX_SCPS_PER_TARGET is the one number to change if so).
    """
    if not enabled(backend, policy.type):
        raise Refusal("PolicyTypeNotEnabledException", "This operation can be performed only for enabled policy types.")
    if attached(backend, policy, target):
        raise Refusal("DuplicatePolicyAttachmentException", "The selected policy is already attached to the specified target.")
    if policy.type == SCP and len(scps(target)) >= MAX_SCPS_PER_TARGET:
        raise Refusal(
            "ConstraintViolationException",
            "You have attached the maximum number of policies to the specified target.",
            "MAX_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED",
        )


def refuse_detach(backend, policy, target):
    """DetachPolicy refuses a policy not attached to the target (PolicyNotAttachedException)
    and the last SCP of a root, OU or account: "Every root, OU, and account must have at
    least one SCP attached" (ConstraintViolationException, Reason
    MIN_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED). moto detaches, or ignores, in every case.
    https://docs.aws.amazon.com/organizations/latest/APIReference/API_DetachPolicy.html
    """
    if not attached(backend, policy, target):
        raise Refusal("PolicyNotAttachedException", "The policy isn't attached to the specified target in the specified root.")
    if policy.type == SCP and len(scps(target)) <= 1:
        raise Refusal(
            "ConstraintViolationException",
            "You cannot detach the last service control policy from the specified target.",
            "MIN_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED",
        )


def refuse_content(policy_type, content):
    """CreatePolicy and UpdatePolicy refuse an SCP larger than 5,120 characters
    (ConstraintViolationException, Reason POLICY_CONTENT_LIMIT_EXCEEDED: "a policy that is
    larger than the maximum size"; whitespace counts, as the SDK stores the document as
    sent) and any policy whose content is not one JSON object
    (MalformedPolicyDocumentException). moto stores whatever it is given.
    https://docs.aws.amazon.com/organizations/latest/APIReference/API_CreatePolicy.html
    https://docs.aws.amazon.com/organizations/latest/APIReference/API_UpdatePolicy.html
    https://docs.aws.amazon.com/organizations/latest/userguide/orgs_reference_limits.html
    (SCP document: 5,120 characters; some AWS pages say bytes, which for the ASCII
    documents trailwarden writes is the same; third-party reports say 10,240 since May 2026)
    https://docs.aws.amazon.com/organizations/latest/userguide/org_troubleshoot_policies.html
    (one and only one JSON object)
    """
    if content is None:
        return
    if policy_type == SCP and len(content) > MAX_SCP_CHARACTERS:
        raise Refusal(
            "ConstraintViolationException", "You have exceeded the maximum policy size.", "POLICY_CONTENT_LIMIT_EXCEEDED"
        )
    try:
        document = json.loads(content)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise Refusal(
            "MalformedPolicyDocumentException",
            "The provided policy document doesn't meet the requirements of the specified policy type.",
        )


def follow_policy_type(backend, policy_type, now_enabled):
    """Disabling the SCP type detaches every SCP from every entity of the root (the policies
    stay); re-enabling it leaves every entity with the default FullAWSAccess SCP only. moto
    keeps every attachment across both. (AWS detaches the policies of any type disabled;
    the bed follows SCPs only, the type trailwarden uses.)
    https://docs.aws.amazon.com/organizations/latest/userguide/disable-policy-type.html
    https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps_evaluation.html
    (enabling SCPs attaches FullAWSAccess)
    """
    if policy_type != SCP:
        return
    for target in [*backend.ou, *backend.accounts]:
        for policy in scps(target):
            if not now_enabled or policy.id != DEFAULT_SCP_POLICY_ID:
                target.attached_policies.remove(policy)
                policy.attachments.remove(target)
        if now_enabled and not scps(target):
            backend.attach_policy(PolicyId=DEFAULT_SCP_POLICY_ID, TargetId=target.id)


# -- part 2: what SCPs do ------------------------------------------------------------------


def governed(account):
    """The Organizations backend whose SCPs govern `account`'s principals, or None: when
    the account is in no organization, is its management account, or its root has not
    enabled SCPs. A few look-ups in moto's dictionaries, made before anything else, so a
    call of an ungoverned account (most of the e2e suite) costs next to nothing more."""
    backend = organizations.backend_of(account)
    if backend is None or backend.org is None or backend.org.master_account_id == account:
        return None
    return backend if enabled(backend, SCP) else None


def principal(account, access_key, region):
    """(aws:PrincipalArn, aws:PrincipalType) of whoever signs with `access_key` in `account`.

    moto keeps every access key it issues in the IAM backend of its account: an AssumeRole
    session's key carries `role_arn`, an IAM user's key its `user_name`. For a session the
    principal ARN is the role's, not the session's. A key moto never issued (the bed's
    "testing" key with x-moto-account-id) acts with the account's full authority, as the
    account's root user does, and is taken for it.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalarn
    """
    for backend in (iam_backends.get(account) or {}).values():
        key = backend.access_keys.get(access_key)
        if key is not None and key.role_arn:
            return key.role_arn, "AssumedRole"
        if key is not None and key.user_name in backend.users:
            return backend.users[key.user_name].arn, "User"
    return f"arn:{get_partition(region)}:iam::{account}:root", "Account"


def path(backend, account):
    """The root, the OUs down to the account, and the account: every level whose SCPs
    govern it; None when the organization does not hold the account."""
    target = next((a for a in backend.accounts if a.id == account), None)
    levels = []
    while target is not None and len(levels) < 10:
        levels.insert(0, target)
        target = None if isinstance(target, FakeRoot) else find_target(backend, target.parent_id)
    return levels if levels and isinstance(levels[0], FakeRoot) else None


def refusal(account, access_key, region, action, resource):
    """None when the SCPs governing `account` let its principal signing with `access_key`
    do `action` (e.g. "cloudtrail:StopLogging") on `resource`; else the sentence AWS
    answers with.

    SCPs govern every principal of a member account, its root user included, but none of
    the management account and no service-linked role. A call is refused when an SCP
    attached to the root, to an OU on the way down to the account, or to the account itself
    has an applicable Deny; and when at some level of that path no attached SCP has an
    applicable Allow ("to allow a permission for a specific account, there must be an
    explicit Allow statement at every level"). Statements are read by rules/policy.py,
    which never guesses in the requester's favour, with the condition context
    aws:PrincipalArn, aws:PrincipalAccount, aws:PrincipalType, aws:PrincipalOrgID and
    aws:RequestedRegion; any other key is unknown.
    https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps_evaluation.html
    https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps.html
    (not the management account, not service-linked roles; the root user of members yes)
    https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html
    (the wording of the refusal)
    """
    backend = governed(account)
    if backend is None:
        return None
    arn, kind = principal(account, access_key, region)
    levels = path(backend, account)
    if levels is None or ":role/aws-service-role/" in arn:
        return None
    context = {
        "aws:PrincipalArn": arn,
        "aws:PrincipalAccount": account,
        "aws:PrincipalType": kind,
        "aws:PrincipalOrgID": backend.org.id,
        "aws:RequestedRegion": region,
    }
    decisions = [[evaluate_attached(p.content, action, resource, context) for p in scps(level)] for level in levels]
    who = f"User: {arn} is not authorized to perform: {action} on resource: {resource}"
    if any(DENIED in level for level in decisions):
        return f"{who} with an explicit deny in a service control policy"
    if any(ALLOWED not in level for level in decisions):
        return f"{who} because no service control policy allows the {action} action"
    return None


def trail_resources(response):
    """CloudTrail: the trail ARN(s) a request names -- by name (the caller's trail in the
    request's region) or by ARN -- else "*". Every CloudTrail action is governed."""
    action = response._get_action()
    if action == "ListTags":
        names = response._get_param("ResourceIdList") or []
    else:
        member = "Name" if action == "CreateTrail" else TRAIL_PARAMETER.get(camelcase_to_underscores(action))
        names = [response._get_param(member)] if member else []
    home = f"arn:{get_partition(response.region)}:cloudtrail:{response.region}:{response.current_account}:trail/"
    arns = [name if name.startswith("arn:") else home + name for name in names if isinstance(name, str) and name]
    return arns or ["*"]


# The KMS operations governed, and the key ARN each names (KeyId: a key id or key ARN).
KMS_ACTIONS = {
    "DisableKey",
    "ScheduleKeyDeletion",
    "PutKeyPolicy",
    "DisableKeyRotation",
    "EnableKey",
    "CancelKeyDeletion",
    "EnableKeyRotation",
}


def key_resources(response):
    if response._get_action() not in KMS_ACTIONS:
        return []
    key = response._get_param("KeyId") or ""
    if key.startswith("arn:"):
        return [key]
    return [f"arn:{get_partition(response.region)}:kms:{response.region}:{response.current_account}:key/{key}"]


def guard_json_service(response_class, service, resources_of):
    """Checks SCPs for `service` (a JSON-protocol service) before any of its actions runs: a
    governed call SCPs refuse is answered AccessDeniedException (HTTP 400, as these services'
    common errors say; the JSON error body and headers moto gives its services' errors), its
    message naming the principal, action and resource. `resources_of(response)` lists the
    resources an action names, [] for an action not governed."""
    call_action = response_class.call_action

    def call_action_within_scps(self):
        why = None
        if governed(self.current_account) is not None:
            action = f"{service}:{self._get_action()}"
            for named in resources_of(self):
                why = why or refusal(self.current_account, self.get_access_key(), self.region, action, named)
        if why is None:
            return call_action(self)
        refused = JsonRESTError("AccessDeniedException", why)
        headers, body = self._enrich_response({**dict(refused.get_headers()), "status": refused.code}, refused.get_body())
        return refused.code, headers, body

    response_class.call_action = call_action_within_scps


def install():
    def checked(method, check):
        original = getattr(OrganizationsResponse, method)

        def answer(self):
            check(self, self.organizations_backend, self.request_params)
            return original(self)

        setattr(OrganizationsResponse, method, answer)

    def on_attach(self, backend, params):
        policy = backend.get_policy_by_id(params.get("PolicyId"))
        target = find_target(backend, params.get("TargetId"))
        if target is not None:
            refuse_attach(backend, policy, target)

    def on_detach(self, backend, params):
        policy = backend.get_policy_by_id(params.get("PolicyId"))
        target = find_target(backend, params.get("TargetId"))
        if target is not None:
            refuse_detach(backend, policy, target)

    def on_create(self, backend, params):
        refuse_content(params.get("Type"), params.get("Content"))

    def on_update(self, backend, params):
        refuse_content(backend.get_policy_by_id(params.get("PolicyId")).type, params.get("Content"))

    checked("attach_policy", on_attach)
    checked("detach_policy", on_detach)
    checked("create_policy", on_create)
    checked("update_policy", on_update)

    def following(method, now_enabled):
        original = getattr(OrganizationsResponse, method)

        def answer(self):
            answered = original(self)
            follow_policy_type(self.organizations_backend, self._get_param("PolicyType"), now_enabled)
            return answered

        setattr(OrganizationsResponse, method, answer)

    following("enable_policy_type", True)
    following("disable_policy_type", False)

    guard_json_service(CloudTrailResponse, "cloudtrail", trail_resources)
    guard_json_service(KmsResponse, "kms", key_resources)
