"""Bed rules for AWS Organizations as CloudTrail sees it: see rules/__init__.py."""


def trail_owner(caller_account, is_organization_trail):
    """The account that owns a trail `caller_account` creates: for an organization trail
    created by a delegated administrator, the organization's management account."""
    return caller_account


def organization_id(account):
    """The id (o-...) of the organization `account` belongs to, or None."""
    return None


def install():
    pass
