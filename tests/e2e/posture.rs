//! Posture on the bed: a deliberately weak log bucket and KMS key are reported failing
//! with the right check ids; with `manage: true` trailwarden fixes them, and statements
//! that were not its own survive unchanged.

use std::time::Duration;

use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use trailwarden::api::{CheckStatus, TrailPolicy};

use crate::support::{self, Controller, condition, eventually, own};

const WAIT: Duration = Duration::from_secs(60);

fn failing(p: &TrailPolicy) -> Vec<String> {
    let status = p.status.as_ref().unwrap();
    let mut ids: Vec<_> =
        status.compliance.iter().filter(|c| c.status == CheckStatus::Fail && c.required).map(|c| c.id.clone()).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn a_weak_bucket_and_key_are_reported_then_fixed_keeping_foreign_statements() {
    let client = support::kube().await;
    let aws = support::aws().await;
    let controller = Controller::start(client.clone()).await;
    let (account, scope) = support::fresh_account();
    let s3 = aws.s3(&scope).await;
    let bucket = support::unique_name("weak-logs");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let foreign_bucket_statement = json!({
        "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/*")],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}
    });
    let weak_policy = json!({"Version": "2012-10-17", "Statement": [foreign_bucket_statement]}).to_string();
    // CloudTrail refuses a trail its bucket and key do not let in: the trail is created
    // while they grant every trail of the account, and weakened once it exists.
    let mut granting = support::cloudtrail_bucket_policy(&bucket, &account);
    granting["Statement"].as_array_mut().unwrap().insert(0, foreign_bucket_statement.clone());
    s3.put_bucket_policy().bucket(&bucket).policy(granting.to_string()).send().await.unwrap();
    let kms = aws_sdk_kms::Client::new(&aws.sdk_config(&scope).await);
    let key_arn = kms.create_key().send().await.unwrap().key_metadata.unwrap().arn.unwrap();
    let original_key_policy: Value =
        serde_json::from_str(&kms.get_key_policy().key_id(&key_arn).policy_name("default").send().await.unwrap().policy.unwrap())
            .unwrap();
    kms.put_key_policy().key_id(&key_arn).policy_name("default").policy(support::cloudtrail_key_policy(&account).to_string()).send().await.unwrap();

    let name = support::unique_name("posture");
    let policy = controller.policy(&name, json!({
        "region": support::REGION,
        "account": {"roleArn": format!("arn:aws:iam::{account}:role/trailwarden")},
        "s3": {"bucketName": bucket, "keyPrefix": "audit"},
        "kmsKeyId": key_arn,
        "resyncSeconds": 5,
    }));
    let api = Api::<TrailPolicy>::all(client.clone());
    api.create(&PostParams::default(), &policy).await.unwrap();
    eventually("the trail created and logging", WAIT, || async {
        let p = api.get(&name).await.ok()?;
        (condition(&p, "Logging").map(|c| c.0) == Some("True".into())).then_some(())
    })
    .await;
    s3.put_bucket_policy().bucket(&bucket).policy(&weak_policy).send().await.unwrap();
    kms.put_key_policy().key_id(&key_arn).policy_name("default").policy(original_key_policy.to_string()).send().await.unwrap();

    let (p, _) = eventually("weak posture reported", WAIT, || async {
        let p = api.get(&name).await.ok()?;
        let failing = failing(&p);
        let weak = ["BKT-CLOUDTRAIL-POLICY", "KMS-KEY-CLOUDTRAIL-POLICY"].iter().all(|id| failing.iter().any(|f| f == id));
        (condition(&p, "Compliant").map(|c| c.1) == Some("ChecksFailing".into()) && weak).then_some(p)
    })
    .await;
    assert_eq!(
        failing(&p),
        [
            "BKT-CLOUDTRAIL-POLICY",
            "BKT-PUBLIC-ACCESS-BLOCK",
            "BKT-VERSIONING",
            "KMS-KEY-CLOUDTRAIL-POLICY",
            "KMS-KEY-ROTATION",
        ]
        .iter()
        .copied()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect::<Vec<_>>(),
        "{:#?}",
        p.status.as_ref().unwrap().compliance
    );
    let findings = &p.status.as_ref().unwrap().compliance;
    let rotation = findings.iter().find(|c| c.id == "KMS-KEY-ROTATION").unwrap();
    assert!(rotation.controls.contains(&"KMS.4".to_owned()));
    let mfa = findings.iter().find(|c| c.id == "BKT-MFA-DELETE").unwrap();
    assert!(mfa.status == CheckStatus::Fail && !mfa.required, "MFA delete is reported, not required by default");
    assert!(mfa.message.contains("reports it only"));

    // Manage: true lets trailwarden fix what it may.
    let patch = json!({"spec": {"posture": {"bucket": {"manage": true}, "kms": {"manage": true}}}});
    api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    let (p, _) = eventually("posture fixed", WAIT, || async {
        let p = api.get(&name).await.ok()?;
        // Access logging (it needs a second bucket) is reported, not required by default.
        failing(&p).is_empty().then_some(p)
    })
    .await;
    assert!(support::event_reasons(&client, &name).await.iter().any(|r| r == "PostureCorrected"));
    let status = p.status.unwrap();
    let trail_arn = status.trail_arn.unwrap();
    let actions = status.last_remediation.unwrap().actions;
    assert_eq!(
        actions,
        ["PutPublicAccessBlock", "PutBucketVersioning", "PutBucketPolicy", "PutBucketOwnershipControls", "EnableKeyRotation", "PutKeyPolicy"]
    );

    let bucket_policy: Value =
        serde_json::from_str(&s3.get_bucket_policy().bucket(&bucket).send().await.unwrap().policy.unwrap()).unwrap();
    let statements = bucket_policy["Statement"].as_array().unwrap();
    assert_eq!(statements[0], foreign_bucket_statement, "the bucket's own statement survives as it was");
    use trailwarden_core::posture::document::{BUCKET_WRITE_SID, trail_sid};
    assert!(statements.iter().any(|s| s["Sid"] == trail_sid(BUCKET_WRITE_SID, &trail_arn)
        && s["Resource"] == format!("arn:aws:s3:::{bucket}/audit/AWSLogs/{account}/*")));
    let key_policy: Value =
        serde_json::from_str(&kms.get_key_policy().key_id(&key_arn).policy_name("default").send().await.unwrap().policy.unwrap())
            .unwrap();
    for statement in original_key_policy["Statement"].as_array().unwrap() {
        assert!(key_policy["Statement"].as_array().unwrap().contains(statement), "key statement {statement} kept");
    }
    assert!(kms.get_key_rotation_status().key_id(&key_arn).send().await.unwrap().key_rotation_enabled());
    let pab = s3.get_public_access_block().bucket(&bucket).send().await.unwrap();
    assert_eq!(pab.public_access_block_configuration().and_then(|c| c.restrict_public_buckets()), Some(true));
}

/// `trailwarden check` judges a policy file against AWS without a cluster: exit 1 while a
/// required check fails, 0 once every one passes; JSON on request.
#[tokio::test]
async fn check_command_gates_on_required_checks() {
    let aws = support::aws().await;
    let (account, scope) = support::fresh_account();
    let s3 = aws.s3(&scope).await;
    let bucket = support::unique_name("check-logs");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    support::open_to_cloudtrail(&s3, &bucket, &account).await;
    let name = support::unique_name("check");
    let trail_arn = format!("arn:aws:cloudtrail:{}:{account}:trail/{name}", support::REGION);
    let manifest = format!(
        "apiVersion: trailwarden.dev/v1alpha1\nkind: TrailPolicy\nmetadata: {{name: {name}}}\nspec:\n  region: {}\n  \
         account: {{roleArn: 'arn:aws:iam::{account}:role/trailwarden'}}\n  s3: {{bucketName: {bucket}}}\n  \
         posture: {{bucket: {{requireAccessLogging: false}}}}\n",
        support::REGION
    );
    let file = std::path::PathBuf::from(std::env::var("TRAILWARDEN_BED_DIR").unwrap()).join(format!("{name}.yaml"));
    std::fs::write(&file, manifest).unwrap();
    let check = |format: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_trailwarden"))
            .args(["check", "-f", file.to_str().unwrap(), "-o", format])
            .output()
            .expect("trailwarden check runs")
    };

    // No trail yet: not compliant, and the report says why.
    let out = check("json");
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let failing = |report: &Value| -> Vec<String> {
        report[0]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["status"] == "Fail" && f["required"] == true)
            .map(|f| f["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(failing(&report).contains(&"CT-EXISTS".to_owned()), "{report:#}");

    // A hardened trail and bucket, made by hand: compliant, exit 0.
    let settings = support::plain_settings(&bucket);
    use trailwarden::aws::AwsPort;
    aws.create_trail(&scope, &name, &settings, &Default::default()).await.unwrap();
    aws.start_logging(&scope, &trail_arn).await.unwrap();
    use trailwarden_core::posture::bucket::BucketFix;
    aws.fix_bucket(&own(&scope), &bucket, &BucketFix::BlockPublicAccess).await.unwrap();
    aws.fix_bucket(&own(&scope), &bucket, &BucketFix::EnableVersioning).await.unwrap();
    let trail = trailwarden_core::posture::TrailRef { arn: &trail_arn, account: &account, prefix: None, organization: false, organization_id: None };
    let policy = trailwarden_core::posture::document::Document::empty()
        .with_our_statements(trailwarden_core::posture::document::bucket_statements(&bucket, trail))
        .to_json();
    // In place of the account-wide grant the trail was created under: this trail's own.
    let before = s3.get_bucket_policy().bucket(&bucket).send().await.unwrap().policy;
    aws.fix_bucket(&own(&scope), &bucket, &BucketFix::PutBucketPolicy { before, after: policy, removed: vec![] }).await.unwrap();
    let out = check("table");
    let table = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{table}{}", String::from_utf8_lossy(&out.stderr));
    assert!(table.lines().next().unwrap().ends_with("  COMPLIANT") && table.contains("BKT-CLOUDTRAIL-POLICY"), "{table}");
    println!("{table}");
}

/// A public ACL grant is read and reported; a bucket whose ACLs are off (Object Ownership
/// BucketOwnerEnforced, the S3 default for new buckets) has none in effect, and its ACL
/// is not read at all.
#[tokio::test]
async fn a_public_acl_grant_is_seen_and_a_bucket_without_acls_costs_no_acl_read() {
    use aws_sdk_s3::types::{BucketCannedAcl, ObjectOwnership, OwnershipControls, OwnershipControlsRule};
    use trailwarden::aws::AwsPort;
    let aws = support::aws().await;
    let acct = support::account(&aws, 2, 0).await;
    let (public, enforced) = (&acct.buckets[0], &acct.buckets[1]);
    let s3 = aws.s3(&acct.scope).await;
    s3.put_bucket_acl().bucket(public).acl(BucketCannedAcl::PublicRead).send().await.unwrap();
    let rule = OwnershipControlsRule::builder().object_ownership(ObjectOwnership::BucketOwnerEnforced).build().unwrap();
    let controls = OwnershipControls::builder().rules(rule).build().unwrap();
    s3.put_bucket_ownership_controls().bucket(enforced).ownership_controls(controls).send().await.unwrap();
    let acl_reads = || aws.calls().snapshot().iter().filter(|(c, _)| c.operation == "GetBucketAcl").map(|(_, n)| *n).sum::<u64>();

    let facts = aws.describe_bucket(&own(&acct.scope), public).await.unwrap();
    assert_eq!(facts.public_acl_grantees, Ok(vec!["http://acs.amazonaws.com/groups/global/AllUsers".to_owned()]));
    assert_eq!(acl_reads(), 1);
    let facts = aws.describe_bucket(&own(&acct.scope), enforced).await.unwrap();
    assert_eq!(facts.object_ownership, Ok(Some("BucketOwnerEnforced".to_owned())));
    assert_eq!(facts.public_acl_grantees, Ok(vec![]));
    assert_eq!(acl_reads(), 1, "no ACL read for a bucket that ignores ACLs");
}

/// A key scheduled for deletion (in 7 to 30 days every log file encrypted with it is lost)
/// is reported with its date; with `kms.manage` its deletion is cancelled and it is enabled.
#[tokio::test]
async fn a_key_scheduled_for_deletion_is_named_with_its_date_then_brought_back_under_manage() {
    let client = support::kube().await;
    let aws = support::aws().await;
    let acct = support::account(&aws, 1, 1).await;
    let controller = Controller::start(client.clone()).await;
    let name = support::unique_name("key-alive");
    support::create_policy(&client, &controller.policy(&name, json!({
        "region": support::REGION, "account": support::role(&acct), "s3": {"bucketName": acct.buckets[0]},
        "kmsKeyId": acct.key_arns[0], "resyncSeconds": 5,
    })))
    .await;
    support::wait_synced(&client, &name).await;

    let kms = aws_sdk_kms::Client::new(&aws.sdk_config(&acct.scope).await);
    kms.schedule_key_deletion().key_id(&acct.key_arns[0]).pending_window_in_days(7).send().await.unwrap();
    let (message, _) = eventually("the deletion reported with its date", WAIT, || async {
        let p = support::get(&client, &name).await;
        let enabled = p.status?.compliance.into_iter().find(|c| c.id == "KMS-KEY-ENABLED")?;
        (enabled.status == CheckStatus::Fail).then_some(enabled.message)
    })
    .await;
    assert!(message.contains("scheduled for deletion on 20"), "{message}");
    assert!(controller.metric("trailwarden_key_deletion_timestamp_seconds{", &format!("policy=\"{name}\"")) > 0.0);
    let state = |kms: aws_sdk_kms::Client, key: String| async move {
        kms.describe_key().key_id(key).send().await.unwrap().key_metadata.unwrap().key_state.unwrap().as_str().to_owned()
    };
    assert_eq!(state(kms.clone(), acct.key_arns[0].clone()).await, "PendingDeletion", "reported, not fixed, without manage");

    let api = Api::<TrailPolicy>::all(client.clone());
    let manage = json!({"spec": {"posture": {"kms": {"manage": true}}}});
    api.patch(&name, &PatchParams::default(), &Patch::Merge(&manage)).await.unwrap();
    eventually("the key alive again", WAIT, || async {
        (state(kms.clone(), acct.key_arns[0].clone()).await == "Enabled").then_some(())
    })
    .await;
    eventually("and reported so", WAIT, || async {
        let p = support::get(&client, &name).await;
        let enabled = p.status?.compliance.into_iter().find(|c| c.id == "KMS-KEY-ENABLED")?;
        (enabled.status == CheckStatus::Pass).then_some(())
    })
    .await;
    assert_eq!(controller.metric("trailwarden_key_deletion_timestamp_seconds{", &format!("policy=\"{name}\"")), 0.0);
}
