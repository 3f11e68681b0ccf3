//! The event feed another Mallard pulls a site's history through
//! (`GET /api/events/feed`): the site's settled visits with all their
//! events, in visit id order, after a cursor.
//!
//! A visit is handed over whole, once it is settled: its last event is more
//! than the visit timeout (and a minute for the writer's lag) old, so no
//! live event can join it any more. Visit ids only grow, and a visit keeps
//! its id whether its day is kept as rows or packed in a segment, so the
//! cursor is the id of the last visit handed over, and an event's origin id
//! (`{visit id}-{place in its visit}`) is stable. The feed stops before the
//! first visit after the cursor that is not settled, so that no visit is
//! skipped while it is still open: the next page starts there.
//!
//! The days to read are the UTC days with a visit after the cursor
//! (`visit_days` for the days written behind, the `visits` rows for the
//! rest), read in the order of the lowest id they may hold, so a page reads
//! about one day beyond what it hands over.

use std::collections::BTreeMap;

use rusqlite::{Connection, params};

use crate::error::StoreError;
use crate::stats::VisitLabels;
use crate::stats::behaviour::EventLabeller;
use crate::visit_days::DAY_MS;
use crate::visit_record::{Columns, Take, VisitRecord};
use crate::visits::VISIT_TIMEOUT_MS;

/// How long after a visit's timeout it is handed over: the writer writes
/// visits' growth behind within a few seconds.
pub const SETTLE_MARGIN_MS: i64 = 60_000;

/// One event of a [`FeedVisit`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedEvent {
    /// The event's time, ms since the epoch.
    pub ts: i64,
    /// Event name (`pageview` or a custom name).
    pub name: String,
    /// Page host.
    pub hostname: String,
    /// Page path.
    pub pathname: String,
    /// Custom properties, sorted by key.
    pub props: Vec<(String, String)>,
    /// Revenue in millionths of `currency`.
    pub revenue_micros: Option<i64>,
    /// Revenue currency (ISO 4217 code).
    pub currency: Option<String>,
}

/// One visit with its events in time order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedVisit {
    /// The visit's id on this server (the cursor's unit).
    pub id: i64,
    /// The visitor id (a keyed hash, see `mallard_core::visitor`).
    pub visitor_id: i64,
    /// The visit's attributes.
    pub labels: VisitLabels,
    /// Browser major version.
    pub browser_version: Option<String>,
    /// Operating system version.
    pub os_version: Option<String>,
    /// Whether the visit came from an excluded (internal) address.
    pub is_internal: bool,
    /// Its events, oldest first.
    pub events: Vec<FeedEvent>,
}

/// One page of the feed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedPage {
    /// Settled visits after the cursor, by id.
    pub visits: Vec<FeedVisit>,
    /// The cursor to ask for next: the last visit's id, or the cursor asked
    /// with when the page is empty.
    pub next: i64,
    /// Whether the page stopped at its limit (more settled visits follow).
    pub more: bool,
    /// Whether it stopped at a visit that is still open.
    pub waiting_for_open_visit: bool,
}

/// The settled visits of site `site_id` after visit id `after`, by id,
/// whole, until they hold at least `limit_events` events (at least one
/// visit, whatever its size), as of `now_ms`.
pub(crate) fn page(
    conn: &Connection,
    site_id: i64,
    after: i64,
    limit_events: usize,
    now_ms: i64,
) -> Result<FeedPage, StoreError> {
    let settled_before = now_ms - VISIT_TIMEOUT_MS - SETTLE_MARGIN_MS;
    let days = days_after(conn, site_id, after)?;
    let domain: String = conn
        .prepare_cached("SELECT domain FROM sites WHERE id = ?1")?
        .query_row(params![site_id], |row| row.get(0))?;
    let mut labels = EventLabeller::new(conn, domain)?;
    // The visits read but not handed over yet, by id.
    let mut read: BTreeMap<i64, VisitRecord> = BTreeMap::new();
    let mut page = FeedPage {
        next: after,
        ..FeedPage::default()
    };
    let mut events = 0usize;
    for (at, &(_, day)) in days.iter().enumerate() {
        crate::cancel::check(conn)?;
        let folds = crate::stats::period_source::fold_starting(
            conn,
            site_id,
            day * DAY_MS,
            (day + 1) * DAY_MS,
            Columns::ALL,
            &|visit: &VisitRecord| {
                if visit.id > after {
                    Take::Events
                } else {
                    Take::Skip
                }
            },
            Vec::new,
            |list: &mut Vec<VisitRecord>, visit| list.push(visit.clone()),
            crate::segment_fold::no_code_events,
        )?;
        for visit in folds.into_iter().flatten() {
            read.insert(visit.id, visit);
        }
        // Every visit below the lowest id the unread days may hold is here.
        let complete_below = days.get(at + 1).map_or(i64::MAX, |&(lowest, _)| lowest);
        while let Some(entry) = read.first_entry() {
            if *entry.key() >= complete_below {
                break;
            }
            let visit = entry.remove();
            let last_event = visit.events.iter().map(|e| e.ts).max().unwrap_or(0);
            if visit.end_ts.max(last_event) >= settled_before {
                page.waiting_for_open_visit = true;
                return Ok(page);
            }
            if events >= limit_events.max(1) {
                page.more = true;
                return Ok(page);
            }
            events += visit.events.len();
            page.next = visit.id;
            page.visits.push(feed_visit(&mut labels, &visit)?);
        }
    }
    Ok(page)
}

/// The UTC days of `site_id` that may hold a visit with an id above
/// `after`, as `(lowest such id they may hold, day)`, in that order.
fn days_after(conn: &Connection, site_id: i64, after: i64) -> Result<Vec<(i64, i64)>, StoreError> {
    let mut lowest: BTreeMap<i64, i64> = BTreeMap::new();
    let mut note = |day: i64, id: i64| {
        let id = id.max(after + 1);
        lowest
            .entry(day)
            .and_modify(|low| *low = (*low).min(id))
            .or_insert(id);
    };
    let mut stmt = conn
        .prepare_cached("SELECT day, min_id FROM visit_days WHERE site_id = ?1 AND max_id > ?2")?;
    let mut rows = stmt.query(params![site_id, after])?;
    while let Some(row) = rows.next()? {
        note(row.get(0)?, row.get(1)?);
    }
    // Visits created since the day ranges were last written behind.
    let mut stmt = conn.prepare_cached(
        "SELECT (start_ts - ((start_ts % 86400000) + 86400000) % 86400000) / 86400000 AS day, \
         min(id) FROM visits WHERE id > ?2 AND site_id = ?1 GROUP BY day",
    )?;
    let mut rows = stmt.query(params![site_id, after])?;
    while let Some(row) = rows.next()? {
        note(row.get(0)?, row.get(1)?);
    }
    let mut days: Vec<(i64, i64)> = lowest.into_iter().map(|(day, id)| (id, day)).collect();
    days.sort_unstable();
    Ok(days)
}

/// A visit with its events as the feed hands it over.
fn feed_visit(
    labels: &mut EventLabeller<'_>,
    visit: &VisitRecord,
) -> Result<FeedVisit, StoreError> {
    let mut events = Vec::with_capacity(visit.events.len());
    for event in &visit.events {
        let text = labels.event(visit, event)?;
        events.push(FeedEvent {
            ts: event.ts,
            name: text.name,
            hostname: text.hostname,
            pathname: text.pathname,
            props: text.props,
            revenue_micros: event.revenue_micros,
            currency: text.currency,
        });
    }
    Ok(FeedVisit {
        id: visit.id,
        visitor_id: visit.visitor_id,
        labels: labels.visit(&visit.attrs)?,
        browser_version: labels.text(visit.attrs.browser_version)?,
        os_version: labels.text(visit.attrs.os_version)?,
        is_internal: visit.attrs.is_internal,
        events,
    })
}

impl crate::reader::ReadConn<'_> {
    /// One page of site `domain`'s event feed after visit id `after` (see
    /// [`page`]); `None` for a site that is not stored.
    pub fn event_feed(
        &self,
        domain: &str,
        after: i64,
        limit_events: usize,
        now_ms: i64,
    ) -> Result<Option<FeedPage>, StoreError> {
        let conn = self.connection();
        let Some(site_id) = crate::site_records::site_id(conn, domain)? else {
            return Ok(None);
        };
        // One read transaction: the page sees one state of the file.
        let _snapshot = crate::stats::behaviour::snapshot(conn)?;
        page(conn, site_id, after, limit_events, now_ms).map(Some)
    }
}

#[cfg(test)]
mod tests;
