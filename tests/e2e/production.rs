//! The real binary, run as a platform team runs it: metrics and health endpoints, and
//! two or three replicas behind a Lease, with the leader killed and stopped.

use std::path::PathBuf;
use std::time::Duration;

use kube::api::{Api, DeleteParams, PostParams};
use trailwarden::api::TrailPolicy;
use trailwarden::aws::AwsPort;

use crate::replica::{Replica, WAIT, account_with_bucket, policy, wait_synced};
use crate::support::{self, eventually};

const EXPORTED: &[&str] = &[
    "trailwarden_reconciles_total",
    "trailwarden_reconcile_duration_seconds",
    "trailwarden_reconcile_errors_total",
    "trailwarden_drift_detected_total",
    "trailwarden_remediations_total",
    "trailwarden_policy_ready",
    "trailwarden_trail_logging",
    "trailwarden_trail_logging_desired",
    "trailwarden_trail_in_sync",
    "trailwarden_trail_compliant",
    "trailwarden_compliance_check",
    "trailwarden_heal_seconds",
    "trailwarden_aws_requests_total",
    "trailwarden_aws_request_duration_seconds",
    "trailwarden_aws_throttled_total",
    "trailwarden_policies",
    "trailwarden_leader",
    "trailwarden_build_info",
    "trailwarden_events_total",
    "trailwarden_event_age_seconds",
    "trailwarden_event_to_reconcile_seconds",
    "trailwarden_event_queue_errors_total",
    "trailwarden_trail_contested",
    "trailwarden_trail_logging_off_seconds_total",
    "trailwarden_policy_below_floor",
    "trailwarden_key_alias_moved",
    "trailwarden_ownership_tampered_total",
    "trailwarden_weakening_total",
    "trailwarden_passes_in_flight",
    "trailwarden_key_deletion_timestamp_seconds",
    "trailwarden_stage_failures_total",
    "trailwarden_last_pass_completed_timestamp_seconds",
    "trailwarden_heap_allocated_bytes",
    "trailwarden_log_integrity_intact",
    "trailwarden_log_integrity_verified_timestamp_seconds",
    "trailwarden_log_integrity_findings_total",
    "trailwarden_log_integrity_walks_total",
    "trailwarden_log_integrity_last_round_timestamp_seconds",
    "trailwarden_set_cloudtrail_trusted_access",
    "trailwarden_set_scp_in_sync",
];

#[tokio::test]
async fn the_binary_exports_metrics_and_health_and_forgets_deleted_policies() {
    let client = support::kube().await;
    let aws = support::aws().await;
    let label = support::unique_name("metrics");
    let queue = crate::events::queue_and_rule();
    let replica = Replica::start("metrics-replica", &label, &["--events-queue-url", &queue, "--verify-logs-interval-seconds", "1"]);
    let (code, _) = eventually("/healthz answers", WAIT, || replica.get("/healthz")).await.0;
    assert_eq!(code, 200);
    eventually("/readyz turns 200", WAIT, || async { (replica.get("/readyz").await?.0 == 200).then_some(()) }).await;

    let (account, scope, bucket) = account_with_bucket(&aws).await;
    let name = support::unique_name("metrics");
    let api = Api::<TrailPolicy>::all(client.clone());
    api.create(&PostParams::default(), &policy(&name, &label, &account, &bucket)).await.unwrap();
    wait_synced(&api, &name).await;
    // A TrailPolicySet keeping an SCP on an OU of its own organization, for the sets' series.
    let org = support::organization(&aws).await;
    let json = serde_json::json!({"RootId": org.root, "PolicyType": "SERVICE_CONTROL_POLICY"});
    support::organizations(&org.management, "EnablePolicyType", json);
    let unit = support::unit(&org.management, &org.root, "metrics");
    let set_name = support::unique_name("metrics-set");
    let set: trailwarden::k8s::set::api::TrailPolicySet = serde_json::from_value(serde_json::json!({
        "apiVersion": "trailwarden.dev/v1alpha1", "kind": "TrailPolicySet",
        "metadata": {"name": set_name, "labels": {support::TEST_LABEL: label}},
        "spec": {
            "template": {"region": support::REGION, "trailName": set_name, "s3": {"bucketName": org.bucket}},
            "targets": {"organizationalUnits": [unit]},
            "organizationRoleArn": format!("arn:aws:iam::{}:role/trailwarden", org.management),
            "serviceControlPolicy": {},
        },
    }))
    .unwrap();
    let sets = Api::<trailwarden::k8s::set::api::TrailPolicySet>::all(client.clone());
    sets.create(&PostParams::default(), &set).await.unwrap();
    let arn = api.get(&name).await.unwrap().status.unwrap().trail_arn.unwrap();
    aws.stop_logging(&scope, &arn).await.unwrap();
    crate::events::publish("aws.cloudtrail", "StopLogging", &account, serde_json::json!({"name": arn}), None);
    eventually("logging restarted", WAIT, || async { aws.get_trail_status(&scope, &arn).await.ok()?.is_logging.then_some(()) }).await;
    // CloudTrail delivers; the log verifier proves what it delivered.
    support::deliver(true, &arn);
    support::deliver(true, &arn);
    eventually("the chain verified and exported", WAIT, || async {
        let m = replica.metrics().await;
        (m.contains(&format!("trailwarden_log_integrity_intact{{policy=\"{name}\"}} 1"))
            && m.contains(&format!("trailwarden_log_integrity_verified_timestamp_seconds{{policy=\"{name}\"}}")))
        .then_some(())
    })
    .await;

    // StartLogging twice: once when the trail was created, once to heal it; and the
    // StopLogging event read from the queue.
    let (scrape, _) = eventually("heal and event recorded in metrics", WAIT, || async {
        let m = replica.metrics().await;
        (m.contains("trailwarden_remediations_total{action=\"StartLogging\"} 2")
            && m.contains("trailwarden_events_total{event=\"StopLogging\",outcome=\"matched\",source=\"aws.cloudtrail\"}"))
        .then_some(m)
    })
    .await;

    // Someone pulls the trail's uid tag; then the policy itself is edited to stop logging.
    let uid_tag = [trailwarden::api::OWNER_UID_TAG.to_owned()];
    aws.remove_tags(&scope, &arn, &uid_tag).await.unwrap();
    crate::events::publish("aws.cloudtrail", "RemoveTags", &account, serde_json::json!({"resourceId": arn}), None);
    eventually("the tag put back and counted", WAIT, || async {
        replica.metrics().await.contains(&format!("trailwarden_ownership_tampered_total{{policy=\"{name}\"}} 1")).then_some(())
    })
    .await;
    // The trail moved onto a KMS key, and the key then scheduled for deletion.
    let kms = aws_sdk_kms::Client::new(&aws.sdk_config(&scope).await);
    let key_policy = support::cloudtrail_key_policy(&account).to_string();
    let key = kms.create_key().policy(key_policy).send().await.unwrap().key_metadata.unwrap().arn.unwrap();
    let keyed = serde_json::json!({"spec": {"kmsKeyId": key}});
    api.patch(&name, &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&keyed)).await.unwrap();
    eventually("the trail on the key", WAIT, || async {
        (support::trail(&aws, &scope, &name).await?.settings.kms_key.as_deref() == Some(key.as_str())).then_some(())
    })
    .await;
    kms.schedule_key_deletion().key_id(&key).pending_window_in_days(7).send().await.unwrap();
    crate::events::publish("aws.kms", "ScheduleKeyDeletion", &account, serde_json::json!({"keyId": key}), None);
    eventually("the key's deletion date exported", WAIT, || async {
        replica.metrics().await.contains(&format!("trailwarden_key_deletion_timestamp_seconds{{key=\"{key}\",policy=\"{name}\"}}")).then_some(())
    })
    .await;
    // A policy whose bucket does not exist: its trail stage fails, at every pass.
    let broken = support::unique_name("metrics-broken");
    api.create(&PostParams::default(), &policy(&broken, &label, &account, "no-such-bucket-for-metrics")).await.unwrap();
    eventually("the failed stage counted", WAIT, || async {
        replica.metrics().await.contains("trailwarden_stage_failures_total{").then_some(())
    })
    .await;
    let paused = serde_json::json!({"spec": {"logging": false}});
    api.patch(&name, &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&paused)).await.unwrap();
    let (weakened, _) = eventually("the policy's own StopLogging counted", WAIT, || async {
        let m = replica.metrics().await;
        let set_series = m.contains(&format!("trailwarden_set_scp_in_sync{{set=\"{set_name}\"}} 1"))
            && m.contains(&format!("trailwarden_set_cloudtrail_trusted_access{{set=\"{set_name}\"}} 1"));
        (m.contains(&format!("trailwarden_weakening_total{{change=\"logging_stopped\",policy=\"{name}\"}} 1")) && set_series).then_some(m)
    })
    .await;
    let missing: Vec<_> = EXPORTED.iter().filter(|m| !weakened.contains(&format!("# TYPE {m} "))).collect();
    assert!(missing.is_empty(), "not exported: {missing:?}\n{weakened}");
    assert!(scrape.contains(&format!("trailwarden_trail_logging{{policy=\"{name}\"}} 1")), "{scrape}");
    assert!(scrape.contains(&format!("trailwarden_policy_ready{{policy=\"{name}\"}} 1")), "{scrape}");
    assert!(scrape.contains(&format!("trailwarden_trail_in_sync{{policy=\"{name}\"}} 1")), "{scrape}");
    assert!(scrape.contains("trailwarden_heal_seconds_count 2"), "creation and the heal: {scrape}");
    // The bucket here is not hardened, so the policy is judged, and not compliant.
    assert!(scrape.contains(&format!("trailwarden_trail_compliant{{policy=\"{name}\"}} 0")), "{scrape}");
    assert!(scrape.contains(&format!("trailwarden_compliance_check{{check=\"CT-LOGGING\",policy=\"{name}\"}} 1")), "{scrape}");
    assert!(scrape.contains("trailwarden_aws_requests_total{operation=\"StartLogging\",outcome=\"success\",service=\"CloudTrail\"}"));
    let bed = PathBuf::from(std::env::var("TRAILWARDEN_BED_DIR").unwrap());
    std::fs::write(bed.join("metrics.prom"), &weakened).unwrap();

    api.delete(&broken, &DeleteParams::default()).await.unwrap();
    sets.delete(&set_name, &DeleteParams::default()).await.unwrap();
    api.delete(&name, &DeleteParams::default()).await.unwrap();
    eventually("policy gone", WAIT, || async { api.get_opt(&name).await.unwrap().is_none().then_some(()) }).await;
    eventually("the deleted set's series gone", WAIT, || async {
        (!replica.metrics().await.contains(&format!("set=\"{set_name}\""))).then_some(())
    })
    .await;
    let after = replica.metrics().await;
    // What the deletion did to the trail (Retain: kept, nobody heals it) outlives the
    // policy a while, for alerts to see; nothing else of it does.
    let retained = format!("trailwarden_weakening_total{{change=\"trail_retained\",policy=\"{name}\"}} 1");
    assert!(after.contains(&retained), "the retained trail counted:\n{after}");
    let left: Vec<&str> = after.lines().filter(|l| l.contains(&format!("policy=\"{name}\"")) && !l.starts_with(&retained)).collect();
    assert!(left.is_empty(), "per-policy series remain after deletion: {left:?}");

    let operations = after
        .lines()
        .filter(|l| l.starts_with("trailwarden_aws_requests_total{"))
        .filter_map(|l| {
            let field = |k: &str| l.split(&format!("{k}=\"")).nth(1)?.split('"').next().map(str::to_owned);
            Some(format!("{}:{}", field("service")?, field("operation")?))
        })
        .collect::<Vec<_>>();
    assert!(!operations.is_empty());
    support::record_aws_operations(&label, operations.into_iter());
}

#[tokio::test]
async fn leader_election_fails_over_and_never_reconciles_in_two_replicas_at_once() {
    let client = support::kube().await;
    let aws = support::aws().await;
    let label = support::unique_name("leader");
    let lease = support::unique_name("lease");
    let args = ["--leader-election", "--lease-name", &lease, "--lease-namespace", "default", "--lease-duration-seconds", "4"];
    let mut a = Replica::start(&format!("{label}-a"), &label, &args);
    let mut b = Replica::start(&format!("{label}-b"), &label, &args);

    let (account, scope, bucket) = account_with_bucket(&aws).await;
    let name = support::unique_name("leader");
    let api = Api::<TrailPolicy>::all(client.clone());
    api.create(&PostParams::default(), &policy(&name, &label, &account, &bucket)).await.unwrap();
    wait_synced(&api, &name).await;
    let (first_is_a, _) = eventually("one leader", WAIT, || async {
        match (a.is_leader().await, b.is_leader().await) {
            (true, false) => Some(true),
            (false, true) => Some(false),
            _ => None,
        }
    })
    .await;
    if !first_is_a {
        std::mem::swap(&mut a, &mut b);
    }
    assert_eq!(b.get("/readyz").await.map(|r| r.0), Some(200), "a standby is ready");

    // The leader dies without a word: the standby waits out the lease, then leads.
    a.signal("-KILL");
    let (_, killed_takeover) = eventually("standby takes over after SIGKILL", WAIT, || async { b.is_leader().await.then_some(()) }).await;
    let arn = api.get(&name).await.unwrap().status.unwrap().trail_arn.unwrap();
    aws.stop_logging(&scope, &arn).await.unwrap();
    eventually("the new leader heals the trail", WAIT, || async {
        aws.get_trail_status(&scope, &arn).await.ok()?.is_logging.then_some(())
    })
    .await;

    // The leader is stopped cleanly: it releases the lease and a standby leads at once.
    let c = Replica::start(&format!("{label}-c"), &label, &args);
    eventually("third replica ready as a standby", WAIT, || async { (c.get("/readyz").await?.0 == 200).then_some(()) }).await;
    b.signal("-TERM");
    let (_, graceful_takeover) = eventually("standby takes over after SIGTERM", WAIT, || async { c.is_leader().await.then_some(()) }).await;
    let exit = tokio::time::timeout(WAIT, b.child.wait()).await.expect("stopped leader exits").unwrap();
    assert!(exit.success(), "a leader stopped by SIGTERM exits cleanly: {exit}");
    wait_synced(&api, &name).await;
    tokio::time::sleep(Duration::from_secs(6)).await;

    // No two replicas ever reconciled at the same time.
    let spans: Vec<(String, Vec<_>)> = [&a, &b, &c].iter().map(|r| (r.name.clone(), r.reconciles())).collect();
    for (name, s) in &spans {
        println!("{name}: {} reconciles", s.len());
    }
    assert!(!spans[0].1.is_empty() && !spans[1].1.is_empty() && !spans[2].1.is_empty(), "each leader reconciled in turn");
    for (i, (n1, s1)) in spans.iter().enumerate() {
        for (n2, s2) in spans.iter().skip(i + 1) {
            for (start1, end1) in s1 {
                for (start2, end2) in s2 {
                    assert!(end1 < start2 || end2 < start1, "{n1} and {n2} reconciled at once: {start1}..{end1} vs {start2}..{end2}");
                }
            }
        }
    }
    println!(
        "leader failover (lease 4 s): after SIGKILL {:.1} s, after SIGTERM {:.1} s",
        killed_takeover.as_secs_f64(),
        graceful_takeover.as_secs_f64()
    );
}

/// A controller whose AWS identity does not work (a broken IRSA trust, say) is not ready,
/// and says why; once it works, it is.
#[tokio::test]
async fn readiness_proves_the_aws_identity_and_says_what_is_wrong() {
    let _client = support::kube().await; // the CRD installed
    let app = support::unique_name("identity");
    let faults = crate::faults::Faults::for_client(&app);
    faults.set(serde_json::json!({"deny": {"STS/GetCallerIdentity": "no OpenIDConnect provider found in your account"}}));
    let endpoint = crate::faults::faulty_endpoint();
    let label = support::unique_name("identity");
    let replica = Replica::start_with("identity-replica", &label, &[], &[("TRAILWARDEN_AWS_ENDPOINT", &endpoint), ("AWS_SDK_UA_APP_ID", &app)]);
    let ((code, body), _) = eventually("/readyz says why", WAIT, || async {
        let (code, body) = replica.get("/readyz").await?;
        body.contains("AWS identity does not work").then_some((code, body))
    })
    .await;
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("AccessDenied") || body.contains("OpenIDConnect"), "names the refusal: {body}");
    assert_eq!(replica.get("/healthz").await.map(|r| r.0), Some(200), "alive, only not ready");
    faults.clear();
    eventually("/readyz turns 200 once the identity works", WAIT, || async { (replica.get("/readyz").await?.0 == 200).then_some(()) }).await;
}
