"""Tests of hack/bed/rules/cloudtrail_delivery.py: what CloudTrail checks of a trail's bucket
and key, and the settings it refuses together."""

import json
import os
import sys
import unittest
from types import SimpleNamespace
from unittest import mock

from bed import BedTest, fresh_account

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from rules import cloudtrail_delivery, organizations  # noqa: E402

CLOUDTRAIL = {"Service": "cloudtrail.amazonaws.com"}


def trail_arn(account, name, region="us-east-1"):
    return f"arn:aws:cloudtrail:{region}:{account}:trail/{name}"


def bucket_policy(bucket, arn, folders, acl="bucket-owner-full-control"):
    """The statements trailwarden writes (crates/core/src/posture/document.rs): the ACL check
    and writes under each of `folders` ("AWSLogs/<account>", ...), limited to the trail."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AclCheck",
                    "Effect": "Allow",
                    "Principal": CLOUDTRAIL,
                    "Action": "s3:GetBucketAcl",
                    "Resource": f"arn:aws:s3:::{bucket}",
                    "Condition": {"StringEquals": {"aws:SourceArn": arn}},
                },
                {
                    "Sid": "Write",
                    "Effect": "Allow",
                    "Principal": CLOUDTRAIL,
                    "Action": "s3:PutObject",
                    "Resource": [f"arn:aws:s3:::{bucket}/{folder}/*" for folder in folders],
                    "Condition": {"StringEquals": {"s3:x-amz-acl": acl, "aws:SourceArn": arn}},
                },
            ],
        }
    )


def key_policy(key_account, trail_account, arn, context_account=None):
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "Admin",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{key_account}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                },
                {
                    "Sid": "Encrypt",
                    "Effect": "Allow",
                    "Principal": CLOUDTRAIL,
                    "Action": "kms:GenerateDataKey*",
                    "Resource": "*",
                    "Condition": {
                        "StringEquals": {"aws:SourceArn": arn},
                        "StringLike": {
                            "kms:EncryptionContext:aws:cloudtrail:arn": f"arn:aws:cloudtrail:*:{context_account or trail_account}:trail/*"
                        },
                    },
                },
                {"Sid": "Describe", "Effect": "Allow", "Principal": CLOUDTRAIL, "Action": "kms:DescribeKey", "Resource": "*"},
            ],
        }
    )


class DeliveryTest(BedTest):
    def bucket(self, account, region="us-east-1", policy_for=None, prefix=None):
        """A new bucket of `account` in `region`; with `policy_for` (a trail ARN), the bucket
        policy CloudTrail needs for it."""
        s3 = self.moto.client("s3", account, region)
        name = f"logs-{fresh_account()}"
        config = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        s3.create_bucket(Bucket=name, **config)
        if policy_for:
            owner = policy_for.split(":")[4]
            folder = f"{prefix}/AWSLogs/{owner}" if prefix else f"AWSLogs/{owner}"
            s3.put_bucket_policy(Bucket=name, Policy=bucket_policy(name, policy_for, [folder]))
        return name

    def key(self, account, region="us-east-1", policy=None, **kwargs):
        kms = self.moto.client("kms", account, region)
        key = kms.create_key(**({"Policy": policy} if policy else {}), **kwargs)["KeyMetadata"]
        return kms, key["Arn"]

    def trail(self, account, name="audit", region="us-east-1", **kwargs):
        """A trail of `account` on a bucket whose policy lets CloudTrail deliver for it."""
        ct = self.moto.client("cloudtrail", account, region)
        bucket = self.bucket(account, region, policy_for=trail_arn(account, name, region))
        ct.create_trail(Name=name, S3BucketName=bucket, **kwargs)
        return ct, bucket


class BucketPolicyTest(DeliveryTest):
    def test_create_trail_refused_without_bucket_policy(self):
        account = fresh_account()
        ct = self.moto.client("cloudtrail", account)
        bucket = self.bucket(account)
        error = self.assertRefused(lambda: ct.create_trail(Name="audit", S3BucketName=bucket), "InsufficientS3BucketPolicyException", 400)
        self.assertIn(bucket, error["Error"]["Message"])
        self.assertEqual(ct.describe_trails()["trailList"], [])

    def test_create_trail_with_managed_bucket_statements_succeeds(self):
        account = fresh_account()
        ct = self.moto.client("cloudtrail", account)
        bucket = self.bucket(account, policy_for=trail_arn(account, "audit"))
        self.assertEqual(ct.create_trail(Name="audit", S3BucketName=bucket)["S3BucketName"], bucket)

    def test_create_trail_refused_when_policy_names_another_trail(self):
        account = fresh_account()
        ct = self.moto.client("cloudtrail", account)
        bucket = self.bucket(account, policy_for=trail_arn(account, "other"))
        self.assertRefused(lambda: ct.create_trail(Name="audit", S3BucketName=bucket), "InsufficientS3BucketPolicyException", 400)
        ct.create_trail(Name="other", S3BucketName=bucket)

    def test_prefix_must_be_in_the_granted_path(self):
        account = fresh_account()
        ct = self.moto.client("cloudtrail", account)
        bucket = self.bucket(account, policy_for=trail_arn(account, "audit"))
        create = lambda: ct.create_trail(Name="audit", S3BucketName=bucket, S3KeyPrefix="audit")  # noqa: E731
        self.assertRefused(create, "InsufficientS3BucketPolicyException", 400)
        prefixed = self.bucket(account, policy_for=trail_arn(account, "audit"), prefix="audit")
        self.assertEqual(ct.create_trail(Name="audit", S3BucketName=prefixed, S3KeyPrefix="audit")["S3KeyPrefix"], "audit")

    def test_put_object_must_require_bucket_owner_full_control(self):
        account = fresh_account()
        ct, s3 = self.moto.client("cloudtrail", account), self.moto.client("s3", account)
        bucket = self.bucket(account)
        arn = trail_arn(account, "audit")
        s3.put_bucket_policy(Bucket=bucket, Policy=bucket_policy(bucket, arn, [f"AWSLogs/{account}"], acl="private"))
        self.assertRefused(lambda: ct.create_trail(Name="audit", S3BucketName=bucket), "InsufficientS3BucketPolicyException", 400)
        s3.put_bucket_policy(Bucket=bucket, Policy=bucket_policy(bucket, arn, [f"AWSLogs/{account}"]))
        ct.create_trail(Name="audit", S3BucketName=bucket)

    def test_deny_statement_refuses_and_secure_transport_deny_does_not(self):
        account = fresh_account()
        ct, s3 = self.moto.client("cloudtrail", account), self.moto.client("s3", account)
        bucket = self.bucket(account)
        granted = json.loads(bucket_policy(bucket, trail_arn(account, "audit"), [f"AWSLogs/{account}"]))
        deny = {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}
        only_org = dict(deny, Condition={"StringNotEquals": {"aws:PrincipalOrgID": "o-abcdefghij"}})
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(dict(granted, Statement=granted["Statement"] + [only_org])))
        self.assertRefused(lambda: ct.create_trail(Name="audit", S3BucketName=bucket), "InsufficientS3BucketPolicyException", 400)
        insecure = dict(deny, Condition={"Bool": {"aws:SecureTransport": "false"}})
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(dict(granted, Statement=granted["Statement"] + [insecure])))
        ct.create_trail(Name="audit", S3BucketName=bucket)

    def test_bucket_of_another_account(self):
        account, archive = fresh_account(), fresh_account()
        ct = self.moto.client("cloudtrail", account)
        bucket = self.bucket(archive)
        self.assertRefused(lambda: ct.create_trail(Name="audit", S3BucketName=bucket), "InsufficientS3BucketPolicyException", 400)
        granted = self.bucket(archive, policy_for=trail_arn(account, "audit"))
        self.assertEqual(ct.create_trail(Name="audit", S3BucketName=granted)["S3BucketName"], granted)

    def test_missing_bucket(self):
        account = fresh_account()
        ct = self.moto.client("cloudtrail", account)
        self.assertRefused(lambda: ct.create_trail(Name="audit", S3BucketName=f"nobody-{account}"), "S3BucketDoesNotExistException", 400)
        ct.create_trail(Name="audit", S3BucketName=self.bucket(account, policy_for=trail_arn(account, "audit")))

    def test_update_trail_checks_the_new_bucket(self):
        account = fresh_account()
        ct, bucket = self.trail(account)
        other = self.bucket(account)
        self.assertRefused(lambda: ct.update_trail(Name="audit", S3BucketName=other), "InsufficientS3BucketPolicyException", 400)
        self.assertEqual(ct.get_trail(Name="audit")["Trail"]["S3BucketName"], bucket)
        granted = self.bucket(account, policy_for=trail_arn(account, "audit"))
        self.assertEqual(ct.update_trail(Name="audit", S3BucketName=granted)["S3BucketName"], granted)

    def test_update_trail_rechecks_the_current_bucket(self):
        account = fresh_account()
        ct, bucket = self.trail(account)
        ct.update_trail(Name="audit", EnableLogFileValidation=True)
        self.moto.client("s3", account).delete_bucket_policy(Bucket=bucket)
        update = lambda: ct.update_trail(Name="audit", EnableLogFileValidation=False)  # noqa: E731
        self.assertRefused(update, "InsufficientS3BucketPolicyException", 400)

    def test_put_insight_selectors_checks_the_bucket(self):
        account = fresh_account()
        ct, bucket = self.trail(account)
        insights = [{"InsightType": "ApiCallRateInsight"}]
        ct.put_insight_selectors(TrailName="audit", InsightSelectors=insights)
        self.moto.client("s3", account).delete_bucket_policy(Bucket=bucket)
        put = lambda: ct.put_insight_selectors(TrailName="audit", InsightSelectors=insights)  # noqa: E731
        self.assertRefused(put, "InsufficientS3BucketPolicyException", 400)
        ct.put_insight_selectors(TrailName="audit", InsightSelectors=[])  # turning Insights off delivers nothing


class OrganizationTrailTest(DeliveryTest):
    def test_organization_trail_needs_the_organization_path(self):
        management = fresh_account()
        orgs = self.moto.client("organizations", management)
        org = orgs.create_organization(FeatureSet="ALL")["Organization"]["Id"]
        orgs.enable_aws_service_access(ServicePrincipal="cloudtrail.amazonaws.com")
        ct, s3 = self.moto.client("cloudtrail", management), self.moto.client("s3", management)
        arn = trail_arn(management, "org")
        bucket = self.bucket(management)
        create = lambda: ct.create_trail(Name="org", S3BucketName=bucket, IsOrganizationTrail=True, IsMultiRegionTrail=True)  # noqa: E731
        s3.put_bucket_policy(Bucket=bucket, Policy=bucket_policy(bucket, arn, [f"AWSLogs/{management}"]))
        self.assertRefused(create, "InsufficientS3BucketPolicyException", 400)
        s3.put_bucket_policy(Bucket=bucket, Policy=bucket_policy(bucket, arn, [f"AWSLogs/{org}"]))
        self.assertTrue(create()["IsOrganizationTrail"])


class OrganizationPathUnitTest(unittest.TestCase):
    """check_bucket_policy in process, for an organization trail made by a delegated
    administrator (rules/organizations.py answers are stubbed)."""

    def check(self, folders, source_arn):
        settings = cloudtrail_delivery.Settings("222222222222", "us-east-1", "org", "b", "audit", None, True, True, True)
        bucket = SimpleNamespace(name="b", region_name="us-east-1", policy=bucket_policy("b", source_arn, folders).encode())
        with mock.patch.object(organizations, "trail_owner", return_value="111111111111"), mock.patch.object(
            organizations, "organization_id", return_value="o-abcdefghij"
        ):
            cloudtrail_delivery.check_bucket_policy(settings, bucket)

    def test_refused_for_the_account_path_or_the_delegated_admins_arn(self):
        from moto.core.exceptions import JsonRESTError

        management_arn = trail_arn("111111111111", "org")
        with self.assertRaises(JsonRESTError):
            self.check(["audit/AWSLogs/111111111111"], management_arn)
        with self.assertRaises(JsonRESTError):
            self.check(["audit/AWSLogs/o-abcdefghij"], trail_arn("222222222222", "org"))

    def test_allowed_for_the_organization_path_and_the_management_accounts_arn(self):
        self.check(["audit/AWSLogs/o-abcdefghij"], trail_arn("111111111111", "org"))
        self.check(["audit/AWSLogs/111111111111", "audit/AWSLogs/o-*"], trail_arn("111111111111", "org"))


class KmsKeyTest(DeliveryTest):
    def test_unknown_key(self):
        account = fresh_account()
        ct = self.moto.client("cloudtrail", account)
        bucket = self.bucket(account, policy_for=trail_arn(account, "audit"))
        create = lambda key: lambda: ct.create_trail(Name="audit", S3BucketName=bucket, KmsKeyId=key)  # noqa: E731
        self.assertRefused(create("alias/nothing"), "KmsKeyNotFoundException", 400)
        self.assertRefused(create("1234abcd-12ab-34cd-56ef-1234567890ab"), "KmsKeyNotFoundException", 400)
        kms, key = self.key(account, policy=key_policy(account, account, trail_arn(account, "audit")))
        kms.create_alias(AliasName="alias/trail", TargetKeyId=key)
        self.assertEqual(ct.create_trail(Name="audit", S3BucketName=bucket, KmsKeyId="alias/trail")["KmsKeyId"], "alias/trail")

    def test_alias_resolves_only_in_the_trails_account(self):
        account, other = fresh_account(), fresh_account()
        ct = self.moto.client("cloudtrail", account)
        bucket = self.bucket(account, policy_for=trail_arn(account, "audit"))
        kms, key = self.key(other, policy=key_policy(other, account, trail_arn(account, "audit")))
        kms.create_alias(AliasName="alias/shared", TargetKeyId=key)
        create = lambda key: ct.create_trail(Name="audit", S3BucketName=bucket, KmsKeyId=key)  # noqa: E731
        self.assertRefused(lambda: create("alias/shared"), "KmsKeyNotFoundException", 400)
        self.assertEqual(create(key)["KmsKeyId"], key)  # another account's key, by ARN

    def test_key_must_be_in_the_buckets_region(self):
        account = fresh_account()
        ct = self.moto.client("cloudtrail", account)
        bucket = self.bucket(account, policy_for=trail_arn(account, "audit"))
        policy = key_policy(account, account, trail_arn(account, "audit"))
        _, elsewhere = self.key(account, "eu-west-1", policy)
        create = lambda key: lambda: ct.create_trail(Name="audit", S3BucketName=bucket, KmsKeyId=key)  # noqa: E731
        self.assertRefused(create(elsewhere), "KmsKeyNotFoundException", 400)
        _, here = self.key(account, "us-east-1", policy)
        create(here)()

    def test_disabled_key(self):
        account = fresh_account()
        ct = self.moto.client("cloudtrail", account)
        bucket = self.bucket(account, policy_for=trail_arn(account, "audit"))
        kms, key = self.key(account, policy=key_policy(account, account, trail_arn(account, "audit")))
        kms.disable_key(KeyId=key.split("/")[-1])  # moto 5.2.5's DisableKey takes no ARN (AWS does)
        create = lambda: ct.create_trail(Name="audit", S3BucketName=bucket, KmsKeyId=key)  # noqa: E731
        self.assertRefused(create, "KmsException", 400)
        kms.enable_key(KeyId=key.split("/")[-1])
        create()

    def test_asymmetric_key(self):
        account = fresh_account()
        ct = self.moto.client("cloudtrail", account)
        bucket = self.bucket(account, policy_for=trail_arn(account, "audit"))
        policy = key_policy(account, account, trail_arn(account, "audit"))
        _, rsa = self.key(account, policy=policy, KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")
        create = lambda key: lambda: ct.create_trail(Name="audit", S3BucketName=bucket, KmsKeyId=key)  # noqa: E731
        self.assertRefused(create(rsa), "KmsException", 400)
        _, symmetric = self.key(account, policy=policy)
        create(symmetric)()

    def test_key_policy_must_let_cloudtrail_encrypt_for_the_trail(self):
        account = fresh_account()
        ct = self.moto.client("cloudtrail", account)
        bucket = self.bucket(account, policy_for=trail_arn(account, "audit"))
        create = lambda key: lambda: ct.create_trail(Name="audit", S3BucketName=bucket, KmsKeyId=key)  # noqa: E731
        _, default = self.key(account)
        self.assertRefused(create(default), "InsufficientEncryptionPolicyException", 400)
        _, other_trail = self.key(account, policy=key_policy(account, account, trail_arn(account, "other")))
        self.assertRefused(create(other_trail), "InsufficientEncryptionPolicyException", 400)
        _, other_context = self.key(account, policy=key_policy(account, account, trail_arn(account, "audit"), "999999999999"))
        self.assertRefused(create(other_context), "InsufficientEncryptionPolicyException", 400)
        _, good = self.key(account, policy=key_policy(account, account, trail_arn(account, "audit")))
        self.assertEqual(create(good)()["KmsKeyId"], good)

    def test_update_trail_checks_the_key(self):
        account = fresh_account()
        ct, _ = self.trail(account)
        _, default = self.key(account)
        self.assertRefused(lambda: ct.update_trail(Name="audit", KmsKeyId=default), "InsufficientEncryptionPolicyException", 400)
        self.assertNotIn("KmsKeyId", {k: v for k, v in ct.get_trail(Name="audit")["Trail"].items() if v})
        _, good = self.key(account, policy=key_policy(account, account, trail_arn(account, "audit")))
        self.assertEqual(ct.update_trail(Name="audit", KmsKeyId=good)["KmsKeyId"], good)


class SettingsTest(DeliveryTest):
    def test_multi_region_trail_must_include_global_events_on_create(self):
        account = fresh_account()
        ct = self.moto.client("cloudtrail", account)
        bucket = self.bucket(account, policy_for=trail_arn(account, "audit"))
        create = lambda global_events: ct.create_trail(  # noqa: E731
            Name="audit", S3BucketName=bucket, IsMultiRegionTrail=True, IncludeGlobalServiceEvents=global_events
        )
        self.assertRefused(lambda: create(False), "InvalidParameterCombinationException", 400)
        self.assertTrue(create(True)["IsMultiRegionTrail"])

    def test_multi_region_trail_must_include_global_events_on_update(self):
        account = fresh_account()
        ct, _ = self.trail(account, IsMultiRegionTrail=True)
        update = lambda **kw: ct.update_trail(Name="audit", **kw)  # noqa: E731
        self.assertRefused(lambda: update(IncludeGlobalServiceEvents=False), "InvalidParameterCombinationException", 400)
        update(IsMultiRegionTrail=False, IncludeGlobalServiceEvents=False)
        self.assertRefused(lambda: update(IsMultiRegionTrail=True), "InvalidParameterCombinationException", 400)
        self.assertTrue(update(IsMultiRegionTrail=True, IncludeGlobalServiceEvents=True)["IsMultiRegionTrail"])

    def test_api_call_rate_insight_needs_write_management_events(self):
        account = fresh_account()
        ct, _ = self.trail(account)
        put = lambda kind: ct.put_insight_selectors(TrailName="audit", InsightSelectors=[{"InsightType": kind}])  # noqa: E731
        ct.put_event_selectors(TrailName="audit", EventSelectors=[{"ReadWriteType": "ReadOnly", "IncludeManagementEvents": True}])
        self.assertRefused(lambda: put("ApiCallRateInsight"), "InvalidInsightSelectorsException", 400)
        put("ApiErrorRateInsight")
        ct.put_event_selectors(TrailName="audit", EventSelectors=[{"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True}])
        put("ApiCallRateInsight")

    def test_api_call_rate_insight_with_advanced_selectors(self):
        account = fresh_account()
        ct, _ = self.trail(account)
        put = lambda: ct.put_insight_selectors(TrailName="audit", InsightSelectors=[{"InsightType": "ApiCallRateInsight"}])  # noqa: E731
        management = {"Field": "eventCategory", "Equals": ["Management"]}
        read_only = {"Field": "readOnly", "Equals": ["true"]}
        ct.put_event_selectors(TrailName="audit", AdvancedEventSelectors=[{"FieldSelectors": [management, read_only]}])
        self.assertRefused(put, "InvalidInsightSelectorsException", 400)
        ct.put_event_selectors(TrailName="audit", AdvancedEventSelectors=[{"FieldSelectors": [management]}])
        put()

    def test_insights_on_management_events_need_management_events(self):
        account = fresh_account()
        ct, _ = self.trail(account)
        ct.put_event_selectors(
            TrailName="audit",
            EventSelectors=[{"IncludeManagementEvents": False, "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3"]}]}],
        )
        put = lambda categories: ct.put_insight_selectors(  # noqa: E731
            TrailName="audit", InsightSelectors=[{"InsightType": "ApiErrorRateInsight", "EventCategories": categories}]
        )
        self.assertRefused(lambda: put(["Management"]), "InvalidInsightSelectorsException", 400)
        put(["Data"])

    def test_put_event_selectors_dropping_insight_events_is_not_refused(self):
        account = fresh_account()
        ct, _ = self.trail(account)
        ct.put_insight_selectors(TrailName="audit", InsightSelectors=[{"InsightType": "ApiCallRateInsight"}])
        ct.put_event_selectors(TrailName="audit", EventSelectors=[{"ReadWriteType": "ReadOnly", "IncludeManagementEvents": True}])


if __name__ == "__main__":
    unittest.main()
