//! What the policy's own writes took away from a trail. A Git commit or anyone with
//! update rights on a policy can turn logging off or send the logs elsewhere; within the
//! operator's floor the controller carries it out, but never as routine: each such write
//! is a Warning and a metric, named by what it took away.

use crate::observed::ObservedTrail;
use crate::plan::{Action, Plan};
use crate::posture::selectors::management_events;
use crate::report::Write;

/// One thing a write took away.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Weakening {
    /// The metric label: `logging_stopped`, `multi_region_off`, `global_events_off`,
    /// `log_file_validation_off`, `management_events_narrowed`, `bucket_changed`,
    /// `key_changed` or `key_removed`.
    pub change: &'static str,
    pub note: String,
}

/// The weakenings of the writes in `applied` (the plan's actions that succeeded) to the
/// trail as it was `before` them.
pub fn weakened(before: &ObservedTrail, plan: &Plan, applied: &[Write]) -> Vec<Weakening> {
    let done = |name: &str| applied.iter().any(|w| w.operation == name);
    let mut out = vec![];
    let mut push = |change, note: String| out.push(Weakening { change, note });
    for action in &plan.actions {
        if !done(action.name()) {
            continue;
        }
        match action {
            Action::StopLogging => push("logging_stopped", "logging stopped because the policy declares logging: false".into()),
            Action::UpdateTrail(to) => {
                let from = &before.description.settings;
                if from.multi_region && !to.multi_region {
                    push("multi_region_off", "the trail now records one region only (multiRegion: false)".into());
                }
                if from.include_global_service_events && !to.include_global_service_events {
                    push("global_events_off", "global service events (IAM, STS) no longer recorded".into());
                }
                if from.log_file_validation && !to.log_file_validation {
                    push("log_file_validation_off", "log-file validation turned off: no digest files prove the logs intact".into());
                }
                if (&from.bucket, &from.key_prefix) != (&to.bucket, &to.key_prefix) {
                    let show = |b: &str, p: &Option<String>| p.as_ref().map_or_else(|| b.to_owned(), |p| format!("{b}/{p}"));
                    push(
                        "bucket_changed",
                        format!("logs now delivered to {} instead of {}", show(&to.bucket, &to.key_prefix), show(&from.bucket, &from.key_prefix)),
                    );
                }
                match (&from.kms_key, &to.kms_key) {
                    (Some(old), None) => push("key_removed", format!("log files no longer encrypted with {old}")),
                    (Some(old), Some(new)) if old != new => push("key_changed", format!("log files now encrypted with {new} instead of {old}")),
                    _ => {}
                }
            }
            Action::PutEventSelectors(to) if management_events(&before.selectors).is_ok() => {
                if let Err(why) = management_events(to) {
                    push("management_events_narrowed", format!("the trail no longer records every management event: {why}"));
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observed::Observed;
    use crate::plan::plan;
    use crate::report::Stage;
    use crate::testing::{desired, in_sync, write_only_management};

    fn all(p: &Plan) -> Vec<Write> {
        p.actions.iter().map(|a| Write { stage: a.stage(), operation: a.name(), detail: None }).collect()
    }

    fn changes(w: &[Weakening]) -> Vec<&str> {
        w.iter().map(|w| w.change).collect()
    }

    #[test]
    fn each_setting_the_policy_takes_away_is_named() {
        let before = in_sync(&desired());
        let mut d = desired();
        d.logging = false;
        d.settings.multi_region = false;
        d.settings.include_global_service_events = false;
        d.settings.log_file_validation = false;
        d.settings.bucket = "elsewhere".into();
        d.settings.kms_key = None;
        d.selectors = write_only_management();
        let p = plan(&d, &Observed::Present(Box::new(before.clone())));
        let w = weakened(&before, &p, &all(&p));
        assert_eq!(
            changes(&w),
            [
                "multi_region_off",
                "global_events_off",
                "log_file_validation_off",
                "bucket_changed",
                "key_removed",
                "management_events_narrowed",
                "logging_stopped"
            ]
        );
        assert!(w[3].note.contains("elsewhere/audit instead of logs/audit"), "{}", w[3].note);
    }

    #[test]
    fn only_writes_that_succeeded_count_and_strengthening_is_not_weakening() {
        let mut weak = desired();
        weak.logging = false;
        weak.settings.log_file_validation = false;
        let before = in_sync(&weak);
        // The policy now asks for more: nothing is taken away.
        let p = plan(&desired(), &Observed::Present(Box::new(before.clone())));
        assert!(weakened(&before, &p, &all(&p)).is_empty());
        // A weakening write that AWS refused took nothing away.
        let strong = in_sync(&desired());
        let p = plan(&weak, &Observed::Present(Box::new(strong.clone())));
        let refused: Vec<Write> = all(&p).into_iter().filter(|w| w.stage != Stage::Logging).collect();
        assert_eq!(changes(&weakened(&strong, &p, &refused)), ["log_file_validation_off"]);
    }
}
