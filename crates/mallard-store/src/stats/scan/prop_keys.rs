//! The custom property keys of a range, each with the events that carry it
//! and their visitors (`GET /api/stats/props`), counted from the visits the
//! filters select: an event (a page view or a custom event) adds one event
//! to each of its keys, as the values of one key are counted by a property
//! breakdown. Under filters on visit attributes only, a packed day with
//! entry events is read from them and its properties part
//! ([`super::entry_days`]).

use mallard_core::DayRange;
use rusqlite::Connection;

use super::entry_days::count_props;
use super::{
    Counted, DIM_EXACT_LIMIT, EventNeed, Screen, Tally, Visits, merge_counts, run_screened_over,
};
use crate::error::StoreError;
use crate::hll::{DIM_PRECISION, visitor_hash};
use crate::stats::predicate::Predicate;
use crate::stats::rollup::IdMap;
use crate::stats::{Breakdown, SiteInfo, Totals};
use crate::visit_record::{CodeEntry, Columns, EntryNeed, EventRecord, VisitRecord};

/// The totals per property key id.
struct PropKeysTally {
    keys: IdMap<Counted>,
}

impl PropKeysTally {
    /// Counts an event with the property pairs `pairs` of the visitor of
    /// hash `hash`.
    fn add(&mut self, pairs: &[(i64, i64)], hash: u32) {
        for &(key, _) in pairs {
            let counted = self
                .keys
                .entry(key)
                .or_insert_with(|| Counted::new(DIM_PRECISION, DIM_EXACT_LIMIT));
            counted.totals.events += 1;
            counted.visitors.insert(hash);
        }
    }
}

impl Tally for PropKeysTally {
    fn event(&mut self, visit: &VisitRecord, event: &EventRecord, hash: u32) {
        // Properties count on every event that carries them, page views
        // included, as a property breakdown counts them.
        self.add(visit.props_of(event), hash);
    }

    // An event with properties, from a day's entry events.
    fn code_entry(&mut self, entry: CodeEntry<'_>) {
        self.add(entry.props, visitor_hash(entry.visitor_id));
    }

    // Every visit is read with its events ([`EventNeed::Always`]).
    fn whole_visit(&mut self, _: &VisitRecord, _: u32) {}

    fn visit(&mut self, _: &VisitRecord) {}

    fn merge(&mut self, other: Self) {
        merge_counts(&mut self.keys, other.keys);
    }
}

/// The `limit` keys with the most events in `range` under `predicate`, by
/// key id, with their events and visitors (ties by id).
pub(in crate::stats) fn prop_keys(
    conn: &Connection,
    site: &SiteInfo,
    range: DayRange,
    predicate: &Predicate,
    limit: usize,
) -> Result<Vec<(i64, Totals)>, StoreError> {
    let new = || PropKeysTally {
        keys: IdMap::default(),
    };
    let from_visits = |visits: Visits| {
        let columns = Columns {
            props: true,
            ..Columns::default()
        };
        run_screened_over(
            conn,
            site,
            (range, visits),
            predicate,
            (columns, EventNeed::Always),
            // Only the events with properties count.
            Screen {
                entries: Some(EntryNeed::Props { key: None }),
                ..Screen::default()
            },
            new,
        )
    };
    let tally = count_props(conn, site, (range, predicate), new(), from_visits)?;
    let mut rows: Vec<(i64, Totals)> = tally
        .map(|tally| {
            tally
                .keys
                .into_iter()
                .map(|(key, counted)| (key, counted.finish()))
                .collect()
        })
        .unwrap_or_default();
    crate::stats::breakdown::sort_and_truncate(&mut rows, Breakdown::ByEvents, limit);
    Ok(rows)
}
