//! Export: the raw events of the period with their visit's attributes and
//! their custom properties, oldest first, a page at a time.
//!
//! The events are read through the period's one source
//! ([`super::super::period_source`]), whatever holds their days: the visits
//! are read by the UTC day they start on, from the earliest that still has
//! an event in the period, and their events that meet the filters wait in a
//! small buffer until no visit read later can hold an earlier one (a visit
//! starting on a later day has no event before that day). So the events come
//! out in time order, with memory bounded by the visits of a day or two.

use std::ops::ControlFlow;
use std::rc::Rc;

use rusqlite::{Connection, OptionalExtension, params};

use super::super::period_source::{fold_starting, reach_back};
use super::super::predicate::{MatchingVisits, Predicate};
use super::super::{SiteInfo, StatsQuery};
use super::source::Bounds;
use super::{EventLabeller, ExportEvent};
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
    let mut waiting: Vec<Waiting> = Vec::new();
    let mut start = reach_back(conn, site.id, bounds.from)?;
    while start < bounds.to {
        crate::cancel::check(conn)?;
        // The visits that start on the rest of this UTC day.
        let end = ((start.div_euclid(DAY_MS) + 1) * DAY_MS).min(bounds.to);
        let folds = fold_starting(
            conn,
            site.id,
            start,
            end,
            Columns::ALL,
            &gate,
            Vec::new,
            |visits: &mut Vec<VisitRecord>, record| visits.push(record.clone()),
            crate::segment_fold::no_code_events,
        )?;
        for record in folds.into_iter().flatten() {
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
