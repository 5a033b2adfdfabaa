"""Runs moto's server on loopback, with fixes that make it answer as AWS does.

S3 wire format: moto serialises S3 responses from the botocore service model. For a few
operations whose output has no payload member, that model carries no `resultWrapper`,
so moto names the XML root `<Operation>Response`; real S3 (and the Rust SDK's parser)
use the names below. Setting the wrapper on the model before the server starts fixes it.

CloudTrail semantics (moto 5.2.5 differs from AWS here, and trailwarden relies on AWS's
behaviour): PutInsightSelectors replaces the trail's insight selectors (moto appends);
PutEventSelectors with one kind of selector clears the other kind (moto keeps both);
DescribeTrails reports HasCustomEventSelectors / HasInsightSelectors (moto always says
false); DeleteTrail takes a trail ARN as well as a name, and refuses an unknown trail
(moto ignores ARNs and unknown names alike); GetEventSelectors on a trail nobody put
selectors on answers the selector AWS records by default (ReadWriteType All, management
events included, nothing excluded; moto answers none), while DescribeTrails still says
HasCustomEventSelectors false for it, as AWS does. CreateTrail refuses a name the account
already uses in the region, a multi-region trail's shadow included, with
TrailAlreadyExistsException (moto replaces the existing trail).

Usage: moto_server.py HOST PORT
"""

import copy
import os
import sys

import moto.core.utils as moto_utils
from moto.server import main

S3_XML_ROOTS = {
    "GetBucketVersioningOutput": "VersioningConfiguration",
    "GetBucketAccelerateConfigurationOutput": "AccelerateConfiguration",
    "NotificationConfigurationDeprecated": "NotificationConfiguration",
}

_load = moto_utils._load_service_model


def _load_with_s3_roots(service_name, model_name):
    model = _load(service_name, model_name)
    if service_name == "s3" and model_name == "service-2":
        for shape, root in S3_XML_ROOTS.items():
            if shape in model["shapes"]:
                model["shapes"][shape]["resultWrapper"] = root
    return model


moto_utils._load_service_model = _load_with_s3_roots


# What GetEventSelectors answers for a trail nobody put selectors on.
DEFAULT_EVENT_SELECTOR = {
    "ReadWriteType": "All",
    "IncludeManagementEvents": True,
    "DataResources": [],
    "ExcludeManagementEventSources": [],
}


def _patch_cloudtrail():
    from moto.cloudtrail.models import CloudTrailBackend, Trail, cloudtrail_backends
    from moto.core.exceptions import JsonRESTError

    class TrailAlreadyExistsException(JsonRESTError):
        code = 400

        def __init__(self, name):
            super().__init__("TrailAlreadyExistsException", f"Trail {name} already exists for customer")

    create = CloudTrailBackend.create_trail

    def create_trail(self, name, *args, **kwargs):
        for backend in cloudtrail_backends[self.account_id].values():
            trail = backend.trails.get(name)
            if trail is not None and (backend is self or trail.is_multi_region):
                raise TrailAlreadyExistsException(name)
        return create(self, name, *args, **kwargs)

    CloudTrailBackend.create_trail = create_trail

    def delete_trail(self, name):
        trail = self.get_trail(name)
        del self.trails[trail.trail_name]

    CloudTrailBackend.delete_trail = delete_trail

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

    Trail.put_event_selectors = put_event_selectors
    Trail.get_event_selectors = get_event_selectors
    Trail.put_insight_selectors = put_insight_selectors
    Trail.description = description


_patch_cloudtrail()

# The rules that make moto refuse what AWS refuses (hack/bed/rules/).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rules  # noqa: E402

rules.install()

if __name__ == "__main__":
    host, port = sys.argv[1], sys.argv[2]
    main(["-H", host, "-p", port])
