"""Organization trails (hack/bed/rules/cloudtrail.py, hack/bed/rules/organizations.py): who
may create one, where it lives (the management account, also when the delegated
administrator creates it), what the delegated administrator and plain member accounts may
do with it, and the organization queries other rules use."""

import os
import sys
import unittest

import boto3
from bed import BedTest, fresh_account
from moto import mock_aws
from test_cloudtrail import delivery_bucket

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from rules import organizations  # noqa: E402

CLOUDTRAIL = "cloudtrail.amazonaws.com"


class Organization:
    """An organization of the emulator: its management account, a member registered (when
    asked) as CloudTrail's delegated administrator, a plain member, and a log bucket of the
    management account that lets CloudTrail deliver."""

    def __init__(self, moto, features="ALL", trusted=True, delegated=True):
        self.moto = moto
        self.management = fresh_account()
        orgs = moto.client("organizations", self.management)
        self.id = orgs.create_organization(FeatureSet=features)["Organization"]["Id"]
        self.admin, self.member = (
            orgs.create_account(AccountName=name, Email=f"{name}@example.com")["CreateAccountStatus"]["AccountId"]
            for name in ("admin", "member")
        )
        if trusted:
            orgs.enable_aws_service_access(ServicePrincipal=CLOUDTRAIL)
        if delegated:
            orgs.register_delegated_administrator(AccountId=self.admin, ServicePrincipal=CLOUDTRAIL)
        self.bucket = delivery_bucket(moto, self.management)

    def cloudtrail(self, account, region="us-east-1"):
        return self.moto.client("cloudtrail", account, region)

    def org_trail(self, account, name, **settings):
        return self.cloudtrail(account).create_trail(
            Name=name, S3BucketName=self.bucket, IsOrganizationTrail=True, **settings
        )


class WhoMayCreateOrganizationTrails(BedTest):
    def test_an_account_in_no_organization_is_refused(self):
        client = self.moto.client("cloudtrail", fresh_account())
        bucket = delivery_bucket(self.moto, fresh_account())
        self.assertRefused(
            lambda: client.create_trail(Name="org", S3BucketName=bucket, IsOrganizationTrail=True),
            "OrganizationsNotInUseException",
            400,
        )

    def test_an_organization_without_all_features_is_refused(self):
        org = Organization(self.moto, features="CONSOLIDATED_BILLING", trusted=False, delegated=False)
        self.assertRefused(lambda: org.org_trail(org.management, "org"), "OrganizationNotInAllFeaturesModeException")

    def test_an_organization_without_trusted_access_for_cloudtrail_is_refused(self):
        org = Organization(self.moto, trusted=False, delegated=False)
        self.assertRefused(lambda: org.org_trail(org.management, "org"), "CloudTrailAccessNotEnabledException")

    def test_a_plain_member_account_is_refused(self):
        org = Organization(self.moto)
        self.assertRefused(lambda: org.org_trail(org.member, "org"), "NotOrganizationMasterAccountException")

    def test_the_management_account_creates_one(self):
        org = Organization(self.moto)
        trail = org.org_trail(org.management, "org", IsMultiRegionTrail=True)
        self.assertTrue(trail["IsOrganizationTrail"])
        self.assertEqual(trail["TrailARN"], f"arn:aws:cloudtrail:us-east-1:{org.management}:trail/org")

    def test_the_delegated_administrator_creates_one_owned_by_the_management_account(self):
        org = Organization(self.moto)
        trail = org.org_trail(org.admin, "org")
        self.assertEqual(trail["TrailARN"], f"arn:aws:cloudtrail:us-east-1:{org.management}:trail/org")
        owned = org.cloudtrail(org.management).get_trail(Name="org")["Trail"]
        self.assertTrue(owned["IsOrganizationTrail"])

    def test_a_plain_trail_of_a_member_is_unaffected(self):
        org = Organization(self.moto)
        bucket = delivery_bucket(self.moto, org.member)
        trail = org.cloudtrail(org.member).create_trail(Name="own", S3BucketName=bucket, IsOrganizationTrail=False)
        self.assertEqual(trail["TrailARN"], f"arn:aws:cloudtrail:us-east-1:{org.member}:trail/own")
        self.assertFalse(trail["IsOrganizationTrail"])

    def test_update_to_an_organization_trail_outside_an_organization_is_refused(self):
        account = fresh_account()
        client = self.moto.client("cloudtrail", account)
        arn = client.create_trail(Name="solo", S3BucketName=delivery_bucket(self.moto, account))["TrailARN"]
        self.assertRefused(lambda: client.update_trail(Name=arn, IsOrganizationTrail=True), "OrganizationsNotInUseException")
        client.update_trail(Name=arn, IsOrganizationTrail=False)

    def test_the_management_account_converts_its_trail_both_ways(self):
        org = Organization(self.moto)
        client = org.cloudtrail(org.management)
        arn = client.create_trail(Name="convert", S3BucketName=org.bucket)["TrailARN"]
        self.assertTrue(client.update_trail(Name=arn, IsOrganizationTrail=True)["IsOrganizationTrail"])
        self.assertFalse(client.update_trail(Name=arn, IsOrganizationTrail=False)["IsOrganizationTrail"])

    def test_the_delegated_administrator_may_not_convert_an_organization_trail(self):
        org = Organization(self.moto)
        arn = org.org_trail(org.admin, "org")["TrailARN"]
        self.assertRefused(
            lambda: org.cloudtrail(org.admin).update_trail(Name=arn, IsOrganizationTrail=False),
            "NotOrganizationMasterAccountException",
        )

    def test_the_delegated_administrator_may_not_take_a_name_the_management_account_uses(self):
        org = Organization(self.moto)
        org.cloudtrail(org.management).create_trail(Name="taken", S3BucketName=org.bucket)
        self.assertRefused(lambda: org.org_trail(org.admin, "taken"), "TrailAlreadyExistsException")


class OrganizationTrailQuota(BedTest):
    def setUp(self):
        self.org = Organization(self.moto)
        self.management = self.org.cloudtrail(self.org.management)
        for i in range(4):
            self.management.create_trail(Name=f"own-{i}", S3BucketName=self.org.bucket)

    def test_the_delegated_administrators_trail_counts_against_the_management_account(self):
        self.org.org_trail(self.org.admin, "org")
        self.assertRefused(
            lambda: self.management.create_trail(Name="sixth", S3BucketName=self.org.bucket),
            "MaximumNumberOfTrailsExceededException",
        )
        self.assertRefused(lambda: self.org.org_trail(self.org.admin, "org-2"), "MaximumNumberOfTrailsExceededException")

    def test_members_keep_their_own_quota(self):
        self.org.org_trail(self.org.admin, "org", IsMultiRegionTrail=True)
        for account in (self.org.admin, self.org.member):
            bucket = delivery_bucket(self.moto, account)
            client = self.org.cloudtrail(account)
            for i in range(5):
                client.create_trail(Name=f"mine-{i}", S3BucketName=bucket)
            self.assertRefused(
                lambda: client.create_trail(Name="sixth", S3BucketName=bucket), "MaximumNumberOfTrailsExceededException"
            )


class DelegatedAdministratorByArn(BedTest):
    """The delegated administrator addresses the organization trail by its ARN."""

    def setUp(self):
        self.org = Organization(self.moto)
        self.arn = self.org.org_trail(self.org.admin, "org", IsMultiRegionTrail=True)["TrailARN"]
        self.admin = self.org.cloudtrail(self.org.admin)

    def test_lists_and_reads_it(self):
        for region in ("us-east-1", "us-west-2"):
            listed = self.org.cloudtrail(self.org.admin, region).describe_trails()["trailList"]
            self.assertEqual([(t["TrailARN"], t["IsOrganizationTrail"]) for t in listed], [(self.arn, True)])
        self.assertEqual(self.org.cloudtrail(self.org.management).describe_trails()["trailList"][0]["TrailARN"], self.arn)
        self.assertFalse(self.admin.get_trail_status(Name=self.arn)["IsLogging"])
        self.assertEqual(self.admin.get_event_selectors(TrailName=self.arn)["TrailARN"], self.arn)
        self.assertEqual(self.admin.list_trails()["Trails"][0]["TrailARN"], self.arn)

    def test_changes_and_deletes_it(self):
        self.admin.start_logging(Name=self.arn)
        self.assertTrue(self.org.cloudtrail(self.org.management).get_trail_status(Name="org")["IsLogging"])
        self.admin.stop_logging(Name=self.arn)
        self.admin.put_event_selectors(TrailName=self.arn, EventSelectors=[{"ReadWriteType": "WriteOnly"}])
        self.assertEqual(
            self.admin.get_event_selectors(TrailName=self.arn)["EventSelectors"][0]["ReadWriteType"], "WriteOnly"
        )
        self.admin.put_insight_selectors(TrailName=self.arn, InsightSelectors=[{"InsightType": "ApiCallRateInsight"}])
        self.assertEqual(
            self.admin.get_insight_selectors(TrailName=self.arn)["InsightSelectors"], [{"InsightType": "ApiCallRateInsight"}]
        )
        self.assertTrue(self.admin.update_trail(Name=self.arn, EnableLogFileValidation=True)["LogFileValidationEnabled"])
        self.admin.add_tags(ResourceId=self.arn, TagsList=[{"Key": "k", "Value": "v"}, {"Key": "gone", "Value": "x"}])
        self.admin.remove_tags(ResourceId=self.arn, TagsList=[{"Key": "gone"}])
        tags = self.admin.list_tags(ResourceIdList=[self.arn])["ResourceTagList"]
        self.assertEqual(tags, [{"ResourceId": self.arn, "TagsList": [{"Key": "k", "Value": "v"}]}])
        self.admin.delete_trail(Name=self.arn)
        self.assertEqual(self.org.cloudtrail(self.org.management).describe_trails()["trailList"], [])

    def test_by_name_it_is_not_found(self):
        # A name means the caller's own account's trail, as in AWS.
        self.assertRefused(lambda: self.admin.start_logging(Name="org"), "TrailNotFoundException")
        self.assertRefused(lambda: self.admin.get_trail_status(Name="org"), "TrailNotFoundException")


class MemberSeesOrganizationTrails(BedTest):
    """A plain member account sees the organization's trails and cannot change them."""

    def setUp(self):
        self.org = Organization(self.moto)
        self.everywhere = self.org.org_trail(self.org.management, "everywhere", IsMultiRegionTrail=True)["TrailARN"]
        self.here = self.org.org_trail(self.org.management, "here-only")["TrailARN"]
        self.org.cloudtrail(self.org.management).create_trail(Name="not-org", S3BucketName=self.org.bucket)
        self.member = self.org.cloudtrail(self.org.member)

    def listed(self, region):
        trails = self.org.cloudtrail(self.org.member, region).describe_trails()["trailList"]
        return {t["TrailARN"]: t["IsOrganizationTrail"] for t in trails}

    def test_describe_trails_lists_them_with_their_arn_shadows_included(self):
        self.assertEqual(self.listed("us-east-1"), {self.everywhere: True, self.here: True})
        self.assertEqual(self.listed("us-west-2"), {self.everywhere: True})
        homed = self.org.cloudtrail(self.org.member, "us-west-2").describe_trails(includeShadowTrails=False)["trailList"]
        self.assertEqual(homed, [])

    def test_get_trail_status_by_arn_answers(self):
        self.org.cloudtrail(self.org.management).start_logging(Name=self.everywhere)
        self.assertTrue(self.member.get_trail_status(Name=self.everywhere)["IsLogging"])
        west = self.org.cloudtrail(self.org.member, "us-west-2")
        self.assertTrue(west.get_trail_status(Name=self.everywhere)["IsLogging"])

    def test_changes_are_refused(self):
        arn = self.everywhere
        for call in (
            lambda: self.member.start_logging(Name=arn),
            lambda: self.member.stop_logging(Name=arn),
            lambda: self.member.delete_trail(Name=arn),
            lambda: self.member.update_trail(Name=arn, EnableLogFileValidation=True),
            lambda: self.member.put_event_selectors(TrailName=arn, EventSelectors=[{"ReadWriteType": "All"}]),
            lambda: self.member.put_insight_selectors(TrailName=arn, InsightSelectors=[]),
            lambda: self.member.add_tags(ResourceId=arn, TagsList=[{"Key": "k", "Value": "v"}]),
            lambda: self.member.remove_tags(ResourceId=arn, TagsList=[{"Key": "k"}]),
        ):
            self.assertRefused(call, "NotOrganizationMasterAccountException", 400)
        self.assertEqual(len(self.listed("us-east-1")), 2)

    def test_selectors_and_tags_are_not_readable(self):
        own = self.member.create_trail(Name="own", S3BucketName=delivery_bucket(self.moto, self.org.member))["TrailARN"]
        self.assertRefused(lambda: self.member.list_tags(ResourceIdList=[own, self.here]), "CloudTrailARNInvalidException")
        self.assertRefused(lambda: self.member.get_event_selectors(TrailName=self.here), "CloudTrailARNInvalidException")
        self.assertEqual(self.member.list_tags(ResourceIdList=[own])["ResourceTagList"], [{"ResourceId": own, "TagsList": []}])

    def test_a_trail_of_the_management_account_that_is_no_organization_trail_stays_hidden(self):
        arn = f"arn:aws:cloudtrail:us-east-1:{self.org.management}:trail/not-org"
        self.assertNotIn(arn, self.listed("us-east-1"))
        self.assertRefused(lambda: self.member.get_trail_status(Name=arn), "CloudTrailARNInvalidException")

    def test_an_account_outside_the_organization_sees_none(self):
        self.assertEqual(self.moto.client("cloudtrail", fresh_account()).describe_trails()["trailList"], [])


class DelegatedAdministratorRegistration(BedTest):
    def test_a_member_is_registered_for_cloudtrail(self):
        org = Organization(self.moto, delegated=False)
        orgs = self.moto.client("organizations", org.management)
        orgs.register_delegated_administrator(AccountId=org.admin, ServicePrincipal=CLOUDTRAIL)
        admins = orgs.list_delegated_administrators()["DelegatedAdministrators"]
        self.assertEqual([a["Id"] for a in admins], [org.admin])

    def test_an_unknown_service_principal_is_still_refused(self):
        org = Organization(self.moto, delegated=False)
        orgs = self.moto.client("organizations", org.management)
        self.assertRefused(
            lambda: orgs.register_delegated_administrator(AccountId=org.admin, ServicePrincipal="nope.amazonaws.com"),
            "InvalidInputException",
        )


@mock_aws
class OrganizationQueries(unittest.TestCase):
    """organization_id() and trail_owner(), which other rules call, read in-process."""

    def setUp(self):
        orgs = boto3.client("organizations", region_name="us-east-1")
        self.org = orgs.create_organization(FeatureSet="ALL")["Organization"]
        self.management = self.org["MasterAccountId"]
        self.admin, self.member = (
            orgs.create_account(AccountName=name, Email=f"{name}@example.com")["CreateAccountStatus"]["AccountId"]
            for name in ("admin", "member")
        )
        organizations.accept_cloudtrail_delegated_administrator()
        orgs.register_delegated_administrator(AccountId=self.admin, ServicePrincipal=CLOUDTRAIL)

    def test_organization_id_of_management_and_members(self):
        for account in (self.management, self.admin, self.member):
            self.assertEqual(organizations.organization_id(account), self.org["Id"])

    def test_organization_id_of_an_account_in_none(self):
        self.assertIsNone(organizations.organization_id("999999999999"))

    def test_trail_owner(self):
        self.assertEqual(organizations.trail_owner(self.admin, True), self.management)
        self.assertEqual(organizations.trail_owner(self.admin, False), self.admin)
        self.assertEqual(organizations.trail_owner(self.management, True), self.management)
        self.assertEqual(organizations.trail_owner(self.member, True), self.member)
        self.assertEqual(organizations.trail_owner("999999999999", True), "999999999999")
