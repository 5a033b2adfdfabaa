use super::*;

const KEY_ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn scope() -> Scope {
    Scope { role_arn: None, external_id: None, region: "us-east-1".into() }
}

/// The bucket and key of the scope's own account.
fn own() -> trailwarden_core::Reach {
    trailwarden_core::Reach::owned(scope(), OWN_ACCOUNT.into())
}

fn bucket(name: &str) -> BucketFacts {
    BucketFacts {
        name: name.into(),
        region: "us-east-1".into(),
        public_access_block: Ok([false; 4]),
        policy: Ok(None),
        public_acl_grantees: Ok(vec![]),
        versioning_enabled: Ok(false),
        mfa_delete_enabled: Ok(false),
        access_log_target: Ok(None),
        object_ownership: Ok(None),
        lifecycle: Ok(vec![]),
        encryption: Ok(Some("AES256".into())),
        object_lock: Ok(None),
    }
}

fn key() -> KeyFacts {
    KeyFacts {
        arn: KEY_ARN.into(),
        state: Ok("Enabled".into()),
        deletion_date: None,
        spec: Ok("SYMMETRIC_DEFAULT".into()),
        rotation_enabled: Ok(false),
        policy: Ok("{}".into()),
    }
}

fn settings(bucket: &str) -> TrailSettings {
    TrailSettings {
        bucket: bucket.into(),
        key_prefix: None,
        sns_topic: None,
        kms_key: None,
        log_file_validation: true,
        include_global_service_events: true,
        multi_region: false,
        organization: false,
        cloud_watch_logs: None,
    }
}

fn aws() -> MemoryAws {
    MemoryAws::new().with_bucket(bucket("logs")).with_key(Some("trail"), key())
}

#[tokio::test]
async fn a_created_trail_does_not_log_until_started() {
    let aws = aws();
    let tags = Tags::from([("team".into(), "security".into())]);
    let arn = aws.create_trail(&scope(), "audit", &settings("logs"), &tags).await.unwrap();
    assert_eq!(arn, "arn:aws:cloudtrail:us-east-1:111122223333:trail/audit");
    assert!(!aws.get_trail_status(&scope(), &arn).await.unwrap().is_logging);
    aws.start_logging(&scope(), "audit").await.unwrap();
    let trail = aws.trail(&scope(), "audit").unwrap();
    assert!(trail.status.is_logging);
    assert_eq!(trail.tags, tags);
    assert_eq!(aws.calls(), ["CreateTrail", "GetTrailStatus", "StartLogging"]);
    assert_eq!(aws.writes(), ["CreateTrail", "StartLogging"]);
}

#[tokio::test]
async fn create_refuses_a_taken_name_and_a_missing_bucket_or_key() {
    let aws = aws();
    aws.create_trail(&scope(), "audit", &settings("logs"), &Tags::new()).await.unwrap();
    let taken = aws.create_trail(&scope(), "audit", &settings("logs"), &Tags::new()).await.unwrap_err();
    assert_eq!((taken.kind, taken.code.as_str()), (ErrorKind::Exists, "TrailAlreadyExistsException"));
    let no_bucket = aws.create_trail(&scope(), "other", &settings("nope"), &Tags::new()).await.unwrap_err();
    assert_eq!(no_bucket.kind, ErrorKind::BucketNotFound);
    let unknown_key = TrailSettings { kms_key: Some("alias/nope".into()), ..settings("logs") };
    let no_key = aws.create_trail(&scope(), "other", &unknown_key, &Tags::new()).await.unwrap_err();
    assert_eq!(no_key.kind, ErrorKind::KeyNotFound);
    assert!(aws.trail(&scope(), "other").is_none());
}

#[tokio::test]
async fn the_key_is_reported_by_arn_and_the_topic_by_arn() {
    let aws = aws();
    let declared = TrailSettings { kms_key: Some("alias/trail".into()), sns_topic: Some("alerts".into()), ..settings("logs") };
    aws.create_trail(&scope(), "audit", &declared, &Tags::new()).await.unwrap();
    let reported = aws.describe_trails(&scope(), "").await.unwrap().remove(0).settings;
    assert_eq!(reported.kms_key.as_deref(), Some(KEY_ARN));
    assert_eq!(reported.sns_topic.as_deref(), Some("arn:aws:sns:us-east-1:111122223333:alerts"));
}

#[tokio::test]
async fn a_scripted_failure_fails_exactly_that_operation_and_is_recorded() {
    let aws = aws();
    aws.create_trail(&scope(), "audit", &settings("logs"), &Tags::new()).await.unwrap();
    aws.fail("StartLogging", ErrorKind::Throttled);
    let e = aws.start_logging(&scope(), "audit").await.unwrap_err();
    assert_eq!((e.operation, e.kind, e.code.as_str()), ("StartLogging", ErrorKind::Throttled, "ThrottlingException"));
    let changed = TrailSettings { log_file_validation: false, ..settings("logs") };
    aws.update_trail(&scope(), "audit", &settings("logs"), &changed).await.unwrap();
    assert!(aws.start_logging(&scope(), "audit").await.is_err(), "fails until healed");
    let trail = aws.trail(&scope(), "audit").unwrap();
    assert!(!trail.status.is_logging);
    assert_eq!(trail.description.settings, changed);
    assert_eq!(aws.writes(), ["CreateTrail", "StartLogging", "UpdateTrail", "StartLogging"]);
    aws.heal("StartLogging");
    aws.start_logging(&scope(), "audit").await.unwrap();
}

#[tokio::test]
async fn a_failure_scripted_once_fails_only_the_next_call() {
    let aws = aws();
    aws.fail_once("DescribeTrails", ErrorKind::Unavailable);
    assert!(aws.describe_trails(&scope(), "").await.is_err());
    assert!(aws.describe_trails(&scope(), "").await.is_ok());
}

#[tokio::test]
async fn stopping_logging_drops_insights() {
    let aws = aws();
    aws.create_trail(&scope(), "audit", &settings("logs"), &Tags::new()).await.unwrap();
    aws.start_logging(&scope(), "audit").await.unwrap();
    let insights = Insights::from([trailwarden_core::trail::InsightType::ApiCallRateInsight]);
    aws.put_insight_selectors(&scope(), "audit", &insights).await.unwrap();
    assert!(aws.trail(&scope(), "audit").unwrap().description.has_insight_selectors);
    aws.stop_logging(&scope(), "audit").await.unwrap();
    let trail = aws.trail(&scope(), "audit").unwrap();
    assert!(trail.insights.is_empty());
    assert!(!trail.description.has_insight_selectors);
}

#[tokio::test]
async fn unknown_names_fail_as_aws_fails_them() {
    let aws = aws();
    let trail = aws.get_trail_status(&scope(), "nope").await.unwrap_err();
    assert_eq!((trail.kind, trail.code.as_str()), (ErrorKind::NotFound, "TrailNotFoundException"));
    assert_eq!(aws.describe_bucket(&own(), "nope").await.unwrap_err().kind, ErrorKind::BucketNotFound);
    assert_eq!(aws.describe_key(&own(), "alias/nope").await.unwrap_err().kind, ErrorKind::KeyNotFound);
}

#[tokio::test]
async fn a_shadow_is_listed_but_changed_only_in_its_home_region() {
    let aws = aws();
    let multi_region = TrailSettings { multi_region: true, ..settings("logs") };
    let arn = aws.create_trail(&scope(), "audit", &multi_region, &Tags::new()).await.unwrap();
    let elsewhere = Scope { region: "eu-west-1".into(), ..scope() };
    let listed = aws.describe_trails(&elsewhere, "").await.unwrap();
    assert_eq!(listed[0].home_region, "us-east-1");
    assert_eq!(aws.start_logging(&elsewhere, &arn).await.unwrap_err().code, "InvalidHomeRegionException");
}

#[tokio::test]
async fn posture_fixes_change_the_facts_and_a_failed_read_leaves_one_fact_unknown() {
    let aws = aws();
    aws.fix_bucket(&own(), "logs", &BucketFix::EnableVersioning).await.unwrap();
    aws.fix_key(&own(), KEY_ARN, &KeyFix::EnableKeyRotation).await.unwrap();
    assert_eq!(aws.bucket("logs").unwrap().versioning_enabled, Ok(true));
    assert_eq!(aws.key("alias/trail").unwrap().rotation_enabled, Ok(true));
    aws.fail("GetBucketPolicy", ErrorKind::AccessDenied);
    let facts = aws.describe_bucket(&own(), "logs").await.unwrap();
    assert!(facts.policy.is_err());
    assert_eq!(facts.versioning_enabled, Ok(true));
    assert_eq!(aws.writes(), ["PutBucketVersioning", "EnableKeyRotation"]);
}
