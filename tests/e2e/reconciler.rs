//! The reconciler against the real bed: a controller (in this process, the same code the
//! binary runs) watches the real apiserver and acts on the emulator. Each test breaks a
//! trail directly through the AWS API and checks what a user relies on: the trail healed,
//! and status and Events telling the story.

use std::collections::BTreeMap;
use std::time::Duration;

use kube::api::{Api, DeleteParams};
use serde_json::json;
use trailwarden::api::{OWNER_TAG, OWNER_UID_TAG, TrailPolicy};
use trailwarden::aws::AwsPort;
use trailwarden_core::trail::TrailSettings;

use crate::support::{self, Controller, HEAL_TIMEOUT, account, condition, create_policy, eventually, get, role, trail, wait_synced};

#[tokio::test]
async fn an_in_sync_trail_costs_no_writes_and_few_reads() {
    let client = support::kube().await;
    let aws = support::aws().await;
    let controller = Controller::start(client.clone()).await;
    let acct = account(&aws, 1, 1).await;
    let name = support::unique_name("steady");
    let policy = controller.policy(&name, json!({
        "region": support::REGION, "account": role(&acct),
        "s3": {"bucketName": acct.buckets[0]}, "kmsKeyId": acct.key_alias, "resyncSeconds": 5,
    }));
    create_policy(&client, &policy).await;
    wait_synced(&client, &name).await;
    let calls = controller.port.calls();
    // Passes counted by the same controller that counts the calls, and the calls read the
    // moment a pass is counted: none is then half done (the next is a resync away).
    let passes = || controller.metric("trailwarden_reconciles_total{", "");
    let started = passes();
    let before = calls.snapshot();
    let writes = calls.writes();

    // Watch several resyncs go by.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    while passes() < started + 3.0 {
        assert!(tokio::time::Instant::now() < deadline, "three more reconciles within 40s; saw {}", passes() - started);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let after = calls.snapshot();
    let reconciles = passes() - started;
    assert_eq!(calls.writes() - writes, 0, "an in-sync trail must cost no writes: {:?}", calls.snapshot());
    let per_service = |service: &str| {
        let count = |m: &std::collections::BTreeMap<trailwarden::aws::CallRecord, u64>| {
            m.iter().filter(|(c, _)| c.service == service).map(|(_, n)| *n).sum::<u64>()
        };
        (count(&after) - count(&before)) as f64 / reconciles
    };
    let (cloudtrail, kms, s3) = (per_service("CloudTrail"), per_service("KMS"), per_service("S3"));
    // CloudTrail's are the scarce ones (10/s per account and region, shared): DescribeTrails,
    // GetTrailStatus and ListTags.
    assert!(cloudtrail <= 3.5, "CloudTrail reads per in-sync reconcile: {cloudtrail} ({after:?})");
    println!(
        "in-sync reconciles: {reconciles}, writes 0; reads per reconcile: CloudTrail {cloudtrail:.1}, KMS {kms:.1}, S3 {s3:.1}"
    );
}

#[tokio::test]
async fn audit_mode_reports_drift_and_never_writes() {
    let client = support::kube().await;
    let aws = support::aws().await;
    let controller = Controller::start(client.clone()).await;
    let acct = account(&aws, 1, 0).await;
    let name = support::unique_name("audit");
    // A weak trail that exists before any policy: not logging, no validation.
    let weak = TrailSettings { log_file_validation: false, ..support::plain_settings(&acct.buckets[0]) };
    let arn = aws.create_trail(&acct.scope, &name, &weak, &BTreeMap::new()).await.unwrap();
    let policy = controller.policy(&name, json!({
        "region": support::REGION, "account": role(&acct), "mode": "Audit", "adoption": "Always",
        "s3": {"bucketName": acct.buckets[0]}, "resyncSeconds": 5,
    }));
    create_policy(&client, &policy).await;
    let (p, _) = eventually("drift reported", HEAL_TIMEOUT, || async {
        let p = get(&client, &name).await;
        (condition(&p, "Synced") == Some(("False".into(), "DriftDetected".into()))).then_some(p)
    })
    .await;
    let status = p.status.unwrap();
    let fields: Vec<_> = status.drift.iter().map(|d| d.field.as_str()).collect();
    assert!(fields.contains(&"logging") && fields.contains(&"logFileValidation"), "{fields:?}");
    let p = get(&client, &name).await;
    assert_eq!(condition(&p, "Logging").map(|c| c.0), Some("False".into()));
    let (compliant, reason) = condition(&p, "Compliant").unwrap();
    assert_eq!((compliant.as_str(), reason.as_str()), ("False", "ChecksFailing"));
    let failing: Vec<_> = p.status.unwrap().compliance.into_iter().filter(|c| c.status == trailwarden::api::CheckStatus::Fail).map(|c| c.id).collect();
    assert!(failing.contains(&"CT-LOGGING".to_owned()) && failing.contains(&"CT-LOG-VALIDATION".to_owned()), "{failing:?}");

    // Let a few more passes run, then check nothing was written.
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert_eq!(controller.port.calls().writes(), 0, "audit mode wrote to AWS: {:?}", controller.port.calls().snapshot());
    assert!(!aws.get_trail_status(&acct.scope, &arn).await.unwrap().is_logging, "trail left stopped");
    assert!(aws.list_tags(&acct.scope, &arn).await.unwrap().is_empty(), "trail not tagged");
    assert!(support::event_reasons(&client, &name).await.iter().any(|r| r == "DriftObserved"));

    // Deleting an audit policy touches nothing either.
    Api::<TrailPolicy>::all(client.clone()).delete(&name, &DeleteParams::default()).await.unwrap();
    wait_gone(&client, &name).await;
    assert!(trail(&aws, &acct.scope, &name).await.is_some());
    assert_eq!(controller.port.calls().writes(), 0);
}

async fn wait_gone(client: &kube::Client, name: &str) {
    let api = Api::<TrailPolicy>::all(client.clone());
    eventually("policy deleted (finalizer released)", HEAL_TIMEOUT, || async {
        api.get_opt(name).await.unwrap().is_none().then_some(())
    })
    .await;
}

#[tokio::test]
async fn deletion_policy_retain_keeps_the_trail_and_delete_removes_it() {
    let client = support::kube().await;
    let aws = support::aws().await;
    let controller = Controller::start(client.clone()).await;
    let acct = account(&aws, 1, 0).await;
    let api = Api::<TrailPolicy>::all(client.clone());

    let mut names = vec![];
    for policy in ["Retain", "Delete"] {
        let name = support::unique_name(&policy.to_lowercase());
        create_policy(&client, &controller.policy(&name, json!({
            "region": support::REGION, "account": role(&acct), "deletionPolicy": policy,
            "s3": {"bucketName": acct.buckets[0]}, "tags": {"team": "security"}, "resyncSeconds": 5,
        })))
        .await;
        wait_synced(&client, &name).await;
        names.push(name);
    }
    for name in &names {
        api.delete(name, &DeleteParams::default()).await.unwrap();
        wait_gone(&client, name).await;
    }
    let retained = trail(&aws, &acct.scope, &names[0]).await.expect("Retain keeps the trail");
    let tags = aws.list_tags(&acct.scope, &retained.arn).await.unwrap();
    assert!(!tags.contains_key(OWNER_TAG) && !tags.contains_key(OWNER_UID_TAG), "our tags removed: {tags:?}");
    assert_eq!(tags.get("team").map(String::as_str), Some("security"), "declared tags stay");
    assert!(aws.get_trail_status(&acct.scope, &retained.arn).await.unwrap().is_logging, "retained trail keeps logging");
    assert!(trail(&aws, &acct.scope, &names[1]).await.is_none(), "Delete removes the trail");
}

#[tokio::test]
async fn adoption_follows_the_policy() {
    let client = support::kube().await;
    let aws = support::aws().await;
    let controller = Controller::start(client.clone()).await;
    let acct = account(&aws, 1, 0).await;
    let settings = support::plain_settings(&acct.buckets[0]);
    // (adoption, tag the existing trail for the policy?, expected to be adopted?)
    let cases = [("Never", true, false), ("IfTagged", false, false), ("IfTagged", true, true), ("Always", false, true)];
    let mut names = vec![];
    for (adoption, tagged, _) in cases {
        let name = support::unique_name(&adoption.to_lowercase());
        let tags = if tagged { BTreeMap::from([(OWNER_TAG.to_owned(), name.clone())]) } else { BTreeMap::new() };
        aws.create_trail(&acct.scope, &name, &settings, &tags).await.unwrap();
        create_policy(&client, &controller.policy(&name, json!({
            "region": support::REGION, "account": role(&acct), "adoption": adoption,
            "s3": {"bucketName": acct.buckets[0]}, "resyncSeconds": 5,
        })))
        .await;
        names.push(name);
    }
    for ((adoption, tagged, adopted), name) in cases.iter().zip(&names) {
        let case = format!("adoption {adoption}, tagged {tagged}");
        let arn = trail(&aws, &acct.scope, name).await.unwrap().arn;
        if *adopted {
            let p = wait_synced(&client, name).await;
            let uid = p.metadata.uid.clone().unwrap();
            let tags = aws.list_tags(&acct.scope, &arn).await.unwrap();
            assert_eq!(tags.get(OWNER_UID_TAG), Some(&uid), "{case}: adopted trail carries our uid tag");
            assert!(aws.get_trail_status(&acct.scope, &arn).await.unwrap().is_logging, "{case}: and is corrected");
            assert!(support::event_reasons(&client, name).await.iter().any(|r| r == "TrailAdopted"), "{case}");
        } else {
            let (p, _) = eventually(&format!("{case}: NotOwned"), HEAL_TIMEOUT, || async {
                let p = get(&client, name).await;
                (condition(&p, "Ready") == Some(("False".into(), "NotOwned".into()))).then_some(p)
            })
            .await;
            assert!(p.status.unwrap().conditions[0].message.contains(&arn), "{case}: message names the trail");
            assert!(!aws.get_trail_status(&acct.scope, &arn).await.unwrap().is_logging, "{case}: trail untouched");
            assert!(!aws.list_tags(&acct.scope, &arn).await.unwrap().contains_key(OWNER_UID_TAG), "{case}");
        }
    }
}

#[tokio::test]
async fn missing_bucket_or_key_is_reported_and_nothing_is_created() {
    let client = support::kube().await;
    let aws = support::aws().await;
    let controller = Controller::start(client.clone()).await;
    let acct = account(&aws, 1, 0).await;
    let cases = [
        ("BucketNotFound", json!({"s3": {"bucketName": support::unique_name("missing")}}), "S3BucketDoesNotExistException"),
        ("KmsKeyNotFound", json!({"s3": {"bucketName": acct.buckets[0]}, "kmsKeyId": "alias/does-not-exist"}), "alias/does-not-exist"),
    ];
    for (reason, spec, named) in cases {
        let name = support::unique_name("invalid");
        let mut spec = spec;
        spec["region"] = json!(support::REGION);
        spec["account"] = role(&acct);
        create_policy(&client, &controller.policy(&name, spec)).await;
        let (p, _) = eventually(reason, HEAL_TIMEOUT, || async {
            let p = get(&client, &name).await;
            (condition(&p, "Ready").map(|c| c.1) == Some(reason.to_owned())).then_some(p)
        })
        .await;
        let message = &p.status.unwrap().conditions[0].message;
        assert!(message.contains(named), "{reason}: message {message:?} should name {named}");
        assert!(trail(&aws, &acct.scope, &name).await.is_none(), "{reason}: no trail created");
    }
    assert_eq!(controller.port.calls().snapshot().iter().filter(|(c, _)| c.operation != "CreateTrail" && trailwarden::aws::is_write_operation(&c.operation)).count(), 0);
}

#[tokio::test]
async fn a_policy_that_says_logging_false_stops_a_logging_trail() {
    let client = support::kube().await;
    let aws = support::aws().await;
    let controller = Controller::start(client.clone()).await;
    let acct = account(&aws, 1, 0).await;
    let name = support::unique_name("quiet");
    create_policy(&client, &controller.policy(&name, json!({
        "region": support::REGION, "account": role(&acct), "s3": {"bucketName": acct.buckets[0]}, "resyncSeconds": 5,
    })))
    .await;
    let arn = wait_synced(&client, &name).await.status.unwrap().trail_arn.unwrap();
    assert!(aws.get_trail_status(&acct.scope, &arn).await.unwrap().is_logging);

    let api = Api::<TrailPolicy>::all(client.clone());
    let patch = json!({"spec": {"logging": false}});
    api.patch(&name, &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&patch)).await.unwrap();
    eventually("logging stopped as declared", HEAL_TIMEOUT, || async {
        (!aws.get_trail_status(&acct.scope, &arn).await.unwrap().is_logging).then_some(())
    })
    .await;
    // The status of a pass that saw the spec change (the AWS write lands before it).
    let (p, _) = eventually("the pass that stopped logging reported", HEAL_TIMEOUT, || async {
        let p = get(&client, &name).await;
        let seen = p.status.as_ref()?.observed_generation == p.metadata.generation;
        (seen && condition(&p, "Synced").map(|c| c.0) == Some("True".into())).then_some(p)
    })
    .await;
    assert_eq!(condition(&p, "Logging").map(|c| c.0), Some("False".into()));
}

#[tokio::test]
async fn remediations_and_newly_failing_checks_are_announced_on_sns() {
    let client = support::kube().await;
    let aws = support::aws().await;
    let controller = Controller::start(client.clone()).await;
    let acct = account(&aws, 1, 0).await;
    // A topic with a queue subscribed, so the test can read what was published.
    let topic = support::create_sns_topic(&acct.id, &support::unique_name("trail-alerts"));
    let queue_name = support::unique_name("alerts");
    let created = support::moto_query(&acct.id, "sqs", &[("Action", "CreateQueue"), ("QueueName", &queue_name)]);
    let queue_url = support::xml_value(&created, "QueueUrl").unwrap_or_else(|| panic!("{created}"));
    let queue_arn = format!("arn:aws:sqs:{}:{}:{queue_name}", support::REGION, acct.id);
    let subscribed = support::moto_query(&acct.id, "sns", &[
        ("Action", "Subscribe"), ("TopicArn", &topic), ("Protocol", "sqs"), ("Endpoint", &queue_arn),
        ("Attributes.entry.1.key", "RawMessageDelivery"), ("Attributes.entry.1.value", "true"),
    ]);
    assert!(subscribed.contains("SubscriptionArn"), "{subscribed}");

    let name = support::unique_name("notify");
    create_policy(&client, &controller.policy(&name, json!({
        "region": support::REGION, "account": role(&acct), "s3": {"bucketName": acct.buckets[0]},
        "notify": {"snsTopicArn": topic}, "resyncSeconds": 5,
    })))
    .await;
    let arn = wait_synced(&client, &name).await.status.unwrap().trail_arn.unwrap();
    aws.stop_logging(&acct.scope, &arn).await.unwrap();

    // Received messages leave the queue, so keep every one seen.
    let mut messages: Vec<serde_json::Value> = vec![];
    let deadline = tokio::time::Instant::now() + HEAL_TIMEOUT;
    let restarted = |m: &serde_json::Value| m["kind"] == "Remediation" && m["drift"][0]["field"] == "logging";
    while !messages.iter().any(restarted) {
        assert!(tokio::time::Instant::now() < deadline, "no restart announced; got {messages:#?}");
        let body = support::moto_query(&acct.id, "sqs", &[
            ("Action", "ReceiveMessage"), ("QueueUrl", &queue_url), ("MaxNumberOfMessages", "10"),
        ]);
        messages.extend(
            body.split("<Body>")
                .skip(1)
                .filter_map(|b| b.split("</Body>").next())
                .map(|b| b.replace("&quot;", "\"").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))
                .filter_map(|b| serde_json::from_str(&b).ok()),
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let created = messages.iter().find(|m| m["kind"] == "Remediation" && m["actions"][0] == "CreateTrail");
    assert!(created.is_some(), "the creation was announced too: {messages:#?}");
    let failing = messages.iter().find(|m| m["kind"] == "ChecksFailing").expect("the weak bucket's failing checks announced");
    assert!(failing["failedChecks"].as_array().unwrap().iter().any(|c| c["id"] == "BKT-VERSIONING"), "{failing:#}");
    let restart = messages.iter().find(|m| restarted(m)).expect("restart message");
    assert_eq!(restart["actions"], json!(["StartLogging"]));
    assert_eq!(restart["trailArn"], arn.as_str());
    assert_eq!(restart["account"], acct.id.as_str());
    assert_eq!(restart["policy"], name.as_str());
    assert!(restart["time"].as_str().is_some());
}
