//! The layout AWS Organizations users run (Control Tower's landing zone): a management
//! account owning the organization trail, which a delegated administrator manages; a
//! log-archive account holding the one log bucket (in eu-west-1, not the trails' region)
//! and the KMS key; member accounts with trails of their own; trailwarden in an audit
//! account of its own (the bed's default account), reaching every other one by role. All
//! of it on the faithful bed, which refuses what AWS refuses across accounts and regions.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;
use trailwarden::api::{CheckStatus, TrailPolicy};
use trailwarden::aws::AwsPort;
use trailwarden_core::Scope;

use crate::faults::{Faults, faulty_aws};
use crate::support::{self, Controller, HEAL_TIMEOUT, condition, create_policy, eventually, get, organizations};

/// Where the organization's logs go: one bucket, one region.
const ARCHIVE_REGION: &str = "eu-west-1";

fn role(account: &str) -> String {
    format!("arn:aws:iam::{account}:role/trailwarden")
}

fn scope(account: &str, region: &str) -> Scope {
    Scope { role_arn: Some(role(account)), external_id: None, region: region.to_owned() }
}

/// The organization: its management account creates it (all features, trusted access
/// for CloudTrail) and `members` accounts in it, the first of which it registers as
/// CloudTrail's delegated administrator. Returns the organization id and the accounts.
fn organization(members: usize) -> (String, String, Vec<String>) {
    let (management, _) = support::fresh_account();
    let org_id = support::create_organization(&management);
    let accounts: Vec<String> = (0..members)
        .map(|i| {
            let name = support::unique_name(&format!("member{i}"));
            let created = organizations(&management, "CreateAccount", json!({"AccountName": name, "Email": format!("{name}@example.com")}));
            created["CreateAccountStatus"]["AccountId"].as_str().expect("the new account's id").to_owned()
        })
        .collect();
    organizations(&management, "RegisterDelegatedAdministrator", json!({"AccountId": accounts[0], "ServicePrincipal": "cloudtrail.amazonaws.com"}));
    (org_id, management, accounts)
}

fn failing_or_unknown(p: &TrailPolicy) -> Vec<String> {
    let Some(status) = p.status.as_ref() else { return vec!["no status".into()] };
    status.compliance.iter().filter(|c| c.status == CheckStatus::Unknown).map(|c| format!("{} unknown: {}", c.id, c.message)).collect()
}

#[tokio::test]
async fn a_landing_zone_is_kept_through_the_log_archive_role_and_nothing_of_another_owner_is_written() {
    let client = support::kube().await;
    let aws = support::aws().await;
    let (_org_id, management, accounts) = organization(5);
    let (delegated_admin, archive, members) = (&accounts[0], &accounts[1], &accounts[2..]);

    // The log archive: a bucket in eu-west-1 with no policy yet, a key there with only the
    // account's root in its policy. trailwarden grants CloudTrail in both, through the
    // log-archive role, before any trail is created (CloudTrail refuses it otherwise).
    let archive_scope = scope(archive, ARCHIVE_REGION);
    let s3 = aws.s3(&archive_scope).await;
    let bucket = support::unique_name("org-logs");
    let location = aws_sdk_s3::types::CreateBucketConfiguration::builder()
        .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(ARCHIVE_REGION))
        .build();
    s3.create_bucket().bucket(&bucket).create_bucket_configuration(location).send().await.expect("log bucket");
    let kms = aws_sdk_kms::Client::new(&aws.sdk_config(&archive_scope).await);
    let key_arn = kms.create_key().send().await.unwrap().key_metadata.unwrap().arn.unwrap();

    // Every write trailwarden makes, by the account it acts in (the fault proxy sees them all).
    let writes_in: Vec<(String, Faults)> = [&management, delegated_admin, archive]
        .into_iter()
        .chain(members)
        .map(|a| (a.clone(), Faults::for_account(a)))
        .collect();
    let controller = Controller::start_with(client.clone(), faulty_aws().await);
    let log_archive = json!({"accountId": archive, "roleArn": role(archive)});
    let posture = json!({"bucket": {"manage": true}, "kms": {"manage": true}});

    // The organization trail, managed from the delegated administrator's account.
    let org_name = support::unique_name("org-trail");
    create_policy(&client, &controller.policy(&org_name, json!({
        "region": support::REGION, "account": {"roleArn": role(delegated_admin)}, "organization": true,
        "s3": {"bucketName": bucket}, "kmsKeyId": key_arn, "logArchive": log_archive, "posture": posture, "resyncSeconds": 5,
    })))
    .await;
    // A trail of each member account's own, to the same bucket and key.
    let mut names = vec![org_name.clone()];
    for member in members {
        let name = support::unique_name("member-trail");
        create_policy(&client, &controller.policy(&name, json!({
            "region": support::REGION, "account": {"roleArn": role(member)},
            "s3": {"bucketName": bucket, "keyPrefix": "members"}, "kmsKeyId": key_arn,
            "logArchive": log_archive, "posture": posture, "resyncSeconds": 5,
        })))
        .await;
        names.push(name);
    }

    // Every policy Ready and Synced, every check judged.
    for name in &names {
        let (p, _) = eventually(&format!("{name} Ready, Synced, every check judged"), Duration::from_secs(120), || async {
            let p = get(&client, name).await;
            let ready = condition(&p, "Ready").map(|c| c.0) == Some("True".into());
            let synced = condition(&p, "Synced").map(|c| c.0) == Some("True".into());
            let judged = p.status.as_ref().is_some_and(|s| !s.compliance.is_empty()) && failing_or_unknown(&p).is_empty();
            (ready && synced && judged).then_some(p)
        })
        .await;
        assert_eq!(condition(&p, "Logging").map(|c| c.0).as_deref(), Some("True"), "{name}");
    }

    // The organization trail is the management account's, whoever manages it.
    let org_arn = get(&client, &org_name).await.status.unwrap().trail_arn.unwrap();
    assert!(org_arn.contains(&format!(":{management}:trail/")), "pinned by its real ARN: {org_arn}");
    let member_scope = scope(&members[0], support::REGION);
    let listed = aws.describe_trails(&member_scope, "").await.unwrap();
    assert!(listed.iter().any(|t| t.arn == org_arn && t.settings.organization), "a member sees the organization trail: {listed:?}");

    // StopLogging on the organization trail and on a member's trail: both healed.
    let admin_scope = scope(delegated_admin, support::REGION);
    aws.stop_logging(&admin_scope, &org_arn).await.expect("the delegated administrator stops the organization trail");
    let member_arn = get(&client, &names[1]).await.status.unwrap().trail_arn.unwrap();
    aws.stop_logging(&member_scope, &member_arn).await.unwrap();
    eventually("both trails logging again", HEAL_TIMEOUT, || async {
        let org = aws.get_trail_status(&admin_scope, &org_arn).await.ok()?.is_logging;
        let member = aws.get_trail_status(&member_scope, &member_arn).await.ok()?.is_logging;
        (org && member).then_some(())
    })
    .await;

    // The bucket policy loses CloudTrail, the key its rotation: both put back through the
    // log-archive role, keeping the archive's own statement.
    let theirs = json!({"Sid": "ArchiveOwnersOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:DeleteBucket",
        "Resource": format!("arn:aws:s3:::{bucket}"), "Condition": {"StringNotEquals": {"aws:PrincipalAccount": archive}}});
    let stripped = json!({"Version": "2012-10-17", "Statement": [theirs]}).to_string();
    s3.put_bucket_policy().bucket(&bucket).policy(&stripped).send().await.unwrap();
    kms.disable_key_rotation().key_id(&key_arn).send().await.unwrap();
    let (policy, _) = eventually("bucket policy and key rotation restored", HEAL_TIMEOUT, || async {
        let policy = s3.get_bucket_policy().bucket(&bucket).send().await.ok()?.policy?;
        let rotating = kms.get_key_rotation_status().key_id(&key_arn).send().await.ok()?.key_rotation_enabled();
        (rotating && policy.contains(&org_arn) && policy.contains(&member_arn)).then_some(policy)
    })
    .await;
    assert!(policy.contains("ArchiveOwnersOnly"), "the archive's own statement is kept: {policy}");

    // Writes: S3 and KMS only in the log-archive account that owns bucket and key, and
    // never a write to the organization trail from the management account (only its
    // delegated administrator manages it).
    let mut seen = BTreeSet::new();
    for (account, faults) in &writes_in {
        for w in faults.writes() {
            seen.insert(format!("{}/{}", w.service, w.operation));
            if w.service == "S3" || w.service == "KMS" {
                assert_eq!(account, archive, "{}/{} written in {account}, which owns neither bucket nor key", w.service, w.operation);
            }
            assert_ne!(account, &management, "written in the management account: {w:?}");
        }
    }
    for expected in ["S3/PutBucketPolicy", "KMS/PutKeyPolicy", "KMS/EnableKeyRotation", "CloudTrail/CreateTrail", "CloudTrail/StartLogging"] {
        assert!(seen.contains(expected), "{expected} among the writes: {seen:?}");
    }
}

/// A policy that says its bucket is another account's than it is never reads or writes
/// it: S3 refuses every call that names the wrong expected owner, the refusal is reported,
/// and nothing is written to the bucket.
#[tokio::test]
async fn a_bucket_of_another_owner_than_declared_is_neither_read_nor_written() {
    let client = support::kube().await;
    let aws = support::aws().await;
    let (owner, owner_scope) = support::fresh_account();
    let (member, _) = support::fresh_account();
    let (claimed, _) = support::fresh_account();
    let s3 = aws.s3(&owner_scope).await;
    let bucket = support::unique_name("someone-elses-logs");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    support::open_to_cloudtrail(&s3, &bucket, &member).await;
    let before = s3.get_bucket_policy().bucket(&bucket).send().await.unwrap().policy;

    let owner_writes = Faults::for_account(&owner);
    let controller = Controller::start_with(client.clone(), faulty_aws().await);
    let name = support::unique_name("wrong-owner");
    create_policy(&client, &controller.policy(&name, json!({
        "region": support::REGION, "account": {"roleArn": role(&member)}, "s3": {"bucketName": bucket},
        "logArchive": {"accountId": claimed}, "posture": {"bucket": {"manage": true}}, "resyncSeconds": 5,
    })))
    .await;
    let (p, _) = eventually("the bucket reported unreadable", HEAL_TIMEOUT, || async {
        let p = get(&client, &name).await;
        let readable = p.status.as_ref()?.compliance.iter().find(|c| c.id == "BKT-READABLE")?;
        (readable.status == CheckStatus::Fail || readable.status == CheckStatus::Unknown).then_some(p)
    })
    .await;
    let readable = p.status.as_ref().unwrap().compliance.iter().find(|c| c.id == "BKT-READABLE").unwrap();
    assert!(readable.message.contains("AccessDenied"), "S3 refused the wrong owner: {}", readable.message);
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(owner_writes.writes().is_empty(), "nothing written in the owner's account: {:?}", owner_writes.writes());
    assert_eq!(s3.get_bucket_policy().bucket(&bucket).send().await.unwrap().policy, before, "the bucket policy is untouched");
}

/// A role that cannot be assumed (a trust policy that does not name trailwarden, a wrong
/// external id) is said as such, and waits for a person: not an outage retried forever.
#[tokio::test]
async fn a_role_that_cannot_be_assumed_is_named_credentials_refused() {
    let client = support::kube().await;
    let aws = support::aws().await;
    let acct = support::account(&aws, 1, 0).await;
    let refusing = Faults::for_account(&acct.id);
    refusing.set(json!({"deny": {"AssumeRole": "User is not authorized to perform: sts:AssumeRole"}}));
    let controller = Controller::start_with(client.clone(), faulty_aws().await);
    let name = support::unique_name("no-trust");
    create_policy(&client, &controller.policy(&name, json!({
        "region": support::REGION, "account": support::role(&acct), "s3": {"bucketName": acct.buckets[0]}, "resyncSeconds": 5,
    })))
    .await;
    let (p, _) = eventually("the refusal named", HEAL_TIMEOUT, || async {
        let p = get(&client, &name).await;
        (condition(&p, "Ready").map(|c| c.1) == Some("CredentialsRefused".into())).then_some(p)
    })
    .await;
    assert_eq!(condition(&p, "Stalled").map(|c| c.0).as_deref(), Some("True"), "a person must fix the trust");
}
