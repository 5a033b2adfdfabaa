"""Bed rules for kms: see rules/__init__.py.

moto serves every KMS request from the caller's own backend (account, region) and reads a
key or alias ARN only for its last part: the account and region an ARN names are ignored.
So a key ARN of another account is "not found" even for the operations KMS lets other
accounts call, and an alias ARN of another account or region resolves the caller's own
alias of that name. The one hook below decides, from the ARNs a request names, which
account's backend serves it, or refuses it as KMS does.
"""

import json
import re

from moto.kms.exceptions import NotFoundException
from moto.kms.models import KmsBackend, kms_backends
from moto.kms.responses import KmsResponse

ARN = re.compile(r"^arn:[^:]+:kms:(?P<region>[^:]*):(?P<account>[^:]*):(?P<kind>key|alias)/.+$")

# The request members that name a KMS key (by key id, key ARN, alias name or alias ARN).
KEY_MEMBERS = ("KeyId", "TargetKeyId", "SourceKeyId", "DestinationKeyId")

# Operations the bed serves from the key owner's account when the key ARN (or, for
# DescribeKey, the alias ARN) names another account: "Cross-account use: Yes" in the KMS
# API reference, and needed by the product. Every other operation naming another
# account's key is refused.
CROSS_ACCOUNT = {"DescribeKey", "GetKeyRotationStatus"}


def key_account(response):
    """The account whose KMS backend serves this request.

    Region: a KMS key lives in one region, and its ARN names it; a key or alias ARN naming
    a region other than the request's is refused with NotFoundException, as a key the
    region does not hold.
    https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-keys-overview.html
    (keys are regional; even related multi-Region keys are separate keys with their own
    ARN per region).

    Account: another account's key is reachable only by its full ARN (alias names always
    resolve in the caller's account), and only by the operations the KMS API reference
    marks "Cross-account use: Yes":
    https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying-external-accounts.html
    (permissions granted to other accounts take effect only for a listed set of
    operations), https://docs.aws.amazon.com/kms/latest/APIReference/API_DescribeKey.html
    (yes, by key ARN or alias ARN),
    https://docs.aws.amazon.com/kms/latest/APIReference/API_GetKeyRotationStatus.html (yes,
    by key ARN). Those two (CROSS_ACCOUNT) are served from the owner's backend; the bed does
    not evaluate the key policy, so the owner's grant to the caller is assumed, not checked.
    Any other operation naming another account's key -- among them GetKeyPolicy,
    PutKeyPolicy, EnableKeyRotation, DisableKeyRotation, EnableKey, DisableKey,
    ScheduleKeyDeletion, CancelKeyDeletion, CreateAlias, UpdateAlias, which their API
    reference pages mark "Cross-account use: No" (e.g.
    https://docs.aws.amazon.com/kms/latest/APIReference/API_GetKeyPolicy.html) -- is refused.
    Those pages do not name the error; the bed answers NotFoundException, what KMS answers
    for a key it cannot find in the caller's account and region. The cross-account-Yes
    operations outside CROSS_ACCOUNT (Encrypt, Decrypt, GenerateDataKey, grants, ...) are
    refused the same way: the bed does not serve them across accounts.
    """
    account = response.current_account
    try:
        body = json.loads(response.body or "{}")
    except ValueError:
        return account
    for member in KEY_MEMBERS:
        named = body.get(member)
        arn = ARN.match(named) if isinstance(named, str) else None
        if arn is None:
            continue
        foreign = arn["account"] != response.current_account
        if arn["region"] != response.region or (foreign and response._get_action() not in CROSS_ACCOUNT):
            if arn["kind"] == "alias":
                raise NotFoundException(f"Alias {named} is not found.")
            raise NotFoundException(f"Key '{named}' does not exist")
        if foreign:
            account = arn["account"]
    return account


def kms_backend(response):
    """moto's KmsResponse.kms_backend, in the account key_account() chooses. Every moto KMS
    operation reaches its keys through this property, inside the action, so a refusal
    raised here is answered as the operation's error."""
    if "_bed_key_account" not in response.__dict__:
        response._bed_key_account = key_account(response)
    return kms_backends[response._bed_key_account][response.region]


# Key-state operations moto looks the key up for by the raw KeyId: a key ARN, which KMS
# takes for each of them ("KeyId: Specify the key ID or key ARN of the KMS key", in the
# API reference of EnableKey, DisableKey, ScheduleKeyDeletion and CancelKeyDeletion), is
# a KeyError there and an HTTP 500. The rule hands moto the key id.
# https://docs.aws.amazon.com/kms/latest/APIReference/API_ScheduleKeyDeletion.html
KEY_STATE_OPERATIONS = ("enable_key", "disable_key", "schedule_key_deletion", "cancel_key_deletion")


def by_key_id(operation):
    def call(self, key_id, *args, **kwargs):
        key_id = self.get_key_id(key_id)
        if key_id not in self.keys:
            raise NotFoundException(f"Invalid keyId {key_id}")
        return operation(self, key_id, *args, **kwargs)

    return call


def install():
    KmsResponse.kms_backend = property(kms_backend)
    for name in KEY_STATE_OPERATIONS:
        setattr(KmsBackend, name, by_key_id(getattr(KmsBackend, name)))
