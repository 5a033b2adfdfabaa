//! A trail's digest chains: one per account and region it delivers for. A multi-region
//! trail writes a chain in each region's folder; an organization trail, in each member
//! account's folder too. Each chain is signed and linked on its own, so each is walked
//! on its own.

use trailwarden_core::Scope;
use trailwarden_core::integrity::DigestLocation;

use crate::aws::AwsResult;
use crate::aws::evidence::EvidencePort;

/// Chains walked for one trail at most; beyond, the walk covers the first ones listed.
/// Each keeps an entry of about 0.8 KiB in the policy's status (the last digest's
/// signature among it): a thousand keep the record well under etcd's object size limit.
pub const MAX_CHAINS: usize = 1_000;

/// The chains present in the bucket for the trail `base` names (its home region's chain
/// is always among them, found or not yet written).
pub async fn discover<P: EvidencePort>(port: &P, scope: &Scope, base: &DigestLocation) -> AwsResult<Vec<DigestLocation>> {
    let region = port.bucket_region(scope, &base.bucket).await?;
    let scope = scope.in_region(&region);
    let accounts = match base.organization_id {
        // The members' folders: twelve-digit names under the organization's.
        Some(_) => {
            let folders = port.list_folders(&scope, &base.bucket, &base.accounts_folder()).await?;
            let mut accounts: Vec<String> = folders.iter().filter_map(|f| last(f)).filter(|a| is_account(a)).map(str::to_owned).collect();
            if !accounts.contains(&base.account) {
                accounts.insert(0, base.account.clone());
            }
            accounts
        }
        None => vec![base.account.clone()],
    };
    let mut chains = vec![base.clone()];
    for account in accounts {
        if chains.len() >= MAX_CHAINS {
            break;
        }
        let at = base.of(&account, &base.region);
        for folder in port.list_folders(&scope, &base.bucket, &at.regions_folder()).await? {
            let Some(region) = last(&folder) else { continue };
            let chain = base.of(&account, region);
            if !chains.contains(&chain) && chains.len() < MAX_CHAINS {
                chains.push(chain);
            }
        }
    }
    Ok(chains)
}

/// `a/b/c/` → `c`.
fn last(folder: &str) -> Option<&str> {
    folder.trim_end_matches('/').rsplit('/').next().filter(|s| !s.is_empty())
}

fn is_account(name: &str) -> bool {
    name.len() == 12 && name.bytes().all(|b| b.is_ascii_digit())
}
