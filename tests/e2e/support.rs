//! What every bed test needs: a kube client, the CRD installed, an AWS port pointed at
//! the emulator, and names and AWS accounts no other test uses.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Client, CustomResourceExt};
use tokio::sync::OnceCell;
use trailwarden::api::TrailPolicy;
use trailwarden::aws::Scope;
use trailwarden::aws::sdk::{AwsOptions, SdkAws};

pub const REGION: &str = "us-east-1";

fn bed_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: these tests need the test bed. Run `make test`, or `hack/bed/up.sh` and `source .bed/env`.")
    })
}

/// A kube client for the bed's apiserver, with the TrailPolicy CRD installed and Established.
pub async fn kube() -> Client {
    bed_env("KUBECONFIG");
    let client = Client::try_default().await.expect("kube client from KUBECONFIG");
    static CRD: OnceCell<()> = OnceCell::const_new();
    CRD.get_or_init(|| install_crd(client.clone())).await;
    client
}

async fn install_crd(client: Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client);
    let crd: CustomResourceDefinition =
        serde_yaml::from_str(include_str!("../../crds/trailpolicy.yaml")).expect("committed CRD parses");
    let name = TrailPolicy::crd_name();
    crds.patch(name, &PatchParams::apply("trailwarden-tests").force(), &Patch::Apply(&crd))
        .await
        .expect("CRD applies");
    tokio::time::timeout(Duration::from_secs(30), await_condition(crds, name, conditions::is_crd_established()))
        .await
        .expect("CRD becomes Established within 30s")
        .expect("watching the CRD");
}

/// An AWS port aimed at the emulator, retries off so failures show at once.
pub async fn aws() -> SdkAws {
    SdkAws::new(AwsOptions {
        endpoint_url: Some(bed_env("TRAILWARDEN_AWS_ENDPOINT")),
        max_attempts: 1,
        rate_limits: Default::default(),
    })
    .await
}

static SEQ: AtomicU32 = AtomicU32::new(0);

fn uniq() -> u64 {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
    let seq = SEQ.fetch_add(1, Ordering::Relaxed) as u64;
    (nanos / 1000 + seq * 7919 + std::process::id() as u64) % 1_000_000_000
}

/// A lowercase name no other test uses, valid for trails, buckets and policies.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{}", uniq())
}

/// A fresh AWS account of the emulator, reached the way a policy reaches one: by role.
pub fn fresh_account() -> (String, Scope) {
    let account = format!("{:012}", 100_000_000_000 + uniq());
    let role_arn = format!("arn:aws:iam::{account}:role/trailwarden");
    let scope = Scope { role_arn: Some(role_arn), external_id: None, region: REGION.to_owned() };
    (account, scope)
}
