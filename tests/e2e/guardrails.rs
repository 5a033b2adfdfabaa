//! The operator's guardrails hold whatever a policy says: a policy in an account the
//! controller may not act in costs no AWS call there, and the powers withheld (adoption
//! Always, deletion, manage) are refused with the guardrail named, the trail untouched.

use std::collections::BTreeMap;

use serde_json::json;
use trailwarden::aws::AwsPort;
use trailwarden_core::guardrails::Guardrails;

use crate::faults::{self, Faults};
use crate::support::{self, Controller, HEAL_TIMEOUT, account, condition, create_policy, eventually, get, role, trail};

async fn refused(client: &kube::Client, name: &str) -> String {
    let (message, _) = eventually(&format!("{name}: Ready=False, Guardrail"), HEAL_TIMEOUT, || async {
        let p = get(client, name).await;
        (condition(&p, "Ready")?.1 == "Guardrail").then(|| p.status.unwrap().conditions[0].message.clone())
    })
    .await;
    message
}

#[tokio::test]
async fn policies_outside_the_guardrails_are_refused_and_cost_nothing_in_aws() {
    let client = support::kube().await;
    let aws = support::aws().await;
    let allowed = account(&aws, 1, 0).await;
    let forbidden = account(&aws, 1, 0).await;
    let guardrails = Guardrails {
        allowed_accounts: vec![allowed.id.clone()],
        allowed_roles: vec!["arn:aws:iam::*:role/trailwarden".into()],
        allow_adoption_always: false,
        allow_deletion: false,
        allow_manage: true,
    };
    let controller = Controller::start_guarded(client.clone(), faults::faulty_aws().await, guardrails);
    let watched = Faults::for_account(&forbidden.id);
    watched.reset_stats();

    // Another account: refused, and not one request made there.
    let name = support::unique_name("elsewhere");
    create_policy(&client, &controller.policy(&name, json!({
        "region": support::REGION, "account": role(&forbidden), "s3": {"bucketName": forbidden.buckets[0]},
    })))
    .await;
    let message = refused(&client, &name).await;
    assert!(message.contains(&forbidden.id) && message.contains("--allowed-accounts"), "{message}");

    // A role outside the allowed patterns, in an allowed account.
    let name = support::unique_name("admin-role");
    create_policy(&client, &controller.policy(&name, json!({
        "region": support::REGION, "account": {"roleArn": format!("arn:aws:iam::{}:role/OrganizationAccountAccessRole", allowed.id)},
        "s3": {"bucketName": allowed.buckets[0]},
    })))
    .await;
    assert!(refused(&client, &name).await.contains("--allowed-role-arns"));

    // adoption: Always on someone's stopped trail: refused, the trail as it was.
    let theirs = support::unique_name("theirs");
    aws.create_trail(&allowed.scope, &theirs, &support::plain_settings(&allowed.buckets[0]), &BTreeMap::new()).await.unwrap();
    create_policy(&client, &controller.policy(&theirs, json!({
        "region": support::REGION, "account": role(&allowed), "s3": {"bucketName": allowed.buckets[0]}, "adoption": "Always",
    })))
    .await;
    assert!(refused(&client, &theirs).await.contains("adoption: Always"));
    let arn = trail(&aws, &allowed.scope, &theirs).await.unwrap().arn;
    assert!(!aws.get_trail_status(&allowed.scope, &arn).await.unwrap().is_logging, "their trail untouched");
    assert!(aws.list_tags(&allowed.scope, &arn).await.unwrap().is_empty(), "and not tagged as ours");

    // deletionPolicy: Delete: refused, no trail created.
    let name = support::unique_name("deleting");
    create_policy(&client, &controller.policy(&name, json!({
        "region": support::REGION, "account": role(&allowed), "s3": {"bucketName": allowed.buckets[0]}, "deletionPolicy": "Delete",
    })))
    .await;
    assert!(refused(&client, &name).await.contains("deletionPolicy: Delete"));
    assert!(trail(&aws, &allowed.scope, &name).await.is_none());

    assert_eq!(watched.stats().requests, 0, "no request in the account outside the guardrails");
}
