//! Every visit and event of one site, wherever its days are kept: for the
//! readers that look at a whole (small) site at once, such as the counts
//! `mallard` prints and the inspection the tests do.
//!
//! The days kept as rows are read with SQL, so what the writer committed a
//! moment ago is there whether or not its day ranges were written yet; the
//! packed days ([`crate::visit_paths`]) come from their segments, and the
//! rows a segment replaced that are still being deleted are skipped
//! ([`NOT_REPLACED`]). A visit is read from exactly one of the two.

use rusqlite::{Connection, params};
use rustc_hash::FxHashMap;

use crate::error::StoreError;
use crate::visit_days::DAY_MS;

/// A condition on `visits v`: the visit's day is not packed with its rows
/// still being deleted (`packed_rows`), whose rows its segment replaced.
pub(crate) const NOT_REPLACED: &str = "NOT EXISTS (SELECT 1 FROM packed_rows p \
    WHERE p.site_id = v.site_id \
    AND p.day = (v.start_ts - ((v.start_ts % 86400000) + 86400000) % 86400000) / 86400000)";
use crate::visit_record::{Columns, Take, VisitRecord};

/// One event of a site, as [`events`] lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SiteEvent {
    /// The event's time, ms since the epoch.
    pub(crate) ts: i64,
    /// Its visit's id.
    pub(crate) visit_id: i64,
    /// Whether it is a page view.
    pub(crate) pageview: bool,
    /// The interned id of its name (the `pageview` name's for page views).
    pub(crate) name: Option<i64>,
    /// The interned id of its page path.
    pub(crate) pathname: i64,
    /// The id of the collector consent it was sent with.
    pub(crate) consent: Option<i64>,
    /// Its custom properties as `(key id, value id)`, sorted by key.
    pub(crate) props: Vec<(i64, i64)>,
    /// Its revenue amount in millionths, and the interned id of its
    /// currency.
    pub(crate) revenue: (Option<i64>, Option<i64>),
}

/// The site's id, `None` for a site that is not stored.
pub(crate) fn site_id(conn: &Connection, domain: &str) -> Result<Option<i64>, StoreError> {
    use rusqlite::OptionalExtension;
    Ok(conn
        .prepare_cached("SELECT id FROM sites WHERE domain = ?1")?
        .query_row(params![domain], |r| r.get(0))
        .optional()?)
}

/// Every visit of `site`'s packed days with `columns`, in start order.
pub(crate) fn packed_visits(
    conn: &Connection,
    site: i64,
    columns: Columns,
) -> Result<Vec<VisitRecord>, StoreError> {
    let span: (Option<i64>, Option<i64>) = conn
        .prepare_cached(
            "SELECT min(day), max(day) FROM visit_days WHERE site_id = ?1 \
             AND max_end IS NOT NULL",
        )?
        .query_row(params![site], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let (Some(first), Some(last)) = span else {
        return Ok(Vec::new());
    };
    let to = (last + 1) * DAY_MS;
    let mut from = first * DAY_MS;
    let mut visits = Vec::new();
    while from < to {
        let (folds, rest) = crate::segment_fold::fold_records(
            conn,
            site,
            from,
            to,
            columns,
            &|_: &VisitRecord| Take::Events,
            Vec::new,
            |list: &mut Vec<VisitRecord>, visit| list.push(visit.clone()),
            crate::segment_fold::no_code_events,
            Ok,
        )?;
        visits.extend(folds.into_iter().flatten());
        // Days kept as rows are skipped: the caller reads them with SQL.
        from = match crate::segment_fold::next_packed_day(conn, site, rest)? {
            Some(next) if rest < to => next,
            _ => to,
        };
    }
    visits.sort_unstable_by_key(|v| (v.start_ts, v.id));
    Ok(visits)
}

/// Every visit of `site` with its attributes (no events), in start order
/// (ties by id).
pub(crate) fn visits(conn: &Connection, site: i64) -> Result<Vec<VisitRecord>, StoreError> {
    let columns = Columns {
        ids: true,
        visitors: true,
        visit: true,
        pages: true,
        attributes: crate::visit_record::AttributeSet::ALL,
        ..Columns::default()
    };
    let mut visits = packed_visits(conn, site, columns)?;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT id, visitor_id, start_ts, end_ts, pageviews, events, entry_page, exit_page, \
         {} FROM visits v WHERE site_id = ?1 AND {NOT_REPLACED}",
        crate::visit_rows::ATTRIBUTE_COLUMNS
    ))?;
    let mut rows = stmt.query(params![site])?;
    while let Some(row) = rows.next()? {
        visits.push(VisitRecord {
            id: row.get(0)?,
            visitor_id: row.get(1)?,
            start_ts: row.get(2)?,
            end_ts: row.get(3)?,
            pageviews: row.get(4)?,
            events_count: row.get(5)?,
            entry_page: row.get(6)?,
            exit_page: row.get(7)?,
            attrs: crate::visit_rows::attributes_at(row, 8)?,
            ..VisitRecord::default()
        });
    }
    visits.sort_unstable_by_key(|v| (v.start_ts, v.id));
    Ok(visits)
}

/// Every event of `site`, in time order (ties by visit, then in the visit's
/// order).
pub(crate) fn events(conn: &Connection, site: i64) -> Result<Vec<SiteEvent>, StoreError> {
    let pageview = crate::rollup_rebuild::pageview_name_id(conn)?;
    let mut events = Vec::new();
    // The packed days, with the place of each event in its visit.
    let mut order: Vec<(i64, i64, usize)> = Vec::new();
    for visit in packed_visits(conn, site, Columns::ALL)? {
        for (at, event) in visit.events.iter().enumerate() {
            order.push((event.ts, visit.id, at));
            events.push(SiteEvent {
                ts: event.ts,
                visit_id: visit.id,
                pageview: event.pageview,
                name: if event.pageview {
                    pageview
                } else {
                    Some(event.code)
                },
                pathname: event.pathname,
                consent: event.consent,
                props: visit.props_of(event).to_vec(),
                revenue: (event.revenue_micros, event.currency),
            });
        }
    }
    // The rows, whose event ids order ties within a visit.
    let mut props: FxHashMap<(i64, i64), Vec<(i64, i64)>> = FxHashMap::default();
    {
        let mut stmt = conn.prepare_cached(
            "SELECT ts, event_id, key, value FROM event_props WHERE site_id = ?1",
        )?;
        let mut rows = stmt.query(params![site])?;
        while let Some(row) = rows.next()? {
            props
                .entry((row.get(0)?, row.get(1)?))
                .or_default()
                .push((row.get(2)?, row.get(3)?));
        }
    }
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT e.ts, e.id, e.visit_id, e.name, e.pathname, c.consent_id, e.revenue_micros, \
         e.currency FROM events e \
         JOIN visits v ON v.id = e.visit_id \
         LEFT JOIN collector_event_consent c ON c.site_id = e.site_id AND c.ts = e.ts \
         AND c.event_id = e.id WHERE e.site_id = ?1 AND {NOT_REPLACED} ORDER BY e.ts, e.id",
    ))?;
    let mut rows = stmt.query(params![site])?;
    let mut rank = 0usize;
    while let Some(row) = rows.next()? {
        let (ts, id, visit_id, name): (i64, i64, i64, i64) =
            (row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?);
        let mut pairs = props.remove(&(ts, id)).unwrap_or_default();
        pairs.sort_unstable();
        order.push((ts, visit_id, rank));
        rank += 1;
        events.push(SiteEvent {
            ts,
            visit_id,
            pageview: Some(name) == pageview,
            name: Some(name),
            pathname: row.get(4)?,
            consent: row.get(5)?,
            props: pairs,
            revenue: (row.get(6)?, row.get(7)?),
        });
    }
    let mut ordered: Vec<(usize, SiteEvent)> = events.into_iter().enumerate().collect();
    ordered.sort_by_key(|(at, _)| order[*at]);
    Ok(ordered.into_iter().map(|(_, event)| event).collect())
}
