//! A TrailPolicySet's service control policy on the bed's organization (whose rules make
//! SCPs refuse what AWS's would): created tagged and attached to the set's OU, it refuses
//! StopLogging to an attacker's role in a member account while trailwarden's member role
//! and the break-glass role keep working; rewritten, detached or deleted from the
//! management account, it is put back as soon as the call's event arrives (the regular
//! walk an hour away), its stripped owner tag too, and it follows the set's targets. An
//! SCP of the same name the set did not make is never touched, and under Audit nothing is
//! written.

use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use trailwarden::aws::AwsPort;
use trailwarden::k8s::set::api::{ServiceControlPolicyState, TrailPolicySet};
use trailwarden_core::Scope;

use crate::sets::run_sets;
use crate::support::{self, Controller, Organization, TEST_LABEL, eventually, member, organization, organizations, unit};

const BREAK_GLASS: &str = "break-glass";

fn role(account: &str, name: &str) -> Scope {
    Scope { role_arn: Some(format!("arn:aws:iam::{account}:role/{name}")), external_id: None, region: support::REGION.to_owned() }
}

fn set(name: &str, label: &str, org: &Organization, unit: &str, trail: &str, scp: Value) -> TrailPolicySet {
    serde_json::from_value(json!({
        "apiVersion": "trailwarden.dev/v1alpha1", "kind": "TrailPolicySet",
        "metadata": {"name": name, "labels": {TEST_LABEL: label}},
        "spec": {
            "template": {
                "region": support::REGION, "trailName": trail, "s3": {"bucketName": org.bucket},
                "logArchive": {"accountId": org.management, "roleArn": format!("arn:aws:iam::{}:role/trailwarden", org.management)},
            },
            "targets": {"organizationalUnits": [unit]},
            "organizationRoleArn": format!("arn:aws:iam::{}:role/trailwarden", org.management),
            "walkSeconds": 3600,
            "serviceControlPolicy": scp,
        },
    }))
    .unwrap()
}

async fn scp_state(sets: &Api<TrailPolicySet>, name: &str) -> Option<ServiceControlPolicyState> {
    sets.get(name).await.ok()?.status?.service_control_policy
}

fn prevention_reason(set: &TrailPolicySet) -> Option<String> {
    set.status.as_ref()?.conditions.iter().find(|c| c.type_ == "PreventionReady").map(|c| format!("{}/{}", c.status, c.reason))
}

fn content(management: &str, id: &str) -> Value {
    let described = organizations(management, "DescribePolicy", json!({"PolicyId": id}));
    serde_json::from_str(described["Policy"]["Content"].as_str().unwrap()).unwrap()
}

fn targets(management: &str, id: &str) -> Vec<String> {
    let listed = organizations(management, "ListTargetsForPolicy", json!({"PolicyId": id}));
    listed["Targets"].as_array().unwrap().iter().map(|t| t["TargetId"].as_str().unwrap().to_owned()).collect()
}

/// An Organizations call made from the management account, and its event on the queue.
fn change(management: &str, operation: &str, body: Value) {
    organizations(management, operation, body.clone());
    crate::events::publish("aws.organizations", operation, management, body, None);
}

#[tokio::test]
async fn a_set_keeps_its_scp_and_the_scp_ends_the_tug_of_war() {
    let client = support::kube().await;
    let aws = support::aws().await;
    let controller = Controller::start_with_events(client.clone(), &crate::events::queue_and_rule()).await;
    let (sets_task, set_port) = run_sets(&client, &controller).await;
    let org = organization(&aws).await;
    organizations(&org.management, "EnablePolicyType", json!({"RootId": org.root, "PolicyType": "SERVICE_CONTROL_POLICY"}));
    let prod = unit(&org.management, &org.root, "prod");
    let account = member(&org.management, &org.root, &prod);

    let name = support::unique_name("guarded");
    let trail = support::unique_name("guarded-audit");
    let break_glass = format!("arn:aws:iam::*:role/{BREAK_GLASS}");
    let sets = Api::<TrailPolicySet>::all(client.clone());
    let declared = json!({"breakGlassRoleArns": [break_glass]});
    sets.create(&PostParams::default(), &set(&name, &controller.label, &org, &prod, &trail, declared)).await.unwrap();

    let (held, _) = eventually("the SCP created, attached to prod, held", support::HEAL_TIMEOUT, || async {
        let state = scp_state(&sets, &name).await?;
        let ready = prevention_reason(&sets.get(&name).await.ok()?) == Some("True/InSync".to_owned());
        let logging = sets.get(&name).await.ok()?.status?.policies_logging == 1;
        (state.in_sync && ready && logging).then_some(state)
    })
    .await;
    let id = held.id.clone().expect("the SCP's id recorded");
    assert_eq!(held.name, format!("trailwarden-{name}"));
    assert_eq!(targets(&org.management, &id), [prod.as_str()]);
    let tags = organizations(&org.management, "ListTagsForResource", json!({"ResourceId": id}));
    assert!(tags["Tags"].as_array().unwrap().iter().any(|t| t["Key"] == "trailwarden.dev/set" && t["Value"] == name.as_str()), "{tags}");
    let declared_content = content(&org.management, &id);
    assert!(declared_content.to_string().contains(&format!("trail/{trail}")), "{declared_content}");

    // The tug-of-war ends: the attacker's role in the member account is refused.
    let arn = format!("arn:aws:cloudtrail:{}:{account}:trail/{trail}", support::REGION);
    let refused = aws.stop_logging(&role(&account, "attacker"), &arn).await.expect_err("the SCP refuses the attacker");
    assert!(refused.code.starts_with("AccessDenied"), "{refused}");
    assert!(aws.get_trail_status(&role(&account, "trailwarden-member"), &arn).await.unwrap().is_logging);
    // The break-glass role may still stop it; trailwarden (its member role spared too)
    // restarts it at the stop's event.
    aws.stop_logging(&role(&account, BREAK_GLASS), &arn).await.expect("the break-glass role is spared");
    crate::events::publish("aws.cloudtrail", "StopLogging", &account, json!({"name": arn}), None);
    eventually("logging restarted through the member role", support::HEAL_TIMEOUT, || async {
        aws.get_trail_status(&role(&account, "trailwarden-member"), &arn).await.ok()?.is_logging.then_some(())
    })
    .await;

    // The SCP loosened from the management account (which no SCP binds): put back.
    let loose = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}).to_string();
    change(&org.management, "UpdatePolicy", json!({"PolicyId": id, "Content": loose}));
    eventually("the content put back", support::HEAL_TIMEOUT, || async { (content(&org.management, &id) == declared_content).then_some(()) }).await;
    // Detached: attached again.
    change(&org.management, "DetachPolicy", json!({"PolicyId": id, "TargetId": prod}));
    eventually("attached to prod again", support::HEAL_TIMEOUT, || async { (targets(&org.management, &id) == [prod.clone()]).then_some(()) }).await;
    // Detached and deleted: made again, attached, the new id recorded.
    organizations(&org.management, "DetachPolicy", json!({"PolicyId": id, "TargetId": prod}));
    change(&org.management, "DeletePolicy", json!({"PolicyId": id}));
    let (remade, _) = eventually("a new SCP, attached to prod", support::HEAL_TIMEOUT, || async {
        let state = scp_state(&sets, &name).await?;
        let new_id = state.id.filter(|new| *new != id)?;
        (state.in_sync && targets(&org.management, &new_id) == [prod.clone()]).then_some(new_id)
    })
    .await;
    assert_eq!(content(&org.management, &remade), declared_content);
    assert!(support::event_reasons(&client, &name).await.iter().any(|r| r == "PreventionCorrected"));
    assert_eq!(controller.metric("trailwarden_set_scp_in_sync{", &format!("set=\"{name}\"")), 1.0);
    assert!(aws.stop_logging(&role(&account, "attacker"), &arn).await.is_err(), "the remade SCP refuses the attacker too");
    // Its owner tag stripped: the id the set recorded is still its, and the tag goes back.
    change(&org.management, "UntagResource", json!({"ResourceId": remade, "TagKeys": ["trailwarden.dev/set"]}));
    eventually("the owner tag put back", support::HEAL_TIMEOUT, || async {
        let tags = organizations(&org.management, "ListTagsForResource", json!({"ResourceId": remade}));
        tags["Tags"].as_array()?.iter().any(|t| t["Key"] == "trailwarden.dev/set" && t["Value"] == name.as_str()).then_some(())
    })
    .await;
    // The set's targets move from prod to dev: the SCP follows them.
    let dev = unit(&org.management, &org.root, "dev");
    let moved = json!({"spec": {"targets": {"organizationalUnits": [dev]}}});
    sets.patch(&name, &PatchParams::default(), &Patch::Merge(&moved)).await.unwrap();
    // The status says what the walk put right once its calls have come back: the calls
    // recorded below include them.
    eventually("attached to dev, detached from prod, and reported", support::HEAL_TIMEOUT, || async {
        let reported = scp_state(&sets, &name).await?.drift.contains(&format!("attached to {prod}"));
        (reported && targets(&org.management, &remade) == [dev.clone()]).then_some(())
    })
    .await;

    let operations = set_port.calls().snapshot().into_keys().map(|c| format!("{}:{}", c.service, c.operation));
    support::record_aws_operations(&format!("set-prevention-{name}"), operations);
    sets_task.abort();
}

#[tokio::test]
async fn a_foreign_scp_is_never_touched_and_audit_writes_nothing() {
    let client = support::kube().await;
    let aws = support::aws().await;
    let controller = Controller::start_with_events(client.clone(), &crate::events::queue_and_rule()).await;
    let (sets_task, _) = run_sets(&client, &controller).await;
    let org = organization(&aws).await;
    organizations(&org.management, "EnablePolicyType", json!({"RootId": org.root, "PolicyType": "SERVICE_CONTROL_POLICY"}));
    let prod = unit(&org.management, &org.root, "prod");
    member(&org.management, &org.root, &prod);
    let sets = Api::<TrailPolicySet>::all(client.clone());

    // Someone's own SCP under the name a set declares: reported, never written or attached.
    let theirs = support::unique_name("their-scp");
    let foreign = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "ec2:*", "Resource": "*"}]});
    let created = organizations(&org.management, "CreatePolicy", json!({
        "Name": theirs, "Description": "not trailwarden's", "Type": "SERVICE_CONTROL_POLICY", "Content": foreign.to_string(),
    }));
    let foreign_id = created["Policy"]["PolicySummary"]["Id"].as_str().unwrap().to_owned();
    let squatter = support::unique_name("squatter");
    let trail = support::unique_name("squat-audit");
    sets.create(&PostParams::default(), &set(&squatter, &controller.label, &org, &prod, &trail, json!({"name": theirs}))).await.unwrap();
    let (state, _) = eventually("NameTaken reported", support::HEAL_TIMEOUT, || async {
        let set = sets.get(&squatter).await.ok()?;
        let reason = prevention_reason(&set)?;
        (reason == "False/PreventionNotHeld").then_some(set.status?.service_control_policy?)
    })
    .await;
    assert!(state.problem.as_deref().unwrap().contains("not this set's"), "{state:?}");
    assert_eq!(state.id, None, "another's policy is never recorded as the set's");
    assert_eq!(content(&org.management, &foreign_id), foreign, "their content untouched");
    assert!(targets(&org.management, &foreign_id).is_empty(), "and attached nowhere");
    eventually("the account's trail logging, and still not Ready: the SCP is not held", support::HEAL_TIMEOUT, || async {
        let status = sets.get(&squatter).await.ok()?.status?;
        let ready = status.conditions.iter().find(|c| c.type_ == "Ready")?;
        (status.policies_logging == 1 && ready.status == "False" && ready.reason == "PreventionNotHeld").then_some(())
    })
    .await;

    // Audit: the SCP's drift is reported, and nothing is written to Organizations.
    let auditor = support::unique_name("auditor");
    let audited = support::unique_name("audited");
    sets.create(&PostParams::default(), &set(&auditor, &controller.label, &org, &prod, &audited, json!({"mode": "Audit"}))).await.unwrap();
    let (state, _) = eventually("the missing SCP reported under Audit", support::HEAL_TIMEOUT, || async {
        let set = sets.get(&auditor).await.ok()?;
        (prevention_reason(&set)? == "False/Drifted").then_some(set.status?.service_control_policy?)
    })
    .await;
    assert_eq!(state.drift, ["missing"]);
    let listed = organizations(&org.management, "ListPolicies", json!({"Filter": "SERVICE_CONTROL_POLICY"}));
    assert!(
        !listed["Policies"].as_array().unwrap().iter().any(|p| p["Name"] == format!("trailwarden-{auditor}").as_str()),
        "Audit created nothing: {listed}"
    );
    // Turned to Enforce, the same set makes it.
    let enforce = json!({"spec": {"serviceControlPolicy": {"mode": "Enforce"}}});
    sets.patch(&auditor, &PatchParams::default(), &Patch::Merge(&enforce)).await.unwrap();
    eventually("made once Enforce", support::HEAL_TIMEOUT, || async { scp_state(&sets, &auditor).await?.in_sync.then_some(()) }).await;
    sets_task.abort();
}
