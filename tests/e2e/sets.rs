//! A TrailPolicySet on the bed's organization: one TrailPolicy per account of its OUs
//! (walked down to the last child OU), named predictably, owned by the set, each logging
//! through the member role of its account; the template's changes reach every policy; an
//! account moved out of the OUs loses its policy as soon as the move's event arrives (the
//! regular walk an hour away), its trail retained; the organization's own switches
//! (CloudTrail's delegated administrator, its trusted access) and an account leaving the
//! organization are each said on the set.

use std::time::Duration;

use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::ResourceExt;
use serde_json::json;
use trailwarden::api::TrailPolicy;
use trailwarden::aws::AwsPort;
use trailwarden::k8s::set::api::TrailPolicySet;
use trailwarden::k8s::set::{SET_LABEL, SetOptions};

use crate::support::{self, Controller, Organization, TEST_LABEL, eventually, member, organization, organizations, unit};

/// The sets' controller beside `controller`, on its label and its events queue; its AWS
/// port (for the calls it made).
pub(crate) async fn run_sets(client: &kube::Client, controller: &Controller) -> (tokio::task::JoinHandle<anyhow::Result<()>>, trailwarden::aws::sdk::SdkAws) {
    let port = support::controller_aws().await;
    let options = SetOptions {
        port: port.clone(),
        label_selector: Some(format!("{TEST_LABEL}={}", controller.label)),
        deadline: Duration::from_secs(60),
        organization_changes: controller.events.as_ref().map(|queue| queue.organization_changes()),
        metrics: Some(controller.metrics.sets.clone()),
    };
    (tokio::spawn(trailwarden::k8s::set::run(client.clone(), options, std::future::pending())), port)
}

#[tokio::test]
async fn a_set_keeps_one_policy_per_account_of_its_units_and_follows_the_organization() {
    let client = support::kube().await;
    let aws = support::aws().await;
    let controller = Controller::start_with_events(client.clone(), &crate::events::queue_and_rule()).await;
    let (sets_task, set_port) = run_sets(&client, &controller).await;

    // The organization: prod (with prod-eu under it) and dev; the log archive is the
    // management account's bucket, open to every account's trails.
    let Organization { management, root, bucket } = organization(&aws).await;
    let prod = unit(&management, &root, "prod");
    let prod_eu = unit(&management, &prod, "prod-eu");
    let dev = unit(&management, &root, "dev");
    let (a1, a2, excluded, a4) =
        (member(&management, &root, &prod), member(&management, &root, &prod_eu), member(&management, &root, &prod), member(&management, &root, &dev));
    let cloudtrail_admin = json!({"AccountId": excluded, "ServicePrincipal": "cloudtrail.amazonaws.com"});
    organizations(&management, "RegisterDelegatedAdministrator", cloudtrail_admin.clone());

    let name = support::unique_name("org");
    let trail_name = support::unique_name("org-audit");
    let set: TrailPolicySet = serde_json::from_value(json!({
        "apiVersion": "trailwarden.dev/v1alpha1", "kind": "TrailPolicySet",
        "metadata": {"name": name, "labels": {TEST_LABEL: controller.label}},
        "spec": {
            "template": {
                "region": support::REGION, "trailName": trail_name, "s3": {"bucketName": bucket},
                "logArchive": {"accountId": management, "roleArn": format!("arn:aws:iam::{management}:role/trailwarden")},
            },
            "targets": {"organizationalUnits": [prod], "excludeAccounts": [excluded]},
            "organizationRoleArn": format!("arn:aws:iam::{management}:role/trailwarden"),
            "accountRemoval": "Retain",
            "walkSeconds": 3600,
        },
    }))
    .unwrap();
    let sets = Api::<TrailPolicySet>::all(client.clone());
    sets.create(&PostParams::default(), &set).await.unwrap();
    let policies = Api::<TrailPolicy>::all(client.clone());
    let generated = || async {
        let list = policies.list(&ListParams::default().labels(&format!("{SET_LABEL}={name}"))).await.unwrap();
        let mut names: Vec<String> = list.items.iter().map(|p| p.name_any()).collect();
        names.sort();
        (names, list.items)
    };
    let mut expected = vec![format!("{name}-{a1}"), format!("{name}-{a2}")];
    expected.sort();
    let ((_, items), _) =
        eventually("a policy per account of prod and prod-eu", support::HEAL_TIMEOUT, || async { Some(generated().await).filter(|(n, _)| *n == expected) })
            .await;
    for policy in &items {
        let account = policy.name_any().rsplit('-').next().unwrap().to_owned();
        assert_eq!(policy.spec.account.as_ref().unwrap().role_arn, format!("arn:aws:iam::{account}:role/trailwarden-member"));
        assert!(policy.owner_references().iter().any(|o| o.kind == "TrailPolicySet" && o.name == name), "owned by the set");
    }
    eventually("every account's trail logging, the set Ready", support::HEAL_TIMEOUT, || async {
        let status = sets.get(&name).await.ok()?.status?;
        let ready = status.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True");
        (status.accounts_targeted == 2 && status.policies_logging == 2 && ready).then_some(())
    })
    .await;
    for account in [&a1, &a2] {
        let scope = trailwarden_core::Scope {
            role_arn: Some(format!("arn:aws:iam::{account}:role/trailwarden-member")),
            external_id: None,
            region: support::REGION.to_owned(),
        };
        let arn = format!("arn:aws:cloudtrail:{}:{account}:trail/{trail_name}", support::REGION);
        assert!(aws.get_trail_status(&scope, &arn).await.unwrap().is_logging, "{account}'s trail logs");
    }
    assert!(
        !generated().await.0.iter().any(|n| n.ends_with(&excluded) || n.ends_with(&a4)),
        "neither the excluded account nor dev's"
    );

    // The template changes: every policy follows.
    let tagged = json!({"spec": {"template": {"tags": {"team": "security"}}}});
    sets.patch(&name, &PatchParams::default(), &Patch::Merge(&tagged)).await.unwrap();
    eventually("the template's tags on every policy", support::HEAL_TIMEOUT, || async {
        let (_, items) = generated().await;
        (items.len() == 2 && items.iter().all(|p| p.spec.tags.get("team").map(String::as_str) == Some("security"))).then_some(())
    })
    .await;

    // a2 moves to dev: the move's event walks the organization again, its policy goes,
    // its trail retained.
    organizations(&management, "MoveAccount", json!({"AccountId": a2, "SourceParentId": prod_eu, "DestinationParentId": dev}));
    crate::events::publish("aws.organizations", "MoveAccount", &management, json!({"accountId": a2}), None);
    eventually("a2's policy gone once the move's event arrived", support::HEAL_TIMEOUT, || async {
        let (names, _) = generated().await;
        (names == [format!("{name}-{a1}")]).then_some(())
    })
    .await;
    let a2_scope =
        trailwarden_core::Scope { role_arn: Some(format!("arn:aws:iam::{a2}:role/trailwarden-member")), external_id: None, region: support::REGION.to_owned() };
    eventually("the policy's deletion done", support::HEAL_TIMEOUT, || async {
        policies.get_opt(&format!("{name}-{a2}")).await.unwrap().is_none().then_some(())
    })
    .await;
    assert!(support::trail(&aws, &a2_scope, &trail_name).await.is_some(), "Retain: the trail stays in the account that left");

    assert!(controller.metric("trailwarden_events_total{", "outcome=\"organization\"") >= 1.0, "the event read as the organization's");

    // The organization's own switches: CloudTrail's delegated administrator deregistered.
    let admins = |status: &trailwarden::k8s::set::api::TrailPolicySetStatus| {
        status.organization.as_ref().and_then(|o| o.cloud_trail_delegated_administrators.clone()).unwrap_or_default()
    };
    assert_eq!(admins(&sets.get(&name).await.unwrap().status.unwrap()), [excluded.as_str()], "the administrator read by the walk");
    organizations(&management, "DeregisterDelegatedAdministrator", cloudtrail_admin.clone());
    crate::events::publish("aws.organizations", "DeregisterDelegatedAdministrator", &management, cloudtrail_admin, None);
    eventually("the deregistration said and read", support::HEAL_TIMEOUT, || async {
        let deregistered = admins(&sets.get(&name).await.ok()?.status?).is_empty();
        let said = support::event_reasons(&client, &name).await.iter().any(|r| r == "DelegatedAdministratorDeregistered");
        (deregistered && said).then_some(())
    })
    .await;

    // Trusted access for CloudTrail turned off.
    assert_eq!(controller.metric("trailwarden_set_cloudtrail_trusted_access{", &format!("set=\"{name}\"")), 1.0);
    organizations(&management, "DisableAWSServiceAccess", json!({"ServicePrincipal": "cloudtrail.amazonaws.com"}));
    crate::events::publish("aws.organizations", "DisableAWSServiceAccess", &management, json!({"servicePrincipal": "cloudtrail.amazonaws.com"}), None);
    eventually("trusted access off reported on the set", support::HEAL_TIMEOUT, || async {
        let status = sets.get(&name).await.ok()?.status?;
        status.conditions.iter().any(|c| c.type_ == "OrganizationReady" && c.status == "False" && c.reason == "CloudTrailAccessDisabled").then_some(())
    })
    .await;
    eventually("a CloudTrailAccessDisabled Warning", support::HEAL_TIMEOUT, || async {
        support::event_reasons(&client, &name).await.iter().any(|r| r == "CloudTrailAccessDisabled").then_some(())
    })
    .await;
    assert_eq!(controller.metric("trailwarden_set_cloudtrail_trusted_access{", &format!("set=\"{name}\"")), 0.0);

    // An account leaves the organization: its policy goes, named in a Warning.
    organizations(&management, "RemoveAccountFromOrganization", json!({"AccountId": a1}));
    crate::events::publish("aws.organizations", "RemoveAccountFromOrganization", &management, json!({"accountId": a1}), None);
    eventually("a1's policy gone, the departure named", support::HEAL_TIMEOUT, || async {
        let gone = generated().await.0.is_empty();
        let said = support::event_reasons(&client, &name).await.iter().any(|r| r == "AccountLeftOrganization");
        (gone && said).then_some(())
    })
    .await;
    // accountRemoval turned to Delete, then back to Retain after an account moved out
    // (no event: only the set's change walks again): the policy goes with the Retain
    // the set says now, not the Delete it was last written with, and the trail stays.
    let a5 = member(&management, &root, &prod);
    crate::events::publish("aws.organizations", "MoveAccount", &management, json!({"accountId": a5}), None);
    let a5_policy = format!("{name}-{a5}");
    let removal = |how: &str| json!({"spec": {"accountRemoval": how}});
    sets.patch(&name, &PatchParams::default(), &Patch::Merge(&removal("Delete"))).await.unwrap();
    eventually("a5 covered, its policy written with deletionPolicy Delete", support::HEAL_TIMEOUT, || async {
        let policy = policies.get_opt(&a5_policy).await.ok()??;
        let logging = policy.status.as_ref()?.conditions.iter().any(|c| c.type_ == "Logging" && c.status == "True");
        (logging && policy.spec.deletion_policy == trailwarden::api::DeletionPolicy::Delete).then_some(())
    })
    .await;
    organizations(&management, "MoveAccount", json!({"AccountId": a5, "SourceParentId": prod, "DestinationParentId": dev}));
    sets.patch(&name, &PatchParams::default(), &Patch::Merge(&removal("Retain"))).await.unwrap();
    eventually("a5's policy gone", support::HEAL_TIMEOUT, || async { policies.get_opt(&a5_policy).await.unwrap().is_none().then_some(()) }).await;
    let a5_scope =
        trailwarden_core::Scope { role_arn: Some(format!("arn:aws:iam::{a5}:role/trailwarden-member")), external_id: None, region: support::REGION.to_owned() };
    assert!(support::trail(&aws, &a5_scope, &trail_name).await.is_some(), "Retain as the set says now: a5's trail stays");

    let operations = set_port.calls().snapshot().into_keys().map(|c| format!("{}:{}", c.service, c.operation));
    support::record_aws_operations(&format!("sets-{name}"), operations);
    sets_task.abort();
}
