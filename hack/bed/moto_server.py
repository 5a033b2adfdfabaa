"""Runs moto's server on loopback, with fixes that make it answer as AWS does.

S3 wire format: moto serialises S3 responses from the botocore service model. For a few
operations whose output has no payload member, that model carries no `resultWrapper`,
so moto names the XML root `<Operation>Response`; real S3 (and the Rust SDK's parser)
use the names below. Setting the wrapper on the model before the server starts fixes it.

Everything else that makes moto answer as AWS does, CloudTrail's semantics included
(selectors, DeleteTrail by ARN, CreateTrail refusing a taken name), lives in the bed's
rules, hack/bed/rules/, installed below before the server starts; CloudTrail's delivery of
log and digest files in hack/bed/delivery.py.

Usage: moto_server.py HOST PORT
"""

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


# The rules that make moto refuse what AWS refuses (hack/bed/rules/).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rules  # noqa: E402

rules.install()

# Two of moto's per-request costs that grow with the accounts, made constant
# (hack/bed/scale.py says which and why it matters).
import scale  # noqa: E402

scale.install()

# CloudTrail's delivery of log and digest files into trails' buckets, which moto lacks: a
# timer (TRAILWARDEN_BED_DELIVERY_SECONDS, default 5, 0 = off) and POST /moto-api/bed/deliver.
import delivery  # noqa: E402

delivery.start()

if __name__ == "__main__":
    host, port = sys.argv[1], sys.argv[2]
    main(["-H", host, "-p", port])
