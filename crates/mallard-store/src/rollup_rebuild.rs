//! Recomputing rollups from the stored visits and events.
//!
//! The writer keeps rollups incrementally ([`crate::rollups`]); this module
//! computes them from scratch instead, for three occasions:
//! - a whole site, when its time zone changed or when the database was
//!   written before the rollups existed ([`rebuild_site`], [`rebuild_missing`]);
//! - the local days still listed in `rollup_dirty_days` when the store opens:
//!   their contributions were committed with their events but were still in
//!   the writer's memory when the process stopped ([`recover`]);
//! - the days of the events behind the event-id mark left by builds that
//!   wrote only the visitor sketches behind (rebuilt like dirty days).
//!
//! A day's rollups are the visits that started on it and the events that
//! happened on it, both in the site's local time, so rebuilding a day reads
//! one time range of `visits` and of `events` and gives exactly what the
//! incremental path would have written.

use std::collections::{BTreeMap, HashMap};

use mallard_core::SiteTimeZone;
use mallard_core::period::MS_PER_HOUR;
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::StoreError;
use crate::rollups::{Pending, RollupEvent, VisitShape, kind, site_zone, zone};
use crate::visits::VisitAttributes;

/// The settings key of the sketch mark of earlier builds: every event with a
/// smaller id was reflected in the stored sketches.
const SKETCH_MARK: &str = "sketch_mark_event_id";
/// The sketch mark after a clean shutdown.
const ALL_WRITTEN: i64 = i64::MAX;
/// How many rows a rebuild reads between two flushes.
const REBUILD_CHUNK: usize = 200_000;
/// How far beyond a local day's bounds its rows are looked for, so that days
/// of unusual length (clock changes at midnight) are found whole.
const DAY_SLACK_MS: i64 = 3 * MS_PER_HOUR;

/// Which stored rows a rebuild reads: all of a site's, or one local day's.
#[derive(Debug, Clone, Copy)]
enum Span {
    All,
    Day(i64),
}

impl Span {
    /// The instants to read, and the local day a row must fall on.
    fn bounds(self, tz: &SiteTimeZone) -> (i64, i64, Option<i64>) {
        match self {
            Span::All => (i64::MIN, i64::MAX, None),
            Span::Day(day) => (
                tz.day_start_ms(day) - DAY_SLACK_MS,
                tz.day_start_ms(day + 1) + DAY_SLACK_MS,
                Some(day),
            ),
        }
    }
}

/// Recomputes every rollup of one site from its stored visits and events; used
/// for databases written before the rollups existed and after a site's time
/// zone changed. Runs inside the caller's transaction.
pub fn rebuild_site(conn: &Connection, site_id: i64) -> Result<(), StoreError> {
    for table in ["rollup_hours", "rollup_days", "rollup_sites"] {
        conn.execute(
            &format!("DELETE FROM {table} WHERE site_id = ?1"),
            params![site_id],
        )?;
    }
    let tz = site_zone(conn, site_id)?;
    let mut pending = Pending::default();
    add_stored(conn, &tz, &mut pending, site_id, Span::All)?;
    pending.flush(conn, None)?;
    // A site without events still gets its row, so it is not rebuilt again.
    conn.execute(
        "INSERT INTO rollup_sites (site_id, version, first_day) VALUES (?1, 1, ?2) \
         ON CONFLICT (site_id) DO UPDATE SET version = version + 1",
        params![site_id, 0],
    )?;
    Ok(())
}

/// Recomputes the rollups of the local `days` of one site (hours, days and the
/// packed page rows of days already packed). Runs inside the caller's
/// transaction.
pub(crate) fn rebuild_days(
    conn: &Connection,
    site_id: i64,
    days: &[i64],
) -> Result<(), StoreError> {
    let tz = site_zone(conn, site_id)?;
    let packed_until: Option<i64> = conn
        .prepare_cached("SELECT packed_until FROM rollup_sites WHERE site_id = ?1")?
        .query_row(params![site_id], |r| r.get(0))
        .optional()?
        .flatten();
    let mut delete_day = conn
        .prepare_cached("DELETE FROM rollup_days WHERE site_id = ?1 AND kind = ?2 AND day = ?3")?;
    let mut delete_hours = conn.prepare_cached(
        "DELETE FROM rollup_hours WHERE site_id = ?1 AND hour >= ?2 AND hour < ?3",
    )?;
    let mut pending = Pending::default();
    for &day in days {
        for k in kind::SITE..=kind::PAGE_PACK {
            delete_day.execute(params![site_id, k, day])?;
        }
        delete_hours.execute(params![site_id, day * 24, day * 24 + 24])?;
        add_stored(conn, &tz, &mut pending, site_id, Span::Day(day))?;
    }
    pending.flush(conn, None)?;
    for &day in days {
        if packed_until.is_some_and(|until| day < until) {
            crate::packed_pages::repack_day(conn, site_id, day)?;
        }
    }
    Ok(())
}

/// Adds the stored visits that started in `span` and the events that happened
/// in it to `pending`, writing it out every [`REBUILD_CHUNK`] rows.
fn add_stored(
    conn: &Connection,
    tz: &SiteTimeZone,
    pending: &mut Pending,
    site_id: i64,
    span: Span,
) -> Result<(), StoreError> {
    let (from, to, day) = span.bounds(tz);
    let on_day = |ts: i64| day.is_none_or(|day| tz.local_day(ts) == day);
    let mut seen = 0usize;
    let mut count = |pending: &mut Pending| -> Result<(), StoreError> {
        seen += 1;
        if seen.is_multiple_of(REBUILD_CHUNK) {
            pending.flush(conn, None)?;
        }
        Ok(())
    };
    {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT start_ts, end_ts, pageviews, entry_page, exit_page, {VISIT_ATTRS} \
             FROM visits WHERE id BETWEEN ?4 AND ?5 AND site_id = ?1 AND start_ts >= ?2 \
             AND start_ts < ?3"
        ))?;
        // A day's visits are the id range `visit_days` gives; a whole site's
        // are all of them (its rebuild may run before the ranges are
        // complete, at open).
        let (low_id, high_id) = match span {
            Span::All => (i64::MIN, i64::MAX),
            Span::Day(_) => crate::visit_days::id_range(conn, site_id, from, to)?.unwrap_or((1, 0)),
        };
        let mut rows = stmt.query(params![site_id, from, to, low_id, high_id])?;
        while let Some(row) = rows.next()? {
            let shape = VisitShape {
                start_ts: row.get(0)?,
                end_ts: row.get(1)?,
                pageviews: row.get(2)?,
                entry_page: row.get(3)?,
                exit_page: row.get(4)?,
            };
            if on_day(shape.start_ts) {
                let attrs = attrs_from_row(row, 5)?;
                pending.add_visit(tz, site_id, &shape, &attrs, 1);
                count(pending)?;
            }
        }
    }
    let pageview_id = pageview_name_id(conn)?;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT e.ts, e.id, e.visit_id, e.name, e.pathname, v.visitor_id, {VISIT_ATTRS_V}, \
         p.key, p.value FROM events e JOIN visits v ON v.id = e.visit_id \
         LEFT JOIN event_props p ON p.site_id = e.site_id AND p.ts = e.ts AND p.event_id = e.id \
         WHERE e.site_id = ?1 AND e.ts >= ?2 AND e.ts < ?3 ORDER BY e.ts, e.id"
    ))?;
    let mut rows = stmt.query(params![site_id, from, to])?;
    let mut current: Option<(RollupEvent, i64, i64, VisitAttributes)> = None;
    while let Some(row) = rows.next()? {
        let ts: i64 = row.get(0)?;
        if !on_day(ts) {
            continue;
        }
        let event_id: i64 = row.get(1)?;
        let prop: Option<(i64, i64)> = match (row.get::<_, Option<i64>>(22)?, row.get(23)?) {
            (Some(k), Some(v)) => Some((k, v)),
            _ => None,
        };
        if let Some((event, id, _, _)) = &mut current
            && *id == event_id
        {
            event.props.extend(prop);
            continue;
        }
        if let Some((event, _, visitor, attrs)) = current.take() {
            pending.add_event(tz, &event, visitor, &attrs);
            count(pending)?;
        }
        let name: i64 = row.get(3)?;
        current = Some((
            RollupEvent {
                site_id,
                ts,
                visit_id: row.get(2)?,
                name,
                pageview: Some(name) == pageview_id,
                pathname: row.get(4)?,
                props: prop.into_iter().collect(),
            },
            event_id,
            row.get(5)?,
            attrs_from_row(row, 6)?,
        ));
    }
    if let Some((event, _, visitor, attrs)) = current.take() {
        pending.add_event(tz, &event, visitor, &attrs);
    }
    Ok(())
}

/// Rebuilds the rollups of every site that has none yet (databases written
/// before the rollups existed). Runs when the store opens.
pub(crate) fn rebuild_missing(conn: &Connection) -> Result<(), StoreError> {
    let missing: Vec<i64> = conn
        .prepare(
            "SELECT id FROM sites WHERE id NOT IN (SELECT site_id FROM rollup_sites) \
             AND EXISTS (SELECT 1 FROM events WHERE events.site_id = sites.id)",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    if missing.is_empty() {
        return Ok(());
    }
    let tx = conn.unchecked_transaction()?;
    for site in missing {
        tracing::info!(site_id = site, "building stats rollups from stored events");
        rebuild_site(&tx, site)?;
    }
    tx.commit()?;
    Ok(())
}

/// Brings the rollups up to date after an unclean stop (or a rolled-back
/// batch): rebuilds every day listed in `rollup_dirty_days`, and those behind
/// the sketch mark of an earlier build. Runs before the writer starts.
pub(crate) fn recover(conn: &Connection) -> Result<(), StoreError> {
    list_days_behind_sketch_mark(conn)?;
    let listed: Vec<(i64, i64)> = conn
        .prepare("SELECT site_id, day FROM rollup_dirty_days ORDER BY site_id, day")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    if listed.is_empty() {
        return Ok(());
    }
    let mut by_site: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for (site, day) in &listed {
        by_site.entry(*site).or_default().push(*day);
    }
    let tx = conn.unchecked_transaction()?;
    for (site, days) in &by_site {
        rebuild_days(&tx, *site, days)?;
    }
    tx.execute("DELETE FROM rollup_dirty_days", [])?;
    tx.commit()?;
    tracing::info!(
        days = listed.len(),
        "stats rollups of the days written last brought up to date after an unclean stop"
    );
    Ok(())
}

/// Lists as dirty the days of the events an earlier build, which wrote only
/// the visitor sketches behind and kept an event-id mark for them, had not
/// reflected in its sketches when it stopped uncleanly; [`recover`] then
/// rebuilds those days. Records that the mark is dealt with.
fn list_days_behind_sketch_mark(conn: &Connection) -> Result<(), StoreError> {
    let Some(mark) = crate::settings::get_i64(conn, SKETCH_MARK)? else {
        return Ok(());
    };
    if mark == ALL_WRITTEN {
        return Ok(());
    }
    let tx = conn.unchecked_transaction()?;
    let mut zones: HashMap<i64, SiteTimeZone> = HashMap::new();
    {
        let mut list =
            tx.prepare("INSERT OR IGNORE INTO rollup_dirty_days (site_id, day) VALUES (?1, ?2)")?;
        let mut stmt = tx.prepare("SELECT site_id, ts FROM events WHERE id >= ?1")?;
        let mut rows = stmt.query(params![mark])?;
        while let Some(row) = rows.next()? {
            let (site_id, ts): (i64, i64) = (row.get(0)?, row.get(1)?);
            let day = zone(&mut zones, &tx, site_id)?.local_day(ts);
            list.execute(params![site_id, day])?;
        }
    }
    crate::settings::set_i64(&tx, SKETCH_MARK, ALL_WRITTEN)?;
    tx.commit()?;
    Ok(())
}

/// The dim id of the event name `pageview`, once one was stored.
pub(crate) fn pageview_name_id(conn: &Connection) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT id FROM dims WHERE kind = ?1 AND value = 'pageview'")?
        .query_row(params![crate::dims::DimKind::EventName as u8], |r| r.get(0))
        .optional()?)
}

const VISIT_ATTRS: &str = "referrer_source, referrer_url, utm_source, utm_medium, utm_campaign, \
    utm_term, utm_content, browser, browser_version, os, os_version, device, screen_width, country, \
    is_bot, is_internal";
const VISIT_ATTRS_V: &str = "v.referrer_source, v.referrer_url, v.utm_source, v.utm_medium, \
    v.utm_campaign, v.utm_term, v.utm_content, v.browser, v.browser_version, v.os, v.os_version, \
    v.device, v.screen_width, v.country, v.is_bot, v.is_internal";

fn attrs_from_row(row: &rusqlite::Row<'_>, at: usize) -> Result<VisitAttributes, StoreError> {
    Ok(VisitAttributes {
        referrer_source: row.get(at)?,
        referrer_url: row.get(at + 1)?,
        utm_source: row.get(at + 2)?,
        utm_medium: row.get(at + 3)?,
        utm_campaign: row.get(at + 4)?,
        utm_term: row.get(at + 5)?,
        utm_content: row.get(at + 6)?,
        browser: row.get(at + 7)?,
        browser_version: row.get(at + 8)?,
        os: row.get(at + 9)?,
        os_version: row.get(at + 10)?,
        device: row.get(at + 11)?,
        screen_width: row.get(at + 12)?,
        country: row.get(at + 13)?,
        is_bot: row.get(at + 14)?,
        is_internal: row.get(at + 15)?,
    })
}
