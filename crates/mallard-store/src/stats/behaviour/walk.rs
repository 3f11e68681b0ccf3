//! The events of the selected visits, handed over one visit at a time in the
//! order they happened.
//!
//! Events are read in the table's own order (`site_id, ts, id`), so the scan
//! needs no sort and no index beyond the primary key. Visits interleave in
//! that order; each visit's events are buffered until the scan passes the
//! visit's end, then the visit is handed over and forgotten. Only the visits
//! open at one moment are in memory, whatever the length of the period.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rusqlite::{Connection, params_from_iter};

use super::super::rollup::IdMap;
use super::selection::{Member, VisitSet};
use crate::error::StoreError;

/// What one event of a visit was: a page view of a path or a custom event of
/// a name, as the code packed paths use ([`crate::visit_paths::step_code`]):
/// the dimension id shifted left by one, the low bit set for a custom event.
/// One `u64` compares and hashes as fast as an integer, and packed codes are
/// steps as they are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct StepId(pub(crate) u64);

impl StepId {
    /// A page view of this path id.
    pub(crate) fn page(path_id: i64) -> Self {
        Self(crate::visit_paths::step_code(path_id, true))
    }

    /// A custom event of this name id.
    pub(crate) fn event(name_id: i64) -> Self {
        Self(crate::visit_paths::step_code(name_id, false))
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

/// Which events the walk reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rows {
    /// Every event.
    All,
    /// Page views only.
    Pageviews,
    /// Page views of these paths and custom events of these names, at
    /// least: a fold that asks for them must skip any other step it is
    /// handed (packed days hand over every step, see `source`).
    Only {
        /// Path ids.
        pages: Vec<i64>,
        /// Event name ids.
        events: Vec<i64>,
    },
}

/// Calls `each` with every selected visit that has at least one event of
/// `rows`, its member entry and its events in time order (ties by event id).
/// `pageview` is the id of the `pageview` event name, if it was ever stored.
pub(crate) fn walk(
    conn: &Connection,
    site_id: i64,
    set: &VisitSet,
    pageview: Option<i64>,
    rows: &Rows,
    mut each: impl FnMut(Member, &[(i64, StepId)]),
) -> Result<(), StoreError> {
    if set.len == 0 {
        return Ok(());
    }
    let pageview_id = pageview.unwrap_or(-1);
    let mut params = vec![site_id, set.min_start, set.max_end, pageview_id];
    let condition = match rows {
        Rows::All => String::new(),
        Rows::Pageviews => " AND name = ?4".to_owned(),
        Rows::Only { pages, events } => {
            let mut list = |ids: &[i64]| {
                let marks: Vec<String> = ids
                    .iter()
                    .map(|id| {
                        params.push(*id);
                        format!("?{}", params.len())
                    })
                    .collect();
                marks.join(", ")
            };
            let pages = list(pages);
            let events = list(events);
            let mut parts = Vec::new();
            if !pages.is_empty() {
                parts.push(format!("(name = ?4 AND pathname IN ({pages}))"));
            }
            if !events.is_empty() {
                parts.push(format!("name IN ({events})"));
            }
            if parts.is_empty() {
                return Ok(());
            }
            format!(" AND ({})", parts.join(" OR "))
        }
    };
    // `?4 = ?4` keeps the `pageview` parameter bound when no condition uses it.
    let mut stmt = conn.prepare(&format!(
        "SELECT visit_id, ts, name, pathname FROM events WHERE site_id = ?1 AND ts >= ?2 \
         AND ts <= ?3 AND ?4 = ?4{condition}"
    ))?;
    let mut open: IdMap<(Member, Vec<(i64, StepId)>)> = IdMap::default();
    let mut ends: BinaryHeap<Reverse<(i64, i64)>> = BinaryHeap::new();
    let mut result = stmt.query(params_from_iter(&params))?;
    while let Some(row) = result.next()? {
        let visit_id: i64 = row.get(0)?;
        let Some(member) = set.get(visit_id) else {
            continue;
        };
        let ts: i64 = row.get(1)?;
        while let Some(&Reverse((end, id))) = ends.peek() {
            if end >= ts {
                break;
            }
            ends.pop();
            if let Some((member, events)) = open.remove(&id) {
                each(member, &events);
            }
        }
        let name: i64 = row.get(2)?;
        let step = if name == pageview_id {
            StepId::page(row.get(3)?)
        } else {
            StepId::event(name)
        };
        open.entry(visit_id)
            .or_insert_with(|| {
                ends.push(Reverse((member.end_ts, visit_id)));
                (member, Vec::new())
            })
            .1
            .push((ts, step));
    }
    while let Some(Reverse((_, id))) = ends.pop() {
        if let Some((member, events)) = open.remove(&id) {
            each(member, &events);
        }
    }
    Ok(())
}
