use std::time::Instant;

use serde_json::json;

use super::*;
use crate::posture::bucket::{self, BucketFacts, BucketPosture};
use crate::posture::key::KeyFacts;
use crate::posture::{CheckStatus, TrailRef};

const TRAIL: &str = crate::testing::TRAIL_ARN;
const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

// --- IAM semantics -----------------------------------------------------------------------

#[test]
fn glob_follows_iam_wildcards() {
    assert!(glob("kms:GenerateDataKey*", "kms:GenerateDataKey"));
    assert!(glob("s3:*", "s3:PutObject"));
    assert!(glob("arn:aws:s3:::b/AWSLogs/*", "arn:aws:s3:::b/AWSLogs/1/x"));
    assert!(!glob("arn:aws:s3:::b/other/*", "arn:aws:s3:::b/AWSLogs/1/x"));
    assert!(glob("arn:aws:cloudtrail:?s-east-1:*", "arn:aws:cloudtrail:us-east-1:1:trail/t"));
}

#[test]
fn glob_edge_cases() {
    let cases: &[(&str, &str, bool)] = &[
        ("", "", true),
        ("", "a", false),
        ("*", "", true),
        ("**", "", true),
        ("?", "", false),
        ("a*", "a", true),
        ("*a", "ba", true),
        ("*a", "ab", false),
        ("a?c", "abc", true),
        ("a?c", "ac", false),
        ("*ab", "aab", true),
        ("a*b*c", "abxbc", true),
        ("a*b*c", "abxbd", false),
        ("*?*?", "a", false),
        ("*?*?", "ab", true),
        ("*x*", "abc", false),
        ("*b*", "abc", true),
        ("?*?", "ab", true),
        ("S3:*", "s3:PutObject", false),
        // `?` is one character, not one byte.
        ("?", "é", true),
        ("??", "é", false),
        ("a?c", "a€c", true),
        ("*€", "x€", true),
        ("*é?", "éé€", true),
    ];
    for (p, t, want) in cases {
        assert_eq!(glob(p, t), *want, "glob({p:?}, {t:?})");
        assert_eq!(glob_steps(p, t).0, *want, "glob_steps({p:?}, {t:?})");
    }
}

#[test]
fn actions_match_ignoring_ascii_case_resources_do_not() {
    assert_eq!(wildcard_ignore_case("S3:put*", "s3:PutObject"), Match::Yes);
    assert_eq!(wildcard("S3:put*", "s3:PutObject"), Match::No);
    let s = json!({"Effect": "Allow", "Principal": {"Service": CLOUDTRAIL}, "Action": "S3:PUTOBJECT", "Resource": "arn:aws:s3:::B/*"});
    let s = Statement(&s);
    assert!(s.grants_action("s3:PutObject"));
    assert!(!s.covers("arn:aws:s3:::b/x"));
}

/// The matcher, the slow and obvious way: a table over (pattern, text) prefixes, by chars.
fn reference(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let mut row = vec![false; t.len() + 1];
    row[0] = true;
    for pc in &p {
        let mut next = vec![false; t.len() + 1];
        for j in 0..=t.len() {
            next[j] = match pc {
                '*' => row[j] || (j > 0 && next[j - 1]),
                '?' => j > 0 && row[j - 1],
                c => j > 0 && row[j - 1] && t[j - 1] == *c,
            };
        }
        row = next;
    }
    row[t.len()]
}

/// A small deterministic generator (xorshift64): no dependency, same inputs every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn string(&mut self, alphabet: &[&str], max: u64) -> String {
        let len = self.next() % (max + 1);
        (0..len).map(|_| alphabet[(self.next() % alphabet.len() as u64) as usize]).collect()
    }
}

#[test]
fn the_matcher_agrees_with_the_reference_and_keeps_its_step_bound() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..20_000 {
        let pattern = rng.string(&["a", "b", "*", "?", "é"], 10);
        let text = rng.string(&["a", "b", "é"], 12);
        let (matched, steps) = glob_steps(&pattern, &text);
        assert_eq!(matched, reference(&pattern, &text), "glob({pattern:?}, {text:?})");
        let bound = (pattern.len() as u64 + 1) * (text.len() as u64 + 1);
        assert!(steps <= bound, "glob({pattern:?}, {text:?}) took {steps} steps, bound {bound}");
    }
}

// --- Adversarial patterns ----------------------------------------------------------------

#[test]
fn adversarial_patterns_take_at_most_n_plus_1_times_m_plus_1_steps() {
    let a = |n: usize| "a".repeat(n);
    let cases: Vec<(&str, String, String)> = vec![
        ("7 `*?` pairs (52 s before)", format!("{}b", "*?".repeat(7)), a(30)),
        ("2,000 `*?` pairs, 4,000-char text", format!("{}b", "*?".repeat(2000)), a(4000)),
        ("5,000 `*?` pairs, 10,000-char text", format!("{}b", "*?".repeat(5000)), a(10_000)),
        ("2,000 `*a` pairs", format!("{}b", "*a".repeat(2000)), a(4000)),
        ("one `*` then 2,000 literals", format!("*{}b", a(2000)), a(4000)),
        ("2,000 `a*`", "a*".repeat(2000), a(4000)),
        ("`*?` pairs that match", "*?".repeat(2000), a(4000)),
        ("stars only", "*".repeat(4000), a(4000)),
    ];
    let mut total = 0.0;
    for (name, pattern, text) in &cases {
        let started = Instant::now();
        let (matched, steps) = glob_steps(pattern, text);
        let elapsed = started.elapsed();
        total += elapsed.as_secs_f64();
        let (n, m) = (pattern.len() as u64, text.len() as u64);
        let bound = (n + 1) * (m + 1);
        println!("{name}: n={n} m={m} matched={matched} steps={steps} bound={bound} elapsed={elapsed:?}");
        assert!(steps <= bound, "{name}: {steps} steps, bound {bound}");
        if n * m <= 10_000_000 {
            assert_eq!(matched, reference(pattern, text), "{name}");
        }
        // Past the length cap the public matcher does not even look.
        assert_eq!(wildcard(pattern, text) == Match::TooLong, n as usize > MAX_MATCH_BYTES || m as usize > MAX_MATCH_BYTES);
    }
    println!("adversarial matcher cases: {total:.3}s in all");
}

/// The recursive matcher this replaced, counting its calls: for comparison only.
fn backtracking_steps(p: &[u8], t: &[u8], steps: &mut u64) -> bool {
    *steps += 1;
    match (p.first(), t.first()) {
        (None, None) => true,
        (Some(b'*'), _) => backtracking_steps(&p[1..], t, steps) || (!t.is_empty() && backtracking_steps(p, &t[1..], steps)),
        (Some(b'?'), Some(_)) => backtracking_steps(&p[1..], &t[1..], steps),
        (Some(a), Some(b)) if a == b => backtracking_steps(&p[1..], &t[1..], steps),
        _ => false,
    }
}

#[test]
fn the_old_matcher_was_exponential_in_star_question_pairs_and_this_one_is_not() {
    let text = "a".repeat(30);
    let mut previous = 0;
    for pairs in 1..=4 {
        let pattern = format!("{}b", "*?".repeat(pairs));
        let mut old = 0;
        assert!(!backtracking_steps(pattern.as_bytes(), text.as_bytes(), &mut old));
        let (matched, new) = glob_steps(&pattern, &text);
        assert!(!matched);
        println!("{pairs} `*?` pairs against 30 chars: backtracking {old} steps, two-pointer {new} steps");
        assert!(old > 10 * previous.max(1) / 2, "the old one grows by a factor each pair");
        assert!(new <= 2 * (text.len() as u64 + 1), "the new one stays linear here");
        previous = old;
    }
}

#[test]
fn patterns_and_texts_past_the_cap_are_not_evaluated() {
    let long = format!("arn:aws:s3:::b/{}", "x".repeat(MAX_MATCH_BYTES));
    assert_eq!(wildcard("*", &long), Match::TooLong);
    assert_eq!(wildcard(&format!("{long}*"), "arn:aws:s3:::b/x"), Match::TooLong);
    assert!(!glob("*", &long), "glob reads the cap as no match");
    let at_cap = "a".repeat(MAX_MATCH_BYTES);
    assert_eq!(wildcard("*", &at_cap), Match::Yes, "the cap itself is still evaluated");
}

// --- Each caller reads what it cannot evaluate on its safe side ----------------------------

fn over_cap(pattern_tail: &str) -> String {
    format!("{}{pattern_tail}", "*?".repeat(MAX_MATCH_BYTES))
}

#[test]
fn a_grant_that_cannot_be_evaluated_does_not_count() {
    let object = "arn:aws:s3:::logs/AWSLogs/1/x";
    // Action, NotAction, Resource, NotResource and aws:SourceArn over the cap.
    let action = json!({"Effect": "Allow", "Principal": {"Service": CLOUDTRAIL}, "Action": over_cap("*"), "Resource": "*"});
    assert!(!Statement(&action).grants_action("s3:PutObject"));
    let not_action =
        json!({"Effect": "Allow", "Principal": {"Service": CLOUDTRAIL}, "NotAction": ["s3:Delete*", over_cap("")], "Resource": "*"});
    assert!(!Statement(&not_action).grants_action("s3:PutObject"), "a NotAction that may name it is no grant");
    let resource = json!({"Effect": "Allow", "Action": "s3:*", "Resource": over_cap("*")});
    assert!(!Statement(&resource).covers(object));
    let not_resource = json!({"Effect": "Allow", "Action": "s3:*", "NotResource": over_cap("")});
    assert!(!Statement(&not_resource).covers(object));
    let source = json!({"Condition": {"ArnLike": {"aws:SourceArn": [TRAIL, over_cap("*")]}}});
    assert!(!Statement(&source).limited_to_source(TRAIL), "every value must surely match");
    // Odd shapes are no grant either.
    for odd in [json!(42), json!({"s3": "PutObject"}), json!(["s3:PutObject", 1]), json!(null)] {
        let s = json!({"Effect": "Allow", "Principal": {"Service": CLOUDTRAIL}, "Action": odd, "Resource": "*"});
        assert!(!Statement(&s).grants_action("s3:PutObject"), "{s}");
    }
    let both = json!({"Effect": "Allow", "Action": "s3:*", "NotAction": "s3:Get*", "Resource": "*"});
    assert!(!Statement(&both).grants_action("s3:PutObject"), "Action and NotAction together are not IAM");
    let lower = json!({"Effect": "allow", "Principal": {"Service": CLOUDTRAIL}, "Action": "s3:*", "Resource": "*"});
    assert!(!Statement(&lower).allows() && Statement(&lower).may_allow());
}

#[test]
fn not_action_grants_what_it_surely_does_not_name() {
    let s = json!({"Effect": "Allow", "Principal": {"Service": CLOUDTRAIL}, "NotAction": ["s3:Delete*", "s3:Get*"], "Resource": "*"});
    assert!(Statement(&s).grants_action("s3:PutObject"));
    assert!(!Statement(&s).grants_action("s3:GetBucketAcl"));
}

#[test]
fn a_principal_that_cannot_be_read_is_anyone() {
    for principal in [json!("*"), json!({"AWS": "*"}), json!({"AWS": ["arn:aws:iam::1:root", "*"]}), json!("arn:aws:iam::1:root"),
        json!(["*"]), json!({}), json!({"AWS": 7}), json!({"AWS": ["arn:aws:iam::1:root", {"x": 1}]}), json!(null)]
    {
        let s = json!({"Effect": "Allow", "Principal": principal, "Action": "s3:GetObject", "Resource": "*"});
        assert!(Statement(&s).anyone(), "{s}");
    }
    let missing = json!({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"});
    assert!(Statement(&missing).anyone());
    let not = json!({"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::1:root"}, "Action": "s3:GetObject", "Resource": "*"});
    assert!(Statement(&not).anyone());
    for principal in [json!({"AWS": "arn:aws:iam::1:root"}), json!({"Service": CLOUDTRAIL}), json!({"AWS": ["arn:aws:iam::1:root"], "Service": [CLOUDTRAIL]})] {
        let s = json!({"Effect": "Allow", "Principal": principal, "Action": "s3:GetObject", "Resource": "*"});
        assert!(!Statement(&s).anyone(), "{s}");
    }
}

#[test]
fn only_conditions_s3_counts_as_limiting_keep_a_grant_to_anyone_private() {
    let public = |condition: serde_json::Value| {
        let s = json!({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::logs/*", "Condition": condition});
        let facts = bucket_facts(Some(json!({"Statement": [s]}).to_string()));
        status(&bucket::checks(&facts, trail(), &BucketPosture::default()), "BKT-NOT-PUBLIC") == CheckStatus::Fail
    };
    for limiting in [
        json!({"StringEquals": {"aws:SourceAccount": "111122223333"}}),
        json!({"ArnEquals": {"aws:SourceArn": TRAIL}}),
        json!({"StringEquals": {"aws:SourceVpce": ["vpce-1", "vpce-2"]}}),
        json!({"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:db8::/48"]}}),
        json!({"Bool": {"aws:SecureTransport": "true"}, "StringEquals": {"aws:SourceVpc": "vpc-1"}}),
    ] {
        assert!(!public(limiting.clone()), "{limiting}");
    }
    for open in [
        json!({"Bool": {"aws:SecureTransport": "true"}}),
        json!({"StringLike": {"aws:Referer": "*"}}),
        json!({"StringLike": {"aws:SourceArn": "arn:aws:cloudtrail:*"}}),
        json!({"StringNotEquals": {"aws:SourceAccount": "111122223333"}}),
        json!({"StringEqualsIfExists": {"aws:SourceAccount": "111122223333"}}),
        json!({"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}),
        json!({"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "10.0.0.0/4"]}}),
        json!({"IpAddress": {"aws:SourceIp": "not-an-ip"}}),
        json!({"StringEquals": {"aws:SourceAccount": []}}),
        json!({"StringEquals": "aws:SourceAccount"}),
        json!("StringEquals"),
        json!({}),
    ] {
        assert!(public(open.clone()), "{open}");
    }
}

#[test]
fn a_deny_that_may_apply_takes_the_grant_away() {
    let object = "arn:aws:s3:::logs/AWSLogs/1/x";
    let applies = |s: serde_json::Value| Statement(&s).denies(CLOUDTRAIL, "s3:PutObject", object);
    assert!(applies(json!({"Effect": "Deny", "Principal": "*", "Action": "s3:Put*", "Resource": "arn:aws:s3:::logs/*"})));
    assert!(applies(json!({"Effect": "Deny", "Principal": {"Service": CLOUDTRAIL}, "NotAction": "s3:Get*", "Resource": "*"})));
    assert!(applies(json!({"Effect": "Deny", "NotPrincipal": {"AWS": "arn:aws:iam::1:root"}, "Action": "*", "Resource": "*"})));
    assert!(applies(json!({"Effect": "Deny", "Principal": "*", "Action": over_cap("*"), "Resource": "*"})), "over the cap: may apply");
    assert!(applies(json!({"Effect": "Deny", "Principal": "*", "Action": "s3:*", "NotResource": over_cap("")})));
    assert!(applies(json!({"Effect": "Deny", "Principal": 5, "Action": "s3:*", "Resource": "*"})), "unreadable principal");
    assert!(!applies(json!({"Effect": "Deny", "NotPrincipal": {"Service": CLOUDTRAIL}, "Action": "*", "Resource": "*"})));
    assert!(!applies(json!({"Effect": "Deny", "Principal": "*", "Action": "s3:Delete*", "Resource": "*"})));
    assert!(!applies(json!({"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::other/*"})));
    assert!(!applies(json!({"Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::1:role/x"}, "Action": "*", "Resource": "*"})));
    assert!(
        !applies(json!({"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})),
        "a conditional Deny is taken not to apply"
    );
    assert!(!applies(json!({"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"})));
}

// --- Document limits --------------------------------------------------------------------

#[test]
fn oversized_documents_and_too_many_statements_are_refused() {
    let padding = "x".repeat(MAX_DOCUMENT_BYTES);
    let big = json!({"Statement": [], "Padding": padding}).to_string();
    let why = Document::parse(&big).unwrap_err();
    assert!(why.contains("bytes, more than"), "{why}");
    let many: Vec<_> = (0..=MAX_STATEMENTS).map(|_| json!({})).collect();
    let why = Document::parse(&json!({"Statement": many}).to_string()).unwrap_err();
    assert!(why.contains("statements"), "{why}");
    let enough: Vec<_> = (0..MAX_STATEMENTS).map(|_| json!({})).collect();
    assert!(Document::parse(&json!({"Statement": enough}).to_string()).is_ok());
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    for depth in [200, 10_000, 30_000] {
        let inner = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
        let text = format!(r#"{{"Statement": [{{"Effect": "Allow", "Action": {inner}}}]}}"#);
        let result = if text.len() <= MAX_DOCUMENT_BYTES { Document::parse(&text) } else { Document::parse(&text[..MAX_DOCUMENT_BYTES]) };
        let why = result.unwrap_err();
        assert!(why.contains("recursion limit") || why.contains("not JSON"), "depth {depth}: {why}");
        // Unclosed nesting too (a truncated document).
        let open = format!(r#"{{"Statement": {}"#, "[".repeat(depth.min(MAX_DOCUMENT_BYTES - 20)));
        assert!(Document::parse(&open).unwrap_err().contains("recursion limit"), "depth {depth}");
    }
    let facts = bucket_facts(Some(format!(r#"{{"Statement": {}"#, "{\"a\":".repeat(5000))));
    let checks = bucket::checks(&facts, trail(), &BucketPosture::default());
    for id in ["BKT-NOT-PUBLIC", "BKT-CLOUDTRAIL-POLICY"] {
        assert_eq!(status(&checks, id), CheckStatus::Unknown, "{id}");
    }
}

#[test]
fn not_json_is_an_error_not_a_pass() {
    assert!(Document::parse("not json").is_err());
    assert!(Document::parse("{}").is_err());
}

// --- A crafted 20 KB policy through the bucket and key checks and fixes --------------------

// --- fixtures shared with the crafted policies -----------------------------------------

pub(super) fn trail() -> TrailRef<'static> {
    crate::testing::trail_ref()
}

pub(super) fn bucket_facts(policy: Option<String>) -> BucketFacts {
    BucketFacts { policy: Ok(policy), ..crate::testing::bucket("logs") }
}

pub(super) fn key_facts(policy: String) -> KeyFacts {
    KeyFacts { arn: KEY.into(), ..crate::testing::key(&policy) }
}

pub(super) fn status(checks: &[crate::posture::Check], id: &str) -> CheckStatus {
    checks.iter().find(|c| c.id == id).unwrap_or_else(|| panic!("no {id}")).status
}
