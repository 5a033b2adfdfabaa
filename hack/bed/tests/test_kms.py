"""The KMS rule (hack/bed/rules/kms.py): which account and region a key ARN or alias ARN
reaches; refusals as KMS refuses them, and the legitimate calls still answered."""

import json
import unittest
import uuid

from bed import BedTest, fresh_account


class KeyArns(BedTest):
    def setUp(self):
        self.owner = fresh_account()
        self.kms = self.moto.client("kms", self.owner, "us-east-1")
        key = self.kms.create_key(Description="log key")["KeyMetadata"]
        self.key_id, self.key_arn = key["KeyId"], key["Arn"]
        self.alias = f"alias/bed-{uuid.uuid4().hex[:12]}"
        self.kms.create_alias(AliasName=self.alias, TargetKeyId=self.key_id)
        self.alias_arn = f"arn:aws:kms:us-east-1:{self.owner}:{self.alias}"
        self.policy = self.kms.get_key_policy(KeyId=self.key_id, PolicyName="default")["Policy"]
        self.caller = fresh_account()
        self.other = self.moto.client("kms", self.caller, "us-east-1")

    def test_owner_reaches_its_key_by_id_arn_alias_and_alias_arn(self):
        for key in (self.key_id, self.key_arn, self.alias, self.alias_arn):
            with self.subTest(key):
                self.assertEqual(self.kms.describe_key(KeyId=key)["KeyMetadata"]["Arn"], self.key_arn)
        self.kms.enable_key_rotation(KeyId=self.key_arn)
        self.assertTrue(self.kms.get_key_rotation_status(KeyId=self.key_arn)["KeyRotationEnabled"])
        self.assertEqual(self.kms.get_key_policy(KeyId=self.key_arn, PolicyName="default")["Policy"], self.policy)
        self.kms.put_key_policy(KeyId=self.key_arn, PolicyName="default", Policy=self.policy)

    def test_key_state_calls_take_the_key_arn_as_kms_does(self):
        self.kms.disable_key(KeyId=self.key_arn)
        self.assertEqual(self.kms.describe_key(KeyId=self.key_id)["KeyMetadata"]["KeyState"], "Disabled")
        self.kms.enable_key(KeyId=self.key_arn)
        deletion = self.kms.schedule_key_deletion(KeyId=self.key_arn, PendingWindowInDays=7)
        self.assertIn("DeletionDate", deletion)
        described = self.kms.describe_key(KeyId=self.key_arn)["KeyMetadata"]
        self.assertEqual(described["KeyState"], "PendingDeletion")
        self.assertIn("DeletionDate", described)
        self.kms.cancel_key_deletion(KeyId=self.key_arn)
        self.assertEqual(self.kms.describe_key(KeyId=self.key_arn)["KeyMetadata"]["KeyState"], "Disabled")
        self.kms.enable_key(KeyId=self.key_arn)
        self.assertEqual(self.kms.describe_key(KeyId=self.key_arn)["KeyMetadata"]["KeyState"], "Enabled")
        missing = self.key_arn.rsplit("/", 1)[0] + "/" + str(uuid.uuid4())
        with self.assertRaises(self.kms.exceptions.NotFoundException):
            self.kms.enable_key(KeyId=missing)

    def test_describe_key_and_rotation_status_by_arn_reach_the_owners_key(self):
        self.kms.enable_key_rotation(KeyId=self.key_id)
        described = self.other.describe_key(KeyId=self.key_arn)["KeyMetadata"]
        self.assertEqual((described["Arn"], described["AWSAccountId"]), (self.key_arn, self.owner))
        self.assertEqual(self.other.describe_key(KeyId=self.alias_arn)["KeyMetadata"]["Arn"], self.key_arn)
        self.assertTrue(self.other.get_key_rotation_status(KeyId=self.key_arn)["KeyRotationEnabled"])

    def test_another_accounts_key_is_not_found_by_key_id_or_alias_name(self):
        self.assertRefused(lambda: self.other.describe_key(KeyId=self.key_id), "NotFoundException")
        self.assertRefused(lambda: self.other.describe_key(KeyId=self.alias), "NotFoundException")
        self.assertRefused(lambda: self.other.get_key_rotation_status(KeyId=self.key_id), "NotFoundException")

    def test_alias_name_resolves_in_the_callers_own_account(self):
        own = self.other.create_key()["KeyMetadata"]
        self.other.create_alias(AliasName=self.alias, TargetKeyId=own["KeyId"])
        self.assertEqual(self.other.describe_key(KeyId=self.alias)["KeyMetadata"]["Arn"], own["Arn"])
        self.assertEqual(self.other.describe_key(KeyId=self.alias_arn)["KeyMetadata"]["Arn"], self.key_arn)

    def test_operations_without_cross_account_use_are_refused(self):
        other, arn = self.other, self.key_arn
        own = other.create_key()["KeyMetadata"]["KeyId"]
        other.create_alias(AliasName="alias/mine", TargetKeyId=own)
        calls = {
            "GetKeyPolicy": lambda: other.get_key_policy(KeyId=arn, PolicyName="default"),
            "PutKeyPolicy": lambda: other.put_key_policy(KeyId=arn, PolicyName="default", Policy=self.policy),
            "EnableKeyRotation": lambda: other.enable_key_rotation(KeyId=arn),
            "DisableKeyRotation": lambda: other.disable_key_rotation(KeyId=arn),
            "EnableKey": lambda: other.enable_key(KeyId=arn),
            "DisableKey": lambda: other.disable_key(KeyId=arn),
            "ScheduleKeyDeletion": lambda: other.schedule_key_deletion(KeyId=arn, PendingWindowInDays=7),
            "CancelKeyDeletion": lambda: other.cancel_key_deletion(KeyId=arn),
            "CreateAlias": lambda: other.create_alias(AliasName="alias/theirs", TargetKeyId=arn),
            "UpdateAlias": lambda: other.update_alias(AliasName="alias/mine", TargetKeyId=arn),
            "ListResourceTags": lambda: other.list_resource_tags(KeyId=arn),
        }
        for name, call in calls.items():
            with self.subTest(name):
                self.assertRefused(call, "NotFoundException", 400)
        key = self.kms.describe_key(KeyId=self.key_id)["KeyMetadata"]
        self.assertEqual((key["KeyState"], key["Enabled"]), ("Enabled", True), "the key is untouched")
        self.assertFalse(self.kms.get_key_rotation_status(KeyId=self.key_id)["KeyRotationEnabled"])
        aliases = {a["AliasName"]: a.get("TargetKeyId") for a in other.list_aliases()["Aliases"]}
        self.assertEqual(aliases.get("alias/mine"), own)
        self.assertNotIn("alias/theirs", aliases)

    def test_arns_naming_another_region_are_not_found(self):
        west = self.moto.client("kms", self.owner, "us-west-2")
        # The owner's own alias of the same name in us-west-2 must not answer for the us-east-1 ARN.
        west_key = west.create_key()["KeyMetadata"]
        west.create_alias(AliasName=self.alias, TargetKeyId=west_key["KeyId"])
        self.assertEqual(west.describe_key(KeyId=self.alias)["KeyMetadata"]["Arn"], west_key["Arn"])
        self.assertRefused(lambda: west.describe_key(KeyId=self.alias_arn), "NotFoundException")
        self.assertRefused(lambda: west.describe_key(KeyId=self.key_arn), "NotFoundException")
        self.assertRefused(lambda: west.get_key_rotation_status(KeyId=self.key_arn), "NotFoundException")
        other_west = self.moto.client("kms", self.caller, "us-west-2")
        self.assertRefused(lambda: other_west.describe_key(KeyId=self.key_arn), "NotFoundException")


if __name__ == "__main__":
    unittest.main()
