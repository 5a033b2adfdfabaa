//! How GitOps tools see a policy. The kstatus conditions (Reconciling, Stalled,
//! observedGeneration) on real status objects from the bed, and the Argo CD health check
//! shipped in deploy/argocd run on those objects as Argo CD runs it (Lua 5.1, `obj`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use kube::api::{Api, PostParams};
use serde_json::{Value, json};
use trailwarden::api::TrailPolicy;
use trailwarden::aws::AwsPort;

use crate::faults::{self, Faults};
use crate::support::{self, Controller, HEAL_TIMEOUT, account, condition, create_policy, eventually, get, role, wait_synced};

/// The object as the apiserver serves it, as JSON.
async fn served(client: &kube::Client, name: &str) -> Value {
    serde_json::to_value(get(client, name).await).unwrap()
}

async fn until(client: &kube::Client, name: &str, type_: &str, status: &str) -> TrailPolicy {
    eventually(&format!("{name}: {type_}={status}"), HEAL_TIMEOUT, || async {
        let p = get(client, name).await;
        (condition(&p, type_)?.0 == status).then_some(p)
    })
    .await
    .0
}

/// Runs the shipped Lua on each object: (name, Argo CD health status, message).
fn argo_health(objects: &[Value]) -> BTreeMap<String, (String, String)> {
    let bed = PathBuf::from(std::env::var("TRAILWARDEN_BED_DIR").unwrap());
    let file = bed.join(format!("{}.json", support::unique_name("argocd-objects")));
    std::fs::write(&file, serde_json::to_string(objects).unwrap()).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/hack/argocd-health.sh");
    let out = std::process::Command::new(script).arg(&file).output().expect("run hack/argocd-health.sh");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["name"].as_str().unwrap().to_owned(), (v["status"].as_str().unwrap().to_owned(), v["message"].as_str().unwrap().to_owned()))
        })
        .collect()
}

#[tokio::test]
async fn argo_cd_and_kstatus_read_each_state_of_a_policy_right() {
    let client = support::kube().await;
    let aws = support::aws().await;
    let acct = account(&aws, 1, 0).await;
    let controller = Controller::start(client.clone()).await;

    // Healthy: synced, nothing to do.
    let healthy = support::unique_name("healthy");
    create_policy(&client, &controller.policy(&healthy, json!({
        "region": support::REGION, "account": role(&acct), "s3": {"bucketName": acct.buckets[0]},
    })))
    .await;
    wait_synced(&client, &healthy).await;
    let p = until(&client, &healthy, "Reconciling", "False").await;
    assert_eq!(condition(&p, "Stalled").map(|c| c.0), Some("False".into()));

    // Stalled: the trail is someone else's.
    let theirs = support::unique_name("theirs");
    aws.create_trail(&acct.scope, &theirs, &support::plain_settings(&acct.buckets[0]), &BTreeMap::new()).await.unwrap();
    create_policy(&client, &controller.policy(&theirs, json!({
        "region": support::REGION, "account": role(&acct), "s3": {"bucketName": acct.buckets[0]},
    })))
    .await;
    let p = until(&client, &theirs, "Stalled", "True").await;
    assert_eq!(condition(&p, "Stalled").map(|c| c.1), Some("NotOwned".into()));
    assert_eq!(condition(&p, "Reconciling").map(|c| c.0), Some("False".into()));

    // Reconciling: AWS throttles every call, trailwarden retries on its own.
    let throttled_acct = account(&aws, 1, 0).await;
    let throttling = Faults::for_account(&throttled_acct.id);
    throttling.set(json!({"throttle": 1.0, "only_services": ["CloudTrail"]}));
    let retrying = Controller::start_with(client.clone(), faults::faulty_aws_with(1).await);
    let throttled = support::unique_name("throttled");
    create_policy(&client, &retrying.policy(&throttled, json!({
        "region": support::REGION, "account": role(&throttled_acct), "s3": {"bucketName": throttled_acct.buckets[0]},
    })))
    .await;
    let p = until(&client, &throttled, "Reconciling", "True").await;
    assert_eq!(condition(&p, "Ready").map(|c| c.1), Some("Throttled".into()));

    // No status yet: a policy no controller watches.
    let waiting = support::unique_name("waiting");
    let api = Api::<TrailPolicy>::all(client.clone());
    let mut unwatched = controller.policy(&waiting, json!({"region": support::REGION, "s3": {"bucketName": acct.buckets[0]}}));
    unwatched.metadata.labels = Some(BTreeMap::from([(support::TEST_LABEL.to_owned(), "nobody".to_owned())]));
    api.create(&PostParams::default(), &unwatched).await.unwrap();

    let mut objects = vec![served(&client, &healthy).await, served(&client, &theirs).await, served(&client, &throttled).await, served(&client, &waiting).await];
    // The healthy one as Argo CD sees it between a spec change and trailwarden's next
    // status: the same real object, its generation one ahead of observedGeneration.
    let mut changed = objects[0].clone();
    changed["metadata"]["name"] = json!("spec-changed");
    changed["metadata"]["generation"] = json!(changed["metadata"]["generation"].as_i64().unwrap() + 1);
    objects.push(changed);

    let health = argo_health(&objects);
    let status = |name: &str| health[name].0.as_str();
    assert_eq!(status(&healthy), "Healthy", "{health:?}");
    assert_eq!(status(&theirs), "Degraded", "{health:?}");
    assert!(health[&theirs].1.starts_with("NotOwned"), "{health:?}");
    assert_eq!(status(&throttled), "Progressing", "{health:?}");
    assert!(health[&throttled].1.starts_with("Throttled"), "{health:?}");
    assert_eq!(status(&waiting), "Progressing", "{health:?}");
    assert_eq!(status("spec-changed"), "Progressing", "{health:?}");
    println!("Argo CD health of real objects: {health:#?}");

    // The argocd-cm snippet carries exactly the script that was just run.
    let lua = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/argocd/trailpolicy-health.lua")).unwrap();
    let cm: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/argocd/argocd-cm.yaml")).unwrap()).unwrap();
    let embedded = cm["data"]["resource.customizations.health.trailwarden.dev_TrailPolicy"].as_str().unwrap();
    assert_eq!(embedded, lua, "deploy/argocd/argocd-cm.yaml differs from trailpolicy-health.lua");
    drop(throttling);
}
