//! Holding under attack, on the bed: someone stopping logging each time it comes back,
//! a pass that waits on a call that never answers, the policy itself edited to weaken the
//! trail, the trail's ownership tag pulled, and the key's alias pointed elsewhere.

use std::time::Duration;

use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use trailwarden::api::TrailPolicy;
use trailwarden::aws::AwsPort;
use trailwarden::aws::sdk::{AwsOptions, SdkAws};
use trailwarden_core::floor::Floor;

use crate::faults::{Faults, faulty_endpoint};
use crate::support::{self, Controller, HEAL_TIMEOUT, account, condition, create_policy, event_reasons, eventually, role, wait_synced};

async fn edit(client: &kube::Client, name: &str, spec: serde_json::Value) {
    let api: Api<TrailPolicy> = Api::all(client.clone());
    api.patch(name, &PatchParams::default(), &Patch::Merge(&json!({"spec": spec}))).await.expect("edit the policy");
}

/// Someone with cloudtrail:StopLogging stops logging each time it is back, for 60 s, and
/// no event reaches the controller (an account's only trail: EventBridge hears nothing
/// while it is stopped). The controller keeps restarting it, looks again within seconds
/// of each heal, and calls the trail Contested: a condition, a Warning, a metric.
#[tokio::test]
async fn a_tug_of_war_without_events_is_a_contested_trail_and_every_second_off_is_counted() {
    let client = support::kube().await;
    let aws = support::aws().await;
    let acct = account(&aws, 1, 0).await;
    let controller = Controller::start(client.clone()).await;
    let name = support::unique_name("contested");
    create_policy(&client, &controller.policy(&name, json!({
        "region": support::REGION, "account": role(&acct), "s3": {"bucketName": acct.buckets[0]}, "resyncSeconds": 5,
    })))
    .await;
    let arn = wait_synced(&client, &name).await.status.unwrap().trail_arn.unwrap();

    let (mut samples, mut off, mut stops) = (0u32, 0u32, 0u32);
    let until = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < until {
        let logging = aws.get_trail_status(&acct.scope, &arn).await.unwrap().is_logging;
        samples += 1;
        if logging {
            aws.stop_logging(&acct.scope, &arn).await.unwrap();
            stops += 1;
        } else {
            off += 1;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "tug-of-war, 60 s, resync 5 s, no events: logging off in {off} of {samples} samples ({:.0} %), {stops} stops, {} s counted off",
        100.0 * f64::from(off) / f64::from(samples),
        controller.metric("trailwarden_trail_logging_off_seconds_total{", &name),
    );
    let policy = support::get(&client, &name).await;
    assert_eq!(condition(&policy, "Contested").map(|c| c.0).as_deref(), Some("True"), "{:?}", policy.status);
    assert!(event_reasons(&client, &name).await.iter().any(|r| r == "LoggingContested"));
    assert_eq!(controller.metric("trailwarden_trail_contested{", &name), 1.0);
    assert!(controller.metric("trailwarden_trail_logging_off_seconds_total{", &name) > 0.0);
    // The attack over, the trail is healed and stays so.
    eventually("logging restored after the attack", HEAL_TIMEOUT, || async {
        aws.get_trail_status(&acct.scope, &arn).await.ok()?.is_logging.then_some(())
    })
    .await;
}

/// Every S3 read hangs past the pass's deadline. A StopLogging is still undone at once
/// (logging is restarted before any other read), and the pass that waited is abandoned
/// and reported, naming the call.
#[tokio::test]
async fn a_pass_past_its_deadline_is_abandoned_and_reported_after_logging_is_restored() {
    let client = support::kube().await;
    let aws = support::aws().await;
    let acct = account(&aws, 1, 0).await;
    // Every call may take 60 s: only the pass's deadline (3 s) bounds the hang.
    let port = SdkAws::new(AwsOptions {
        endpoint_url: Some(faulty_endpoint()),
        max_attempts: 1,
        attempt_timeout: Some(Duration::from_secs(60)),
        operation_timeout: Some(Duration::from_secs(60)),
        ..Default::default()
    })
    .await;
    let controller = Controller::start_with_deadline(client.clone(), port, Duration::from_secs(3));
    let name = support::unique_name("deadline");
    create_policy(&client, &controller.policy(&name, json!({
        "region": support::REGION, "account": role(&acct), "s3": {"bucketName": acct.buckets[0]}, "resyncSeconds": 5,
    })))
    .await;
    let arn = wait_synced(&client, &name).await.status.unwrap().trail_arn.unwrap();
    let last_look = support::get(&client, &name).await.status.unwrap_or_default();
    let judged: Vec<String> = last_look.compliance.iter().map(|f| f.id.clone()).collect();

    let faults = Faults::for_account(&acct.id);
    faults.set(json!({"only_services": ["S3"], "latency_ms": 120_000, "ttl_seconds": 90}));
    aws.stop_logging(&acct.scope, &arn).await.unwrap();
    eventually("logging restored while every S3 call hangs", HEAL_TIMEOUT, || async {
        aws.get_trail_status(&acct.scope, &arn).await.ok()?.is_logging.then_some(())
    })
    .await;
    let ((message, kept), _) = eventually("the abandoned pass reported", HEAL_TIMEOUT, || async {
        let status = support::get(&client, &name).await.status?;
        let ready = status.conditions.iter().find(|c| c.type_ == "Ready")?;
        let kept: Vec<String> = status.compliance.iter().map(|f| f.id.clone()).collect();
        (ready.reason == "PassDeadlineExceeded").then(|| (ready.message.clone(), kept))
    })
    .await;
    assert!(message.contains("S3/"), "names the S3 call it waited on: {message}");
    // The record of a pass that could not look carries the last look's findings forward,
    // the passing ones too (the controller's own copy keeps only the failing ones).
    assert!(judged.len() > 1, "the first look judged the trail: {judged:?}");
    assert_eq!(kept, judged, "the abandoned pass's status keeps every finding of the last look");
    assert!(controller.metric("trailwarden_reconcile_errors_total{", "reason=\"PassDeadlineExceeded\"") >= 1.0);
    faults.clear();
}

/// Edits of the policy that weaken its trail are carried out within the floor, but each
/// is a Warning and a metric; below the floor the trail is held and the policy says so.
#[tokio::test]
async fn weakening_edits_warn_and_the_floor_holds() {
    let client = support::kube().await;
    let aws = support::aws().await;
    let acct = account(&aws, 2, 0).await;
    let floor = Floor { logging: true, bucket_accounts: vec![acct.id.clone()], ..Floor::default() };
    let controller = Controller::start_floored(client.clone(), support::controller_aws().await, floor);
    let name = support::unique_name("weaken");
    create_policy(&client, &controller.policy(&name, json!({
        "region": support::REGION, "account": role(&acct), "s3": {"bucketName": acct.buckets[0]},
        "logFileValidation": true, "resyncSeconds": 5,
    })))
    .await;
    let arn = wait_synced(&client, &name).await.status.unwrap().trail_arn.unwrap();

    // Within the floor: validation off and another bucket of the account. Done, and said.
    edit(&client, &name, json!({"logFileValidation": false, "s3": {"bucketName": acct.buckets[1]}})).await;
    eventually("the weakening carried out and warned", HEAL_TIMEOUT, || async {
        (event_reasons(&client, &name).await.iter().any(|r| r == "TrailWeakened")
            && controller.metric("trailwarden_weakening_total{", "change=\"log_file_validation_off\"") >= 1.0
            && controller.metric("trailwarden_weakening_total{", "change=\"bucket_changed\"") >= 1.0)
            .then_some(())
    })
    .await;
    let trail = support::trail(&aws, &acct.scope, &name).await.unwrap();
    assert_eq!(trail.settings.bucket, acct.buckets[1]);

    // Below the floor: logging off, and the logs sent to another account's bucket.
    edit(&client, &name, json!({"logging": false, "s3": {"bucketName": "someone-elses-bucket"}, "logArchive": {"accountId": "999999999999"}})).await;
    eventually("held at the floor", HEAL_TIMEOUT, || async {
        let policy = support::get(&client, &name).await;
        let generation = policy.metadata.generation;
        let status = policy.status.clone()?;
        (status.observed_generation == generation && condition(&policy, "Ready") == Some(("False".into(), "BelowFloor".into())))
            .then_some(())
    })
    .await;
    assert!(aws.get_trail_status(&acct.scope, &arn).await.unwrap().is_logging, "logging kept on");
    assert_eq!(support::trail(&aws, &acct.scope, &name).await.unwrap().settings.bucket, acct.buckets[1], "the bucket kept");
    assert_eq!(controller.metric("trailwarden_policy_below_floor{", &name), 1.0);
    assert_eq!(controller.metric("trailwarden_weakening_total{", "change=\"logging_stopped\""), 0.0);
    // Someone stops it meanwhile: the floor restarts it.
    aws.stop_logging(&acct.scope, &arn).await.unwrap();
    eventually("restarted under the floor", HEAL_TIMEOUT, || async {
        aws.get_trail_status(&acct.scope, &arn).await.ok()?.is_logging.then_some(())
    })
    .await;
}

/// The trail's uid tag is removed and logging stopped, so that the policy would no longer
/// know the trail as its own: it does, by the ARN it remembers, and puts all back.
#[tokio::test]
async fn a_trail_whose_uid_tag_was_pulled_is_still_the_policys_and_healed() {
    let client = support::kube().await;
    let aws = support::aws().await;
    let acct = account(&aws, 1, 0).await;
    let controller = Controller::start(client.clone()).await;
    let name = support::unique_name("tampered");
    create_policy(&client, &controller.policy(&name, json!({
        "region": support::REGION, "account": role(&acct), "s3": {"bucketName": acct.buckets[0]}, "resyncSeconds": 5,
    })))
    .await;
    let status = wait_synced(&client, &name).await.status.unwrap();
    let arn = status.trail_arn.unwrap();
    assert_eq!(status.owned_trail_arn.as_deref(), Some(arn.as_str()));

    let tags = [trailwarden::api::OWNER_UID_TAG.to_owned(), trailwarden::api::OWNER_TAG.to_owned()];
    aws.remove_tags(&acct.scope, &arn, &tags).await.unwrap();
    aws.stop_logging(&acct.scope, &arn).await.unwrap();
    eventually("logging and the tags restored", HEAL_TIMEOUT, || async {
        let logging = aws.get_trail_status(&acct.scope, &arn).await.ok()?.is_logging;
        let tags = aws.list_tags(&acct.scope, &arn).await.ok()?;
        (logging && tags.contains_key(trailwarden::api::OWNER_UID_TAG)).then_some(())
    })
    .await;
    // The pass that put the tag back publishes its Event and writes its status after the
    // tag is back.
    eventually("the tampering reported and the policy Ready", HEAL_TIMEOUT, || async {
        let reported = event_reasons(&client, &name).await.iter().any(|r| r == "OwnershipTampered");
        let ready = condition(&support::get(&client, &name).await, "Ready").map(|c| c.0).as_deref() == Some("True");
        (reported && ready).then_some(())
    })
    .await;
    assert!(controller.metric("trailwarden_ownership_tampered_total{", &name) >= 1.0);
}

/// The alias the policy names is pointed at another key. The trail keeps the key the
/// alias named when the spec last changed, and the move is reported.
#[tokio::test]
async fn an_alias_pointed_at_another_key_is_reported_not_followed() {
    let client = support::kube().await;
    let aws = support::aws().await;
    let acct = account(&aws, 1, 2).await;
    let controller = Controller::start(client.clone()).await;
    let name = support::unique_name("alias");
    create_policy(&client, &controller.policy(&name, json!({
        "region": support::REGION, "account": role(&acct), "s3": {"bucketName": acct.buckets[0]},
        "kmsKeyId": acct.key_alias, "resyncSeconds": 5,
    })))
    .await;
    let status = wait_synced(&client, &name).await.status.unwrap();
    assert_eq!(status.pinned_kms_key.as_ref().map(|p| p.arn.as_str()), Some(acct.key_arns[0].as_str()));

    let kms = aws_sdk_kms::Client::new(&aws.sdk_config(&acct.scope).await);
    kms.update_alias().alias_name(&acct.key_alias).target_key_id(&acct.key_arns[1]).send().await.unwrap();
    eventually("the move reported", HEAL_TIMEOUT, || async {
        event_reasons(&client, &name).await.iter().any(|r| r == "KeyAliasMoved").then_some(())
    })
    .await;
    let trail = support::trail(&aws, &acct.scope, &name).await.unwrap();
    assert_eq!(trail.settings.kms_key.as_deref(), Some(acct.key_arns[0].as_str()), "the trail keeps the pinned key");
    assert_eq!(controller.metric("trailwarden_key_alias_moved{", &name), 1.0);

    // A spec change is a deliberate act: the alias is followed, and pinned, afresh.
    edit(&client, &name, json!({"tags": {"rotated": "yes"}})).await;
    eventually("the alias followed after a spec change", HEAL_TIMEOUT, || async {
        let trail = support::trail(&aws, &acct.scope, &name).await?;
        (trail.settings.kms_key.as_deref() == Some(acct.key_arns[1].as_str())).then_some(())
    })
    .await;
}
