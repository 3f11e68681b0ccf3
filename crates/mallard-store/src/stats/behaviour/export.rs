//! Export: the raw events of the period with their visit's attributes and
//! their custom properties, oldest first, a page at a time.

use std::ops::ControlFlow;

use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use super::super::labels::DimTexts;
use super::super::raw::conditions;
use super::super::{SiteInfo, StatsQuery};
use super::source::Bounds;
use super::{ExportEvent, VISIT_LABEL_COLUMNS, VisitLabels};
use crate::error::StoreError;

const COLUMNS: &str = "e.ts, e.id, e.visit_id, e.name, e.hostname, e.pathname, e.revenue_micros, \
    e.currency";

/// The events of the period that meet every filter, ordered by time (ties by
/// event id), `offset` rows skipped, at most `limit` returned. A site that is
/// not stored has no events.
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

/// Like [`events`], handing each event to `visit` as it is read instead of
/// collecting them, so that memory does not grow with the number of rows;
/// `visit` may stop early. Returns how many events were handed over.
pub(crate) fn each(
    conn: &Connection,
    site: &SiteInfo,
    query: &StatsQuery,
    limit: usize,
    offset: usize,
    visit: &mut dyn FnMut(ExportEvent) -> ControlFlow<()>,
) -> Result<usize, StoreError> {
    // `SITE_HOSTNAME` stands for the site's own host name (see `insert.rs`).
    let domain: Option<String> = conn
        .prepare_cached("SELECT domain FROM sites WHERE id = ?1")?
        .query_row(params![site.id], |r| r.get(0))
        .optional()?;
    let Some(domain) = domain else {
        return Ok(0);
    };
    let bounds = Bounds::of(site, query);
    let (sql, filter_params) = conditions(conn, &query.filters, false, 4)?;
    let mut params = vec![site.id, bounds.from, bounds.to];
    params.extend(filter_params);
    let at = params.len();
    params.push(i64::try_from(limit).unwrap_or(i64::MAX));
    params.push(i64::try_from(offset).unwrap_or(i64::MAX));
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS}, {VISIT_LABEL_COLUMNS} FROM events e JOIN visits v ON v.id = e.visit_id WHERE e.site_id = ?1 \
         AND e.ts >= ?2 AND e.ts < ?3{sql} ORDER BY e.ts, e.id LIMIT ?{} OFFSET ?{}",
        at + 1,
        at + 2
    ))?;
    let mut props = conn.prepare_cached(
        "SELECT k.value, p.value FROM event_props p JOIN dims k ON k.id = p.key \
         WHERE p.site_id = ?1 AND p.ts = ?2 AND p.event_id = ?3 ORDER BY k.value",
    )?;
    let mut values = conn.prepare_cached("SELECT value FROM dims WHERE id = ?1")?;
    let mut rows = stmt.query(params_from_iter(&params))?;
    let mut texts = DimTexts::default();
    let mut handed = 0;
    while let Some(row) = rows.next()? {
        let mut text = |at: usize| -> Result<Option<String>, StoreError> {
            let id: Option<i64> = row.get(at)?;
            texts.get(conn, id)
        };
        let ts: i64 = row.get(0)?;
        let event_id: i64 = row.get(1)?;
        let mut event_props: Vec<(String, String)> = Vec::new();
        let pairs = props
            .query_map(params![site.id, ts, event_id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        for (key, value_id) in pairs {
            let value: String = values.query_row(params![value_id], |r| r.get(0))?;
            event_props.push((key, value));
        }
        let event = ExportEvent {
            ts,
            visit_id: row.get(2)?,
            name: text(3)?.unwrap_or_default(),
            hostname: if row.get::<_, i64>(4)? == crate::insert::SITE_HOSTNAME {
                domain.clone()
            } else {
                text(4)?.unwrap_or_default()
            },
            pathname: text(5)?.unwrap_or_default(),
            revenue_micros: row.get(6)?,
            currency: text(7)?,
            props: event_props,
            visit: VisitLabels::read(conn, row, 8, &mut texts)?,
        };
        handed += 1;
        if visit(event).is_break() {
            break;
        }
    }
    Ok(handed)
}
