"""The bed's and the attacker's side of hack/bed/judge.py: a trail whose chain the bed
delivers (make_chain), the credentials both tools use in its account, and what someone
with plain S3 access (s3:GetObject/PutObject/DeleteObject on the trail's bucket,
nothing of CloudTrail's signing key) can do to it. Every mutation is a boto3 call straight
to S3, the way such an attacker would make it; none goes through the bed's delivery.

CloudTrail's formats, which the forgeries keep to:
https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-log-file-validation-digest-file-structure.html
https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-log-file-custom-validation.html
"""

import dataclasses
import datetime
import gzip
import hashlib
import json
import os
import secrets
import string
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "tests"))
from bed import fresh_account  # noqa: E402
from test_cloudtrail_delivery import bucket_policy, trail_arn  # noqa: E402

TRAIL = "audit"
DIGEST_TIME = "%Y%m%dT%H%M%SZ"  # the digest key's time, its last 16 characters before .json.gz


@dataclasses.dataclass
class Chain:
    """One row's trail, in an account of its own, and what the bed delivered to it.

    `rounds[i]` is delivery round i+1's report (logFile, digestFile, ...); `labels` names
    objects for the table (D1.., L1.., and what a mutation adds)."""

    account: str
    arn: str
    bucket: str
    s3: object
    rounds: list = dataclasses.field(default_factory=list)
    labels: dict = dataclasses.field(default_factory=dict)
    notes: list = dataclasses.field(default_factory=list)
    moved: str = None  # where a moved digest now is

    def digest(self, n):
        return self.rounds[n - 1]["digestFile"]

    def log(self, n):
        return self.rounds[n - 1]["logFile"]

    def url(self, key):
        return f"s3://{self.bucket}/{key}"

    def record(self, report):
        """Keeps a delivery round's report for this trail and labels what it wrote."""
        n = len(self.rounds) + 1
        got = report[self.arn]
        assert got["digestFile"] and not got["digestDeliveryError"], got
        self.rounds.append(got)
        self.labels[got["digestFile"]] = f"D{n}"
        if got["logFile"]:
            self.labels[got["logFile"]] = f"L{n}"

    def label(self, url):
        key = url.removeprefix(f"s3://{self.bucket}/")
        return self.labels.get(key, url)

    # -- reading and writing as the attacker --------------------------------------------

    def read(self, key):
        """(gzip body, S3 user metadata) of an object."""
        got = self.s3.get_object(Bucket=self.bucket, Key=key)
        return got["Body"].read(), got["Metadata"]

    def put(self, key, body, metadata=None):
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, Metadata=metadata or {})

    def delete(self, key):
        self.s3.delete_object(Bucket=self.bucket, Key=key)


def make_chain(moto):
    """A fresh account with a logging trail, log-file validation on, on a bucket of its own
    whose policy lets CloudTrail deliver (the statements trailwarden writes)."""
    account = fresh_account()
    ct, s3 = moto.client("cloudtrail", account), moto.client("s3", account)
    bucket = f"judge-{fresh_account()}"
    s3.create_bucket(Bucket=bucket)
    arn = trail_arn(account, TRAIL)
    s3.put_bucket_policy(Bucket=bucket, Policy=bucket_policy(bucket, arn, [f"AWSLogs/{account}"]))
    assert ct.create_trail(Name=TRAIL, S3BucketName=bucket, EnableLogFileValidation=True)["TrailARN"] == arn
    ct.start_logging(Name=TRAIL)
    return Chain(account, arn, bucket, s3)


def credentials(moto, chain):
    """Env for both tools: the bed's endpoint, the trail account's credentials (STS
    AssumeRole into it: moto answers in the role's account), nothing of this machine's."""
    role = f"arn:aws:iam::{chain.account}:role/judge"
    creds = moto.client("sts", chain.account).assume_role(RoleArn=role, RoleSessionName="judge")["Credentials"]
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_ENDPOINT_URL": moto.url,
        "TRAILWARDEN_AWS_ENDPOINT": moto.url,
        "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
        "AWS_SESSION_TOKEN": creds["SessionToken"],
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def _digest_json(chain, key):
    body, metadata = chain.read(key)
    return json.loads(gzip.decompress(body)), metadata


def _records(chain, n):
    """The records of round n's log file."""
    return json.loads(gzip.decompress(chain.read(chain.log(n))[0]))["Records"]


def _forged_record(chain):
    """A plausible management event the attacker wants believed (alice deleting a bucket),
    shaped as a CloudTrail record."""
    return {
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "accountId": chain.account, "arn": f"arn:aws:iam::{chain.account}:user/alice"},
        "eventTime": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "s3.amazonaws.com",
        "eventName": "DeleteBucket",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.7",
        "recipientAccountId": chain.account,
        "eventCategory": "Management",
    }


# -- log files -------------------------------------------------------------------------


def delete_log(chain, n):
    chain.delete(chain.log(n))


def change_log(chain, n):
    """Round n's log file without its last record, plus a forged one: valid gzip, same key."""
    records = _records(chain, n)[:-1] + [_forged_record(chain)]
    chain.put(chain.log(n), gzip.compress(json.dumps({"Records": records}).encode()))


def append_member(chain, n):
    """A second gzip member after the one CloudTrail wrote: `zcat`, Python's gzip module and
    many collectors read both, so the appended records pass for delivered ones."""
    body, _ = chain.read(chain.log(n))
    appended = json.dumps({"Records": [_forged_record(chain)]}).encode()
    chain.put(chain.log(n), body + gzip.compress(appended))
    assert gzip.decompress(body + gzip.compress(appended)) == gzip.decompress(body) + appended


def forge_log(chain, n):
    """After the fact: a file written at round n's (deleted) log key, with forged events."""
    chain.put(chain.log(n), gzip.compress(json.dumps({"Records": [_forged_record(chain)]}).encode()))


def plant_log(chain):
    """A log file no digest lists, named as CloudTrail names them, in the log folder of now."""
    now = datetime.datetime.now(datetime.timezone.utc)
    suffix = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(16))
    key = (
        f"AWSLogs/{chain.account}/CloudTrail/us-east-1/{now:%Y/%m/%d}/"
        f"{chain.account}_CloudTrail_us-east-1_{now:%Y%m%dT%H%MZ}_{suffix}.json.gz"
    )
    chain.put(key, gzip.compress(json.dumps({"Records": [_forged_record(chain)]}).encode()))
    chain.labels[key] = "planted"
    chain.notes.append(f"planted {chain.url(key)}: no digest lists it, so neither tool reads it")


# -- digest files ----------------------------------------------------------------------


def delete_digest(chain, n):
    chain.delete(chain.digest(n))


def rewrite_digest(chain, n, edit):
    """Round n's digest with its JSON edited by `edit(document)`, re-gzipped, its signature
    metadata kept as it was (the attacker cannot sign)."""
    document, metadata = _digest_json(chain, chain.digest(n))
    edit(document)
    chain.put(chain.digest(n), gzip.compress(json.dumps(document).encode()), metadata)


def drop_listed_logs(document):
    """Hides the digest's log files: the edit an attacker wants, to delete them unseen."""
    document["logFiles"] = []


def flip_previous_signature(document):
    signature = document["previousDigestSignature"]
    assert signature, "a starting digest has no previous signature to break"
    document["previousDigestSignature"] = ("0" if signature[0] != "0" else "1") + signature[1:]


def move_digest(chain, n, seconds):
    """Round n's digest copied, body and metadata, to the name a digest `seconds` later (or
    earlier) would have in the same folder; the original deleted."""
    key = chain.digest(n)
    when = datetime.datetime.strptime(key[-24:-8], DIGEST_TIME) + datetime.timedelta(seconds=seconds)
    moved = key[:-24] + when.strftime(DIGEST_TIME) + key[-8:]
    neighbours = [chain.digest(i) for i in range(1, len(chain.rounds) + 1) if i != n]
    assert all(k[-24:-8] != moved[-24:-8] for k in neighbours), "the moved name must be a time no digest has"
    body, metadata = chain.read(key)
    chain.put(moved, body, metadata)
    chain.delete(key)
    chain.labels[moved] = f"D{n}'"
    return moved


def resign_with_attacker_key(chain, n):
    """Round n's digest re-signed by a key the attacker made: its fingerprint (hex MD5 of the
    DER public key, as ListPublicKeys' fingerprints are) written into the digest, the
    CloudTrail string-to-sign signed SHA256withRSA, the new signature put as metadata."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = private.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    key = chain.digest(n)
    document, _ = _digest_json(chain, key)
    document["digestPublicKeyFingerprint"] = hashlib.md5(der).hexdigest()
    raw = json.dumps(document).encode()
    to_sign = "\n".join(
        [
            document["digestEndTime"],
            f"{document['digestS3Bucket']}/{document['digestS3Object']}",
            hashlib.sha256(raw).hexdigest(),
            document["previousDigestSignature"] or "null",
        ]
    )
    signature = private.sign(to_sign.encode(), padding.PKCS1v15(), hashes.SHA256()).hex()
    chain.put(key, gzip.compress(raw), {"signature": signature, "signature-algorithm": "SHA256withRSA"})
    chain.notes.append(f"D{n} re-signed with fingerprint {document['digestPublicKeyFingerprint']} (not listed)")
