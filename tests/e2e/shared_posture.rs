//! Policies sharing one log bucket and one KMS key, all with `manage: true`: each trail's
//! statements live beside the others' (per-trail statement ids), puts of one policy are
//! serialised and made only onto the document they were judged from. Once converged, a
//! window of resyncs writes nothing at all.

use std::time::Duration;

use serde_json::{Value, json};
use trailwarden::api::{CheckStatus, TrailPolicy};
use trailwarden_core::posture::document::{BUCKET_ACL_SID, BUCKET_WRITE_SID, KEY_DESCRIBE_SID, KEY_ENCRYPT_SID, trail_sid};

use crate::support::{self, Controller, condition, create_policy, eventually, get, role};

/// The bucket and key checks of a policy that do not pass, with their messages.
fn posture_not_passing(p: &TrailPolicy) -> Vec<String> {
    let Some(status) = p.status.as_ref() else { return vec!["no status yet".into()] };
    let findings: Vec<_> = status.compliance.iter().filter(|c| c.id.starts_with("BKT-") || c.id.starts_with("KMS-")).collect();
    if findings.is_empty() {
        return vec!["not judged yet".into()];
    }
    findings.iter().filter(|c| c.required && c.status != CheckStatus::Pass).map(|c| format!("{}: {}", c.id, c.message)).collect()
}

fn sids(policy: &str) -> Vec<String> {
    let doc: Value = serde_json::from_str(policy).unwrap();
    doc["Statement"].as_array().unwrap().iter().filter_map(|s| s["Sid"].as_str().map(str::to_owned)).collect()
}

#[tokio::test]
async fn three_policies_share_a_bucket_and_a_key_and_once_converged_write_nothing() {
    let client = support::kube().await;
    let aws = support::aws().await;
    let controller = Controller::start(client.clone()).await;
    let acct = support::account_without_grants(&aws, 1, 1).await;
    let bucket = &acct.buckets[0];
    // Access logging needs a second bucket, which trailwarden never makes: set up by hand,
    // so every bucket check can pass.
    support::enable_access_logging(&aws, &acct.scope, &acct.buckets).await;
    let names: Vec<String> = (0..3).map(|_| support::unique_name("shared-posture")).collect();
    for name in &names {
        create_policy(&client, &controller.policy(name, json!({
            "region": support::REGION, "account": role(&acct),
            "s3": {"bucketName": bucket}, "kmsKeyId": acct.key_arns[0],
            "posture": {"bucket": {"manage": true}, "kms": {"manage": true}},
            "resyncSeconds": 5,
        })))
        .await;
    }

    // Converged: every policy Synced, its bucket and key checks passing.
    let (arns, took) = eventually("three policies Synced with bucket and key checks passing", Duration::from_secs(90), || async {
        let mut arns = vec![];
        for name in &names {
            let p = get(&client, name).await;
            let synced = condition(&p, "Synced").map(|c| c.0) == Some("True".into());
            if !synced || !posture_not_passing(&p).is_empty() {
                return None;
            }
            arns.push(p.status?.trail_arn?);
        }
        Some(arns)
    })
    .await;
    let converged_writes = controller.port.calls().writes();
    let refusals = controller.metric("trailwarden_reconcile_errors_total{reason=\"PolicyChanged\"}", "");
    println!(
        "shared posture: 3 policies converged in {:.1} s with {converged_writes} writes, {refusals} policy puts refused as changed since read",
        took.as_secs_f64()
    );

    // Each trail's own statements, side by side, and one shared DescribeKey.
    let s3 = aws.s3(&acct.scope).await;
    let bucket_policy = s3.get_bucket_policy().bucket(bucket).send().await.unwrap().policy.unwrap();
    let kms = aws_sdk_kms::Client::new(&aws.sdk_config(&acct.scope).await);
    let key_policy = kms.get_key_policy().key_id(&acct.key_arns[0]).policy_name("default").send().await.unwrap().policy.unwrap();
    let (bucket_sids, key_sids) = (sids(&bucket_policy), sids(&key_policy));
    for arn in &arns {
        for prefix in [BUCKET_ACL_SID, BUCKET_WRITE_SID] {
            assert!(bucket_sids.contains(&trail_sid(prefix, arn)), "{arn}: {bucket_sids:?}");
        }
        assert!(key_sids.contains(&trail_sid(KEY_ENCRYPT_SID, arn)), "{arn}: {key_sids:?}");
    }
    assert_eq!(bucket_sids.len(), 6, "{bucket_sids:?}");
    assert_eq!(key_sids.iter().filter(|s| *s == KEY_DESCRIBE_SID).count(), 1, "{key_sids:?}");

    // A window of resyncs (every 5 s, three policies): not one write.
    let (writes, passes) = (controller.port.calls().writes(), controller.metric("trailwarden_reconciles_total{", ""));
    tokio::time::sleep(Duration::from_secs(15)).await;
    let window_writes = controller.port.calls().writes() - writes;
    let window_passes = controller.metric("trailwarden_reconciles_total{", "") - passes;
    println!("shared posture: 15 s window, {window_passes} passes of 3 policies, {window_writes} writes");
    assert!(window_passes >= 6.0, "the resync ran: {window_passes} passes");
    assert_eq!(window_writes, 0, "converged policies sharing a bucket and a key write nothing");
    for name in &names {
        let p = get(&client, name).await;
        assert!(posture_not_passing(&p).is_empty(), "{name}: {:?}", posture_not_passing(&p));
        assert_eq!(condition(&p, "Ready").map(|c| c.0), Some("True".into()), "{name}");
    }
}

/// An organization trail's bucket needs the organization's log path as well: the fix
/// writes it, the check then passes, and the next passes write nothing (no loop).
#[tokio::test]
async fn an_organization_trail_gets_its_organization_path_once_and_then_writes_nothing() {
    let client = support::kube().await;
    let aws = support::aws().await;
    let acct = support::account_without_grants(&aws, 1, 0).await;
    // CloudTrail creates organization trails only in an organization's management account
    // (or its delegated administrator), with trusted access for CloudTrail enabled.
    let organization = support::create_organization(&acct.id);
    let controller = Controller::start(client.clone()).await;
    let name = support::unique_name("org");
    create_policy(&client, &controller.policy(&name, json!({
        "region": support::REGION, "account": role(&acct), "organization": true,
        "s3": {"bucketName": acct.buckets[0]}, "posture": {"bucket": {"manage": true}}, "resyncSeconds": 5,
    })))
    .await;
    eventually("the organization trail's bucket policy check passes", Duration::from_secs(60), || async {
        let p = get(&client, &name).await;
        let policy_check = p.status.as_ref()?.compliance.iter().find(|c| c.id == "BKT-CLOUDTRAIL-POLICY")?.status;
        (condition(&p, "Synced").map(|c| c.0).as_deref() == Some("True") && policy_check == CheckStatus::Pass).then_some(())
    })
    .await;
    let policy = aws.s3(&acct.scope).await.get_bucket_policy().bucket(&acct.buckets[0]).send().await.unwrap().policy.unwrap();
    assert!(policy.contains("/AWSLogs/o-*/*"), "the organization path is granted: {policy}");
    let writes = controller.port.calls().writes();
    let passes = controller.metric("trailwarden_reconciles_total{", "");
    tokio::time::sleep(Duration::from_secs(12)).await;
    let passes = controller.metric("trailwarden_reconciles_total{", "") - passes;
    assert!(passes >= 2.0, "the resync ran: {passes} passes");
    assert_eq!(controller.port.calls().writes(), writes, "an organization trail converged writes nothing ({passes} passes)");
    println!("organization trail: converged ({organization}); {passes} passes in 12 s, 0 writes");
}
