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

/// Whether `rows` reads this step.
#[inline]
fn wanted(rows: &Rows, step: StepId) -> bool {
    match (rows, step) {
        (Rows::All, _) | (Rows::Pageviews, StepId::Page(_)) => true,
        (Rows::Pageviews, StepId::Event(_)) => false,
        (Rows::Only { pages, .. }, StepId::Page(id)) => pages.contains(&id),
        (Rows::Only { events, .. }, StepId::Event(id)) => events.contains(&id),
    }
}

/// Calls `each` with the visitor id (0 unless `with_visitors`) and the events
/// of `rows` (time order, ties by event id) of every visit of the query that
/// has at least one such event. Events read from packed paths carry time 0,
/// so callers that compare times must pass `packed: false`.
pub(crate) fn each_visit(
    conn: &Connection,
    site: &SiteInfo,
    query: &StatsQuery,
    rows: &Rows,
    with_visitors: bool,
    packed: bool,
    mut each: impl FnMut(i64, &[(i64, StepId)]),
) -> Result<(), StoreError> {
    let mut bounds = Bounds::of(site, query);
    if packed && query.filters.is_empty() {
        let mut events: Vec<(i64, StepId)> = Vec::new();
        bounds.from = crate::visit_paths::read(
            conn,
            site.id,
            bounds.from,
            bounds.to,
            true,
            with_visitors,
            |visit| {
                events.clear();
                events.extend(
                    visit
                        .codes
                        .iter()
                        .map(|&code| step_of(code))
                        .filter(|&step| wanted(rows, step))
                        .map(|step| (0, step)),
                );
                if !events.is_empty() {
                    each(visit.visitor_id, &events);
                }
            },
        )?;
    }
    let set = VisitSet::load(conn, site, query, bounds, with_visitors)?;
    walk(
        conn,
        site.id,
        &set,
        pageview_id(conn)?,
        rows,
        |member, events| {
            each(member.visitor_id, events);
        },
    )
}
