//! A bucket, a KMS key and a trail, created and read back through the emulator from Rust,
//! in an account reached by assuming a role (as a policy with `account.roleArn` does).

use std::collections::BTreeMap;

use trailwarden::aws::{AwsPort, ErrorKind};
use trailwarden_core::Scope;
use trailwarden_core::trail::{Selectors, TrailSettings};

use crate::support::{self, own};

#[tokio::test]
async fn bucket_key_and_trail_round_trip_through_the_emulator() {
    let aws = support::aws().await;
    let (account, scope) = support::fresh_account();
    let bucket = support::unique_name("logs");
    let trail = support::unique_name("trail");

    let s3 = aws.s3(&scope).await;
    s3.create_bucket().bucket(&bucket).send().await.expect("create bucket");
    support::open_to_cloudtrail(&s3, &bucket, &account).await;
    let buckets = s3.list_buckets().send().await.expect("list buckets");
    assert!(buckets.buckets().iter().any(|b| b.name() == Some(bucket.as_str())), "bucket is listed in its account");

    let kms = aws_sdk_kms::Client::new(&aws.sdk_config(&scope).await);
    let key = kms.create_key().policy(support::cloudtrail_key_policy(&account).to_string()).send().await.expect("create key");
    let key_arn = key.key_metadata().and_then(|m| m.arn()).expect("key ARN").to_owned();
    assert!(key_arn.contains(&format!(":{account}:")), "key {key_arn} lives in account {account}");
    let alias = format!("alias/{trail}");
    kms.create_alias().alias_name(&alias).target_key_id(&key_arn).send().await.expect("create alias");
    assert_eq!(aws.describe_key(&own(&scope), &alias).await.unwrap().arn, key_arn, "alias resolves to the key ARN");

    let settings = TrailSettings {
        bucket: bucket.clone(),
        key_prefix: Some("audit".into()),
        sns_topic: None,
        kms_key: Some(key_arn.clone()),
        log_file_validation: true,
        include_global_service_events: true,
        multi_region: true,
        organization: false,
        cloud_watch_logs: None,
    };
    let tags = BTreeMap::from([("team".to_owned(), "security".to_owned())]);
    let arn = aws.create_trail(&scope, &trail, &settings, &tags).await.expect("create trail");
    assert_eq!(arn, format!("arn:aws:cloudtrail:{}:{account}:trail/{trail}", support::REGION));

    let described = aws.describe_trails(&scope, "").await.unwrap();
    let found = described.iter().find(|t| t.arn == arn).expect("DescribeTrails lists the new trail");
    assert_eq!(found.name, trail);
    assert_eq!(found.home_region, support::REGION);
    assert_eq!(found.settings, settings, "every setting reads back as written");

    assert!(!aws.get_trail_status(&scope, &arn).await.unwrap().is_logging, "CreateTrail leaves logging off");
    aws.start_logging(&scope, &arn).await.unwrap();
    assert!(aws.get_trail_status(&scope, &arn).await.unwrap().is_logging);
    assert_eq!(aws.list_tags(&scope, &arn).await.unwrap(), tags);
    assert!(aws.get_event_selectors(&scope, &arn).await.unwrap().is_aws_default(), "{:?}", Selectors::aws_default());

    // A name in use is refused, in this region and (the trail is multi-region) in another:
    // creating from a list that does not show the trail yet can never replace it.
    for region in [support::REGION, "eu-west-1"] {
        let elsewhere = Scope { region: region.into(), ..scope.clone() };
        let taken = aws.create_trail(&elsewhere, &trail, &settings, &BTreeMap::new()).await.expect_err("the name is taken");
        assert_eq!((taken.kind, taken.code.as_str()), (ErrorKind::Exists, "TrailAlreadyExistsException"), "{region}: {taken}");
    }
    assert_eq!(aws.list_tags(&scope, &arn).await.unwrap(), tags, "the trail was not replaced");

    aws.delete_trail(&scope, &arn).await.unwrap();
    assert!(!aws.describe_trails(&scope, "").await.unwrap().iter().any(|t| t.arn == arn), "deleted trail is gone");

    // The port's call log saw every operation: the zero-write assertions elsewhere rely on it.
    let calls = aws.calls().snapshot();
    let count = |op: &str| calls.iter().filter(|(c, _)| c.operation == op).map(|(_, n)| *n).sum::<u64>();
    assert_eq!((count("CreateTrail"), count("StartLogging"), count("DeleteTrail")), (3, 1, 1), "{calls:?}");
    assert_eq!(count("DescribeTrails"), 2);
    assert_eq!(count("CreateBucket"), 1, "S3 calls are recorded too");
    assert_eq!(
        aws.calls().writes(),
        7,
        "CreateBucket, PutBucketPolicy, CreateTrail (and its two refused repeats), StartLogging, DeleteTrail: {calls:?}"
    );
}
