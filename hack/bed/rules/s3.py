"""Bed rules for s3: see rules/__init__.py.

moto answers a bucket request whoever sends it and whichever region signed it: it finds a
bucket of any account by name (s3_backends.bucket_accounts) and keeps one S3 backend per
partition, not per region. S3 does neither. The rules below run, in order, on every request
addressed to an existing bucket (bucket or object), before moto handles it; a request for
a bucket nobody has keeps moto's own answer (NoSuchBucket).

The request's region is the region of its SigV4 credential scope: the product sends
path-style requests to one endpoint URL, so the signature is the only endpoint signal.
The caller's account is the one moto derives (x-moto-account-id, else the access key's).
"""

import re
import uuid
from typing import NamedTuple
from xml.sax.saxutils import escape

from moto.s3.models import s3_backends
from moto.s3.responses import S3Response
from moto.utilities.utils import get_partition

from . import organizations_scp

SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/([^/]+)/s3/aws4_request")


class Request(NamedTuple):
    """What the rules look at in one bucket or object request."""

    method: str
    subresources: frozenset  # the query's keys: "policy", "versioning", "location", ...
    on_bucket: bool  # addressed to the bucket itself, not to an object in it
    region: str | None  # the SigV4 credential scope's region; None when unsigned
    caller: str  # the account moto acts for
    access_key: str  # the access key the request is signed with
    headers: dict
    bucket: object  # moto's FakeBucket


def signed_region(request, query):
    """The region of the request's SigV4 credential scope (header or presigned query)."""
    match = SCOPE.search(request.headers.get("Authorization", ""))
    if match:
        return match.group(1)
    credential = (query.get("X-Amz-Credential") or [""])[0].split("/")
    return credential[2] if len(credential) == 5 else None


def error(status, code, message, method, headers=None, **elements):
    """An S3 error response: S3's XML error document, or no body at all for HEAD."""
    headers = dict(headers or {})
    if method == "HEAD":
        return status, headers, ""
    request_id = uuid.uuid4().hex[:16].upper()
    fields = {"Code": code, "Message": message, **elements, "RequestId": request_id, "HostId": request_id}
    body = "".join(f"<{name}>{escape(str(value))}</{name}>" for name, value in fields.items())
    headers["content-type"] = "application/xml"
    return status, headers, f'<?xml version="1.0" encoding="UTF-8"?>\n<Error>{body}</Error>'


def wrong_region(req):
    """A bucket is served only in its own region: a request signed for another region gets
    HTTP 301 PermanentRedirect, whose XML body names the Bucket and the Endpoint to use, with
    the bucket's region in the x-amz-bucket-region header (HEAD: the status and the header, no
    body, since HEAD answers carry none).

    A bucket created without a LocationConstraint lives in us-east-1. GetBucketLocation
    (GET ?location) is answered from any region, which is how a client finds the region;
    CreateBucket and ListBuckets are not requests to an existing bucket's region.

    AWS docs: https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html (S3 error
    codes: PermanentRedirect is the 301 for a bucket addressed through the wrong endpoint);
    https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadBucket.html (the
    x-amz-bucket-region response header names the bucket's region);
    https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketLocation.html.
    """
    bucket_region = req.bucket.region_name
    if req.region is None or req.region == bucket_region:
        return None
    if req.on_bucket and req.method == "GET" and "location" in req.subresources:
        return None
    if req.on_bucket and req.method == "PUT" and not req.subresources - {"x-id"}:
        return None  # CreateBucket
    endpoint = "s3.amazonaws.com" if bucket_region == "us-east-1" else f"s3.{bucket_region}.amazonaws.com"
    return error(
        301,
        "PermanentRedirect",
        "The bucket must be addressed through the endpoint named here; send further requests there.",
        req.method,
        headers={"x-amz-bucket-region": bucket_region},
        Bucket=req.bucket.name,
        Endpoint=endpoint,
    )


def expected_owner(req):
    """Bucket owner condition: a request carrying x-amz-expected-bucket-owner for a bucket
    another account owns fails with 403 AccessDenied, whatever the caller may otherwise do.

    AWS docs: https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-owner-condition.html
    (S3 compares the header with the bucket owner's account id before handling the request
    and refuses a mismatch with Access Denied; the API reference of each operation's
    ExpectedBucketOwner says the status is 403 Forbidden).
    """
    expected = req.headers.get("x-amz-expected-bucket-owner")
    if expected is None or expected == req.bucket.account_id:
        return None
    return error(403, "AccessDenied", "Access Denied", req.method)


# (method, subresource) of the operations only the bucket owner's account may call.
OWNER_ONLY = {
    ("GET", "policy"),  # GetBucketPolicy
    ("PUT", "policy"),  # PutBucketPolicy
    ("DELETE", "policy"),  # DeleteBucketPolicy
    ("GET", "versioning"),  # GetBucketVersioning
    ("PUT", "versioning"),  # PutBucketVersioning
}


def owner_only(req):
    """The bucket policy and versioning operations belong to the bucket owner's account: a
    caller from any other account gets 405 MethodNotAllowed, whatever the bucket policy
    grants it.

    AWS docs: https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketPolicy.html,
    https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutBucketPolicy.html,
    https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteBucketPolicy.html (an identity
    with the permission but outside the owner's account gets 405 Method Not Allowed; without
    the permission it gets 403). GetBucketVersioning
    (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketVersioning.html) and
    PutBucketVersioning (https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutBucketVersioning.html)
    say only that the caller must be the bucket owner, not which error another account gets:
    the bed answers them as the policy operations, 405 MethodNotAllowed.
    """
    if not req.on_bucket or req.caller == req.bucket.account_id:
        return None
    if not any((req.method, sub) in OWNER_ONLY for sub in req.subresources):
        return None
    return error(405, "MethodNotAllowed", "The specified method is not allowed against this resource.", req.method, Method=req.method)


# (method, subresource) of the bucket operations whose service control policies the bed
# evaluates -> the IAM action SCPs name for it (DELETE with no subresource: DeleteBucket).
SCP_ACTIONS = {
    ("PUT", "policy"): "s3:PutBucketPolicy",
    ("DELETE", "policy"): "s3:DeleteBucketPolicy",
    ("PUT", "lifecycle"): "s3:PutLifecycleConfiguration",
    ("DELETE", "lifecycle"): "s3:PutLifecycleConfiguration",
    ("PUT", "versioning"): "s3:PutBucketVersioning",
    ("PUT", "encryption"): "s3:PutEncryptionConfiguration",
    ("DELETE", "encryption"): "s3:PutEncryptionConfiguration",
    ("PUT", "object-lock"): "s3:PutBucketObjectLockConfiguration",
}


def service_control_policies(req):
    """A bucket operation of SCP_ACTIONS (and DeleteBucket) that the service control
    policies governing the caller's account refuse (rules/organizations_scp.py decides)
    gets 403 AccessDenied, the message naming principal, action and resource. Other bucket
    and object operations are not evaluated.

    The IAM action of each operation is the one the S3 API reference names under
    Permissions: DeleteBucketLifecycle needs s3:PutLifecycleConfiguration, as
    PutBucketLifecycleConfiguration does; DeleteBucketEncryption s3:PutEncryptionConfiguration,
    as PutBucketEncryption; PutObjectLockConfiguration s3:PutBucketObjectLockConfiguration.
    This rule runs before owner_only: a caller without the permission gets 403 before the 405
    an owner-only operation answers to another account's caller with it.
    AWS docs: https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteBucketLifecycle.html,
    https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteBucketEncryption.html,
    https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObjectLockConfiguration.html,
    https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutBucketPolicy.html (403 without the
    permission, 405 with it from another account),
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/troubleshoot-403-errors.html
    (Access Denied caused by a service control policy).
    """
    if not req.on_bucket:
        return None
    subresources = req.subresources - {"x-id"}
    if req.method == "DELETE" and not subresources:
        actions = ["s3:DeleteBucket"]
    else:
        actions = [SCP_ACTIONS[(req.method, sub)] for sub in sorted(subresources) if (req.method, sub) in SCP_ACTIONS]
    if not actions:
        return None
    bucket_arn = f"arn:{get_partition(req.bucket.region_name)}:s3:::{req.bucket.name}"
    for action in actions:
        why = organizations_scp.refusal(req.caller, req.access_key, req.region or req.bucket.region_name, action, bucket_arn)
        if why is not None:
            return error(403, "AccessDenied", why, req.method)
    return None


BUCKET_RULES = (wrong_region, expected_owner, service_control_policies, owner_only)
OBJECT_RULES = (wrong_region, expected_owner)


def find_bucket(name):
    """The bucket named `name`, in whichever account owns it, or None."""
    if not name or name not in s3_backends.bucket_accounts:
        return None
    partition, account = s3_backends.bucket_accounts[name]
    return s3_backends[account][partition].buckets.get(name)


def guarded(handle, rules, on_bucket):
    """moto's bucket (or object) request handler, answering first with the rules' refusal."""

    def handle_request(self, request, full_url):
        bucket = find_bucket(self.bucket_name)
        if bucket is not None:
            query = self._get_querystring(request, full_url)
            req = Request(
                method=request.method,
                subresources=frozenset(query),
                on_bucket=on_bucket,
                region=signed_region(request, query),
                caller=self.current_account,
                access_key=self.get_access_key(),
                headers={name.lower(): value for name, value in request.headers.items()},
                bucket=bucket,
            )
            for rule in rules:
                refusal = rule(req)
                if refusal is not None:
                    return refusal
        return handle(self, request, full_url)

    return handle_request


def install():
    # Path-style requests (the product's) reach _bucket_response for the bucket itself and
    # _key_response for an object; both run after setup_class has parsed the bucket name.
    S3Response._bucket_response = guarded(S3Response._bucket_response, BUCKET_RULES, on_bucket=True)
    S3Response._key_response = guarded(S3Response._key_response, OBJECT_RULES, on_bucket=False)
