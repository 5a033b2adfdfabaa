//! SNS: the notices a pass publishes.

use trailwarden_core::Scope;

use super::AwsResult;
use super::clients::Service;
use super::sdk::SdkAws;

const SNS: Service<aws_sdk_sns::Client> = Service { name: "SNS", client: |c| c.sns(), paced: true, kept: None, bounded: true };

/// Publishes from the topic's own region: SNS only accepts a topic in the client's region.
pub(super) async fn publish(aws: &SdkAws, scope: &Scope, topic_arn: &str, subject: &str, message: &str) -> AwsResult<()> {
    let region = topic_arn.split(':').nth(3).filter(|r| !r.is_empty()).unwrap_or(&scope.region);
    let topic_scope = Scope { region: region.to_owned(), ..scope.clone() };
    aws.call(&topic_scope, &SNS, "Publish", |sns| {
        sns.publish().topic_arn(topic_arn).subject(subject).message(message).send()
    })
    .await?;
    Ok(())
}
