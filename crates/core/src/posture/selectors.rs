//! What a trail's event selectors let through: do they, taken together, record every
//! management event (read and write, every source, every name), and S3 object-level
//! events for every bucket?
//!
//! A trail can be emptied without being stopped: selectors that narrow management events
//! by `eventName`, `eventSource`, `readOnly` or `resources.ARN` leave `IsLogging` true
//! (Stratus Red Team's `cloudtrail-event-selectors`). So these judgements give a Pass only
//! when coverage is PROVEN, and a failure names each narrowing so the trick is visible.
//!
//! AWS semantics relied on (CloudTrail API reference, `EventSelector`,
//! `AdvancedEventSelector`, `AdvancedFieldSelector`):
//! - Basic selectors are independent: an event is recorded when ANY selector records it.
//!   A selector with `IncludeManagementEvents` records management events of its
//!   `ReadWriteType` (All = read and write), except those from its
//!   `ExcludeManagementEventSources`; another selector may record what one excludes.
//! - Advanced selectors are ORed; the field selectors of one selector are ANDed, the
//!   values of one operator ORed. `eventCategory` is required and takes only `Equals`;
//!   `readOnly` and `resources.type` take only `Equals`. Every operator's list holds at
//!   least one value of at least one character, so an "empty Equals" cannot reach AWS: our
//!   types cannot tell an empty list from an absent one, and a field selector left with no
//!   operator is judged to narrow (it cannot be shown to admit everything).
//!
//! Conservative by construction: a field selector admits everything only in the cases
//! listed here (`readOnly Equals [true, false]`; for S3, `resources.ARN StartsWith` an
//! all-buckets prefix). Every other field, and every negative operator, narrows; two
//! narrowed selectors are never combined into full coverage (e.g. `eventName Equals [X]`
//! in one and `eventName NotEquals [X]` in another would in fact cover all, but are
//! judged a Fail). A false Fail is visible and cheap; a false Pass hides a blind trail.

use std::collections::BTreeSet;

use super::Verdict;
use crate::trail::{AdvancedEventSelector, AdvancedFieldSelector, EventSelector, ReadWriteType, Selectors};

const MANAGEMENT: &str = "Management";
const DATA: &str = "Data";
const S3_OBJECT: &str = "AWS::S3::Object";

/// Read (`readOnly` true) and write (`readOnly` false) events: which of the two.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Directions {
    read: bool,
    write: bool,
}

impl Directions {
    const BOTH: Directions = Directions { read: true, write: true };

    fn of(rw: ReadWriteType) -> Self {
        match rw {
            ReadWriteType::All => Self::BOTH,
            ReadWriteType::ReadOnly => Directions { read: true, write: false },
            ReadWriteType::WriteOnly => Directions { read: false, write: true },
        }
    }

    fn union(self, other: Self) -> Self {
        Directions { read: self.read || other.read, write: self.write || other.write }
    }

    fn has(self, write: bool) -> bool {
        if write { self.write } else { self.read }
    }

    /// "read " / "write " / "" (both or neither), to put before "management events".
    fn adjective(self) -> &'static str {
        match (self.read, self.write) {
            (true, false) => "read ",
            (false, true) => "write ",
            _ => "",
        }
    }
}

/// Judges whether the selectors record every management event: read and write, from
/// every source, of every name. `Err` names what is narrowed.
pub fn management_events(selectors: &Selectors) -> Verdict {
    match selectors {
        // No selectors put: AWS records its default (as `Selectors::normalised` reads it).
        Selectors::Basic(basic) if basic.is_empty() => Ok(pass_message("the AWS default selector")),
        Selectors::Basic(basic) => basic_management(basic),
        Selectors::Advanced(advanced) => advanced_management(advanced),
    }
}

/// Judges whether the selectors record S3 object-level events of one direction (`write`
/// or read) for every bucket. `Err` names what is narrowed.
pub fn s3_object_events(selectors: &Selectors, write: bool) -> Verdict {
    let what = if write { "S3 object-level write events" } else { "S3 object-level read events" };
    let (covering, notes) = match selectors {
        Selectors::Basic(basic) => basic_s3(basic, write),
        Selectors::Advanced(advanced) => advanced_s3(advanced, write),
    };
    match covering {
        Some(by) => Ok(format!("records {what} for every bucket ({by})")),
        None if notes.is_empty() => Err(format!("{what} are not recorded")),
        None => Err(format!("{what} are not recorded for every bucket: {}", notes.join("; "))),
    }
}

fn pass_message(by: &str) -> String {
    format!("records all management events, read and write ({by})")
}

fn fail_message(mut notes: Vec<String>) -> String {
    notes.dedup();
    format!("does not record all management events: {}", notes.join("; "))
}

// --- Basic selectors ---------------------------------------------------------------------

fn basic_name(index: usize) -> String {
    format!("basic selector #{}", index + 1)
}

fn basic_management(selectors: &[EventSelector]) -> Verdict {
    let recording: Vec<(usize, &EventSelector)> = selectors.iter().enumerate().filter(|(_, s)| s.include_management_events).collect();
    if recording.is_empty() {
        return Err(fail_message(vec!["no event selector includes management events (includeManagementEvents is false)".into()]));
    }
    let mut notes = vec![];
    let mut covered_by = vec![];
    for write in [false, true] {
        let dir = if write { "write" } else { "read" };
        let covering: Vec<&(usize, &EventSelector)> = recording.iter().filter(|(_, s)| Directions::of(s.read_write_type).has(write)).collect();
        if covering.is_empty() {
            let only: Vec<String> =
                recording.iter().map(|(i, s)| format!("{} records only {:?}", basic_name(*i), s.read_write_type)).collect();
            notes.push(format!("no selector records {dir} management events ({})", only.join(", ")));
            continue;
        }
        // A source is recorded when some selector for this direction does not exclude it.
        let mut excluded: Option<BTreeSet<&str>> = None;
        for (_, s) in &covering {
            let these: BTreeSet<&str> = s.exclude_management_event_sources.iter().map(String::as_str).collect();
            excluded = Some(match excluded {
                None => these,
                Some(before) => before.intersection(&these).copied().collect(),
            });
        }
        let excluded = excluded.unwrap_or_default();
        if excluded.is_empty() {
            covered_by.extend(covering.iter().map(|(i, _)| *i));
            continue;
        }
        for (i, s) in &covering {
            let narrows: Vec<&String> = s.exclude_management_event_sources.iter().filter(|x| excluded.contains(x.as_str())).collect();
            if !narrows.is_empty() {
                notes.push(format!(
                    "{} narrows management events by excludeManagementEventSources {}",
                    basic_name(*i),
                    show_values(&s.exclude_management_event_sources)
                ));
            }
        }
        let sources: Vec<String> = excluded.iter().map(|s| (*s).to_owned()).collect();
        notes.push(format!("no selector records {dir} management events from {}", show_values(&sources)));
    }
    if notes.is_empty() {
        covered_by.sort();
        covered_by.dedup();
        let names: Vec<String> = covered_by.into_iter().map(basic_name).collect();
        Ok(pass_message(&names.join(" and ")))
    } else {
        // Say "read and write" once when both directions miss the same sources.
        let merged = merge_directions(notes);
        Err(fail_message(merged))
    }
}

/// "no selector records read management events from X" and the same for write become one
/// note without the direction.
fn merge_directions(notes: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    for note in notes {
        let as_read = note.replacen("records write management", "records read management", 1);
        if note != as_read && let Some(pos) = out.iter().position(|n| *n == as_read) {
            out[pos] = note.replacen("records write management", "records management", 1);
            continue;
        }
        if !out.contains(&note) {
            out.push(note);
        }
    }
    out
}

/// Whether a basic data resource value names every S3 object: `arn:<partition>:s3`,
/// optionally followed by up to the three colons of `arn:aws:s3:::` (the prefixes AWS
/// documents for "all buckets").
fn all_buckets_prefix(value: &str) -> bool {
    let Some(rest) = value.strip_prefix("arn:") else { return false };
    let Some((partition, service)) = rest.split_once(':') else { return false };
    !partition.is_empty() && matches!(service, "s3" | "s3:" | "s3::" | "s3:::")
}

fn basic_s3(selectors: &[EventSelector], write: bool) -> (Option<String>, Vec<String>) {
    let mut notes = vec![];
    for (i, s) in selectors.iter().enumerate() {
        let s3: Vec<_> = s.data_resources.iter().filter(|d| d.type_ == S3_OBJECT).collect();
        if s3.is_empty() {
            continue;
        }
        if !Directions::of(s.read_write_type).has(write) {
            notes.push(format!("{} records only {:?} S3 object-level events", basic_name(i), s.read_write_type));
            continue;
        }
        if s3.iter().any(|d| d.values.iter().any(|v| all_buckets_prefix(v))) {
            return (Some(basic_name(i)), vec![]);
        }
        let values: Vec<String> = s3.iter().flat_map(|d| d.values.iter().cloned()).collect();
        notes.push(format!("{} records S3 object-level events only for {}", basic_name(i), show_values(&values)));
    }
    (None, notes)
}

// --- Advanced selectors ------------------------------------------------------------------

fn advanced_name(index: usize, selector: &AdvancedEventSelector) -> String {
    match selector.name.as_deref().filter(|n| !n.is_empty()) {
        Some(name) => format!("selector '{}'", clip(name)),
        None => format!("selector #{}", index + 1),
    }
}

/// The operators a field selector uses, each with its values.
fn operators(f: &AdvancedFieldSelector) -> [(&'static str, &Vec<String>); 6] {
    [
        ("Equals", &f.equals),
        ("StartsWith", &f.starts_with),
        ("EndsWith", &f.ends_with),
        ("NotEquals", &f.not_equals),
        ("NotStartsWith", &f.not_starts_with),
        ("NotEndsWith", &f.not_ends_with),
    ]
}

/// `NotStartsWith [Get]; EndsWith [Key]`, or `no operator`.
fn show_operators(f: &AdvancedFieldSelector) -> String {
    let used: Vec<String> = operators(f).iter().filter(|(_, v)| !v.is_empty()).map(|(op, v)| format!("{op} {}", show_values(v))).collect();
    if used.is_empty() { "no operator".into() } else { used.join("; ") }
}

/// `eventName (NotStartsWith [Get]; EndsWith [Key])`, or `eventName (no operator)`.
fn show_field(f: &AdvancedFieldSelector) -> String {
    format!("{} ({})", clip(&f.field), show_operators(f))
}

/// Whether the field selector uses `Equals` and nothing else, and lists `value`.
fn equals_only_with(f: &AdvancedFieldSelector, value: &str) -> bool {
    operators(f).iter().all(|(op, v)| (*op == "Equals") != v.is_empty()) && f.equals.iter().any(|v| v == value)
}

fn mentions(f: &AdvancedFieldSelector, value: &str) -> bool {
    operators(f).iter().any(|(_, v)| v.iter().any(|x| x == value))
}

fn uses_more_than_equals(f: &AdvancedFieldSelector) -> bool {
    operators(f).iter().any(|(op, v)| *op != "Equals" && !v.is_empty())
}

/// How one advanced selector bears on the events of category `category` (and, for data
/// events, resource type `resource_type`).
struct Reading {
    /// The directions it records, if nothing else narrows it.
    directions: Directions,
    /// The field selectors that narrow it, as shown to the user.
    narrowed_by: Vec<String>,
    /// The readOnly restriction, as shown to the user, if it has one.
    read_only: Option<String>,
}

/// Reads one selector for events of `category`: `None` when it does not select that
/// category at all (e.g. a data-event selector, read for management events). A selector
/// that only might (an operator other than Equals on eventCategory, or Management named
/// alongside a condition that takes it back) is read as selecting it, narrowed: named,
/// never trusted.
fn read_selector(s: &AdvancedEventSelector, category: &str, admits_all: impl Fn(&AdvancedFieldSelector) -> bool) -> Option<Reading> {
    let categories: Vec<&AdvancedFieldSelector> = s.field_selectors.iter().filter(|f| f.field == "eventCategory").collect();
    if !categories.iter().any(|f| mentions(f, category) || uses_more_than_equals(f)) {
        return None;
    }
    let mut reading = Reading { directions: Directions::BOTH, narrowed_by: vec![], read_only: None };
    for f in &s.field_selectors {
        match f.field.as_str() {
            "eventCategory" if equals_only_with(f, category) => {}
            "readOnly" if operators(f).iter().all(|(op, v)| (*op == "Equals") != v.is_empty()) => {
                let admitted = Directions { read: f.equals.iter().any(|v| v == "true"), write: f.equals.iter().any(|v| v == "false") };
                if admitted == Directions::default() {
                    reading.narrowed_by.push(format!("{}, which admits neither true nor false", show_field(f)));
                } else if admitted != Directions::BOTH {
                    reading.read_only = Some(format!("{} {}", f.field, show_operators(f)));
                }
                reading.directions = Directions { read: reading.directions.read && admitted.read, write: reading.directions.write && admitted.write };
            }
            _ if f.field != "eventCategory" && f.field != "readOnly" && admits_all(f) => {}
            _ => reading.narrowed_by.push(show_field(f)),
        }
    }
    if reading.directions == Directions::default() && reading.narrowed_by.is_empty() {
        reading.narrowed_by.push("readOnly (its conditions together admit neither true nor false)".into());
    }
    Some(reading)
}

fn advanced_management(selectors: &[AdvancedEventSelector]) -> Verdict {
    let mut covered = Directions::default();
    let mut covering = vec![];
    let mut notes = vec![];
    let mut one_way = vec![];
    let mut candidates = 0;
    for (i, s) in selectors.iter().enumerate() {
        // For management events no other field admits everything.
        let Some(reading) = read_selector(s, MANAGEMENT, |_| false) else { continue };
        candidates += 1;
        let name = advanced_name(i, s);
        if !reading.narrowed_by.is_empty() {
            notes.push(format!("{name} narrows management events by {}", reading.narrowed_by.join(" and by ")));
        } else if reading.directions != Directions::default() {
            covered = covered.union(reading.directions);
            covering.push(name.clone());
            if let Some(read_only) = reading.read_only {
                one_way.push(format!("{name} records only {}management events ({read_only})", reading.directions.adjective()));
            }
        }
    }
    if covered == Directions::BOTH {
        return Ok(pass_message(&covering.join(" and ")));
    }
    if candidates == 0 {
        notes.push("no selector has eventCategory Equals [Management]".into());
    } else {
        notes.extend(one_way);
        let missing = Directions { read: !covered.read, write: !covered.write };
        notes.push(format!("no selector records every {}management event", missing.adjective()));
    }
    Err(fail_message(notes))
}

/// Whether a `resources.ARN` field selector admits every S3 object: `StartsWith` alone,
/// with an all-buckets prefix among its values.
fn arn_admits_all_buckets(f: &AdvancedFieldSelector) -> bool {
    f.field == "resources.ARN"
        && operators(f).iter().all(|(op, v)| (*op == "StartsWith") != v.is_empty())
        && f.starts_with.iter().any(|v| all_buckets_prefix(v))
}

fn advanced_s3(selectors: &[AdvancedEventSelector], write: bool) -> (Option<String>, Vec<String>) {
    let mut notes = vec![];
    for (i, s) in selectors.iter().enumerate() {
        let types: Vec<&AdvancedFieldSelector> = s.field_selectors.iter().filter(|f| f.field == "resources.type").collect();
        if !types.iter().any(|f| mentions(f, S3_OBJECT)) {
            continue;
        }
        let admits = |f: &AdvancedFieldSelector| (f.field == "resources.type" && equals_only_with(f, S3_OBJECT)) || arn_admits_all_buckets(f);
        let Some(reading) = read_selector(s, DATA, admits) else {
            notes.push(format!("{} names {S3_OBJECT} without eventCategory Equals [Data]", advanced_name(i, s)));
            continue;
        };
        let name = advanced_name(i, s);
        if !reading.narrowed_by.is_empty() {
            notes.push(format!("{name} narrows them by {}", reading.narrowed_by.join(" and by ")));
        } else if reading.directions.has(write) {
            return (Some(name), vec![]);
        } else if let Some(read_only) = reading.read_only {
            notes.push(format!("{name} records only {}events ({read_only})", reading.directions.adjective()));
        }
    }
    (None, notes)
}

// --- Showing values ----------------------------------------------------------------------

/// At most this many values, and this many characters of each, in a message.
const SHOWN_VALUES: usize = 5;
const SHOWN_CHARS: usize = 64;

fn clip(value: &str) -> String {
    match value.char_indices().nth(SHOWN_CHARS) {
        Some((at, _)) => format!("{}…", &value[..at]),
        None => value.to_owned(),
    }
}

/// `[a, b, c]`, clipped: a selector can hold many long values, a status message should not.
fn show_values(values: &[String]) -> String {
    let mut shown: Vec<String> = values.iter().take(SHOWN_VALUES).map(|v| if v.is_empty() { "\"\"".into() } else { clip(v) }).collect();
    if values.len() > SHOWN_VALUES {
        shown.push(format!("… (+{} more)", values.len() - SHOWN_VALUES));
    }
    format!("[{}]", shown.join(", "))
}

#[cfg(test)]
mod tests;
