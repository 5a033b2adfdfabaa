//! STS: which account a scope acts in.

use trailwarden_core::Scope;

use super::AwsResult;
use super::clients::Service;
use super::sdk::SdkAws;

const STS: Service<aws_sdk_sts::Client> = Service { name: "STS", client: |c| c.sts(), paced: true, kept: None, bounded: true };

pub(super) async fn account_id(aws: &SdkAws, scope: &Scope) -> AwsResult<String> {
    // A role's ARN names its account; only our own needs asking.
    if let Some(account) = scope.role_account() {
        return Ok(account.to_owned());
    }
    let identity = aws.call(scope, &STS, "GetCallerIdentity", |sts| sts.get_caller_identity().send()).await?;
    Ok(identity.account().unwrap_or_default().to_owned())
}
