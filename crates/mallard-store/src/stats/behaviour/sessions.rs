//! Sessions: the visits of the period one by one, newest (or oldest) first,
//! a page at a time.

use std::ops::ControlFlow;

use rusqlite::{Connection, params_from_iter};

use super::super::labels::DimTexts;
use super::super::{SiteInfo, StatsQuery};
use super::selection::{Bounds, event_matched_visits, visit_conditions};
use super::{SessionRow, VISIT_LABEL_COLUMNS, VisitLabels};
use crate::error::StoreError;

const COLUMNS: &str = "v.id, v.start_ts, v.end_ts, v.pageviews, v.events, v.entry_page, \
    v.exit_page";

/// Visits that start in the period and meet the filters, ordered by start time
/// (newest first unless `oldest_first`; ties by visit id in the same
/// direction), `offset` rows skipped, at most `limit` returned.
///
/// The period is read one UTC day at a time, in the list's order, each day
/// from its id range ([`crate::visit_days`]) and sorted by SQLite; the walk
/// stops as soon as the page is full, so the first pages read a day or two.
pub(crate) fn list(
    conn: &Connection,
    site: &SiteInfo,
    query: &StatsQuery,
    limit: usize,
    offset: usize,
    oldest_first: bool,
) -> Result<Vec<SessionRow>, StoreError> {
    let mut out = Vec::new();
    each(conn, site, query, limit, offset, oldest_first, &mut |row| {
        out.push(row);
        ControlFlow::Continue(())
    })?;
    Ok(out)
}

/// Like [`list`], handing each visit to `visit` as it is read instead of
/// collecting them; `visit` may stop the walk early. Returns how many visits
/// were handed over.
pub(crate) fn each(
    conn: &Connection,
    site: &SiteInfo,
    query: &StatsQuery,
    limit: usize,
    offset: usize,
    oldest_first: bool,
    visit: &mut dyn FnMut(SessionRow) -> ControlFlow<()>,
) -> Result<usize, StoreError> {
    let bounds = Bounds::of(site, query);
    let matched = event_matched_visits(conn, site, query, bounds)?;
    let (sql, filter_params) = visit_conditions(conn, query, 7)?;
    let order = if oldest_first { "ASC" } else { "DESC" };
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS}, {VISIT_LABEL_COLUMNS} FROM visits v WHERE v.id BETWEEN ?4 AND ?5 \
         AND v.site_id = ?1 AND v.start_ts >= ?2 AND v.start_ts < ?3{sql} \
         ORDER BY v.start_ts {order}, v.id {order} LIMIT ?6"
    ))?;
    let mut days = crate::visit_days::day_ranges(conn, site.id, bounds.from, bounds.to)?;
    if !oldest_first {
        days.reverse();
    }
    let mut texts = DimTexts::default();
    let mut handed = 0;
    let mut skipped = 0;
    for day in days {
        crate::cancel::check(conn)?;
        // Without event filters, SQLite keeps only the rows still wanted.
        let wanted = if matched.is_none() {
            i64::try_from((offset - skipped).saturating_add(limit - handed)).unwrap_or(-1)
        } else {
            -1
        };
        let mut params = vec![
            site.id,
            day.from_ms,
            day.to_ms,
            day.low_id,
            day.high_id,
            wanted,
        ];
        params.extend(filter_params.iter().copied());
        let mut rows = stmt.query(params_from_iter(&params))?;
        while let Some(row) = rows.next()? {
            let id: i64 = row.get(0)?;
            if matched.as_ref().is_some_and(|ids| !ids.contains(&id)) {
                continue;
            }
            if skipped < offset {
                skipped += 1;
                continue;
            }
            if handed == limit {
                return Ok(handed);
            }
            let mut text =
                |at: usize| -> Result<Option<String>, StoreError> { texts.get(conn, row.get(at)?) };
            let row = SessionRow {
                visit_id: id,
                start_ts: row.get(1)?,
                end_ts: row.get(2)?,
                pageviews: row.get(3)?,
                events: row.get(4)?,
                entry_page: text(5)?,
                exit_page: text(6)?,
                visit: VisitLabels::read(conn, row, 7, &mut texts)?,
            };
            handed += 1;
            if visit(row).is_break() {
                return Ok(handed);
            }
        }
        if handed == limit {
            break;
        }
    }
    Ok(handed)
}
