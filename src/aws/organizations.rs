//! AWS Organizations: which organization an account belongs to, and its management
//! account. An organization trail is owned by the management account even when a delegated
//! administrator creates and manages it (its ARN carries the management account's id).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use trailwarden_core::Scope;
use trailwarden_core::policy::Organization;
use trailwarden_core::set::{AccountStatus, OrgAccount, OrgTree, Switches};

use super::AwsResult;
use super::paging::{Bound, pages};
use super::clients::Service;
use super::sdk::SdkAws;

pub(super) const ORGANIZATIONS: Service<aws_sdk_organizations::Client> =
    Service { name: "Organizations", client: |c| c.organizations(), paced: false, kept: None, bounded: true };

/// How long an account's organization is remembered: an account rarely changes
/// organization, and a trail's ARN does not change with it until the trail is recreated.
const REMEMBERED: Duration = Duration::from_secs(3600);

/// Organizations asked lately, by the account asking.
#[derive(Default)]
pub(super) struct Known(Mutex<HashMap<String, (Instant, Option<Organization>)>>);

/// The organization of the account `scope` acts in (`account`), or None when it belongs
/// to none.
pub(super) async fn organization(aws: &SdkAws, known: &Known, scope: &Scope, account: &str) -> AwsResult<Option<Organization>> {
    if let Some((asked, org)) = known.0.lock().expect("organizations lock").get(account)
        && asked.elapsed() < REMEMBERED
    {
        return Ok(org.clone());
    }
    let read = aws.call(scope, &ORGANIZATIONS, "DescribeOrganization", |o| o.describe_organization().send()).await;
    let org = match read {
        Ok(out) => out.organization().map(|o| Organization {
            id: o.id().unwrap_or_default().to_owned(),
            management_account: o.master_account_id().unwrap_or_default().to_owned(),
        }),
        Err(e) if e.code == "AWSOrganizationsNotInUseException" => None,
        Err(e) => return Err(e),
    };
    known.0.lock().expect("organizations lock").insert(account.to_owned(), (Instant::now(), org.clone()));
    Ok(org)
}

/// The organization's tree, read from the management account or CloudTrail's delegated
/// administrator: roots, every OU under them and the accounts directly in each. Calls:
/// one ListRoots, then per parent one ListOrganizationalUnitsForParent and one
/// ListAccountsForParent (and their further pages).
async fn tree(aws: &SdkAws, scope: &Scope) -> AwsResult<OrgTree> {
    let roots = aws.call(scope, &ORGANIZATIONS, "ListRoots", |o| o.list_roots().send()).await?;
    let mut tree = OrgTree::default();
    let mut parents: Vec<String> = roots.roots().iter().filter_map(|r| r.id().map(str::to_owned)).collect();
    // Five levels of OUs at most under a root (Organizations' quota); the bound guards a
    // tree that answers otherwise.
    let mut budget = MAX_PARENTS;
    while let Some(parent) = parents.pop() {
        budget = budget.checked_sub(1).ok_or_else(|| too_large(MAX_PARENTS))?;
        let units = children(aws, scope, &parent).await?;
        let accounts = accounts_in(aws, scope, &parent).await?;
        parents.extend(units.iter().cloned());
        tree.units.insert(parent.clone(), units);
        tree.accounts.insert(parent, accounts);
    }
    Ok(tree)
}

/// Parents (roots and OUs) read at most in one walk: Organizations allows 2,000 OUs.
const MAX_PARENTS: usize = 2_100;

fn too_large(n: usize) -> super::AwsError {
    super::AwsError {
        service: ORGANIZATIONS.name,
        operation: "ListOrganizationalUnitsForParent",
        kind: super::ErrorKind::Invalid,
        code: "TooManyUnits".into(),
        message: format!("the organization has more than {n} roots and OUs: not walked"),
    }
}

async fn children(aws: &SdkAws, scope: &Scope, parent: &str) -> AwsResult<Vec<String>> {
    pages(LISTING, |token| async move {
        let page = aws
            .call(scope, &ORGANIZATIONS, "ListOrganizationalUnitsForParent", |o| {
                o.list_organizational_units_for_parent().parent_id(parent).set_next_token(token).send()
            })
            .await?;
        let units = page.organizational_units().iter().filter_map(|u| u.id().map(str::to_owned)).collect();
        Ok((units, page.next_token().map(str::to_owned)))
    })
    .await
}

async fn accounts_in(aws: &SdkAws, scope: &Scope, parent: &str) -> AwsResult<Vec<OrgAccount>> {
    pages(LISTING, |token| async move {
        let page = aws
            .call(scope, &ORGANIZATIONS, "ListAccountsForParent", |o| {
                o.list_accounts_for_parent().parent_id(parent).set_next_token(token).send()
            })
            .await?;
        let accounts = page
            .accounts()
            .iter()
            .filter_map(|a| {
                // `State` (ACTIVE, PENDING_ACTIVATION, SUSPENDED, PENDING_CLOSURE, CLOSED)
                // replaced `Status`, which AWS no longer returns; an older answer has only it.
                #[allow(deprecated)]
                let state = a.state().map(|s| s.as_str().to_owned()).or_else(|| a.status().map(|s| s.as_str().to_owned()));
                Some(OrgAccount {
                    id: a.id()?.to_owned(),
                    name: a.name().unwrap_or_default().to_owned(),
                    status: AccountStatus::parse(state.as_deref().unwrap_or("ACTIVE")),
                })
            })
            .collect();
        Ok((accounts, page.next_token().map(str::to_owned)))
    })
    .await
}

/// An OU's children or accounts read at most: Organizations pages by 20 at most, and
/// holds at most 10,000 accounts.
const LISTING: Bound = Bound { pages: 600, items: usize::MAX };

impl SdkAws {
    /// The organization's tree as `scope` (the management account or CloudTrail's
    /// delegated administrator) reads it: what a `TrailPolicySet` targets.
    pub async fn organization_tree(&self, scope: &Scope) -> AwsResult<OrgTree> {
        tree(self, scope).await
    }

    /// Trusted access for CloudTrail and its delegated administrators; each None when the
    /// scope may not ask (only the management account may list the services).
    pub async fn organization_switches(&self, scope: &Scope) -> Switches {
        let access = self
            .call(scope, &ORGANIZATIONS, "ListAWSServiceAccessForOrganization", |o| o.list_aws_service_access_for_organization().send())
            .await
            .map(|out| out.enabled_service_principals().iter().any(|p| p.service_principal() == Some(CLOUDTRAIL)));
        let admins = self
            .call(scope, &ORGANIZATIONS, "ListDelegatedAdministrators", |o| o.list_delegated_administrators().service_principal(CLOUDTRAIL).send())
            .await
            .map(|out| out.delegated_administrators().iter().filter_map(|a| a.id().map(str::to_owned)).collect());
        Switches { cloudtrail_access: access.ok(), delegated_administrators: admins.ok() }
    }
}

const CLOUDTRAIL: &str = "cloudtrail.amazonaws.com";
