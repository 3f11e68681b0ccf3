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

/// The step a packed event code stands for.
fn step_of(code: u64) -> StepId {
    let id = (code >> 1) as i64;
    if code & 1 == 0 {
        StepId::Page(id)
    } else {
        StepId::Event(id)
    }
}

/// Which packed event codes a query reads, decided on the codes themselves.
enum CodeFilter {
    /// Every code.
    All,
    /// Page views (even codes).
    Pageviews,
    /// These codes.
    Only(Vec<u64>),
}

impl CodeFilter {
    fn of(rows: &Rows) -> Self {
        let code = crate::visit_paths::step_code;
        match rows {
            Rows::All => Self::All,
            Rows::Pageviews => Self::Pageviews,
            Rows::Only { pages, events } => Self::Only(
                pages
                    .iter()
                    .map(|&id| code(id, true))
                    .chain(events.iter().map(|&id| code(id, false)))
                    .collect(),
            ),
        }
    }

    #[inline]
    fn wants(&self, code: u64) -> bool {
        match self {
            Self::All => true,
            Self::Pageviews => code & 1 == 0,
            Self::Only(codes) => codes.contains(&code),
        }
    }
}

/// How a query folds its visits.
pub(crate) struct Folding<N, E, M> {
    /// A fresh accumulator.
    pub(crate) new: N,
    /// Adds one visit: its visitor id and its events.
    pub(crate) each: E,
    /// Adds another accumulator into the first.
    pub(crate) merge: M,
}

/// Folds the visits of the query that have at least one event of `rows`
/// into one accumulator: `folding.each` gets the visitor id (0 unless
/// `with_visitors`) and those events (time order, ties by event id). Packed
/// days (when `packed` and the query has no filters) are folded by a few
/// threads into accumulators of their own, which `folding.merge` adds up;
/// their events carry time 0, so callers that compare times pass `packed:
/// false`. The rest of the period is read from the rows.
pub(crate) fn fold_visits<A, N, E, M>(
    conn: &Connection,
    site: &SiteInfo,
    query: &StatsQuery,
    rows: &Rows,
    with_visitors: bool,
    packed: bool,
    folding: Folding<N, E, M>,
) -> Result<A, StoreError>
where
    A: Send,
    N: Fn() -> A + Sync,
    E: Fn(&mut A, i64, &[(i64, StepId)]) + Sync,
    M: Fn(&mut A, A),
{
    let Folding { new, each, merge } = folding;
    let mut bounds = Bounds::of(site, query);
    let mut total = new();
    if packed && query.filters.is_empty() {
        let filter = CodeFilter::of(rows);
        let (folds, rest) = crate::visit_paths::fold(
            conn,
            site.id,
            bounds.from,
            bounds.to,
            crate::visit_paths::Parts {
                steps: true,
                visitors: with_visitors,
            },
            || (new(), Vec::new()),
            |(acc, events): &mut (A, Vec<(i64, StepId)>), visit| {
                events.clear();
                events.extend(
                    visit
                        .codes
                        .filter(|&code| filter.wants(code))
                        .map(|code| (0, step_of(code))),
                );
                if !events.is_empty() {
                    each(acc, visit.visitor_id, events);
                }
            },
        )?;
        for (acc, _) in folds {
            merge(&mut total, acc);
        }
        bounds.from = rest;
    }
    let set = VisitSet::load(conn, site, query, bounds, with_visitors)?;
    walk(
        conn,
        site.id,
        &set,
        pageview_id(conn)?,
        rows,
        |member, events| {
            each(&mut total, member.visitor_id, events);
        },
    )?;
    Ok(total)
}
