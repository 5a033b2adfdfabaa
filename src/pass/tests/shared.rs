//! Shared reads (a port that serves passes recent answers) may delay a heal, never cause a
//! write from an out-of-date fact.

use trailwarden_core::report::ConditionType;

use super::{ACCOUNT, aws_with, condition, desired, pass, scope, stages, trail};
use crate::aws::AwsPort;

/// A look through them that finds something to change looks again, fresh.
#[tokio::test]
async fn a_write_is_planned_from_fresh_reads_never_from_shared_ones() {
    let d = desired();
    // Shared reads saw logging stopped; someone has restarted it since.
    let aws = aws_with(Some(trail(&d, false)));
    let port = aws.sharing_reads();
    aws.start_logging(&scope(), &d.expected_trail_arn(ACCOUNT)).await.unwrap();
    aws.clear_calls();
    let report = pass(&port, d.clone()).await;
    assert_eq!(aws.writes(), Vec::<&str>::new(), "no write from a stale fact");
    assert!(aws.calls().contains(&"DescribeTrails"), "the fresh look read the trail: {:?}", aws.calls());
    assert_eq!(condition(&report, ConditionType::Logging), (Some(true), "Logging"));

    // Shared and fresh reads both see it stopped: healed, from the fresh look.
    aws.stop_logging(&scope(), &d.expected_trail_arn(ACCOUNT)).await.unwrap();
    let port = aws.sharing_reads();
    aws.clear_calls();
    pass(&port, d).await;
    assert_eq!(aws.writes(), ["StartLogging"]);
}

#[tokio::test]
async fn an_in_sync_look_through_shared_reads_reads_nothing_fresh() {
    let d = desired();
    let aws = aws_with(Some(trail(&d, true)));
    let port = aws.sharing_reads();
    aws.clear_calls();
    let report = pass(&port, d).await;
    assert_eq!(aws.calls(), Vec::<&str>::new(), "in sync: every answer came from the shared reads");
    assert_eq!(condition(&report, ConditionType::Synced), (Some(true), "InSync"));
}

/// A trail the shared list does not show is created from that look: CreateTrail itself is
/// refused if the trail exists, so no fact of the look can be out of date for it.
#[tokio::test]
async fn a_trail_the_shared_reads_do_not_show_is_created_without_reading_again() {
    let d = desired();
    let aws = aws_with(None);
    let port = aws.sharing_reads();
    aws.clear_calls();
    let report = pass(&port, d.clone()).await;
    assert_eq!(aws.calls(), ["CreateTrail", "StartLogging"], "no fresh read before the create");
    assert_eq!(condition(&report, ConditionType::Logging), (Some(true), "Logging"));
    assert!(aws.trail(&scope(), &d.expected_trail_arn(ACCOUNT)).is_some_and(|t| t.status.is_logging));
}

/// Someone created the trail after the shared read: the create is refused, nothing else is
/// written, and the pass judges again from fresh reads (here: the trail is in sync).
#[tokio::test]
async fn a_create_refused_because_the_trail_exists_looks_again_afresh() {
    let d = desired();
    let aws = aws_with(None);
    let port = aws.sharing_reads();
    aws.put_trail(&scope(), trail(&d, true));
    aws.clear_calls();
    let report = pass(&port, d.clone()).await;
    assert_eq!(aws.writes(), ["CreateTrail"], "the refused create, and nothing after it");
    assert!(aws.calls().contains(&"DescribeTrails"), "looked again: {:?}", aws.calls());
    assert_eq!(stages(&report), [], "the refusal is not a failure of the pass: {:?}", report.failures);
    assert_eq!(condition(&report, ConditionType::Synced), (Some(true), "InSync"));
}

/// With a key to resolve, the create waits for a fresh look: the key's ARN written into
/// the new trail must be the one the alias names now.
#[tokio::test]
async fn a_trail_with_a_key_is_created_from_fresh_reads() {
    let mut d = desired();
    d.settings.kms_key = Some("alias/cloudtrail".into());
    let aws = aws_with(None);
    let port = aws.sharing_reads();
    aws.clear_calls();
    pass(&port, d).await;
    let calls = aws.calls();
    assert!(calls.contains(&"DescribeTrails") && calls.contains(&"DescribeKey"), "fresh trail and key reads: {calls:?}");
    assert_eq!(aws.writes(), ["CreateTrail", "StartLogging"]);
}

/// Logging is restarted by the first fresh look, before any bucket read; when that look
/// then gives way to one that fixes the bucket too, the restart stays in the report.
#[tokio::test]
async fn a_restart_made_by_a_look_that_gave_way_is_still_reported() {
    let mut d = desired();
    d.posture.bucket.manage = true;
    let weak = trailwarden_core::posture::bucket::BucketFacts { versioning_enabled: Ok(false), ..super::bucket() };
    let aws = crate::aws::memory::MemoryAws::new().with_bucket(weak).with_key(Some("alias/cloudtrail"), super::key());
    aws.put_trail(&scope(), trail(&d, false));
    let port = aws.sharing_reads();
    aws.clear_calls();
    let report = pass(&port, d).await;
    let writes = aws.writes();
    assert_eq!(writes[0], "StartLogging", "logging first: {writes:?}");
    assert_eq!(writes.iter().filter(|w| **w == "StartLogging").count(), 1, "{writes:?}");
    assert!(writes.contains(&"PutBucketVersioning"), "{writes:?}");
    assert!(report.applied.iter().any(|w| w.operation == "StartLogging"), "{:?}", report.applied);
    assert!(report.notices.iter().any(|n| n.reason == "LoggingRestarted"), "{:?}", report.notices);
    assert!(report.corrected.iter().any(|d| d.field == "logging"), "{:?}", report.corrected);
    assert_eq!(condition(&report, ConditionType::Logging), (Some(true), "Logging"));
}
