//! What goes after the logs rather than the trail, on the bed. BKT-LOG-RETENTION: Stratus
//! Red Team's `cloudtrail-lifecycle-rule` (a rule expiring everything after a day) is
//! reported, and under `manage` lengthened to the policy's retention — that rule only,
//! every other rule kept as it was. BKT-CLOUDTRAIL-POLICY: a statement denying CloudTrail
//! the trail's delivery is removed under `manage`, named, every other statement kept.

use std::time::Duration;

use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, ExpirationStatus, LifecycleExpiration, LifecycleRule, LifecycleRuleFilter, NoncurrentVersionExpiration,
};
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use trailwarden::api::{CheckStatus, TrailPolicy};

use crate::support::{self, Controller, eventually};

const WAIT: Duration = Duration::from_secs(60);

fn rule(id: &str, prefix: &str, days: Option<i32>, noncurrent_days: Option<i32>) -> LifecycleRule {
    LifecycleRule::builder()
        .id(id)
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix(prefix).build())
        .set_expiration(days.map(|d| LifecycleExpiration::builder().days(d).build()))
        .set_noncurrent_version_expiration(noncurrent_days.map(|d| NoncurrentVersionExpiration::builder().noncurrent_days(d).build()))
        .build()
        .unwrap()
}

fn retention(p: &TrailPolicy) -> Option<(CheckStatus, String)> {
    let check = p.status.as_ref()?.compliance.iter().find(|c| c.id == "BKT-LOG-RETENTION")?;
    Some((check.status, check.message.clone()))
}

#[tokio::test]
async fn a_rule_expiring_the_logs_is_reported_then_lengthened_keeping_every_other_rule() {
    let client = support::kube().await;
    let aws = support::aws().await;
    let controller = Controller::start(client.clone()).await;
    let account = support::account(&aws, 1, 0).await;
    let bucket = account.buckets[0].clone();
    let name = support::unique_name("retained");
    let policy = controller.policy(&name, json!({
        "region": support::REGION,
        "account": support::role(&account),
        "s3": {"bucketName": bucket},
        "resyncSeconds": 5,
    }));
    support::create_policy(&client, &policy).await;
    support::wait_synced(&client, &name).await;

    // The technique's call: everything gone after a day. Beside it, rules that are not
    // about the logs, or keep them long enough.
    let s3 = aws.s3(&account.scope).await;
    let rules = vec![
        rule("expire-all", "", Some(1), None),
        rule("tmp-cleanup", "tmp/", Some(1), None),
        rule("noncurrent-logs", "AWSLogs/", None, Some(30)),
        rule("keep-two-years", "AWSLogs/", Some(730), None),
    ];
    let configuration = BucketLifecycleConfiguration::builder().set_rules(Some(rules)).build().unwrap();
    s3.put_bucket_lifecycle_configuration().bucket(&bucket).lifecycle_configuration(configuration).send().await.unwrap();

    let ((_, message), _) = eventually("BKT-LOG-RETENTION fails, naming the rules", WAIT, || async {
        retention(&support::get(&client, &name).await).filter(|(status, _)| *status == CheckStatus::Fail)
    })
    .await;
    assert!(message.contains("\"expire-all\" expires them after 1 days"), "{message}");
    assert!(message.contains("\"noncurrent-logs\" expires their noncurrent versions after 30 days"), "{message}");
    assert!(!message.contains("tmp-cleanup") && !message.contains("keep-two-years"), "{message}");
    let untouched = s3.get_bucket_lifecycle_configuration().bucket(&bucket).send().await.unwrap();
    assert_eq!(untouched.rules().len(), 4, "without manage nothing is written");

    let api = Api::<TrailPolicy>::all(client.clone());
    let manage = json!({"spec": {"posture": {"bucket": {"manage": true}}}});
    api.patch(&name, &PatchParams::default(), &Patch::Merge(&manage)).await.unwrap();
    eventually("BKT-LOG-RETENTION passes", WAIT, || async {
        retention(&support::get(&client, &name).await).filter(|(status, _)| *status == CheckStatus::Pass)
    })
    .await;
    let kept = s3.get_bucket_lifecycle_configuration().bucket(&bucket).send().await.unwrap();
    let by_id = |id: &str| kept.rules().iter().find(|r| r.id() == Some(id)).unwrap_or_else(|| panic!("{id} kept: {kept:?}")).clone();
    assert_eq!(by_id("expire-all").expiration().and_then(|e| e.days()), Some(365));
    assert_eq!(by_id("noncurrent-logs").noncurrent_version_expiration().and_then(|e| e.noncurrent_days()), Some(365));
    assert_eq!(by_id("tmp-cleanup").expiration().and_then(|e| e.days()), Some(1), "a rule not about the logs is kept as it was");
    assert_eq!(by_id("keep-two-years").expiration().and_then(|e| e.days()), Some(730));
    eventually("the correction named in an Event", WAIT, || async {
        let events = support::event_notes(&client, &name).await;
        events.iter().any(|n| n.contains("PutBucketLifecycleConfiguration") && n.contains("expire-all")).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_statement_denying_cloudtrail_the_delivery_is_removed_under_manage_and_named() {
    let client = support::kube().await;
    let aws = support::aws().await;
    let controller = Controller::start(client.clone()).await;
    let account = support::account(&aws, 1, 0).await;
    let bucket = account.buckets[0].clone();
    let name = support::unique_name("undenied");
    let policy = controller.policy(&name, json!({
        "region": support::REGION,
        "account": support::role(&account),
        "s3": {"bucketName": bucket},
        "posture": {"bucket": {"manage": true}},
        "resyncSeconds": 5,
    }));
    support::create_policy(&client, &policy).await;
    support::wait_synced(&client, &name).await;

    let s3 = aws.s3(&account.scope).await;
    let current: serde_json::Value =
        serde_json::from_str(s3.get_bucket_policy().bucket(&bucket).send().await.unwrap().policy().unwrap()).unwrap();
    let mut blinded = current.clone();
    let statements = blinded["Statement"].as_array_mut().unwrap();
    statements.push(json!({"Sid": "BlindCloudTrail", "Effect": "Deny", "Principal": {"Service": "cloudtrail.amazonaws.com"},
        "Action": "s3:PutObject", "Resource": format!("arn:aws:s3:::{bucket}/*")}));
    statements.push(json!({"Sid": "TheirsToKeep", "Effect": "Deny", "Principal": "*", "Action": "s3:DeleteBucket",
        "Resource": format!("arn:aws:s3:::{bucket}")}));
    s3.put_bucket_policy().bucket(&bucket).policy(blinded.to_string()).send().await.unwrap();

    let (now, _) = eventually("the Deny removed", WAIT, || async {
        let text = s3.get_bucket_policy().bucket(&bucket).send().await.ok()?.policy()?.to_owned();
        (!text.contains("BlindCloudTrail")).then_some(text)
    })
    .await;
    assert!(now.contains("TheirsToKeep"), "every other statement kept: {now}");
    eventually("the removal named in an Event", WAIT, || async {
        let notes = support::event_notes(&client, &name).await;
        notes.iter().any(|n| n.contains("PutBucketPolicy") && n.contains("BlindCloudTrail")).then_some(())
    })
    .await;
}

#[tokio::test]
async fn write_once_logs_object_lock_is_set_as_declared_and_put_back_when_shortened() {
    use aws_sdk_s3::types::{ObjectLockEnabled, ObjectLockRetentionMode};
    let client = support::kube().await;
    let aws = support::aws().await;
    let controller = Controller::start(client.clone()).await;
    let account = support::account(&aws, 1, 0).await;
    let bucket = account.buckets[0].clone();
    let name = support::unique_name("write-once");
    let policy = controller.policy(&name, json!({
        "region": support::REGION,
        "account": support::role(&account),
        "s3": {"bucketName": bucket},
        "posture": {"bucket": {"manage": true, "objectLock": {"mode": "Governance", "days": 365}}},
        "resyncSeconds": 5,
    }));
    support::create_policy(&client, &policy).await;
    let s3 = aws.s3(&account.scope).await;
    let retention = || async {
        let c = s3.get_object_lock_configuration().bucket(&bucket).send().await.ok()?.object_lock_configuration?;
        let d = c.rule()?.default_retention()?.clone();
        Some((c.object_lock_enabled().cloned(), d.mode().cloned(), d.days()))
    };
    let declared = (Some(ObjectLockEnabled::Enabled), Some(ObjectLockRetentionMode::Governance), Some(365));
    eventually("Object Lock on with the declared retention", WAIT, || async { retention().await.filter(|r| *r == declared) }).await;
    let p = support::wait_synced(&client, &name).await;
    let status_of = |p: &TrailPolicy, id: &str| {
        p.status.as_ref().unwrap().compliance.iter().find(|c| c.id == id).map(|c| (c.status, c.message.clone())).unwrap()
    };
    assert_eq!(status_of(&p, "BKT-DEFAULT-ENCRYPTION").0, CheckStatus::Pass, "S3's default encryption is reported");

    // Someone with the right shortens the default retention to a day.
    support::set_default_retention(&s3, &bucket, 1).await;
    eventually("the declared retention put back", WAIT, || async { retention().await.filter(|r| *r == declared) }).await;
    eventually("BKT-OBJECT-LOCK passes, required", WAIT, || async {
        let p = support::get(&client, &name).await;
        let check = p.status.as_ref()?.compliance.iter().find(|c| c.id == "BKT-OBJECT-LOCK")?.clone();
        (check.status == CheckStatus::Pass && check.required).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_trail_whose_topic_is_deleted_or_refuses_cloudtrail_reports_its_notifications_failing() {
    let client = support::kube().await;
    let aws = support::aws().await;
    let controller = Controller::start(client.clone()).await;
    let account = support::account(&aws, 1, 0).await;
    let topic_name = support::unique_name("trail-notices");
    let topic = support::create_sns_topic(&account.id, &topic_name);
    // The topic lets CloudTrail publish, as CloudTrail's guide has it.
    let grant = json!({"Version": "2012-10-17", "Statement": [{"Sid": "CloudTrailPublish", "Effect": "Allow",
        "Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "SNS:Publish", "Resource": topic}]});
    let set_policy = |policy: String| {
        support::moto_query(&account.id, "sns", &[
            ("Action", "SetTopicAttributes"), ("TopicArn", &topic), ("AttributeName", "Policy"),
            ("AttributeValue", &policy), ("Version", "2010-03-31"),
        ])
    };
    set_policy(grant.to_string());
    let name = support::unique_name("notified");
    let policy = controller.policy(&name, json!({
        "region": support::REGION,
        "account": support::role(&account),
        "s3": {"bucketName": account.buckets[0]},
        "snsTopicName": topic_name,
        "resyncSeconds": 5,
    }));
    support::create_policy(&client, &policy).await;
    let arn = support::wait_synced(&client, &name).await.status.and_then(|s| s.trail_arn).expect("the trail's ARN");
    let health = || async {
        let p = support::get(&client, &name).await;
        let check = p.status?.compliance.into_iter().find(|c| c.id == "CT-DELIVERY-HEALTH")?;
        Some((check.status, check.message))
    };
    support::deliver(true, &arn);
    eventually("a delivery notified, nothing failing", WAIT, || async { health().await.filter(|(s, _)| *s == CheckStatus::Pass) }).await;

    // The topic's policy narrowed to the owner alone: CloudTrail can no longer publish.
    let owner_only = json!({"Version": "2012-10-17", "Statement": [{"Sid": "OwnerOnly", "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{}:root", account.id)}, "Action": "SNS:Publish", "Resource": topic}]});
    set_policy(owner_only.to_string());
    support::deliver(true, &arn);
    eventually("the refusal reported", WAIT, || async {
        health().await.filter(|(s, m)| *s == CheckStatus::Fail && m.contains("notification") && m.contains("AuthorizationError"))
    })
    .await;

    // The topic deleted.
    support::moto_query(&account.id, "sns", &[("Action", "DeleteTopic"), ("TopicArn", &topic), ("Version", "2010-03-31")]);
    support::deliver(true, &arn);
    eventually("the missing topic reported", WAIT, || async {
        health().await.filter(|(s, m)| *s == CheckStatus::Fail && m.contains("notification") && m.contains("NotFound"))
    })
    .await;
}
