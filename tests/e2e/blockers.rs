//! What may block a heal, each combined with StopLogging: logging is back in the very
//! pass that meets the blocker, the blocker is reported by name (the stage and the AWS
//! error, or the failing check), and the blocked stage leaves what it would have changed
//! untouched. The controller acts through the fault proxy, which refuses one operation
//! for this test's account only.

use kube::api::Api;
use serde_json::{Value, json};
use trailwarden::api::TrailPolicy;
use trailwarden::aws::AwsPort;
use trailwarden::aws::sdk::SdkAws;
use trailwarden_core::trail::{Selectors, TrailSettings};

use crate::faults::{self, Faults};
use crate::support::{self, Account, Controller, HEAL_TIMEOUT, account, condition, create_policy, eventually, role, trail, wait_synced};

/// One policy over a fresh account, reconciled through the fault proxy.
struct Case {
    client: kube::Client,
    aws: SdkAws,
    acct: Account,
    faults: Faults,
    name: String,
    arn: String,
    _controller: Controller,
}

impl Case {
    async fn new(extra: Value) -> Case {
        Case::new_with(|_| extra).await
    }

    /// A case whose spec needs the account first (a topic in it, say).
    async fn new_with(extra: impl FnOnce(&Account) -> Value) -> Case {
        let client = support::kube().await;
        let aws = support::aws().await;
        let acct = account(&aws, 1, 1).await;
        let extra = extra(&acct);
        let faults = Faults::for_account(&acct.id);
        let controller = Controller::start_with(client.clone(), faults::faulty_aws().await);
        let name = support::unique_name("blocked");
        let mut spec = json!({
            "region": support::REGION, "account": role(&acct),
            "s3": {"bucketName": acct.buckets[0]}, "kmsKeyId": acct.key_alias, "resyncSeconds": 5,
        });
        spec.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        create_policy(&client, &controller.policy(&name, spec)).await;
        let arn = wait_synced(&client, &name).await.status.unwrap().trail_arn.unwrap();
        Case { client, aws, acct, faults, name, arn, _controller: controller }
    }

    async fn settings(&self) -> TrailSettings {
        trail(&self.aws, &self.acct.scope, &self.name).await.unwrap().settings
    }

    /// Stops logging and waits for the pass that restarts it and reports `ready_reason`
    /// (with a message naming `names`); returns that status.
    async fn stop_and_heal(&self, ready: (&str, &str), names: &str) -> TrailPolicy {
        let api = Api::<TrailPolicy>::all(self.client.clone());
        let before = api.get(&self.name).await.unwrap().status.unwrap().remediation_count;
        self.aws.stop_logging(&self.acct.scope, &self.arn).await.unwrap();
        let (policy, took) = eventually(&format!("{}: logging back, {} reported", self.name, ready.1), HEAL_TIMEOUT, || async {
            let p = api.get(&self.name).await.ok()?;
            let status = p.status.clone()?;
            let restarted = status.remediation_count > before
                && status.last_remediation.as_ref()?.actions.iter().any(|a| a == "StartLogging");
            let reported = condition(&p, "Ready") == Some((ready.0.to_owned(), ready.1.to_owned()))
                && status.conditions.iter().any(|c| c.type_ == "Ready" && c.message.contains(names));
            (restarted && reported).then_some(p)
        })
        .await;
        assert!(self.aws.get_trail_status(&self.acct.scope, &self.arn).await.unwrap().is_logging, "{}: logging", self.name);
        assert_eq!(condition(&policy, "Logging").map(|c| c.0), Some("True".into()));
        println!("{}: logging back {:.1} s after StopLogging, with {} reported", self.name, took.as_secs_f64(), ready.1);
        policy
    }
}

fn drift_fields(policy: &TrailPolicy) -> Vec<String> {
    policy.status.as_ref().unwrap().drift.iter().map(|d| d.field.clone()).collect()
}

#[tokio::test]
async fn describe_key_denied() {
    let case = Case::new(json!({})).await;
    case.faults.set(json!({"deny": {"DescribeKey": true}}));
    // A pass that resolved the key before the denial could still correct the break below;
    // once a denied DescribeKey is seen, that pass is over (passes of a policy never overlap).
    eventually("a pass meets the denial", HEAL_TIMEOUT, || async {
        (case.faults.stats().count("KMS/DescribeKey", "deny") > 0).then_some(())
    })
    .await;
    let good = case.settings().await;
    let weak = TrailSettings { log_file_validation: false, ..good.clone() };
    case.aws.update_trail(&case.acct.scope, &case.arn, &good, &weak).await.unwrap();
    let policy = case.stop_and_heal(("False", "AccessDenied"), "resolve: KMS.DescribeKey").await;
    // The settings wait for the key: validation stays off, and says so.
    assert!(!case.settings().await.log_file_validation, "settings are not written while the key is unknown");
    assert!(drift_fields(&policy).contains(&"logFileValidation".to_owned()), "{:?}", drift_fields(&policy));
}

#[tokio::test]
async fn kms_key_disabled() {
    let case = Case::new(json!({})).await;
    let kms = aws_sdk_kms::Client::new(&case.aws.sdk_config(&case.acct.scope).await);
    // moto's DisableKey takes the key id, not its ARN.
    let key_id = case.acct.key_arns[0].rsplit('/').next().unwrap();
    kms.disable_key().key_id(key_id).send().await.unwrap();
    let api = Api::<TrailPolicy>::all(case.client.clone());
    case.aws.stop_logging(&case.acct.scope, &case.arn).await.unwrap();
    let (message, _) = eventually("logging back, the disabled key failing its check", HEAL_TIMEOUT, || async {
        let p = api.get(&case.name).await.ok()?;
        let logging = case.aws.get_trail_status(&case.acct.scope, &case.arn).await.ok()?.is_logging;
        let check = p.status?.compliance.into_iter().find(|c| c.id == "KMS-KEY-ENABLED")?;
        (logging && check.status == trailwarden::api::CheckStatus::Fail).then_some(check.message)
    })
    .await;
    assert!(message.contains("Disabled"), "{message}");
    let p = api.get(&case.name).await.unwrap();
    let compliant = p.status.unwrap().conditions.into_iter().find(|c| c.type_ == "Compliant").unwrap();
    assert!(compliant.status == "False" && compliant.message.contains("KMS-KEY-ENABLED"), "{compliant:?}");
}

#[tokio::test]
async fn bucket_policy_write_refused() {
    let case = Case::new(json!({"posture": {"bucket": {"manage": true}}})).await;
    let foreign = json!({"Version": "2012-10-17", "Statement": [{"Sid": "Foreign", "Effect": "Deny", "Principal": "*",
        "Action": "s3:DeleteBucket", "Resource": format!("arn:aws:s3:::{}", case.acct.buckets[0])}]})
    .to_string();
    // Denied first: from then on no pass can write the bucket policy, however it is timed.
    case.faults.set(json!({"deny": {"S3/PutBucketPolicy": true}}));
    let s3 = case.aws.s3(&case.acct.scope).await;
    s3.put_bucket_policy().bucket(&case.acct.buckets[0]).policy(&foreign).send().await.unwrap();
    case.stop_and_heal(("False", "AccessDenied"), "bucket-posture: S3.PutBucketPolicy").await;
    let now = s3.get_bucket_policy().bucket(&case.acct.buckets[0]).send().await.unwrap();
    assert_eq!(now.policy(), Some(foreign.as_str()), "the refused bucket policy is left as it was");
}

#[tokio::test]
async fn update_trail_refused() {
    let case = Case::new(json!({})).await;
    case.faults.set(json!({"deny": {"UpdateTrail": true}}));
    let good = case.settings().await;
    let weak = TrailSettings { log_file_validation: false, ..good.clone() };
    case.aws.update_trail(&case.acct.scope, &case.arn, &good, &weak).await.unwrap();
    let policy = case.stop_and_heal(("False", "AccessDenied"), "settings: CloudTrail.UpdateTrail").await;
    assert_eq!(case.settings().await, weak, "nothing of the refused update landed");
    assert_eq!(drift_fields(&policy), ["logFileValidation"]);
}

#[tokio::test]
async fn event_selectors_refused() {
    let selectors = json!([{"readWriteType": "WriteOnly", "includeManagementEvents": true,
        "dataResources": [{"type": "AWS::S3::Object", "values": ["arn:aws:s3:::"]}]}]);
    let case = Case::new(json!({"eventSelectors": selectors})).await;
    case.faults.set(json!({"deny": {"PutEventSelectors": true}}));
    case.aws.put_event_selectors(&case.acct.scope, &case.arn, &Selectors::aws_default()).await.unwrap();
    let policy = case.stop_and_heal(("False", "AccessDenied"), "selectors: CloudTrail.PutEventSelectors").await;
    assert!(case.aws.get_event_selectors(&case.acct.scope, &case.arn).await.unwrap().is_aws_default(), "left as found");
    assert_eq!(drift_fields(&policy), ["eventSelectors"]);
}

#[tokio::test]
async fn notification_topic_deleted() {
    let case = Case::new_with(|acct| {
        let topic = support::create_sns_topic(&acct.id, &support::unique_name("alerts"));
        json!({"notify": {"snsTopicArn": topic}})
    })
    .await;
    let api = Api::<TrailPolicy>::all(case.client.clone());
    let topic = api.get(&case.name).await.unwrap().spec.notify.unwrap().sns_topic_arn;
    assert!(
        !support::event_reasons(&case.client, &case.name).await.iter().any(|r| r == "NotificationFailed"),
        "announcing works while the topic exists"
    );
    let deleted = support::moto_query(&case.acct.id, "sns", &[("Action", "DeleteTopic"), ("TopicArn", &topic)]);
    assert!(!deleted.contains("<Error>"), "{deleted}");
    case.aws.stop_logging(&case.acct.scope, &case.arn).await.unwrap();
    eventually("logging back although the topic is gone", HEAL_TIMEOUT, || async {
        case.aws.get_trail_status(&case.acct.scope, &case.arn).await.ok()?.is_logging.then_some(())
    })
    .await;
    eventually("the failed announcement is a warning Event", HEAL_TIMEOUT, || async {
        support::event_reasons(&case.client, &case.name).await.iter().any(|r| r == "NotificationFailed").then_some(())
    })
    .await;
}
