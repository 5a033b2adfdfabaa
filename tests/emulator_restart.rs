//! The emulator restarted under a running controller: AWS unreachable for a moment, then
//! back with all its state gone. While AWS cannot be read the status claims nothing
//! (Logging and Synced Unknown); once it answers, the trail is recreated and logging.
//!
//! It stops the bed's moto, which every other test uses, so it runs on its own after the
//! end-to-end suite (`make test` runs it explicitly; it is not in the default `cargo test`).

#[path = "e2e/support.rs"]
#[allow(dead_code)]
mod support;

use kube::api::Api;
use serde_json::json;
use trailwarden::api::TrailPolicy;
use trailwarden::aws::AwsPort;
use trailwarden_core::Scope;

use support::{Controller, HEAL_TIMEOUT, condition, create_policy, eventually, get, wait_synced};

fn moto(action: &str) {
    let dir = std::env::var("TRAILWARDEN_BED_DIR").expect("the bed's env");
    let status = std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/hack/bed/moto.sh"))
        .args([action, &dir])
        .status()
        .expect("hack/bed/moto.sh runs");
    assert!(status.success(), "moto.sh {action}");
}

#[tokio::test]
async fn a_restarted_emulator_gets_the_trail_back_and_the_outage_is_unknown_not_logging() {
    let client = support::kube().await;
    let aws = support::aws().await;
    let controller = Controller::start(client.clone()).await;
    // The controller's own account: after a restart the emulator knows no assumed role.
    let scope = Scope { role_arn: None, external_id: None, region: support::REGION.to_owned() };
    let bucket = support::unique_name("logs");
    let s3 = aws.s3(&scope).await;
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    // moto's default account, the controller's own here.
    support::open_to_cloudtrail(&s3, &bucket, "123456789012").await;
    let name = support::unique_name("restart");
    create_policy(&client, &controller.policy(&name, json!({
        "region": support::REGION, "s3": {"bucketName": bucket}, "resyncSeconds": 5,
    })))
    .await;
    let arn = wait_synced(&client, &name).await.status.unwrap().trail_arn.unwrap();

    moto("stop");
    let (stopped, _) = eventually("the status says what is unknown", HEAL_TIMEOUT, || async {
        let p = get(&client, &name).await;
        (condition(&p, "Logging").map(|c| c.0) == Some("Unknown".into())).then_some(p)
    })
    .await;
    assert_eq!(condition(&stopped, "Ready"), Some(("False".into(), "AwsUnavailable".into())));
    assert_eq!(condition(&stopped, "Synced").map(|c| c.0), Some("Unknown".into()));
    assert_eq!(stopped.status.as_ref().unwrap().is_logging, None, "no last value is passed off as current");

    moto("start");
    // The emulator forgot everything; the log bucket is the user's and would still be there.
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    support::open_to_cloudtrail(&s3, &bucket, "123456789012").await;
    let ((), took) = eventually("the trail recreated and logging", HEAL_TIMEOUT, || async {
        aws.get_trail_status(&scope, &arn).await.ok()?.is_logging.then_some(())
    })
    .await;
    eventually("TrailRecreated reported", HEAL_TIMEOUT, || async {
        support::event_reasons(&client, &name).await.iter().any(|r| r == "TrailRecreated").then_some(())
    })
    .await;
    // Events go out before the status is written: the status of that pass follows.
    let api = Api::<TrailPolicy>::all(client.clone());
    eventually("the status says logging again", HEAL_TIMEOUT, || async {
        let p = api.get(&name).await.ok()?;
        (condition(&p, "Logging").map(|c| c.0) == Some("True".into())).then_some(())
    })
    .await;
    println!("emulator restarted: trail recreated and logging {:.1} s after it answered again", took.as_secs_f64());
}
