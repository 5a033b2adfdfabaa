"""The bed's AWS rules: where moto answers what AWS would refuse, the bed refuses too (and
where moto lacks an answer the product needs, such as CloudTrail's ListPublicKeys, the bed
gives AWS's).

One module per service. Each rule is written once, in the module of the service whose
API refuses, with the AWS documentation it follows in its docstring, and has a test in
hack/bed/tests/ that shows the refusal. One rule crosses services: what service control
policies refuse a member account's principals is decided once, in organizations_scp.py,
and asked by the CloudTrail, KMS and S3 requests it governs. `install()` applies every
rule to moto before its server starts; nothing here is optional: the whole suite runs on
the faithful bed.
"""

from . import (
    cloudtrail,
    cloudtrail_delivery,
    cloudtrail_keys,
    kms,
    organizations,
    organizations_scp,
    s3,
    s3_config,
)

MODULES = (s3, s3_config, kms, organizations, organizations_scp, cloudtrail, cloudtrail_delivery, cloudtrail_keys)


def install():
    for module in MODULES:
        module.install()
