//! The steps of a visit's path: its page views and custom events, as the
//! codes packed paths use.

use crate::visit_record::EventRecord;

/// What one event of a visit was: a page view of a path or a custom event of
/// a name, as the code packed paths use ([`crate::day_segment::step_code`]):
/// the dimension id shifted left by one, the low bit set for a custom event.
/// One `u64` compares and hashes as fast as an integer, and packed codes are
/// steps as they are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct StepId(pub(crate) u64);

impl StepId {
    /// A page view of this path id.
    pub(crate) fn page(path_id: i64) -> Self {
        Self(crate::day_segment::step_code(path_id, true))
    }

    /// A custom event of this name id.
    pub(crate) fn event(name_id: i64) -> Self {
        Self(crate::day_segment::step_code(name_id, false))
    }

    /// The step of an event read as a [`EventRecord`].
    #[inline]
    pub(crate) fn of(event: &EventRecord) -> Self {
        if event.pageview {
            Self::page(event.code)
        } else {
            Self::event(event.code)
        }
    }

    /// Whether this is a page view.
    pub(crate) fn is_page(self) -> bool {
        self.0 & 1 == 0
    }

    /// The path id of a page view, the name id of a custom event.
    pub(crate) fn dim_id(self) -> i64 {
        (self.0 >> 1) as i64
    }
}

/// Which events of a visit a query takes as steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StepKinds {
    /// Every event (a fold that wants only some steps skips the others
    /// itself: one compare per step).
    All,
    /// Page views only.
    Pageviews,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_of_events_keep_their_kind_and_id() {
        let page = EventRecord {
            pageview: true,
            code: 12,
            ..EventRecord::default()
        };
        let custom = EventRecord {
            pageview: false,
            code: 12,
            pathname: 3,
            ..EventRecord::default()
        };
        assert_eq!(StepId::of(&page), StepId::page(12));
        assert_eq!(StepId::of(&custom), StepId::event(12));
        assert!(StepId::of(&page).is_page() && !StepId::of(&custom).is_page());
        assert_eq!(StepId::of(&custom).dim_id(), 12);
    }
}
