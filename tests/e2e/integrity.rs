//! The log verifier on the bed, whose delivery writes log and digest files as CloudTrail
//! does: the controller walks each trail's digest chain, proves it intact, and names the
//! first file an attacker deleted or edited — in status, an Event, a metric and the
//! CT-LOG-INTEGRITY check. Its agreement with AWS CLI's `validate-logs` on a matrix of
//! mutations is hack/bed/judge.py's.

use std::time::Duration;

use serde_json::json;
use trailwarden::api::{CheckStatus, LogIntegrity, TrailPolicy};

use crate::support::{self, Controller, deliver, delivered, eventually};

const WAIT: Duration = Duration::from_secs(60);

fn record(p: &TrailPolicy) -> Option<&LogIntegrity> {
    p.status.as_ref()?.log_integrity.as_ref()
}

fn integrity_check(p: &TrailPolicy) -> Option<(CheckStatus, bool, String)> {
    let finding = p.status.as_ref()?.compliance.iter().find(|c| c.id == "CT-LOG-INTEGRITY")?;
    Some((finding.status, finding.required, finding.message.clone()))
}

#[tokio::test]
async fn the_chain_is_proven_intact_then_a_deleted_log_file_and_an_edited_digest_are_named() {
    let client = support::kube().await;
    let aws = support::aws().await;
    let controller = Controller::start_verifying(client.clone(), Duration::from_secs(1)).await;
    let account = support::account(&aws, 1, 0).await;
    let bucket = account.buckets[0].clone();
    let name = support::unique_name("verified");
    let policy = controller.policy(&name, json!({
        "region": support::REGION,
        "account": support::role(&account),
        "s3": {"bucketName": bucket, "keyPrefix": "audit"},
    }));
    support::create_policy(&client, &policy).await;
    let synced = support::wait_synced(&client, &name).await;
    let arn = synced.status.as_ref().and_then(|s| s.trail_arn.clone()).expect("the trail's ARN");
    // Three periods: logs, an empty one, logs again.
    let rounds = [deliver(true, &arn), deliver(false, &arn), deliver(true, &arn)];
    let first_log = delivered(&rounds[0], &arn)["logFile"].as_str().expect("a log file").to_owned();
    let newest_digest = delivered(&rounds[2], &arn)["digestFile"].as_str().expect("a digest").to_owned();

    let (intact, _) = eventually("the chain verified through the newest digest", WAIT, || async {
        let p = support::get(&client, &name).await;
        let r = record(&p)?;
        r.last_digests.iter().any(|l| l.key == newest_digest).then(|| (p.clone(), r.clone()))
    })
    .await;
    let (p, r) = intact;
    assert!(r.intact && r.findings.is_empty(), "{r:?}");
    assert!(r.digests_verified >= 3 && r.logs_verified >= 2, "every delivered file counted: {r:?}");
    let check = eventually("CT-LOG-INTEGRITY passes and is required", WAIT, || async {
        let p = support::get(&client, &name).await;
        integrity_check(&p).filter(|(status, required, _)| *status == CheckStatus::Pass && *required)
    })
    .await;
    assert!(check.0.2.contains("verified intact"), "{check:?}");
    drop(p);

    // An attacker deletes the oldest log file: the next walk of the window names it.
    let s3 = aws.s3(&account.scope).await;
    s3.delete_object().bucket(&bucket).key(&first_log).send().await.unwrap();
    let object = format!("s3://{bucket}/{first_log}");
    let (r, _) = eventually("the deleted log file named", WAIT, || async {
        let p = support::get(&client, &name).await;
        let r = record(&p)?.clone();
        r.findings.iter().any(|f| f.problem == "LogMissing" && f.object == object).then_some(r)
    })
    .await;
    assert!(!r.intact, "{r:?}");
    eventually("CT-LOG-INTEGRITY fails, naming the file", WAIT, || async {
        let p = support::get(&client, &name).await;
        integrity_check(&p).filter(|(status, required, message)| *status == CheckStatus::Fail && *required && message.contains(&first_log))
    })
    .await;
    eventually("a LogIntegrityBroken Warning", WAIT, || async {
        support::event_reasons(&client, &name).await.iter().any(|r| r == "LogIntegrityBroken").then_some(())
    })
    .await;
    assert_eq!(controller.metric("trailwarden_log_integrity_intact{", &format!("policy=\"{name}\"")), 0.0);
    assert!(controller.metric("trailwarden_log_integrity_findings_total{", "problem=\"LogMissing\"") >= 1.0);

    // An edited digest: its signature no longer verifies.
    let digest = s3.get_object().bucket(&bucket).key(&newest_digest).send().await.unwrap();
    let metadata = digest.metadata().cloned().unwrap_or_default();
    let body = digest.body.collect().await.unwrap().into_bytes();
    let mut json: serde_json::Value = serde_json::from_slice(&gunzip(&body)).unwrap();
    json["logFiles"] = json!([]);
    s3.put_object()
        .bucket(&bucket)
        .key(&newest_digest)
        .set_metadata(Some(metadata))
        .body(gzip(json.to_string().as_bytes()).into())
        .send()
        .await
        .unwrap();
    let edited = format!("s3://{bucket}/{newest_digest}");
    eventually("the edited digest named", WAIT, || async {
        let p = support::get(&client, &name).await;
        record(&p)?.findings.iter().any(|f| f.problem == "DigestSignatureFailed" && f.object == edited).then_some(())
    })
    .await;
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data).read_to_end(&mut out).unwrap();
    out
}
