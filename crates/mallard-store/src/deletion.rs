//! Deleting data: a whole site, or the visits of a site in a date range, and
//! giving the freed space back.
//!
//! A site is deleted in two stages. [`forget_site`] removes its row (so it
//! is gone from every list and query at once, and the next event for its
//! domain creates a new site with a new id: ids are never reused, migration
//! 017) and lists it in `deleted_sites`; [`purge_chunk`] then deletes its data
//! a few days at a time, each call one short transaction of the writer, so
//! that ingestion never waits long and a restart carries on where the last
//! run stopped. A date range is deleted a UTC day per call
//! ([`delete_range_day`]): a day wholly inside the range goes with its
//! segment, a day the range cuts is restored to rows and loses the visits
//! that start in the range, with all their events; the rollups of the days
//! touched are rebuilt from what is left. The blocking drivers at the end of
//! this file run those steps through the writer, one job per step.
//!
//! Space: a database created with incremental auto-vacuum (every database
//! since migration 017's build) gives freed pages back to the file system a
//! chunk at a time ([`reclaim_chunk`]); an older one reuses them for new
//! data.

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::StoreError;
use crate::visit_days::{DAY_MS, utc_day};
use crate::writer::WriterHandle;

/// How many UTC days of a deleted site one purge step deletes.
const PURGE_DAYS: usize = 4;

/// How many rollup rows one purge step deletes.
const PURGE_ROLLUP_ROWS: i64 = 1_000;

/// How many free pages one reclaim step gives back.
const RECLAIM_PAGES: i64 = 512;

/// Overwrites deleted content inside the pages it stays in (SQLite's
/// `secure_delete = FAST`: no extra I/O) while it lives, then puts the
/// connection's mode back. Freed pages go back to the file system
/// ([`reclaim_chunk`]).
struct SecureDelete<'a> {
    conn: &'a Connection,
    before: i64,
}

impl<'a> SecureDelete<'a> {
    fn on(conn: &'a Connection) -> Result<Self, StoreError> {
        let before: i64 = conn.query_row("PRAGMA secure_delete", [], |r| r.get(0))?;
        conn.query_row("PRAGMA secure_delete = FAST", [], |_| Ok(()))
            .optional()?;
        Ok(Self { conn, before })
    }
}

impl Drop for SecureDelete<'_> {
    fn drop(&mut self) {
        let mode = match self.before {
            1 => "ON",
            2 => "FAST",
            _ => "OFF",
        };
        let _ = self
            .conn
            .query_row(&format!("PRAGMA secure_delete = {mode}"), [], |_| Ok(()));
    }
}

/// What one purge step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PurgeStep {
    /// No deleted site has data left.
    Idle,
    /// Some of a deleted site's data went; more is left.
    Deleted {
        /// The deleted site's id.
        site_id: i64,
        /// The UTC days of visits deleted in this step.
        days: u64,
    },
    /// Nothing of a deleted site's data is left: once the space is given
    /// back, [`mark_purged`] ends its purge.
    Emptied {
        /// The deleted site's id.
        site_id: i64,
    },
}

/// Removes site `domain` from the sites and lists it for purging, with the
/// small records that hang on it (its rollup bookkeeping and imports).
/// Returns its id, or `None` when there is no such site. Must run as a
/// maintenance job ([`WriterHandle::run_maintenance_blocking`]), after which
/// the writer forgets the ids it knows sites by.
pub fn forget_site(
    conn: &Connection,
    domain: &str,
    now_ms: i64,
) -> Result<Option<i64>, StoreError> {
    let Some(site_id) = crate::imports::site_id_of(conn, domain)? else {
        return Ok(None);
    };
    let _secure = SecureDelete::on(conn)?;
    // What refers to the site goes before it (foreign keys).
    for sql in [
        "DELETE FROM import_visitors WHERE import_id IN (SELECT id FROM imports WHERE site_id = ?1)",
        "DELETE FROM import_reads WHERE import_id IN (SELECT id FROM imports WHERE site_id = ?1)",
        "DELETE FROM import_files WHERE site_id = ?1",
        "DELETE FROM imports WHERE site_id = ?1",
        "DELETE FROM rollup_sites WHERE site_id = ?1",
        "DELETE FROM rollup_dirty_days WHERE site_id = ?1",
        "DELETE FROM goals WHERE site_id = ?1",
        "DELETE FROM annotations WHERE site_id = ?1",
        "DELETE FROM sites WHERE id = ?1",
    ] {
        conn.prepare_cached(sql)?.execute(params![site_id])?;
    }
    conn.prepare_cached(
        "INSERT OR REPLACE INTO deleted_sites (site_id, domain, deleted_at) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![site_id, domain, now_ms])?;
    Ok(Some(site_id))
}

/// Deletes the next chunk of data of a deleted site (see [`forget_site`]):
/// a few of its UTC days (segments, rows and day ranges), then its rollups
/// and any stray rows, until [`PurgeStep::Emptied`].
pub fn purge_chunk(conn: &Connection) -> Result<PurgeStep, StoreError> {
    let site_id: Option<i64> = conn
        .prepare_cached(
            "SELECT site_id FROM deleted_sites WHERE purged_at IS NULL \
             ORDER BY deleted_at, site_id LIMIT 1",
        )?
        .query_row([], |r| r.get(0))
        .optional()?;
    let Some(site_id) = site_id else {
        return Ok(PurgeStep::Idle);
    };
    let _secure = SecureDelete::on(conn)?;
    // A live site under the same id cannot exist (new ids are above every
    // deleted one), but a purge must never delete a live site's data.
    if site_exists(conn, site_id)? {
        return Ok(PurgeStep::Emptied { site_id });
    }
    let days: Vec<i64> = conn
        .prepare_cached("SELECT day FROM visit_days WHERE site_id = ?1 ORDER BY day LIMIT ?2")?
        .query_map(params![site_id, PURGE_DAYS as i64], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    if !days.is_empty() {
        for &day in &days {
            crate::visit_paths::discard_day(conn, site_id, day)?;
        }
        return Ok(PurgeStep::Deleted {
            site_id,
            days: days.len() as u64,
        });
    }
    if delete_leftovers(conn, site_id)? {
        return Ok(PurgeStep::Deleted { site_id, days: 0 });
    }
    Ok(PurgeStep::Emptied { site_id })
}

/// Notes that the deleted site's data is gone (its entry stays: its id is
/// never handed out again).
pub fn mark_purged(conn: &Connection, site_id: i64, now_ms: i64) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE deleted_sites SET purged_at = ?2 WHERE site_id = ?1")?
        .execute(params![site_id, now_ms])?;
    Ok(())
}

fn site_exists(conn: &Connection, site_id: i64) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM sites WHERE id = ?1)")?
        .query_row(params![site_id], |r| r.get(0))?)
}

/// Deletes a chunk of what a deleted site has left once its days are gone:
/// rollup rows, segments without a day range (an earlier format's) and rows
/// no day range covers. Returns whether anything was left.
fn delete_leftovers(conn: &Connection, site_id: i64) -> Result<bool, StoreError> {
    let mut deleted = 0;
    for table in ["rollup_days", "rollup_hours"] {
        deleted += conn
            .prepare_cached(&format!(
                "DELETE FROM {table} WHERE rowid IN \
                 (SELECT rowid FROM {table} WHERE site_id = ?1 LIMIT ?2)"
            ))?
            .execute(params![site_id, PURGE_ROLLUP_ROWS])?;
    }
    // Spans have no rowid; a span with no day rows keeps its mark.
    conn.prepare_cached("DELETE FROM rollup_span_marks WHERE site_id = ?1")?
        .execute(params![site_id])?;
    deleted += conn
        .prepare_cached(
            "DELETE FROM rollup_spans WHERE (site_id, kind, day, value) IN \
             (SELECT site_id, kind, day, value FROM rollup_spans WHERE site_id = ?1 LIMIT ?2)",
        )?
        .execute(params![site_id, PURGE_ROLLUP_ROWS])?;
    deleted += conn
        .prepare_cached(
            "DELETE FROM day_segments WHERE site_id = ?1 AND day IN \
             (SELECT DISTINCT day FROM day_segments WHERE site_id = ?1 ORDER BY day LIMIT 16)",
        )?
        .execute(params![site_id])?;
    deleted += conn
        .prepare_cached("DELETE FROM packed_rows WHERE site_id = ?1")?
        .execute(params![site_id])?;
    if crate::imported_daily::purge_chunk(conn, site_id)? {
        deleted += 1;
    }
    // Rows of the site's tables keyed by time: a day of the oldest at a time.
    for table in ["event_props", "collector_event_consent", "events"] {
        let oldest: Option<i64> = conn
            .prepare_cached(&format!("SELECT min(ts) FROM {table} WHERE site_id = ?1"))?
            .query_row(params![site_id], |r| r.get(0))?;
        if let Some(oldest) = oldest {
            deleted += conn
                .prepare_cached(&format!(
                    "DELETE FROM {table} WHERE site_id = ?1 AND ts >= ?2 AND ts < ?3"
                ))?
                .execute(params![site_id, oldest, oldest.saturating_add(DAY_MS)])?;
        }
    }
    Ok(deleted > 0)
}

/// The sites deleted whose data is still being purged, as `(id, domain)`.
pub fn pending_purges(conn: &Connection) -> Result<Vec<(i64, String)>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT site_id, domain FROM deleted_sites WHERE purged_at IS NULL \
             ORDER BY deleted_at, site_id",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?)
}

/// What deleting one UTC day of a date range did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RangeDayDeleted {
    /// Visits deleted (with all their events).
    pub visits: u64,
    /// Events deleted (page views and custom events).
    pub events: u64,
}

/// The UTC days on which some visit of `site_id` starts in `[from_ms,
/// to_ms)`, oldest first.
pub fn range_days(
    conn: &Connection,
    site_id: i64,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<i64>, StoreError> {
    Ok(
        crate::visit_days::day_ranges(conn, site_id, from_ms, to_ms)?
            .into_iter()
            .map(|range| utc_day(range.from_ms))
            .collect(),
    )
}

/// Deletes the visits of `site_id` that start on UTC `day` within
/// `[from_ms, to_ms)`, with all their events, and rebuilds the rollups of
/// the site's local days they touched. A day the range covers whole goes
/// with its segment; a packed day the range cuts is restored to rows first
/// (it is packed again later). Must run as a job of the writer that
/// reloads its state when the day may hold open visits
/// ([`WriterHandle::rewrite_blocking`]).
pub fn delete_range_day(
    conn: &Connection,
    site_id: i64,
    day: i64,
    (from_ms, to_ms): (i64, i64),
) -> Result<RangeDayDeleted, StoreError> {
    let day_start = day * DAY_MS;
    let (from, to) = (from_ms.max(day_start), to_ms.min(day_start + DAY_MS));
    if from >= to {
        return Ok(RangeDayDeleted::default());
    }
    let _secure = SecureDelete::on(conn)?;
    let tz = crate::rollups::site_zone(conn, site_id)?;
    let packed: bool = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM day_segments WHERE site_id = ?1 AND day = ?2)",
        )?
        .query_row(params![site_id, day], |r| r.get(0))?;
    if packed && (from, to) == (day_start, day_start + DAY_MS) {
        return delete_packed_day(conn, site_id, day, &tz);
    }
    if packed {
        crate::visit_paths::unpack_day(conn, site_id, day)?;
    }
    let Some((low, high)) = conn
        .prepare_cached("SELECT min_id, max_id FROM visit_days WHERE site_id = ?1 AND day = ?2")?
        .query_row(params![site_id, day], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
        })
        .optional()?
    else {
        return Ok(RangeDayDeleted::default());
    };
    start_doomed_visits(conn)?;
    conn.prepare_cached(
        "INSERT INTO doomed_visits (id) SELECT id FROM visits WHERE id BETWEEN ?2 AND ?3 \
         AND site_id = ?1 AND start_ts >= ?4 AND start_ts < ?5",
    )?
    .execute(params![site_id, low, high, from, to])?;
    let last_end: Option<i64> = conn
        .prepare_cached(
            "SELECT max(end_ts) FROM visits WHERE id IN (SELECT id FROM doomed_visits)",
        )?
        .query_row([], |r| r.get(0))?;
    let Some(last_end) = last_end else {
        return Ok(RangeDayDeleted::default());
    };
    // A visit's events lie between its start and its end.
    let (visits, events) = delete_doomed_visits(conn, site_id, from, last_end)?;
    // A day left without visits keeps no range.
    conn.prepare_cached(
        "DELETE FROM visit_days WHERE site_id = ?1 AND day = ?2 AND NOT EXISTS \
         (SELECT 1 FROM visits WHERE id BETWEEN ?3 AND ?4 AND site_id = ?1 \
          AND start_ts >= ?5 AND start_ts < ?5 + 86400000)",
    )?
    .execute(params![site_id, day, low, high, day_start])?;
    let local_days: Vec<i64> = (tz.local_day(from)..=tz.local_day(last_end)).collect();
    rebuild_rollups(conn, site_id, &local_days)?;
    Ok(RangeDayDeleted { visits, events })
}

/// Starts an empty list of visits to delete: the temporary table
/// `doomed_visits`, filled by the caller, then [`delete_doomed_visits`].
pub(crate) fn start_doomed_visits(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS doomed_visits (id INTEGER PRIMARY KEY); \
         DELETE FROM doomed_visits;",
    )?;
    Ok(())
}

/// Deletes the visits listed in `doomed_visits` (rows of `site_id`) with
/// their events, properties and collector consents, whose times lie in
/// `[first_ts, last_ts]`, and empties the list. Returns the visits and the
/// events deleted.
pub(crate) fn delete_doomed_visits(
    conn: &Connection,
    site_id: i64,
    first_ts: i64,
    last_ts: i64,
) -> Result<(u64, u64), StoreError> {
    let events_of_doomed = "SELECT id FROM events WHERE site_id = ?1 AND ts >= ?2 AND ts <= ?3 \
        AND visit_id IN (SELECT id FROM doomed_visits)";
    for table in ["event_props", "collector_event_consent"] {
        conn.prepare_cached(&format!(
            "DELETE FROM {table} WHERE site_id = ?1 AND ts >= ?2 AND ts <= ?3 \
             AND event_id IN ({events_of_doomed})"
        ))?
        .execute(params![site_id, first_ts, last_ts])?;
    }
    let events = conn
        .prepare_cached(
            "DELETE FROM events WHERE site_id = ?1 AND ts >= ?2 AND ts <= ?3 \
             AND visit_id IN (SELECT id FROM doomed_visits)",
        )?
        .execute(params![site_id, first_ts, last_ts])? as u64;
    let visits = conn
        .prepare_cached("DELETE FROM visits WHERE id IN (SELECT id FROM doomed_visits)")?
        .execute([])? as u64;
    conn.execute_batch("DELETE FROM doomed_visits;")?;
    Ok((visits, events))
}

/// Deletes the whole packed `day` of `site_id` with its segment (nothing is
/// restored to rows), counting its visits and events from the segment.
fn delete_packed_day(
    conn: &Connection,
    site_id: i64,
    day: i64,
    tz: &mallard_core::SiteTimeZone,
) -> Result<RangeDayDeleted, StoreError> {
    use crate::visit_record::{Columns, Take, VisitRecord};
    let columns = Columns {
        visit: true,
        ..Columns::default()
    };
    let mut deleted = RangeDayDeleted::default();
    let mut last_end = day * DAY_MS;
    // A damaged segment goes all the same, uncounted.
    let parts = match crate::segment_fold::load_parts(
        conn,
        site_id,
        day,
        crate::day_segment::parts_for(columns),
    ) {
        Err(StoreError::DamagedSegment { .. }) => None,
        other => other?,
    };
    if let Some(parts) = parts {
        let mut record = VisitRecord::default();
        let decoded = crate::day_segment::decode(
            day * DAY_MS,
            &crate::day_segment::borrow_parts(&parts),
            columns,
            (i64::MIN, i64::MAX),
            &mut record,
            &|_: &VisitRecord| Take::Visit,
            None,
            |visit| {
                deleted.visits += 1;
                deleted.events += visit.events_count.max(0) as u64;
                last_end = last_end.max(visit.end_ts);
            },
        );
        if decoded.is_err() {
            deleted = RangeDayDeleted::default();
            last_end = day * DAY_MS + DAY_MS;
        }
    }
    crate::visit_paths::discard_day(conn, site_id, day)?;
    let local_days: Vec<i64> = (tz.local_day(day * DAY_MS)..=tz.local_day(last_end)).collect();
    rebuild_rollups(conn, site_id, &local_days)?;
    Ok(deleted)
}

/// Rebuilds the rollups of the site's local `days` from what is left, moves
/// its first day to the first one left (a deleted range may have held it)
/// and makes its cached answers stale.
fn rebuild_rollups(conn: &Connection, site_id: i64, days: &[i64]) -> Result<(), StoreError> {
    crate::rollup_rebuild::rebuild_days(conn, site_id, days)?;
    conn.prepare_cached(
        "UPDATE rollup_sites SET version = version + 1, first_day = coalesce( \
         (SELECT min(day) FROM rollup_days WHERE site_id = ?1 AND kind = ?2), first_day) \
         WHERE site_id = ?1",
    )?
    .execute(params![site_id, crate::rollups::kind::SITE])?;
    Ok(())
}

/// Gives up to [`RECLAIM_PAGES`] free pages back to the file system when the
/// database uses incremental auto-vacuum; returns how many went (0 when
/// none is free, or the database reuses its free pages instead).
pub fn reclaim_chunk(conn: &Connection) -> Result<u64, StoreError> {
    let mode: i64 = conn.query_row("PRAGMA auto_vacuum", [], |r| r.get(0))?;
    if mode != 2 {
        return Ok(0);
    }
    let free = |conn: &Connection| -> Result<i64, StoreError> {
        Ok(conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?)
    };
    let before = free(conn)?;
    if before == 0 {
        return Ok(0);
    }
    // The pragma frees one page per step: run it to its end.
    let mut vacuum = conn.prepare(&format!("PRAGMA incremental_vacuum({RECLAIM_PAGES})"))?;
    let mut steps = vacuum.query([])?;
    while steps.next()?.is_some() {}
    Ok(before.saturating_sub(free(conn)?) as u64)
}

/// What deleting a site's data in a date range did, in total.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RangeDeleted {
    /// UTC days that held visits in the range.
    pub days: u64,
    /// Visits deleted.
    pub visits: u64,
    /// Events deleted.
    pub events: u64,
}

/// Runs one deletion step as a writer job through `submit`, recording how
/// long the writer was held (`mallard_deletion_step_seconds`, and a debug
/// log line).
fn timed<T: std::fmt::Debug>(
    kind: &'static str,
    submit: impl FnOnce() -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let started = std::time::Instant::now();
    let outcome = submit();
    let elapsed = started.elapsed();
    metrics::histogram!("mallard_deletion_step_seconds", "step" => kind)
        .record(elapsed.as_secs_f64());
    tracing::debug!(
        step = kind,
        ms = elapsed.as_secs_f64() * 1000.0,
        ?outcome,
        "deletion step"
    );
    outcome
}

/// Whether a step on UTC `day` may touch what the writer holds in memory
/// (open visits), so that its state must be loaded again after it.
fn may_hold_open_visits(day: i64, now_ms: i64) -> bool {
    day >= utc_day(now_ms) - 1
}

/// Deletes site `domain` (see [`forget_site`]) and returns its id, or
/// `None` when there is no such site. Its data is purged afterwards by
/// [`purge_blocking`].
pub fn delete_site_blocking(
    writer: &WriterHandle,
    domain: &str,
    now_ms: i64,
) -> Result<Option<i64>, StoreError> {
    let domain = domain.to_owned();
    // A maintenance job: the writer drops the ids of sites it knows by
    // domain after it (its open visits of the site are never written again:
    // no event reaches the deleted id).
    timed("forget_site", || {
        writer.run_maintenance_blocking(move |conn| forget_site(conn, &domain, now_ms))
    })
}

/// Purges the data of every deleted site, one writer job per step, giving
/// the freed space back before each purge is marked done; `progress` hears
/// of each step. Returns how many sites were finished.
pub fn purge_blocking(
    writer: &WriterHandle,
    mut progress: impl FnMut(PurgeStep),
) -> Result<u64, StoreError> {
    let mut finished = 0;
    loop {
        let step = timed("purge", || writer.run_maintenance_blocking(purge_chunk))?;
        progress(step);
        match step {
            PurgeStep::Idle => return Ok(finished),
            PurgeStep::Emptied { site_id } => {
                reclaim_blocking(writer)?;
                let now_ms = crate::open::now_ms();
                writer.run_blocking(move |conn| mark_purged(conn, site_id, now_ms))?;
                finished += 1;
            }
            PurgeStep::Deleted { .. } => {}
        }
    }
}

/// Gives every free page back to the file system, a chunk per writer job;
/// returns how many went.
pub fn reclaim_blocking(writer: &WriterHandle) -> Result<u64, StoreError> {
    let mut total = 0;
    loop {
        let freed = timed("reclaim", || writer.run_blocking(reclaim_chunk))?;
        if freed == 0 {
            return Ok(total);
        }
        total += freed;
    }
}

/// Deletes the visits of site `domain` that start in `[from_ms, to_ms)`,
/// with all their events, a UTC day per writer job, then gives the freed
/// space back. Returns `None` when there is no such site.
pub fn delete_range_blocking(
    writer: &WriterHandle,
    domain: &str,
    (from_ms, to_ms): (i64, i64),
    now_ms: i64,
) -> Result<Option<RangeDeleted>, StoreError> {
    let name = domain.to_owned();
    let found = writer.run_blocking(move |conn| {
        let Some(site_id) = crate::imports::site_id_of(conn, &name)? else {
            return Ok(None);
        };
        Ok(Some((site_id, range_days(conn, site_id, from_ms, to_ms)?)))
    })?;
    let Some((site_id, days)) = found else {
        return Ok(None);
    };
    let mut total = RangeDeleted::default();
    for day in days {
        let step = move |conn: &Connection| delete_range_day(conn, site_id, day, (from_ms, to_ms));
        let deleted = if may_hold_open_visits(day, now_ms) {
            timed("range_day", || writer.rewrite_blocking(step))?
        } else {
            timed("range_day", || writer.run_maintenance_blocking(step))?
        };
        total.days += 1;
        total.visits += deleted.visits;
        total.events += deleted.events;
    }
    // Imported daily aggregates of the range's local days go too.
    writer.run_blocking(move |conn| {
        let tz = crate::rollups::site_zone(conn, site_id)?;
        let (first, last) = (tz.local_day(from_ms), tz.local_day(to_ms - 1));
        if crate::imported_daily::delete_days(conn, site_id, first, last)? > 0 {
            crate::rollups::bump_site_version(conn, site_id)?;
        }
        Ok(())
    })?;
    reclaim_blocking(writer)?;
    Ok(Some(total))
}

#[cfg(test)]
mod tests;
