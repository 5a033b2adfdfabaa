"""Service control policies (hack/bed/rules/organizations_scp.py, and the S3 rule asking it in
hack/bed/rules/s3.py): what the Organizations API refuses about SCPs, and what SCPs refuse a
member account's principals, reached as the e2e suite reaches them (STS AssumeRole)."""

import json
import urllib.error
import urllib.request
import uuid

import boto3
import botocore.config
from bed import BedTest, fresh_account
from test_cloudtrail import delivery_bucket

SCP = "SERVICE_CONTROL_POLICY"
FULL_AWS_ACCESS = "p-FullAWSAccess"
TRAIL_ACTIONS = ["StopLogging", "DeleteTrail", "UpdateTrail", "PutEventSelectors", "PutInsightSelectors"]
BUCKET_ACTIONS = [
    "PutLifecycleConfiguration",
    "PutBucketPolicy",
    "DeleteBucketPolicy",
    "PutBucketVersioning",
    "PutEncryptionConfiguration",
    "PutBucketObjectLockConfiguration",
    "DeleteBucket",
]
KEY_ACTIONS = ["DisableKey", "ScheduleKeyDeletion", "PutKeyPolicy", "DisableKeyRotation"]


def keeps(trail, bucket, key_arn, excluded=()):
    """The SCP trailwarden writes for a TrailPolicySet: trail, bucket and key kept from
    everyone but its member role and a break-glass role (and the excluded accounts)."""
    condition = {
        "ArnNotLike": {
            "aws:PrincipalArn": ["arn:aws:iam::*:role/trailwarden-member", "arn:aws:iam::111122223333:role/break-glass"]
        }
    }
    if excluded:
        condition["StringNotEquals"] = {"aws:PrincipalAccount": list(excluded)}

    def keep(sid, service, actions, resource):
        actions = [f"{service}:{a}" for a in actions]
        return {"Sid": sid, "Effect": "Deny", "Action": actions, "Resource": resource, "Condition": condition}

    return {
        "Version": "2012-10-17",
        "Statement": [
            keep("TrailwardenKeepsTheTrail", "cloudtrail", TRAIL_ACTIONS, f"arn:aws:cloudtrail:*:*:trail/{trail}"),
            keep("TrailwardenKeepsTheBucket", "s3", BUCKET_ACTIONS, f"arn:aws:s3:::{bucket}"),
            keep("TrailwardenKeepsTheKey", "kms", KEY_ACTIONS, key_arn),
        ],
    }


DENY_S3 = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "s3:*", "Resource": "*"}]}


class Organization:
    """An organization of the emulator: its root, an OU "guarded" holding a member account,
    and (when asked) the SCP policy type enabled."""

    def __init__(self, moto, enable=True):
        self.moto = moto
        self.management = fresh_account()
        self.orgs = moto.client("organizations", self.management)
        self.orgs.create_organization(FeatureSet="ALL")
        self.root = self.orgs.list_roots()["Roots"][0]["Id"]
        self.ou = self.orgs.create_organizational_unit(ParentId=self.root, Name="guarded")["OrganizationalUnit"]["Id"]
        self.member = self.account("member", self.ou)
        if enable:
            self.orgs.enable_policy_type(RootId=self.root, PolicyType=SCP)

    def account(self, name, parent=None):
        created = self.orgs.create_account(AccountName=name, Email=f"{name}@example.com")
        account = created["CreateAccountStatus"]["AccountId"]
        if parent is not None:
            self.orgs.move_account(AccountId=account, SourceParentId=self.root, DestinationParentId=parent)
        return account

    def policy(self, document=DENY_S3):
        content = document if isinstance(document, str) else json.dumps(document)
        created = self.orgs.create_policy(Name=f"scp-{uuid.uuid4().hex[:12]}", Description="", Type=SCP, Content=content)
        return created["Policy"]["PolicySummary"]["Id"]

    def scps_on(self, target):
        return {p["Id"] for p in self.orgs.list_policies_for_target(TargetId=target, Filter=SCP)["Policies"]}

    def as_role(self, account, role, service, region="us-east-1"):
        """A client of `service` signing with an AssumeRole session of role/`role` in
        `account`: moto serves it in that account and the bed knows its role."""
        arn = f"arn:aws:iam::{account}:role/{role}"
        creds = self.moto.client("sts", account).assume_role(RoleArn=arn, RoleSessionName="bed")["Credentials"]
        return boto3.client(
            service,
            region_name=region,
            endpoint_url=self.moto.url,
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
            config=botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"}, s3={"addressing_style": "path"}),
        )


def raw_call(moto, account, operation, body):
    """One Organizations call over plain HTTP: (status, the JSON error body as sent)."""
    request = urllib.request.Request(
        f"{moto.url}/",
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "x-moto-account-id": account,
            "X-Amz-Target": f"AWSOrganizationsV20161128.{operation}",
            "Content-Type": "application/x-amz-json-1.1",
            "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/organizations/aws4_request",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as refused:
        return refused.code, json.load(refused)


class OrganizationsRefusals(BedTest):
    """Part 1: what AttachPolicy, DetachPolicy, CreatePolicy, UpdatePolicy refuse."""

    def test_attach_needs_the_policy_type_enabled_in_the_root(self):
        org = Organization(self.moto, enable=False)
        policy = org.policy()
        self.assertRefused(lambda: org.orgs.attach_policy(PolicyId=policy, TargetId=org.ou), "PolicyTypeNotEnabledException", 400)
        org.orgs.enable_policy_type(RootId=org.root, PolicyType=SCP)
        org.orgs.attach_policy(PolicyId=policy, TargetId=org.ou)
        self.assertEqual(org.scps_on(org.ou), {FULL_AWS_ACCESS, policy})

    def test_at_most_five_scps_on_a_root_ou_or_account_full_aws_access_counted(self):
        org = Organization(self.moto)
        for target in (org.root, org.ou, org.member):
            with self.subTest(target=target):
                for _ in range(4):
                    org.orgs.attach_policy(PolicyId=org.policy(), TargetId=target)
                sixth = org.policy()
                error = self.assertRefused(
                    lambda: org.orgs.attach_policy(PolicyId=sixth, TargetId=target), "ConstraintViolationException", 400
                )
                self.assertEqual(error["Reason"], "MAX_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED")
                self.assertEqual(len(org.scps_on(target)), 5)
                org.orgs.detach_policy(PolicyId=FULL_AWS_ACCESS, TargetId=target)
                org.orgs.attach_policy(PolicyId=sixth, TargetId=target)

    def test_a_policy_already_attached_is_refused(self):
        org = Organization(self.moto)
        policy = org.policy()
        org.orgs.attach_policy(PolicyId=policy, TargetId=org.member)
        self.assertRefused(
            lambda: org.orgs.attach_policy(PolicyId=policy, TargetId=org.member), "DuplicatePolicyAttachmentException", 400
        )

    def test_detaching_a_policy_not_attached_is_refused(self):
        org = Organization(self.moto)
        policy = org.policy()
        org.orgs.attach_policy(PolicyId=policy, TargetId=org.ou)
        self.assertRefused(lambda: org.orgs.detach_policy(PolicyId=policy, TargetId=org.member), "PolicyNotAttachedException", 400)
        org.orgs.detach_policy(PolicyId=policy, TargetId=org.ou)
        self.assertRefused(lambda: org.orgs.detach_policy(PolicyId=policy, TargetId=org.ou), "PolicyNotAttachedException")

    def test_the_last_scp_of_a_target_cannot_be_detached(self):
        org = Organization(self.moto)
        error = self.assertRefused(
            lambda: org.orgs.detach_policy(PolicyId=FULL_AWS_ACCESS, TargetId=org.member), "ConstraintViolationException", 400
        )
        self.assertEqual(error["Reason"], "MIN_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED")
        org.orgs.attach_policy(PolicyId=org.policy(), TargetId=org.member)
        org.orgs.detach_policy(PolicyId=FULL_AWS_ACCESS, TargetId=org.member)

    def test_content_over_5120_characters_is_refused(self):
        org = Organization(self.moto)
        padded = lambda size: json.dumps(DENY_S3)[:-1] + " " * (size - len(json.dumps(DENY_S3))) + "}"  # noqa: E731
        self.assertEqual(len(padded(5120)), 5120)
        policy = org.policy(padded(5120))
        for call in (
            lambda: org.policy(padded(5121)),
            lambda: org.orgs.update_policy(PolicyId=policy, Content=padded(5121)),
        ):
            error = self.assertRefused(call, "ConstraintViolationException", 400)
            self.assertEqual(error["Reason"], "POLICY_CONTENT_LIMIT_EXCEEDED")
        org.orgs.update_policy(PolicyId=policy, Content=json.dumps(DENY_S3))

    def test_content_that_is_not_one_json_object_is_refused(self):
        org = Organization(self.moto)
        policy = org.policy()
        for content in ("not json", "{}{}", "[]"):
            with self.subTest(content=content):
                self.assertRefused(lambda: org.policy(content), "MalformedPolicyDocumentException", 400)
                self.assertRefused(
                    lambda: org.orgs.update_policy(PolicyId=policy, Content=content), "MalformedPolicyDocumentException"
                )
        org.orgs.update_policy(PolicyId=policy, Name="renamed")  # no Content: nothing to check

    def test_disabling_detaches_every_scp_and_enabling_leaves_full_aws_access_only(self):
        org = Organization(self.moto)
        policy = org.policy()
        for target in (org.root, org.ou, org.member):
            org.orgs.attach_policy(PolicyId=policy, TargetId=target)
        org.orgs.disable_policy_type(RootId=org.root, PolicyType=SCP)
        self.assertEqual(org.orgs.list_targets_for_policy(PolicyId=policy)["Targets"], [])
        self.assertRefused(lambda: org.orgs.detach_policy(PolicyId=policy, TargetId=org.ou), "PolicyNotAttachedException")
        org.orgs.enable_policy_type(RootId=org.root, PolicyType=SCP)
        for target in (org.root, org.ou, org.member, org.management):
            self.assertEqual(org.scps_on(target), {FULL_AWS_ACCESS}, target)

    def test_errors_carry_the_code_a_message_and_the_reason(self):
        org = Organization(self.moto)
        status, body = raw_call(self.moto, org.management, "DetachPolicy", {"PolicyId": FULL_AWS_ACCESS, "TargetId": org.ou})
        self.assertEqual(status, 400)
        self.assertEqual(body["__type"], "ConstraintViolationException")
        self.assertEqual(body["Reason"], "MIN_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED")
        self.assertTrue(body["Message"])
        status, body = raw_call(self.moto, org.management, "AttachPolicy", {"PolicyId": FULL_AWS_ACCESS, "TargetId": org.ou})
        self.assertEqual((status, body["__type"]), (400, "DuplicatePolicyAttachmentException"))
        self.assertTrue(body["Message"])


class ScpEffect(BedTest):
    """Part 2: trailwarden's SCP attached to the OU of a member account, where role/attacker
    tries to stop the trail, and role/trailwarden-member keeps it."""

    def setUp(self):
        self.org = org = Organization(self.moto)
        ct = self.moto.client("cloudtrail", org.member)
        self.bucket = delivery_bucket(self.moto, org.member)
        self.trail = ct.create_trail(Name="audit", S3BucketName=self.bucket)["TrailARN"]
        ct.create_trail(Name="other", S3BucketName=self.bucket)
        kms = self.moto.client("kms", org.member)
        self.key = kms.create_key(Description="log key")["KeyMetadata"]["Arn"]
        self.other_key = kms.create_key(Description="another key")["KeyMetadata"]["Arn"]
        self.scp = org.policy(keeps("audit", self.bucket, self.key))
        org.orgs.attach_policy(PolicyId=self.scp, TargetId=org.ou)
        self.attacker = org.as_role(org.member, "attacker", "cloudtrail")
        self.keeper = org.as_role(org.member, "trailwarden-member", "cloudtrail")

    def trail_changes(self, client, name):
        return [
            lambda: client.stop_logging(Name=name),
            lambda: client.update_trail(Name=name, EnableLogFileValidation=True),
            lambda: client.put_event_selectors(TrailName=name, EventSelectors=[{"ReadWriteType": "WriteOnly"}]),
            lambda: client.delete_trail(Name=name),
        ]

    def test_the_attacker_may_not_stop_change_or_delete_the_trail(self):
        for name in ("audit", self.trail):
            for call in self.trail_changes(self.attacker, name):
                error = self.assertRefused(call, "AccessDeniedException", 400)
                self.assertIn("with an explicit deny in a service control policy", error["Error"]["Message"])
                self.assertIn(":role/attacker is not authorized to perform: cloudtrail:", error["Error"]["Message"])
                self.assertEqual(error["ResponseMetadata"]["HTTPHeaders"]["content-type"], "application/json")
        self.assertTrue(self.keeper.get_trail(Name="audit")["Trail"])
        self.attacker.get_trail_status(Name="audit")  # reads are not kept

    def test_the_member_role_keeps_the_trail(self):
        self.keeper.start_logging(Name="audit")
        self.keeper.stop_logging(Name=self.trail)
        self.keeper.update_trail(Name="audit", EnableLogFileValidation=True)

    def test_a_trail_of_another_name_is_not_kept(self):
        for call in self.trail_changes(self.attacker, "other"):
            call()

    def test_the_account_root_user_is_governed_too(self):
        root_user = self.moto.client("cloudtrail", self.org.member)  # a key moto never issued
        self.assertRefused(lambda: root_user.stop_logging(Name="audit"), "AccessDeniedException")

    def test_detached_the_policy_refuses_nothing(self):
        self.org.orgs.detach_policy(PolicyId=self.scp, TargetId=self.org.ou)
        self.attacker.stop_logging(Name="audit")

    def test_with_the_policy_type_disabled_nothing_is_refused(self):
        self.org.orgs.disable_policy_type(RootId=self.org.root, PolicyType=SCP)
        self.attacker.stop_logging(Name="audit")
        self.org.orgs.enable_policy_type(RootId=self.org.root, PolicyType=SCP)  # the policy stays detached
        self.attacker.update_trail(Name="audit", EnableLogFileValidation=True)

    def test_the_management_account_is_never_refused(self):
        org = self.org
        org.orgs.attach_policy(PolicyId=self.scp, TargetId=org.root)
        org.orgs.attach_policy(PolicyId=self.scp, TargetId=org.management)
        bucket = delivery_bucket(self.moto, org.management)
        self.moto.client("cloudtrail", org.management).create_trail(Name="audit", S3BucketName=bucket)
        attacker = org.as_role(org.management, "attacker", "cloudtrail")
        attacker.stop_logging(Name="audit")
        attacker.delete_trail(Name="audit")

    def test_accounts_outside_the_ou_and_excluded_accounts_are_not_refused(self):
        org = self.org
        beside = org.account("beside")  # in the root, not in the OU
        self.moto.client("cloudtrail", beside).create_trail(Name="audit", S3BucketName=self.bucket)
        org.as_role(beside, "attacker", "cloudtrail").stop_logging(Name="audit")
        org.orgs.update_policy(PolicyId=self.scp, Content=json.dumps(keeps("audit", self.bucket, self.key, [org.member])))
        self.attacker.stop_logging(Name="audit")

    def test_the_key_is_kept(self):
        kms = self.org.as_role(self.org.member, "attacker", "kms")
        for call in (
            lambda: kms.disable_key(KeyId=self.key),
            lambda: kms.disable_key_rotation(KeyId=self.key),
            lambda: kms.schedule_key_deletion(KeyId=self.key, PendingWindowInDays=7),
            lambda: kms.disable_key(KeyId=self.key.split("/")[-1]),
        ):
            self.assertRefused(call, "AccessDeniedException", 400)
        kms.disable_key(KeyId=self.other_key)
        self.org.as_role(self.org.member, "trailwarden-member", "kms").disable_key(KeyId=self.key)

    def test_the_bucket_is_kept(self):
        s3 = self.org.as_role(self.org.member, "attacker", "s3")
        policy = json.dumps({"Version": "2012-10-17", "Statement": []})
        for call in (
            lambda: s3.put_bucket_policy(Bucket=self.bucket, Policy=policy),
            lambda: s3.delete_bucket_policy(Bucket=self.bucket),
            lambda: s3.put_bucket_versioning(Bucket=self.bucket, VersioningConfiguration={"Status": "Suspended"}),
            lambda: s3.delete_bucket_lifecycle(Bucket=self.bucket),
            lambda: s3.delete_bucket_encryption(Bucket=self.bucket),
            lambda: s3.delete_bucket(Bucket=self.bucket),
        ):
            error = self.assertRefused(call, "AccessDenied", 403)
            self.assertIn("explicit deny in a service control policy", error["Error"]["Message"])
        s3.get_bucket_policy(Bucket=self.bucket)  # reads are not kept
        keeper = self.org.as_role(self.org.member, "trailwarden-member", "s3")
        keeper.put_bucket_versioning(Bucket=self.bucket, VersioningConfiguration={"Status": "Enabled"})

    def test_without_an_allow_at_the_accounts_level_everything_is_refused(self):
        org = self.org
        org.orgs.attach_policy(PolicyId=self.scp, TargetId=org.member)
        org.orgs.detach_policy(PolicyId=FULL_AWS_ACCESS, TargetId=org.member)
        for client in (self.attacker, self.keeper):
            for call in (client.describe_trails, lambda: client.get_trail_status(Name="other")):
                error = self.assertRefused(call, "AccessDeniedException", 400)
                self.assertIn("because no service control policy allows", error["Error"]["Message"])
        s3 = org.as_role(org.member, "trailwarden-member", "s3")
        enable = {"Status": "Enabled"}
        self.assertRefused(lambda: s3.put_bucket_versioning(Bucket=self.bucket, VersioningConfiguration=enable), "AccessDenied", 403)
        org.orgs.attach_policy(PolicyId=FULL_AWS_ACCESS, TargetId=org.member)
        self.keeper.describe_trails()
