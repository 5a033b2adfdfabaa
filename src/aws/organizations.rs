//! AWS Organizations: which organization an account belongs to, and its management
//! account. An organization trail is owned by the management account even when a delegated
//! administrator creates and manages it (its ARN carries the management account's id).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use trailwarden_core::Scope;
use trailwarden_core::policy::Organization;

use super::AwsResult;
use super::clients::Service;
use super::sdk::SdkAws;

const ORGANIZATIONS: Service<aws_sdk_organizations::Client> =
    Service { name: "Organizations", client: |c| c.organizations(), paced: false, kept: None };

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
