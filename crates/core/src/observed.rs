//! What AWS shows of a policy's trail, and how each successful write changes it, so the
//! report speaks of the trail as the writes that succeeded left it.

use crate::plan::Action;
use crate::trail::{Insights, Selectors, Tags, TrailDescription, TrailSettings, TrailStatus};

#[derive(Clone, Debug, PartialEq)]
pub enum Observed {
    /// No trail of that name is visible in the home region.
    Absent,
    /// A multi-region trail of that name exists, but its home is another region: this
    /// region only holds its shadow, which cannot be changed from here.
    Shadow { arn: String, home_region: String },
    Present(Box<ObservedTrail>),
}

impl Observed {
    pub fn trail(&self) -> Option<&ObservedTrail> {
        match self {
            Observed::Present(t) => Some(t),
            _ => None,
        }
    }

    pub fn arn(&self) -> Option<&str> {
        match self {
            Observed::Present(t) => Some(t.arn()),
            Observed::Shadow { arn, .. } => Some(arn),
            Observed::Absent => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ObservedTrail {
    pub description: TrailDescription,
    pub status: TrailStatus,
    pub selectors: Selectors,
    pub insights: Insights,
    pub tags: Tags,
}

impl ObservedTrail {
    pub fn arn(&self) -> &str {
        &self.description.arn
    }

    /// A trail as CreateTrail leaves it: these settings and tags, AWS's default
    /// selectors, no Insights, logging off.
    pub fn created(name: &str, arn: String, home_region: &str, settings: &TrailSettings, tags: &Tags) -> Self {
        ObservedTrail {
            description: TrailDescription {
                name: name.to_owned(),
                arn,
                home_region: home_region.to_owned(),
                settings: settings.clone(),
                has_custom_event_selectors: false,
                has_insight_selectors: false,
            },
            status: TrailStatus::default(),
            selectors: Selectors::aws_default(),
            insights: Insights::new(),
            tags: tags.clone(),
        }
    }

    /// The trail once `action` has succeeded on it. CreateTrail is not an edit of an
    /// existing trail: use [`ObservedTrail::created`] with the ARN AWS returned.
    pub fn after(mut self, action: &Action) -> Self {
        match action {
            Action::CreateTrail { .. } => {}
            Action::AdoptTrail { tags } | Action::AddTags(tags) => self.tags.extend(tags.clone()),
            Action::UpdateTrail(settings) => self.description.settings = settings.clone(),
            Action::PutEventSelectors(selectors) => {
                self.description.has_custom_event_selectors = !selectors.is_aws_default();
                self.selectors = selectors.clone();
            }
            Action::StartLogging => self.status.is_logging = true,
            Action::StopLogging => self.status.is_logging = false,
            Action::PutInsightSelectors(insights) => {
                self.description.has_insight_selectors = !insights.is_empty();
                self.insights = insights.clone();
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{desired, in_sync};

    #[test]
    fn each_successful_write_shows_in_the_trail() {
        let d = desired();
        let mut trail = in_sync(&d);
        trail.status.is_logging = false;
        trail.description.settings.log_file_validation = false;
        let trail = trail.after(&Action::StartLogging).after(&Action::UpdateTrail(d.settings.clone()));
        assert_eq!(trail, in_sync(&d));
    }

    #[test]
    fn a_created_trail_does_not_log_until_started() {
        let d = desired();
        let trail = ObservedTrail::created("audit", "arn".into(), "us-east-1", &d.settings, &d.all_tags());
        assert!(!trail.status.is_logging);
        assert!(trail.after(&Action::StartLogging).status.is_logging);
    }
}
