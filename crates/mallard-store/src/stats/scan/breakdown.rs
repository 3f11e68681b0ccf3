//! Breakdowns: the totals per value of one dimension (a visit attribute,
//! the entry or exit page, the page, the event name or a property's value)
//! over the visits and events that meet the filters, and the top rows.
//!
//! Visit-level values count whole visits ([`Tally::whole_visits`]); pages
//! and event names are counted from each day's code index where it tells
//! all, their visits waiting in buffers until they reach their value's
//! counters ([`crate::hll::buffered`]). A property's values under filters
//! on visit attributes only are counted from the packed days' entry events
//! ([`super::entry_days`]).

use mallard_core::DayRange;
use rusqlite::Connection;

use super::super::predicate::Predicate;
use super::super::{Breakdown, SiteInfo, Totals};
use super::entry_days::count_props;
use super::{
    CodeScreen, Counted, DIM_EXACT_LIMIT, EventNeed, Screen, Tally, ValueTable, Visits, add_event,
    add_visit, add_whole_visit, run_screened_over,
};
use crate::error::StoreError;
use crate::hll::buffered::Buffered;
use crate::hll::{DIM_PRECISION, visitor_hash};
use crate::rollups::{kind, prop_value, visit_dim};
use crate::visit_record::{
    Attribute, AttributeSet, CodeEntry, CodeEvents, Columns, EntryNeed, EventRecord, ValueColumn,
    VisitRecord, WholeVisits,
};
use crate::visits::VisitAttributes;

/// The visit attribute a visit-level breakdown kind counts by.
fn attribute_of_kind(row_kind: i64) -> Option<Attribute> {
    Some(match row_kind {
        kind::SOURCE => Attribute::Source,
        kind::REFERRER => Attribute::Referrer,
        kind::UTM_SOURCE => Attribute::UtmSource,
        kind::UTM_MEDIUM => Attribute::UtmMedium,
        kind::UTM_CAMPAIGN => Attribute::UtmCampaign,
        kind::BROWSER => Attribute::Browser,
        kind::OS => Attribute::Os,
        kind::DEVICE => Attribute::Device,
        kind::COUNTRY => Attribute::Country,
        kind::REGION => Attribute::Region,
        kind::UTM_TERM => Attribute::UtmTerm,
        kind::UTM_CONTENT => Attribute::UtmContent,
        kind::CITY => Attribute::City,
        kind::SCREEN => Attribute::Screen,
        _ => return None,
    })
}

/// What a breakdown counts by.
#[derive(Debug, Clone, Copy)]
pub(super) struct ByValue {
    row_kind: i64,
    /// The property key of a [`kind::PROP`] breakdown.
    prop_key: i64,
    with_visitors: bool,
}

impl ByValue {
    /// Whether a day's code index tells all a breakdown by this counts:
    /// one by page or by event name ([`Tally::code_events`]).
    pub(super) fn counts_by_code(self) -> bool {
        matches!(self.row_kind, kind::PAGE | kind::EVENT)
    }

    /// The value a visit-level kind has for `visit`.
    #[inline]
    fn visit_value(self, visit: &VisitRecord) -> Option<i64> {
        visit_dim(&visit.attrs, self.row_kind)
    }

    /// The value an event counts for, if any.
    fn event_value(self, visit: &VisitRecord, event: &EventRecord) -> Option<i64> {
        match self.row_kind {
            kind::PAGE => event.pageview.then_some(event.code),
            kind::EVENT => (!event.pageview).then_some(event.code),
            // Properties count on every event, page views included.
            kind::PROP => visit
                .props_of(event)
                .iter()
                .find(|(k, _)| *k == self.prop_key)
                .map(|&(k, v)| prop_value(k, v)),
            kind::ENTRY_PAGE | kind::EXIT_PAGE => None,
            _ => self.visit_value(visit),
        }
    }

    /// The value all the events of a visit count for, if any, when the
    /// value is the visit's (see [`Self::event_value`]).
    fn whole_visit_value(self, visit: &VisitRecord) -> Option<i64> {
        match self.row_kind {
            kind::PAGE | kind::EVENT | kind::PROP | kind::ENTRY_PAGE | kind::EXIT_PAGE => None,
            _ => self.visit_value(visit),
        }
    }

    /// Whether the value is the visit's (a visit dimension), so that all
    /// its events count for one value.
    #[inline]
    fn visit_level(self) -> bool {
        attribute_of_kind(self.row_kind).is_some()
    }

    /// When the breakdown needs a visit's events one by one.
    pub(super) fn event_need(self) -> EventNeed<'static> {
        match self.row_kind {
            kind::PAGE | kind::EVENT | kind::PROP => EventNeed::Always,
            _ => EventNeed::AtEdges,
        }
    }

    /// Adds to `counted` one visit holding a page or event code of this
    /// breakdown: the visitor of hash `visit.0`, and the code `visit.1`
    /// times ([`Tally::code_events`]).
    #[inline]
    fn add_code_visit(self, counted: &mut Counted, (hash, times): (u32, u32)) {
        self.add_code_times(counted, i64::from(times));
        if self.with_visitors {
            counted.visitors.insert(hash);
        }
    }

    /// Adds to `counted` `times` events of a page or event code of this
    /// breakdown.
    #[inline]
    fn add_code_times(self, counted: &mut Counted, times: i64) {
        if self.row_kind == kind::PAGE {
            counted.totals.pageviews += times;
        }
        counted.totals.events += times;
    }

    /// The value a visit counts for, if any.
    fn visit_row_value(self, visit: &VisitRecord) -> Option<i64> {
        match self.row_kind {
            kind::ENTRY_PAGE => Some(visit.entry_page.unwrap_or(0)),
            kind::EXIT_PAGE => Some(visit.exit_page.unwrap_or(0)),
            kind::PAGE | kind::EVENT | kind::PROP => None,
            _ => self.visit_value(visit),
        }
    }

    /// The columns the values come from.
    fn columns(self) -> Columns {
        Columns {
            attributes: attribute_of_kind(self.row_kind)
                .map_or(AttributeSet::NONE, AttributeSet::of),
            pages: matches!(self.row_kind, kind::ENTRY_PAGE | kind::EXIT_PAGE),
            props: self.row_kind == kind::PROP,
            ..Columns::default()
        }
    }
}

/// The totals per value of one dimension.
pub(super) struct BreakdownTally {
    by: ByValue,
    values: ValueTable,
    /// The page views and events of the visit at hand counted so far, for a
    /// visit-level value: added once per visit ([`Tally::end_visit`]).
    pending: (i64, i64),
    /// The visits of a code from a day's code index not yet added to the
    /// counters of their value, by its position in `values`: each visit's
    /// visitor hash and how often it holds the code ([`Tally::code_events`]).
    waiting: Buffered<(u32, u32)>,
}

impl BreakdownTally {
    /// A tally of the values of `by`, with nothing counted yet.
    pub(super) fn new(by: ByValue) -> Self {
        Self {
            by,
            values: ValueTable::default(),
            pending: (0, 0),
            waiting: Buffered::default(),
        }
    }

    /// The counters per value, every waiting visit added.
    pub(super) fn into_values(mut self) -> ValueTable {
        let (values, by) = (&mut self.values, self.by);
        self.waiting
            .flush(|position, visit| by.add_code_visit(values.at(position), visit));
        self.values
    }

    /// Whether a day's code index tells all this breakdown counts
    /// ([`ByValue::counts_by_code`]).
    pub(super) fn counts_by_code(&self) -> bool {
        self.by.counts_by_code()
    }

    fn value(&mut self, value: i64) -> &mut Counted {
        // Without visitors the counter stays empty and costs nothing.
        self.values
            .value(value, || Counted::new(DIM_PRECISION, DIM_EXACT_LIMIT))
    }
}

impl Tally for BreakdownTally {
    fn event(&mut self, visit: &VisitRecord, event: &EventRecord, hash: u32) {
        if self.by.visit_level() {
            // Every event of the visit has the visit's value.
            self.pending.0 += i64::from(event.pageview);
            self.pending.1 += 1;
        } else if let Some(value) = self.by.event_value(visit, event) {
            let with_visitors = self.by.with_visitors;
            let counted = self.value(value);
            add_event(&mut counted.totals, event);
            if with_visitors {
                counted.visitors.insert(hash);
            }
        }
    }

    fn end_visit(&mut self, visit: &VisitRecord, hash: u32, _: bool) {
        let (pageviews, events) = std::mem::take(&mut self.pending);
        if events == 0 {
            return;
        }
        if let Some(value) = self.by.visit_value(visit) {
            let with_visitors = self.by.with_visitors;
            let counted = self.value(value);
            counted.totals.pageviews += pageviews;
            counted.totals.events += events;
            if with_visitors {
                counted.visitors.insert(hash);
            }
        }
    }

    fn whole_visit(&mut self, visit: &VisitRecord, hash: u32) {
        // Only visit-level values count events here: page, event and
        // property breakdowns read every event ([`ByValue::event_need`]).
        if let Some(value) = self.by.whole_visit_value(visit) {
            let with_visitors = self.by.with_visitors;
            let counted = self.value(value);
            add_whole_visit(&mut counted.totals, visit);
            if with_visitors {
                counted.visitors.insert(hash);
            }
        }
    }

    fn visit(&mut self, visit: &VisitRecord) {
        if let Some(value) = self.by.visit_row_value(visit) {
            let exits = self.by.row_kind == kind::EXIT_PAGE;
            let totals = &mut self.value(value).totals;
            if exits {
                // Exit pages count the visits that left from them, nothing else.
                totals.visits += 1;
            } else {
                add_visit(totals, visit);
            }
        }
    }

    const COUNTS_WHOLE_VISITS: bool = true;

    fn whole_visits(&mut self, visits: &WholeVisits) {
        // What a visit counts for by its stored value, as a record would
        // hold it; page, event and property breakdowns count nothing of a
        // visit taken whole.
        let row_kind = self.by.row_kind;
        let (column, value_of): (Option<&ValueColumn>, &dyn Fn(Option<i64>) -> Option<i64>) =
            match row_kind {
                kind::ENTRY_PAGE | kind::EXIT_PAGE => {
                    (visits.pages(row_kind == kind::EXIT_PAGE), &|page| {
                        Some(page.unwrap_or(0))
                    })
                }
                _ => match attribute_of_kind(row_kind) {
                    Some(attribute) => (visits.attribute(attribute), &move |stored| {
                        let mut attrs = VisitAttributes::default();
                        attribute.set(&mut attrs, stored);
                        visit_dim(&attrs, row_kind)
                    }),
                    None => return,
                },
            };
        // A column not read leaves every visit the default value.
        let (positions, dictionary) = match column {
            Some(column) => (column.positions.as_slice(), column.dictionary.as_slice()),
            None => (&[0u32; 0][..], &[None][..]),
        };
        // Entry and exit pages count the visit alone (as `visit` does),
        // the others its events and visitor too (as `whole_visit` does).
        let counts_events = !matches!(row_kind, kind::ENTRY_PAGE | kind::EXIT_PAGE);
        let exits = row_kind == kind::EXIT_PAGE;
        let with_visitors = self.by.with_visitors && counts_events;
        // Each dictionary position's entry in the table, found once.
        let mut entries: Vec<Option<Option<usize>>> = vec![None; dictionary.len()];
        for (index, &hash) in visits.visitor_hashes.iter().enumerate() {
            let position = positions.get(index).map_or(0, |&p| p as usize);
            let Some(resolved) = entries.get_mut(position) else {
                continue;
            };
            let entry = *resolved.get_or_insert_with(|| {
                value_of(dictionary[position]).map(|value| {
                    self.values
                        .position(value, || Counted::new(DIM_PRECISION, DIM_EXACT_LIMIT))
                })
            });
            let Some(entry) = entry else {
                continue;
            };
            let counted = self.values.at(entry);
            if exits {
                // Exit pages count the visits that left from them.
                counted.totals.visits += 1;
                continue;
            }
            let (pageviews, duration) = (visits.pageviews[index], visits.durations[index]);
            let totals = &mut counted.totals;
            if counts_events {
                totals.pageviews += pageviews;
                totals.events += visits.events[index];
            }
            totals.visits += 1;
            totals.bounces += i64::from(pageviews == 1);
            totals.visit_pageviews += pageviews;
            totals.duration_ms += duration;
            if with_visitors {
                counted.visitors.insert(hash);
            }
        }
    }

    fn code_events(&mut self, events: CodeEvents<'_>) {
        let pageview = events.code & 1 == 0;
        let counts = match self.by.row_kind {
            kind::PAGE => pageview,
            kind::EVENT => !pageview,
            _ => false,
        };
        if !counts {
            return;
        }
        let by = self.by;
        let position = self.values.position((events.code >> 1) as i64, || {
            Counted::new(DIM_PRECISION, DIM_EXACT_LIMIT)
        });
        let values = &mut self.values;
        // Table positions are below 2^32 (the slots hold them as `u32`).
        let position = position as u32;
        for &(visitor_id, times) in events.visits {
            let held = u32::try_from(times).unwrap_or(u32::MAX);
            if u64::from(held) < times {
                // Beyond what a buffered visit holds (never in practice):
                // the rest is added at once.
                let rest = i64::try_from(times - u64::from(held)).unwrap_or(i64::MAX);
                by.add_code_times(values.at(position as usize), rest);
            }
            let visit = (visitor_hash(visitor_id), held);
            self.waiting.push(position, visit, |at, visit| {
                by.add_code_visit(values.at(at), visit);
            });
        }
    }

    // An event with properties, from a day's entry events: a property
    // breakdown counts it by its value of the key (as `event` does).
    fn code_entry(&mut self, entry: CodeEntry<'_>) {
        if self.by.row_kind != kind::PROP {
            return;
        }
        let key = self.by.prop_key;
        let Some(&(_, value)) = entry.props.iter().find(|(k, _)| *k == key) else {
            return;
        };
        let with_visitors = self.by.with_visitors;
        let counted = self.value(prop_value(key, value));
        // A page view's code is even.
        counted.totals.pageviews += i64::from(entry.code & 1 == 0);
        counted.totals.events += 1;
        if with_visitors {
            counted.visitors.insert(visitor_hash(entry.visitor_id));
        }
    }

    fn merge(&mut self, other: Self) {
        // The visits still waiting here keep their positions: merging
        // appends the values this table lacks.
        self.values.merge(other.into_values());
    }
}

/// What one breakdown counts by, how its rows are ordered and how many are
/// kept.
#[derive(Debug, Clone, Copy)]
pub(in crate::stats) struct BreakdownSpec {
    /// The rollup kind of the dimension.
    pub(in crate::stats) row_kind: i64,
    /// The property key of a [`kind::PROP`] breakdown.
    pub(in crate::stats) prop_key: Option<i64>,
    /// The counter that orders the rows.
    pub(in crate::stats) order: Breakdown,
    /// Whether the rows count visitors.
    pub(in crate::stats) with_visitors: bool,
    /// How many rows are kept.
    pub(in crate::stats) limit: usize,
}

impl BreakdownSpec {
    pub(super) fn by(self) -> ByValue {
        ByValue {
            row_kind: self.row_kind,
            prop_key: self.prop_key.unwrap_or(-1),
            with_visitors: self.with_visitors,
        }
    }

    /// The columns the breakdown reads.
    pub(super) fn columns(self) -> Columns {
        self.by().columns().with(Columns {
            visit: true,
            ..Columns::default()
        })
    }

    /// The top rows of a finished tally.
    pub(super) fn finish(self, values: ValueTable) -> Vec<(i64, Totals)> {
        // Rows are ordered by a total: only those kept count their
        // visitors.
        values.into_rows(
            |rows| {
                rows.retain(|(_, totals)| self.order.metric(totals) > 0);
                crate::stats::breakdown::sort_and_truncate(rows, self.order, self.limit);
            },
            self.with_visitors,
        )
    }
}

/// The top values of a breakdown with their totals.
pub(in crate::stats) fn breakdown(
    conn: &Connection,
    site: &SiteInfo,
    range: DayRange,
    predicate: &Predicate,
    spec: BreakdownSpec,
) -> Result<Vec<(i64, Totals)>, StoreError> {
    let by = spec.by();
    // Custom events are what an event breakdown counts, and the events with
    // the key what a property breakdown does: the visits without any are
    // passed over undecoded.
    let custom_events = CodeScreen::custom_events();
    let screen = match spec.row_kind {
        kind::EVENT => Screen {
            codes: Some(&custom_events),
            codes_alone: true,
            ..Screen::default()
        },
        kind::PAGE => Screen {
            codes_alone: true,
            ..Screen::default()
        },
        kind::PROP => Screen {
            entries: Some(EntryNeed::Props { key: spec.prop_key }),
            ..Screen::default()
        },
        _ => Screen::default(),
    };
    let from_visits = |visits: Visits| {
        run_screened_over(
            conn,
            site,
            (range, visits),
            predicate,
            (spec.columns(), by.event_need()),
            screen,
            || BreakdownTally::new(by),
        )
    };
    let tally = if spec.row_kind == kind::PROP {
        count_props(
            conn,
            site,
            (range, predicate),
            BreakdownTally::new(by),
            from_visits,
        )?
    } else {
        from_visits(Visits::OfRange)?
    };
    Ok(spec.finish(tally.map(BreakdownTally::into_values).unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A page breakdown's counts from code indexes, which wait in buffers
    /// (of 2 × 4 visits in tests) before they reach their pages: every
    /// visit counts once, whether its buffer filled, it waited until the
    /// end, or its tally was merged into another; and a visit that holds
    /// a page more often than a buffered visit can say counts in full.
    #[test]
    fn code_counts_reach_their_pages_through_the_buffers() {
        let by = ByValue {
            row_kind: kind::PAGE,
            prop_key: -1,
            with_visitors: true,
        };
        let many = u64::from(u32::MAX) + 7;
        let mut tally = BreakdownTally::new(by);
        let mut other = BreakdownTally::new(by);
        // Page codes are even (`path id << 1`); odd codes are events.
        for page in 0..5u64 {
            let visits: Vec<(i64, u64)> = (0..=page as i64).map(|v| (v, 1)).collect();
            tally.code_events(CodeEvents {
                code: page << 1,
                visits: &visits,
            });
        }
        tally.code_events(CodeEvents {
            code: 1 << 1,
            visits: &[(9, many)],
        });
        tally.code_events(CodeEvents {
            code: (3 << 1) | 1,
            visits: &[(1, 1)],
        });
        other.code_events(CodeEvents {
            code: 4 << 1,
            visits: &[(100, 2), (101, 1)],
        });
        other.code_events(CodeEvents {
            code: 7 << 1,
            visits: &[(0, 3)],
        });
        tally.merge(other);
        let mut pages: Vec<(i64, i64, i64, u64)> = tally
            .into_values()
            .into_entries()
            .into_iter()
            .map(|(page, counted)| {
                let totals = counted.finish();
                (page, totals.pageviews, totals.events, totals.visitors)
            })
            .collect();
        pages.sort_unstable();
        let many = many as i64;
        assert_eq!(
            pages,
            vec![
                (0, 1, 1, 1),
                (1, 2 + many, 2 + many, 3),
                (2, 3, 3, 3),
                (3, 4, 4, 4),
                (4, 8, 8, 7),
                (7, 3, 3, 1),
            ]
        );
    }
}
