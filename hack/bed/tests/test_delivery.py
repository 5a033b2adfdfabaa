"""Tests of the bed's CloudTrail delivery (hack/bed/delivery.py, delivery_files.py) and of
ListPublicKeys (hack/bed/rules/cloudtrail_keys.py): what lands in a trail's bucket, how the
digests are signed and chained, what the trail's SNS topic is told, and what GetTrailStatus
says; then AWS CLI's own `cloudtrail validate-logs` (from hack/bed/awscli-venv.sh) judges
chains the bed delivered."""

import datetime
import gzip
import hashlib
import json
import os
import subprocess
import sys
import time
import unittest

from bed import BedTest, fresh_account
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from test_cloudtrail import delivery_bucket
from test_cloudtrail_delivery import bucket_policy, trail_arn
from test_organizations import Organization

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from rules import cloudtrail_keys  # noqa: E402

UTC = datetime.timezone.utc
# A digest's link to the previous one: all null in a starting digest.
PREVIOUS = tuple(f"previousDigest{f}" for f in ("S3Bucket", "S3Object", "HashValue", "HashAlgorithm", "Signature"))
AWSCLI_VENV = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "awscli-venv.sh")


class Delivered(BedTest):
    """A logging trail per test, on a bucket that lets CloudTrail deliver, and readers of
    what lands in it."""

    def trail(self, validation=True, start=True, prefix=None, bucket_account=None):
        account = fresh_account()
        ct, s3 = self.moto.client("cloudtrail", account), self.moto.client("s3", bucket_account or account)
        bucket = f"logs-{fresh_account()}"
        s3.create_bucket(Bucket=bucket)
        folder = f"{prefix}/AWSLogs/{account}" if prefix else f"AWSLogs/{account}"
        s3.put_bucket_policy(Bucket=bucket, Policy=bucket_policy(bucket, trail_arn(account, "audit"), [folder]))
        settings = {"S3KeyPrefix": prefix} if prefix else {}
        arn = ct.create_trail(Name="audit", S3BucketName=bucket, EnableLogFileValidation=validation, **settings)["TrailARN"]
        if start:
            ct.start_logging(Name="audit")
        return ct, s3, bucket, arn

    def read(self, s3, bucket, key):
        """(uncompressed body, S3 user metadata) of an object."""
        got = s3.get_object(Bucket=bucket, Key=key)
        return gzip.decompress(got["Body"].read()), got["Metadata"]

    def keys(self, s3, bucket):
        return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))

    def verify(self, ct, bucket, key, raw, metadata):
        """The digest's signature checks out with the key ListPublicKeys answers for its
        fingerprint, over the string AWS documents; returns the digest."""
        digest = json.loads(raw)
        keys = {k["Fingerprint"]: k for k in ct.list_public_keys()["PublicKeyList"]}
        self.assertIn(digest["digestPublicKeyFingerprint"], keys)
        public = serialization.load_der_public_key(keys[digest["digestPublicKeyFingerprint"]]["Value"])
        self.assertEqual(metadata["signature-algorithm"], "SHA256withRSA")
        signed = "\n".join(
            [digest["digestEndTime"], f"{bucket}/{key}", hashlib.sha256(raw).hexdigest(), digest["previousDigestSignature"] or "null"]
        )
        public.verify(bytes.fromhex(metadata["signature"]), signed.encode(), padding.PKCS1v15(), hashes.SHA256())
        return digest


class PublicKeysTest(Delivered):
    def test_answers_the_key_digests_are_signed_with(self):
        ct, s3, bucket, arn = self.trail()
        got = self.moto.deliver()[arn]
        digest = json.loads(self.read(s3, bucket, got["digestFile"])[0])
        (key,) = ct.list_public_keys()["PublicKeyList"]
        self.assertEqual(key["Fingerprint"], digest["digestPublicKeyFingerprint"])
        self.assertEqual(key["Fingerprint"], hashlib.md5(key["Value"]).hexdigest())
        self.assertEqual(serialization.load_der_public_key(key["Value"]).key_size, 2048)
        self.assertLessEqual(key["ValidityStartTime"], datetime.datetime.now(UTC))
        self.assertGreater(key["ValidityEndTime"], datetime.datetime.now(UTC))

    def test_filters_by_time_range_and_region(self):
        ct = self.moto.client("cloudtrail", fresh_account())
        now, hour = datetime.datetime.now(UTC), datetime.timedelta(hours=1)
        keys = lambda start, end: ct.list_public_keys(StartTime=start, EndTime=end)["PublicKeyList"]  # noqa: E731
        self.assertEqual(len(keys(now - hour, now + 2 * hour)), 1)  # what validate-logs asks
        self.assertEqual(keys(now - 400 * 24 * hour, now - 399 * 24 * hour), [])
        self.assertRefused(lambda: keys(now, now - hour), "InvalidTimeRangeException", 400)
        west = self.moto.client("cloudtrail", fresh_account(), "us-west-2").list_public_keys()["PublicKeyList"]
        self.assertNotEqual(west[0]["Fingerprint"], ct.list_public_keys()["PublicKeyList"][0]["Fingerprint"])


    def test_a_key_that_runs_out_is_followed_by_a_new_one_and_both_stay_listed(self):
        # In this process, not the server's: the clock is the test's to set.
        now = datetime.datetime.now(UTC).replace(microsecond=0)
        first = cloudtrail_keys.current_key("bed-test-1", now - datetime.timedelta(days=30))
        second = cloudtrail_keys.current_key("bed-test-1", first.end)
        self.assertNotEqual(first.fingerprint, second.fingerprint)
        self.assertEqual(second.start, first.end)
        listed = lambda *span: [k.fingerprint for k in cloudtrail_keys.public_keys("bed-test-1", *span)]  # noqa: E731
        self.assertEqual(listed(), [second.fingerprint])
        self.assertEqual(listed(first.start, first.start + datetime.timedelta(days=1)), [first.fingerprint])
        self.assertEqual(listed(first.start, now), [first.fingerprint, second.fingerprint])


class DeliveryTest(Delivered):
    def test_logs_and_a_signed_digest_chain(self):
        ct, s3, bucket, arn = self.trail(prefix="audit/org")
        first, second = self.moto.deliver()[arn], self.moto.deliver()[arn]
        account = arn.split(":")[4]
        self.assertRegex(
            first["logFile"],
            rf"^audit/org/AWSLogs/{account}/CloudTrail/us-east-1/\d{{4}}/\d\d/\d\d/"
            rf"{account}_CloudTrail_us-east-1_\d{{8}}T\d{{4}}Z_[A-Za-z0-9]{{16}}\.json\.gz$",
        )
        self.assertRegex(
            first["digestFile"],
            rf"^audit/org/AWSLogs/{account}/CloudTrail-Digest/us-east-1/\d{{4}}/\d\d/\d\d/"
            rf"{account}_CloudTrail-Digest_us-east-1_audit_us-east-1_\d{{8}}T\d{{6}}Z\.json\.gz$",
        )
        digests = []
        for got in (first, second):
            raw, metadata = self.read(s3, bucket, got["digestFile"])
            digest = self.verify(ct, bucket, got["digestFile"], raw, metadata)
            where = (digest["digestS3Bucket"], digest["digestS3Object"], digest["awsAccountId"])
            self.assertEqual(where, (bucket, got["digestFile"], account))
            (log,) = digest["logFiles"]
            body = self.read(s3, bucket, got["logFile"])[0]
            self.assertEqual((log["s3Bucket"], log["s3Object"]), (bucket, got["logFile"]))
            self.assertEqual((log["hashValue"], log["hashAlgorithm"]), (hashlib.sha256(body).hexdigest(), "SHA-256"))
            records = json.loads(body)["Records"]
            self.assertGreaterEqual(len(records), 2)
            for record in records:
                self.assertEqual((record["recipientAccountId"], record["awsRegion"]), (account, "us-east-1"))
                self.assertTrue(digest["digestStartTime"] <= record["eventTime"] <= digest["digestEndTime"], (record, digest))
            self.assertEqual(log["newestEventTime"], max(r["eventTime"] for r in records))
            digests.append((raw, metadata, digest))
        (raw1, metadata1, digest1), (_, _, digest2) = digests
        for field in PREVIOUS:
            self.assertIsNone(digest1[field], field)
        self.assertEqual(digest2["digestStartTime"], digest1["digestEndTime"])
        self.assertLess(digest1["digestEndTime"], digest2["digestEndTime"])
        self.assertEqual(
            [digest2[f] for f in PREVIOUS],
            [bucket, first["digestFile"], hashlib.sha256(raw1).hexdigest(), "SHA-256", metadata1["signature"]],
        )
        status = ct.get_trail_status(Name="audit")
        self.assertEqual(status["LatestDeliveryTime"].timestamp(), status["LatestDigestDeliveryTime"].timestamp())
        self.assertNotIn("LatestDeliveryError", status)

    def test_a_round_without_log_files_still_delivers_an_empty_digest(self):
        ct, s3, bucket, arn = self.trail()
        got = self.moto.deliver(log_files=False)[arn]
        self.assertIsNone(got["logFile"])
        digest = self.verify(ct, bucket, got["digestFile"], *self.read(s3, bucket, got["digestFile"]))
        self.assertEqual((digest["logFiles"], digest["newestEventTime"], digest["oldestEventTime"]), ([], None, None))
        self.assertEqual(self.keys(s3, bucket), [got["digestFile"]])

    def test_without_validation_logs_but_no_digest(self):
        ct, s3, bucket, arn = self.trail(validation=False)
        got = self.moto.deliver()[arn]
        self.assertIsNone(got["digestFile"])
        self.assertEqual(self.keys(s3, bucket), [got["logFile"]])
        self.assertNotIn("LatestDigestDeliveryTime", ct.get_trail_status(Name="audit"))

    def test_a_trail_not_logging_gets_nothing(self):
        ct, s3, bucket, arn = self.trail(start=False)
        self.assertNotIn(arn, self.moto.deliver())
        self.assertEqual(self.keys(s3, bucket), [])
        self.assertNotIn("LatestDeliveryTime", ct.get_trail_status(Name="audit"))

    def test_a_round_for_named_trails_leaves_the_others_alone(self):
        ct, s3, bucket, arn = self.trail()
        other_ct, other_s3, other_bucket, other_arn = self.trail()
        self.assertEqual(set(self.moto.deliver(trails=[arn])), {arn})
        self.assertEqual(self.keys(other_s3, other_bucket), [])
        self.assertEqual(set(self.moto.deliver(trails=[other_arn])), {other_arn})
        other_files = self.keys(other_s3, other_bucket)
        # Stopped, its chain ends at the next round that is its own, not at another's.
        other_ct.stop_logging(Name="audit")
        self.assertEqual(set(self.moto.deliver(trails=[arn])), {arn})
        self.assertEqual(self.keys(other_s3, other_bucket), other_files)
        self.assertTrue(self.moto.deliver(trails=[other_arn])[other_arn]["final"])
        self.assertEqual(len(self.keys(s3, bucket)), 4)

    def test_stop_closes_the_chain_and_start_begins_a_new_one(self):
        ct, s3, bucket, arn = self.trail()
        self.moto.deliver()
        ct.stop_logging(Name="audit")
        final = self.moto.deliver()[arn]
        self.assertTrue(final["final"])
        self.assertIsNone(final["logFile"])
        self.assertNotIn(arn, self.moto.deliver())
        before = self.keys(s3, bucket)
        self.assertIn(final["digestFile"], before)
        ct.start_logging(Name="audit")
        restarted = self.moto.deliver()[arn]
        digest = json.loads(self.read(s3, bucket, restarted["digestFile"])[0])
        self.assertIsNone(digest["previousDigestS3Object"])  # a starting digest, as AWS documents
        self.assertEqual(len(self.keys(s3, bucket)), len(before) + 2)

    def test_a_bucket_refusing_cloudtrail_gets_nothing_and_the_status_says_why(self):
        ct, s3, bucket, arn = self.trail()
        s3.put_bucket_policy(Bucket=bucket, Policy=bucket_policy(bucket, trail_arn("999999999999", "audit"), ["AWSLogs"]))
        got = self.moto.deliver()[arn]
        self.assertEqual((got["logFile"], got["digestFile"]), (None, None))
        self.assertEqual((got["deliveryError"], got["digestDeliveryError"]), ("AccessDenied", "AccessDenied"))
        self.assertEqual(self.keys(s3, bucket), [])
        status = ct.get_trail_status(Name="audit")
        self.assertEqual((status["LatestDeliveryError"], status["LatestDigestDeliveryError"]), ("AccessDenied", "AccessDenied"))
        self.assertNotIn("LatestDeliveryTime", status)
        s3.put_bucket_policy(Bucket=bucket, Policy=bucket_policy(bucket, arn, [f"AWSLogs/{arn.split(':')[4]}"]))
        healed = self.moto.deliver()[arn]
        self.assertIsNotNone(healed["digestFile"])
        self.assertNotIn("LatestDeliveryError", ct.get_trail_status(Name="audit"))
        s3.delete_bucket_policy(Bucket=bucket)
        for key in self.keys(s3, bucket):
            s3.delete_object(Bucket=bucket, Key=key)
        s3.delete_bucket(Bucket=bucket)
        self.assertEqual(self.moto.deliver()[arn]["deliveryError"], "NoSuchBucket")
        self.assertEqual(ct.get_trail_status(Name="audit")["LatestDeliveryError"], "NoSuchBucket")

    def test_a_log_archive_bucket_of_another_account(self):
        archive = fresh_account()
        ct, s3, bucket, arn = self.trail(bucket_account=archive)
        got = self.moto.deliver()[arn]
        self.assertEqual(self.keys(s3, bucket), sorted([got["logFile"], got["digestFile"]]))

    def test_an_organization_trail_delivers_under_the_organization_id(self):
        org = Organization(self.moto)
        arn = org.org_trail(org.management, "org-audit", EnableLogFileValidation=True)["TrailARN"]
        org.cloudtrail(org.management).start_logging(Name="org-audit")
        got = self.moto.deliver()[arn]
        for key in (got["logFile"], got["digestFile"]):
            self.assertTrue(key.startswith(f"AWSLogs/{org.id}/{org.management}/"), key)


def topic_policy(topic_arn, source_arn=None):
    """The statement CloudTrail's guide attaches to a trail's topic, with the aws:SourceArn
    condition it recommends adding when `source_arn` is given.
    https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-permissions-for-sns-notifications.html"""
    statement = {
        "Sid": "AWSCloudTrailSNSPolicy20131101",
        "Effect": "Allow",
        "Principal": {"Service": "cloudtrail.amazonaws.com"},
        "Action": "SNS:Publish",
        "Resource": topic_arn,
    }
    if source_arn:
        statement["Condition"] = {"StringEquals": {"AWS:SourceArn": source_arn}}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


class NotificationTest(Delivered):
    """The trail's SNS topic is notified of each log file; GetTrailStatus says when, or why not."""

    def notifying(self, policy=True, by_arn=False):
        """A logging trail whose topic "deliveries" has, with `policy`, CloudTrail's statement
        for this trail (else SNS's default policy); (ct, sns, topic ARN, bucket, trail ARN)."""
        ct, s3, bucket, arn = self.trail(validation=False)
        sns = self.moto.client("sns", arn.split(":")[4])
        topic = sns.create_topic(Name="deliveries")["TopicArn"]
        if policy:
            sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=topic_policy(topic, arn))
        ct.update_trail(Name="audit", SnsTopicName=topic if by_arn else "deliveries")
        return ct, sns, topic, bucket, arn

    def test_a_topic_that_lets_cloudtrail_publish_hears_of_each_log_file(self):
        ct, sns, topic, bucket, arn = self.notifying()
        sqs = self.moto.client("sqs", arn.split(":")[4])
        queue = sqs.create_queue(QueueName="deliveries")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        got = self.moto.deliver()[arn]
        self.assertEqual((got["notified"], got["notificationError"]), (True, None))
        status = ct.get_trail_status(Name="audit")
        self.assertEqual(status["LatestNotificationTime"], status["LatestDeliveryTime"])
        self.assertNotIn("LatestNotificationError", status)
        (message,) = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
        envelope = json.loads(message["Body"])
        self.assertEqual(envelope["TopicArn"], topic)
        self.assertEqual(json.loads(envelope["Message"]), {"s3Bucket": bucket, "s3ObjectKey": [got["logFile"]]})
        quiet = self.moto.deliver(log_files=False)[arn]  # no log file, nothing to tell
        self.assertFalse(quiet["notified"])
        self.assertEqual(ct.get_trail_status(Name="audit")["LatestNotificationTime"], status["LatestNotificationTime"])

    def test_a_topic_named_by_its_arn(self):
        ct, sns, topic, bucket, arn = self.notifying(by_arn=True)
        self.assertTrue(self.moto.deliver()[arn]["notified"])
        self.assertIn("LatestNotificationTime", ct.get_trail_status(Name="audit"))

    def test_a_deleted_topic_is_reported_after_the_next_round_and_a_new_one_clears_it(self):
        ct, sns, topic, bucket, arn = self.notifying()
        self.moto.deliver()
        notified = ct.get_trail_status(Name="audit")["LatestNotificationTime"]
        sns.delete_topic(TopicArn=topic)
        got = self.moto.deliver()[arn]
        self.assertIsNotNone(got["logFile"])  # the log file is delivered all the same
        self.assertEqual((got["notified"], got["notificationError"]), (False, "NotFound"))
        status = ct.get_trail_status(Name="audit")
        self.assertEqual(status["LatestNotificationError"], "NotFound")
        self.assertEqual(status["LatestNotificationTime"], notified)
        self.assertGreater(status["LatestDeliveryTime"], notified)
        topic = sns.create_topic(Name="deliveries")["TopicArn"]
        sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=topic_policy(topic, arn))
        self.assertTrue(self.moto.deliver()[arn]["notified"])
        status = ct.get_trail_status(Name="audit")
        self.assertNotIn("LatestNotificationError", status)
        self.assertGreater(status["LatestNotificationTime"], notified)

    def test_the_default_topic_policy_or_another_trails_grant_refuses_cloudtrail(self):
        ct, sns, topic, bucket, arn = self.notifying(policy=False)
        got = self.moto.deliver()[arn]
        self.assertEqual((got["notified"], got["notificationError"]), (False, "AuthorizationError"))
        status = ct.get_trail_status(Name="audit")
        self.assertEqual(status["LatestNotificationError"], "AuthorizationError")
        self.assertNotIn("LatestNotificationTime", status)
        other = trail_arn(arn.split(":")[4], "other")
        sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=topic_policy(topic, other))
        self.assertEqual(self.moto.deliver()[arn]["notificationError"], "AuthorizationError")
        sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=topic_policy(topic))
        self.assertTrue(self.moto.deliver()[arn]["notified"])

    def test_a_trail_without_a_topic_reports_no_notification(self):
        ct, s3, bucket, arn = self.trail(validation=False)
        got = self.moto.deliver()[arn]
        self.assertEqual((got["notified"], got["notificationError"]), (False, None))
        status = ct.get_trail_status(Name="audit")
        self.assertNotIn("LatestNotificationTime", status)
        self.assertNotIn("LatestNotificationError", status)


class ValidateLogsTest(Delivered):
    """AWS CLI's validate-logs, pointed at this class's moto for every client it makes
    (AWS_ENDPOINT_URL: its cloudtrail client and the S3 clients it creates per bucket
    region), with credentials of the trail's account (STS AssumeRole into it: moto answers
    in the account of the role)."""

    @classmethod
    def setUpClass(cls):
        try:
            venv = subprocess.run([AWSCLI_VENV], check=True, capture_output=True, text=True, timeout=900).stdout.strip()
        except (OSError, subprocess.SubprocessError) as failed:
            raise unittest.SkipTest(f"no AWS CLI venv (hack/bed/awscli-venv.sh failed: {failed}); validate-logs not run")
        cls.aws = os.path.join(venv, "bin", "aws")
        super().setUpClass()

    def chain(self, rounds):
        """A trail with validation and the deliveries of `rounds` rounds (each: log files or not)."""
        start = (datetime.datetime.now(UTC) - datetime.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        ct, s3, bucket, arn = self.trail()
        return s3, bucket, arn, start, [self.moto.deliver(log_files=logs)[arn] for logs in rounds]

    def validate(self, arn, start, *extra):
        account = arn.split(":")[4]
        role = f"arn:aws:iam::{account}:role/validator"
        creds = self.moto.client("sts", account).assume_role(RoleArn=role, RoleSessionName="validate-logs")["Credentials"]
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "AWS_ENDPOINT_URL": self.moto.url,
            "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
            "AWS_SESSION_TOKEN": creds["SessionToken"],
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        command = [self.aws, "cloudtrail", "validate-logs", "--trail-arn", arn, "--start-time", start, "--verbose", *extra]
        run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        return run.returncode, run.stdout, run.stderr

    def test_every_digest_and_log_file_is_valid(self):
        s3, bucket, arn, start, rounds = self.chain([True, False, True, True])
        code, out, err = self.validate(arn, start)
        self.assertEqual(code, 0, out + err)
        self.assertIn("4/4 digest files valid\n", out)
        self.assertIn("3/3 log files valid\n", out)
        self.assertNotIn("INVALID", out + err)
        for got in rounds:
            self.assertIn(f"Digest file\ts3://{bucket}/{got['digestFile']}\tvalid", out)
            if got["logFile"]:
                self.assertIn(f"Log file\ts3://{bucket}/{got['logFile']}\tvalid", out)

    def test_an_organization_trail_validates_under_the_organization_id(self):
        start = (datetime.datetime.now(UTC) - datetime.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        org = Organization(self.moto)
        arn = org.org_trail(org.management, "org-audit", EnableLogFileValidation=True)["TrailARN"]
        org.cloudtrail(org.management).start_logging(Name="org-audit")
        for _ in range(3):
            self.moto.deliver()
        code, out, err = self.validate(arn, start, "--account-id", org.management)
        self.assertEqual(code, 0, out + err)
        self.assertIn("3/3 digest files valid\n", out)
        self.assertIn(f"/AWSLogs/{org.id}/{org.management}/CloudTrail-Digest/", out)

    def test_a_deleted_log_file_is_reported(self):
        s3, bucket, arn, start, rounds = self.chain([True, True, True])
        s3.delete_object(Bucket=bucket, Key=rounds[1]["logFile"])
        code, out, err = self.validate(arn, start)
        self.assertEqual(code, 1, out + err)
        self.assertIn(f"Log file\ts3://{bucket}/{rounds[1]['logFile']}\tINVALID: not found", err)
        self.assertIn("3/3 digest files valid\n", out)
        self.assertIn("2/3 log files valid, 1/3 log files INVALID", out)

    def test_a_changed_log_file_and_a_deleted_digest_are_reported(self):
        s3, bucket, arn, start, rounds = self.chain([True, True, True])
        forged = gzip.compress(json.dumps({"Records": []}).encode())
        s3.put_object(Bucket=bucket, Key=rounds[0]["logFile"], Body=forged)
        s3.delete_object(Bucket=bucket, Key=rounds[1]["digestFile"])
        code, out, err = self.validate(arn, start)
        self.assertEqual(code, 1, out + err)
        self.assertIn(f"Digest file\ts3://{bucket}/{rounds[1]['digestFile']}\tINVALID: not found", err)
        self.assertIn(f"Log file\ts3://{bucket}/{rounds[0]['logFile']}\tINVALID: hash value doesn't match", err)


class TimerTest(BedTest):
    MOTO_ENV = {"TRAILWARDEN_BED_DELIVERY_SECONDS": "1"}

    def test_the_timer_delivers_without_being_asked(self):
        account = fresh_account()
        bucket = delivery_bucket(self.moto, account)
        ct, s3 = self.moto.client("cloudtrail", account), self.moto.client("s3", account)
        ct.create_trail(Name="audit", S3BucketName=bucket, EnableLogFileValidation=True)
        ct.start_logging(Name="audit")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and "LatestDigestDeliveryTime" not in ct.get_trail_status(Name="audit"):
            time.sleep(0.2)
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
        self.assertTrue(any("/CloudTrail/" in k for k in keys) and any("/CloudTrail-Digest/" in k for k in keys), keys)


if __name__ == "__main__":
    unittest.main()
