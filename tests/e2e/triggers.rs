//! Reasons to reconcile besides a spec change and the resync.

use std::time::Duration;

use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use trailwarden::api::TrailPolicy;
use trailwarden::aws::AwsPort;
use trailwarden::triggers::requested::ANNOTATION;

use crate::support::{self, Controller, condition, eventually};

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test]
async fn the_reconcile_at_annotation_starts_a_pass_and_nothing_else_does() {
    let client = support::kube().await;
    let aws = support::aws().await;
    let controller = Controller::start(client.clone()).await;
    let (account, scope) = support::fresh_account();
    let bucket = support::unique_name("logs");
    let s3 = aws.s3(&scope).await;
    s3.create_bucket().bucket(&bucket).send().await.expect("create bucket");
    support::open_to_cloudtrail(&s3, &bucket, &account).await;
    let name = support::unique_name("asked");
    // An hour between looks: only the annotation can bring the next pass within the test.
    let policy = controller.policy(&name, json!({
        "region": support::REGION,
        "account": {"roleArn": format!("arn:aws:iam::{account}:role/trailwarden")},
        "s3": {"bucketName": bucket},
        "resyncSeconds": 3600,
    }));
    let api = Api::<TrailPolicy>::all(client.clone());
    api.create(&PostParams::default(), &policy).await.expect("policy accepted");
    let (synced, _) = eventually("Ready and logging", WAIT, || async {
        let p = api.get(&name).await.ok()?;
        (condition(&p, "Logging").map(|c| c.0) == Some("True".into())).then_some(p)
    })
    .await;
    let arn = synced.status.unwrap().trail_arn.expect("trail ARN");
    let looks = || controller.port.calls().snapshot().iter().filter(|(c, _)| c.operation == "DescribeTrails").map(|(_, n)| *n).sum::<u64>();

    // Let the passes of the policy's creation finish. Then logging is stopped: our status
    // writes and an unrelated annotation start no pass.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = looks();
    aws.stop_logging(&scope, &arn).await.unwrap();
    let unrelated = json!({"metadata": {"annotations": {"example.com/owner": "platform"}}});
    api.patch(&name, &PatchParams::default(), &Patch::Merge(&unrelated)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(looks(), before, "no pass without a reason");
    assert!(!aws.get_trail_status(&scope, &arn).await.unwrap().is_logging);

    let asked = json!({"metadata": {"annotations": {ANNOTATION: jiff::Timestamp::now().to_string()}}});
    api.patch(&name, &PatchParams::default(), &Patch::Merge(&asked)).await.unwrap();
    let ((), took) = eventually("logging restored on request", WAIT, || async {
        aws.get_trail_status(&scope, &arn).await.unwrap().is_logging.then_some(())
    })
    .await;
    println!("reconcile-at: logging restored {:.2}s after the annotation changed", took.as_secs_f64());
}
