"""Bed rules for what CloudTrail checks of the bucket and key it is pointed at, and the
settings it refuses together: see rules/__init__.py.

CreateTrail, UpdateTrail and PutInsightSelectors (when it turns Insights on) check, for the
trail as it would be after the call: the bucket exists; its policy lets CloudTrail check
the ACL and deliver (rule 1); the KMS key, when there is one, exists beside the bucket, is
enabled, symmetric, and its policy lets CloudTrail use it (rule 2). UpdateTrail checks even
when it changes neither bucket nor key: the API reference lists the bucket and key errors
for PutInsightSelectors, which names neither, so CloudTrail re-checks delivery when a
trail's configuration changes; the bed does the same.

The policies are read with rules/policy.py for the request CloudTrail makes: principal
cloudtrail.amazonaws.com, aws:SourceArn the trail's ARN (owned, for an organization trail,
by the management account: rules/organizations.py), aws:SourceAccount that owner,
aws:SourceOrgID its organization (absent outside one), over TLS.
"""

import collections
import inspect

from moto.cloudtrail.models import Trail
from moto.kms.models import kms_backends
from moto.s3.models import s3_backends
from moto.utilities.utils import get_partition

from . import organizations, policy
from .cloudtrail import refusal

CLOUDTRAIL = ("Service", "cloudtrail.amazonaws.com")

# The trail as a call would leave it.
Settings = collections.namedtuple(
    "Settings", "account region name bucket prefix kms_key_id organization multi_region global_events"
)


def settings_of(trail, **changes):
    settings = Settings(
        account=trail.account_id,
        region=trail.region_name,
        name=trail.trail_name,
        bucket=trail.bucket_name,
        prefix=trail.s3_key_prefix,
        kms_key_id=trail.kms_key_id,
        organization=bool(trail.is_org_trail),
        multi_region=bool(trail.is_multi_region),
        global_events=bool(trail.include_global_service_events),
    )
    return settings._replace(**{k: v for k, v in changes.items() if v is not None})


def trail_identity(settings):
    """(owner account, trail ARN, organization id or None) for the trail."""

    owner = organizations.trail_owner(settings.account, settings.organization)
    arn = f"arn:{get_partition(settings.region)}:cloudtrail:{settings.region}:{owner}:trail/{settings.name}"
    return owner, arn, organizations.organization_id(owner)


def _context(settings, **keys):
    owner, arn, org = trail_identity(settings)
    context = {"aws:SourceArn": arn, "aws:SourceAccount": owner, "aws:SourceOrgID": org, "aws:SecureTransport": "true"}
    context.update(keys)
    return context


def find_bucket(name):
    """The bucket, read from its owner's backend (it may belong to another account, as a
    log-archive bucket does), or S3BucketDoesNotExistException as moto words it.
    https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_CreateTrail.html"""

    owner = s3_backends.bucket_accounts.get(name or "")
    bucket = owner and s3_backends[owner[1]][owner[0]].buckets.get(name)
    if bucket is None:
        raise refusal("S3BucketDoesNotExistException", f"S3 bucket {name} does not exist!")
    return bucket


def check_bucket_policy(settings, bucket):
    """The bucket policy must let CloudTrail (cloudtrail.amazonaws.com, for this trail's
    aws:SourceArn/aws:SourceAccount) call s3:GetBucketAcl on the bucket and s3:PutObject, with
    s3:x-amz-acl bucket-owner-full-control, under [prefix/]AWSLogs/<owner account>/; for an
    organization trail under [prefix/]AWSLogs/<o-id>/ instead (the org-trail guide's third
    statement; its account-path statement is only for turning the trail back into a
    single-account trail). An applicable Deny refuses too. Else
    InsufficientS3BucketPolicyException (HTTP 400).
    https://docs.aws.amazon.com/awscloudtrail/latest/userguide/create-s3-bucket-policy-for-cloudtrail.html
    https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-create-and-update-an-organizational-trail-by-using-the-aws-cli.html
    https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_CreateTrail.html"""
    key = f"{log_folder(settings)}/CloudTrail/{settings.region}/delivery-check.json.gz"
    if not delivery_allowed(settings, bucket, key):
        raise refusal("InsufficientS3BucketPolicyException", f"Incorrect S3 bucket policy is detected for bucket: {bucket.name}")


def log_folder(settings):
    """Where the trail's files go: [prefix/]AWSLogs/<owner account>, or for an organization
    trail [prefix/]AWSLogs/<o-id>/<owner account> (the management account's own files).
    https://docs.aws.amazon.com/awscloudtrail/latest/userguide/get-and-view-cloudtrail-log-files.html"""
    owner, _, org = trail_identity(settings)
    prefix = (settings.prefix or "").strip("/")
    logs = f"{prefix}/AWSLogs" if prefix else "AWSLogs"
    return f"{logs}/{org}/{owner}" if settings.organization and org else f"{logs}/{owner}"


def delivery_allowed(settings, bucket, key):
    """Whether the bucket policy lets CloudTrail check the bucket ACL and put object `key`
    with s3:x-amz-acl bucket-owner-full-control, for this trail (check_bucket_policy, and
    every delivery of the bed's delivery.py)."""
    bucket_arn = f"arn:{get_partition(settings.region)}:s3:::{bucket.name}"
    document = bucket.policy.decode() if isinstance(bucket.policy, bytes) else bucket.policy
    requests = [
        ("s3:GetBucketAcl", bucket_arn, _context(settings, **{"s3:x-amz-acl": None})),
        ("s3:PutObject", f"{bucket_arn}/{key}", _context(settings, **{"s3:x-amz-acl": "bucket-owner-full-control"})),
    ]
    return all(
        policy.evaluate(document, CLOUDTRAIL, action, resource, context) == policy.ALLOWED
        for action, resource, context in requests
    )


def find_key(settings):
    """The KMS key a KmsKeyId names: a key ARN or alias ARN (any account) in its own account
    and region; a bare key id or alias/... in the trail's account and home region. None when
    there is no such key.
    https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_CreateTrail.html#awscloudtrail-CreateTrail-request-KmsKeyId"""

    key_id, account, region = settings.kms_key_id, settings.account, settings.region
    if key_id.startswith("arn:"):
        parts = key_id.split(":", 5)
        if len(parts) != 6 or parts[2] != "kms" or not parts[5].startswith(("key/", "alias/")):
            return None
        region, account, key_id = parts[3], parts[4], parts[5]
    try:
        backend = kms_backends[account][region]
    except KeyError:
        return None
    if key_id.startswith("alias/"):
        key_id = next((k.id for k in backend.keys.values() if key_id in k.aliases), None)
    else:
        key_id = key_id[len("key/") :] if key_id.startswith("key/") else key_id
    return backend.keys.get(key_id)


def check_kms_key(settings, bucket):
    """A trail's KMS key must exist and be in the bucket's region (else
    KmsKeyNotFoundException, which the API reference gives for both), be enabled and a
    symmetric encryption key (else KmsException: the API reference marks
    KmsKeyDisabledException as no longer used, and CloudTrail and S3 take only symmetric
    keys), and its key policy must let cloudtrail.amazonaws.com call kms:GenerateDataKey*
    with this trail's encryption context (kms:EncryptionContext:aws:cloudtrail:arn) and
    aws:SourceArn, and kms:DescribeKey (else InsufficientEncryptionPolicyException).
    https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_CreateTrail.html
    https://docs.aws.amazon.com/awscloudtrail/latest/userguide/encrypting-cloudtrail-log-files-with-aws-kms.html
    https://docs.aws.amazon.com/awscloudtrail/latest/userguide/create-kms-key-policy-for-cloudtrail.html
    https://docs.aws.amazon.com/awscloudtrail/latest/userguide/how-kms-works-with-cloudtrail.html"""
    if not settings.kms_key_id:
        return
    key = find_key(settings)
    if key is None or key.region != bucket.region_name:
        raise refusal(
            "KmsKeyNotFoundException",
            f"KMS key {settings.kms_key_id} does not exist, or is not in the region of bucket {bucket.name} ({bucket.region_name}).",
        )
    if key.key_state != "Enabled":
        raise refusal("KmsException", f"KMS key {key.arn} is not enabled (its state is {key.key_state}).")
    if key.key_spec != "SYMMETRIC_DEFAULT" or key.key_usage not in (None, "ENCRYPT_DECRYPT"):  # moto: None = default
        raise refusal("KmsException", f"KMS key {key.arn} is not a symmetric encryption key; CloudTrail takes only those.")
    _, arn, _ = trail_identity(settings)
    encryption_context = "kms:EncryptionContext:aws:cloudtrail:arn"
    requests = [
        ("kms:GenerateDataKey", _context(settings, **{encryption_context: arn})),
        ("kms:DescribeKey", _context(settings, **{encryption_context: None})),
    ]
    for action, context in requests:
        if policy.evaluate(key.policy, CLOUDTRAIL, action, key.arn, context) != policy.ALLOWED:
            raise refusal(
                "InsufficientEncryptionPolicyException",
                f"Insufficient permissions to access S3 bucket {bucket.name} or KMS key {key.arn}.",
            )


def check_multi_region_global_events(settings):
    """A multi-region trail must log global service events: IsMultiRegionTrail true with
    IncludeGlobalServiceEvents false is InvalidParameterCombinationException, on CreateTrail
    and on UpdateTrail for the trail as the update would leave it.
    https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_UpdateTrail.html#awscloudtrail-UpdateTrail-request-IncludeGlobalServiceEvents
    https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-concepts.html#cloudtrail-concepts-global-service-events"""
    if settings.multi_region and not settings.global_events:
        raise refusal("InvalidParameterCombinationException", "Multi-Region trail must include global service events.")


def _logs_management(trail, write):
    """Whether the trail logs management events (write ones, when `write`)."""
    basic, advanced = trail.get_event_selectors()
    for selector in basic or []:
        if selector.get("IncludeManagementEvents", True):
            if not write or selector.get("ReadWriteType", "All") in ("All", "WriteOnly"):
                return True
    for selector in advanced or []:
        fields = {f.get("Field"): f for f in selector.get("FieldSelectors", [])}
        if "Management" not in fields.get("eventCategory", {}).get("Equals", []):
            continue
        read_only = fields.get("readOnly", {})
        if write and ("Equals" in read_only and "false" not in read_only["Equals"] or "false" in read_only.get("NotEquals", [])):
            continue
        return True
    return False


def _logs_data(trail):
    basic, advanced = trail.get_event_selectors()
    if any(s.get("DataResources") for s in basic or []):
        return True
    return any(
        "Data" in f.get("Equals", [])
        for s in advanced or []
        for f in s.get("FieldSelectors", [])
        if f.get("Field") == "eventCategory"
    )


def check_insight_selectors(trail, selectors):
    """Insights need the events they analyse: ApiCallRateInsight on management events needs
    the trail to log write management events; ApiErrorRateInsight on management events needs
    read or write management events; Insights on data events need data events. Else
    InvalidInsightSelectorsException. (PutEventSelectors that later drops those events is
    not refused: the API reference gives that refusal for event data stores only, and
    PutEventSelectors lists no InvalidInsightSelectorsException.)
    https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_PutInsightSelectors.html
    https://docs.aws.amazon.com/awscloudtrail/latest/userguide/logging-insights-events-with-cloudtrail.html"""
    for selector in selectors or []:
        kind = selector.get("InsightType")
        for category in selector.get("EventCategories") or ["Management"]:
            if category == "Data":
                ok, needs = _logs_data(trail), "data events"
            elif kind == "ApiCallRateInsight":
                ok, needs = _logs_management(trail, write=True), "write management events"
            else:
                ok, needs = _logs_management(trail, write=False), "management events"
            if not ok:
                raise refusal(
                    "InvalidInsightSelectorsException",
                    f"{kind} on {category} events needs trail {trail.trail_name} to log {needs}.",
                )


def check_delivery(settings):
    """Rules 1 and 2 for the trail as a call would leave it."""
    bucket = find_bucket(settings.bucket)
    check_bucket_policy(settings, bucket)
    check_kms_key(settings, bucket)


def install():

    # CreateTrail: Trail() checks its name, then calls this with every setting in place.
    def check_bucket_exists(self):
        settings = settings_of(self)
        check_multi_region_global_events(settings)
        check_delivery(settings)

    Trail.check_bucket_exists = check_bucket_exists

    update = Trail.update
    update_signature = inspect.signature(update)

    def checked_update(self, *args, **kwargs):
        given = update_signature.bind(self, *args, **kwargs).arguments
        settings = settings_of(
            self,
            bucket=given.get("s3_bucket_name"),
            prefix=given.get("s3_key_prefix"),
            kms_key_id=given.get("kms_key_id"),
            organization=given.get("is_organization_trail"),
            multi_region=given.get("is_multi_region_trail"),
            global_events=given.get("include_global_service_events"),
        )
        check_multi_region_global_events(settings)
        check_delivery(settings)
        return update(self, *args, **kwargs)

    Trail.update = checked_update

    put_insight_selectors = Trail.put_insight_selectors

    def checked_put_insight_selectors(self, insight_selectors):
        check_insight_selectors(self, insight_selectors)
        if insight_selectors:
            check_delivery(settings_of(self))
        return put_insight_selectors(self, insight_selectors)

    Trail.put_insight_selectors = checked_put_insight_selectors
