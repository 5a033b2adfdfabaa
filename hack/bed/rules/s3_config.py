"""Bed rules for s3 bucket configuration: default encryption and Object Lock (see
rules/__init__.py; rules/s3.py holds the rules every bucket request passes first).

moto 5.2.5 answers these bucket settings as S3 did before two changes: every bucket has
had SSE-S3 default encryption since January 5, 2023, and Object Lock can be enabled on an
existing bucket since November 2023. The rules below patch moto's S3 backend (the state)
and its PUT ?object-lock body parser, so each operation keeps moto's own answer and XML.
"""

import xmltodict
from moto.s3.exceptions import InvalidBucketState, MalformedXML, S3ClientError
from moto.s3.models import S3Backend
from moto.s3.responses import S3Response

from .s3 import error


def sse_s3():
    """A bucket's encryption configuration as moto keeps one that PutBucketEncryption set
    (its request XML, parsed), for SSE-S3 with no bucket key."""
    return {"Rule": {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": "false"}}


def default_encryption(get_bucket_encryption):
    """Every bucket has default encryption: GetBucketEncryption of a bucket nobody configured
    (or whose configuration DeleteBucketEncryption removed) answers SSE-S3 -- one rule,
    ApplyServerSideEncryptionByDefault SSEAlgorithm AES256, BucketKeyEnabled false -- where
    moto answers 404 ServerSideEncryptionConfigurationNotFoundError. A configured bucket
    keeps its configuration; DeleteBucketEncryption resets to SSE-S3, not to none.

    AWS docs: https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketEncryption.html
    ("By default, all buckets have a default encryption configuration that uses server-side
    encryption with Amazon S3 managed keys (SSE-S3)");
    https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteBucketEncryption.html ("resets
    the default encryption for the bucket as server-side encryption with Amazon S3 managed
    keys (SSE-S3)"); https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingServerSideEncryption.html
    (SSE-S3 is the base level of encryption for every bucket; starting January 5, 2023, all
    new object uploads are encrypted with it).

    Only GetBucketEncryption reads this: moto's PutObject still reads the bucket's own
    configuration, so objects put into an unconfigured bucket carry no
    x-amz-server-side-encryption header (S3 would answer AES256).
    """

    def get(self, bucket_name):
        return get_bucket_encryption(self, bucket_name) or sse_s3()

    return get


VERSIONING_REQUIRED = "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration"
VERSIONING_LOCKED = "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed."


def object_lock_on_existing_buckets(self, bucket_name, lock_enabled, mode=None, days=None, years=None):
    """PutObjectLockConfiguration enables Object Lock on an existing bucket, empty or not,
    provided its versioning is Enabled (else 409 InvalidBucketState, moto's message); moto
    refuses a bucket holding objects (400 InvalidBucket "Bucket needs to be empty"). Objects
    already in the bucket keep whatever retention they had; the default retention applies
    to objects put afterwards.

    The default retention is a bucket setting, which PutObjectLockConfiguration replaces
    whole: it may be lengthened, shortened, or switched between COMPLIANCE and GOVERNANCE.
    Compliance mode forbids shortening the retention of an object version locked in it, not
    changing the bucket's default; a changed default leaves existing objects' retention as
    it was. (moto already accepts every such change; this replacement keeps that.)

    AWS docs: https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObjectLockConfiguration.html
    ("You can enable Object Lock for new or existing buckets");
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock-configure.html
    (S3 Versioning and Object Lock must both be enabled on a bucket before objects can be
    locked; its sections "Enable Object Lock on an existing S3 bucket" and "Set or modify a
    default retention period on an S3 bucket");
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock.html (retention
    modes: an object version locked in compliance mode can't have its mode changed or its
    period shortened; default retention settings apply only to new objects, and "changing
    a bucket's default retention period doesn't change the existing retention period for
    any objects in that bucket", as the page read in awsdocs/amazon-s3-userguide,
    doc_source/object-lock-overview.md); https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html
    (InvalidBucketState is 409 Conflict).
    """
    bucket = self.get_bucket(bucket_name)
    if not bucket.is_versioned:
        raise InvalidBucketState(VERSIONING_REQUIRED)
    if lock_enabled:
        bucket.object_lock_enabled = True
    bucket.default_lock_mode = mode
    bucket.default_lock_days = days
    bucket.default_lock_years = years


def lock_config_from_body(parse):
    """Object Lock, once enabled, cannot be turned off: ObjectLockEnabled has one valid
    value, "Enabled", so a PutObjectLockConfiguration whose ObjectLockEnabled is missing,
    empty or anything else ("Disabled") does not validate against S3's schema and is
    refused with 400 MalformedXML, whatever the bucket's state. moto refuses a missing one
    but takes "Disabled" or an empty one, replacing the bucket's default retention.

    AWS docs: https://docs.aws.amazon.com/AmazonS3/latest/API/API_ObjectLockConfiguration.html
    (ObjectLockEnabled, "Valid Values: Enabled"); https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html
    (MalformedXML, 400: "The XML you provided was not well-formed or did not validate
    against our published schema"); https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock-configure.html
    ("After you enable Object Lock on a bucket, you can't disable Object Lock or suspend
    versioning for that bucket"). No page names the error of a request trying to disable
    it; MalformedXML is what S3 answers such a body (as S3-compatible stores that checked
    against S3 report, e.g. github.com/storj/edge/issues/528,
    github.com/versity/versitygw/issues/1561).
    """

    def parse_checked(self):
        configuration = xmltodict.parse(self.body).get("ObjectLockConfiguration")
        if not isinstance(configuration, dict) or configuration.get("ObjectLockEnabled") != "Enabled":
            raise MalformedXML()
        return parse(self)

    return parse_checked


def versioning_stays_enabled(put_bucket_versioning):
    """A bucket with Object Lock cannot have its versioning suspended: PutBucketVersioning
    Suspended is refused with 409 InvalidBucketState; moto suspends it.

    AWS docs: https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock-configure.html
    ("After you enable Object Lock on a bucket, you can't disable Object Lock or suspend
    versioning for that bucket"); the page does not give the error: the code and message
    are S3's as reported by S3-compatible stores matching it
    (github.com/versity/versitygw/issues/838, github.com/storj/edge/issues/509).
    """

    def put(self, bucket_name, status):
        if self.get_bucket(bucket_name).object_lock_enabled and status != "Enabled":
            raise InvalidBucketState(VERSIONING_LOCKED)
        return put_bucket_versioning(self, bucket_name, status)

    return put


def one_retention_period(get_object_lock_configuration):
    """GetObjectLockConfiguration answers the default retention's one period, Days or Years,
    as it was set: moto answers both, the unset one as 0 (<Years>0</Years> beside the days).

    AWS docs: https://docs.aws.amazon.com/AmazonS3/latest/API/API_DefaultRetention.html
    (the period is Days or Years; "You cannot specify Days and Years at the same time").
    """

    def get(self, bucket_name):
        enabled, mode, days, years = get_object_lock_configuration(self, bucket_name)
        return enabled, mode, days or None, years or None

    return get


def conflict_status(handle):
    """S3 answers InvalidBucketState with 409 Conflict; moto's serializer, which has no
    error shape for it, with 400.
    AWS docs: https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html
    """

    def handle_request(self, request, full_url):
        try:
            return handle(self, request, full_url)
        except S3ClientError as refusal:
            if refusal.code != "InvalidBucketState":
                raise
            return error(409, refusal.code, refusal.message, request.method)

    return handle_request


def install():
    S3Backend.get_bucket_encryption = default_encryption(S3Backend.get_bucket_encryption)
    S3Backend.put_object_lock_configuration = object_lock_on_existing_buckets
    S3Response._lock_config_from_body = lock_config_from_body(S3Response._lock_config_from_body)
    S3Backend.put_bucket_versioning = versioning_stays_enabled(S3Backend.put_bucket_versioning)
    S3Backend.get_object_lock_configuration = one_retention_period(S3Backend.get_object_lock_configuration)
    S3Response._bucket_response = conflict_status(S3Response._bucket_response)
