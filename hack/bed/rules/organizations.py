"""Bed rules for AWS Organizations as CloudTrail sees it: see rules/__init__.py.

What CloudTrail's rules (rules/cloudtrail.py) and others ask of moto's Organizations
emulation: which organization an account belongs to, its management account, its feature
set, whether CloudTrail has trusted access in it and who administers CloudTrail for it. In
moto an organization lives in the Organizations backend of its management account;
`organizations_backends.master_accounts` maps each member account to that account.
"""

from moto.organizations.models import FakeDelegatedAdministrator, organizations_backends

CLOUDTRAIL = "cloudtrail.amazonaws.com"


def backend_of(account):
    """moto's Organizations backend holding the organization `account` belongs to, as its
    management account or as a member, or None."""
    if account in organizations_backends.master_accounts:
        management, partition = organizations_backends.master_accounts[account]
        return organizations_backends[management][partition]
    if account in organizations_backends:
        return next((b for b in organizations_backends[account].values() if b.org), None)
    return None


def _organization(account):
    backend = backend_of(account)
    return backend.org if backend is not None else None


def organization_id(account):
    """The id (o-...) of the organization `account` belongs to, or None."""
    org = _organization(account)
    return org.id if org is not None else None


def management_account(account):
    """The management account of the organization `account` belongs to, or None."""
    org = _organization(account)
    return org.master_account_id if org is not None else None


def all_features(account):
    """Whether the organization of `account` has all features enabled (not only
    consolidated billing)."""
    org = _organization(account)
    return org is not None and org.feature_set == "ALL"


def trusted_access(account, service=CLOUDTRAIL):
    """Whether the organization of `account` enabled trusted access for `service`."""
    backend = backend_of(account)
    return backend is not None and any(s["ServicePrincipal"] == service for s in backend.services)


def delegated_administrator(account, service=CLOUDTRAIL):
    """Whether `account` is registered in its organization as a delegated administrator
    for `service`."""
    backend = backend_of(account)
    return backend is not None and any(
        admin.account.id == account and service in admin.services for admin in backend.admins
    )


def trail_owner(caller_account, is_organization_trail):
    """The account that owns a trail `caller_account` creates: for an organization trail
    created by a delegated administrator, the organization's management account."""
    if is_organization_trail and delegated_administrator(caller_account):
        return management_account(caller_account)
    return caller_account


def accept_cloudtrail_delegated_administrator():
    """RegisterDelegatedAdministrator accepts CloudTrail's service principal.

    AWS: CloudTrail is among the services that support a delegated administrator, so the
    management account may register a member account for cloudtrail.amazonaws.com
    (https://docs.aws.amazon.com/organizations/latest/userguide/orgs_integrated-services-list.html,
    https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-delegated-administrator.html).
    moto's list of such services lacks it and answers InvalidInputException; unknown
    service principals stay refused.
    """

    if CLOUDTRAIL not in FakeDelegatedAdministrator.SUPPORTED_SERVICES:
        FakeDelegatedAdministrator.SUPPORTED_SERVICES.append(CLOUDTRAIL)


def install():
    accept_cloudtrail_delegated_administrator()
