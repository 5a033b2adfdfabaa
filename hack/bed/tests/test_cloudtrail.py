"""The CloudTrail rules of one account (hack/bed/rules/cloudtrail.py): the trail quota, a
taken name, another account's ARN, and the semantics moto gets wrong; each refused or
answered as CloudTrail does. Organization trails: test_organizations.py."""

import json
import uuid

from bed import BedTest, fresh_account


def delivery_bucket(moto, account, region="us-east-1"):
    """A bucket of `account` whose policy lets CloudTrail deliver any trail's logs."""
    s3 = moto.client("s3", account, region)
    name = f"bed-{uuid.uuid4().hex[:20]}"
    if region == "us-east-1":
        s3.create_bucket(Bucket=name)
    else:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": "cloudtrail.amazonaws.com"},
        "Action": ["s3:GetBucketAcl", "s3:PutObject"],
        "Resource": [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"],
    }
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]}))
    return name


class Account:
    """An emulator account with CloudTrail clients in two regions and a log bucket."""

    def __init__(self, moto, account=None):
        self.id = account or fresh_account()
        self.east = moto.client("cloudtrail", self.id, "us-east-1")
        self.west = moto.client("cloudtrail", self.id, "us-west-2")
        self.bucket = delivery_bucket(moto, self.id)

    def trail(self, client, name, **settings):
        return client.create_trail(Name=name, S3BucketName=self.bucket, **settings)["TrailARN"]


class TrailQuota(BedTest):
    def setUp(self):
        self.account = Account(self.moto)

    def fill(self, client, count, prefix="trail-"):
        return [self.account.trail(client, f"{prefix}{i}") for i in range(count)]

    def test_five_trails_in_a_region_are_allowed(self):
        arns = self.fill(self.account.east, 5)
        listed = {t["TrailARN"] for t in self.account.east.describe_trails()["trailList"]}
        self.assertEqual(listed, set(arns))

    def test_a_sixth_trail_in_the_region_is_refused(self):
        self.fill(self.account.east, 5)
        self.assertRefused(lambda: self.account.trail(self.account.east, "sixth"), "MaximumNumberOfTrailsExceededException", 400)

    def test_another_region_has_its_own_quota(self):
        self.fill(self.account.east, 5)
        self.account.trail(self.account.west, "west")

    def test_deleting_a_trail_makes_room(self):
        arns = self.fill(self.account.east, 5)
        self.account.east.delete_trail(Name=arns[0])
        self.account.trail(self.account.east, "again")

    def test_a_multi_region_trail_counts_in_every_region(self):
        self.account.trail(self.account.east, "everywhere", IsMultiRegionTrail=True)
        self.fill(self.account.west, 4)
        self.assertRefused(lambda: self.account.trail(self.account.west, "fifth"), "MaximumNumberOfTrailsExceededException")

    def test_a_multi_region_trail_needs_room_in_every_region(self):
        self.fill(self.account.west, 5)
        self.assertRefused(
            lambda: self.account.trail(self.account.east, "everywhere", IsMultiRegionTrail=True),
            "MaximumNumberOfTrailsExceededException",
        )
        self.account.trail(self.account.east, "here-only")

    def test_update_to_multi_region_is_refused_while_another_region_is_full(self):
        arn = self.account.trail(self.account.east, "widen")
        self.fill(self.account.west, 5)
        self.assertRefused(
            lambda: self.account.east.update_trail(Name=arn, IsMultiRegionTrail=True),
            "MaximumNumberOfTrailsExceededException",
        )
        trail = self.account.east.get_trail(Name=arn)["Trail"]
        self.assertFalse(trail["IsMultiRegionTrail"])

    def test_update_to_multi_region_with_room_everywhere(self):
        arn = self.account.trail(self.account.east, "widen")
        self.fill(self.account.east, 4)
        self.fill(self.account.west, 4)
        updated = self.account.east.update_trail(Name=arn, IsMultiRegionTrail=True)
        self.assertTrue(updated["IsMultiRegionTrail"])
        self.assertRefused(lambda: self.account.trail(self.account.west, "full"), "MaximumNumberOfTrailsExceededException")


class TakenName(BedTest):
    def setUp(self):
        self.account = Account(self.moto)

    def test_a_name_taken_in_the_region_is_refused(self):
        self.account.trail(self.account.east, "taken")
        self.assertRefused(lambda: self.account.trail(self.account.east, "taken"), "TrailAlreadyExistsException", 400)

    def test_a_name_taken_by_a_multi_region_trail_elsewhere_is_refused(self):
        self.account.trail(self.account.east, "everywhere", IsMultiRegionTrail=True)
        self.assertRefused(lambda: self.account.trail(self.account.west, "everywhere"), "TrailAlreadyExistsException")

    def test_the_name_of_a_single_region_trail_elsewhere_is_free(self):
        east = self.account.trail(self.account.east, "same")
        west = self.account.trail(self.account.west, "same")
        self.assertNotEqual(east, west)

    def test_a_taken_name_is_refused_as_such_when_the_region_is_full(self):
        for i in range(5):
            self.account.trail(self.account.east, f"trail-{i}")
        self.assertRefused(lambda: self.account.trail(self.account.east, "trail-0"), "TrailAlreadyExistsException")


class TrailArn(BedTest):
    def setUp(self):
        self.account = Account(self.moto)
        self.arn = self.account.trail(self.account.east, "mine")

    def test_own_arn_addresses_the_trail(self):
        self.account.east.start_logging(Name=self.arn)
        self.assertTrue(self.account.east.get_trail_status(Name=self.arn)["IsLogging"])
        self.account.east.add_tags(ResourceId=self.arn, TagsList=[{"Key": "k", "Value": "v"}])
        tags = self.account.east.list_tags(ResourceIdList=[self.arn])["ResourceTagList"]
        self.assertEqual(tags, [{"ResourceId": self.arn, "TagsList": [{"Key": "k", "Value": "v"}]}])

    def test_another_accounts_arn_is_refused(self):
        stranger = self.moto.client("cloudtrail", fresh_account(), "us-east-1")
        for call in (
            lambda: stranger.get_trail_status(Name=self.arn),
            lambda: stranger.stop_logging(Name=self.arn),
            lambda: stranger.delete_trail(Name=self.arn),
            lambda: stranger.get_event_selectors(TrailName=self.arn),
            lambda: stranger.list_tags(ResourceIdList=[self.arn]),
        ):
            self.assertRefused(call, "CloudTrailARNInvalidException", 400)
        self.assertEqual(len(self.account.east.describe_trails()["trailList"]), 1)


class Semantics(BedTest):
    """What moto 5.2.5 gets wrong and AWS does (rules/cloudtrail.py fix_semantics)."""

    def setUp(self):
        self.account = Account(self.moto)
        self.client = self.account.east
        self.arn = self.account.trail(self.client, "trail")

    def describe(self):
        return self.client.describe_trails(trailNameList=[self.arn])["trailList"][0]

    def test_delete_trail_by_arn_and_unknown_trail_refused(self):
        self.client.delete_trail(Name=self.arn)
        self.assertEqual(self.client.describe_trails()["trailList"], [])
        self.assertRefused(lambda: self.client.delete_trail(Name=self.arn), "TrailNotFoundException")
        self.assertRefused(lambda: self.client.delete_trail(Name="never-made"), "TrailNotFoundException")

    def test_default_event_selector_until_one_is_put(self):
        selectors = self.client.get_event_selectors(TrailName=self.arn)
        self.assertEqual(selectors["EventSelectors"][0]["ReadWriteType"], "All")
        self.assertTrue(selectors["EventSelectors"][0]["IncludeManagementEvents"])
        self.assertFalse(self.describe()["HasCustomEventSelectors"])

    def test_one_kind_of_event_selector_clears_the_other(self):
        advanced = [{"Name": "m", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}]
        self.client.put_event_selectors(TrailName=self.arn, AdvancedEventSelectors=advanced)
        basic = [{"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True}]
        self.client.put_event_selectors(TrailName=self.arn, EventSelectors=basic)
        selectors = self.client.get_event_selectors(TrailName=self.arn)
        self.assertEqual(selectors.get("AdvancedEventSelectors", []), [])
        self.assertEqual(selectors["EventSelectors"][0]["ReadWriteType"], "WriteOnly")
        self.assertTrue(self.describe()["HasCustomEventSelectors"])

    def test_insight_selectors_are_replaced(self):
        self.client.put_insight_selectors(TrailName=self.arn, InsightSelectors=[{"InsightType": "ApiCallRateInsight"}])
        self.client.put_insight_selectors(TrailName=self.arn, InsightSelectors=[{"InsightType": "ApiErrorRateInsight"}])
        insights = self.client.get_insight_selectors(TrailName=self.arn)["InsightSelectors"]
        self.assertEqual(insights, [{"InsightType": "ApiErrorRateInsight"}])
        self.assertTrue(self.describe()["HasInsightSelectors"])
