//! One owner per trail, and adoption that never weakens: a second policy naming a trail
//! another live policy owns is refused (`Conflict`, naming the owner) and writes nothing;
//! `adoption: Always` never takes a trail tagged with a live policy's uid; adopting a
//! trail stronger than the spec is refused (`AdoptionWouldWeaken`, naming each loss)
//! unless the policy says `adoptionMayWeaken: true`.

use std::collections::BTreeMap;
use std::time::Duration;

use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::json;
use trailwarden::api::TrailPolicy;
use trailwarden::aws::AwsPort;
use trailwarden_core::trail::{DataResource, EventSelector, InsightType, Insights, ReadWriteType, Selectors};
use trailwarden_core::{OWNER_TAG, OWNER_UID_TAG};

use crate::support::{self, Controller, HEAL_TIMEOUT, account, condition, create_policy, eventually, get, role, trail, wait_synced};

/// Waits until the policy is `Ready=False` with `reason`, and returns the message.
async fn refused(client: &kube::Client, name: &str, reason: &str) -> String {
    let (message, _) = eventually(&format!("{name}: Ready=False, {reason}"), HEAL_TIMEOUT, || async {
        let p = get(client, name).await;
        (condition(&p, "Ready") == Some(("False".into(), reason.into()))).then(|| p.status.unwrap().conditions[0].message.clone())
    })
    .await;
    message
}

async fn delete(client: &kube::Client, name: &str) {
    let api = Api::<TrailPolicy>::all(client.clone());
    api.delete(name, &DeleteParams::default()).await.unwrap();
    eventually(&format!("{name} deleted (finalizer released)"), HEAL_TIMEOUT, || async {
        api.get_opt(name).await.unwrap().is_none().then_some(())
    })
    .await;
}

fn uid(policy: &TrailPolicy) -> String {
    policy.metadata.uid.clone().unwrap()
}

#[tokio::test]
async fn the_younger_of_two_policies_for_one_trail_is_refused_and_writes_nothing() {
    let client = support::kube().await;
    let aws = support::aws().await;
    let controller = Controller::start(client.clone()).await;
    let acct = account(&aws, 1, 0).await;
    let trail_name = support::unique_name("shared");
    let spec = |adoption: &str| {
        json!({
            "region": support::REGION, "account": role(&acct), "trailName": trail_name, "adoption": adoption,
            "s3": {"bucketName": acct.buckets[0]}, "resyncSeconds": 5,
        })
    };
    let elder = support::unique_name("elder");
    create_policy(&client, &controller.policy(&elder, spec("Never"))).await;
    let elder_uid = uid(&wait_synced(&client, &elder).await);
    let arn = trail(&aws, &acct.scope, &trail_name).await.expect("created by the elder").arn;

    // The younger names the same trail: refused, naming the elder; nothing written for it.
    let writes = controller.port.calls().writes();
    let younger = support::unique_name("younger");
    create_policy(&client, &controller.policy(&younger, spec("IfTagged"))).await;
    let message = refused(&client, &younger, "Conflict").await;
    assert!(message.contains(&format!("policy {elder}")) && message.contains(&arn), "{message}");
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert_eq!(controller.port.calls().writes(), writes, "the younger wrote: {:?}", controller.port.calls().snapshot());
    assert_eq!(aws.list_tags(&acct.scope, &arn).await.unwrap().get(OWNER_UID_TAG), Some(&elder_uid), "still the elder's");
    assert_eq!(condition(&get(&client, &elder).await, "Ready"), Some(("True".into(), "Reconciled".into())), "the elder is unmoved");
    assert!(support::event_reasons(&client, &younger).await.iter().any(|r| r == "Conflict"));

    // The elder goes (Retain: the trail stays, our tags go). The younger takes over only as
    // its adoption allows: IfTagged, and the trail is not tagged for it.
    delete(&client, &elder).await;
    let message = refused(&client, &younger, "NotOwned").await;
    assert!(message.contains("IfTagged"), "{message}");
    assert!(!aws.list_tags(&acct.scope, &arn).await.unwrap().contains_key(OWNER_UID_TAG), "not taken");
    aws.add_tags(&acct.scope, &arn, &BTreeMap::from([(OWNER_TAG.to_owned(), younger.clone())])).await.unwrap();
    let p = wait_synced(&client, &younger).await;
    assert_eq!(aws.list_tags(&acct.scope, &arn).await.unwrap().get(OWNER_UID_TAG), Some(&uid(&p)), "adopted once tagged for it");
}

#[tokio::test]
async fn always_never_takes_a_trail_tagged_with_a_live_policys_uid() {
    let client = support::kube().await;
    let aws = support::aws().await;
    let controller = Controller::start(client.clone()).await;
    let acct = account(&aws, 1, 0).await;
    let spec = |trail_name: &str, adoption: &str| {
        json!({
            "region": support::REGION, "account": role(&acct), "trailName": trail_name, "adoption": adoption,
            "s3": {"bucketName": acct.buckets[0]}, "resyncSeconds": 5,
        })
    };
    let keeper = support::unique_name("keeper");
    create_policy(&client, &controller.policy(&keeper, spec(&keeper, "Never"))).await;
    let keeper_uid = uid(&wait_synced(&client, &keeper).await);
    let kept = trail(&aws, &acct.scope, &keeper).await.unwrap().arn;

    // Always, naming the keeper's trail: the keeper owns it.
    let taker = support::unique_name("taker");
    create_policy(&client, &controller.policy(&taker, spec(&keeper, "Always"))).await;
    let message = refused(&client, &taker, "Conflict").await;
    assert!(message.contains(&format!("policy {keeper} (the trail carries its uid tag)")), "{message}");

    // Always, naming another trail that carries the keeper's uid (copied onto it by hand).
    let copied = support::unique_name("copied");
    let tags = BTreeMap::from([(OWNER_UID_TAG.to_owned(), keeper_uid.clone())]);
    aws.create_trail(&acct.scope, &copied, &support::plain_settings(&acct.buckets[0]), &tags).await.unwrap();
    let copied_arn = trail(&aws, &acct.scope, &copied).await.unwrap().arn;
    let other = support::unique_name("other");
    create_policy(&client, &controller.policy(&other, spec(&copied, "Always"))).await;
    let message = refused(&client, &other, "NotOwned").await;
    assert!(message.contains(&format!("policy {keeper}, which is alive")), "{message}");

    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(aws.list_tags(&acct.scope, &kept).await.unwrap().get(OWNER_UID_TAG), Some(&keeper_uid));
    assert_eq!(aws.list_tags(&acct.scope, &copied_arn).await.unwrap(), tags, "the copied trail untouched");
    assert!(!aws.get_trail_status(&acct.scope, &copied_arn).await.unwrap().is_logging, "and not started");

    // Once the keeper is gone, its uid protects nothing: Always takes both trails.
    delete(&client, &keeper).await;
    for name in [&taker, &other] {
        let p = wait_synced(&client, name).await;
        let trail_name = p.spec.trail_name.clone().unwrap();
        let arn = trail(&aws, &acct.scope, &trail_name).await.unwrap().arn;
        assert_eq!(aws.list_tags(&acct.scope, &arn).await.unwrap().get(OWNER_UID_TAG), Some(&uid(&p)), "{name} adopted it");
    }
}

#[tokio::test]
async fn adopting_a_hardened_trail_with_a_minimal_spec_is_refused_unless_allowed() {
    let client = support::kube().await;
    let aws = support::aws().await;
    let controller = Controller::start(client.clone()).await;
    let acct = account(&aws, 1, 1).await;
    let name = support::unique_name("hardened");
    let mut settings = support::plain_settings(&acct.buckets[0]);
    settings.kms_key = Some(acct.key_arns[0].clone());
    aws.create_trail(&acct.scope, &name, &settings, &BTreeMap::new()).await.unwrap();
    let arn = trail(&aws, &acct.scope, &name).await.unwrap().arn;
    let data_events = Selectors::Basic(vec![EventSelector {
        read_write_type: ReadWriteType::All,
        include_management_events: true,
        exclude_management_event_sources: vec![],
        data_resources: vec![DataResource { type_: "AWS::S3::Object".into(), values: vec![format!("arn:aws:s3:::{}/", acct.buckets[0])] }],
    }]);
    aws.put_event_selectors(&acct.scope, &arn, &data_events).await.unwrap();
    aws.put_insight_selectors(&acct.scope, &arn, &Insights::from([InsightType::ApiCallRateInsight])).await.unwrap();
    aws.start_logging(&acct.scope, &arn).await.unwrap();
    let before = trail(&aws, &acct.scope, &name).await.unwrap();

    // A minimal spec: no key, no selectors, no Insights, validation off.
    create_policy(&client, &controller.policy(&name, json!({
        "region": support::REGION, "account": role(&acct), "adoption": "Always", "logFileValidation": false,
        "s3": {"bucketName": acct.buckets[0]}, "resyncSeconds": 5,
    })))
    .await;
    let message = refused(&client, &name, "AdoptionWouldWeaken").await;
    for lost in ["kmsKeyId", "logFileValidation", "eventSelectors (data events of AWS::S3::Object)", "insights (ApiCallRateInsight)"] {
        assert!(message.contains(lost), "{lost} not named: {message}");
    }
    assert!(message.contains(&acct.key_arns[0]) && message.contains("adoptionMayWeaken"), "{message}");
    assert!(!message.contains("multiRegion"), "only what would be lost: {message}");
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(controller.port.calls().writes(), 0, "nothing written: {:?}", controller.port.calls().snapshot());
    assert_eq!(trail(&aws, &acct.scope, &name).await.unwrap(), before, "the trail as it was");
    assert!(aws.list_tags(&acct.scope, &arn).await.unwrap().is_empty(), "not tagged as ours");
    assert_eq!(aws.get_event_selectors(&acct.scope, &arn).await.unwrap(), data_events);
    assert_eq!(aws.get_insight_selectors(&acct.scope, &arn).await.unwrap(), Insights::from([InsightType::ApiCallRateInsight]));
    assert!(support::event_reasons(&client, &name).await.iter().any(|r| r == "AdoptionWouldWeaken"));

    // Opted in: adopted, and made as the spec says.
    let api = Api::<TrailPolicy>::all(client.clone());
    api.patch(&name, &PatchParams::default(), &Patch::Merge(&json!({"spec": {"adoptionMayWeaken": true}}))).await.unwrap();
    let p = wait_synced(&client, &name).await;
    let after = trail(&aws, &acct.scope, &name).await.unwrap();
    assert_eq!((after.settings.kms_key, after.settings.log_file_validation), (None, false));
    assert_eq!(aws.list_tags(&acct.scope, &arn).await.unwrap().get(OWNER_UID_TAG), Some(&uid(&p)));
    assert!(aws.get_insight_selectors(&acct.scope, &arn).await.unwrap().is_empty());
    assert!(support::event_reasons(&client, &name).await.iter().any(|r| r == "TrailAdopted"));
}
