"""Bed rule for CloudTrail's digest-signing keys: ListPublicKeys, which moto 5.2.5 lacks
(see rules/__init__.py).

CloudTrail signs each digest file with a private key of the region the digest comes from
and publishes the public halves through ListPublicKeys: the DER-encoded PKCS#1
RSAPublicKey (a blob, so base64 on the JSON wire), its validity window, and its
fingerprint, which digest files name in `digestPublicKeyFingerprint`. Key windows may
overlap. The bed makes a 2048-bit RSA key pair per region the first time the region needs
one (delivery.py signing a digest, or a ListPublicKeys call) and keeps it for this process
only, so digests signed by an earlier moto cannot be verified by a later one, as AWS keys
do not outlive their rotation either. A key is valid for KEY_LIFETIME from its making; the
next one is made when it runs out, and both stay listed.

The fingerprint is the hex MD5 of the DER value: what AWS's example values look like (32
hex digits) and what the AWS CLI only compares, never recomputes.
https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_ListPublicKeys.html
https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_PublicKey.html
https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-log-file-validation-digest-file-structure.html
"""

import base64
import collections
import datetime
import hashlib
import json
import threading

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from moto.cloudtrail.responses import CloudTrailResponse

from .cloudtrail import refusal

KEY_LIFETIME = datetime.timedelta(days=20)
UTC = datetime.timezone.utc

Key = collections.namedtuple("Key", "private der fingerprint start end")

_keys = {}  # region -> [Key], oldest first
_lock = threading.Lock()


def _now():
    return datetime.datetime.now(UTC).replace(microsecond=0)


def _make_key(start):
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = private.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    return Key(private, der, hashlib.md5(der).hexdigest(), start, start + KEY_LIFETIME)


def current_key(region, now=None):
    """The key signing `region`'s digests at `now` (made when none is valid then)."""
    now = now or _now()
    with _lock:
        keys = _keys.setdefault(region, [])
        if not keys or keys[-1].end <= now:
            keys.append(_make_key(now))
        return keys[-1]


def sign(key, message):
    """`message` (bytes) signed SHA256withRSA, RSA PKCS#1 v1.5 over SHA-256, with `key`."""
    return key.private.sign(message, padding.PKCS1v15(), hashes.SHA256())


def _time(value, default):
    """A timestamp parameter as botocore sends it on the JSON wire (epoch seconds), or an
    ISO 8601 string, or a datetime."""
    if value is None:
        return default
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, (int, float)):
        return datetime.datetime.fromtimestamp(value, UTC)
    try:
        return _time(float(value), default)
    except ValueError:
        return _time(datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00")), default)


def public_keys(region, start=None, end=None):
    """The keys of `region` whose validity overlaps [start, end]; each bound defaults to now,
    so no bounds is the current key. A start after the end, or a time that is none, is
    InvalidTimeRangeException."""
    now = _now()
    try:
        start, end = _time(start, now), _time(end, now)
    except (ValueError, OverflowError, OSError):
        raise refusal("InvalidTimeRangeException", "The time range is outside the range of possible values.") from None
    if start > end:
        raise refusal("InvalidTimeRangeException", "Start time must be before end time.")
    current_key(region, now)
    with _lock:
        keys = list(_keys[region])
    return [k for k in keys if k.start <= end and k.end >= start]


def install():
    def list_public_keys(self):
        keys = public_keys(self.region, self._get_param("StartTime"), self._get_param("EndTime"))
        return json.dumps(
            {
                "PublicKeyList": [
                    {
                        "Value": base64.b64encode(k.der).decode(),
                        "ValidityStartTime": k.start.timestamp(),
                        "ValidityEndTime": k.end.timestamp(),
                        "Fingerprint": k.fingerprint,
                    }
                    for k in keys
                ]
            }
        )

    CloudTrailResponse.list_public_keys = list_public_keys
