//! docs/eks.md's first hour, followed on the bed with the guide's own files (docs/eks/):
//! the chart rendered with its values and taken by the apiserver, the bucket and key made
//! with its policies, its first TrailPolicy Ready and Compliant, then stopped and healed.
//!
//! What differs from the guide, and why: the account is a fresh emulator account reached
//! through a role (tests share the bed; the guide's controller acts in its own account),
//! the policy's name carries the run's suffix and test label, its resync is 5 s (the guide
//! heals through the event path or a 60 s resync), and the chart's Deployment
//! is only taken by the apiserver (server-side dry run): the bed has no kubelet, so the
//! controller runs in the test process.

use std::path::Path;
use std::process::Command;

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::discovery::Discovery;
use serde_json::{Value, json};
use trailwarden::aws::AwsPort;

use crate::support::{self, Controller, HEAL_TIMEOUT, condition, eventually};

const GUIDE_ACCOUNT: &str = "111122223333";
const GUIDE_TRAIL: &str = "account-audit";

fn guide(file: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/eks").join(file)).unwrap_or_else(|e| panic!("docs/eks/{file}: {e}"))
}

/// The chart as the guide installs it: `helm template` with docs/eks/values.yaml and the
/// IRSA annotation the guide passes on the command line.
fn rendered() -> Vec<Value> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tools = Command::new(root.join("hack/tools.sh")).arg("helm").output().expect("hack/tools.sh runs");
    let helm = String::from_utf8(tools.stdout).unwrap().trim().to_owned();
    let out = Command::new(helm)
        .args(["template", "trailwarden"])
        .arg(root.join("charts/trailwarden"))
        .args(["--namespace", "trailwarden", "-f"])
        .arg(root.join("docs/eks/values.yaml"))
        .args(["--set", r"serviceAccount.annotations.eks\.amazonaws\.com/role-arn=arn:aws:iam::111122223333:role/trailwarden"])
        .output()
        .expect("helm runs");
    assert!(out.status.success(), "helm template with docs/eks/values.yaml: {}", String::from_utf8_lossy(&out.stderr));
    serde_yaml::Deserializer::from_str(&String::from_utf8(out.stdout).unwrap())
        .map(|doc| serde::Deserialize::deserialize(doc).expect("rendered YAML parses"))
        .filter(|doc: &Value| !doc.is_null())
        .collect()
}

#[tokio::test]
async fn the_first_hour_of_the_eks_guide_ends_in_a_compliant_trail_that_heals() {
    let client = support::kube().await;

    // The chart with the guide's values: every object it renders is taken by the
    // apiserver, but for the Prometheus operator's kinds where the bed has no such CRD.
    let discovery = Discovery::new(client.clone()).run().await.expect("API discovery");
    let dry_run = PatchParams { dry_run: true, ..PatchParams::apply("first-hour-test").force() };
    let mut taken = vec![];
    for object in rendered() {
        let (api_version, kind) = (object["apiVersion"].as_str().unwrap(), object["kind"].as_str().unwrap());
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let gvk = kube::core::GroupVersionKind::gvk(group, version, kind);
        let Some((resource, capabilities)) = discovery.resolve_gvk(&gvk) else {
            assert_eq!(group, "monitoring.coreos.com", "{kind} {api_version} is not served by the bed's apiserver");
            continue;
        };
        let name = object["metadata"]["name"].as_str().unwrap().to_owned();
        let mut object = object.clone();
        let api: Api<DynamicObject> = match capabilities.scope {
            kube::discovery::Scope::Namespaced => {
                object["metadata"]["namespace"] = json!("default");
                Api::namespaced_with(client.clone(), "default", &resource)
            }
            kube::discovery::Scope::Cluster => Api::all_with(client.clone(), &resource),
        };
        api.patch(&name, &dry_run, &Patch::Apply(&object)).await.unwrap_or_else(|e| panic!("{kind}/{name} refused: {e}"));
        taken.push(format!("{kind}/{name}"));
    }
    assert!(taken.iter().any(|t| t.starts_with("Deployment/")), "{taken:?}");

    // Step 3: the bucket and the key, with the guide's policies, in a fresh account.
    let aws = support::aws().await;
    let (account, scope) = support::fresh_account();
    let name = support::unique_name(GUIDE_TRAIL);
    let ours = |text: String| text.replace(GUIDE_ACCOUNT, &account).replace(&format!("trail/{GUIDE_TRAIL}"), &format!("trail/{name}"));
    let bucket = format!("trailwarden-logs-{account}");
    let s3 = aws.s3(&scope).await;
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    s3.put_bucket_policy().bucket(&bucket).policy(ours(guide("bucket-policy.json"))).send().await.unwrap();
    let kms = aws_sdk_kms::Client::new(&aws.sdk_config(&scope).await);
    let key = kms.create_key().policy(ours(guide("key-policy.json"))).send().await.unwrap().key_metadata.unwrap().arn.unwrap();
    kms.create_alias().alias_name("alias/trailwarden-logs").target_key_id(&key).send().await.unwrap();

    // Step 7: the first TrailPolicy.
    let controller = Controller::start(client.clone()).await;
    let mut manifest: Value = serde_yaml::from_str(&ours(guide("trailpolicy.yaml"))).unwrap();
    manifest["spec"]["account"] = json!({"roleArn": format!("arn:aws:iam::{account}:role/trailwarden")});
    // The guide heals through the event path or its 60 s resync; the bed has no events for
    // this policy, so its resync is shortened.
    manifest["spec"]["resyncSeconds"] = json!(5);
    let policy = controller.policy(&name, manifest["spec"].clone());
    support::create_policy(&client, &policy).await;
    let (ready, _) = eventually("the guide's policy Ready and Compliant", HEAL_TIMEOUT, || async {
        let p = support::get(&client, &name).await;
        let done = condition(&p, "Ready").map(|c| c.0) == Some("True".into()) && condition(&p, "Compliant").map(|c| c.0) == Some("True".into());
        done.then_some(p)
    })
    .await;
    let arn = ready.status.unwrap().trail_arn.unwrap();

    // Step 8: break it; it heals.
    aws.stop_logging(&scope, &arn).await.unwrap();
    eventually("the trail healed", HEAL_TIMEOUT, || async { aws.get_trail_status(&scope, &arn).await.ok()?.is_logging.then_some(()) }).await;
}
