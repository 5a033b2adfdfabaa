//! Who may take a trail: one owner per trail, and adoption that never weakens it.

use super::*;

fn rival(name: &str, uid: &str, created: &str) -> crate::ownership::Claimant {
    crate::ownership::Claimant { name: name.into(), uid: uid.into(), created: Some(created.parse().unwrap()) }
}

/// `desired()`, created at noon on 2 Jan 2026, with a rival created a day before it.
fn younger_of_two() -> Desired {
    let mut d = desired();
    d.peers.created = Some("2026-01-02T12:00:00Z".parse().unwrap());
    d.peers.rivals = vec![rival("elder", "uid-elder", "2026-01-01T12:00:00Z")];
    d.peers.live = std::sync::Arc::new([("uid-elder".to_owned(), "elder".to_owned())].into());
    d
}

#[test]
fn the_younger_of_two_policies_naming_one_trail_is_in_conflict_and_writes_nothing() {
    let d = younger_of_two();
    let p = plan(&d, &Observed::Absent);
    let blocked = p.blocked.clone().expect("blocked");
    assert_eq!(blocked.reason(), Reason::Conflict);
    assert!(p.actions.is_empty(), "no CreateTrail: {p:?}");
    let message = blocked.to_string();
    assert!(message.contains("policy elder") && message.contains("oldest"), "{message}");

    // Its trail, untagged: still the elder's.
    let p = plan_with(&d, |t| t.tags = Tags::new());
    assert_eq!(p.blocked.as_ref().map(Blocked::reason), Some(Reason::Conflict));
    assert!(p.blocked.unwrap().to_string().contains(ARN), "the trail is named by its ARN");
}

#[test]
fn the_elder_owns_an_untagged_trail_and_a_trail_tagged_with_its_uid() {
    let mut d = younger_of_two();
    let young = d.claimant();
    d.policy_name = "elder".into();
    d.policy_uid = "uid-elder".into();
    d.peers.created = Some("2026-01-01T12:00:00Z".parse().unwrap());
    d.peers.rivals = vec![young];
    d.peers.live = std::sync::Arc::new([("uid-1".to_owned(), "audit".to_owned())].into());
    assert_eq!(plan(&d, &Observed::Absent).blocked, None, "creates it");
    assert_eq!(plan_with(&d, |t| t.tags.retain(|k, _| k != OWNER_TAG)).blocked, None, "its trail");
    assert_eq!(plan_with(&d, |t| t.tags = Tags::new()).blocked.map(|b| b.reason()), Some(Reason::NotOwned), "adoption Never");
}

#[test]
fn the_policy_the_trail_is_tagged_with_owns_it_even_when_younger() {
    // The younger policy created the trail first (the elder came into view later).
    let d = younger_of_two();
    let p = plan_with(&d, |_| {});
    assert_eq!(p.blocked, None, "tagged with our uid: ours");

    let mut elder = d.clone();
    elder.policy_name = "elder".into();
    elder.policy_uid = "uid-elder".into();
    elder.adoption = Adoption::Always;
    elder.peers.created = Some("2026-01-01T12:00:00Z".parse().unwrap());
    elder.peers.rivals = vec![d.claimant()];
    elder.peers.live = std::sync::Arc::new([("uid-1".to_owned(), "audit".to_owned())].into());
    let p = plan(&elder, &Observed::Present(Box::new(in_sync(&d))));
    let blocked = p.blocked.expect("the elder leaves it alone");
    assert_eq!(blocked.reason(), Reason::Conflict);
    assert!(blocked.to_string().contains("policy audit (the trail carries its uid tag)"), "{blocked}");
}

#[test]
fn always_never_takes_a_trail_tagged_with_a_live_policys_uid() {
    let mut d = desired();
    d.adoption = Adoption::Always;
    d.peers.live = std::sync::Arc::new([("uid-other".to_owned(), "other".to_owned())].into());
    let p = plan_with(&d, |t| t.tags = Tags::from([(OWNER_UID_TAG.into(), "uid-other".into())]));
    let blocked = p.blocked.expect("not taken");
    assert_eq!(blocked.reason(), Reason::NotOwned);
    assert!(blocked.to_string().contains("policy other, which is alive"), "{blocked}");
    assert!(p.actions.is_empty());

    // A policy that is gone: taken, as Always says.
    let p = plan_with(&d, |t| t.tags = Tags::from([(OWNER_UID_TAG.into(), "uid-gone".into())]));
    assert_eq!(p.blocked, None);
    assert_eq!(names(&p)[0], "AdoptTrail");
}

// Adoption never weakens.

/// A trail hardened beyond `desired()`'s spec stripped to the minimum, and that spec.
fn hardened() -> (Desired, ObservedTrail) {
    let mut hard = desired();
    hard.settings.sns_topic = Some("arn:aws:sns:us-east-1:111122223333:trail".into());
    hard.settings.cloud_watch_logs =
        Some(CloudWatchTarget { log_group_arn: "arn:aws:logs:us-east-1:111122223333:log-group:trail".into(), role_arn: "arn:aws:iam::111122223333:role/cwl".into() });
    hard.selectors = s3_writes();
    hard.insights = Insights::from([InsightType::ApiCallRateInsight, InsightType::ApiErrorRateInsight]);
    let mut trail = in_sync(&hard);
    trail.tags = Tags::new();
    let mut minimal = desired();
    minimal.adoption = Adoption::Always;
    minimal.settings.kms_key = None;
    minimal.settings.log_file_validation = false;
    minimal.settings.multi_region = false;
    (minimal, trail)
}

#[test]
fn adoption_that_would_weaken_the_trail_is_refused_naming_each_loss() {
    let (d, trail) = hardened();
    let losses = weakening(&d, &trail);
    let fields: Vec<&str> = losses.iter().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(fields, ["kmsKeyId", "logFileValidation", "multiRegion", "cloudWatchLogs", "snsTopicName", "eventSelectors", "insights"]);
    assert!(losses[0].contains(KEY_ARN) && losses[5].contains("AWS::S3::Object"), "{losses:?}");
    assert!(losses[6].contains("ApiCallRateInsight,ApiErrorRateInsight"), "{losses:?}");

    let p = plan(&d, &Observed::Present(Box::new(trail.clone())));
    let blocked = p.blocked.clone().expect("refused");
    assert_eq!(blocked.reason(), Reason::AdoptionWouldWeaken);
    assert!(p.actions.is_empty(), "nothing written: {p:?}");
    let message = blocked.to_string();
    assert!(losses.iter().all(|l| message.contains(l.as_str())) && message.contains("adoptionMayWeaken"), "{message}");

    // IfTagged with our name tag: the same.
    let mut if_tagged = d.clone();
    if_tagged.adoption = Adoption::IfTagged;
    let mut tagged = trail.clone();
    tagged.tags.insert(OWNER_TAG.into(), "audit".into());
    assert_eq!(plan(&if_tagged, &Observed::Present(Box::new(tagged))).blocked.map(|b| b.reason()), Some(Reason::AdoptionWouldWeaken));

    // Opted in: adopted, and made as the spec says.
    let mut may = d;
    may.adoption_may_weaken = true;
    let p = plan(&may, &Observed::Present(Box::new(trail)));
    assert_eq!(p.blocked, None);
    assert_eq!(names(&p), ["AdoptTrail", "UpdateTrail", "PutEventSelectors", "PutInsightSelectors", "AddTags"]);
}

#[test]
fn each_stronger_setting_is_a_loss_and_only_then() {
    let base = || {
        let mut d = desired();
        d.adoption = Adoption::Always;
        d
    };
    let loss = |d: &Desired, change: &dyn Fn(&mut ObservedTrail)| {
        let mut trail = in_sync(d);
        change(&mut trail);
        weakening(d, &trail)
    };
    let d = base();
    assert!(loss(&d, &|_| {}).is_empty(), "the trail as the spec asks: nothing lost");
    let weaker = |t: &mut ObservedTrail| {
        t.description.settings.kms_key = None;
        t.description.settings.log_file_validation = false;
        t.status.is_logging = false;
    };
    assert!(loss(&d, &weaker).is_empty(), "a weaker trail loses nothing");
    let mut d = base();
    d.settings.include_global_service_events = false;
    assert_eq!(loss(&d, &|t| t.description.settings.include_global_service_events = true).len(), 1);
    let mut d = base();
    d.logging = false;
    assert_eq!(loss(&d, &|t| t.status.is_logging = true)[0].split(' ').next(), Some("logging"));
    let d = base();
    assert_eq!(loss(&d, &|t| t.description.settings.organization = true)[0].split(' ').next(), Some("organization"));
    assert_eq!(loss(&d, &|t| t.selectors = advanced())[0].split(' ').next(), Some("advancedEventSelectors"));
    let mut d = base();
    d.insights = Insights::from([InsightType::ApiCallRateInsight]);
    assert_eq!(
        loss(&d, &|t| t.insights = Insights::from([InsightType::ApiCallRateInsight, InsightType::ApiErrorRateInsight])),
        ["insights (ApiErrorRateInsight)"],
        "only the Insights type the spec lacks"
    );
    let mut d = base();
    d.selectors = advanced();
    assert!(loss(&d, &|t| t.selectors = s3_writes()).is_empty(), "selectors declared: the policy chose them");
}

#[test]
fn a_trail_already_ours_is_corrected_whatever_it_loses() {
    let (mut d, mut trail) = hardened();
    trail.tags = d.all_tags();
    d.adoption = Adoption::Never;
    let p = plan(&d, &Observed::Present(Box::new(trail)));
    assert_eq!(p.blocked, None, "the policy is ours to change: no adoption, no refusal");
    assert!(names(&p).contains(&"UpdateTrail"));
}
