"""CloudTrail's delivery in the bed: log files and digest files written into trails' buckets.

moto 5.2.5 keeps trails but writes nothing into their buckets, so nothing the product reads
of a bucket (log files, the digest chain) would exist. This module delivers as CloudTrail
does, in compressed time: every TRAILWARDEN_BED_DELIVERY_SECONDS seconds (default 5; 0 turns
the timer off) and on each `POST /moto-api/bed/deliver`, a round gives every logging trail
of every account and region (the timer: those logging for at least one period, as CloudTrail
delivers a trail's first log file minutes after logging starts, not at once; so a test that
starts a trail and at once empties or deletes its bucket does not race the timer; a POST
may name the trails its round is for, so that tests sharing the bed deliver only into their
own buckets):

- a gzip log file `{"Records": [...]}` of a few management events, at
  [prefix/]AWSLogs/[o-id/]<account>/CloudTrail/<region>/<yyyy>/<mm>/<dd>/
  <account>_CloudTrail_<region>_<yyyymmddThhmmZ>_<16 alphanumerics>.json.gz, the
  time being the delivery's (the body of `POST` may say {"logFiles": false}: no log file,
  as CloudTrail delivers none when nothing happened);
  https://docs.aws.amazon.com/awscloudtrail/latest/userguide/get-and-view-cloudtrail-log-files.html
  https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-log-file-examples.html
- when the trail validates its log files, a digest file (delivery_files.py says what it
  holds and how it is signed), also when no log file came: CloudTrail delivers a digest
  for every period, empty ones included. The first digest after validation or logging
  (re)starts is a starting digest (previous* null); when logging stops, validation is
  turned off or the trail is deleted, a final digest closes the chain. Chains live in this
  module's memory, as long as the moto process.
  https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-log-file-validation-digest-file-structure.html

Delivery is refused as CloudTrail's is: a bucket that does not exist (NoSuchBucket) or
whose policy does not let CloudTrail check the ACL and put the object (AccessDenied,
judged by rules/cloudtrail_delivery.py for the object's real key) gets nothing, and
GetTrailStatus reports it in LatestDeliveryError / LatestDigestDeliveryError; a delivery
that succeeds sets LatestDeliveryTime / LatestDigestDeliveryTime and clears the error
(the bed's choice: AWS documents the error, not when it goes away). moto's own
LatestDeliveryTime ("now" whenever asked) is dropped: the time is the last real delivery.
https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_GetTrailStatus.html

A trail with an SNS topic (SnsTopicName: a name in the trail's account and Region, or a
topic ARN) notifies the topic of every log file delivered (not of digest files): the topic
must exist (else NotFound) and its topic policy must let cloudtrail.amazonaws.com
SNS:Publish to it for this trail (else AuthorizationError; moto's default topic policy,
for the owner account only, does not). GetTrailStatus reports LatestNotificationTime, or
LatestNotificationError with the time left as it was; the next notification that goes
through clears the error, as for delivery errors (the bed's choice again). AWS says only
that LatestNotificationError is the "Amazon SNS error" CloudTrail met; the bed reports the
error code of SNS Publish for the cause. The message is the one CloudTrail sends (the
guide does not show it): {"s3Bucket": bucket, "s3ObjectKey": [log file key]}.
https://docs.aws.amazon.com/awscloudtrail/latest/userguide/configure-sns-notifications-for-cloudtrail.html
https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-permissions-for-sns-notifications.html
https://docs.aws.amazon.com/sns/latest/api/API_Publish.html

Known simplifications: files come only from the trail's home region (a multi-region trail's
other regions deliver nothing), an organization trail delivers only its owner's (the
management account's) files, KMS encryption of log files is not applied, a trail stopped
and started again between two rounds starts a new chain without a final digest for the old
one, validation turned off and on again between two rounds goes unnoticed, a notification
reaches only the topic's SQS subscribers (no HTTP, Lambda, e-mail... from the bed), and a
KMS-encrypted topic's key policy is not checked.

Cost: a trail's log file and digest take about 1 ms of CPU (mostly the RSA signature) and
about 5 kB of moto's memory per round. A timer round delivers to at most BATCH trails,
taking turns, so hundreds of logging trails cost little; an on-demand round delivers to all.
"""

import datetime
import json
import os
import threading
import time
import traceback
import uuid

from moto.cloudtrail.models import TrailStatus, cloudtrail_backends
from moto.core.exceptions import JsonRESTError
from moto.moto_api._internal import urls as moto_api_urls
from moto.s3.models import s3_backends
from moto.sns.models import sns_backends
from moto.utilities.utils import get_partition

import delivery_files
from rules import cloudtrail_delivery, policy

ENV = "TRAILWARDEN_BED_DELIVERY_SECONDS"
ROUTE = "{0}/moto-api/bed/deliver"
BATCH = 100
UTC = datetime.timezone.utc

_chains = {}  # trail ARN -> delivery_files.Chain
_lock = threading.Lock()
_last_round = None
_cursor = 0


def _round_time():
    """Now, to the second, and later than the previous round: digest names carry the
    second, so two digests of one trail never share one."""
    global _last_round
    now = datetime.datetime.now(UTC)
    if _last_round is not None and now < _last_round + datetime.timedelta(seconds=1):
        time.sleep((_last_round + datetime.timedelta(seconds=1) - now).total_seconds())
        now = datetime.datetime.now(UTC)
    _last_round = now.replace(microsecond=0)
    return _last_round


def _logging_trails():
    for regions in list(cloudtrail_backends.values()):
        for backend in list(regions.values()):
            yield from (t for t in list(backend.trails.values()) if t.status.is_logging)


def _put(settings, bucket_name, key, body, metadata=None):
    """Writes one object as CloudTrail would; None, or the S3 error it would meet."""
    try:
        bucket = cloudtrail_delivery.find_bucket(bucket_name)
    except JsonRESTError:
        return "NoSuchBucket"
    if not cloudtrail_delivery.delivery_allowed(settings, bucket, key):
        return "AccessDenied"
    stored = s3_backends[bucket.account_id][bucket.partition].put_object(bucket.name, key, body)
    if metadata:
        stored.set_metadata(metadata)
    return None


def _record(status, what, now, error):
    """Keeps what GetTrailStatus answers: Latest{what}Time or Latest{what}Error."""
    fields = dict(getattr(status, "bed_delivery", {}))
    if error:
        fields[f"Latest{what}Error"] = error
    else:
        fields[f"Latest{what}Time"] = int(now.timestamp())
        fields.pop(f"Latest{what}Error", None)
    status.bed_delivery = fields  # replaced whole: GetTrailStatus may be reading the old one


def _topic(trail):
    """The trail's SNS topic, or None: SnsTopicName is a topic name, in the trail's account
    and Region, or a topic ARN (CloudTrail takes either)."""
    name, region = trail.sns_topic_name, trail.region_name
    arn = name if name.startswith("arn:") else f"arn:{get_partition(region)}:sns:{region}:{trail.account_id}:{name}"
    parts = arn.split(":")
    if len(parts) != 6 or parts[2] != "sns":
        return None
    try:
        return sns_backends[parts[4]][parts[3]].topics.get(arn)
    except (KeyError, ValueError):  # no such Region (or account) in moto
        return None


def _publish(topic, message):
    """What moto's Topic.publish does, but only towards SQS subscriptions (in the process):
    the bed calls no HTTP endpoint, Lambda function or phone. A subscriber that cannot take
    it (its queue gone) does not make CloudTrail's Publish fail."""
    message_id = str(uuid.uuid4())
    for subscription in list(topic.sns_backend.subscriptions.values()):
        if subscription.topic is topic and subscription.protocol == "sqs":
            try:
                subscription.publish(message, message_id)
            except Exception:  # SNS's delivery to a subscriber, not CloudTrail's call
                pass
    topic.sent_notifications.append((message_id, message, None, None, None))


def _notify(trail, settings, key):
    """CloudTrail's SNS Publish for log file `key`: None, or the SNS error code it meets.
    NotFound (HTTP 404): the topic does not exist. AuthorizationError (HTTP 403): the topic
    policy, read with rules/policy.py, does not let cloudtrail.amazonaws.com SNS:Publish to
    the topic with aws:SourceArn this trail's ARN and aws:SourceAccount its owner (the
    CloudTrail statement, with the recommended aws:SourceArn condition or without). The
    request carries no AWS:SourceOwner, so moto's default topic policy (AWS principals,
    StringEquals AWS:SourceOwner the owner account) grants CloudTrail nothing.
    https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-permissions-for-sns-notifications.html
    https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_GetTrailStatus.html
    https://docs.aws.amazon.com/sns/latest/api/API_Publish.html"""
    topic = _topic(trail)
    if topic is None:
        return "NotFound"
    owner, arn, org = cloudtrail_delivery.trail_identity(settings)
    context = {"aws:SourceArn": arn, "aws:SourceAccount": owner, "aws:SourceOrgID": org, "aws:SecureTransport": "true",
               "aws:SourceOwner": None}
    if policy.evaluate(topic.policy, cloudtrail_delivery.CLOUDTRAIL, "SNS:Publish", topic.arn, context) != policy.ALLOWED:
        return "AuthorizationError"
    _publish(topic, json.dumps({"s3Bucket": trail.bucket_name, "s3ObjectKey": [key]}))
    return None


def _since(trail, now):
    """Start of the trail's next log window: its last delivery, or when logging last started."""
    started = trail.status.started.replace(tzinfo=UTC) if trail.status.started else now
    return min(max(getattr(trail.status, "bed_since", None) or started, started), now)


def _digest(chain, trail, now):
    settings = cloudtrail_delivery.settings_of(trail)
    key, body, metadata, link = delivery_files.digest(chain, settings, cloudtrail_delivery.log_folder(settings), now)
    error = _put(settings, trail.bucket_name, key, body, metadata)
    _record(trail.status, "DigestDelivery", now, error)
    if error is None:
        chain.end, chain.previous, chain.pending = now, link, []
    return key if error is None else None, error


def _deliver_to(trail, now, log_files):
    settings = cloudtrail_delivery.settings_of(trail)
    since = _since(trail, now)
    entry = {"trailArn": trail.arn, "bucket": trail.bucket_name, "logFile": None, "digestFile": None, "final": False,
             "deliveryError": None, "digestDeliveryError": None, "notified": False, "notificationError": None}
    chain = _chains.get(trail.arn)
    if trail.log_validation and (chain is None or chain.trail is not trail or chain.started != trail.status.started):
        chain = _chains[trail.arn] = delivery_files.Chain(trail, trail.status.started, since)
    if log_files:
        key, body, log_entry = delivery_files.log_file(settings, cloudtrail_delivery.log_folder(settings), since, now)
        error = _put(settings, trail.bucket_name, key, body)
        _record(trail.status, "Delivery", now, error)
        entry["deliveryError"] = error
        if error is None:
            entry["logFile"] = key
            trail.status.bed_since = now
            if trail.log_validation:
                chain.pending.append(log_entry)
            if trail.sns_topic_name:
                entry["notificationError"] = _notify(trail, settings, key)
                entry["notified"] = entry["notificationError"] is None
                _record(trail.status, "Notification", now, entry["notificationError"])
    if trail.log_validation:
        entry["digestFile"], entry["digestDeliveryError"] = _digest(chain, trail, now)
    return entry


def _end_chains(now, only=None):
    """Final digests for chains whose trail stopped logging, stopped validating or was
    deleted (a trail deleted and made again under its name just starts a new chain); with
    `only` (trail ARNs), for those trails' chains alone."""
    ended = []
    for arn, chain in list(_chains.items()):
        if only is not None and arn not in only:
            continue
        trail = chain.trail
        try:
            current = cloudtrail_backends[trail.account_id][trail.region_name].trails.get(trail.trail_name)
        except KeyError:
            current = None
        if current is trail and trail.status.is_logging and trail.log_validation:
            continue
        del _chains[arn]
        if current is None or current is trail:
            digest, error = _digest(chain, trail, now)
            ended.append({"trailArn": arn, "bucket": trail.bucket_name, "logFile": None, "digestFile": digest,
                          "final": True, "deliveryError": None, "digestDeliveryError": error,
                          "notified": False, "notificationError": None})
    return ended


def deliver(log_files=True, limit=None, settle=None, only=None):
    """One delivery round (see the module's docstring); what each trail got. With `settle`
    (seconds), trails that started logging less than that ago wait for a later round. With
    `only` (a set of trail ARNs), the round is those trails' alone: tests share one moto,
    and a round one test asks for must not deliver into (or fail for) another test's
    bucket at a moment that test did not choose."""
    global _cursor
    with _lock:
        now = _round_time()
        report = _end_chains(now, only)
        trails = [t for t in _logging_trails() if only is None or t.arn in only]
        if settle:
            since = (now - datetime.timedelta(seconds=settle)).replace(tzinfo=None)  # moto's times are naive UTC
            trails = [t for t in trails if t.status.started and t.status.started <= since]
        if limit and len(trails) > limit:
            start = _cursor % len(trails)
            _cursor = start + limit
            trails = (trails[start:] + trails[:start])[:limit]
        return report + [_deliver_to(trail, now, log_files) for trail in trails]


def _deliver_route(request, full_url, headers):
    """POST /moto-api/bed/deliver, body {"logFiles": true|false, "trails": [trail ARN,
    ...]} (both optional; "trails" limits the round to those trails): one round, now; answers {"trails": [{trailArn, bucket, logFile, digestFile, final, deliveryError,
    digestDeliveryError, notified, notificationError}]} with the object keys written (null:
    none) and whether the trail's SNS topic was notified of the log file (or why not)."""
    if request.method != "POST":
        return 405, {"Allow": "POST"}, json.dumps({"error": "POST to deliver"})
    raw = request.get_data() or b"{}"  # the raw body, whatever its Content-Type says
    try:
        options = json.loads(raw)
    except ValueError:
        options = None
    if not isinstance(options, dict):
        return 400, {}, json.dumps({"error": "the body must be a JSON object"})
    only = options.get("trails")
    if only is not None and not (isinstance(only, list) and all(isinstance(a, str) for a in only)):
        return 400, {}, json.dumps({"error": "trails must be a list of trail ARNs"})
    report = deliver(log_files=bool(options.get("logFiles", True)), only=None if only is None else set(only))
    return 200, {"Content-Type": "application/json"}, json.dumps({"trails": report})


def _timer(seconds):
    while True:
        time.sleep(seconds)
        try:
            deliver(limit=BATCH, settle=seconds)
        except Exception:  # a round that failed must not end delivery; moto's log shows it
            traceback.print_exc()


def start():
    """Installs GetTrailStatus's delivery fields and the control route, and starts the timer."""
    describe = TrailStatus.description

    def description(self):
        desc = describe(self)
        desc.pop("LatestDeliveryTime", None)
        desc.update(getattr(self, "bed_delivery", {}))
        return desc

    TrailStatus.description = description
    moto_api_urls.url_paths[ROUTE] = _deliver_route
    seconds = float(os.environ.get(ENV) or 5)
    if seconds > 0:
        threading.Thread(target=_timer, args=(seconds,), name="bed-delivery", daemon=True).start()
