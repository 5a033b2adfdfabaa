//! A controller that finds nothing to change writes nothing to the apiserver: neither the
//! status (the time of each look is a metric) nor the same Warning every pass; the recorder
//! counts a repeat into the Event already there and makes a new note an Event of its own.

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

/// The recorder: a repeat (same object, type, reason, action and note) raises the series
/// count of the Event already there, one write and no new Event; a new note is an Event of
/// its own, whatever was published before under the same reason.
#[tokio::test]
async fn a_repeated_event_is_counted_and_a_new_note_is_an_event_of_its_own() {
    use k8s_openapi::api::events::v1::Event as K8sEvent;
    use kube::runtime::events::{Event, EventType, Reporter};
    let client = support::kube().await;
    let name = support::unique_name("recorded");
    let reference = k8s_openapi::api::core::v1::ObjectReference {
        api_version: Some("trailwarden.dev/v1alpha1".into()),
        kind: Some("TrailPolicy".into()),
        name: Some(name.clone()),
        uid: Some(format!("uid-{name}")),
        ..Default::default()
    };
    let recorder = trailwarden::k8s::recorder::NoteKeeper::new(client.clone(), Reporter { controller: "trailwarden-test".into(), instance: None });
    let said = |note: &str| Event { type_: EventType::Warning, reason: "Throttled".into(), note: Some(note.into()), action: "observe".into(), secondary: None };
    for _ in 0..3 {
        recorder.publish(&said("CloudTrail.DescribeTrails failed (ThrottlingException)"), &reference).await.unwrap();
    }
    recorder.publish(&said("S3.GetBucketPolicy failed (ThrottlingException)"), &reference).await.unwrap();
    let events = kube::Api::<K8sEvent>::namespaced(client.clone(), "default");
    let list = events.list(&kube::api::ListParams::default().fields(&format!("regarding.name={name}"))).await.unwrap();
    let mut seen: Vec<(String, i32)> =
        list.items.iter().map(|e| (e.note.clone().unwrap_or_default(), e.series.as_ref().map_or(1, |s| s.count))).collect();
    seen.sort();
    assert_eq!(
        seen,
        [("CloudTrail.DescribeTrails failed (ThrottlingException)".to_owned(), 3), ("S3.GetBucketPolicy failed (ThrottlingException)".to_owned(), 1)],
        "three of the first note counted in one Event, the second note an Event of its own"
    );
}
