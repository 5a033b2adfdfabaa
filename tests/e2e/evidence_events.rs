//! Every call that goes after the logs rather than the trail is an event the shipped rules
//! watch (deploy/events) and the controller maps to its policy: each is detected at once
//! (the event matched, a pass started) and, where the policy manages it, undone — with the
//! resync an hour away, so nothing but the event path does it.

use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, ExpirationStatus, LifecycleExpiration, LifecycleRule, LifecycleRuleFilter, ObjectOwnership, OwnershipControls,
    OwnershipControlsRule, ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
};
use serde_json::json;
use trailwarden::api::CheckStatus;

use crate::events::{publish, queue_and_rule};
use crate::support::{self, Controller, HEAL_TIMEOUT, account, create_policy, eventually, role, wait_synced};

/// Events of `name` the controller read and matched to a policy.
fn matched(controller: &Controller, name: &str) -> f64 {
    controller.metric("trailwarden_events_total{", &format!("event=\"{name}\",outcome=\"matched\""))
}

#[tokio::test]
async fn each_call_against_the_logs_is_detected_through_its_event_and_undone_where_managed() {
    let client = support::kube().await;
    let aws = support::aws().await;
    let url = queue_and_rule();
    let controller = Controller::start_with_events(client.clone(), &url).await;
    let acct = account(&aws, 1, 1).await;
    let bucket = acct.buckets[0].clone();
    let name = support::unique_name("evidence-events");
    create_policy(&client, &controller.policy(&name, json!({
        "region": support::REGION, "account": role(&acct), "s3": {"bucketName": bucket},
        "kmsKeyId": acct.key_arns[0], "resyncSeconds": 3600,
        "posture": {"bucket": {"manage": true, "objectLock": {"mode": "Governance", "days": 365}}, "kms": {"manage": true}},
    })))
    .await;
    wait_synced(&client, &name).await;
    let s3 = aws.s3(&acct.scope).await;
    let kms = aws_sdk_kms::Client::new(&aws.sdk_config(&acct.scope).await);
    let key = acct.key_arns[0].clone();
    let s3_event = |call: &str| publish("aws.s3", call, &acct.id, json!({"bucketName": bucket}), None);
    let detected = |call: &'static str| {
        let controller = &controller;
        async move {
            eventually(&format!("{call}'s event matched"), HEAL_TIMEOUT, || async { (matched(controller, call) >= 1.0).then_some(()) }).await;
        }
    };
    let check = |id: &'static str| {
        let client = client.clone();
        let name = name.clone();
        async move {
            let p = support::get(&client, &name).await;
            p.status?.compliance.into_iter().find(|c| c.id == id).map(|c| (c.status, c.message))
        }
    };

    // PutBucketLifecycle: Stratus Red Team's rule, undone.
    let rule = LifecycleRule::builder()
        .id("expire-all")
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix("").build())
        .expiration(LifecycleExpiration::builder().days(1).build())
        .build()
        .unwrap();
    let rules = BucketLifecycleConfiguration::builder().rules(rule).build().unwrap();
    s3.put_bucket_lifecycle_configuration().bucket(&bucket).lifecycle_configuration(rules).send().await.unwrap();
    s3_event("PutBucketLifecycle");
    detected("PutBucketLifecycle").await;
    eventually("the lifecycle rule lengthened", HEAL_TIMEOUT, || async {
        let rules = s3.get_bucket_lifecycle_configuration().bucket(&bucket).send().await.ok()?;
        (rules.rules().first()?.expiration()?.days() == Some(365)).then_some(())
    })
    .await;

    // DeleteBucketLifecycle: nothing of the policy's to put back, but seen.
    s3.delete_bucket_lifecycle().bucket(&bucket).send().await.unwrap();
    s3_event("DeleteBucketLifecycle");
    detected("DeleteBucketLifecycle").await;

    // PutObjectLockConfiguration: the default retention shortened to a day, put back.
    support::set_default_retention(&s3, &bucket, 1).await;
    s3_event("PutObjectLockConfiguration");
    detected("PutObjectLockConfiguration").await;
    eventually("the retention put back", HEAL_TIMEOUT, || async {
        let c = s3.get_object_lock_configuration().bucket(&bucket).send().await.ok()?.object_lock_configuration?;
        (c.rule()?.default_retention()?.days() == Some(365)).then_some(())
    })
    .await;

    // PutBucketOwnershipControls / DeleteBucketOwnershipControls: ACLs back on, turned off again.
    let writer = OwnershipControls::builder()
        .rules(OwnershipControlsRule::builder().object_ownership(ObjectOwnership::ObjectWriter).build().unwrap())
        .build()
        .unwrap();
    s3.put_bucket_ownership_controls().bucket(&bucket).ownership_controls(writer).send().await.unwrap();
    s3_event("PutBucketOwnershipControls");
    detected("PutBucketOwnershipControls").await;
    let enforced = || async {
        let o = s3.get_bucket_ownership_controls().bucket(&bucket).send().await.ok()?;
        (o.ownership_controls()?.rules().first()?.object_ownership() == &ObjectOwnership::BucketOwnerEnforced).then_some(())
    };
    eventually("ACLs off again", HEAL_TIMEOUT, enforced).await;
    s3.delete_bucket_ownership_controls().bucket(&bucket).send().await.unwrap();
    s3_event("DeleteBucketOwnershipControls");
    detected("DeleteBucketOwnershipControls").await;
    eventually("ACLs off again after the controls were deleted", HEAL_TIMEOUT, enforced).await;

    // PutBucketEncryption / DeleteBucketEncryption: judged, named.
    let by_default = ServerSideEncryptionByDefault::builder().sse_algorithm(ServerSideEncryption::AwsKms).kms_master_key_id(&key).build().unwrap();
    let sse = ServerSideEncryptionConfiguration::builder()
        .rules(ServerSideEncryptionRule::builder().apply_server_side_encryption_by_default(by_default).build())
        .build()
        .unwrap();
    s3.put_bucket_encryption().bucket(&bucket).server_side_encryption_configuration(sse).send().await.unwrap();
    s3_event("PutBucketEncryption");
    detected("PutBucketEncryption").await;
    eventually("SSE-KMS reported", HEAL_TIMEOUT, || async { check("BKT-DEFAULT-ENCRYPTION").await.filter(|(_, m)| m.contains("SSE-KMS")) }).await;
    s3.delete_bucket_encryption().bucket(&bucket).send().await.unwrap();
    s3_event("DeleteBucketEncryption");
    detected("DeleteBucketEncryption").await;
    eventually("S3's own default reported", HEAL_TIMEOUT, || async {
        check("BKT-DEFAULT-ENCRYPTION").await.filter(|(s, m)| *s == CheckStatus::Pass && m.contains("SSE-S3"))
    })
    .await;

    // DisableKey / ScheduleKeyDeletion: the key brought back.
    let state = || async { kms.describe_key().key_id(&key).send().await.ok()?.key_metadata?.key_state };
    kms.disable_key().key_id(&key).send().await.unwrap();
    publish("aws.kms", "DisableKey", &acct.id, json!({"keyId": key}), None);
    detected("DisableKey").await;
    eventually("the key enabled again", HEAL_TIMEOUT, || async { state().await.filter(|s| s.as_str() == "Enabled") }).await;
    kms.schedule_key_deletion().key_id(&key).pending_window_in_days(7).send().await.unwrap();
    publish("aws.kms", "ScheduleKeyDeletion", &acct.id, json!({"keyId": key}), None);
    detected("ScheduleKeyDeletion").await;
    eventually("the deletion cancelled, the key enabled", HEAL_TIMEOUT, || async { state().await.filter(|s| s.as_str() == "Enabled") }).await;

    // DeleteBucket: the log bucket gone is reported, never recreated or written by us. The
    // attacker empties it first (other tests' delivery rounds reach every logging trail,
    // as CloudTrail would), past Object Lock's Governance mode with the right to bypass it.
    let versions = s3.list_object_versions().bucket(&bucket).send().await.unwrap();
    let ids = versions
        .versions()
        .iter()
        .map(|v| (v.key().unwrap().to_owned(), v.version_id().map(str::to_owned)))
        .chain(versions.delete_markers().iter().map(|m| (m.key().unwrap().to_owned(), m.version_id().map(str::to_owned))));
    for (key, version) in ids.collect::<Vec<_>>() {
        s3.delete_object().bucket(&bucket).key(key).set_version_id(version).bypass_governance_retention(true).send().await.unwrap();
    }
    s3.delete_bucket().bucket(&bucket).send().await.unwrap();
    s3_event("DeleteBucket");
    detected("DeleteBucket").await;
    eventually("the missing bucket reported, the policy not compliant", HEAL_TIMEOUT, || async {
        let (status, message) = check("BKT-EXISTS").await?;
        let p = support::get(&client, &name).await;
        let compliant = support::condition(&p, "Compliant")?;
        (status == CheckStatus::Fail && message.contains("does not exist") && compliant.0 == "False").then_some(())
    })
    .await;
    assert!(s3.head_bucket().bucket(&bucket).send().await.is_err(), "the bucket is not recreated");
}
