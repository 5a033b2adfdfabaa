"""Runs moto's server on loopback, with one fix to its S3 wire format.

moto serialises S3 responses from the botocore service model. For a few operations
whose output has no payload member, that model carries no `resultWrapper`, so moto
names the XML root `<Operation>Response`; real S3 (and the Rust SDK's parser) use the
names below. Setting the wrapper on the model before the server starts fixes them.

Usage: moto_server.py HOST PORT
"""

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

if __name__ == "__main__":
    host, port = sys.argv[1], sys.argv[2]
    main(["-H", host, "-p", port])
