//! docs/eks.md's troubleshooting table names every reason a condition or Event can carry:
//! a reason added to [`Reason`] or [`Failure`] without a row there fails this test.

use strum::IntoEnumIterator;

use super::{Failure, Reason};

const GUIDE: &str = include_str!("../../../../docs/eks.md");

/// The first column of the table's rows, as written: `| `Name` |`.
fn rows() -> Vec<&'static str> {
    let table = GUIDE.split("## Troubleshooting").nth(1).expect("docs/eks.md has a Troubleshooting section");
    table.lines().filter_map(|line| line.strip_prefix("| `")?.split_once("` |").map(|(name, _)| name)).collect()
}

#[test]
fn every_reason_has_a_row_in_the_eks_guide() {
    let rows = rows();
    let names: Vec<&'static str> = Reason::iter().map(Into::into).chain(Failure::iter().map(Failure::name)).collect();
    let missing: Vec<&str> = names.iter().copied().filter(|n| !rows.contains(n)).collect();
    assert!(missing.is_empty(), "docs/eks.md's troubleshooting table lacks a row for: {missing:?}");
    let unknown: Vec<&str> = rows.iter().copied().filter(|r| !names.contains(r)).collect();
    assert!(unknown.is_empty(), "docs/eks.md's troubleshooting table has rows for no reason: {unknown:?}");
}
