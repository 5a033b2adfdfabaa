//! The pass over the in-memory port: ordering, independent stages, partial failure,
//! audit mode and adoption, in milliseconds. What only the real apiserver and the
//! emulator can show stays in `tests/e2e`.

use jiff::Timestamp;
use trailwarden_core::observed::ObservedTrail;
use trailwarden_core::posture::bucket::{BucketFacts, BucketPosture};
use trailwarden_core::posture::key::KeyFacts;
use trailwarden_core::report::{ConditionType, Report, Stage};
use trailwarden_core::testing;
use trailwarden_core::trail::{Selectors, Tags};
use trailwarden_core::{Adoption, Desired, Mode, OWNER_TAG, Scope};

use super::{History, run};
use crate::aws::ErrorKind;
use crate::aws::memory::MemoryAws;

mod shared;

const ACCOUNT: &str = "111122223333";
const KEY_ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn scope() -> Scope {
    Scope { role_arn: Some(format!("arn:aws:iam::{ACCOUNT}:role/trailwarden")), external_id: None, region: "us-east-1".into() }
}

/// The hardened policy of the domain's fixtures, in an account reached through a role,
/// with no key and no prefix unless a test adds them.
fn desired() -> Desired {
    let mut d = testing::desired();
    d.scope = scope();
    d.settings.kms_key = None;
    d.settings.key_prefix = None;
    d
}

fn bucket() -> BucketFacts {
    testing::bucket("logs")
}

fn key() -> KeyFacts {
    KeyFacts { arn: KEY_ARN.into(), ..testing::key(r#"{"Statement": []}"#) }
}

/// The trail exactly as `d` declares it, ours, in the given logging state.
fn trail(d: &Desired, logging: bool) -> ObservedTrail {
    let arn = d.expected_trail_arn(ACCOUNT);
    let mut t = ObservedTrail::created(&d.trail_name, arn, &d.scope.region, &d.settings, &d.all_tags());
    t.status.is_logging = logging;
    t
}

fn aws_with(t: Option<ObservedTrail>) -> MemoryAws {
    let aws = MemoryAws::new().with_bucket(bucket()).with_key(Some("alias/cloudtrail"), key());
    if let Some(t) = t {
        aws.put_trail(&scope(), t);
    }
    aws
}

async fn pass(aws: &MemoryAws, d: Desired) -> Report {
    run(aws, d, &History { had_trail: true, failing_before: vec![], restarts: vec![] }, Timestamp::now()).await
}

fn condition(report: &Report, type_: ConditionType) -> (Option<bool>, &'static str) {
    let c = report.condition(type_).expect("condition");
    (c.status, c.reason)
}

fn stages(report: &Report) -> Vec<Stage> {
    report.failures.iter().map(|f| f.stage).collect()
}

#[tokio::test]
async fn a_deleted_trail_is_recreated_then_logging_started() {
    let aws = aws_with(None);
    let report = pass(&aws, desired()).await;
    assert_eq!(aws.writes(), ["CreateTrail", "StartLogging"]);
    assert_eq!(condition(&report, ConditionType::Logging), (Some(true), "Logging"));
    assert_eq!(condition(&report, ConditionType::Synced), (Some(true), "InSync"));
    assert_eq!(report.notices[0].reason, "TrailRecreated");
    assert!(aws.trail(&scope(), "audit").expect("created").status.is_logging);
}

#[tokio::test]
async fn an_in_sync_trail_costs_no_write() {
    let aws = aws_with(Some(trail(&desired(), true)));
    let report = pass(&aws, desired()).await;
    assert!(aws.writes().is_empty(), "{:?}", aws.writes());
    assert_eq!(condition(&report, ConditionType::Ready), (Some(true), "Reconciled"));
    assert!(report.notices.is_empty(), "{:?}", report.notices);
}

#[tokio::test]
async fn logging_is_restored_although_the_key_cannot_be_described() {
    let mut d = desired();
    d.settings.kms_key = Some("alias/cloudtrail".into());
    let mut resolved = d.clone();
    resolved.settings.kms_key = Some(KEY_ARN.into());
    let aws = aws_with(Some(trail(&resolved, false)));
    aws.fail("DescribeKey", ErrorKind::AccessDenied);
    let report = pass(&aws, d).await;
    assert_eq!(aws.writes(), ["StartLogging"], "settings wait for the key; logging does not");
    assert_eq!(condition(&report, ConditionType::Logging), (Some(true), "Logging"));
    assert_eq!(condition(&report, ConditionType::Ready), (Some(false), "AccessDenied"));
    assert_eq!(stages(&report), [Stage::Resolve]);
    assert!(report.condition(ConditionType::Ready).unwrap().message.starts_with("resolve: KMS.DescribeKey"));
}

/// Restoring logging needs the trail and its status only: a selector or tag read that
/// fails still lets it restart (by the uid tag, else by the ARN the policy owns).
#[tokio::test]
async fn logging_is_restored_although_the_selectors_or_tags_cannot_be_read() {
    let mut d = desired();
    d.selectors = Selectors::aws_default();
    let mut custom = trail(&d, false);
    custom.description.has_custom_event_selectors = true;
    let aws = aws_with(Some(custom.clone()));
    aws.fail("GetEventSelectors", ErrorKind::Throttled);
    let report = pass(&aws, d.clone()).await;
    assert_eq!(aws.writes(), ["StartLogging"], "nothing but the restart while the selectors are unknown");
    assert_eq!(condition(&report, ConditionType::Logging), (Some(true), "Logging"));
    assert_eq!(condition(&report, ConditionType::Ready), (Some(false), "Throttled"));
    assert!(report.notices.iter().any(|n| n.reason == "LoggingRestarted"));

    // Tags unreadable: the trail is the policy's only by the ARN it remembers owning.
    let aws = aws_with(Some(custom));
    aws.fail("ListTags", ErrorKind::Throttled);
    pass(&aws, d.clone()).await;
    assert_eq!(aws.writes(), Vec::<&str>::new(), "not known to be ours: left alone");
    let mut remembering = d;
    remembering.remembered.trail_arn = Some(remembering.expected_trail_arn(ACCOUNT));
    pass(&aws, remembering).await;
    assert_eq!(aws.writes(), ["StartLogging"]);
}

#[tokio::test]
async fn a_refused_update_stops_neither_logging_nor_selectors_nor_tags() {
    let d = desired();
    let mut t = trail(&d, false);
    t.description.settings.log_file_validation = false;
    t.tags.insert("team".into(), "someone-else".into());
    t.selectors = Selectors::Basic(vec![]);
    t.description.has_custom_event_selectors = true;
    let aws = aws_with(Some(t));
    aws.fail("UpdateTrail", ErrorKind::Invalid);
    let report = pass(&aws, d).await;
    assert_eq!(aws.writes(), ["StartLogging", "UpdateTrail", "AddTags"]);
    assert_eq!(stages(&report), [Stage::Settings]);
    assert_eq!(condition(&report, ConditionType::Logging), (Some(true), "Logging"));
    assert_eq!(report.drift.iter().map(|d| d.field.as_str()).collect::<Vec<_>>(), ["logFileValidation"]);
    assert!(report.corrected.iter().any(|d| d.field == "logging") && report.corrected.iter().any(|d| d.field == "tags.team"));
    assert_eq!(report.applied.iter().map(|w| w.operation).collect::<Vec<_>>(), ["StartLogging", "AddTags"]);
}

#[tokio::test]
async fn a_refused_bucket_policy_write_does_not_keep_logging_off() {
    let mut d = desired();
    d.posture.bucket = BucketPosture { manage: true, ..Default::default() };
    let aws = aws_with(Some(trail(&d, false)));
    aws.fail("PutBucketPolicy", ErrorKind::AccessDenied);
    let report = pass(&aws, d).await;
    assert_eq!(aws.writes(), ["StartLogging", "PutBucketPolicy"]);
    assert_eq!(stages(&report), [Stage::BucketPosture]);
    assert_eq!(condition(&report, ConditionType::Logging), (Some(true), "Logging"));
    assert_eq!(condition(&report, ConditionType::Ready), (Some(false), "AccessDenied"));
}

#[tokio::test]
async fn audit_mode_writes_nothing_and_says_what_differs() {
    let mut d = desired();
    d.mode = Mode::Audit;
    d.posture.bucket = BucketPosture { manage: true, ..Default::default() };
    let aws = aws_with(Some(trail(&d, false)));
    let report = pass(&aws, d).await;
    assert!(aws.writes().is_empty(), "{:?}", aws.writes());
    assert_eq!(condition(&report, ConditionType::Logging), (Some(false), "NotLogging"));
    assert_eq!(condition(&report, ConditionType::Synced), (Some(false), "DriftDetected"));
    assert_eq!(report.notices.iter().map(|n| n.reason).collect::<Vec<_>>(), ["DriftObserved"]);
}

#[tokio::test]
async fn unreadable_aws_claims_nothing_and_writes_nothing() {
    let aws = aws_with(Some(trail(&desired(), false)));
    aws.fail("DescribeTrails", ErrorKind::Throttled);
    let report = pass(&aws, desired()).await;
    assert!(aws.writes().is_empty());
    assert_eq!(report.is_logging, None);
    assert_eq!(condition(&report, ConditionType::Logging), (None, "NotObserved"));
    assert_eq!(condition(&report, ConditionType::Ready), (Some(false), "Throttled"));
}

#[tokio::test]
async fn a_refused_create_writes_nothing_more() {
    let aws = MemoryAws::new();
    let report = pass(&aws, desired()).await;
    assert_eq!(aws.calls().iter().filter(|c| **c == "StartLogging").count(), 0);
    assert_eq!(condition(&report, ConditionType::Logging), (Some(false), "TrailAbsent"), "an absent trail logs nothing");
    assert_eq!(condition(&report, ConditionType::Ready), (Some(false), "BucketNotFound"));
}

#[tokio::test]
async fn a_foreign_trail_is_left_alone_unless_adoption_allows_it() {
    let d = desired();
    let mut foreign = trail(&d, false);
    foreign.tags = Tags::from([(OWNER_TAG.into(), "audit".into())]);
    let aws = aws_with(Some(foreign));
    let report = pass(&aws, d.clone()).await;
    assert!(aws.writes().is_empty());
    assert_eq!(condition(&report, ConditionType::Ready), (Some(false), "NotOwned"));
    assert!(!aws.calls().contains(&"GetBucketLocation"), "a trail that is not ours costs no posture reads: {:?}", aws.calls());

    let mut if_tagged = d;
    if_tagged.adoption = Adoption::IfTagged;
    let report = pass(&aws, if_tagged).await;
    // Logging first, before any other read; then the adoption tags and the policy's own.
    assert_eq!(aws.writes(), ["StartLogging", "AddTags", "AddTags"]);
    assert_eq!(report.notices[0].reason, "TrailAdopted");
    assert_eq!(condition(&report, ConditionType::Synced), (Some(true), "InSync"));
}

#[tokio::test]
async fn a_deleted_trail_is_recreated_even_when_its_key_cannot_be_described() {
    let mut d = desired();
    d.settings.kms_key = Some("alias/cloudtrail".into());
    let aws = aws_with(None);
    aws.fail("DescribeKey", ErrorKind::AccessDenied);
    let report = pass(&aws, d).await;
    assert_eq!(aws.writes(), ["CreateTrail", "StartLogging"]);
    assert_eq!(condition(&report, ConditionType::Logging), (Some(true), "Logging"));
    assert_eq!(stages(&report), [Stage::Resolve]);
    let created = aws.trail(&scope(), "audit").expect("recreated");
    assert_eq!(created.description.settings.kms_key.as_deref(), Some(KEY_ARN), "created with the declared key");
}

#[tokio::test]
async fn a_key_that_does_not_exist_is_never_written_into_a_trail() {
    let mut d = desired();
    d.settings.kms_key = Some("alias/does-not-exist".into());
    let aws = aws_with(None);
    let report = pass(&aws, d).await;
    assert!(aws.writes().is_empty(), "{:?}", aws.writes());
    assert_eq!(condition(&report, ConditionType::Ready), (Some(false), "KmsKeyNotFound"));
    assert!(report.condition(ConditionType::Ready).unwrap().message.contains("alias/does-not-exist"));
}

/// Two policies sharing a bucket or key: a policy put is made only onto the document it
/// was judged from. One that changed meanwhile (another policy's statements put in) is
/// not overwritten: the put is refused and reported, and the next pass judges again.
#[tokio::test]
async fn a_bucket_policy_put_onto_a_changed_policy_is_refused_and_reported() {
    let mut d = desired();
    d.posture.bucket = BucketPosture { manage: true, ..Default::default() };
    let aws = aws_with(Some(trail(&d, true)));
    let theirs = r#"{"Version":"2012-10-17","Statement":[{"Sid":"TheirTrail","Effect":"Allow","Principal":{"Service":"cloudtrail.amazonaws.com"},"Action":"s3:GetBucketAcl","Resource":"arn:aws:s3:::logs"}]}"#;
    aws.rewrite_before_put("logs", theirs);
    let report = pass(&aws, d.clone()).await;
    assert!(aws.writes().is_empty(), "nothing written: {:?}", aws.writes());
    assert_eq!(aws.bucket("logs").unwrap().policy, Ok(Some(theirs.to_owned())), "their statements stay");
    assert_eq!(stages(&report), [Stage::BucketPosture]);
    assert_eq!(condition(&report, ConditionType::Ready), (Some(false), "PolicyChanged"));
    let message = &report.condition(ConditionType::Ready).unwrap().message;
    assert!(message.contains("the bucket policy of logs changed since it was read"), "{message}");
    assert!(!report.applied.iter().any(|w| w.operation == "PutBucketPolicy"), "{:?}", report.applied);

    // The next pass reads the new policy and puts ours beside theirs, once.
    aws.clear_calls();
    let report = pass(&aws, d.clone()).await;
    assert_eq!(aws.writes(), ["PutBucketPolicy"]);
    assert_eq!(condition(&report, ConditionType::Ready), (Some(true), "Reconciled"));
    let policy = aws.bucket("logs").unwrap().policy.unwrap().unwrap();
    assert!(policy.contains("TheirTrail") && policy.contains(d.expected_trail_arn(ACCOUNT).as_str()), "{policy}");
    aws.clear_calls();
    pass(&aws, d).await;
    assert!(aws.writes().is_empty(), "converged: {:?}", aws.writes());
}

#[tokio::test]
async fn a_key_policy_put_onto_a_changed_policy_is_refused_and_reported() {
    let mut d = desired();
    d.settings.kms_key = Some(KEY_ARN.into());
    d.posture.kms.manage = true;
    let aws = aws_with(Some(trail(&d, true)));
    let theirs = r#"{"Statement": [{"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"}]}"#;
    aws.rewrite_before_put(KEY_ARN, theirs);
    let report = pass(&aws, d.clone()).await;
    assert!(aws.writes().is_empty(), "nothing written: {:?}", aws.writes());
    assert_eq!(aws.key(KEY_ARN).unwrap().policy, Ok(theirs.to_owned()));
    assert_eq!(stages(&report), [Stage::KeyPosture]);
    assert_eq!(condition(&report, ConditionType::Ready), (Some(false), "PolicyChanged"));

    aws.clear_calls();
    pass(&aws, d).await;
    assert_eq!(aws.writes(), ["PutKeyPolicy"]);
    assert!(aws.key(KEY_ARN).unwrap().policy.unwrap().contains("arn:aws:iam::111122223333:root"), "the root statement kept");
}

/// The organization's trail of the management account, as DescribeTrails lists it in a
/// member account: same name as the policy's, another account's ARN.
fn organization_trail(d: &Desired) -> ObservedTrail {
    let mut org = trail(d, true);
    org.description.arn = "arn:aws:cloudtrail:us-east-1:999988887777:trail/audit".into();
    org.description.settings.organization = true;
    org.tags = Tags::new();
    org
}

#[tokio::test]
async fn a_same_named_trail_of_another_account_is_never_ours() {
    let d = desired();
    let org = organization_trail(&d);
    // Listed first (stored under another region of the member account, multi-region).
    let aws = aws_with(None);
    aws.put_trail(&Scope { region: "eu-west-1".into(), ..scope() }, org.clone());
    assert_eq!(super::observe::trail(&aws, &d, ACCOUNT).await.unwrap(), trailwarden_core::Observed::Absent, "not ours, not a shadow");

    aws.put_trail(&scope(), trail(&d, true));
    let observed = super::observe::trail(&aws, &d, ACCOUNT).await.unwrap();
    assert_eq!(observed.arn(), Some(d.expected_trail_arn(ACCOUNT).as_str()), "ours, matched by ARN");
    let report = pass(&aws, d.clone()).await;
    assert!(aws.writes().is_empty(), "{:?}", aws.writes());
    assert_eq!(condition(&report, ConditionType::Ready), (Some(true), "Reconciled"));
    assert_eq!(aws.trail(&scope(), &org.description.arn).unwrap(), org, "the organization's trail untouched");
}

#[tokio::test]
async fn the_younger_of_two_policies_for_one_trail_writes_nothing_and_names_the_elder() {
    use trailwarden_core::ownership::Claimant;
    let mut d = desired();
    d.peers.created = Some("2026-01-02T00:00:00Z".parse().unwrap());
    d.peers.rivals = vec![Claimant { name: "elder".into(), uid: "uid-elder".into(), created: Some("2026-01-01T00:00:00Z".parse().unwrap()) }];
    let aws = aws_with(None);
    let report = pass(&aws, d.clone()).await;
    assert!(aws.writes().is_empty(), "no CreateTrail: {:?}", aws.writes());
    assert_eq!(condition(&report, ConditionType::Ready), (Some(false), "Conflict"));
    assert!(report.condition(ConditionType::Ready).unwrap().message.contains("policy elder"));
    assert_eq!(report.notices.iter().map(|n| n.reason).collect::<Vec<_>>(), ["Conflict"]);

    // The trail carries our uid (we created it before the elder came into view): ours.
    aws.put_trail(&scope(), trail(&d, false));
    let report = pass(&aws, d).await;
    assert_eq!(aws.writes(), ["StartLogging"]);
    assert_eq!(condition(&report, ConditionType::Ready), (Some(true), "Reconciled"));
}

#[tokio::test]
async fn adopting_a_stronger_trail_is_refused_unless_the_policy_may_weaken_it() {
    let mut hardened = desired();
    hardened.settings.kms_key = Some(KEY_ARN.into());
    hardened.insights = [trailwarden_core::trail::InsightType::ApiCallRateInsight].into();
    let mut theirs = trail(&hardened, true);
    theirs.tags = Tags::new();
    theirs.insights = hardened.insights.clone();
    theirs.description.has_insight_selectors = true;
    let aws = aws_with(Some(theirs));
    let mut d = desired();
    d.adoption = Adoption::Always;
    let report = pass(&aws, d.clone()).await;
    assert!(aws.writes().is_empty(), "{:?}", aws.writes());
    assert_eq!(condition(&report, ConditionType::Ready), (Some(false), "AdoptionWouldWeaken"));
    let message = &report.condition(ConditionType::Ready).unwrap().message;
    assert!(message.contains(KEY_ARN) && message.contains("ApiCallRateInsight"), "{message}");
    assert!(!aws.calls().contains(&"GetBucketLocation"), "refused before any posture read: {:?}", aws.calls());

    d.adoption_may_weaken = true;
    let report = pass(&aws, d).await;
    assert_eq!(aws.writes(), ["AddTags", "UpdateTrail", "PutInsightSelectors", "AddTags"], "adopted, then made as the policy says");
    assert_eq!(condition(&report, ConditionType::Synced), (Some(true), "InSync"));
    assert_eq!(report.notices[0].reason, "TrailAdopted");
}

/// A pass that writes only to the trail reads the trail afresh and keeps the shared bucket
/// facts; one that fixes the bucket reads those afresh too.
#[tokio::test]
async fn only_what_a_write_depends_on_is_read_afresh() {
    let d = desired();
    let aws = aws_with(Some(trail(&d, false)));
    let port = aws.sharing_reads();
    aws.clear_calls();
    pass(&port, d.clone()).await;
    assert_eq!(aws.writes(), ["StartLogging"]);
    let live = aws.calls();
    assert!(live.contains(&"DescribeTrails") && !live.contains(&"GetBucketLocation"), "{live:?}");

    let mut managed = d;
    managed.posture.bucket.manage = true;
    let weak = BucketFacts { versioning_enabled: Ok(false), ..bucket() };
    let aws = MemoryAws::new().with_bucket(weak).with_key(Some("alias/cloudtrail"), key());
    aws.put_trail(&scope(), trail(&managed, true));
    let port = aws.sharing_reads();
    aws.clear_calls();
    pass(&port, managed).await;
    let live = aws.calls();
    assert!(live.contains(&"GetBucketLocation") && aws.writes().contains(&"PutBucketVersioning"), "{live:?}");
}

#[tokio::test]
async fn a_new_bucket_gets_cloudtrail_in_before_the_trail_is_moved_to_it() {
    let mut d = desired();
    d.posture.bucket = BucketPosture { manage: true, ..Default::default() };
    let on_old_bucket = {
        let mut old = d.clone();
        old.settings.bucket = "old-logs".into();
        trail(&old, false)
    };
    let aws = aws_with(Some(on_old_bucket)).with_bucket(testing::bucket("old-logs"));
    let report = pass(&aws, d).await;
    // Logging first; then the new bucket's policy, which CloudTrail checks on UpdateTrail.
    assert_eq!(aws.writes(), ["StartLogging", "PutBucketPolicy", "UpdateTrail"]);
    assert_eq!(condition(&report, ConditionType::Synced), (Some(true), "InSync"));
}

#[tokio::test]
async fn a_log_archive_bucket_read_from_outside_says_what_it_cannot_judge_and_fixes_nothing() {
    let mut d = desired();
    d.posture.bucket = BucketPosture { manage: true, ..Default::default() };
    d.log_archive = Some(trailwarden_core::LogArchive { account: "444455556666".into(), role: None });
    let aws = aws_with(Some(trail(&d, true)));
    let report = pass(&aws, d).await;
    assert!(aws.writes().is_empty(), "no fix from outside the owner's account: {:?}", aws.writes());
    let policy_check = report.findings.iter().find(|c| c.id == "BKT-CLOUDTRAIL-POLICY").expect("bucket policy check");
    assert_eq!(policy_check.status, trailwarden_core::posture::CheckStatus::Unknown);
    assert!(policy_check.message.contains("444455556666") && policy_check.message.contains("logArchive.roleArn"), "{}", policy_check.message);
    let public = report.findings.iter().find(|c| c.id == "BKT-PUBLIC-ACCESS-BLOCK").expect("public access block check");
    assert_eq!(public.status, trailwarden_core::posture::CheckStatus::Pass, "what S3 answers to others is still judged");
}
