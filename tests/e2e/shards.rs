//! Sharding by label: two controllers, each selecting its shard's policies
//! (`trailwarden.dev/shard`), as two releases of the chart with `shard` set would. A policy
//! moved from one shard to the other (its label changed) is healed by the new shard, and
//! the old one writes nothing more to its trail.

use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use trailwarden::api::TrailPolicy;
use trailwarden::aws::AwsPort;

use crate::support::{self, Controller, HEAL_TIMEOUT, account, create_policy, eventually, role, wait_synced};

#[tokio::test]
async fn a_policy_moved_to_another_shard_is_healed_there_and_left_by_the_first() {
    let client = support::kube().await;
    let aws = support::aws().await;
    let acct = account(&aws, 1, 0).await;
    let run = support::unique_name("shards");
    let a = Controller::start_shard(client.clone(), &run, "a").await;
    let b = Controller::start_shard(client.clone(), &run, "b").await;
    let name = support::unique_name("sharded");
    let mut policy = a.policy(&name, json!({
        "region": support::REGION, "account": role(&acct), "s3": {"bucketName": acct.buckets[0]}, "resyncSeconds": 5,
    }));
    policy.metadata.labels.get_or_insert_with(Default::default).insert("trailwarden.dev/shard".into(), "a".into());
    create_policy(&client, &policy).await;
    let arn = wait_synced(&client, &name).await.status.unwrap().trail_arn.unwrap();
    assert!(a.calls_of("CreateTrail") == 1 && b.calls_of("DescribeTrails") == 0, "shard a made it, shard b never looked");

    // Moved to shard b: b looks at it, and heals it; a writes nothing more.
    let api: Api<TrailPolicy> = Api::all(client.clone());
    let moved = json!({"metadata": {"labels": {"trailwarden.dev/shard": "b"}}});
    api.patch(&name, &PatchParams::default(), &Patch::Merge(&moved)).await.unwrap();
    let looked_by_b = || b.metric("trailwarden_policy_last_look_timestamp_seconds{", &format!("policy=\"{name}\""));
    eventually("shard b looks at the moved policy", HEAL_TIMEOUT, || async { (looked_by_b() > 0.0).then_some(()) }).await;
    let writes_by_a = a.calls_of("StartLogging") + a.calls_of("UpdateTrail") + a.calls_of("AddTags");
    aws.stop_logging(&acct.scope, &arn).await.unwrap();
    eventually("healed by shard b", HEAL_TIMEOUT, || async {
        (aws.get_trail_status(&acct.scope, &arn).await.ok()?.is_logging && b.calls_of("StartLogging") >= 1).then_some(())
    })
    .await;
    // Shard a's own resync (5 s) has come and gone meanwhile: it does not know the policy.
    let looked = looked_by_b();
    eventually("two more looks by shard b", HEAL_TIMEOUT, || async { (looked_by_b() >= looked + 10.0).then_some(()) }).await;
    assert_eq!(a.calls_of("StartLogging") + a.calls_of("UpdateTrail") + a.calls_of("AddTags"), writes_by_a, "shard a wrote to a trail no longer its");
}
