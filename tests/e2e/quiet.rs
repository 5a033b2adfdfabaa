//! A controller that finds nothing to change writes nothing to the apiserver: neither the
//! status (the time of each look is a metric) nor the same Warning every pass.

use serde_json::json;
use trailwarden::aws::AwsPort;

use crate::support::{self, Controller, HEAL_TIMEOUT, account, create_policy, eventually, role, wait_synced};

fn last_look(controller: &Controller, name: &str) -> f64 {
    controller.metric("trailwarden_policy_last_look_timestamp_seconds{", &format!("policy=\"{name}\""))
}

#[tokio::test]
async fn passes_that_change_nothing_write_no_status_and_repeat_no_event() {
    let client = support::kube().await;
    let aws = support::aws().await;
    let acct = account(&aws, 1, 0).await;
    let controller = Controller::start(client.clone()).await;
    let name = support::unique_name("quiet");
    create_policy(&client, &controller.policy(&name, json!({
        "region": support::REGION, "account": role(&acct), "s3": {"bucketName": acct.buckets[0]}, "resyncSeconds": 5,
    })))
    .await;
    wait_synced(&client, &name).await;
    // Settled: the first look after the creation has recorded when logging started.
    let (first, _) = eventually("the trail looked at once created", HEAL_TIMEOUT, || async {
        let policy = support::get(&client, &name).await;
        policy.status.as_ref()?.delivery.as_ref()?.start_logging_time.as_ref()?;
        Some(policy)
    })
    .await;
    let before = first.metadata.resource_version.clone();
    let looked = last_look(&controller, &name);
    eventually("three more looks", HEAL_TIMEOUT, || async {
        let now = last_look(&controller, &name);
        (now >= looked + 10.0).then_some(())
    })
    .await;
    let second = support::get(&client, &name).await;
    let after = second.metadata.resource_version.clone();
    assert_eq!(
        before,
        after,
        "passes that changed nothing rewrote the status:\n{}\n{}",
        serde_json::to_string(&first.status).unwrap(),
        serde_json::to_string(&second.status).unwrap()
    );

    // An Audit-mode policy with a trail to create says so (a Warning) at its first pass; the
    // passes after it, which find the same, do not say it again.
    let audit = support::unique_name("quiet-audit");
    create_policy(&client, &controller.policy(&audit, json!({
        "region": support::REGION, "account": role(&acct), "s3": {"bucketName": acct.buckets[0]}, "resyncSeconds": 5, "mode": "Audit",
    })))
    .await;
    eventually("the audit finding said", HEAL_TIMEOUT, || async {
        support::event_reasons(&client, &audit).await.iter().any(|r| r == "DriftObserved").then_some(())
    })
    .await;
    let looked = last_look(&controller, &audit);
    eventually("three more looks at the audit policy", HEAL_TIMEOUT, || async { (last_look(&controller, &audit) >= looked + 10.0).then_some(()) })
        .await;
    let events: kube::Api<k8s_openapi::api::core::v1::Event> = kube::Api::namespaced(client.clone(), "default");
    let said = events.list(&kube::api::ListParams::default().fields(&format!("involvedObject.name={audit}"))).await.unwrap();
    let repeats: Vec<(Option<String>, Option<i32>, Option<i32>)> = said
        .items
        .iter()
        .map(|e| (e.reason.clone(), e.count, e.series.as_ref().and_then(|s| s.count)))
        .collect();
    assert!(
        repeats.iter().all(|(_, count, series)| count.unwrap_or(1) <= 1 && series.is_none()),
        "the same Warning published again by passes that changed nothing: {repeats:?}"
    );

    // Something changes: the status is written again.
    let arn = support::get(&client, &name).await.status.unwrap().trail_arn.unwrap();
    aws.stop_logging(&acct.scope, &arn).await.unwrap();
    eventually("the heal written", HEAL_TIMEOUT, || async {
        let policy = support::get(&client, &name).await;
        (policy.metadata.resource_version != after && policy.status?.remediation_count >= 2).then_some(())
    })
    .await;
}
