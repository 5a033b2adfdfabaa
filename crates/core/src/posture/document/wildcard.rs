//! IAM-style wildcard matching (`*` any run of characters, `?` exactly one), in time
//! bounded by the product of the lengths, without recursion or allocation.
//!
//! The patterns come from bucket and key policies, which whoever may edit them can craft:
//! a backtracking matcher that tries every split at every `*` is exponential in the
//! number of `*?` pairs, so one policy could hold a worker for minutes. This is the
//! classic two-pointer matcher instead: on a mismatch it only ever returns to the LAST
//! `*` seen (an earlier `*` never needs revisiting: whatever it could absorb, the later
//! one can absorb too), one character further each time.
//!
//! Step bound (asserted by the tests through [`glob_steps`]): with a pattern of `n` bytes
//! and a text of `m` bytes, at most `(n + 1) · (m + 1)` steps. The literal run after the
//! k-th `*` (length `L_k`) is retried at most once per text position, at most `L_k + 1`
//! steps each (its characters, then the mismatch, the next `*` or the end); summed over
//! the runs that is at most `(m + 1) · n`, plus the run before the first `*`.

/// The longest pattern or text, in bytes, that is matched at all. IAM caps an ARN at 2048
/// characters and S3 an object key at 1024 bytes, so no real resource, action or
/// condition value a check compares is longer; a longer pattern or text is
/// [`Match::TooLong`], which every caller must read on its safe side.
pub const MAX_MATCH_BYTES: usize = 2048;

/// The outcome of a wildcard match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Match {
    Yes,
    No,
    /// The pattern or the text is longer than [`MAX_MATCH_BYTES`]: not evaluated. A caller
    /// reads it as a match or as no match, whichever makes its verdict the conservative one.
    TooLong,
}

impl Match {
    /// Read as "may match": the safe side where a match makes the verdict worse (a Deny
    /// that may apply, a public grant that may exist).
    pub fn may(self) -> bool {
        self != Match::No
    }

    /// Read as "surely matches": the safe side where a match makes the verdict better (a
    /// grant that must exist for a check to pass).
    pub fn sure(self) -> bool {
        self == Match::Yes
    }
}

/// Case-sensitive wildcard match (resources, ARNs, condition values).
pub fn wildcard(pattern: &str, text: &str) -> Match {
    capped(pattern, text, false)
}

/// ASCII-case-insensitive wildcard match (IAM action names).
pub fn wildcard_ignore_case(pattern: &str, text: &str) -> Match {
    capped(pattern, text, true)
}

/// IAM-style wildcard match: `*` any run, `?` one character; case-sensitive. A pattern or
/// text longer than [`MAX_MATCH_BYTES`] does not match: where "no match" is not the safe
/// reading, call [`wildcard`] and read [`Match::TooLong`] yourself.
pub fn glob(pattern: &str, text: &str) -> bool {
    wildcard(pattern, text).sure()
}

fn capped(pattern: &str, text: &str, fold_case: bool) -> Match {
    if pattern.len() > MAX_MATCH_BYTES || text.len() > MAX_MATCH_BYTES {
        return Match::TooLong;
    }
    if run(pattern.as_bytes(), text.as_bytes(), fold_case, &mut 0) { Match::Yes } else { Match::No }
}

/// The matcher without the length cap, and the steps it took: for the complexity tests.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn glob_steps(pattern: &str, text: &str) -> (bool, u64) {
    let mut steps = 0;
    let matched = run(pattern.as_bytes(), text.as_bytes(), false, &mut steps);
    (matched, steps)
}

/// The length of the UTF-8 character whose first byte is `lead`.
fn char_len(lead: u8) -> usize {
    match lead {
        0x00..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

/// Both inputs are whole `str`s, so the text index only ever rests on a character
/// boundary: `?` and each retry of a `*` move it by one whole character, and a literal
/// byte of the pattern, which starts on a boundary too, can only match the same bytes.
fn run(p: &[u8], t: &[u8], fold_case: bool, steps: &mut u64) -> bool {
    let same = |a: u8, b: u8| if fold_case { a.eq_ignore_ascii_case(&b) } else { a == b };
    let (mut pi, mut ti) = (0, 0);
    // The last `*` seen: where the pattern resumes after it, and where in the text the
    // run it absorbs currently ends.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        *steps += 1;
        match p.get(pi) {
            Some(b'*') => {
                pi += 1;
                star = Some((pi, ti));
            }
            Some(b'?') => {
                pi += 1;
                ti += char_len(t[ti]).min(t.len() - ti);
            }
            Some(&c) if same(c, t[ti]) => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((resume, absorbed)) => {
                    let absorbed = absorbed + char_len(t[absorbed]).min(t.len() - absorbed);
                    star = Some((resume, absorbed));
                    pi = resume;
                    ti = absorbed;
                }
                None => return false,
            },
        }
    }
    while p.get(pi) == Some(&b'*') {
        *steps += 1;
        pi += 1;
    }
    pi == p.len()
}
