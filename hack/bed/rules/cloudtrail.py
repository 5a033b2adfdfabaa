"""Bed rules for CloudTrail: see rules/__init__.py.

Two kinds of patches. Semantics moto 5.2.5 gets wrong and trailwarden relies on
(`fix_semantics`, `refuse_taken_name`), and refusals: the trail quota and organization
trails. Organization trails are stored where AWS keeps them, in the management account's
CloudTrail (the delegated administrator creates them there), and other accounts of the
organization reach them by ARN: `answering_account` picks, per request, the account whose
CloudTrail backend answers it, and `CloudTrailResponse.cloudtrail_backend` follows it.
"""

import copy
import json

from moto.cloudtrail.models import CloudTrailBackend, Trail, cloudtrail_backends
from moto.cloudtrail.responses import CloudTrailResponse
from moto.core.exceptions import JsonRESTError
from moto.utilities.utils import get_partition

from . import organizations

MAX_TRAILS_PER_REGION = 5

# What GetEventSelectors answers for a trail nobody put selectors on.
DEFAULT_EVENT_SELECTOR = {
    "ReadWriteType": "All",
    "IncludeManagementEvents": True,
    "DataResources": [],
    "ExcludeManagementEventSources": [],
}

# Response method -> the request parameter that names the trail (or its ARN).
TRAIL_PARAMETER = {
    "get_trail": "Name",
    "get_trail_status": "Name",
    "start_logging": "Name",
    "stop_logging": "Name",
    "delete_trail": "Name",
    "update_trail": "Name",
    "put_event_selectors": "TrailName",
    "get_event_selectors": "TrailName",
    "put_insight_selectors": "TrailName",
    "get_insight_selectors": "TrailName",
    "add_tags": "ResourceId",
    "remove_tags": "ResourceId",
}
# What a member account that is not a delegated administrator may do with its
# organization's trail besides listing it.
MEMBER_READS = {"get_trail", "get_trail_status"}
WRITES = {
    "start_logging",
    "stop_logging",
    "delete_trail",
    "update_trail",
    "put_event_selectors",
    "put_insight_selectors",
    "add_tags",
    "remove_tags",
}


def refusal(code, message):
    """CloudTrail's answer refusing a call: HTTP 400, JSON error `code` (rules/cloudtrail_delivery.py too)."""
    return JsonRESTError(code, message)


def _not_management(account):
    return refusal(
        "NotOrganizationMasterAccountException",
        f"Account {account}: you cannot configure or manage trails for an organization: "
        "this requires the management account (or CloudTrail's delegated administrator).",
    )


def _trail_arn_account(name):
    """The account an `arn:<partition>:cloudtrail:<region>:<account>:trail/<name>` names,
    or None when `name` is a plain name."""
    parts = (name or "").split(":")
    if len(parts) == 6 and parts[0] == "arn" and parts[5].startswith("trail/"):
        return parts[4]
    return None


def _same_partition(a, b):
    return get_partition(a) == get_partition(b)


def fix_semantics():
    """Where moto 5.2.5 differs from AWS and trailwarden relies on AWS's behaviour.

    PutInsightSelectors replaces the trail's insight selectors (moto appends);
    PutEventSelectors with one kind of selector clears the other kind (moto keeps both);
    DescribeTrails reports HasCustomEventSelectors / HasInsightSelectors (moto always says
    false); DeleteTrail takes a trail ARN as well as a name, and refuses an unknown trail
    (moto ignores ARNs and unknown names alike); GetEventSelectors on a trail nobody put
    selectors on answers the selector AWS records by default (ReadWriteType All,
    management events included, nothing excluded; moto answers none), while
    DescribeTrails still says HasCustomEventSelectors false for it, as AWS does.
    https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_PutEventSelectors.html
    https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_PutInsightSelectors.html
    https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_DeleteTrail.html
    """

    def delete_trail(self, name):
        trail = self.get_trail(name)
        del self.trails[trail.trail_name]

    def put_event_selectors(self, event_selectors, advanced_event_selectors):
        if event_selectors:
            self.event_selectors = event_selectors
            self.advanced_event_selectors = []
        elif advanced_event_selectors:
            self.event_selectors = []
            self.advanced_event_selectors = advanced_event_selectors

    def put_insight_selectors(self, insight_selectors):
        self.insight_selectors = list(insight_selectors or [])

    describe = Trail.description

    def description(self, include_region=False):
        desc = describe(self, include_region)
        desc["HasCustomEventSelectors"] = bool(self.event_selectors or self.advanced_event_selectors)
        desc["HasInsightSelectors"] = bool(self.insight_selectors)
        return desc

    def get_event_selectors(self):
        # Both lists are empty only until the first PutEventSelectors (put_event_selectors
        # above never empties both), so this is "nobody put selectors on this trail".
        if not self.event_selectors and not self.advanced_event_selectors:
            return [copy.deepcopy(DEFAULT_EVENT_SELECTOR)], []
        return self.event_selectors, self.advanced_event_selectors

    CloudTrailBackend.delete_trail = delete_trail
    Trail.put_event_selectors = put_event_selectors
    Trail.get_event_selectors = get_event_selectors
    Trail.put_insight_selectors = put_insight_selectors
    Trail.description = description


def refuse_taken_name(backend, name):
    """CreateTrail refuses a name the account already uses in the region, a multi-region
    trail's shadow included, with TrailAlreadyExistsException (moto replaces the trail).
    https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_CreateTrail.html
    """
    for other in cloudtrail_backends[backend.account_id].values():
        trail = other.trails.get(name)
        if trail is not None and (other is backend or trail.is_multi_region):
            raise refusal("TrailAlreadyExistsException", f"Trail {name} already exists for customer: {backend.account_id}")


def trails_counted(account, region):
    """The trails counted against `account`'s quota in `region`: those homed there and the
    shadows of its multi-region trails homed elsewhere in the partition."""
    return [
        trail
        for backend in cloudtrail_backends[account].values()
        for trail in backend.trails.values()
        if trail.region_name == region or (trail.is_multi_region and _same_partition(trail.region_name, region))
    ]


def refuse_beyond_quota(backend, multi_region, exclude_home=False):
    """At most 5 trails per account per region, a quota that cannot be raised; a
    multi-region trail counts in every region of its partition (its shadows), so a new
    multi-region trail, or a trail UpdateTrail turns multi-region, needs room in each
    region the account has trails in. Beyond it: MaximumNumberOfTrailsExceededException.

    Organization trails count against the account that owns them, the management account
    (also when the delegated administrator creates them): the quota holds in the region
    of the management account where the organization trail is created, while the copies
    in member accounts are made even when a member already has 5 trails there, so they
    are not counted against members.
    https://docs.aws.amazon.com/awscloudtrail/latest/userguide/WhatIsCloudTrail-Limits.html
    https://docs.aws.amazon.com/awscloudtrail/latest/userguide/creating-an-organizational-trail-prepare.html
    """
    account, home = backend.account_id, backend.region_name
    regions = {home}
    if multi_region:
        regions |= {r for r in cloudtrail_backends[account] if _same_partition(r, home)}
    if exclude_home:
        regions.discard(home)
    for region in sorted(regions):
        if len(trails_counted(account, region)) >= MAX_TRAILS_PER_REGION:
            raise refusal(
                "MaximumNumberOfTrailsExceededException",
                f"User: {account} already has {MAX_TRAILS_PER_REGION} trails in {region}.",
            )


def refuse_organization_trail(caller):
    """CreateTrail / UpdateTrail with IsOrganizationTrail true: the caller's account must
    belong to an organization (else OrganizationsNotInUseException) that has all features
    enabled (else OrganizationNotInAllFeaturesModeException) and trusted access for
    CloudTrail (else CloudTrailAccessNotEnabledException), and be its management account
    or CloudTrail's delegated administrator (else NotOrganizationMasterAccountException).
    https://docs.aws.amazon.com/awscloudtrail/latest/userguide/creating-an-organizational-trail-prepare.html
    https://docs.aws.amazon.com/awscloudtrail/latest/userguide/creating-trail-organization.html
    https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_CreateTrail.html
    """
    if organizations.organization_id(caller) is None:
        raise refusal("OrganizationsNotInUseException", f"Account {caller} is not a member of an organization.")
    if not organizations.all_features(caller):
        raise refusal(
            "OrganizationNotInAllFeaturesModeException",
            "All features must be enabled in Organizations to create an organization trail.",
        )
    if not organizations.trusted_access(caller):
        raise refusal(
            "CloudTrailAccessNotEnabledException",
            "Trusted access for CloudTrail is not enabled in the organization.",
        )
    if caller != organizations.management_account(caller) and not organizations.delegated_administrator(caller):
        raise _not_management(caller)


def refuse_conversion(caller, trail, is_organization_trail):
    """UpdateTrail that turns an organization trail into an account's trail, or the
    reverse, is the management account's alone (the delegated administrator may not):
    NotOrganizationMasterAccountException.
    https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_UpdateTrail.html
    https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-create-and-update-an-organizational-trail-by-using-the-aws-cli.html
    """
    if bool(is_organization_trail) != bool(trail.is_org_trail) and caller != organizations.management_account(caller):
        raise _not_management(caller)


def organization_trail(caller, arn):
    """The organization trail with ARN `arn` that `caller` sees: one of the management
    account of its organization, or None."""
    management = organizations.management_account(caller)
    if management is None or management == caller or _trail_arn_account(arn) != management:
        return None
    return next(
        (t for b in cloudtrail_backends[management].values() for t in b.trails.values() if t.arn == arn and t.is_org_trail),
        None,
    )


def answering_account(caller, action, name):
    """The account whose CloudTrail answers `action` on trail `name` for `caller`.

    A name, or an ARN of the caller's own account, is the caller's. An ARN of the
    organization's trail (owned by the management account) is the management account's:
    its delegated administrator may do everything with it; another member account sees it
    (DescribeTrails, ListTrails, GetTrail, GetTrailStatus) but may not change it
    (NotOrganizationMasterAccountException) nor read its selectors or tags
    (CloudTrailARNInvalidException, as AWS answers member accounts asking ListTags of
    the organization's trail). Any other account's ARN: CloudTrailARNInvalidException.
    https://docs.aws.amazon.com/awscloudtrail/latest/userguide/creating-trail-organization.html
    https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-delegated-administrator.html
    """
    owner = _trail_arn_account(name)
    if owner is None or owner == caller:
        return caller
    if organization_trail(caller, name) is not None:
        if organizations.delegated_administrator(caller) or action in MEMBER_READS:
            return owner
        if action in WRITES:
            raise _not_management(caller)
    raise refusal(
        "CloudTrailARNInvalidException",
        f"AccountID in ARN is wrong, you can only access resources with AccountID {caller}.",
    )


def organization_trails_seen(account, region, include_shadows):
    """The organization trails a member `account` sees in `region`: those of its
    management account homed there, and the multi-region ones homed elsewhere when
    shadows are asked for, listed with their own ARN (the management account's).
    https://docs.aws.amazon.com/awscloudtrail/latest/userguide/creating-trail-organization.html
    """
    management = organizations.management_account(account)
    if management is None or management == account or management not in cloudtrail_backends:
        return []
    return [
        trail
        for backend in cloudtrail_backends[management].values()
        for trail in backend.trails.values()
        if trail.is_org_trail
        and (
            trail.region_name == region
            or (include_shadows and trail.is_multi_region and _same_partition(trail.region_name, region))
        )
    ]


def install():
    fix_semantics()

    create = CloudTrailBackend.create_trail

    def create_trail(self, name, bucket_name, s3_key_prefix, sns_topic_name, is_global, is_multi_region, *rest):
        refuse_taken_name(self, name)
        refuse_beyond_quota(self, is_multi_region)
        return create(self, name, bucket_name, s3_key_prefix, sns_topic_name, is_global, is_multi_region, *rest)

    update = CloudTrailBackend.update_trail

    def update_trail(self, name, **changes):
        if changes.get("is_multi_region_trail") and not self.get_trail(name).is_multi_region:
            refuse_beyond_quota(self, True, exclude_home=True)
        return update(self, name=name, **changes)

    CloudTrailBackend.create_trail = create_trail
    CloudTrailBackend.update_trail = update_trail

    # Each request is answered by the CloudTrail backend of `answering_account`.
    CloudTrailResponse.cloudtrail_backend = property(
        lambda self: cloudtrail_backends[getattr(self, "answering_account", self.current_account)][self.region]
    )

    def routed(action, parameter):
        method = getattr(CloudTrailResponse, action)

        def answer(self):
            self.answering_account = answering_account(self.current_account, action, self._get_param(parameter))
            return method(self)

        return answer

    for action, parameter in TRAIL_PARAMETER.items():
        setattr(CloudTrailResponse, action, routed(action, parameter))

    create_response = CloudTrailResponse.create_trail

    def create_trail_response(self):
        if self._get_bool_param("IsOrganizationTrail", False):
            refuse_organization_trail(self.current_account)
            self.answering_account = organizations.trail_owner(self.current_account, True)
        return create_response(self)

    update_response = CloudTrailResponse.update_trail  # already routed

    def update_trail_response(self):
        is_organization_trail = self._get_param("IsOrganizationTrail")
        if is_organization_trail is not None:
            if is_organization_trail:
                refuse_organization_trail(self.current_account)
            owner = answering_account(self.current_account, "update_trail", self._get_param("Name"))
            trail = cloudtrail_backends[owner][self.region].get_trail(self._get_param("Name"))
            refuse_conversion(self.current_account, trail, is_organization_trail)
        return update_response(self)

    def describe_trails(self):
        include_shadows = self._get_bool_param("includeShadowTrails", True)
        trails = list(self.cloudtrail_backend.describe_trails(include_shadows))
        trails += organization_trails_seen(self.current_account, self.region, include_shadows)
        return json.dumps({"trailList": [t.description(include_region=True) for t in trails]})

    def list_trails(self):
        trails = list(self.cloudtrail_backend.list_trails())
        trails += organization_trails_seen(self.current_account, self.region, True)
        return json.dumps({"Trails": [t.short() for t in trails]})

    def list_tags(self):
        tags = []
        for resource in json.loads(self.body).get("ResourceIdList") or []:
            account = answering_account(self.current_account, "list_tags", resource)
            tags += cloudtrail_backends[account][self.region].list_tags([resource])
        return json.dumps({"ResourceTagList": tags})

    CloudTrailResponse.create_trail = create_trail_response
    CloudTrailResponse.update_trail = update_trail_response
    CloudTrailResponse.describe_trails = describe_trails
    CloudTrailResponse.list_trails = list_trails
    CloudTrailResponse.list_tags = list_tags
