//! A contested trail: someone stops logging again soon after trailwarden restarted it.
//! Each heal alone looks routine; the pattern is the incident. The restarts trailwarden
//! made are remembered (in the policy's status) for [`CONTEST_WINDOW`]; a restart while
//! an earlier one is still in the window makes the trail contested until the window
//! holds one restart or none.

use jiff::{SignedDuration, Timestamp};

use super::{ConditionType, Notice, Reason, Report, Severity, condition};

/// How long a restart of logging is remembered.
pub const CONTEST_WINDOW: SignedDuration = SignedDuration::from_secs(600);

/// The restarts remembered at most: enough to tell a contest, bounded however long it lasts.
const REMEMBERED: usize = 10;

/// The restarts of logging within the window, and whether they make a contest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contest {
    pub restarts: Vec<Timestamp>,
}

impl Contest {
    /// `before` (the remembered restarts) as of `now`, with this pass's if it restarted.
    pub fn judge(before: &[Timestamp], restarted: bool, now: Timestamp) -> Contest {
        let mut restarts: Vec<Timestamp> = before.iter().copied().filter(|t| now.duration_since(*t) < CONTEST_WINDOW).collect();
        if restarted {
            restarts.push(now);
        }
        let excess = restarts.len().saturating_sub(REMEMBERED);
        restarts.drain(..excess);
        Contest { restarts }
    }

    pub fn contested(&self) -> bool {
        self.restarts.len() >= 2
    }
}

impl Report {
    /// Judges the contest from the restarts remembered `before` this pass: the Contested
    /// condition, and a Warning when this pass restarted logging on a contested trail.
    pub fn contest(&mut self, before: &[Timestamp], now: Timestamp) {
        // A trail's first start is no restart; a recreated trail's is.
        let created: &str = Reason::TrailCreated.into();
        let restarted = self.applied.iter().any(|w| w.operation == "StartLogging") && !self.notices.iter().any(|n| n.reason == created);
        let contest = Contest::judge(before, restarted, now);
        let minutes = CONTEST_WINDOW.as_secs() / 60;
        let state = if contest.contested() {
            let times = contest.restarts.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(", ");
            let message = format!(
                "logging was stopped again after trailwarden restarted it: {} restarts in the last {minutes} minutes ({times}). \
                 Someone with cloudtrail:StopLogging is fighting the controller; only a service control policy stops the call",
                contest.restarts.len()
            );
            if restarted {
                self.notices.push(Notice { severity: Severity::Warning, reason: Reason::LoggingContested.into(), action: "StartLogging", note: message.clone() });
            }
            condition(ConditionType::Contested, Some(true), Reason::LoggingContested, message)
        } else {
            condition(ConditionType::Contested, Some(false), Reason::Uncontested, format!("logging not stopped again within {minutes} minutes of a restart"))
        };
        self.conditions.push(state);
        self.restarts = Some(contest.restarts);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_790_000_000 + seconds).unwrap()
    }

    #[test]
    fn one_restart_is_a_heal_a_second_within_the_window_a_contest() {
        let first = Contest::judge(&[], true, at(0));
        assert!(!first.contested());
        let second = Contest::judge(&first.restarts, true, at(30));
        assert!(second.contested());
        // Quiet for the window: the contest is over.
        let later = Contest::judge(&second.restarts, false, at(30) + CONTEST_WINDOW);
        assert_eq!(later.restarts, []);
        assert!(!later.contested());
        // A restart a window after the last one is a heal again.
        assert!(!Contest::judge(&first.restarts, true, at(0) + CONTEST_WINDOW).contested());
    }

    #[test]
    fn a_trails_first_start_is_no_restart_and_a_recreated_trails_is() {
        use crate::report::{ConditionType, Stage, Write};
        let report = |reason: Reason| {
            let mut r = Report::below_floor("x".into());
            r.applied = vec![Write { stage: Stage::Trail, operation: "CreateTrail", detail: None }, Write { stage: Stage::Logging, operation: "StartLogging", detail: None }];
            r.notices = vec![Notice { severity: Severity::Normal, reason: reason.into(), action: "CreateTrail", note: String::new() }];
            r
        };
        let mut created = report(Reason::TrailCreated);
        created.contest(&[], at(0));
        assert_eq!(created.restarts, Some(vec![]));
        let mut recreated = report(Reason::TrailRecreated);
        recreated.contest(&[at(-30)], at(0));
        assert_eq!(recreated.restarts, Some(vec![at(-30), at(0)]));
        assert_eq!(recreated.condition(ConditionType::Contested).and_then(|c| c.status), Some(true));
    }

    #[test]
    fn the_remembered_restarts_are_bounded() {
        let mut restarts = vec![];
        for i in 0..100 {
            restarts = Contest::judge(&restarts, true, at(i)).restarts;
        }
        assert_eq!(restarts.len(), REMEMBERED);
        assert_eq!(restarts.last(), Some(&at(99)));
    }
}
