"""The S3 rules (hack/bed/rules/s3.py): wrong region, bucket owner condition, owner-only
operations; each refused as S3 refuses it, and the legitimate call still answered. And the
bucket configuration rules (hack/bed/rules/s3_config.py): SSE-S3 default encryption, Object
Lock on existing buckets."""

import json
import unittest
import urllib.error
import urllib.request
import uuid

import boto3
import botocore.config
from bed import BedTest, fresh_account


def bucket_name():
    return f"bed-{uuid.uuid4().hex[:20]}"


def no_redirect(client):
    """botocore follows a PermanentRedirect to the region it names; these tests want to see
    the redirect itself, so mark every call as already redirected."""

    def mark(params, **_):
        params["context"].setdefault("s3_redirect", {})["redirected"] = True

    client.meta.events.register("before-call.s3", mark)
    return client


class WrongRegion(BedTest):
    def setUp(self):
        self.account = fresh_account()
        self.east = no_redirect(self.moto.client("s3", self.account, "us-east-1"))
        self.west = no_redirect(self.moto.client("s3", self.account, "us-west-2"))
        self.bucket = bucket_name()  # no LocationConstraint: us-east-1
        self.east.create_bucket(Bucket=self.bucket)

    def test_us_east_1_bucket_used_from_us_east_1_as_before(self):
        self.east.put_bucket_versioning(Bucket=self.bucket, VersioningConfiguration={"Status": "Enabled"})
        self.assertEqual(self.east.get_bucket_versioning(Bucket=self.bucket)["Status"], "Enabled")
        head = self.east.head_bucket(Bucket=self.bucket)
        self.assertEqual(head["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"], "us-east-1")
        self.east.put_object(Bucket=self.bucket, Key="k", Body=b"v")
        self.assertEqual(self.east.get_object(Bucket=self.bucket, Key="k")["Body"].read(), b"v")
        self.assertIsNone(self.east.get_bucket_location(Bucket=self.bucket)["LocationConstraint"])

    def test_bucket_request_signed_for_another_region_is_redirected(self):
        error = self.assertRefused(lambda: self.west.get_bucket_versioning(Bucket=self.bucket), "PermanentRedirect", 301)
        self.assertEqual(error["Error"]["Bucket"], self.bucket)
        self.assertEqual(error["Error"]["Endpoint"], "s3.amazonaws.com")
        self.assertEqual(error["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"], "us-east-1")
        self.assertRefused(lambda: self.west.get_public_access_block(Bucket=self.bucket), "PermanentRedirect", 301)
        self.assertRefused(lambda: self.west.list_objects_v2(Bucket=self.bucket), "PermanentRedirect", 301)

    def test_object_request_signed_for_another_region_is_redirected(self):
        self.assertRefused(lambda: self.west.put_object(Bucket=self.bucket, Key="k", Body=b"v"), "PermanentRedirect", 301)

    def test_head_signed_for_another_region_gets_301_with_the_region_header_and_no_body(self):
        error = self.assertRefused(lambda: self.west.head_bucket(Bucket=self.bucket), "301", 301)
        self.assertEqual(error["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"], "us-east-1")

    def presigned_get(self, region):
        """A SigV4 presigned GetObject URL for the bucket's object "k", signed for `region`."""
        presigner = boto3.client(
            "s3",
            region_name=region,
            endpoint_url=self.moto.url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=botocore.config.Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )
        url = presigner.generate_presigned_url("get_object", Params={"Bucket": self.bucket, "Key": "k"})
        self.assertIn("X-Amz-Credential=", url)
        return url

    def test_presigned_url_for_another_region_is_redirected(self):
        self.east.put_object(Bucket=self.bucket, Key="k", Body=b"v")
        with urllib.request.urlopen(self.presigned_get("us-east-1")) as answer:
            self.assertEqual(answer.read(), b"v")
        url = self.presigned_get("us-west-2")
        with self.assertRaises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url)
        self.assertEqual(refused.exception.code, 301)
        self.assertEqual(refused.exception.headers["x-amz-bucket-region"], "us-east-1")
        self.assertIn(b"<Code>PermanentRedirect</Code>", refused.exception.read())

    def test_bucket_outside_us_east_1_is_served_only_in_its_region(self):
        bucket = bucket_name()
        self.west.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
        self.west.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        self.assertEqual(self.west.get_bucket_versioning(Bucket=bucket)["Status"], "Enabled")
        error = self.assertRefused(lambda: self.east.get_bucket_versioning(Bucket=bucket), "PermanentRedirect", 301)
        self.assertEqual(error["Error"]["Endpoint"], "s3.us-west-2.amazonaws.com")
        self.assertEqual(error["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"], "us-west-2")

    def test_get_bucket_location_create_bucket_and_list_buckets_work_from_any_region(self):
        self.assertIsNone(self.west.get_bucket_location(Bucket=self.bucket)["LocationConstraint"])
        bucket = bucket_name()
        self.west.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
        self.assertEqual(self.east.get_bucket_location(Bucket=bucket)["LocationConstraint"], "us-west-2")
        names = {b["Name"] for b in self.west.list_buckets()["Buckets"]}
        self.assertTrue({self.bucket, bucket} <= names)

    def test_a_client_following_the_redirect_reaches_the_bucket(self):
        follower = self.moto.client("s3", self.account, "us-west-2")
        self.assertNotIn("Status", follower.get_bucket_versioning(Bucket=self.bucket))


class ExpectedBucketOwner(BedTest):
    def setUp(self):
        self.owner = fresh_account()
        self.s3 = self.moto.client("s3", self.owner)
        self.bucket = bucket_name()
        self.s3.create_bucket(Bucket=self.bucket)

    def test_another_expected_owner_is_access_denied(self):
        other = fresh_account()
        self.assertRefused(
            lambda: self.s3.get_bucket_versioning(Bucket=self.bucket, ExpectedBucketOwner=other), "AccessDenied", 403
        )
        self.assertRefused(
            lambda: self.s3.get_bucket_location(Bucket=self.bucket, ExpectedBucketOwner=other), "AccessDenied", 403
        )
        self.assertRefused(
            lambda: self.s3.put_object(Bucket=self.bucket, Key="k", Body=b"v", ExpectedBucketOwner=other),
            "AccessDenied",
            403,
        )

    def test_the_actual_owner_passes(self):
        self.s3.put_bucket_versioning(
            Bucket=self.bucket, VersioningConfiguration={"Status": "Enabled"}, ExpectedBucketOwner=self.owner
        )
        self.assertEqual(self.s3.get_bucket_versioning(Bucket=self.bucket, ExpectedBucketOwner=self.owner)["Status"], "Enabled")
        self.s3.put_object(Bucket=self.bucket, Key="k", Body=b"v", ExpectedBucketOwner=self.owner)


class OwnerOnlyOperations(BedTest):
    def setUp(self):
        self.owner = fresh_account()
        self.s3 = self.moto.client("s3", self.owner)
        self.bucket = bucket_name()
        self.s3.create_bucket(Bucket=self.bucket)
        # A policy granting every S3 action to everyone: the owner-only operations stay owner-only.
        self.policy = json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "s3:*",
                        "Resource": [f"arn:aws:s3:::{self.bucket}", f"arn:aws:s3:::{self.bucket}/*"],
                    }
                ],
            }
        )
        self.s3.put_bucket_policy(Bucket=self.bucket, Policy=self.policy)
        self.other = self.moto.client("s3", fresh_account())

    def test_another_account_gets_method_not_allowed(self):
        other, bucket = self.other, self.bucket
        calls = {
            "GetBucketPolicy": lambda: other.get_bucket_policy(Bucket=bucket),
            "PutBucketPolicy": lambda: other.put_bucket_policy(Bucket=bucket, Policy=self.policy),
            "DeleteBucketPolicy": lambda: other.delete_bucket_policy(Bucket=bucket),
            "GetBucketVersioning": lambda: other.get_bucket_versioning(Bucket=bucket),
            "PutBucketVersioning": lambda: other.put_bucket_versioning(
                Bucket=bucket, VersioningConfiguration={"Status": "Enabled"}
            ),
        }
        for name, call in calls.items():
            with self.subTest(name):
                self.assertRefused(call, "MethodNotAllowed", 405)
        self.assertEqual(self.s3.get_bucket_policy(Bucket=bucket)["Policy"], self.policy, "the policy is untouched")
        self.assertNotIn("Status", self.s3.get_bucket_versioning(Bucket=bucket), "versioning is untouched")

    def test_the_owner_still_can(self):
        self.assertEqual(self.s3.get_bucket_policy(Bucket=self.bucket)["Policy"], self.policy)
        self.s3.put_bucket_versioning(Bucket=self.bucket, VersioningConfiguration={"Status": "Enabled"})
        self.assertEqual(self.s3.get_bucket_versioning(Bucket=self.bucket)["Status"], "Enabled")
        self.s3.delete_bucket_policy(Bucket=self.bucket)
        self.assertRefused(lambda: self.s3.get_bucket_policy(Bucket=self.bucket), "NoSuchBucketPolicy", 404)

    def test_other_operations_of_another_account_are_left_to_moto(self):
        self.assertIsNone(self.other.get_bucket_location(Bucket=self.bucket)["LocationConstraint"])


SSE_S3 = [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": False}]


class DefaultEncryption(BedTest):
    def setUp(self):
        self.s3 = self.moto.client("s3", fresh_account())
        self.bucket = bucket_name()
        self.s3.create_bucket(Bucket=self.bucket)

    def rules(self):
        return self.s3.get_bucket_encryption(Bucket=self.bucket)["ServerSideEncryptionConfiguration"]["Rules"]

    def test_a_fresh_bucket_reports_sse_s3(self):
        self.assertEqual(self.rules(), SSE_S3)

    def test_a_configured_bucket_reports_its_configuration_and_delete_resets_to_sse_s3(self):
        key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
        kms = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}
        self.s3.put_bucket_encryption(
            Bucket=self.bucket,
            ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": kms, "BucketKeyEnabled": True}]},
        )
        self.assertEqual(self.rules(), [{"ApplyServerSideEncryptionByDefault": kms, "BucketKeyEnabled": True}])
        self.s3.delete_bucket_encryption(Bucket=self.bucket)
        self.assertEqual(self.rules(), SSE_S3)


def lock(mode, days=None, years=None, enabled="Enabled"):
    """An ObjectLockConfiguration with a default retention (`mode` None: without one)."""
    configuration = {} if enabled is None else {"ObjectLockEnabled": enabled}
    if mode is not None:
        period = {"Days": days} if years is None else {"Years": years}
        configuration["Rule"] = {"DefaultRetention": {"Mode": mode, **period}}
    return configuration


class ObjectLockOnExistingBuckets(BedTest):
    def setUp(self):
        self.s3 = self.moto.client("s3", fresh_account())
        self.bucket = bucket_name()  # versioned, holding an object
        self.s3.create_bucket(Bucket=self.bucket)
        self.s3.put_bucket_versioning(Bucket=self.bucket, VersioningConfiguration={"Status": "Enabled"})
        self.s3.put_object(Bucket=self.bucket, Key="before", Body=b"v")

    def put_lock(self, configuration, bucket=None):
        return self.s3.put_object_lock_configuration(Bucket=bucket or self.bucket, ObjectLockConfiguration=configuration)

    def reported(self, bucket=None):
        return self.s3.get_object_lock_configuration(Bucket=bucket or self.bucket)["ObjectLockConfiguration"]

    def test_a_versioned_bucket_holding_objects_gets_object_lock(self):
        self.assertRefused(self.reported, "ObjectLockConfigurationNotFoundError", 404)
        self.put_lock(lock("GOVERNANCE", days=365))
        self.assertEqual(self.reported(), lock("GOVERNANCE", days=365))
        new = self.s3.put_object(Bucket=self.bucket, Key="after", Body=b"v")
        head = self.s3.head_object(Bucket=self.bucket, Key="after", VersionId=new["VersionId"])
        self.assertEqual(head["ObjectLockMode"], "GOVERNANCE", "objects put afterwards take the default retention")
        self.assertNotIn("ObjectLockMode", self.s3.head_object(Bucket=self.bucket, Key="before"), "existing objects stay as they were")

    def test_an_empty_versioned_bucket_and_a_bucket_created_with_object_lock_still_can(self):
        empty, created = bucket_name(), bucket_name()
        self.s3.create_bucket(Bucket=empty)
        self.s3.put_bucket_versioning(Bucket=empty, VersioningConfiguration={"Status": "Enabled"})
        self.s3.create_bucket(Bucket=created, ObjectLockEnabledForBucket=True)
        for bucket in (empty, created):
            with self.subTest(bucket):
                self.put_lock(lock("COMPLIANCE", years=1), bucket)
                self.assertEqual(self.reported(bucket), lock("COMPLIANCE", years=1))

    def test_a_bucket_without_versioning_enabled_is_refused(self):
        unversioned, suspended = bucket_name(), bucket_name()
        self.s3.create_bucket(Bucket=unversioned)
        self.s3.create_bucket(Bucket=suspended)
        self.s3.put_bucket_versioning(Bucket=suspended, VersioningConfiguration={"Status": "Suspended"})
        for bucket in (unversioned, suspended):
            with self.subTest(bucket):
                error = self.assertRefused(lambda: self.put_lock(lock("GOVERNANCE", days=365), bucket), "InvalidBucketState", 409)
                self.assertEqual(error["Error"]["Message"], "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration")
                self.assertRefused(lambda: self.reported(bucket), "ObjectLockConfigurationNotFoundError", 404)

    def test_object_lock_cannot_be_turned_off(self):
        self.put_lock(lock("GOVERNANCE", days=365))
        for name, configuration in {
            "Disabled": lock("GOVERNANCE", days=1, enabled="Disabled"),
            "empty": lock("GOVERNANCE", days=1, enabled=""),
            "missing": lock("GOVERNANCE", days=1, enabled=None),
            "missing, no rule": {},
        }.items():
            with self.subTest(name):
                self.assertRefused(lambda: self.put_lock(configuration), "MalformedXML", 400)
        error = self.assertRefused(
            lambda: self.s3.put_bucket_versioning(Bucket=self.bucket, VersioningConfiguration={"Status": "Suspended"}),
            "InvalidBucketState",
            409,
        )
        self.assertEqual(
            error["Error"]["Message"], "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed."
        )
        self.assertEqual(self.reported(), lock("GOVERNANCE", days=365), "the configuration is untouched")
        self.assertEqual(self.s3.get_bucket_versioning(Bucket=self.bucket)["Status"], "Enabled")

    def test_the_default_retention_is_a_bucket_setting_the_owner_may_change_either_way(self):
        self.put_lock(lock("GOVERNANCE", days=365))
        # Lengthened and made COMPLIANCE; then shortened and made GOVERNANCE again: the
        # default retention is not an object's retention, which COMPLIANCE would hold.
        for mode, days in (("COMPLIANCE", 400), ("COMPLIANCE", 30), ("GOVERNANCE", 7)):
            with self.subTest(mode=mode, days=days):
                self.put_lock(lock(mode, days=days))
                self.assertEqual(self.reported(), lock(mode, days=days))


if __name__ == "__main__":
    unittest.main()
