//! Policies of one account and region share their reads: one DescribeTrails and one
//! ListTags serve the passes resynced in the same slot. Shared reads never drive a write:
//! a break announced by an event is healed at once with the shared reads warm.

use std::time::Duration;

use serde_json::json;
use trailwarden::aws::AwsPort;

use crate::events::{publish, queue_and_rule};
use crate::support::{self, Controller, HEAL_TIMEOUT, account, create_policy, eventually, role, wait_synced};

#[tokio::test]
async fn policies_of_one_account_share_reads_and_a_break_still_heals_at_once() {
    let client = support::kube().await;
    let aws = support::aws().await;
    let controller = Controller::start_with_events(client.clone(), &queue_and_rule()).await;
    let acct = account(&aws, 1, 0).await;
    let mut arns = vec![];
    let names: Vec<String> = (0..5).map(|_| support::unique_name("shared")).collect();
    for name in &names {
        create_policy(&client, &controller.policy(name, json!({
            "region": support::REGION, "account": role(&acct), "s3": {"bucketName": acct.buckets[0]}, "resyncSeconds": 5,
        })))
        .await;
    }
    for name in &names {
        arns.push(wait_synced(&client, name).await.status.unwrap().trail_arn.unwrap());
    }

    // A steady window: every pass in sync, the group's passes in one slot.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let (passes, trails, tags, writes) =
        (controller.metric("trailwarden_reconciles_total{", ""), controller.calls_of("DescribeTrails"), controller.calls_of("ListTags"), controller.port.calls().writes());
    tokio::time::sleep(Duration::from_secs(15)).await;
    let passes = controller.metric("trailwarden_reconciles_total{", "") - passes;
    let trails = controller.calls_of("DescribeTrails") - trails;
    let tags = controller.calls_of("ListTags") - tags;
    println!("shared reads: {passes} passes of 5 policies in 15 s made {trails} DescribeTrails and {tags} ListTags");
    assert!(passes >= 10.0, "the resync ran: {passes} passes");
    assert!((trails as f64) < passes / 2.0, "{trails} DescribeTrails for {passes} passes: reads not shared");
    assert!((tags as f64) < passes / 2.0, "{tags} ListTags for {passes} passes: tags not read together");
    assert_eq!(controller.port.calls().writes(), writes, "a steady window writes nothing");

    // Shared reads warm, someone stops one trail and its event arrives: healed in seconds,
    // not at the next slot of a window-old answer.
    aws.stop_logging(&acct.scope, &arns[2]).await.unwrap();
    publish("aws.cloudtrail", "StopLogging", &acct.id, json!({"name": arns[2]}), None);
    let ((), took) = eventually("healed through the event with shared reads warm", HEAL_TIMEOUT, || async {
        aws.get_trail_status(&acct.scope, &arns[2]).await.ok()?.is_logging.then_some(())
    })
    .await;
    println!("shared reads: StopLogging healed {:.2} s after its event", took.as_secs_f64());
    assert!(took < Duration::from_secs(5), "healed by the event, not by the next resync: {took:?}");
}
