use super::*;
use crate::trail::DataResource;

// --- Builders -----------------------------------------------------------------------------

fn basic(rw: ReadWriteType, management: bool, excluded: &[&str]) -> EventSelector {
    EventSelector {
        read_write_type: rw,
        include_management_events: management,
        exclude_management_event_sources: excluded.iter().map(|s| (*s).to_owned()).collect(),
        data_resources: vec![],
    }
}

fn with_s3(mut s: EventSelector, values: &[&str]) -> EventSelector {
    s.data_resources.push(DataResource { type_: S3_OBJECT.into(), values: values.iter().map(|v| (*v).to_owned()).collect() });
    s
}

fn field(name: &str) -> AdvancedFieldSelector {
    AdvancedFieldSelector { field: name.into(), ..Default::default() }
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

trait Ops {
    fn equals(self, v: &[&str]) -> Self;
    fn starts_with(self, v: &[&str]) -> Self;
    fn ends_with(self, v: &[&str]) -> Self;
    fn not_equals(self, v: &[&str]) -> Self;
    fn not_starts_with(self, v: &[&str]) -> Self;
    fn not_ends_with(self, v: &[&str]) -> Self;
}

impl Ops for AdvancedFieldSelector {
    fn equals(mut self, v: &[&str]) -> Self {
        self.equals = strings(v);
        self
    }
    fn starts_with(mut self, v: &[&str]) -> Self {
        self.starts_with = strings(v);
        self
    }
    fn ends_with(mut self, v: &[&str]) -> Self {
        self.ends_with = strings(v);
        self
    }
    fn not_equals(mut self, v: &[&str]) -> Self {
        self.not_equals = strings(v);
        self
    }
    fn not_starts_with(mut self, v: &[&str]) -> Self {
        self.not_starts_with = strings(v);
        self
    }
    fn not_ends_with(mut self, v: &[&str]) -> Self {
        self.not_ends_with = strings(v);
        self
    }
}

fn adv(name: Option<&str>, fields: Vec<AdvancedFieldSelector>) -> AdvancedEventSelector {
    AdvancedEventSelector { name: name.map(str::to_owned), field_selectors: fields }
}

fn management() -> AdvancedFieldSelector {
    field("eventCategory").equals(&["Management"])
}

/// A management selector named `x`, narrowed by `extra`.
fn mgmt(extra: AdvancedFieldSelector) -> Selectors {
    Selectors::Advanced(vec![adv(Some("x"), vec![management(), extra])])
}

fn s3_data(extra: Vec<AdvancedFieldSelector>) -> AdvancedEventSelector {
    let mut fields = vec![field("eventCategory").equals(&["Data"]), field("resources.type").equals(&[S3_OBJECT])];
    fields.extend(extra);
    adv(Some("s3"), fields)
}

/// What a row expects: Pass, or Fail with these words in the message.
enum Want {
    Pass,
    Fail(&'static str),
}

fn check(table: &str, rows: Vec<(&str, Selectors, Want)>, judge: impl Fn(&Selectors) -> Verdict) {
    println!("\n{table}");
    let mut failures = vec![];
    for (trick, selectors, want) in rows {
        let verdict = judge(&selectors);
        let (shown, message) = match &verdict {
            Ok(m) => ("Pass", m.as_str()),
            Err(m) => ("Fail", m.as_str()),
        };
        println!("| {trick} | {shown} | {message} |");
        match (&want, &verdict) {
            (Want::Pass, Ok(_)) => {}
            (Want::Fail(words), Err(m)) if m.contains(words) => {}
            (Want::Pass, Err(m)) => failures.push(format!("{trick}: wanted Pass, got Fail: {m}")),
            (Want::Fail(words), _) => failures.push(format!("{trick}: wanted Fail naming {words:?}, got {shown}: {message}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// --- Management events: the tricks and their verdicts ---------------------------------------

#[test]
fn management_event_tricks() {
    use ReadWriteType::{All, ReadOnly, WriteOnly};
    let rows = vec![
        ("AWS default (basic All, management, no excludes)", Selectors::aws_default(), Want::Pass),
        ("no basic selectors put (AWS default)", Selectors::Basic(vec![]), Want::Pass),
        ("basic ReadOnly only", Selectors::Basic(vec![basic(ReadOnly, true, &[])]), Want::Fail("no selector records write management events (basic selector #1 records only ReadOnly)")),
        ("basic WriteOnly only", Selectors::Basic(vec![basic(WriteOnly, true, &[])]), Want::Fail("no selector records read management events")),
        ("basic ReadOnly + WriteOnly", Selectors::Basic(vec![basic(ReadOnly, true, &[]), basic(WriteOnly, true, &[])]), Want::Pass),
        ("basic management events off (data events only)", Selectors::Basic(vec![with_s3(basic(All, false, &[]), &["arn:aws:s3"])]), Want::Fail("no event selector includes management events")),
        (
            "Stratus Red Team cloudtrail-event-selectors (ReadOnly, management off, empty S3 and Lambda data resources)",
            Selectors::Basic(vec![stratus()]),
            Want::Fail("includeManagementEvents is false"),
        ),
        (
            "basic excludeManagementEventSources kms",
            Selectors::Basic(vec![basic(All, true, &["kms.amazonaws.com"])]),
            Want::Fail("basic selector #1 narrows management events by excludeManagementEventSources [kms.amazonaws.com]; no selector records management events from [kms.amazonaws.com]"),
        ),
        (
            "basic excludes kms and rdsdata",
            Selectors::Basic(vec![basic(All, true, &["kms.amazonaws.com", "rdsdata.amazonaws.com"])]),
            Want::Fail("excludeManagementEventSources [kms.amazonaws.com, rdsdata.amazonaws.com]"),
        ),
        (
            "basic: kms excluded in one, rdsdata in another (each covers the other's)",
            Selectors::Basic(vec![basic(All, true, &["kms.amazonaws.com"]), basic(All, true, &["rdsdata.amazonaws.com"])]),
            Want::Pass,
        ),
        (
            "basic: kms excluded, a second selector without excludes",
            Selectors::Basic(vec![basic(All, true, &["kms.amazonaws.com"]), basic(All, true, &[])]),
            Want::Pass,
        ),
        (
            "basic: kms excluded, a second ReadOnly selector (kms writes lost)",
            Selectors::Basic(vec![basic(All, true, &["kms.amazonaws.com"]), basic(ReadOnly, true, &[])]),
            Want::Fail("no selector records write management events from [kms.amazonaws.com]"),
        ),
        ("advanced eventCategory Equals [Management]", mgmt_only(), Want::Pass),
        ("advanced readOnly Equals [true] only", mgmt(field("readOnly").equals(&["true"])), Want::Fail("selector 'x' records only read management events (readOnly Equals [true]); no selector records every write management event")),
        ("advanced readOnly Equals [false] only", mgmt(field("readOnly").equals(&["false"])), Want::Fail("no selector records every read management event")),
        ("advanced readOnly Equals [true, false]", mgmt(field("readOnly").equals(&["true", "false"])), Want::Pass),
        (
            "advanced split: readOnly true in one selector, false in another",
            Selectors::Advanced(vec![
                adv(Some("reads"), vec![management(), field("readOnly").equals(&["true"])]),
                adv(Some("writes"), vec![management(), field("readOnly").equals(&["false"])]),
            ]),
            Want::Pass,
        ),
        (
            "advanced split, but the write half narrowed by eventName",
            Selectors::Advanced(vec![
                adv(Some("reads"), vec![management(), field("readOnly").equals(&["true"])]),
                adv(Some("writes"), vec![management(), field("readOnly").equals(&["false"]), field("eventName").not_equals(&["DeleteTrail"])]),
            ]),
            Want::Fail("selector 'writes' narrows management events by eventName (NotEquals [DeleteTrail])"),
        ),
        ("advanced eventName NotEquals [StopLogging]", mgmt(field("eventName").not_equals(&["StopLogging"])), Want::Fail("selector 'x' narrows management events by eventName (NotEquals [StopLogging])")),
        ("advanced eventName NotStartsWith [Get]", mgmt(field("eventName").not_starts_with(&["Get"])), Want::Fail("selector 'x' narrows management events by eventName (NotStartsWith [Get])")),
        ("advanced eventName StartsWith [Describe] (Prowler passes it)", mgmt(field("eventName").starts_with(&["Describe"])), Want::Fail("by eventName (StartsWith [Describe])")),
        ("advanced eventName EndsWith [Key]", mgmt(field("eventName").ends_with(&["Key"])), Want::Fail("by eventName (EndsWith [Key])")),
        ("advanced eventName NotEndsWith [Trail]", mgmt(field("eventName").not_ends_with(&["Trail"])), Want::Fail("by eventName (NotEndsWith [Trail])")),
        ("advanced eventName StartsWith [\"\"] (AWS refuses empty values)", mgmt(field("eventName").starts_with(&[""])), Want::Fail("by eventName (StartsWith [\"\"])")),
        ("advanced eventName with an empty Equals (no operator)", mgmt(field("eventName")), Want::Fail("by eventName (no operator)")),
        ("advanced readOnly with an empty Equals (no operator)", mgmt(field("readOnly")), Want::Fail("by readOnly (no operator)")),
        ("advanced readOnly Equals [yes]", mgmt(field("readOnly").equals(&["yes"])), Want::Fail("admits neither true nor false")),
        ("advanced readOnly NotEquals [true]", mgmt(field("readOnly").not_equals(&["true"])), Want::Fail("by readOnly (NotEquals [true])")),
        (
            "advanced readOnly [true] AND readOnly [false] in one selector",
            Selectors::Advanced(vec![adv(None, vec![management(), field("readOnly").equals(&["true"]), field("readOnly").equals(&["false"])])]),
            Want::Fail("selector #1 narrows management events by readOnly (its conditions together admit neither"),
        ),
        ("advanced eventSource NotEquals [kms.amazonaws.com]", mgmt(field("eventSource").not_equals(&["kms.amazonaws.com"])), Want::Fail("by eventSource (NotEquals [kms.amazonaws.com])")),
        ("advanced eventSource NotStartsWith [iam]", mgmt(field("eventSource").not_starts_with(&["iam"])), Want::Fail("by eventSource (NotStartsWith [iam])")),
        ("advanced eventSource Equals [s3.amazonaws.com]", mgmt(field("eventSource").equals(&["s3.amazonaws.com"])), Want::Fail("by eventSource (Equals [s3.amazonaws.com])")),
        ("advanced resources.ARN NotStartsWith [arn:aws:cloudtrail]", mgmt(field("resources.ARN").not_starts_with(&["arn:aws:cloudtrail"])), Want::Fail("by resources.ARN (NotStartsWith [arn:aws:cloudtrail])")),
        ("advanced resources.type Equals [AWS::S3::Bucket]", mgmt(field("resources.type").equals(&["AWS::S3::Bucket"])), Want::Fail("by resources.type (Equals [AWS::S3::Bucket])")),
        ("advanced errorCode NotEquals [AccessDenied]", mgmt(field("errorCode").not_equals(&["AccessDenied"])), Want::Fail("by errorCode (NotEquals [AccessDenied])")),
        (
            "advanced userIdentity.arn NotStartsWith [attacker role]",
            mgmt(field("userIdentity.arn").not_starts_with(&["arn:aws:iam::111122223333:role/attacker"])),
            Want::Fail("by userIdentity.arn (NotStartsWith [arn:aws:iam::111122223333:role/attacker])"),
        ),
        ("advanced sessionCredentialFromConsole Equals [false]", mgmt(field("sessionCredentialFromConsole").equals(&["false"])), Want::Fail("by sessionCredentialFromConsole")),
        ("advanced eventType NotEquals [AwsConsoleSignIn]", mgmt(field("eventType").not_equals(&["AwsConsoleSignIn"])), Want::Fail("by eventType (NotEquals [AwsConsoleSignIn])")),
        ("advanced vpcEndpointId Equals [vpce-1]", mgmt(field("vpcEndpointId").equals(&["vpce-1"])), Want::Fail("by vpcEndpointId")),
        (
            "advanced: two narrowings in one selector, both named",
            Selectors::Advanced(vec![adv(Some("x"), vec![management(), field("eventName").not_starts_with(&["Get", "List"]), field("errorCode").equals(&["x"])])]),
            Want::Fail("narrows management events by eventName (NotStartsWith [Get, List]) and by errorCode (Equals [x])"),
        ),
        (
            "advanced eventCategory Equals [Management] AND NotEquals [Management]",
            mgmt(field("eventCategory").not_equals(&["Management"])),
            Want::Fail("by eventCategory (NotEquals [Management])"),
        ),
        ("advanced eventCategory NotEquals [Data] (AWS takes only Equals)", Selectors::Advanced(vec![adv(None, vec![field("eventCategory").not_equals(&["Data"])])]), Want::Fail("by eventCategory (NotEquals [Data])")),
        ("advanced eventCategory Equals [management] (wrong case)", Selectors::Advanced(vec![adv(None, vec![field("eventCategory").equals(&["management"])])]), Want::Fail("no selector has eventCategory Equals [Management]")),
        ("advanced data events only", Selectors::Advanced(vec![s3_data(vec![])]), Want::Fail("no selector has eventCategory Equals [Management]")),
        ("advanced, no selectors at all", Selectors::Advanced(vec![]), Want::Fail("no selector has eventCategory Equals [Management]")),
        (
            "advanced: a narrowed selector beside a complete one",
            Selectors::Advanced(vec![adv(Some("narrow"), vec![management(), field("eventName").equals(&["x"])]), adv(Some("all"), vec![management()])]),
            Want::Pass,
        ),
        (
            "advanced: eventName Equals [X] + eventName NotEquals [X] (covers all, not proven: conservative)",
            Selectors::Advanced(vec![
                adv(Some("a"), vec![management(), field("eventName").equals(&["StopLogging"])]),
                adv(Some("b"), vec![management(), field("eventName").not_equals(&["StopLogging"])]),
            ]),
            Want::Fail("selector 'a' narrows management events by eventName (Equals [StopLogging]); selector 'b' narrows"),
        ),
        (
            "advanced: the data-events selector does not narrow the management one",
            Selectors::Advanced(vec![adv(Some("m"), vec![management()]), s3_data(vec![field("resources.ARN").starts_with(&["arn:aws:s3:::b/"])])]),
            Want::Pass,
        ),
    ];
    check("| trick | CT-MANAGEMENT-EVENTS | message |", rows, management_events);
}

/// What Stratus Red Team's `aws.defense-evasion.cloudtrail-event-selectors` puts.
fn stratus() -> EventSelector {
    let mut s = with_s3(basic(ReadWriteType::ReadOnly, false, &[]), &[]);
    s.data_resources.push(DataResource { type_: "AWS::Lambda::Function".into(), values: vec![] });
    s
}

fn mgmt_only() -> Selectors {
    Selectors::Advanced(vec![adv(Some("Management events selector"), vec![management()])])
}

#[test]
fn long_values_and_lists_are_clipped_in_messages() {
    let many: Vec<String> = (0..40).map(|i| format!("Event{i}{}", "x".repeat(200))).collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    let Err(message) = management_events(&mgmt(field("eventName").not_equals(&refs))) else { panic!() };
    assert!(message.contains("(+35 more)"), "{message}");
    assert!(message.len() < 1000, "{} bytes: {message}", message.len());
}

// --- S3 object-level data events --------------------------------------------------------

#[test]
fn s3_data_event_tricks() {
    use ReadWriteType::{All, ReadOnly, WriteOnly};
    let both = |selectors: &Selectors| -> Verdict {
        match (s3_object_events(selectors, true), s3_object_events(selectors, false)) {
            (Ok(w), Ok(_)) => Ok(format!("write and read: {w}")),
            (Err(w), Ok(_)) => Err(format!("write: {w}")),
            (Ok(_), Err(r)) => Err(format!("read: {r}")),
            (Err(w), Err(r)) => Err(format!("write: {w} / read: {r}")),
        }
    };
    let rows = vec![
        ("AWS default (no data events)", Selectors::aws_default(), Want::Fail("write: S3 object-level write events are not recorded / read")),
        ("basic All, arn:aws:s3 (every bucket)", Selectors::Basic(vec![with_s3(basic(All, true, &[]), &["arn:aws:s3"])]), Want::Pass),
        ("basic All, arn:aws:s3::: (every bucket)", Selectors::Basic(vec![with_s3(basic(All, true, &[]), &["arn:aws:s3:::"])]), Want::Pass),
        ("basic All, arn:aws-cn:s3 (every bucket, China)", Selectors::Basic(vec![with_s3(basic(All, true, &[]), &["arn:aws-cn:s3"])]), Want::Pass),
        (
            "basic WriteOnly, every bucket",
            Selectors::Basic(vec![with_s3(basic(WriteOnly, true, &[]), &["arn:aws:s3"])]),
            Want::Fail("read: S3 object-level read events are not recorded for every bucket: basic selector #1 records only WriteOnly"),
        ),
        (
            "basic ReadOnly + WriteOnly, every bucket",
            Selectors::Basic(vec![with_s3(basic(ReadOnly, true, &[]), &["arn:aws:s3"]), with_s3(basic(WriteOnly, true, &[]), &["arn:aws:s3"])]),
            Want::Pass,
        ),
        (
            "basic, one bucket only",
            Selectors::Basic(vec![with_s3(basic(All, true, &[]), &["arn:aws:s3:::logs/"])]),
            Want::Fail("basic selector #1 records S3 object-level events only for [arn:aws:s3:::logs/]"),
        ),
        ("Stratus Red Team cloudtrail-event-selectors", Selectors::Basic(vec![stratus()]), Want::Fail("basic selector #1 records S3 object-level events only for []")),
        ("basic, arn:aws:s3:::*/* (no wildcards in basic values)", Selectors::Basic(vec![with_s3(basic(All, true, &[]), &["arn:aws:s3:::*/*"])]), Want::Fail("only for [arn:aws:s3:::*/*]")),
        ("advanced Data + AWS::S3::Object", Selectors::Advanced(vec![s3_data(vec![])]), Want::Pass),
        ("advanced, resources.ARN StartsWith [arn:aws:s3:::]", Selectors::Advanced(vec![s3_data(vec![field("resources.ARN").starts_with(&["arn:aws:s3:::"])])]), Want::Pass),
        (
            "advanced, resources.ARN StartsWith one bucket",
            Selectors::Advanced(vec![s3_data(vec![field("resources.ARN").starts_with(&["arn:aws:s3:::logs/"])])]),
            Want::Fail("selector 's3' narrows them by resources.ARN (StartsWith [arn:aws:s3:::logs/])"),
        ),
        (
            "advanced, resources.ARN NotStartsWith the log bucket",
            Selectors::Advanced(vec![s3_data(vec![field("resources.ARN").not_starts_with(&["arn:aws:s3:::logs/"])])]),
            Want::Fail("narrows them by resources.ARN (NotStartsWith [arn:aws:s3:::logs/])"),
        ),
        (
            "advanced, resources.ARN StartsWith all buckets AND NotStartsWith one",
            Selectors::Advanced(vec![s3_data(vec![field("resources.ARN").starts_with(&["arn:aws:s3:::"]).not_starts_with(&["arn:aws:s3:::logs/"])])]),
            Want::Fail("resources.ARN (StartsWith [arn:aws:s3:::]; NotStartsWith [arn:aws:s3:::logs/])"),
        ),
        ("advanced, eventName NotEquals [PutObject]", Selectors::Advanced(vec![s3_data(vec![field("eventName").not_equals(&["PutObject"])])]), Want::Fail("by eventName (NotEquals [PutObject])")),
        ("advanced, readOnly Equals [true]", Selectors::Advanced(vec![s3_data(vec![field("readOnly").equals(&["true"])])]), Want::Fail("write: S3 object-level write events are not recorded for every bucket: selector 's3' records only read events (readOnly Equals [true])")),
        (
            "advanced, AWS::S3::Object without eventCategory",
            Selectors::Advanced(vec![adv(Some("odd"), vec![field("resources.type").equals(&[S3_OBJECT])])]),
            Want::Fail("selector 'odd' names AWS::S3::Object without eventCategory Equals [Data]"),
        ),
        (
            "advanced, resources.type NotEquals [AWS::S3::Object]",
            Selectors::Advanced(vec![adv(Some("s3"), vec![field("eventCategory").equals(&["Data"]), field("resources.type").not_equals(&[S3_OBJECT])])]),
            Want::Fail("by resources.type (NotEquals [AWS::S3::Object])"),
        ),
        (
            "advanced, DynamoDB only",
            Selectors::Advanced(vec![adv(None, vec![field("eventCategory").equals(&["Data"]), field("resources.type").equals(&["AWS::DynamoDB::Table"])])]),
            Want::Fail("write: S3 object-level write events are not recorded /"),
        ),
    ];
    check("| trick | CT-S3-DATA-EVENTS-WRITE / -READ | message |", rows, both);
}
