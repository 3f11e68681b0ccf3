//! Where a behavioural query gets its visits' events from: the packed paths
//! of closed days ([`crate::visit_paths`]) where it can, the rows for the
//! rest of the period.
//!
//! Packed paths hold every visit of a day with its steps in order, but no
//! event times and no visit attributes, so they serve queries without filters
//! and without time windows. Such a query reads the packed days at the start
//! of its period and the rows from the first day that is not packed on.

use rusqlite::Connection;

use super::super::raw::pageview_id;
use super::super::{SiteInfo, StatsQuery};
use super::selection::{Bounds, VisitSet};
use super::walk::{Rows, StepId, walk};
use crate::error::StoreError;
use crate::visit_paths::PackedCodes;

/// Which packed event codes a query reads, decided on the codes themselves.
enum CodeFilter {
    /// Every code: for [`Rows::All`], and for [`Rows::Only`], whose folds
    /// skip other steps themselves (one compare per code, where checking
    /// each code against the list first cost a fifth of a funnel).
    All,
    /// Page views (even codes).
    Pageviews,
}

impl CodeFilter {
    fn of(rows: &Rows) -> Self {
        match rows {
            Rows::All | Rows::Only { .. } => Self::All,
            Rows::Pageviews => Self::Pageviews,
        }
    }

    /// Hands the codes this filter wants to `fold` as steps; the match is
    /// made once per visit, so each kind of filter gets a tight loop of its
    /// own.
    #[inline]
    fn add_visit<A: VisitFold>(&self, fold: &mut A, visitor_id: i64, codes: PackedCodes<'_>) {
        match self {
            Self::All => fold.add_visit(visitor_id, codes.map(StepId)),
            Self::Pageviews => {
                fold.add_visit(visitor_id, codes.filter(|code| code & 1 == 0).map(StepId));
            }
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

    /// Adds the visits another accumulator folded.
    fn merge(&mut self, other: Self);
}

/// Folds the visits of the query into one accumulator (made by `new`): each
/// visit's visitor id (0 unless `with_visitors`) and the steps of its events
/// of `rows` (time order, ties by event id). Without filters, packed days are
/// folded by a few threads into accumulators of their own, which are merged;
/// the rest of the period is read from the rows. Queries that need event
/// times use [`walk_visits`].
pub(crate) fn fold_visits<A: VisitFold>(
    conn: &Connection,
    site: &SiteInfo,
    query: &StatsQuery,
    rows: &Rows,
    with_visitors: bool,
    new: impl Fn() -> A + Sync,
) -> Result<A, StoreError> {
    let mut bounds = Bounds::of(site, query);
    let mut total = new();
    if query.filters.is_empty() {
        let filter = CodeFilter::of(rows);
        let (folds, rest) = crate::visit_paths::fold(
            conn,
            site.id,
            bounds.from,
            bounds.to,
            crate::visit_paths::Parts {
                starts: false,
                steps: true,
                visitors: with_visitors,
                min_steps: total.min_steps(),
            },
            &new,
            |acc: &mut A, visit| filter.add_visit(acc, visit.visitor_id, visit.codes),
        )?;
        for acc in folds {
            total.merge(acc);
        }
        bounds.from = rest;
    }
    walk_in(
        conn,
        site,
        query,
        bounds,
        rows,
        with_visitors,
        |visitor_id, events| {
            total.add_visit(visitor_id, events.iter().map(|&(_, step)| step));
        },
    )?;
    Ok(total)
}

/// Calls `each` with every visit of the query that has at least one event of
/// `rows`: its visitor id (0 unless `with_visitors`) and those events with
/// their times (time order, ties by event id), read from the rows.
pub(crate) fn walk_visits(
    conn: &Connection,
    site: &SiteInfo,
    query: &StatsQuery,
    rows: &Rows,
    with_visitors: bool,
    each: impl FnMut(i64, &[(i64, StepId)]),
) -> Result<(), StoreError> {
    walk_in(
        conn,
        site,
        query,
        Bounds::of(site, query),
        rows,
        with_visitors,
        each,
    )
}

/// [`walk_visits`] within `bounds`.
fn walk_in(
    conn: &Connection,
    site: &SiteInfo,
    query: &StatsQuery,
    bounds: Bounds,
    rows: &Rows,
    with_visitors: bool,
    mut each: impl FnMut(i64, &[(i64, StepId)]),
) -> Result<(), StoreError> {
    let set = VisitSet::load(conn, site, query, bounds, with_visitors)?;
    walk(
        conn,
        site.id,
        &set,
        pageview_id(conn)?,
        rows,
        |member, events| each(member.visitor_id, events),
    )
}
