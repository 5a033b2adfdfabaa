//! The CRD on a real apiserver: it installs, takes valid policies with their defaults,
//! refuses malformed ones with a message a user understands, and keeps status apart.

use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use serde_json::{Value, json};
use trailwarden::api::{Adoption, DeletionPolicy, Mode, TrailPolicy};

use crate::support;

fn dynamic_api(client: kube::Client) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("trailwarden.dev", "v1alpha1", "TrailPolicy");
    Api::all_with(client, &ApiResource::from_gvk_with_plural(&gvk, "trailpolicies"))
}

fn manifest(name: &str, spec: Value) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "trailwarden.dev/v1alpha1",
        "kind": "TrailPolicy",
        "metadata": {"name": name},
        "spec": spec,
    }))
    .unwrap()
}

fn valid_spec() -> Value {
    json!({"region": "us-east-1", "s3": {"bucketName": "audit-logs"}})
}

fn with(mut spec: Value, patch: Value) -> Value {
    for (k, v) in patch.as_object().unwrap() {
        spec[k] = v.clone();
    }
    spec
}

#[tokio::test]
async fn valid_policy_is_accepted_with_defaults_applied_by_the_apiserver() {
    let client = support::kube().await;
    let name = support::unique_name("valid");
    dynamic_api(client.clone()).create(&PostParams::default(), &manifest(&name, valid_spec())).await.unwrap();

    let policy = Api::<TrailPolicy>::all(client).get(&name).await.unwrap();
    let spec = &policy.spec;
    assert_eq!(spec.mode, Mode::Enforce);
    assert_eq!(spec.deletion_policy, DeletionPolicy::Retain);
    assert_eq!(spec.adoption, Adoption::Never);
    assert!(spec.logging && spec.multi_region && spec.include_global_service_events && spec.log_file_validation);
    assert_eq!(spec.resync_seconds, 60);
    assert!(spec.posture.bucket.require_public_access_block && !spec.posture.bucket.manage);
}

#[tokio::test]
async fn a_fully_specified_policy_is_accepted() {
    let client = support::kube().await;
    let name = support::unique_name("full");
    let spec = json!({
        "trailName": "org-audit.trail_1",
        "region": "eu-central-1",
        "account": {"roleArn": "arn:aws:iam::111122223333:role/trailwarden", "externalId": "ext-123"},
        "mode": "Audit", "deletionPolicy": "Delete", "adoption": "IfTagged",
        "logging": true, "multiRegion": true, "organization": true,
        "includeGlobalServiceEvents": true, "logFileValidation": true,
        "s3": {"bucketName": "org.audit-logs-1", "keyPrefix": "trails/org"},
        "kmsKeyId": "arn:aws:kms:eu-central-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "snsTopicName": "arn:aws:sns:eu-central-1:111122223333:trail-deliveries",
        "cloudWatchLogs": {
            "logGroupArn": "arn:aws:logs:eu-central-1:111122223333:log-group:cloudtrail:*",
            "roleArn": "arn:aws:iam::111122223333:role/CloudTrail_CloudWatchLogs"
        },
        "advancedEventSelectors": [
            {"name": "management writes", "fieldSelectors": [
                {"field": "eventCategory", "equals": ["Management"]},
                {"field": "readOnly", "equals": ["false"]}
            ]},
            {"name": "s3 writes", "fieldSelectors": [
                {"field": "eventCategory", "equals": ["Data"]},
                {"field": "resources.type", "equals": ["AWS::S3::Object"]},
                {"field": "readOnly", "equals": ["false"]}
            ]}
        ],
        "logArchive": {"accountId": "444455556666", "roleArn": "arn:aws:iam::444455556666:role/trailwarden-log-archive", "externalId": "ext-456"},
        "insights": ["ApiCallRateInsight", "ApiErrorRateInsight"],
        "tags": {"team": "security", "cost-center": "42"},
        "posture": {"bucket": {"manage": true, "requireMfaDelete": true}, "kms": {"manage": true}},
        "resyncSeconds": 30
    });
    let created = dynamic_api(client).create(&PostParams::default(), &manifest(&name, spec)).await.unwrap();
    let policy: TrailPolicy = serde_json::from_value(serde_json::to_value(created).unwrap()).unwrap();
    assert_eq!(policy.spec.trail_name.as_deref(), Some("org-audit.trail_1"));
    assert!(policy.spec.posture.bucket.require_versioning, "nested defaults are applied too");
}

/// Each malformed spec and the words the apiserver must answer it with.
fn invalid_cases() -> Vec<(&'static str, Value, &'static str)> {
    let selector = json!({"readWriteType": "All"});
    vec![
        ("selectors exclusive", with(valid_spec(), json!({
            "eventSelectors": [selector.clone()],
            "advancedEventSelectors": [{"fieldSelectors": [{"field": "eventCategory", "equals": ["Management"]}]}]
        })), "eventSelectors and advancedEventSelectors are mutually exclusive"),
        ("cloudwatch group without role", with(valid_spec(), json!({
            "cloudWatchLogs": {"logGroupArn": "arn:aws:logs:us-east-1:111122223333:log-group:ct:*"}
        })), "cloudWatchLogs needs both logGroupArn and roleArn"),
        ("trail name too short", with(valid_spec(), json!({"trailName": "ab"})), "trailName must be 3 to 128 characters long"),
        ("trail name adjacent separators", with(valid_spec(), json!({"trailName": "my-_trail"})), "may not have two of '.', '_', '-' in a row"),
        ("trail name starts with separator", with(valid_spec(), json!({"trailName": "-trail"})), "must begin and end with a letter or digit"),
        ("trail name is an IP", with(valid_spec(), json!({"trailName": "192.168.10.1"})), "trailName must not look like an IP address"),
        ("bucket uppercase", with(valid_spec(), json!({"s3": {"bucketName": "Audit_Logs"}})), "s3.bucketName may hold only lowercase letters"),
        ("bucket adjacent periods", with(valid_spec(), json!({"s3": {"bucketName": "audit..logs"}})), "s3.bucketName must not contain two periods in a row"),
        ("bucket is an IP", with(valid_spec(), json!({"s3": {"bucketName": "10.1.2.3"}})), "s3.bucketName must not look like an IP address"),
        ("bucket reserved prefix", with(valid_spec(), json!({"s3": {"bucketName": "xn--audit"}})), "s3.bucketName uses a prefix or suffix that S3 reserves"),
        ("bucket missing", with(valid_spec(), json!({"s3": {}})), "spec.s3.bucketName: Required value"),
        ("role ARN malformed", with(valid_spec(), json!({"account": {"roleArn": "arn:aws:iam::1234:user/bob"}})), "account.roleArn must be an IAM role ARN"),
        ("log group ARN malformed", with(valid_spec(), json!({
            "cloudWatchLogs": {"logGroupArn": "cloudtrail", "roleArn": "arn:aws:iam::111122223333:role/ct"}
        })), "cloudWatchLogs.logGroupArn must be a log group ARN"),
        ("kms key malformed", with(valid_spec(), json!({"kmsKeyId": "my key"})), "kmsKeyId must be an alias (alias/name), a key id, or a key or alias ARN"),
        ("sns topic malformed", with(valid_spec(), json!({"snsTopicName": "arn:aws:sqs:us-east-1:111122223333:q"})), "snsTopicName must be an SNS topic name or topic ARN"),
        ("resync too short", with(valid_spec(), json!({"resyncSeconds": 2})), "spec.resyncSeconds: Invalid value: 2: spec.resyncSeconds in body should be greater than or equal to 5"),
        ("resync too long", with(valid_spec(), json!({"resyncSeconds": 90000})), "should be less than or equal to 86400"),
        ("too many event selectors", with(valid_spec(), json!({"eventSelectors": vec![selector; 6]})), "spec.eventSelectors: Too many: 6: must have at most 5 items"),
        ("unknown mode", with(valid_spec(), json!({"mode": "Enforcing"})), "spec.mode: Unsupported value: \"Enforcing\""),
        ("unknown insight", with(valid_spec(), json!({"insights": ["ApiLatencyInsight"]})), "Unsupported value: \"ApiLatencyInsight\""),
        ("wrong type", with(valid_spec(), json!({"logging": "yes"})), "spec.logging: Invalid value: \"string\": spec.logging in body must be of type boolean"),
        ("region missing", json!({"s3": {"bucketName": "audit-logs"}}), "spec.region: Required value"),
        ("region malformed", with(valid_spec(), json!({"region": "US East"})), "region must be an AWS region name such as us-east-1"),
        ("reserved tag", with(valid_spec(), json!({"tags": {"aws:owner": "me"}})), "tag keys starting with 'aws:' are reserved by AWS"),
        ("owner tag declared", with(valid_spec(), json!({"tags": {"trailwarden.dev/policy": "other"}})), "tag keys under trailwarden.dev/ are set by trailwarden itself"),
        ("49 tags: 51 with ours", with(valid_spec(), json!({"tags": (0..49).map(|i| (format!("k{i}"), json!("v"))).collect::<serde_json::Map<_, _>>()})), "spec.tags: Too many: 49: must have at most 48 items"),
        ("tag key too long", with(valid_spec(), json!({"tags": {"k".repeat(129): "v"}})), "tag keys must be 1 to 128"),
        ("tag key with a bad character", with(valid_spec(), json!({"tags": {"team;drop": "v"}})), "tag keys must be 1 to 128"),
        ("tag value too long", with(valid_spec(), json!({"tags": {"team": "v".repeat(257)}})), "spec.tags.team: Too long: may not be more than 256"),
        ("multi-region without global service events", with(valid_spec(), json!({"includeGlobalServiceEvents": false})),
            "a multi-region trail must include global service events"),
        ("call-rate insight on read-only selectors", with(valid_spec(), json!({
            "insights": ["ApiCallRateInsight"], "eventSelectors": [{"readWriteType": "ReadOnly"}]
        })), "ApiCallRateInsight needs the trail to log write management events"),
        ("call-rate insight on data events only", with(valid_spec(), json!({
            "insights": ["ApiCallRateInsight"],
            "advancedEventSelectors": [{"fieldSelectors": [{"field": "eventCategory", "equals": ["Data"]}, {"field": "resources.type", "equals": ["AWS::S3::Object"]}]}]
        })), "ApiCallRateInsight needs the trail to log write management events"),
        ("call-rate insight on read-only management events", with(valid_spec(), json!({
            "insights": ["ApiCallRateInsight"],
            "advancedEventSelectors": [{"fieldSelectors": [{"field": "eventCategory", "equals": ["Management"]}, {"field": "readOnly", "equals": ["true"]}]}]
        })), "ApiCallRateInsight needs the trail to log write management events"),
        ("log-archive role of another account", with(valid_spec(), json!({
            "logArchive": {"accountId": "444455556666", "roleArn": "arn:aws:iam::111122223333:role/trailwarden-log-archive"}
        })), "logArchive.roleArn must be a role of logArchive.accountId"),
        ("log-archive account malformed", with(valid_spec(), json!({"logArchive": {"accountId": "4444-5555-6666"}})), "logArchive.accountId"),
        ("tag value with a bad character", with(valid_spec(), json!({"tags": {"team": "a<b>"}})), "spec.tags.team in body should match"),
    ]
}

#[tokio::test]
async fn malformed_policies_are_refused_with_a_message_naming_the_rule() {
    let api = dynamic_api(support::kube().await);
    let mut failures = vec![];
    for (case, spec, expected) in invalid_cases() {
        let name = support::unique_name("invalid");
        match api.create(&PostParams::default(), &manifest(&name, spec)).await {
            Ok(_) => failures.push(format!("{case}: accepted")),
            Err(kube::Error::Api(status)) if status.code == 422 && status.message.contains(expected) => {}
            Err(e) => failures.push(format!("{case}: refused, but not with {expected:?}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{} of {} cases wrong:\n{}", failures.len(), invalid_cases().len(), failures.join("\n"));
}

#[tokio::test]
async fn trail_name_and_region_are_immutable() {
    let api = dynamic_api(support::kube().await);
    let name = support::unique_name("immutable");
    api.create(&PostParams::default(), &manifest(&name, with(valid_spec(), json!({"trailName": "first-trail"}))))
        .await
        .unwrap();
    let pp = PatchParams::default();
    for (patch, expected) in [
        (json!({"spec": {"trailName": "second-trail"}}), "trailName is immutable"),
        (json!({"spec": {"trailName": null}}), "trailName is immutable"),
        (json!({"spec": {"region": "eu-west-1"}}), "region is immutable"),
    ] {
        match api.patch(&name, &pp, &Patch::Merge(&patch)).await {
            Err(kube::Error::Api(status)) => assert!(status.message.contains(expected), "{patch}: {}", status.message),
            Ok(_) => panic!("{patch} was accepted"),
            Err(e) => panic!("{patch}: {e}"),
        }
    }
    // Fields that are not immutable still change.
    api.patch(&name, &pp, &Patch::Merge(&json!({"spec": {"mode": "Audit"}}))).await.unwrap();
}

#[tokio::test]
async fn a_name_that_is_no_trail_name_needs_an_explicit_trail_name() {
    let api = dynamic_api(support::kube().await);
    // Kubernetes allows this name (up to 253 characters); CloudTrail does not (128 at most).
    let name = format!("{}-{}", support::unique_name("long"), "a".repeat(130));
    match api.create(&PostParams::default(), &manifest(&name, valid_spec())).await {
        Err(kube::Error::Api(status)) => assert!(status.message.contains("set spec.trailName"), "{}", status.message),
        other => panic!("accepted or failed otherwise: {other:?}"),
    }
    api.create(&PostParams::default(), &manifest(&name, with(valid_spec(), json!({"trailName": "audit"})))).await.unwrap();
    // Unicode letters and spaces are valid in tags, as CloudTrail allows them.
    let tagged = support::unique_name("tagged");
    api.create(&PostParams::default(), &manifest(&tagged, with(valid_spec(), json!({"tags": {"équipe sécurité": "données: oui"}}))))
        .await
        .unwrap();
}

#[tokio::test]
async fn the_account_is_immutable() {
    let api = dynamic_api(support::kube().await);
    let name = support::unique_name("account");
    let role = json!({"roleArn": "arn:aws:iam::111122223333:role/trailwarden"});
    api.create(&PostParams::default(), &manifest(&name, with(valid_spec(), json!({"account": role})))).await.unwrap();
    let pp = PatchParams::default();
    for patch in [
        json!({"spec": {"account": {"roleArn": "arn:aws:iam::444455556666:role/trailwarden"}}}),
        json!({"spec": {"account": null}}),
    ] {
        match api.patch(&name, &pp, &Patch::Merge(&patch)).await {
            Err(kube::Error::Api(status)) => assert!(status.message.contains("account.roleArn is immutable"), "{patch}: {}", status.message),
            other => panic!("{patch}: {other:?}"),
        }
    }
    // The external id may still change (a rotated secret).
    api.patch(&name, &pp, &Patch::Merge(&json!({"spec": {"account": {"externalId": "rotated-1"}}}))).await.unwrap();
    let plain = support::unique_name("plain");
    api.create(&PostParams::default(), &manifest(&plain, valid_spec())).await.unwrap();
    let patch = json!({"spec": {"account": role}});
    assert!(api.patch(&plain, &pp, &Patch::Merge(&patch)).await.is_err(), "an account cannot be added either");
}

#[tokio::test]
async fn status_is_written_only_through_the_status_subresource() {
    let client = support::kube().await;
    let api = dynamic_api(client.clone());
    let typed = Api::<TrailPolicy>::all(client);
    let name = support::unique_name("status");
    let mut object = manifest(&name, valid_spec());
    object.data["status"] = json!({"trailArn": "arn:aws:cloudtrail:us-east-1:111122223333:trail/forged"});
    api.create(&PostParams::default(), &object).await.unwrap();
    assert_eq!(typed.get(&name).await.unwrap().status, None, "status in a create is dropped");

    let forged = json!({"status": {"isLogging": true}});
    api.patch(&name, &PatchParams::default(), &Patch::Merge(&forged)).await.unwrap();
    assert_eq!(typed.get(&name).await.unwrap().status, None, "status in a main-resource patch is dropped");

    api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&forged)).await.unwrap();
    let status = typed.get(&name).await.unwrap().status.expect("status written");
    assert_eq!(status.is_logging, Some(true));
}
