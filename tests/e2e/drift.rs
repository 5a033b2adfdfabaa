//! Every kind of drift, broken through the AWS API one after another on one trail, healed
//! and reported: the trail as declared again, the remediation in status and Events.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use trailwarden::aws::AwsPort;
use trailwarden_core::trail::{Insights, Selectors, TrailSettings};

use crate::faults::{self, Faults};
use crate::support::{self, Controller, HEAL_TIMEOUT, condition, create_policy, eventually, get, role, trail, wait_synced};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::test]
async fn every_kind_of_drift_is_healed_and_reported() {
    let client = support::kube().await;
    let controller = Controller::start(client.clone()).await;
    every_kind_of_drift(client, controller, None).await;
}

/// The same, with 10 % of the controller's AWS calls throttled and 5 % answered 500: the
/// SDK's own retry (standard mode, jittered back-off) absorbs them.
#[tokio::test]
async fn every_kind_of_drift_is_healed_under_throttling_and_errors() {
    let client = support::kube().await;
    let controller = Controller::start_with(client.clone(), faults::faulty_aws().await);
    every_kind_of_drift(client, controller, Some(json!({"throttle": 0.10, "error5xx": 0.05}))).await;
}

async fn every_kind_of_drift(client: kube::Client, controller: Controller, faults: Option<serde_json::Value>) {
    let aws = support::aws().await;
    let acct = support::account_without_grants(&aws, 2, 2).await;
    // The key an attacker moves the trail to is one CloudTrail may use (else CloudTrail
    // refuses the move itself): trailwarden must still put the declared key back.
    let kms = aws_sdk_kms::Client::new(&aws.sdk_config(&acct.scope).await);
    let grant = support::cloudtrail_key_policy(&acct.id).to_string();
    kms.put_key_policy().key_id(&acct.key_arns[1]).policy_name("default").policy(grant).send().await.unwrap();
    support::open_to_cloudtrail(&aws.s3(&acct.scope).await, &acct.buckets[1], &acct.id).await;
    let faults = faults.map(|rule| {
        let scoped = Faults::for_account(&acct.id);
        scoped.set(rule);
        scoped
    });
    support::enable_access_logging(&aws, &acct.scope, &acct.buckets).await;
    let topic = support::create_sns_topic(&acct.id, &support::unique_name("deliveries"));
    let other_topic = support::create_sns_topic(&acct.id, &support::unique_name("other"));
    let name = support::unique_name("heal");
    let log_group = format!("arn:aws:logs:us-east-1:{}:log-group:cloudtrail:*", acct.id);
    let cw_role = format!("arn:aws:iam::{}:role/CloudTrail_CloudWatchLogs", acct.id);
    let policy = controller.policy(&name, json!({
        "region": support::REGION,
        "account": role(&acct),
        "s3": {"bucketName": acct.buckets[0], "keyPrefix": "audit"},
        "kmsKeyId": acct.key_alias,
        "snsTopicName": topic.rsplit(':').next().unwrap(),
        "cloudWatchLogs": {"logGroupArn": log_group, "roleArn": cw_role},
        "eventSelectors": [{"readWriteType": "WriteOnly", "includeManagementEvents": true,
            "dataResources": [{"type": "AWS::S3::Object", "values": [format!("arn:aws:s3:::{}/", acct.buckets[0])]}]}],
        "insights": ["ApiCallRateInsight"],
        "tags": {"team": "security"},
        "posture": {"bucket": {"manage": true}, "kms": {"manage": true}},
        "resyncSeconds": 5,
    }));
    create_policy(&client, &policy).await;
    let synced = wait_synced(&client, &name).await;
    let status = synced.status.unwrap();
    let arn = status.trail_arn.clone().expect("trail ARN in status");
    assert_eq!(status.is_logging, Some(true));
    assert_eq!(
        status.last_remediation.unwrap().actions,
        [
            "PutPublicAccessBlock",
            "PutBucketVersioning",
            "PutBucketPolicy",
            "PutBucketOwnershipControls",
            "EnableKeyRotation",
            "PutKeyPolicy",
            "CreateTrail",
            "PutEventSelectors",
            "StartLogging",
            "PutInsightSelectors"
        ],
        "the bucket and key are readied for CloudTrail before the trail is created"
    );

    let scope = &acct.scope;
    let good = trail(&aws, scope, &name).await.expect("trail created");
    assert_eq!(good.settings.kms_key.as_deref(), Some(acct.key_arns[0].as_str()), "alias resolved to the key ARN");
    assert_eq!(good.settings.sns_topic.as_deref(), Some(topic.as_str()));

    // The attacker's moves must be ones CloudTrail accepts: it refuses a prefix its bucket
    // does not let it write under, so the bucket also grants every trail of the account
    // (a statement of theirs, which trailwarden keeps).
    let s3 = aws.s3(scope).await;
    let current = s3.get_bucket_policy().bucket(&acct.buckets[0]).send().await.unwrap().policy.unwrap();
    let mut widened: serde_json::Value = serde_json::from_str(&current).unwrap();
    let grants = support::cloudtrail_bucket_policy(&acct.buckets[0], &acct.id);
    widened["Statement"].as_array_mut().unwrap().extend(grants["Statement"].as_array().unwrap().iter().cloned());
    s3.put_bucket_policy().bucket(&acct.buckets[0]).policy(widened.to_string()).send().await.unwrap();

    // Each break: a change made behind trailwarden's back, and the check that it is undone.
    type Break = (&'static str, TrailSettings);
    let changed = |f: &dyn Fn(&mut TrailSettings)| {
        let mut s = good.settings.clone();
        f(&mut s);
        s
    };
    let setting_breaks: Vec<Break> = vec![
        ("log-file validation off", changed(&|s| s.log_file_validation = false)),
        ("KMS key removed", changed(&|s| s.kms_key = None)),
        ("KMS key changed", changed(&|s| s.kms_key = Some(acct.key_arns[1].clone()))),
        ("multi-region off", changed(&|s| s.multi_region = false)),
        // A multi-region trail must log global service events (CloudTrail refuses it
        // otherwise): a trail made single-region can lose them too.
        ("single-region without global service events", changed(&|s| {
            s.multi_region = false;
            s.include_global_service_events = false;
        })),
        ("bucket changed", changed(&|s| s.bucket = acct.buckets[1].clone())),
        ("prefix changed", changed(&|s| s.key_prefix = Some("elsewhere".into()))),
        ("SNS topic changed", changed(&|s| s.sns_topic = Some(other_topic.clone()))),
        ("CloudWatch Logs removed", changed(&|s| s.cloud_watch_logs = None)),
    ];

    let mut heals = Heals { client: &client, name: &name, times: vec![] };

    let before = heals.start().await;
    aws.stop_logging(scope, &arn).await.unwrap();
    let ((), actions) = heals
        .finish("logging stopped", before, || async { aws.get_trail_status(scope, &arn).await.unwrap().is_logging.then_some(()) })
        .await;
    assert!(actions.contains(&"StartLogging".to_owned()), "{actions:?}");
    // The status says when logging was stopped, and (from the next look) restarted after it.
    // CloudTrail's times are to the second here, and a heal within the second of the stop
    // has both times equal: at or after it.
    eventually("the stop and the restart in status.delivery", HEAL_TIMEOUT, || async {
        let delivery = get(&client, &name).await.status?.delivery?;
        (delivery.start_logging_time? >= delivery.stop_logging_time?).then_some(())
    })
    .await;

    for (what, broken) in setting_breaks {
        let before = heals.start().await;
        aws.update_trail(scope, &arn, &good.settings, &broken).await.unwrap_or_else(|e| panic!("breaking {what}: {e}"));
        assert_ne!(trail(&aws, scope, &name).await.unwrap().settings, good.settings, "{what}: the break took");
        let ((), actions) = heals
            .finish(what, before, || async { (trail(&aws, scope, &name).await.unwrap().settings == good.settings).then_some(()) })
            .await;
        assert_eq!(actions, ["UpdateTrail"], "{what}");
    }

    let before = heals.start().await;
    aws.put_event_selectors(scope, &arn, &Selectors::aws_default()).await.unwrap();
    let ((), actions) = heals
        .finish("selectors replaced", before, || async {
            (!aws.get_event_selectors(scope, &arn).await.unwrap().is_aws_default()).then_some(())
        })
        .await;
    assert_eq!(actions, ["PutEventSelectors"]);

    let before = heals.start().await;
    aws.put_insight_selectors(scope, &arn, &Insights::new()).await.unwrap();
    let ((), actions) = heals
        .finish("insights removed", before, || async {
            (!aws.get_insight_selectors(scope, &arn).await.unwrap().is_empty()).then_some(())
        })
        .await;
    assert_eq!(actions, ["PutInsightSelectors"]);

    // A declared tag changed; a tag the policy does not declare is left alone.
    let before = heals.start().await;
    let tampered = BTreeMap::from([("team".to_owned(), "nobody".to_owned()), ("cost-center".to_owned(), "42".to_owned())]);
    aws.add_tags(scope, &arn, &tampered).await.unwrap();
    let (tags, actions) = heals
        .finish("declared tag changed", before, || async {
            let tags = aws.list_tags(scope, &arn).await.unwrap();
            (tags.get("team").map(String::as_str) == Some("security")).then_some(tags)
        })
        .await;
    assert_eq!(tags.get("cost-center").map(String::as_str), Some("42"), "undeclared tags survive");
    assert_eq!(actions, ["AddTags"]);

    let before = heals.start().await;
    aws.delete_trail(scope, &arn).await.unwrap();
    let ((), actions) = heals
        .finish("trail deleted", before, || async {
            let t = trail(&aws, scope, &name).await?;
            aws.get_trail_status(scope, &t.arn).await.unwrap().is_logging.then_some(())
        })
        .await;
    assert_eq!(actions[0], "CreateTrail");

    let reasons = support::event_reasons(&client, &name).await;
    for reason in ["TrailCreated", "LoggingRestarted", "DriftCorrected", "TrailRecreated"] {
        assert!(reasons.iter().any(|r| r == reason), "no {reason} event in {reasons:?}");
    }
    let final_policy = wait_synced(&client, &name).await;
    let final_status = final_policy.status.clone().unwrap();
    // Every required check passes but CloudWatch Logs delivery, which the emulator never
    // reports: that one is Unknown, so the policy is not called compliant either way.
    let not_passing: Vec<_> = final_status
        .compliance
        .iter()
        .filter(|c| c.required && c.status != trailwarden::api::CheckStatus::Pass)
        .map(|c| (c.id.as_str(), c.status))
        .collect();
    assert_eq!(not_passing, [("CT-CLOUDWATCH-LOGS", trailwarden::api::CheckStatus::Unknown)], "{:#?}", final_status.compliance);
    assert_eq!(condition(&final_policy, "Compliant").map(|c| c.1), Some("ChecksUnknown".into()));
    assert!(final_status.drift.is_empty());
    assert!(final_status.compliance.iter().any(|c| c.id == "CT-KMS-ENCRYPTION" && c.controls.contains(&"CloudTrail.2".to_owned())));
    heals.report(if faults.is_some() { "under 10% throttling + 5% 5xx" } else { "without faults" });
    if let Some(faults) = faults {
        let stats = faults.stats();
        println!("faults injected into the controller's calls: {:?} of {} requests", stats.faults, stats.requests);
        assert!(stats.faults_of("throttle") > 0 && stats.faults_of("error5xx") > 0, "the faults were there: {:?}", stats.faults);
    }
}

/// Times each break-and-heal of one policy's trail, and what trailwarden said it did.
struct Heals<'a> {
    client: &'a kube::Client,
    name: &'a str,
    times: Vec<(String, Duration)>,
}

impl Heals<'_> {
    /// Call before breaking the trail: the remediation count to look past.
    async fn start(&self) -> u64 {
        get(self.client, self.name).await.status.map(|s| s.remediation_count).unwrap_or(0)
    }

    /// After the break: waits for `healed`, records how long it took, and returns its
    /// value with the actions of the remediation the status then reports.
    async fn finish<T, F, Fut>(&mut self, what: &str, before: u64, healed: F) -> (T, Vec<String>)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let (value, took) = eventually(what, HEAL_TIMEOUT, healed).await;
        self.times.push((what.to_owned(), took));
        (value, wait_remediation(self.client, self.name, before).await)
    }

    fn report(&self, conditions: &str) {
        let times: Vec<Duration> = self.times.iter().map(|(_, t)| *t).collect();
        let lines: Vec<String> = self.times.iter().map(|(what, t)| format!("{what}: {t:?}")).collect();
        println!(
            "heal times at resyncSeconds=5 over {} drift kinds, {conditions}: min {:?}, median {:?}, max {:?}\n  {}",
            times.len(),
            times.iter().min().unwrap(),
            median(times.clone()),
            times.iter().max().unwrap(),
            lines.join("\n  ")
        );
    }
}

/// Waits until the policy's remediation count passes `before`; returns the actions.
async fn wait_remediation(client: &kube::Client, name: &str, before: u64) -> Vec<String> {
    eventually("remediation recorded in status", HEAL_TIMEOUT, || async {
        let status = get(client, name).await.status?;
        (status.remediation_count > before).then(|| status.last_remediation.map(|r| r.actions).unwrap_or_default())
    })
    .await
    .0
}
