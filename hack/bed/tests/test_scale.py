"""moto at scale (hack/bed/scale.py): the account a request acts in, told from its access
key, is the same answer as moto's scan of every account, kept right as keys come and go;
an account's backends are made once, on first use."""

import json
import urllib.request

import boto3
import botocore.config

from bed import BedTest, fresh_account

DEFAULT_ACCOUNT = "123456789012"
TRUST = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
})


class Scale(BedTest):
    def signed_with(self, service, key_id, secret, token=None):
        """A client that names no account: moto tells it from the access key."""
        return boto3.client(
            service,
            region_name="us-east-1",
            endpoint_url=self.moto.url,
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
            aws_session_token=token,
            config=botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"}),
        )

    def assumed(self, account):
        iam = self.moto.client("iam", account)
        role = iam.create_role(RoleName="reader", AssumeRolePolicyDocument=TRUST)["Role"]
        creds = self.moto.client("sts", DEFAULT_ACCOUNT).assume_role(RoleArn=role["Arn"], RoleSessionName="test")["Credentials"]
        return creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]

    def account_of(self, key_id, secret, token=None):
        return self.signed_with("sts", key_id, secret, token).get_caller_identity()["Account"]

    def test_assumed_role_credentials_act_in_the_role_account(self):
        first, second = fresh_account(), fresh_account()
        for account in (first, second):
            key = self.assumed(account)
            self.assertEqual(self.account_of(*key), account)
            # Twice: the second answer comes from the index.
            self.assertEqual(self.account_of(*key), account)
            bucket = f"owned-by-{account}"
            self.signed_with("s3", *key).create_bucket(Bucket=bucket)
            names = [b["Name"] for b in self.moto.client("s3", account).list_buckets()["Buckets"]]
            self.assertIn(bucket, names)

    def test_an_unknown_key_acts_in_the_default_account_and_a_key_made_later_in_its_own(self):
        self.assertEqual(self.account_of("AKIAUNKNOWN000000000", "x"), DEFAULT_ACCOUNT)
        account = fresh_account()
        iam = self.moto.client("iam", account)
        iam.create_user(UserName="someone")
        key = iam.create_access_key(UserName="someone")["AccessKey"]
        # A key made after an unknown one was asked for is found in its account.
        self.assertEqual(self.account_of(key["AccessKeyId"], key["SecretAccessKey"]), account)

    def test_a_deleted_key_no_longer_acts_in_its_account(self):
        account = fresh_account()
        iam = self.moto.client("iam", account)
        iam.create_user(UserName="leaver")
        key = iam.create_access_key(UserName="leaver")["AccessKey"]
        self.assertEqual(self.account_of(key["AccessKeyId"], key["SecretAccessKey"]), account)
        iam.delete_access_key(UserName="leaver", AccessKeyId=key["AccessKeyId"])
        self.assertEqual(self.account_of(key["AccessKeyId"], key["SecretAccessKey"]), DEFAULT_ACCOUNT)

    def test_a_reset_forgets_every_key(self):
        account = fresh_account()
        key = self.assumed(account)
        self.assertEqual(self.account_of(*key), account)
        request = urllib.request.Request(f"{self.moto.url}/moto-api/reset", data=b"", method="POST")
        urllib.request.urlopen(request, timeout=30).close()
        self.assertEqual(self.account_of(*key), DEFAULT_ACCOUNT)

    def test_an_account_keeps_what_it_made_and_sees_nothing_of_another(self):
        first, second = fresh_account(), fresh_account()
        self.moto.client("s3", first).create_bucket(Bucket=f"kept-{first}")
        for _ in range(2):
            names = [b["Name"] for b in self.moto.client("s3", first).list_buckets()["Buckets"]]
            self.assertEqual(names, [f"kept-{first}"])
        self.assertEqual(self.moto.client("s3", second).list_buckets()["Buckets"], [])
