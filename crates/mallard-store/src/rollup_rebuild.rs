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
//! the visits of one time range (with those that started before it and reach
//! into it) wherever they are kept, and gives exactly what the incremental
//! path would have written.

use std::collections::{BTreeMap, HashMap};

use mallard_core::SiteTimeZone;
use mallard_core::period::MS_PER_HOUR;
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::StoreError;
use crate::rollups::{Pending, RollupEvent, VisitShape, kind, site_zone, zone};
use crate::visit_days::DAY_MS;
use crate::visit_record::{AttributeSet, Columns, Take, VisitRecord};

/// The settings key of the sketch mark of earlier builds: every event with a
/// smaller id was reflected in the stored sketches.
const SKETCH_MARK: &str = "sketch_mark_event_id";
/// The sketch mark after a clean shutdown.
const ALL_WRITTEN: i64 = i64::MAX;
/// How many visits and events a rebuild adds between two flushes.
const REBUILD_CHUNK: usize = 200_000;
/// How many UTC days of visits a rebuild reads at a time.
const REBUILD_CHUNK_DAYS: i64 = 8;
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

/// Counts the property rows of the local `day` of one site again from its
/// stored events (a database written while properties counted on custom
/// events alone: see [`crate::prop_recount`]). Runs inside the caller's
/// transaction, in the writer after the rollups it holds were written.
pub(crate) fn rebuild_props(conn: &Connection, site_id: i64, day: i64) -> Result<(), StoreError> {
    let tz = site_zone(conn, site_id)?;
    conn.prepare_cached("DELETE FROM rollup_days WHERE site_id = ?1 AND kind = ?2 AND day = ?3")?
        .execute(params![site_id, kind::PROP, day])?;
    let mut pending = Pending::props_only();
    add_stored(conn, &tz, &mut pending, site_id, Span::Day(day))?;
    pending.flush(conn, None)
}

/// Adds every visit of `site_id` that starts in `span` and every event that
/// happens in it to `pending`, writing it out every [`REBUILD_CHUNK`]
/// visits and events. Reads through the period's one source
/// ([`crate::stats::period_source`]), whatever holds the days: packed days
/// from their segments, the others from rows, a few UTC days at a time.
fn add_stored(
    conn: &Connection,
    tz: &SiteTimeZone,
    pending: &mut Pending,
    site_id: i64,
    span: Span,
) -> Result<(), StoreError> {
    let (from, to, day) = match span {
        Span::All => {
            // The site's days with visits, whole, and all their events.
            let days: (Option<i64>, Option<i64>) = conn
                .prepare_cached("SELECT min(day), max(day) FROM visit_days WHERE site_id = ?1")?
                .query_row(params![site_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
            let (Some(first), Some(last)) = days else {
                return Ok(());
            };
            (first * DAY_MS, (last + 1) * DAY_MS, None)
        }
        Span::Day(_) => span.bounds(tz),
    };
    // A whole site counts every event of its visits; a day, those of its
    // instants.
    let on_day = |ts: i64| match day {
        None => true,
        Some(day) => (from..to).contains(&ts) && tz.local_day(ts) == day,
    };
    let pageview_id = pageview_name_id(conn)?;
    let columns = Columns {
        visitors: true,
        visit: true,
        pages: true,
        attributes: AttributeSet::ALL,
        events: true,
        event_times: true,
        event_paths: true,
        props: true,
        ..Columns::default()
    };
    let mut seen = 0usize;
    // The visits that start before the span and have events in it first.
    let mut chunk_from = crate::stats::period_source::reach_back(conn, site_id, from)?;
    while chunk_from < to {
        let chunk_to = (chunk_from.div_euclid(DAY_MS) + REBUILD_CHUNK_DAYS)
            .saturating_mul(DAY_MS)
            .min(to);
        let folds = crate::stats::period_source::fold_starting(
            conn,
            site_id,
            chunk_from,
            chunk_to,
            columns,
            &|_: &VisitRecord| Take::Events,
            Vec::new,
            |visits: &mut Vec<VisitRecord>, visit| visits.push(visit.clone()),
            crate::segment_fold::no_code_events,
        )?;
        for visit in folds.into_iter().flatten() {
            if on_day(visit.start_ts) {
                let shape = VisitShape {
                    start_ts: visit.start_ts,
                    end_ts: visit.end_ts,
                    pageviews: visit.pageviews,
                    entry_page: visit.entry_page,
                    exit_page: visit.exit_page,
                };
                pending.add_visit(tz, site_id, &shape, &visit.attrs, 1);
                seen += 1;
            }
            for event in &visit.events {
                if !on_day(event.ts) {
                    continue;
                }
                let name = if event.pageview {
                    pageview_id.ok_or(StoreError::DamagedSegment {
                        site_id,
                        day: crate::visit_days::utc_day(visit.start_ts),
                    })?
                } else {
                    event.code
                };
                let rollup_event = RollupEvent {
                    site_id,
                    ts: event.ts,
                    visit_id: visit.id,
                    name,
                    pageview: event.pageview,
                    pathname: event.pathname,
                    props: visit.props_of(event).to_vec(),
                };
                pending.add_event(tz, &rollup_event, visit.visitor_id, &visit.attrs);
                seen += 1;
            }
            if seen >= REBUILD_CHUNK {
                pending.flush(conn, None)?;
                seen = 0;
            }
        }
        chunk_from = chunk_to;
    }
    Ok(())
}

/// Rebuilds the rollups of every site that has none yet (databases written
/// before the rollups existed). Runs when the store opens.
pub(crate) fn rebuild_missing(conn: &Connection) -> Result<(), StoreError> {
    let missing: Vec<i64> = conn
        .prepare(
            "SELECT id FROM sites WHERE id NOT IN (SELECT site_id FROM rollup_sites) \
             AND (EXISTS (SELECT 1 FROM events WHERE events.site_id = sites.id) \
             OR EXISTS (SELECT 1 FROM day_segments d WHERE d.site_id = sites.id))",
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
