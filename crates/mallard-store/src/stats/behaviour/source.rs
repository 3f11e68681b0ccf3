//! Where a behavioural query gets its visits from, and which of them meet
//! its filters.
//!
//! Every query reads the visits that start in its period as
//! [`VisitRecord`]s, a UTC day at a time, from the period's one source
//! ([`read_records`]), asking only for the columns it needs; the filters,
//! compiled into a [`Predicate`], pick the visits it folds. Nothing holds
//! more than one day of one site.
//!
//! Without filters, or with filters all on visit attributes, the packed
//! paths of closed days ([`crate::segment_fold::fold`]) serve the queries
//! that need no event times (funnels without a window, sequences, flows,
//! retention): the runs of packed days of the period are decoded on
//! rayon's pool, the days' attribute columns picking the visits that meet
//! the filters, and records are read for the runs of days kept as rows.

use rusqlite::Connection;

use super::super::predicate::{MatchingVisits, Predicate};
use super::super::{SiteInfo, StatsQuery};
use super::step::{StepId, StepKinds};
use crate::error::StoreError;
use crate::segment_fold::{CodeGate, PackedCodes, rows_after};
use crate::visit_record::{Columns, VisitRecord};

/// The instants `[from, to)` of a query's local days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bounds {
    /// The first instant of the first day (ms since the epoch).
    pub(crate) from: i64,
    /// The first instant after the last day.
    pub(crate) to: i64,
}

impl Bounds {
    /// The bounds of the query's range in the site's time zone.
    pub(crate) fn of(site: &SiteInfo, query: &StatsQuery) -> Self {
        Self {
            from: site.time_zone.day_start_ms(query.range.start),
            to: site.time_zone.day_start_ms(query.range.end),
        }
    }
}

/// A query's filters as they pick its visits.
///
/// Visit-level filters hold or fail for the visit. Event-level filters
/// (`page`, `event`, `props.*`) pick the visits holding at least one event
/// of the period that meets all filters, as every other stats query does;
/// a visit that starts in the period counts with all its events, also those
/// after the period's end, but only the events of the period pick it.
#[derive(Debug)]
pub(crate) struct VisitFilter {
    predicate: Predicate,
    /// The end of the period: later events pick no visit.
    period_end: i64,
}

impl VisitFilter {
    /// The filters of `query`, compiled.
    pub(crate) fn compile(
        conn: &Connection,
        query: &StatsQuery,
        bounds: Bounds,
    ) -> Result<Self, StoreError> {
        Ok(Self {
            predicate: Predicate::compile(conn, &query.filters)?,
            period_end: bounds.to,
        })
    }

    /// Whether no visit can match: the answer is empty without reading.
    pub(crate) fn matches_nothing(&self) -> bool {
        self.predicate.matches_nothing()
    }

    /// Whether every visit matches (no filter, or only filters that hold
    /// for everything, such as `!=` a value never stored).
    pub(crate) fn matches_everything(&self) -> bool {
        self.predicate == Predicate::default()
    }

    /// The columns the filters read; event-level filters need the events'
    /// times to tell the events of the period.
    pub(crate) fn columns(&self) -> Columns {
        let columns = self.predicate.columns();
        Columns {
            event_times: columns.event_times || self.predicate.has_event_conditions(),
            ..columns
        }
    }

    /// Whether `visit` meets the filters.
    #[inline]
    pub(crate) fn matches(&self, visit: &VisitRecord) -> bool {
        self.predicate.visit_matches(visit)
            && (!self.predicate.has_event_conditions()
                || visit.events.iter().any(|event| {
                    event.ts < self.period_end && self.predicate.event_matches(visit, event)
                }))
    }
}

/// Folds the visits of `site` that start within `span` and meet the
/// visit-level conditions of `predicate` as records with `columns`, from
/// the period's one source ([`super::super::period_source::fold_period`]),
/// which reads the days from wherever they are kept. Its gate
/// ([`MatchingVisits`]) sees a visit before its events are read, and a day
/// segment passes over the visits that cannot meet the conditions. That
/// source also hands over the visits that start before the span and reach
/// into it; a behavioural query counts a visit in the period where it
/// starts, so those are skipped. Returns the accumulators to merge (one per
/// thread that folded).
fn read_records<A: Send>(
    conn: &Connection,
    site: i64,
    span: Bounds,
    columns: Columns,
    predicate: &Predicate,
    new: impl Fn() -> A + Sync,
    each: impl Fn(&mut A, &VisitRecord) + Sync,
) -> Result<Vec<A>, StoreError> {
    super::super::period_source::fold_period(
        conn,
        site,
        span.from,
        span.to,
        columns,
        &MatchingVisits {
            predicate,
            from_ms: span.from,
        },
        new,
        each,
        crate::segment_fold::no_code_events,
    )
}

/// Folds the visits of `site` that start within `span` and meet `filter`
/// (read with `columns` and the filter's own), as [`read_records`]: the
/// visit-level filters are its gate, so the events of the visits they turn
/// away are never decoded.
pub(crate) fn fold_matching<A: Send>(
    conn: &Connection,
    site: i64,
    span: Bounds,
    filter: &VisitFilter,
    columns: Columns,
    new: impl Fn() -> A + Sync,
    each: impl Fn(&mut A, &VisitRecord) + Sync,
) -> Result<Vec<A>, StoreError> {
    if filter.matches_nothing() || span.from >= span.to {
        return Ok(Vec::new());
    }
    let columns = columns.with(filter.columns());
    if filter.matches_everything() {
        return read_records(conn, site, span, columns, &filter.predicate, new, each);
    }
    read_records(
        conn,
        site,
        span,
        columns,
        &filter.predicate,
        new,
        |acc, visit| {
            if filter.matches(visit) {
                each(acc, visit);
            }
        },
    )
}

/// Folds the visits of the query that meet its filters: from the packed
/// days of the period (`packed`: the parts read, and what each visit adds)
/// when the filters are all on visit attributes (or there are none), the
/// days' attribute columns picking the visits; and as records (read with
/// `columns`, each handed to `each`) for the days kept as rows and with
/// filters on events or on the entry or exit page. Returns the
/// accumulators (made by `new`) to merge.
pub(crate) fn fold_query<A: Send>(
    conn: &Connection,
    site: &SiteInfo,
    query: &StatsQuery,
    packed: (
        crate::segment_fold::Parts,
        impl Fn(&mut A, crate::segment_fold::PackedVisit<'_>) + Sync,
    ),
    columns: Columns,
    new: impl Fn() -> A + Sync,
    each: impl Fn(&mut A, &VisitRecord) + Sync,
) -> Result<Vec<A>, StoreError> {
    let bounds = Bounds::of(site, query);
    let filter = VisitFilter::compile(conn, query, bounds)?;
    if filter.matches_nothing() {
        return Ok(Vec::new());
    }
    // Filters all on visit attributes are judged on the packed days'
    // attribute columns; others need each visit's events.
    if !filter.matches_everything() && !filter.predicate.attributes_only() {
        return fold_matching(conn, site.id, bounds, &filter, columns, new, each);
    }
    // Runs of packed days and of days kept as rows alternate (a late event
    // restores its day to rows).
    let (parts, each_packed) = packed;
    let parts = crate::segment_fold::Parts {
        screen: filter.predicate.attribute_conditions(),
        ..parts
    };
    // The rows after a run of packed days are read while the pool folds
    // the run's last chunk.
    let mut folds = Vec::new();
    let mut from = bounds.from;
    while from < bounds.to {
        let (packed_folds, rows) = crate::segment_fold::fold(
            conn,
            site.id,
            from,
            bounds.to,
            parts,
            &new,
            &each_packed,
            |rest| {
                rows_after(conn, site.id, (rest, bounds.to), |rows_end| {
                    let rows = Bounds {
                        from: rest,
                        to: rows_end,
                    };
                    fold_matching(conn, site.id, rows, &filter, columns, &new, &each)
                })
            },
        )?;
        folds.extend(packed_folds);
        let Some((rows, rows_end)) = rows else {
            break;
        };
        folds.extend(rows);
        from = rows_end;
    }
    Ok(folds)
}

impl StepKinds {
    /// Hands the packed codes this query wants to `fold` as steps; the match
    /// is made once per visit, so each kind gets a tight loop of its own.
    #[inline]
    fn add_packed<A: VisitFold>(
        self,
        fold: &mut A,
        visitor_id: i64,
        codes: Option<PackedCodes<'_>>,
    ) {
        let Some(codes) = codes else {
            fold.add_unread(visitor_id);
            return;
        };
        match self {
            Self::All => fold.add_visit(visitor_id, codes.map(StepId)),
            Self::Pageviews => {
                fold.add_visit(visitor_id, codes.filter(|code| code & 1 == 0).map(StepId));
            }
        }
    }

    /// Hands the events of `visit` this query wants to `fold` as steps.
    #[inline]
    fn add_record<A: VisitFold>(self, fold: &mut A, visit: &VisitRecord) {
        match self {
            Self::All => fold.add_visit(visit.visitor_id, visit.events.iter().map(StepId::of)),
            Self::Pageviews => fold.add_visit(
                visit.visitor_id,
                visit
                    .events
                    .iter()
                    .filter(|event| event.pageview)
                    .map(StepId::of),
            ),
        }
    }
}

/// What a behavioural query counts while it folds visits.
pub(crate) trait VisitFold: Send + Sized {
    /// Adds one visit: its visitor id and its steps in order. A visit
    /// without steps adds nothing.
    fn add_visit(&mut self, visitor_id: i64, steps: impl Iterator<Item = StepId>);

    /// Visits with fewer steps than this add nothing, so they may be left
    /// out (packed days skip them undecoded).
    fn min_steps(&self) -> usize {
        1
    }

    /// The codes a visit must hold to add anything, and those without which
    /// its other steps do not matter ([`CodeGate`]): packed days with a code
    /// index pass over the first kind of visit and hand the second to
    /// [`Self::add_unread`], both undecoded. `None`: every visit's steps.
    fn code_gate(&self) -> Option<CodeGate<'_>> {
        None
    }

    /// Adds a visit that holds one of the gate's `holding` codes and none of
    /// its `steps_for`, without its steps: what [`Self::add_visit`] adds for
    /// any such visit. A fold without a gate, or whose `steps_for` include
    /// its `holding`, is never handed such a visit.
    fn add_unread(&mut self, visitor_id: i64) {
        let _ = visitor_id;
    }

    /// Adds the visits another accumulator folded.
    fn merge(&mut self, other: Self);
}

/// Folds the visits of the query that meet its filters into one
/// accumulator (made by `new`): each visit's visitor id (0 unless
/// `with_visitors`) and the steps of its events of `kinds` (time order, ties
/// by event id). The accumulators of the threads that folded are merged.
pub(crate) fn fold_visits<A: VisitFold>(
    conn: &Connection,
    site: &SiteInfo,
    query: &StatsQuery,
    kinds: StepKinds,
    with_visitors: bool,
    new: impl Fn() -> A + Sync,
) -> Result<A, StoreError> {
    let mut total = new();
    let parts = crate::segment_fold::Parts {
        starts: crate::segment_fold::Starts::None,
        steps: true,
        visitors: with_visitors,
        min_steps: total.min_steps(),
        gate: total.code_gate(),
        screen: &[],
    };
    let columns = Columns {
        visitors: with_visitors,
        events: true,
        ..Columns::default()
    };
    let folds = fold_query(
        conn,
        site,
        query,
        (
            parts,
            |acc: &mut A, visit: crate::segment_fold::PackedVisit<'_>| {
                kinds.add_packed(acc, visit.visitor_id, visit.codes);
            },
        ),
        columns,
        &new,
        |acc, visit| kinds.add_record(acc, visit),
    )?;
    for acc in folds {
        total.merge(acc);
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use mallard_core::filter::parse_filters;

    use super::*;
    use crate::stats::predicate::tests::database;
    use crate::visit_record::EventRecord;
    use crate::visits::VisitAttributes;

    fn filter(conn: &Connection, text: &str, period_end: i64) -> VisitFilter {
        let query = StatsQuery {
            range: mallard_core::DayRange { start: 0, end: 1 },
            filters: parse_filters(text).unwrap(),
            with_imported: false,
        };
        VisitFilter::compile(
            conn,
            &query,
            Bounds {
                from: 0,
                to: period_end,
            },
        )
        .unwrap()
    }

    /// A visit from Google viewing `/` at 100 and `/pricing` at 200.
    fn visit() -> VisitRecord {
        let page = |ts, path| EventRecord {
            ts,
            pageview: true,
            code: path,
            pathname: path,
            ..EventRecord::default()
        };
        VisitRecord {
            start_ts: 100,
            attrs: VisitAttributes {
                referrer_source: Some(12),
                ..VisitAttributes::default()
            },
            events: vec![page(100, 11), page(200, 10)],
            ..VisitRecord::default()
        }
    }

    #[test]
    fn only_events_of_the_period_pick_a_visit() {
        let conn = database();
        let v = visit();
        // `/pricing` is viewed after a period that ends at 150.
        assert!(!filter(&conn, "page==/pricing", 150).matches(&v));
        assert!(filter(&conn, "page==/pricing", 250).matches(&v));
        assert!(filter(&conn, "page==/", 150).matches(&v));
        // An event-level condition reads the events' times.
        assert!(filter(&conn, "page==/", 150).columns().event_times);
        assert!(!filter(&conn, "source==Google", 150).columns().event_times);
    }

    #[test]
    fn visit_and_event_conditions_hold_together() {
        let conn = database();
        let v = visit();
        assert!(filter(&conn, "source==Google;page==/pricing", 250).matches(&v));
        assert!(!filter(&conn, "source!=Google;page==/pricing", 250).matches(&v));
        // One event must meet every event-level condition.
        assert!(!filter(&conn, "page==/;page==/pricing", 250).matches(&v));
        assert!(filter(&conn, "page==/;page!=/pricing", 250).matches(&v));
    }

    #[test]
    fn values_never_stored_match_nothing_or_everything() {
        let conn = database();
        let never = filter(&conn, "page==/nowhere", 250);
        assert!(never.matches_nothing() && !never.matches_everything());
        let always = filter(&conn, "page!=/nowhere", 250);
        assert!(always.matches_everything() && !always.matches_nothing());
        assert!(filter(&conn, "", 250).matches_everything());
        assert!(!filter(&conn, "source==Google", 250).matches_everything());
    }
}
