//! The chart's ValidatingAdmissionPolicy on the bed's real apiserver: rendered by helm from
//! charts/trailwarden (admissionPolicy.enabled), applied with its binding, then asked as
//! impersonated users. Outside the named groups, `adoption: Always`, `deletionPolicy:
//! Delete` and `posture.*.manage: true` are refused with a message naming the field and
//! the groups, a plain policy is taken; inside them, everything is taken. Moving a managed
//! bucket or key and deleting a `deletionPolicy: Delete` policy are the groups' alone; a
//! policy below the operator's floor is refused to everyone.
//!
//! The e2e tests share one apiserver, so the binding is narrowed to objects carrying a
//! label unique to this run (`matchResources.objectSelector`, added to the rendered
//! binding) and every object made here is deleted at the end, panic or not.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use serde_json::{Value, json};
use trailwarden::api::TrailPolicy;

use crate::support;

const SCOPE_LABEL: &str = "trailwarden.dev/admission-policy-test";

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The chart's ValidatingAdmissionPolicy and binding, as helm renders them for `release`
/// with the policy on and `groups` privileged.
fn render_chart(release: &str, groups: &[&str], sets: &[&str]) -> Vec<Value> {
    let tools = Command::new(repo_root().join("hack/tools.sh")).arg("helm").output().expect("hack/tools.sh runs");
    assert!(tools.status.success(), "hack/tools.sh helm: {}", String::from_utf8_lossy(&tools.stderr));
    let helm = String::from_utf8(tools.stdout).unwrap().trim().to_owned();
    let out = Command::new(&helm)
        .args(["template", release])
        .arg(repo_root().join("charts/trailwarden"))
        .args(["--set", "admissionPolicy.enabled=true"])
        .args(["--set-json", &format!("admissionPolicy.privilegedGroups={}", json!(groups))])
        .args(sets.iter().flat_map(|set| ["--set-json", set]))
        .args(["--show-only", "templates/validatingadmissionpolicy.yaml"])
        .output()
        .expect("helm runs");
    assert!(out.status.success(), "helm template: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let docs: Vec<Value> = serde_yaml::Deserializer::from_str(&text)
        .map(|doc| serde::Deserialize::deserialize(doc).expect("rendered YAML parses"))
        .filter(|doc: &Value| !doc.is_null())
        .collect();
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    // Helm orders by kind: the policies' policy and the sets', then their bindings.
    let (policy, binding) = ("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding");
    assert_eq!(kinds, [policy, policy, binding, binding]);
    docs
}

/// Applies the admission policy `docs[i]` and its binding `docs[i + 2]`, the binding
/// narrowed to objects labelled for `run`; the policy's name.
async fn install(admin: &kube::Client, docs: &mut [Value], i: usize, run: &str) -> String {
    let name = docs[i]["metadata"]["name"].as_str().unwrap().to_owned();
    assert_eq!(docs[i + 2]["spec"]["policyName"], name.as_str());
    docs[i + 2]["spec"]["matchResources"] = json!({"objectSelector": {"matchLabels": {SCOPE_LABEL: run}}});
    let apply = PatchParams::apply("trailwarden-tests").force();
    let vaps = admission_api(admin, "ValidatingAdmissionPolicy", "validatingadmissionpolicies");
    let bindings = admission_api(admin, "ValidatingAdmissionPolicyBinding", "validatingadmissionpolicybindings");
    vaps.patch(&name, &apply, &Patch::Apply(&docs[i])).await.expect("ValidatingAdmissionPolicy applies");
    bindings.patch(&name, &apply, &Patch::Apply(&docs[i + 2])).await.expect("binding applies");
    name
}

/// Lets `users` write TrailPolicies and TrailPolicySets (RBAC runs before admission).
async fn may_write(admin: &kube::Client, rbac_name: &str, users: &[&str]) {
    let role: ClusterRole = serde_json::from_value(json!({
        "metadata": {"name": rbac_name},
        "rules": [{"apiGroups": ["trailwarden.dev"], "resources": ["trailpolicies", "trailpolicysets"],
                   "verbs": ["get", "list", "create", "update", "patch", "delete"]}],
    }))
    .unwrap();
    let subjects: Vec<Value> = users.iter().map(|u| json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": u})).collect();
    let binding: ClusterRoleBinding = serde_json::from_value(json!({
        "metadata": {"name": rbac_name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": rbac_name},
        "subjects": subjects,
    }))
    .unwrap();
    Api::<ClusterRole>::all(admin.clone()).create(&PostParams::default(), &role).await.expect("ClusterRole");
    Api::<ClusterRoleBinding>::all(admin.clone()).create(&PostParams::default(), &binding).await.expect("ClusterRoleBinding");
}

fn admission_api(client: &kube::Client, kind: &str, plural: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("admissionregistration.k8s.io", "v1", kind);
    Api::all_with(client.clone(), &ApiResource::from_gvk_with_plural(&gvk, plural))
}

/// A client that acts as `user` in `groups` (Impersonate-User / Impersonate-Group), through
/// the bed's admin, who may impersonate anyone.
async fn client_as(user: &str, groups: &[&str]) -> kube::Client {
    let mut config = kube::Config::infer().await.expect("kube config from KUBECONFIG");
    config.auth_info.impersonate = Some(user.to_owned());
    config.auth_info.impersonate_groups = Some(groups.iter().map(|g| (*g).to_owned()).collect());
    kube::Client::try_from(config).expect("impersonating client")
}

/// Deletes what the test made when it ends, also when it panics (kubectl, synchronously).
struct Cleanup {
    admission: Vec<String>,
    rbac: String,
    run: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let kubectl = |args: &[&str]| {
            let _ = Command::new("kubectl").arg("--request-timeout=30s").args(args).arg("--ignore-not-found").output();
        };
        for admission in &self.admission {
            kubectl(&["delete", &format!("validatingadmissionpolicybinding/{admission}")]);
            kubectl(&["delete", &format!("validatingadmissionpolicy/{admission}")]);
        }
        kubectl(&["delete", &format!("clusterrolebinding/{}", self.rbac), &format!("clusterrole/{}", self.rbac)]);
        kubectl(&["delete", "trailpolicies.trailwarden.dev,trailpolicysets.trailwarden.dev", "-l", &format!("{SCOPE_LABEL}={}", self.run)]);
    }
}

fn policy(name: &str, labels: Value, extra: Value) -> TrailPolicy {
    let mut spec = json!({"region": support::REGION, "s3": {"bucketName": "audit-logs"}});
    for (key, value) in extra.as_object().unwrap() {
        spec[key] = value.clone();
    }
    serde_json::from_value(json!({
        "apiVersion": "trailwarden.dev/v1alpha1",
        "kind": "TrailPolicy",
        "metadata": {"name": name, "labels": labels},
        "spec": spec,
    }))
    .expect("policy parses")
}

fn dry_run() -> PostParams {
    PostParams { dry_run: true, ..Default::default() }
}

/// The refusal's status code and message, or None when the request was taken.
fn refusal<T>(result: Result<T, kube::Error>) -> Option<(u16, String)> {
    match result {
        Ok(_) => None,
        Err(kube::Error::Api(status)) => Some((status.code, status.message.clone())),
        Err(e) => panic!("unexpected error: {e}"),
    }
}

#[tokio::test]
async fn only_the_named_groups_may_set_adoption_always_deletion_and_manage() {
    let admin = support::kube().await; // the bed's admin (system:masters); installs the CRD
    let run = support::unique_name("vap");
    let group = format!("trailwarden-admins-{run}");
    let other_group = format!("developers-{run}");
    let outsider_name = format!("dev-{run}");
    let privileged_name = format!("admin-{run}");

    // The chart's manifests, the binding narrowed to this run's objects.
    let mut docs = render_chart(&run, &[&group, "some-other-admins"], &["floor.logging=true", r#"floor.keyAccounts=["111122223333"]"#]);
    let rbac_name = format!("trailwarden-vap-test-{run}");
    let mut cleanup = Cleanup { admission: vec![], rbac: rbac_name.clone(), run: run.clone() };
    let admission_name = install(&admin, &mut docs, 0, &run).await;
    cleanup.admission.push(admission_name);
    may_write(&admin, &rbac_name, &[&outsider_name, &privileged_name]).await;

    let outsider = Api::<TrailPolicy>::all(client_as(&outsider_name, &[&other_group]).await);
    let privileged = Api::<TrailPolicy>::all(client_as(&privileged_name, &[&other_group, &group]).await);
    let scoped = json!({SCOPE_LABEL: run});
    let name = |what: &str| format!("{run}-{what}");

    // A policy takes a moment to be enforced: ask until the first refusal comes.
    let always = json!({"adoption": "Always"});
    let (first, waited) = support::eventually("the ValidatingAdmissionPolicy enforced", Duration::from_secs(60), || async {
        let answer = outsider.create(&dry_run(), &policy(&name("always"), scoped.clone(), always.clone())).await;
        refusal(answer).filter(|(_, message)| message.contains("ValidatingAdmissionPolicy"))
    })
    .await;
    println!("the admission policy refused its first request {waited:?} after it was applied: {}", first.1);

    // Outside the groups: each reserved setting refused, the field and the groups named.
    let reserved = [
        ("always", always.clone(), "spec.adoption: Always"),
        ("delete", json!({"deletionPolicy": "Delete"}), "spec.deletionPolicy: Delete"),
        ("bucket", json!({"posture": {"bucket": {"manage": true}}}), "spec.posture.bucket.manage: true"),
        ("kms", json!({"posture": {"kms": {"manage": true}}}), "spec.posture.kms.manage: true"),
    ];
    for (what, extra, field) in &reserved {
        let answer = outsider.create(&PostParams::default(), &policy(&name(what), scoped.clone(), extra.clone())).await;
        let (code, message) = refusal(answer).unwrap_or_else(|| panic!("{field}: taken from a user outside the groups"));
        assert_eq!(code, 403, "{message}");
        assert!(message.contains(field), "the message names {field}: {message}");
        assert!(message.contains(&group) && message.contains("some-other-admins"), "the message names the groups: {message}");
        println!("refused as {outsider_name}: {message}");
    }
    // Explicitly harmless values are no reason to refuse.
    let harmless = json!({"adoption": "IfTagged", "deletionPolicy": "Retain", "posture": {"bucket": {"manage": false}, "kms": {"manage": false}}});
    outsider.create(&dry_run(), &policy(&name("harmless"), scoped.clone(), harmless)).await.expect("harmless values taken");

    // A plain policy is taken from anyone who may write policies.
    let plain = outsider.create(&PostParams::default(), &policy(&name("plain"), scoped.clone(), json!({}))).await;
    plain.expect("a plain policy taken from a user outside the groups");

    // Inside a named group: each of them, and all at once, taken.
    for (what, extra, field) in &reserved {
        let answer = privileged.create(&dry_run(), &policy(&name(what), scoped.clone(), extra.clone())).await;
        assert!(refusal(answer).is_none(), "{field} refused to a member of {group}");
    }
    let everything = json!({"adoption": "Always", "deletionPolicy": "Delete", "posture": {"bucket": {"manage": true}, "kms": {"manage": true}}});
    privileged
        .create(&PostParams::default(), &policy(&name("everything"), scoped.clone(), everything))
        .await
        .expect("every reserved setting taken from a member of the group");

    // Updates: introducing a reserved setting is refused outside the groups; an update
    // that keeps one already there (a label, the controller's finalizer) is not.
    let merge = PatchParams::default();
    let answer = outsider.patch(&name("plain"), &merge, &Patch::Merge(json!({"spec": {"deletionPolicy": "Delete"}}))).await;
    let (_, message) = refusal(answer).expect("deletionPolicy: Delete introduced by an update from outside the groups");
    assert!(message.contains("spec.deletionPolicy: Delete") && message.contains(&group), "{message}");
    outsider
        .patch(&name("everything"), &merge, &Patch::Merge(json!({"metadata": {"labels": {"team": "payments"}}})))
        .await
        .expect("a label change on a policy that already has the reserved settings");
    outsider
        .patch(&name("everything"), &merge, &Patch::Merge(json!({"metadata": {"finalizers": ["trailwarden.dev/test"]}})))
        .await
        .expect("a finalizer added to it");
    outsider
        .patch(&name("everything"), &merge, &Patch::Merge(json!({"metadata": {"finalizers": null}})))
        .await
        .expect("and removed");
    let answer = outsider.patch(&name("everything"), &merge, &Patch::Merge(json!({"spec": {"resyncSeconds": 30}}))).await;
    assert!(refusal(answer).is_none(), "a spec change that keeps the reserved settings as they were");
    privileged
        .patch(&name("plain"), &merge, &Patch::Merge(json!({"spec": {"deletionPolicy": "Delete", "adoption": "Always"}})))
        .await
        .expect("a member of the group introduces them by update");

    // A managed bucket or key moved: the new one's policy would be rewritten.
    let answer = outsider.patch(&name("everything"), &merge, &Patch::Merge(json!({"spec": {"s3": {"bucketName": "elsewhere-logs"}}}))).await;
    let (_, message) = refusal(answer).expect("a managed bucket moved from outside the groups");
    assert!(message.contains("spec.s3.bucketName may not change"), "{message}");
    let answer = outsider.patch(&name("everything"), &merge, &Patch::Merge(json!({"spec": {"kmsKeyId": "alias/elsewhere"}}))).await;
    assert!(refusal(answer).is_some_and(|(_, m)| m.contains("spec.kmsKeyId may not change")), "a managed key moved");
    let moved = privileged.patch(&name("everything"), &merge, &Patch::Merge(json!({"spec": {"s3": {"bucketName": "elsewhere-logs"}}}))).await;
    assert!(refusal(moved).is_none(), "a member of the group moves it");

    // Deleting a policy that deletes its trail: only inside the groups.
    let dry_delete = kube::api::DeleteParams { dry_run: true, ..Default::default() };
    let answer = outsider.delete(&name("everything"), &dry_delete).await;
    let (_, message) = refusal(answer).expect("a Delete policy deleted from outside the groups");
    assert!(message.contains("the trail would be deleted with it"), "{message}");
    assert!(refusal(privileged.delete(&name("everything"), &dry_delete).await).is_none(), "a member of the group deletes it");
    assert!(refusal(outsider.delete(&name("harmless-kept"), &dry_delete).await).is_some_and(|(code, _)| code == 404), "no such policy");

    // The floor holds for everyone, the groups included.
    for client in [&outsider, &privileged] {
        let answer = client.create(&dry_run(), &policy(&name("paused"), scoped.clone(), json!({"logging": false}))).await;
        let (_, message) = refusal(answer).expect("logging: false below the floor");
        assert!(message.contains("floor.logging"), "{message}");
        let foreign_key = json!({"kmsKeyId": "arn:aws:kms:us-east-1:999999999999:key/1234abcd-12ab-34cd-56ef-1234567890ab"});
        let answer = client.create(&dry_run(), &policy(&name("foreign-key"), scoped.clone(), foreign_key)).await;
        let refused = refusal(answer);
        assert!(refused.as_ref().is_some_and(|(_, m)| m.contains("floor.keyAccounts") && m.contains("999999999999")), "a key of another account: {refused:?}");
    }
    let own_key = json!({"kmsKeyId": "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"});
    assert!(refusal(outsider.create(&dry_run(), &policy(&name("own-key"), scoped.clone(), own_key)).await).is_none(), "a key of an allowed account");

    // The binding is scoped: the same request without this run's label is none of its business.
    let unscoped = outsider.create(&dry_run(), &policy(&name("unscoped"), json!({}), always.clone())).await;
    assert!(refusal(unscoped).is_none(), "the test's binding reaches only objects with its label");
}

/// A TrailPolicySet as JSON (an explicit null must reach the apiserver as one).
fn set(name: &str, labels: Value, template: Value, extra: Value) -> DynamicObject {
    let mut spec = json!({
        "template": {"region": support::REGION, "trailName": "org-audit", "s3": {"bucketName": "audit-logs"}},
        "targets": {"organizationalUnits": ["ou-ab12-cdefgh34"]},
    });
    for (key, value) in template.as_object().unwrap() {
        spec["template"][key] = value.clone();
    }
    for (key, value) in extra.as_object().unwrap() {
        spec[key] = value.clone();
    }
    serde_json::from_value(json!({
        "apiVersion": "trailwarden.dev/v1alpha1", "kind": "TrailPolicySet",
        "metadata": {"name": name, "labels": labels}, "spec": spec,
    }))
    .expect("set parses")
}

fn sets_api(client: kube::Client) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("trailwarden.dev", "v1alpha1", "TrailPolicySet");
    Api::all_with(client, &ApiResource::from_gvk_with_plural(&gvk, "trailpolicysets"))
}

#[tokio::test]
async fn a_set_is_judged_as_its_policies_would_be_and_the_controller_may_write_what_it_generates() {
    let admin = support::kube().await;
    let run = support::unique_name("vapset");
    let group = format!("trailwarden-admins-{run}");
    let outsider_name = format!("dev-{run}");
    let privileged_name = format!("admin-{run}");
    // The chart's controller, as the apiserver authenticates its service account.
    let controller_name = format!("system:serviceaccount:default:{run}-trailwarden");
    let mut docs = render_chart(&run, &[&group], &["floor.logging=true", "floor.kms=true"]);
    assert!(docs[0].to_string().contains(&controller_name), "the policies' admission policy names the chart's own service account");
    let rbac_name = format!("trailwarden-vapset-test-{run}");
    let mut cleanup = Cleanup { admission: vec![], rbac: rbac_name.clone(), run: run.clone() };
    for i in [0, 1] {
        let name = install(&admin, &mut docs, i, &run).await;
        cleanup.admission.push(name);
    }
    may_write(&admin, &rbac_name, &[&outsider_name, &privileged_name, &controller_name]).await;
    let outsider = sets_api(client_as(&outsider_name, &["developers"]).await);
    let privileged = sets_api(client_as(&privileged_name, &[&group]).await);
    let scoped = json!({SCOPE_LABEL: run});
    let name = |what: &str| format!("{run}-{what}");
    let key = json!({"kmsKeyId": "alias/audit"});

    // Outside the groups: what would make privileged policies is refused at the set.
    let manage = json!({"kmsKeyId": "alias/audit", "posture": {"bucket": {"manage": true}}});
    let (first, _) = support::eventually("the sets' admission policy enforced", Duration::from_secs(60), || async {
        let answer = outsider.create(&dry_run(), &set(&name("manage"), scoped.clone(), manage.clone(), json!({}))).await;
        refusal(answer).filter(|(_, message)| message.contains("ValidatingAdmissionPolicy"))
    })
    .await;
    assert_eq!(first.0, 403, "{}", first.1);
    assert!(first.1.contains("spec.template.posture.bucket.manage: true") && first.1.contains(&group), "{}", first.1);
    let reserved = [
        ("removal", json!({"accountRemoval": "Delete"}), "spec.accountRemoval: Delete"),
        ("scp", json!({"serviceControlPolicy": {"mode": "Audit"}}), "spec.serviceControlPolicy"),
    ];
    for (what, extra, field) in &reserved {
        let answer = outsider.create(&dry_run(), &set(&name(what), scoped.clone(), key.clone(), extra.clone())).await;
        let (code, message) = refusal(answer).unwrap_or_else(|| panic!("{field}: taken from a user outside the groups"));
        assert!(code == 403 && message.contains(field), "{field}: {code} {message}");
        let answer = privileged.create(&dry_run(), &set(&name(what), scoped.clone(), key.clone(), extra.clone())).await;
        assert!(refusal(answer).is_none(), "{field} refused to a member of {group}");
    }
    assert!(refusal(privileged.create(&dry_run(), &set(&name("manage"), scoped.clone(), manage.clone(), json!({}))).await).is_none());
    // A plain set is anyone's who may write sets; the floor binds the groups too, read
    // from the template (an explicit null key is no key).
    outsider.create(&dry_run(), &set(&name("plain"), scoped.clone(), key.clone(), json!({}))).await.expect("a plain set taken");
    for template in [json!({"kmsKeyId": "alias/audit", "logging": false}), json!({"kmsKeyId": null})] {
        let answer = privileged.create(&dry_run(), &set(&name("low"), scoped.clone(), template.clone(), json!({}))).await;
        let (_, message) = refusal(answer).unwrap_or_else(|| panic!("{template} taken below the floor"));
        assert!(message.contains("floor.logging") || message.contains("floor.kms"), "{message}");
    }

    // The controller writes the policies a set generates (the set was judged), and only
    // those: the set's label from another user, or no label from the controller, is no pass.
    let as_controller = Api::<TrailPolicy>::all(client_as(&controller_name, &["system:serviceaccounts", "system:serviceaccounts:default"]).await);
    let as_outsider = Api::<TrailPolicy>::all(client_as(&outsider_name, &["developers"]).await);
    let generated = json!({SCOPE_LABEL: run, "trailwarden.dev/set": name("plain")});
    let powerful = json!({"kmsKeyId": "alias/audit", "deletionPolicy": "Delete", "posture": {"kms": {"manage": true}}});
    as_controller
        .create(&PostParams::default(), &policy(&name("generated"), generated.clone(), powerful.clone()))
        .await
        .expect("the controller creates a generated policy with deletionPolicy: Delete and manage");
    let answer = as_controller.create(&dry_run(), &policy(&name("unlabelled"), scoped.clone(), powerful.clone())).await;
    assert!(refusal(answer).is_some_and(|(code, _)| code == 403), "the controller's own policy, not a set's, is judged as anyone's");
    let answer = as_outsider.create(&dry_run(), &policy(&name("forged"), generated.clone(), powerful.clone())).await;
    assert!(refusal(answer).is_some_and(|(code, _)| code == 403), "the set's label from another user is no pass");
    let low = json!({"kmsKeyId": "alias/audit", "logging": false});
    let answer = as_controller.create(&dry_run(), &policy(&name("low"), generated.clone(), low)).await;
    assert!(refusal(answer).is_some_and(|(_, m)| m.contains("floor.logging")), "the floor binds the controller too");
    let dry_delete = kube::api::DeleteParams { dry_run: true, ..Default::default() };
    assert!(refusal(as_controller.delete(&name("generated"), &dry_delete).await).is_none(), "the controller removes what a set generated");
    assert!(refusal(as_outsider.delete(&name("generated"), &dry_delete).await).is_some_and(|(code, _)| code == 403));
    drop(cleanup);
}
