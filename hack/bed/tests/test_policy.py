"""Unit tests of hack/bed/rules/policy.py, the bed's resource-policy evaluator (no server)."""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from rules.policy import ALLOWED, DENIED, NOT_GRANTED, evaluate, evaluate_attached  # noqa: E402

CLOUDTRAIL = ("Service", "cloudtrail.amazonaws.com")
ACCOUNT = "111122223333"
TRAIL = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/audit"
BUCKET = "arn:aws:s3:::logs"
OBJECT = f"arn:aws:s3:::logs/AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/x.json.gz"
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
PUT_CONTEXT = {
    "aws:SourceArn": TRAIL,
    "aws:SourceAccount": ACCOUNT,
    "aws:SourceOrgID": None,
    "aws:SecureTransport": "true",
    "s3:x-amz-acl": "bucket-owner-full-control",
}


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(**fields):
    return {"Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"}, **fields}


def deny(**fields):
    return {"Effect": "Deny", "Principal": "*", **fields}


def put(document, context=PUT_CONTEXT, resource=OBJECT, principal=CLOUDTRAIL):
    return evaluate(document, principal, "s3:PutObject", resource, context)


# What trailwarden writes with posture.bucket.manage / posture.key.manage
# (crates/core/src/posture/document.rs: bucket_statements, key_statements).
MANAGED_BUCKET = doc(
    allow(Sid="TrailwardenAclCheck", Action="s3:GetBucketAcl", Resource=BUCKET, Condition={"StringEquals": {"aws:SourceArn": TRAIL}}),
    allow(
        Sid="TrailwardenWrite",
        Action="s3:PutObject",
        Resource=f"{BUCKET}/AWSLogs/{ACCOUNT}/*",
        Condition={"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", "aws:SourceArn": TRAIL}},
    ),
)
MANAGED_KEY = doc(
    allow(
        Sid="TrailwardenEncrypt",
        Action="kms:GenerateDataKey*",
        Resource="*",
        Condition={
            "StringEquals": {"aws:SourceArn": TRAIL},
            "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": f"arn:aws:cloudtrail:*:{ACCOUNT}:trail/*"},
        },
    ),
    allow(Sid="TrailwardenDescribe", Action="kms:DescribeKey", Resource="*"),
)


class ManagedStatementsTest(unittest.TestCase):
    def test_managed_bucket_statements_allow_cloudtrail(self):
        acl_context = dict(PUT_CONTEXT, **{"s3:x-amz-acl": None})
        self.assertEqual(evaluate(MANAGED_BUCKET, CLOUDTRAIL, "s3:GetBucketAcl", BUCKET, acl_context), ALLOWED)
        self.assertEqual(put(MANAGED_BUCKET), ALLOWED)

    def test_managed_bucket_statements_do_not_allow_another_trail(self):
        other = dict(PUT_CONTEXT, **{"aws:SourceArn": TRAIL + "2"})
        self.assertEqual(put(MANAGED_BUCKET, other), NOT_GRANTED)

    def test_managed_key_statements_allow_cloudtrail(self):
        context = dict(PUT_CONTEXT, **{"kms:EncryptionContext:aws:cloudtrail:arn": TRAIL})
        self.assertEqual(evaluate(MANAGED_KEY, CLOUDTRAIL, "kms:GenerateDataKey", KEY, context), ALLOWED)
        self.assertEqual(evaluate(MANAGED_KEY, CLOUDTRAIL, "kms:DescribeKey", KEY, context), ALLOWED)

    def test_managed_key_statements_do_not_allow_another_accounts_context(self):
        context = dict(PUT_CONTEXT, **{"kms:EncryptionContext:aws:cloudtrail:arn": TRAIL.replace(ACCOUNT, "999999999999")})
        self.assertEqual(evaluate(MANAGED_KEY, CLOUDTRAIL, "kms:GenerateDataKey", KEY, context), NOT_GRANTED)


class ElementsTest(unittest.TestCase):
    def test_no_policy_grants_nothing(self):
        self.assertEqual(put(None), NOT_GRANTED)
        self.assertEqual(put("not json"), NOT_GRANTED)

    def test_principals(self):
        statement = {"Action": "s3:PutObject", "Resource": "*"}
        self.assertEqual(put(doc({"Effect": "Allow", "Principal": "*", **statement})), ALLOWED)
        self.assertEqual(put(doc({"Effect": "Allow", "Principal": {"AWS": "*"}, **statement})), ALLOWED)
        self.assertEqual(put(doc({"Effect": "Allow", "Principal": {"Service": ["config.amazonaws.com"]}, **statement})), NOT_GRANTED)
        self.assertEqual(put(doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, **statement})), NOT_GRANTED)
        account_root = doc({"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, **statement})
        self.assertEqual(put(account_root, principal=("AWS", f"arn:aws:iam::{ACCOUNT}:role/admin")), ALLOWED)
        self.assertEqual(put(account_root, principal=("AWS", "arn:aws:iam::999999999999:role/admin")), NOT_GRANTED)
        not_principal = doc({"Effect": "Deny", "NotPrincipal": {"AWS": ACCOUNT}, **statement}, allow(**statement))
        self.assertEqual(put(not_principal), DENIED)

    def test_action_wildcards_and_not_action(self):
        self.assertEqual(put(doc(allow(Action="s3:Put*", Resource="*"))), ALLOWED)
        self.assertEqual(put(doc(allow(Action="S3:PUTOBJECT", Resource="*"))), ALLOWED)
        self.assertEqual(put(doc(allow(Action="s3:Get?ucketAcl", Resource="*"))), NOT_GRANTED)
        self.assertEqual(put(doc(allow(NotAction="s3:Delete*", Resource="*"))), ALLOWED)
        self.assertEqual(put(doc(allow(NotAction=["s3:PutObject"], Resource="*"))), NOT_GRANTED)

    def test_resource_wildcards_and_not_resource(self):
        self.assertEqual(put(doc(allow(Action="s3:PutObject", Resource=f"{BUCKET}/AWSLogs/*"))), ALLOWED)
        self.assertEqual(put(doc(allow(Action="s3:PutObject", Resource=f"{BUCKET}/audit/AWSLogs/*"))), NOT_GRANTED)
        self.assertEqual(put(doc(allow(Action="s3:PutObject", Resource=f"{BUCKET}/awslogs/*"))), NOT_GRANTED)
        self.assertEqual(put(doc(allow(Action="s3:PutObject", NotResource=f"{BUCKET}/private/*"))), ALLOWED)
        self.assertEqual(put(doc(allow(Action="s3:PutObject"))), NOT_GRANTED)  # no Resource element

    def test_explicit_deny_wins(self):
        granted = allow(Action="s3:PutObject", Resource="*")
        self.assertEqual(put(doc(granted, deny(Action="s3:*", Resource=f"{BUCKET}/*"))), DENIED)
        self.assertEqual(put(doc(granted, deny(Action="s3:DeleteObject", Resource="*"))), ALLOWED)


class ConditionsTest(unittest.TestCase):
    def allowed_if(self, condition, context=PUT_CONTEXT):
        return put(doc(allow(Action="s3:PutObject", Resource="*", Condition=condition)), context)

    def test_string_operators(self):
        self.assertEqual(self.allowed_if({"StringEquals": {"aws:SourceAccount": ACCOUNT}}), ALLOWED)
        self.assertEqual(self.allowed_if({"StringEquals": {"aws:SourceAccount": ["1", ACCOUNT]}}), ALLOWED)
        self.assertEqual(self.allowed_if({"StringEquals": {"aws:sourceaccount": "1"}}), NOT_GRANTED)
        self.assertEqual(self.allowed_if({"StringNotEquals": {"aws:SourceAccount": ["1", "2"]}}), ALLOWED)
        self.assertEqual(self.allowed_if({"StringNotEquals": {"aws:SourceAccount": ["1", ACCOUNT]}}), NOT_GRANTED)
        self.assertEqual(self.allowed_if({"StringLike": {"aws:SourceArn": "arn:aws:cloudtrail:*:*:trail/*"}}), ALLOWED)
        self.assertEqual(self.allowed_if({"StringLike": {"aws:SourceArn": "arn:aws:cloudtrail:*:1:trail/*"}}), NOT_GRANTED)
        self.assertEqual(self.allowed_if({"StringNotLike": {"aws:SourceArn": "*:trail/other*"}}), ALLOWED)

    def test_arn_operators(self):
        self.assertEqual(self.allowed_if({"ArnEquals": {"aws:SourceArn": TRAIL}}), ALLOWED)
        self.assertEqual(self.allowed_if({"ArnLike": {"aws:SourceArn": f"arn:aws:cloudtrail:*:{ACCOUNT}:trail/*"}}), ALLOWED)
        self.assertEqual(self.allowed_if({"ArnLike": {"aws:SourceArn": "arn:aws:cloudtrail:*:1:trail/*"}}), NOT_GRANTED)
        self.assertEqual(self.allowed_if({"ArnNotEquals": {"aws:SourceArn": TRAIL}}), NOT_GRANTED)
        self.assertEqual(self.allowed_if({"ArnNotLike": {"aws:SourceArn": "arn:aws:cloudtrail:*:1:trail/*"}}), ALLOWED)

    def test_keys_and_operators_must_all_match(self):
        both = {"StringEquals": {"aws:SourceAccount": ACCOUNT, "s3:x-amz-acl": "private"}}
        self.assertEqual(self.allowed_if(both), NOT_GRANTED)
        operators = {"StringEquals": {"aws:SourceAccount": ACCOUNT}, "ArnLike": {"aws:SourceArn": "arn:aws:s3:::*"}}
        self.assertEqual(self.allowed_if(operators), NOT_GRANTED)

    def test_missing_key(self):
        absent = dict(PUT_CONTEXT, **{"s3:x-amz-acl": None})
        self.assertEqual(self.allowed_if({"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}}, absent), NOT_GRANTED)
        self.assertEqual(self.allowed_if({"StringEqualsIfExists": {"s3:x-amz-acl": "private"}}, absent), ALLOWED)
        self.assertEqual(self.allowed_if({"StringEqualsIfExists": {"s3:x-amz-acl": "private"}}), NOT_GRANTED)
        self.assertEqual(self.allowed_if({"StringNotEquals": {"s3:x-amz-acl": "private"}}, absent), ALLOWED)
        self.assertEqual(self.allowed_if({"Null": {"aws:SourceOrgID": "true"}}), ALLOWED)
        self.assertEqual(self.allowed_if({"Null": {"aws:SourceArn": "true"}}), NOT_GRANTED)

    def test_bool(self):
        self.assertEqual(self.allowed_if({"Bool": {"aws:SecureTransport": "true"}}), ALLOWED)
        insecure = deny(Action="s3:*", Resource="*", Condition={"Bool": {"aws:SecureTransport": False}})
        self.assertEqual(put(doc(allow(Action="s3:PutObject", Resource="*"), insecure)), ALLOWED)

    def test_unknown_operator_or_key_never_helps(self):
        unknown = [
            {"NumericLessThan": {"s3:max-keys": "10"}},
            {"ForAnyValue:StringEquals": {"aws:SourceAccount": ACCOUNT}},
            {"StringEquals": {"aws:PrincipalOrgID": "o-abc"}},
            {"StringEquals": {"aws:SourceAccount": "${aws:PrincipalAccount}"}},
        ]
        granted = allow(Action="s3:PutObject", Resource="*")
        for condition in unknown:
            with self.subTest(condition=condition):
                self.assertEqual(self.allowed_if(condition), NOT_GRANTED)
                self.assertEqual(put(doc(granted, deny(Action="s3:PutObject", Resource="*", Condition=condition))), DENIED)


class AttachedPoliciesTest(unittest.TestCase):
    """evaluate_attached: service control policies (and identity-based policies) name no
    principal; the principal is in the condition context."""

    MEMBER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/trailwarden-member"
    KEEP = doc(
        {
            "Effect": "Deny",
            "Action": ["cloudtrail:StopLogging", "cloudtrail:DeleteTrail"],
            "Resource": "arn:aws:cloudtrail:*:*:trail/audit",
            "Condition": {
                "ArnNotLike": {
                    "aws:PrincipalArn": ["arn:aws:iam::*:role/trailwarden-member", "arn:aws:iam::999999999999:role/break-glass"]
                },
                "StringNotEquals": {"aws:PrincipalAccount": ["444455556666", "777788889999"]},
            },
        }
    )

    def keep(self, principal_arn, account=ACCOUNT, action="cloudtrail:StopLogging", resource=TRAIL):
        context = {"aws:PrincipalArn": principal_arn, "aws:PrincipalAccount": account}
        return evaluate_attached(self.KEEP, action, resource, context)

    def test_full_aws_access_allows_everything(self):
        full = doc({"Effect": "Allow", "Action": "*", "Resource": "*"})
        self.assertEqual(evaluate_attached(full, "kms:DisableKey", KEY, {}), ALLOWED)

    def test_arn_not_like_with_wildcards_exempts_the_listed_roles(self):
        self.assertEqual(self.keep(f"arn:aws:iam::{ACCOUNT}:role/attacker"), DENIED)
        self.assertEqual(self.keep(f"arn:aws:iam::{ACCOUNT}:root"), DENIED)
        self.assertEqual(self.keep(self.MEMBER_ROLE), NOT_GRANTED)
        self.assertEqual(self.keep("arn:aws:iam::999999999999:role/break-glass", "999999999999"), NOT_GRANTED)
        self.assertEqual(self.keep(f"arn:aws:iam::{ACCOUNT}:role/break-glass"), DENIED)

    def test_string_not_equals_on_a_list_exempts_every_listed_account(self):
        for account in ("444455556666", "777788889999"):
            self.assertEqual(self.keep(f"arn:aws:iam::{account}:role/attacker", account), NOT_GRANTED)

    def test_the_deny_reaches_only_its_actions_and_trail(self):
        attacker = f"arn:aws:iam::{ACCOUNT}:role/attacker"
        self.assertEqual(self.keep(attacker, action="cloudtrail:StartLogging"), NOT_GRANTED)
        self.assertEqual(self.keep(attacker, resource=TRAIL + "2"), NOT_GRANTED)
        self.assertEqual(self.keep(attacker, resource=TRAIL.replace("us-east-1", "eu-west-1")), DENIED)

    def test_an_unknown_principal_never_escapes_a_deny(self):
        self.assertEqual(evaluate_attached(self.KEEP, "cloudtrail:StopLogging", TRAIL, {}), DENIED)
        member_only = {"ArnLike": {"aws:PrincipalArn": self.MEMBER_ROLE}}
        allow_member = doc({"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": member_only})
        self.assertEqual(evaluate_attached(allow_member, "cloudtrail:StopLogging", TRAIL, {}), NOT_GRANTED)

    def test_a_statement_naming_a_principal_is_not_read(self):
        named = {"Principal": "*", "Action": "*", "Resource": "*"}
        self.assertEqual(evaluate_attached(doc({"Effect": "Allow", **named}), "s3:PutObject", OBJECT, {}), NOT_GRANTED)
        self.assertEqual(evaluate_attached(doc({"Effect": "Deny", **named}), "s3:PutObject", OBJECT, {}), DENIED)


if __name__ == "__main__":
    unittest.main()
