"""What the bed's CloudTrail delivery (delivery.py) writes: log files and digest files, in
the formats CloudTrail documents and AWS CLI's `cloudtrail validate-logs` checks.

Log file: gzip of `{"Records": [...]}`, a few management-event records (eventVersion,
userIdentity, eventTime inside the delivery window, eventSource, eventName, awsRegion,
recipientAccountId, ...), named for the delivery time to the minute with a 16-character
random suffix.
https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-log-file-examples.html
https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html

Digest file: gzip of a JSON object (awsAccountId, digestStartTime = the previous digest's
end, digestEndTime = the delivery to the second, digestS3Bucket/Object, digestPublicKey-
Fingerprint, digestSignatureAlgorithm SHA256withRSA, newest/oldestEventTime over its log
files (null when there are none), previousDigestS3Bucket/Object/HashValue (hex SHA-256 of
the previous digest's uncompressed JSON)/HashAlgorithm SHA-256/Signature, all null in a
starting digest, and logFiles [{s3Bucket, s3Object, hashValue = hex SHA-256 of the
uncompressed log file, hashAlgorithm SHA-256, newestEventTime, oldestEventTime}]), at
[prefix/]AWSLogs/[o-id/]<account>/CloudTrail-Digest/<region>/<yyyy>/<mm>/<dd>/
<account>_CloudTrail-Digest_<region>_<trail name>_<home region>_<yyyymmddThhmmssZ>.json.gz
(date of the digest's end). Its signature, hex, is the object's metadata `signature`
(x-amz-meta-signature) beside `signature-algorithm` SHA256withRSA: RSA PKCS#1 v1.5 with
SHA-256 by the region's key (rules/cloudtrail_keys.py) over the UTF-8 string
digestEndTime "\\n" bucket "/" key "\\n" hex SHA-256 of the uncompressed digest "\\n" the
previous digest's signature (hex), or "null" in a starting digest (AWS's guide leaves that
case unsaid; "null" is what AWS CLI's validate-logs checks, after CloudTrail's Java code).
https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-log-file-validation-digest-file-structure.html
https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-log-file-custom-validation.html
"""

import dataclasses
import datetime
import gzip
import hashlib
import json
import secrets
import string
import uuid

from moto.utilities.utils import get_partition

from rules import cloudtrail_keys

SIGNATURE_ALGORITHM = "SHA256withRSA"
HASH_ALGORITHM = "SHA-256"
ALPHANUMERIC = string.ascii_letters + string.digits
# (eventSource, eventName, readOnly): calls any account makes all day.
EVENTS = (
    ("sts.amazonaws.com", "GetCallerIdentity", True),
    ("ec2.amazonaws.com", "DescribeInstances", True),
    ("s3.amazonaws.com", "ListBuckets", True),
)


@dataclasses.dataclass
class Chain:
    """One trail's digest chain: the logging session it belongs to (`started`), the end of
    its last digest (the next one's start), the link to that digest, and the log files
    delivered since."""

    trail: object
    started: object
    end: datetime.datetime
    previous: dict = None
    pending: list = dataclasses.field(default_factory=list)


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _record(account, region, moment, event):
    source, name, read_only = event
    partition = get_partition(region)
    return {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": "AROABEDEXAMPLEROLE000:bed",
            "arn": f"arn:{partition}:sts::{account}:assumed-role/bed/bed",
            "accountId": account,
            "accessKeyId": "ASIABEDEXAMPLEKEY000",
        },
        "eventTime": iso(moment),
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": "192.0.2.10",
        "userAgent": "trailwarden-bed",
        "requestParameters": None,
        "responseElements": None,
        "requestID": str(uuid.uuid4()),
        "eventID": str(uuid.uuid4()),
        "readOnly": read_only,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
    }


def log_file(settings, folder, since, now):
    """(key, gzip body, its logFiles entry for a digest) of a log file delivered at `now`
    with events spread over (since, now]."""
    account, region = settings.account, settings.region
    suffix = "".join(secrets.choice(ALPHANUMERIC) for _ in range(16))
    key = f"{folder}/CloudTrail/{region}/{now:%Y/%m/%d}/{account}_CloudTrail_{region}_{now:%Y%m%dT%H%MZ}_{suffix}.json.gz"
    span = now - since
    times = [since + span * (i + 1) / len(EVENTS) for i in range(len(EVENTS))]
    times = [t.replace(microsecond=0) for t in times]
    records = [_record(account, region, t, e) for t, e in zip(times, EVENTS)]
    raw = json.dumps({"Records": records}).encode()
    entry = {
        "s3Bucket": settings.bucket,
        "s3Object": key,
        "hashValue": hashlib.sha256(raw).hexdigest(),
        "hashAlgorithm": HASH_ALGORITHM,
        "newestEventTime": iso(max(times)),
        "oldestEventTime": iso(min(times)),
    }
    return key, gzip.compress(raw), entry


def digest(chain, settings, folder, now):
    """(key, gzip body, S3 metadata, link for the next digest) of the digest closing `chain`'s
    period at `now`, over the log files delivered since its last digest."""
    account, region, bucket = settings.account, settings.region, settings.bucket
    key = (
        f"{folder}/CloudTrail-Digest/{region}/{now:%Y/%m/%d}/"
        f"{account}_CloudTrail-Digest_{region}_{settings.name}_{settings.region}_{now:%Y%m%dT%H%M%SZ}.json.gz"
    )
    signing = cloudtrail_keys.current_key(region)
    previous = chain.previous or {}
    logs = list(chain.pending)
    document = {
        "awsAccountId": account,
        "digestStartTime": iso(chain.end),
        "digestEndTime": iso(now),
        "digestS3Bucket": bucket,
        "digestS3Object": key,
        "digestPublicKeyFingerprint": signing.fingerprint,
        "digestSignatureAlgorithm": SIGNATURE_ALGORITHM,
        "newestEventTime": max((f["newestEventTime"] for f in logs), default=None),
        "oldestEventTime": min((f["oldestEventTime"] for f in logs), default=None),
        "previousDigestS3Bucket": previous.get("bucket"),
        "previousDigestS3Object": previous.get("key"),
        "previousDigestHashValue": previous.get("hash"),
        "previousDigestHashAlgorithm": HASH_ALGORITHM if previous else None,
        "previousDigestSignature": previous.get("signature"),
        "logFiles": logs,
    }
    raw = json.dumps(document).encode()
    digest_hash = hashlib.sha256(raw).hexdigest()
    signed = f"{iso(now)}\n{bucket}/{key}\n{digest_hash}\n{previous.get('signature') or 'null'}"
    signature = cloudtrail_keys.sign(signing, signed.encode()).hex()
    metadata = {"x-amz-meta-signature": signature, "x-amz-meta-signature-algorithm": SIGNATURE_ALGORITHM}
    link = {"bucket": bucket, "key": key, "hash": digest_hash, "signature": signature}
    return key, gzip.compress(raw), metadata, link
