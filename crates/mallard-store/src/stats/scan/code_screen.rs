//! The event codes a query counts, tested on a visit's packed codes before
//! the visit is decoded ([`VisitGate::may_count_codes`]).
//!
//! A goal counts only events of its custom event or of the pages its
//! pattern matches: a visit without any of them adds nothing to the Goals
//! card, so a day segment passes over it undecoded instead of reading its
//! times, properties and revenue. A day with a code index finds the visits
//! that hold one of the codes there, code by code ([`CodeScreen::counts`]),
//! and passes over the others in runs without searching their codes.
//!
//! [`VisitGate::may_count_codes`]: crate::visit_record::VisitGate::may_count_codes

use crate::stats::id_set::IdSet;
use crate::varint::get_varint;

/// Custom event names and page paths (ids) of which a visit must hold one.
#[derive(Debug, Clone, Default)]
pub(crate) struct CodeScreen {
    /// Custom event name ids.
    names: IdSet,
    /// Page path ids.
    pages: IdSet,
    /// Whether every custom event counts, whatever its name.
    every_custom_event: bool,
}

impl CodeScreen {
    /// A screen for the custom events named `names` and the page views of
    /// `pages`.
    pub(crate) fn new(names: impl IntoIterator<Item = i64>, pages: IdSet) -> Self {
        Self {
            names: names.into_iter().collect(),
            pages,
            every_custom_event: false,
        }
    }

    /// A screen for every custom event (an event breakdown counts nothing
    /// of a visit with page views only).
    pub(crate) fn custom_events() -> Self {
        Self {
            every_custom_event: true,
            ..Self::default()
        }
    }

    /// Whether the step codes `codes` (`path id << 1` for a page view,
    /// `name id << 1 | 1` for a custom event) hold one the screen counts.
    /// Bytes that do not decode hold none: the day segment finds them
    /// damaged as it passes over them.
    #[inline]
    pub(crate) fn holds_any(&self, codes: &[u8]) -> bool {
        let mut at = 0;
        while let Some(code) = get_varint(codes, &mut at) {
            if self.counts(code) {
                return true;
            }
        }
        false
    }

    /// Whether the event of step code `code` is one the screen counts.
    #[inline]
    pub(crate) fn counts(&self, code: u64) -> bool {
        let id = (code >> 1) as i64;
        if code & 1 == 1 {
            self.every_custom_event || self.names.contains(id)
        } else {
            self.pages.contains(id)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::day_segment::step_code;
    use crate::varint::put_varint;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn a_visit_passes_exactly_when_one_of_its_events_is_screened_for(
            events in prop::collection::vec((any::<bool>(), 0i64..300), 0..12),
            names in prop::collection::vec(0i64..300, 0..4),
            pages in prop::collection::vec(0i64..300, 0..4),
        ) {
            let mut codes = Vec::new();
            for &(pageview, id) in &events {
                put_varint(&mut codes, step_code(id, pageview));
            }
            let screen = CodeScreen::new(names.clone(), pages.iter().copied().collect());
            let expected = events.iter().any(|&(pageview, id)| {
                if pageview { pages.contains(&id) } else { names.contains(&id) }
            });
            prop_assert_eq!(screen.holds_any(&codes), expected);
            let any_custom = events.iter().any(|&(pageview, _)| !pageview);
            prop_assert_eq!(CodeScreen::custom_events().holds_any(&codes), any_custom);
        }
    }
}
