//! Export: the raw events of the period with their visit's attributes and
//! their custom properties, oldest first, a page at a time.
//!
//! The events are read through the period's one source
//! ([`super::super::period_source`]), whatever holds their days: the visits
//! are read by the UTC days they start on, a span of days at a time from the
//! earliest that still has an event in the period, and their events that
//! meet the filters wait in a small buffer until no visit read later can
//! hold an earlier one (a visit starting on a later day has no event before
//! that day). So the events come out in time order.
//!
//! A span starts at one day and doubles, up to [`MAX_SPAN_DAYS`], while the
//! spans read keep fewer than [`SPAN_VISITS`] visits; it halves when one
//! keeps more than four times as many. An export whose filters most visits
//! meet reads a day at a time, with memory bounded by the visits of a day
//! or two; one whose filters few visits meet reads a year in a few dozen
//! folds instead of 365 (each fold is a job for the thread pool, and
//! waiting for its threads took a quarter of such an export's time).
//!
//! Only what an exported event says and what the filters compare is read.
//! Under a filter on a property every exported event carries properties, so
//! a whole packed day with entry events is read from them
//! ([`crate::day_segment::visits_with_props`]) instead of decoded: a year
//! with few matching visits reads a third of its days' bytes.

use std::ops::ControlFlow;
use std::rc::Rc;

use rusqlite::{Connection, OptionalExtension, params};

use super::super::period_source::{fold_starting, reach_back};
use super::super::predicate::{MatchingVisits, Predicate};
use super::super::{SiteInfo, StatsQuery};
use super::source::Bounds;
use super::{EventLabeller, ExportEvent};
use crate::day_segment::{self, Damaged, VISITS_WITH_PROPS_PARTS, part};
use crate::error::StoreError;
use crate::visit_days::DAY_MS;
use crate::visit_record::{Columns, VisitRecord};

/// The events of the period that meet every filter, ordered by time (ties by
/// visit id, then by their order in the visit), `offset` events skipped, at
/// most `limit` returned. A site that is not stored has no events.
pub(crate) fn events(
    conn: &Connection,
    site: &SiteInfo,
    query: &StatsQuery,
    limit: usize,
    offset: usize,
) -> Result<Vec<ExportEvent>, StoreError> {
    let mut out = Vec::new();
    each(conn, site, query, limit, offset, &mut |event| {
        out.push(event);
        ControlFlow::Continue(())
    })?;
    Ok(out)
}

/// The most UTC days read in one fold.
const MAX_SPAN_DAYS: i64 = 32;

/// The visits a fold aims to keep (fewer in tests, so that spans both grow
/// and shrink).
const SPAN_VISITS: usize = if cfg!(test) { 8 } else { 2_000 };

/// The days of the next fold after one of `days` days that covered
/// `covered_ms` (less than `days` days for the first, which starts within a
/// day) and kept `visits` visits: double while such a span keeps fewer
/// than [`SPAN_VISITS`] at that rate, half when it keeps more than four
/// times as many.
fn next_span(days: i64, covered_ms: i64, visits: usize) -> i64 {
    let at_rate = visits as f64 * (days * DAY_MS) as f64 / covered_ms.max(1) as f64;
    if at_rate < SPAN_VISITS as f64 {
        (days * 2).min(MAX_SPAN_DAYS)
    } else if at_rate > (4 * SPAN_VISITS) as f64 {
        (days / 2).max(1)
    } else {
        days
    }
}

/// One event waiting to be handed over: its time, its visit's id, its place
/// in the visit, and the visit (shared by its events).
type Waiting = (i64, i64, usize, Rc<VisitRecord>);

/// Hands the events of [`events`] over one by one, skipping `offset` and
/// stopping after `limit` or when the receiver says so.
struct Handover<'a> {
    labels: EventLabeller<'a>,
    offset: usize,
    limit: usize,
    handed: usize,
    receiver: &'a mut dyn FnMut(ExportEvent) -> ControlFlow<()>,
}

impl Handover<'_> {
    /// Hands over `event`; `Break` once nothing more is wanted.
    fn hand(&mut self, (ts, _, at, visit): &Waiting) -> Result<ControlFlow<()>, StoreError> {
        if self.offset > 0 {
            self.offset -= 1;
            return Ok(ControlFlow::Continue(()));
        }
        let event = visit.events[*at];
        let labels = self.labels.event(visit, &event)?;
        let exported = ExportEvent {
            ts: *ts,
            visit_id: visit.id,
            name: labels.name,
            hostname: labels.hostname,
            pathname: labels.pathname,
            revenue_micros: event.revenue_micros,
            currency: labels.currency,
            props: labels.props,
            visit: self.labels.visit(&visit.attrs)?,
        };
        self.handed += 1;
        if (self.receiver)(exported).is_break() || self.handed == self.limit {
            return Ok(ControlFlow::Break(()));
        }
        Ok(ControlFlow::Continue(()))
    }
}

/// Like [`events`], handing each event to `visit` as it is read instead of
/// collecting them, so that memory does not grow with the number of events;
/// `visit` may stop early. Returns how many events were handed over.
pub(crate) fn each(
    conn: &Connection,
    site: &SiteInfo,
    query: &StatsQuery,
    limit: usize,
    offset: usize,
    visit: &mut dyn FnMut(ExportEvent) -> ControlFlow<()>,
) -> Result<usize, StoreError> {
    let domain: Option<String> = conn
        .prepare_cached("SELECT domain FROM sites WHERE id = ?1")?
        .query_row(params![site.id], |r| r.get(0))
        .optional()?;
    let Some(domain) = domain else {
        return Ok(0);
    };
    let bounds = Bounds::of(site, query);
    let predicate = Predicate::compile(conn, &query.filters)?;
    if predicate.matches_nothing() || limit == 0 || bounds.from >= bounds.to {
        return Ok(0);
    }
    let mut handover = Handover {
        labels: EventLabeller::new(conn, domain)?,
        offset,
        limit,
        handed: 0,
        receiver: visit,
    };
    // An event is handed over only when it meets the event-level
    // conditions, so a visit that cannot hold one is passed over.
    let gate = MatchingVisits {
        predicate: &predicate,
        from_ms: i64::MIN,
    };
    // What an exported event says (its time, name, page, properties,
    // revenue and provenance, its visit's id and attributes), and what the
    // filters compare: not the visitor ids, nor the visit part (end, counts,
    // entry and exit pages) unless a filter compares a page of it, nor a
    // day's code index and entry events unless the filters look a page, an
    // event name or a property up in them. The two parts are two fifths of
    // a day's bytes, the index a ninth, all read for nothing by an export
    // with few matching visits.
    let needed = predicate.columns();
    let columns = Columns {
        visitors: false,
        visit: false,
        pages: false,
        code_visits: false,
        entry_events: false,
        ..Columns::ALL
    }
    .with(needed);
    // Under a filter on a property every event handed over carries
    // properties, so the packed days are read from their entry events
    // (unless a filter compares the entry or exit page, which they lack).
    let from_entries = !predicate.prop_needs().is_empty() && !needed.visit;
    let mut waiting: Vec<Waiting> = Vec::new();
    let mut start = reach_back(conn, site.id, bounds.from)?;
    let mut span_days = 1;
    while start < bounds.to {
        crate::cancel::check(conn)?;
        // The visits that start on the rest of this UTC day and the
        // `span_days - 1` days after it.
        let end = ((start.div_euclid(DAY_MS) + span_days) * DAY_MS).min(bounds.to);
        let visits = span_visits(conn, site.id, (start, end), columns, &gate, from_entries)?;
        span_days = next_span(span_days, end - start, visits.len());
        for record in visits {
            let record = Rc::new(record);
            for (at, event) in record.events.iter().enumerate() {
                if (bounds.from..bounds.to).contains(&event.ts)
                    && predicate.event_matches(&record, event)
                {
                    waiting.push((event.ts, record.id, at, Rc::clone(&record)));
                }
            }
        }
        // The visits read later start at `end` or after: every event before
        // it is here.
        waiting.sort_unstable_by_key(|w| (w.0, w.1, w.2));
        let ready = waiting.partition_point(|w| w.0 < end);
        for waiting_event in waiting.drain(..ready) {
            if handover.hand(&waiting_event)?.is_break() {
                return Ok(handover.handed);
            }
        }
        start = end;
    }
    Ok(handover.handed)
}

/// The visits that start in `[start, end)` and that `gate` takes, with
/// their events (`columns`); `from_entries`: with only their events that
/// carry properties, a whole packed day with entry events read from them
/// ([`crate::day_segment::visits_with_props`]: the properties, revenue,
/// provenance, attributes, visit ids and steps, not the start and event
/// times nor the visitors and visit part, a third of a day's bytes), the
/// other days decoded.
fn span_visits(
    conn: &Connection,
    site_id: i64,
    (start, end): (i64, i64),
    columns: Columns,
    gate: &MatchingVisits<'_>,
    from_entries: bool,
) -> Result<Vec<VisitRecord>, StoreError> {
    let decoded = |from: i64, to: i64| -> Result<Vec<VisitRecord>, StoreError> {
        let folds = fold_starting(
            conn,
            site_id,
            from,
            to,
            columns,
            gate,
            Vec::new,
            |visits: &mut Vec<VisitRecord>, record| visits.push(record.clone()),
            crate::segment_fold::no_code_events,
        )?;
        Ok(folds.into_iter().flatten().collect())
    };
    if !from_entries {
        return decoded(start, end);
    }
    let mut visits = Vec::new();
    let mut record = VisitRecord::default();
    let mut from = start;
    while from < end {
        let day = from.div_euclid(DAY_MS);
        let to = ((day + 1) * DAY_MS).min(end);
        let whole = from == day * DAY_MS && to == (day + 1) * DAY_MS;
        let parts = if whole {
            crate::segment_fold::load_parts(conn, site_id, day, VISITS_WITH_PROPS_PARTS)?
        } else {
            None
        };
        match parts.filter(|parts| parts[part::ENTRY_EVENTS as usize].is_some()) {
            Some(parts) => {
                crate::cancel::check(conn)?;
                day_segment::visits_with_props(
                    day * DAY_MS,
                    &day_segment::borrow_parts(&parts),
                    gate,
                    &mut record,
                    |visit| visits.push(visit.clone()),
                )
                .map_err(|Damaged| StoreError::DamagedSegment { site_id, day })?;
            }
            None => visits.extend(decoded(from, to)?),
        }
        from = to;
    }
    Ok(visits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_grow_while_few_visits_are_kept_and_shrink_when_many_are() {
        let days = |n: i64| n * DAY_MS;
        assert_eq!(next_span(1, days(1), 0), 2);
        assert_eq!(next_span(2, days(2), SPAN_VISITS - 1), 4);
        assert_eq!(
            next_span(MAX_SPAN_DAYS, days(MAX_SPAN_DAYS), 0),
            MAX_SPAN_DAYS
        );
        assert_eq!(next_span(4, days(4), SPAN_VISITS), 4);
        assert_eq!(next_span(4, days(4), 4 * SPAN_VISITS), 4);
        assert_eq!(next_span(4, days(4), 4 * SPAN_VISITS + 1), 2);
        assert_eq!(next_span(1, days(1), usize::MAX), 1);
        // A first span that covered a quarter of a day is judged at the
        // rate of a whole day: a little over a quarter of the visits a span
        // aims at keeps its one day, a little under doubles it.
        assert_eq!(next_span(1, days(1) / 4, SPAN_VISITS / 4 + 1), 1);
        assert_eq!(next_span(1, days(1) / 4, SPAN_VISITS / 4 - 1), 2);
    }
}
