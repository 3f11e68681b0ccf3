//! Sessions: the visits of the period one by one, newest (or oldest) first,
//! a page at a time.

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
pub(crate) fn list(
    conn: &Connection,
    site: &SiteInfo,
    query: &StatsQuery,
    limit: usize,
    offset: usize,
    oldest_first: bool,
) -> Result<Vec<SessionRow>, StoreError> {
    let bounds = Bounds::of(site, query);
    let matched = event_matched_visits(conn, site, query, bounds)?;
    let (sql, filter_params) = visit_conditions(conn, query, 4)?;
    let mut params = vec![site.id, bounds.from, bounds.to];
    params.extend(filter_params);
    let order = if oldest_first { "ASC" } else { "DESC" };
    // Without event filters the page is cut in SQL; with them, in Rust.
    let page = if matched.is_none() {
        let at = params.len();
        params.push(i64::try_from(limit).unwrap_or(i64::MAX));
        params.push(i64::try_from(offset).unwrap_or(i64::MAX));
        format!(" LIMIT ?{} OFFSET ?{}", at + 1, at + 2)
    } else {
        String::new()
    };
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS}, {VISIT_LABEL_COLUMNS} FROM visits v WHERE v.site_id = ?1 AND v.start_ts >= ?2 \
         AND v.start_ts < ?3{sql} ORDER BY v.start_ts {order}, v.id {order}{page}"
    ))?;
    let mut rows = stmt.query(params_from_iter(&params))?;
    let mut texts = DimTexts::default();
    let mut out = Vec::new();
    let mut skipped = 0;
    while let Some(row) = rows.next()? {
        let id: i64 = row.get(0)?;
        if let Some(ids) = &matched {
            if !ids.contains(&id) {
                continue;
            }
            if skipped < offset {
                skipped += 1;
                continue;
            }
            if out.len() == limit {
                break;
            }
        }
        let mut text =
            |at: usize| -> Result<Option<String>, StoreError> { texts.get(conn, row.get(at)?) };
        out.push(SessionRow {
            visit_id: id,
            start_ts: row.get(1)?,
            end_ts: row.get(2)?,
            pageviews: row.get(3)?,
            events: row.get(4)?,
            entry_page: text(5)?,
            exit_page: text(6)?,
            visit: VisitLabels::read(conn, row, 7, &mut texts)?,
        });
    }
    Ok(out)
}
