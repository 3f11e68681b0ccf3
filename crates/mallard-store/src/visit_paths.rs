//! The lifecycle of day segments: when a closed day is packed, unpacked and
//! forgotten.
//!
//! Once a UTC day is closed (the newest visit of its site starts
//! [`PACK_AFTER_MS`] after its end, and every visit of the day ended a visit
//! timeout before that, so none of them is still open), the writer packs the
//! visits that start on it and all their events into a columnar day segment
//! in `day_segments` (the format is [`crate::day_segment`]), and deletes the
//! day's visits, events, properties and collector consents from the row
//! tables: a closed day is stored once (migration 013). `visit_days.max_end`
//! holds the latest end of the day's visits while it is packed.
//!
//! The writer does this in small steps within each write-behind's budget
//! ([`VisitPaths::step`], [`PACK_BUDGET`]), so that ingestion never waits
//! long: it reads the day's rows a slice of visit starts at a time
//! ([`READ_SLICE_MS`]; a batch that touches the day meanwhile makes it start
//! over), writes the segment in one step, lists the day in `packed_rows`,
//! and deletes the rows it replaced a slice of event time at a time
//! ([`DELETE_SLICE_MS`]). Until they are gone, readers read the day from its
//! segment only: the period's one source never reads rows of a packed day,
//! and the whole-site readers skip them
//! ([`crate::site_records::NOT_REPLACED`]). `mallard seed` and the tests pack
//! whole days at once ([`pack_closed_days`]).
//!
//! Late data is normal: when a batch adds an event to a visit of a packed
//! day, creates a visit on one or moves a visit's start across days, the
//! writer first restores the days concerned to rows from their segments
//! ([`VisitPaths::touch`], [`unpack_day`]) in the same transaction, and
//! packs them again later. Data retention deletes whole packed days once
//! all their visits ended before its cut-off, and restores the day it cuts
//! to rows ([`forget_before`]). Days packed in an earlier format (parts 0 to
//! 2 before migration 012, parts 0 to 9 before migration 013) kept their
//! rows: they read as unpacked and are packed again in the current format by
//! the same mechanism, newest first, within the write-behind's budget
//! ([`PACK_BUDGET`]), so that an upgraded database converts while the server
//! runs. Packing is part of the writer's transaction: a crash leaves a day
//! either packed (and its rows gone) or not.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, params};
use rustc_hash::FxHashMap;

use crate::day_segment::part;
use crate::error::StoreError;
use crate::visit_days::{DAY_MS, utc_day};
use crate::visit_record::{Columns, Take, VisitRecord};
use crate::visits::{VISIT_TIMEOUT_MS, Visit};

/// A day is packed once the newest visit of its site starts this long after
/// the day's end: twice the visit timeout, so that the visits still open at
/// midnight have ended (one that goes on unpacks the day again).
pub(crate) const PACK_AFTER_MS: i64 = 2 * VISIT_TIMEOUT_MS;
/// Days packed per write-behind at most, so that catching up after an
/// upgrade never holds a commit for long.
pub(crate) const DAYS_PER_WRITE: usize = 2;
/// A write-behind takes no further packing step once it has spent this long
/// packing (it takes one step at least): ingestion waits for the
/// write-behind's commit.
const PACK_BUDGET: Duration = Duration::from_millis(20);
/// How much of a day's visit starts one packing step reads: about 10 ms of
/// work at 40,000 events a day.
const READ_SLICE_MS: i64 = 2 * 60 * 60 * 1000;
/// How much event time of a packed day's replaced rows one step deletes.
const DELETE_SLICE_MS: i64 = 60 * 60 * 1000;

/// What the writer knows about packed days: per site, the latest packed day
/// (loaded when first needed, forgotten after maintenance jobs), and whether
/// closed days may be waiting to be packed (shared with the thread that asks
/// the writer to pack them while the server is idle, see
/// [`crate::writer`]).
#[derive(Debug)]
pub(crate) struct VisitPaths {
    latest_packed: Option<FxHashMap<i64, i64>>,
    backlog: Arc<AtomicBool>,
    /// Whether [`VisitPaths::pack_closed`] packs (see
    /// [`crate::writer::WriterOptions::pack_closed_days`]).
    packing: bool,
    /// The day being packed, read so far.
    staged: Option<Staged>,
    /// Whether the last look found no goal day to count and no rollup span
    /// to build: set until a day is packed or a job runs (only those make
    /// days ready to count, goals to count them for or spans to build), so
    /// that a write-behind does not look again for nothing.
    derived_done: bool,
    /// The rollup span being added up, a few days per step.
    span_build: Option<crate::rollup_spans::SpanBuild>,
    /// Where adding code indexes to older days goes on from.
    code_index_cursor: crate::derived_parts::FillCursor,
}

/// A closed day whose rows the writer is reading a slice at a time
/// ([`READ_SLICE_MS`] of visit starts per step), to pack them once all are
/// read. A batch that touches the day drops it ([`VisitPaths::touch`]).
#[derive(Debug)]
struct Staged {
    site: i64,
    day: i64,
    /// The first visit start not read yet.
    next_ms: i64,
    /// The visits read so far, in start order.
    visits: Vec<VisitRecord>,
}

/// What one step of packing did ([`VisitPaths::step`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Deleted a slice of the rows a packed day replaced.
    DeletedRows,
    /// Read a slice of a closed day's rows.
    ReadRows,
    /// Packed `(site, day)`.
    Packed(i64, i64),
    /// Nothing is left to do.
    Idle,
}

impl Default for VisitPaths {
    fn default() -> Self {
        Self {
            latest_packed: None,
            // Until a write-behind finds nothing to pack, there may be days
            // to pack (or to convert after an upgrade).
            backlog: Arc::new(AtomicBool::new(true)),
            packing: true,
            staged: None,
            derived_done: false,
            span_build: None,
            code_index_cursor: None,
        }
    }
}

impl VisitPaths {
    /// The state of a writer that loads: closed days may be waiting when
    /// some closed day is not packed or some packed day's replaced rows are
    /// still to be deleted (after an upgrade, or a stop in between), goal
    /// days when there are goals and rollup spans when there are rollups.
    pub(crate) fn loaded(conn: &Connection) -> Result<Self, StoreError> {
        let (replacing, derived): (bool, bool) = conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM packed_rows), EXISTS (SELECT 1 FROM goals) \
                 OR EXISTS (SELECT 1 FROM rollup_sites WHERE first_day IS NOT NULL)",
            )?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        let waiting = replacing || derived || !closed_days(conn, 1)?.is_empty();
        let paths = Self::default();
        paths.backlog.store(waiting, Ordering::Relaxed);
        Ok(paths)
    }

    fn latest_packed(&mut self, conn: &Connection) -> Result<&FxHashMap<i64, i64>, StoreError> {
        if self.latest_packed.is_none() {
            let mut stmt =
                conn.prepare_cached("SELECT site_id, max(day) FROM day_segments GROUP BY site_id")?;
            let latest = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            self.latest_packed = Some(latest);
        }
        Ok(self.latest_packed.get_or_insert_default())
    }

    /// Restores to rows the packed days that `visit`, as a batch just left
    /// it, changes: its start day, and with a moved start every day up to
    /// its end (the day it started on before is among them). Runs in the
    /// batch's transaction, before the batch writes the visit's row.
    pub(crate) fn touch(
        &mut self,
        conn: &Connection,
        visit: &Visit,
        start_moved: bool,
    ) -> Result<(), StoreError> {
        let first = utc_day(visit.start_ts);
        let last_touched = if start_moved {
            utc_day(visit.end_ts)
        } else {
            first
        };
        // The rows of a day being read changed: it is read again later.
        if self.staged.as_ref().is_some_and(|staged| {
            staged.site == visit.site_id && (first..=last_touched).contains(&staged.day)
        }) {
            self.staged = None;
        }
        let Some(&latest) = self.latest_packed(conn)?.get(&visit.site_id) else {
            return Ok(());
        };
        if first > latest {
            return Ok(());
        }
        let last = last_touched.min(latest);
        for day in first..=last {
            unpack_day(conn, visit.site_id, day)?;
        }
        Ok(())
    }

    /// Whether closed days may be waiting to be packed: set until a
    /// write-behind packs nothing.
    pub(crate) fn backlog(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.backlog)
    }

    /// Shares `backlog` (the flag of the state this one replaces), set.
    pub(crate) fn adopt_backlog(&mut self, backlog: Arc<AtomicBool>) {
        backlog.store(true, Ordering::Relaxed);
        self.backlog = backlog;
    }

    /// Drops what was read of the day being packed, which is read again
    /// from its start later (before a job that may change its rows), and
    /// has the write-behind look for work again (the job may add a goal
    /// whose days are to be counted).
    pub(crate) fn restart(&mut self) {
        self.staged = None;
        self.derived_done = false;
        self.code_index_cursor = None;
        self.backlog.store(true, Ordering::Relaxed);
    }

    /// Whether [`VisitPaths::pack_closed`] packs.
    pub(crate) fn set_packing(&mut self, enabled: bool) {
        self.packing = enabled;
    }

    /// Packs closed days in steps ([`VisitPaths::step`]) until [`PACK_BUDGET`]
    /// is spent or `limit` days are packed, unless packing is off: each step
    /// is small, so that a write-behind never holds up ingestion for long.
    /// Once no closed day is left, the steps add code indexes to days packed
    /// before they existed ([`crate::derived_parts::fill_step`]), count goal
    /// days ([`crate::goal_days::fill_step`]), build rollup spans
    /// ([`crate::rollup_spans::step`]), then re-encode the site sketches
    /// written deflated ([`crate::plain_sketches::fill_step`]).
    pub(crate) fn pack_closed(
        &mut self,
        conn: &Connection,
        limit: usize,
    ) -> Result<(), StoreError> {
        if !self.packing {
            self.backlog.store(false, Ordering::Relaxed);
            return Ok(());
        }
        let began = Instant::now();
        let mut packed = 0;
        let mut idle = false;
        while packed < limit && began.elapsed() < PACK_BUDGET {
            match self.step(conn)? {
                // With no closed day left to pack, older packed days get
                // their code indexes, the goal days of the packed ones are
                // counted, their rollup spans built, then the site sketches
                // of older databases re-encoded plain.
                Step::Idle => {
                    if self.derived_done
                        || !(crate::derived_parts::fill_step(conn, &mut self.code_index_cursor)?
                            || crate::goal_days::fill_step(conn)?
                            || crate::rollup_spans::step(conn, &mut self.span_build)?
                            || crate::plain_sketches::fill_step(conn)?)
                    {
                        self.derived_done = true;
                        idle = true;
                        break;
                    }
                }
                Step::Packed(..) => {
                    packed += 1;
                    self.derived_done = false;
                }
                Step::DeletedRows | Step::ReadRows => {}
            }
        }
        // The flag is only a hint for the idle ticker: a batch rolled back
        // after this leaves it set, which costs one more look.
        self.backlog.store(!idle, Ordering::Relaxed);
        Ok(())
    }

    /// Does one small step of packing: deletes a slice of the rows that a
    /// packed day replaced, else reads the next slice of the closed day
    /// being packed (choosing one first), packing it once all its rows are
    /// read. Runs in the caller's transaction.
    pub(crate) fn step(&mut self, conn: &Connection) -> Result<Step, StoreError> {
        if delete_replaced_slice(conn)? {
            return Ok(Step::DeletedRows);
        }
        if self.staged.is_none() {
            let Some((site, day)) = next_closed_day(conn)? else {
                return Ok(Step::Idle);
            };
            self.staged = Some(Staged {
                site,
                day,
                next_ms: day * DAY_MS,
                visits: Vec::new(),
            });
        }
        let Some(staged) = self.staged.as_mut() else {
            return Ok(Step::Idle);
        };
        let day_end = (staged.day + 1) * DAY_MS;
        if staged.next_ms < day_end {
            let to = (staged.next_ms + READ_SLICE_MS).min(day_end);
            // The reads follow each other in start order, as the segment
            // wants the day's visits.
            staged
                .visits
                .extend(rows_starting(conn, staged.site, staged.next_ms, to)?);
            staged.next_ms = to;
            return Ok(Step::ReadRows);
        }
        let Some(Staged {
            site, day, visits, ..
        }) = self.staged.take()
        else {
            return Ok(Step::Idle);
        };
        // Packed meanwhile by other means: what was read may be partial.
        let packed: bool = conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM day_segments WHERE site_id = ?1 AND day = ?2 \
                 AND part = ?3)",
            )?
            .query_row(params![site, day, part::MARKER], |r| r.get(0))?;
        if packed {
            return Ok(Step::ReadRows);
        }
        let max_end = write_segment(conn, site, day, &visits)?;
        conn.prepare_cached(
            "INSERT OR REPLACE INTO packed_rows (site_id, day, next_ts) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![site, day, day * DAY_MS])?;
        tracing::debug!(
            site_id = site,
            date = %crate::error::utc_date(day),
            visits = visits.len(),
            max_end,
            "packed a closed day; its rows are deleted behind"
        );
        if let Some(latest) = &mut self.latest_packed {
            let entry = latest.entry(site).or_insert(day);
            *entry = (*entry).max(day);
        }
        Ok(Step::Packed(site, day))
    }

    /// Forgets what was loaded (after a maintenance job, which may pack or
    /// delete packed days).
    pub(crate) fn forget(&mut self) {
        self.latest_packed = None;
        self.staged = None;
        self.derived_done = false;
        self.backlog.store(true, Ordering::Relaxed);
    }
}

/// Closed days of every site that are not packed in the current format,
/// newest first, at most `limit`, each with the start of its site's newest
/// visit.
fn closed_days(conn: &Connection, limit: usize) -> Result<Vec<(i64, i64, i64)>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT d.site_id, d.day, s.newest FROM visit_days d JOIN ( \
             SELECT n.site_id, v.start_ts AS newest FROM visit_days n \
             JOIN visits v ON v.id = n.max_id \
             WHERE n.day = (SELECT max(day) FROM visit_days m WHERE m.site_id = n.site_id)) s \
             ON s.site_id = d.site_id \
             WHERE (d.day + 1) * ?3 + ?1 <= s.newest AND NOT EXISTS (SELECT 1 \
             FROM day_segments p WHERE p.site_id = d.site_id AND p.day = d.day \
             AND p.part = ?4) \
             ORDER BY d.day DESC LIMIT ?2",
        )?
        .query_map(
            params![
                PACK_AFTER_MS,
                i64::try_from(limit).unwrap_or(i64::MAX),
                DAY_MS,
                part::MARKER
            ],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?
        .collect::<Result<_, _>>()?)
}

/// Whether every visit of `site` that starts on `day` ended a visit timeout
/// before `newest` (the start of the site's newest visit), so that none may
/// still grow; read from the visit rows alone, so that a day that has to
/// wait costs little to look at again.
fn settled(conn: &Connection, site: i64, day: i64, newest: i64) -> Result<bool, StoreError> {
    let latest_end: Option<i64> = conn
        .prepare_cached(
            "SELECT max(v.end_ts) FROM visit_days d JOIN visits v \
             ON v.id BETWEEN d.min_id AND d.max_id WHERE d.site_id = ?1 AND d.day = ?2 \
             AND v.site_id = ?1 AND v.start_ts >= ?3 AND v.start_ts < ?3 + 86400000",
        )?
        .query_row(params![site, day, day * DAY_MS], |r| r.get(0))?;
    Ok(latest_end.is_none_or(|end| end.saturating_add(VISIT_TIMEOUT_MS) <= newest))
}

/// The newest closed day that is ready to be packed, if any (the newest
/// closed days may have to wait, see [`settled`]).
fn next_closed_day(conn: &Connection) -> Result<Option<(i64, i64)>, StoreError> {
    for (site, day, newest) in closed_days(conn, 8)? {
        if settled(conn, site, day, newest)? {
            return Ok(Some((site, day)));
        }
    }
    Ok(None)
}

/// Packs every closed day that is ready and not packed in the current
/// format (up to `limit`), newest first, each in one go with its rows
/// deleted at once, in the caller's transaction, and returns them as
/// `(site, day)`. For `mallard seed` and tests; the writer packs in small
/// steps ([`VisitPaths::step`]). The writer's visit rows and day ranges
/// must be written.
pub(crate) fn pack_closed_days(
    conn: &Connection,
    limit: usize,
) -> Result<Vec<(i64, i64)>, StoreError> {
    let mut packed = Vec::new();
    for (site, day, newest) in closed_days(conn, limit.saturating_add(4))? {
        if packed.len() == limit {
            break;
        }
        if settled(conn, site, day, newest)? {
            let visits = day_rows(conn, site, day)?;
            write_segment(conn, site, day, &visits)?;
            delete_day_rows(conn, site, day, i64::MIN, i64::MAX, true)?;
            packed.push((site, day));
        }
    }
    Ok(packed)
}

/// Deletes the packed days that data retention reached, a few at a time in
/// the caller's transaction: a day whose visits all ended before `cutoff_ms`
/// goes whole; the day holding the cut-off, and a day with a visit that
/// reaches past it, are restored to rows, which retention then deletes by
/// time like the others. Segments of an earlier format up to the cut-off's
/// day go too (their rows go by time). Returns how many days were deleted
/// or restored: 0 once none is left.
pub(crate) fn forget_before(conn: &Connection, cutoff_ms: i64) -> Result<u64, StoreError> {
    let cutoff_day = utc_day(cutoff_ms);
    let days: Vec<(i64, i64, i64)> = conn
        .prepare_cached(
            "SELECT site_id, day, max_end FROM visit_days WHERE max_end IS NOT NULL \
             AND day <= ?1 ORDER BY day LIMIT 16",
        )?
        .query_map(params![cutoff_day], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<Result<_, _>>()?;
    let mut handled = 0u64;
    for (site, day, max_end) in days {
        if max_end < cutoff_ms && day < cutoff_day {
            discard_day(conn, site, day)?;
        } else {
            unpack_day(conn, site, day)?;
        }
        handled += 1;
    }
    conn.prepare_cached(
        "DELETE FROM day_segments WHERE day <= ?1 AND NOT EXISTS (SELECT 1 FROM day_segments m \
         WHERE m.site_id = day_segments.site_id AND m.day = day_segments.day AND m.part = ?2)",
    )?
    .execute(params![cutoff_day, part::MARKER])?;
    Ok(handled)
}

/// Deletes `site`'s `day` whole: its segment, the rows it replaced that are
/// still being deleted and its range (a damaged day, which cannot be read
/// back).
pub(crate) fn discard_day(conn: &Connection, site: i64, day: i64) -> Result<(), StoreError> {
    delete_day_rows(conn, site, day, i64::MIN, i64::MAX, true)?;
    forget_replaced_rows(conn, site, day)?;
    delete_segment(conn, site, day)?;
    conn.prepare_cached("DELETE FROM visit_days WHERE site_id = ?1 AND day = ?2")?
        .execute(params![site, day])?;
    Ok(())
}

/// Deletes the segment of `site`'s `day`, whatever its format.
fn delete_segment(conn: &Connection, site: i64, day: i64) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM day_segments WHERE site_id = ?1 AND day = ?2")?
        .execute(params![site, day])?;
    Ok(())
}

/// Writes `visits` (all those of `site` that start on UTC `day`, in start
/// order) as the day's segment, replacing what was packed for it in
/// whichever format, and records the latest end of its visits; returns it.
/// The rows stay: the caller deletes them.
pub(crate) fn write_segment(
    conn: &Connection,
    site: i64,
    day: i64,
    visits: &[VisitRecord],
) -> Result<i64, StoreError> {
    let from = day * DAY_MS;
    let max_end = visits.iter().map(|v| v.end_ts).max().unwrap_or(from);
    delete_segment(conn, site, day)?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO day_segments (site_id, day, part, data) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for (part, data) in crate::day_segment::encode(from, visits) {
        insert.execute(params![site, day, part, data])?;
    }
    conn.prepare_cached("UPDATE visit_days SET max_end = ?3 WHERE site_id = ?1 AND day = ?2")?
        .execute(params![site, day, max_end])?;
    Ok(max_end)
}

/// Deletes the properties, collector consents and events of the visits of
/// `site` that start on `day` whose time is in `[from_ts, to_ts]`, found in
/// that time range by visit, and with `and_visits` the visits too. The day's
/// range of visit ids is its `visit_days` row's.
fn delete_day_rows(
    conn: &Connection,
    site: i64,
    day: i64,
    from_ts: i64,
    to_ts: i64,
    and_visits: bool,
) -> Result<(), StoreError> {
    let range: Option<(i64, i64, Option<i64>)> = conn
        .prepare_cached(
            "SELECT min_id, max_id, max_end FROM visit_days WHERE site_id = ?1 AND day = ?2",
        )?
        .query_row(params![site, day], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    let Some((low, high, max_end)) = range else {
        return Ok(());
    };
    let from = day * DAY_MS;
    // The day's events lie between its first instant and its visits' latest
    // end (without one, anywhere after it).
    let (first, last) = (from_ts.max(from), to_ts.min(max_end.unwrap_or(i64::MAX)));
    // The day's visits: a range of ids holds them, among the visits of other
    // days created meanwhile.
    const DAY_VISITS: &str = "SELECT id FROM visits WHERE id BETWEEN ?4 AND ?5 \
        AND site_id = ?1 AND start_ts >= ?6 AND start_ts < ?6 + 86400000";
    let day_events = format!(
        "SELECT id FROM events WHERE site_id = ?1 AND ts >= ?2 AND ts <= ?3 \
         AND visit_id IN ({DAY_VISITS})"
    );
    if first <= last {
        for table in ["event_props", "collector_event_consent"] {
            conn.prepare_cached(&format!(
                "DELETE FROM {table} WHERE site_id = ?1 AND ts >= ?2 AND ts <= ?3 \
                 AND event_id IN ({day_events})"
            ))?
            .execute(params![site, first, last, low, high, from])?;
        }
        conn.prepare_cached(&format!(
            "DELETE FROM events WHERE site_id = ?1 AND ts >= ?2 AND ts <= ?3 \
             AND visit_id IN ({DAY_VISITS})"
        ))?
        .execute(params![site, first, last, low, high, from])?;
    }
    if and_visits {
        conn.prepare_cached(
            "DELETE FROM visits WHERE id BETWEEN ?2 AND ?3 AND site_id = ?1 \
             AND start_ts >= ?4 AND start_ts < ?4 + 86400000",
        )?
        .execute(params![site, low, high, from])?;
    }
    Ok(())
}

/// Deletes the next slice ([`DELETE_SLICE_MS`] of event time) of the rows
/// that a packed day listed in `packed_rows` replaced, and the day's visits
/// once its events are gone; returns whether a day was listed.
fn delete_replaced_slice(conn: &Connection) -> Result<bool, StoreError> {
    let listed: Option<(i64, i64, i64)> = conn
        .prepare_cached("SELECT site_id, day, next_ts FROM packed_rows LIMIT 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let Some((site, day, next_ts)) = listed else {
        return Ok(false);
    };
    let max_end: Option<i64> = conn
        .prepare_cached("SELECT max_end FROM visit_days WHERE site_id = ?1 AND day = ?2")?
        .query_row(params![site, day], |r| r.get(0))
        .optional()?
        .flatten();
    match max_end {
        Some(max_end) if next_ts <= max_end => {
            let to = next_ts.saturating_add(DELETE_SLICE_MS);
            delete_day_rows(conn, site, day, next_ts, to - 1, false)?;
            conn.prepare_cached(
                "UPDATE packed_rows SET next_ts = ?3 WHERE site_id = ?1 AND day = ?2",
            )?
            .execute(params![site, day, to])?;
        }
        _ => {
            // Every event is gone (or the day is no longer packed): the
            // visits go, and the day leaves the list.
            if max_end.is_some() {
                delete_day_rows(conn, site, day, i64::MAX, i64::MIN, true)?;
            }
            forget_replaced_rows(conn, site, day)?;
        }
    }
    Ok(true)
}

/// Takes `site`'s `day` off the list of days whose replaced rows are being
/// deleted.
fn forget_replaced_rows(conn: &Connection, site: i64, day: i64) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM packed_rows WHERE site_id = ?1 AND day = ?2")?
        .execute(params![site, day])?;
    Ok(())
}

/// The id a restored event takes: below every id the writer hands out
/// (from 1 up), unique per visit and place in it, and in the visit's order,
/// so that the rows read back in the segment's order.
fn restored_event_id(visit_id: i64, index: usize) -> i64 {
    i64::MIN
        .wrapping_add(visit_id.wrapping_shl(24))
        .wrapping_add(index as i64)
}

/// Restores the rows of `site`'s packed `day` from its segment and deletes
/// the segment, in the caller's transaction. A day packed in an earlier
/// format kept its rows: its segment just goes. A segment that does not
/// decode cannot be restored: it is logged and deleted, and the day's visits
/// are lost (the rollups keep its totals), so that a damaged day never
/// stops the ingestion of late events.
pub(crate) fn unpack_day(conn: &Connection, site: i64, day: i64) -> Result<(), StoreError> {
    // Rows the segment replaced that are still being deleted go first.
    let replacing: bool = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM packed_rows WHERE site_id = ?1 AND day = ?2)",
        )?
        .query_row(params![site, day], |r| r.get(0))?;
    if replacing {
        delete_day_rows(conn, site, day, i64::MIN, i64::MAX, true)?;
        forget_replaced_rows(conn, site, day)?;
    }
    let wanted = crate::day_segment::parts_for(Columns::ALL);
    match crate::segment_fold::load_parts(conn, site, day, wanted) {
        Ok(None) => {}
        Ok(Some(parts)) => {
            let mut visits = Vec::new();
            let mut record = VisitRecord::default();
            let decoded = crate::day_segment::decode(
                day * DAY_MS,
                &crate::day_segment::borrow_parts(&parts),
                Columns::ALL,
                (i64::MIN, i64::MAX),
                &mut record,
                &|_: &VisitRecord| Take::Events,
                None,
                |visit| visits.push(visit.clone()),
            );
            match decoded {
                Ok(()) => insert_rows(conn, site, &visits)?,
                Err(crate::day_segment::Damaged) => lose_damaged_day(site, day),
            }
        }
        Err(StoreError::DamagedSegment { .. }) => lose_damaged_day(site, day),
        Err(other) => return Err(other),
    }
    delete_segment(conn, site, day)?;
    conn.prepare_cached("UPDATE visit_days SET max_end = NULL WHERE site_id = ?1 AND day = ?2")?
        .execute(params![site, day])?;
    Ok(())
}

/// Logs that the damaged segment of `site`'s `day` is dropped.
fn lose_damaged_day(site_id: i64, day: i64) {
    tracing::error!(
        site_id,
        date = %crate::error::utc_date(day),
        "a damaged day segment could not be restored to rows; its visits are dropped (the \
         rollups keep the day's totals)"
    );
}

/// Writes `visits` of `site` (with all their columns) back as rows.
fn insert_rows(conn: &Connection, site: i64, visits: &[VisitRecord]) -> Result<(), StoreError> {
    let pageview = crate::rollup_rebuild::pageview_name_id(conn)?;
    let mut insert_event = conn.prepare_cached(
        "INSERT INTO events (site_id, ts, id, visit_id, name, hostname, pathname, \
         revenue_micros, currency) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    let mut insert_prop = conn.prepare_cached(
        "INSERT INTO event_props (site_id, ts, event_id, key, value) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    let mut insert_consent = conn.prepare_cached(
        "INSERT INTO collector_event_consent (site_id, ts, event_id, consent_id) \
         VALUES (?1, ?2, ?3, ?4)",
    )?;
    for visit in visits {
        crate::visit_rows::insert_visit(
            conn,
            &Visit {
                id: visit.id,
                site_id: site,
                visitor_id: visit.visitor_id,
                start_ts: visit.start_ts,
                end_ts: visit.end_ts,
                pageviews: visit.pageviews,
                events: visit.events_count,
                entry_page: visit.entry_page,
                exit_page: visit.exit_page,
                attributes: visit.attrs,
            },
        )?;
        for (index, event) in visit.events.iter().enumerate() {
            let id = restored_event_id(visit.id, index);
            let (name, pathname) = if event.pageview {
                // A page view was stored, so the name was.
                let name = pageview.ok_or(StoreError::DamagedSegment {
                    site_id: site,
                    day: utc_day(visit.start_ts),
                })?;
                (name, event.code)
            } else {
                (event.code, event.pathname)
            };
            insert_event.execute(params![
                site,
                event.ts,
                id,
                visit.id,
                name,
                event.hostname,
                pathname,
                event.revenue_micros,
                event.currency
            ])?;
            for &(key, value) in visit.props_of(event) {
                insert_prop.execute(params![site, event.ts, id, key, value])?;
            }
            if let Some(consent) = event.consent {
                insert_consent.execute(params![site, event.ts, id, consent])?;
            }
        }
    }
    Ok(())
}

/// The visits of `site` that start on UTC `day` with all their events,
/// read from the rows ([`rows_starting`]).
fn day_rows(conn: &Connection, site: i64, day: i64) -> Result<Vec<VisitRecord>, StoreError> {
    rows_starting(conn, site, day * DAY_MS, (day + 1) * DAY_MS)
}

/// The visits of `site` that start in `[from_ms, to_ms)` with all their
/// events, read from the rows ([`crate::visit_rows`]): visits in start
/// order (ties by id; the rows come in that order only a slice at a time),
/// events in time order (ties by event id), properties sorted by key.
fn rows_starting(
    conn: &Connection,
    site: i64,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<VisitRecord>, StoreError> {
    let folds = crate::visit_rows::fold_records(
        conn,
        site,
        from_ms,
        to_ms,
        Columns::ALL,
        &|_: &VisitRecord| Take::Events,
        Vec::new,
        |visits: &mut Vec<VisitRecord>, visit| visits.push(visit.clone()),
    )?;
    let mut visits: Vec<VisitRecord> = folds.into_iter().flatten().collect();
    visits.sort_unstable_by_key(|visit| (visit.start_ts, visit.id));
    Ok(visits)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::segment_fold::{PackedCodes, Parts, Starts, fold};
    use crate::varint::put_varint;

    pub(crate) const SITE: i64 = 1;

    /// A test visit: id, start, visitor and its events as `(ts, path or name
    /// id, is page view)`.
    pub(crate) type TestVisit<'a> = (i64, i64, i64, &'a [(i64, i64, bool)]);

    /// A database holding the `pageview` name (id 0 in new databases), one
    /// custom event name (id 2) and the given visits.
    pub(crate) fn database_with(visits: &[TestVisit<'_>]) -> Connection {
        let conn = crate::schema::migrated_in_memory();
        conn.execute_batch("INSERT INTO dims (id, kind, value) VALUES (2, 1, 'Signup')")
            .unwrap();
        assert_eq!(
            crate::rollup_rebuild::pageview_name_id(&conn).unwrap(),
            Some(0)
        );
        let mut event_id = 0;
        for &(id, start_ts, visitor, events) in visits {
            let end_ts = events.iter().map(|e| e.0).max().unwrap_or(start_ts);
            conn.execute(
                "INSERT INTO visits (id, site_id, visitor_id, start_ts, end_ts, pageviews, \
                 events, device) VALUES (?1, ?2, ?3, ?4, ?5, 1, 1, 0)",
                params![id, SITE, visitor, start_ts, end_ts],
            )
            .unwrap();
            for &(ts, target, pageview) in events {
                event_id += 1;
                let (name, path) = if pageview { (0, target) } else { (target, 0) };
                conn.execute(
                    "INSERT INTO events (site_id, ts, id, visit_id, name, hostname, pathname) \
                     VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6)",
                    params![SITE, ts, event_id, id, name, path],
                )
                .unwrap();
            }
        }
        crate::visit_days::recover(&conn).unwrap();
        conn
    }

    /// The rows of the visits of [`SITE`] that start on UTC `day`, as packed.
    pub(crate) fn rows_of_day(conn: &Connection, day: i64) -> Vec<VisitRecord> {
        day_rows(conn, SITE, day).unwrap()
    }

    /// A visit as the behavioural fold hands it over: start, visitor, codes.
    type SeenVisit = (i64, i64, Vec<u64>);

    /// Every visit of `site` that starts in `[from_ms, to_ms)` on a packed
    /// day (through [`fold`]) as (start, visitor, codes) in start order, and
    /// the instant from which the visits are not packed.
    fn read(
        conn: &Connection,
        site: i64,
        from_ms: i64,
        to_ms: i64,
        parts: Parts,
    ) -> Result<(Vec<SeenVisit>, i64), StoreError> {
        let (folds, rest) = fold(
            conn,
            site,
            from_ms,
            to_ms,
            parts,
            Vec::new,
            |seen, v| {
                let codes = v
                    .codes
                    .expect("a fold without a gate reads every visit's codes");
                seen.push((v.start_ts, v.visitor_id, codes.collect::<Vec<u64>>()));
            },
            Ok,
        )?;
        let mut seen: Vec<_> = folds.into_iter().flatten().collect();
        seen.sort();
        Ok((seen, rest))
    }

    /// Every packed visit of `[from, to)` as (start, visitor, codes), and
    /// where the rows take over.
    fn read_all(conn: &Connection, from: i64, to: i64) -> (Vec<SeenVisit>, i64) {
        let parts = Parts {
            starts: Starts::All,
            steps: true,
            visitors: true,
            min_steps: 0,
            gate: None,
            screen: &[],
        };
        read(conn, SITE, from, to, parts).unwrap()
    }

    #[test]
    fn packed_days_read_back_as_their_rows_in_start_order() {
        let d = 10 * DAY_MS;
        let conn = database_with(&[
            // Created first, starts later; crosses midnight into day 11.
            (
                1,
                d + 5_500,
                -7,
                &[(d + 5_500, 3, true), (d + DAY_MS + 10, 2, false)],
            ),
            (
                2,
                d + 1_000,
                1 << 40,
                &[(d + 1_000, 4, true), (d + 1_000, 5, true)],
            ),
            (3, d + DAY_MS + 1, 9, &[(d + DAY_MS + 1, 3, true)]),
            (4, d + 3 * DAY_MS, 9, &[(d + 3 * DAY_MS, 3, true)]),
        ]);
        // Day 13 is the newest: days 10 and 11 are closed, 12 has no visits.
        let packed = pack_closed_days(&conn, usize::MAX).unwrap();
        assert_eq!(packed, vec![(SITE, 11), (SITE, 10)]);
        let (seen, rest) = read_all(&conn, d, d + 3 * DAY_MS);
        assert_eq!(
            seen,
            vec![
                (d + 1_000, 1 << 40, vec![4 << 1, 5 << 1]),
                // Start times are exact to the millisecond.
                (d + 5_500, -7, vec![3 << 1, (2 << 1) | 1]),
                (d + DAY_MS + 1, 9, vec![3 << 1]),
            ]
        );
        assert_eq!(rest, d + 3 * DAY_MS, "every day with visits is packed");
        // Visits with fewer steps than asked for are skipped.
        let parts = Parts {
            starts: Starts::All,
            steps: true,
            visitors: true,
            min_steps: 2,
            gate: None,
            screen: &[],
        };
        let (long, _) = read(&conn, SITE, d, d + 3 * DAY_MS, parts).unwrap();
        let long: Vec<i64> = long.iter().map(|v| v.1).collect();
        assert_eq!(long, vec![1 << 40, -7]);
        // Without start times whole days read the same visits, each at its
        // day's start; a day cut by the bounds still reads its start times.
        let parts = Parts {
            starts: Starts::None,
            min_steps: 0,
            ..parts
        };
        let (whole, rest) = read(&conn, SITE, d, d + 3 * DAY_MS, parts).unwrap();
        assert_eq!(rest, d + 3 * DAY_MS);
        assert_eq!(
            whole,
            vec![
                (d, -7, vec![3 << 1, (2 << 1) | 1]),
                (d, 1 << 40, vec![4 << 1, 5 << 1]),
                (d + DAY_MS, 9, vec![3 << 1]),
            ]
        );
        let (cut, _) = read(&conn, SITE, d + 2_000, d + DAY_MS, parts).unwrap();
        let cut: Vec<i64> = cut.iter().map(|v| v.0).collect();
        assert_eq!(cut, vec![d + 5_500]);
        // A gate passes over the visits without its `holding` codes, and
        // hands over without codes those without its `steps_for`...
        let (holding, steps_for) = ([3 << 1], [(2 << 1) | 1]);
        let gate = crate::segment_fold::CodeGate {
            holding: &holding,
            steps_for: &steps_for,
        };
        let gated = |conn: &Connection| {
            let parts = Parts {
                gate: Some(gate),
                ..parts
            };
            let (folds, _) = fold(
                conn,
                SITE,
                d,
                d + 3 * DAY_MS,
                parts,
                Vec::new,
                |seen, v| {
                    seen.push((v.visitor_id, v.codes.map(|c| c.collect::<Vec<u64>>())));
                },
                Ok,
            )
            .unwrap();
            let mut seen: Vec<_> = folds.into_iter().flatten().collect();
            seen.sort();
            seen
        };
        assert_eq!(
            gated(&conn),
            vec![(-7, Some(vec![3 << 1, (2 << 1) | 1])), (9, None)]
        );
        // ...on the days with a code index: the others read every visit.
        conn.execute(
            "DELETE FROM day_segments WHERE day = 11 AND part = ?1",
            [part::CODE_VISITS],
        )
        .unwrap();
        assert_eq!(
            gated(&conn),
            vec![
                (-7, Some(vec![3 << 1, (2 << 1) | 1])),
                (9, Some(vec![3 << 1]))
            ]
        );
        // Bounds inside a day keep the visits that start within them.
        let (seen, _) = read_all(&conn, d + 2_000, d + DAY_MS);
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].1, -7);
        // Day 13 is not packed: the rows take over from its first instant.
        let (seen, rest) = read_all(&conn, d + DAY_MS, d + 4 * DAY_MS);
        assert_eq!(seen.len(), 1);
        assert_eq!(rest, d + 3 * DAY_MS);
        assert!(pack_closed_days(&conn, usize::MAX).unwrap().is_empty());
    }

    /// The stored bytes of one part.
    fn stored_part(conn: &Connection, day: i64, part: i64) -> Vec<u8> {
        conn.query_row(
            "SELECT data FROM day_segments WHERE site_id = ?1 AND day = ?2 AND part = ?3",
            params![SITE, day, part],
            |r| r.get(0),
        )
        .unwrap()
    }

    #[test]
    fn steps_are_a_format_byte_then_each_visits_codes_then_a_checksum() {
        let d = 10 * DAY_MS;
        let conn = database_with(&[
            (
                1,
                d,
                1,
                &[(d, 4, true), (d + 1, 300, true), (d + 2, 2, false)],
            ),
            (2, d + 10, 2, &[(d + 10, 300, true)]),
            (3, d + 3 * DAY_MS, 1, &[(d + 3 * DAY_MS, 4, true)]),
        ]);
        pack_closed_days(&conn, usize::MAX).unwrap();
        let steps = stored_part(&conn, 10, part::STEPS);
        let (code_4, code_300, code_2) = (4 << 1, 300 << 1, (2 << 1) | 1);
        // 600 takes two bytes; so does a code from 16,384 on three.
        let mut expected = vec![crate::day_segment::STEPS_FORMAT, 4, code_4 as u8];
        put_varint(&mut expected, code_300);
        expected.extend([code_2 as u8, 2]);
        put_varint(&mut expected, code_300);
        let crc = crc32fast::hash(&expected);
        expected.extend(crc.to_le_bytes());
        assert_eq!(steps, expected);
        let mut three = Vec::new();
        put_varint(&mut three, 1 << 14);
        assert_eq!(PackedCodes(&three).collect::<Vec<_>>(), vec![1 << 14]);
        let (seen, _) = read_all(&conn, d, d + DAY_MS);
        assert_eq!(seen[0].2, vec![code_4, code_300, code_2]);
        assert_eq!(seen[1].2, vec![code_300]);
        let parts = Parts {
            starts: Starts::None,
            steps: true,
            visitors: false,
            min_steps: 0,
            gate: None,
            screen: &[],
        };
        // A part of another format, or one whose bytes changed, is damaged:
        // the error names the site and the day.
        let mut other = expected[..expected.len() - 4].to_vec();
        other[0] = 2;
        for damaged in [crate::day_segment::seal(other), {
            let mut flipped = expected.clone();
            flipped[2] ^= 0x10;
            flipped
        }] {
            conn.execute(
                "UPDATE day_segments SET data = ?1 WHERE day = 10 AND part = ?2",
                params![damaged, part::STEPS],
            )
            .unwrap();
            match read(&conn, SITE, d, d + DAY_MS, parts) {
                Err(
                    err @ StoreError::DamagedSegment {
                        site_id: SITE,
                        day: 10,
                    },
                ) => {
                    assert!(err.to_string().contains("1970-01-11"), "{err}");
                }
                other => panic!("{other:?}"),
            }
        }
        // A query that does not read the damaged part is not concerned.
        let visitors = Parts {
            starts: Starts::All,
            steps: false,
            visitors: true,
            min_steps: 0,
            gate: None,
            screen: &[],
        };
        assert_eq!(
            read(&conn, SITE, d, d + DAY_MS, visitors).unwrap().0.len(),
            2
        );
    }

    proptest::proptest! {
        #[test]
        fn codes_decode_alike_one_by_one_and_folded(
            codes in proptest::collection::vec(
                proptest::prop_oneof![0u64..128, 128u64..16_384, proptest::arbitrary::any::<u64>()],
                0..40,
            ),
        ) {
            let mut bytes = Vec::new();
            for &code in &codes {
                put_varint(&mut bytes, code);
            }
            // A `for` loop calls `next`.
            let mut one_by_one = Vec::new();
            for code in PackedCodes(&bytes) {
                one_by_one.push(code);
            }
            let folded = PackedCodes(&bytes).fold(Vec::new(), |mut all, code| {
                all.push(code);
                all
            });
            proptest::prop_assert_eq!(&one_by_one, &codes);
            proptest::prop_assert_eq!(folded, codes);
        }
    }

    #[test]
    fn a_changed_visit_unpacks_its_days() {
        let d = 10 * DAY_MS;
        let packed_days = |conn: &Connection| -> Vec<i64> {
            conn.prepare("SELECT DISTINCT day FROM day_segments ORDER BY day")
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        let visit = |start_ts: i64, end_ts: i64| Visit {
            id: 1,
            site_id: SITE,
            visitor_id: 1,
            start_ts,
            end_ts,
            pageviews: 1,
            events: 1,
            entry_page: None,
            exit_page: None,
            attributes: crate::visits::VisitAttributes::default(),
        };
        for (start_moved, left) in [(false, vec![11, 12]), (true, vec![12])] {
            let conn = database_with(&[
                (1, d, 1, &[(d, 3, true)]),
                (2, d + DAY_MS, 1, &[(d + DAY_MS, 3, true)]),
                (3, d + 2 * DAY_MS, 1, &[(d + 2 * DAY_MS, 3, true)]),
                (4, d + 4 * DAY_MS, 1, &[(d + 4 * DAY_MS, 3, true)]),
            ]);
            pack_closed_days(&conn, usize::MAX).unwrap();
            assert_eq!(packed_days(&conn), vec![10, 11, 12]);
            let mut paths = VisitPaths::default();
            // A visit of day 10 that reaches into day 11; with a moved start
            // it may have started on day 11 before, so both days go.
            paths
                .touch(&conn, &visit(d + 5, d + DAY_MS + 5), start_moved)
                .unwrap();
            assert_eq!(packed_days(&conn), left, "start moved: {start_moved}");
            // Visits after the latest packed day change nothing.
            paths
                .touch(&conn, &visit(d + 4 * DAY_MS, d + 4 * DAY_MS), true)
                .unwrap();
            assert_eq!(packed_days(&conn), left);
        }
    }

    #[test]
    fn a_day_with_a_visit_that_may_still_grow_waits() {
        let d = 10 * DAY_MS;
        let minute = 60_000;
        for (newest, packed) in [
            // Day 11 starts an hour after day 10 ends, but visit 1 ended less
            // than a visit timeout before it: an event may still join it.
            (d + DAY_MS + 61 * minute, false),
            (d + DAY_MS + 71 * minute, true),
        ] {
            let conn = database_with(&[
                (
                    1,
                    d + 1_000,
                    1,
                    &[(d + 1_000, 3, true), (d + DAY_MS + 40 * minute, 3, true)],
                ),
                (2, newest, 2, &[(newest, 3, true)]),
            ]);
            let done = pack_closed_days(&conn, usize::MAX).unwrap();
            assert_eq!(done == vec![(SITE, 10)], packed, "newest visit at {newest}");
        }
    }

    #[test]
    fn retention_deletes_packed_days_whole_and_restores_the_day_it_cuts() {
        let d = 10 * DAY_MS;
        let conn = database_with(&[
            // Day 10: one visit reaching into day 11, one that ends at once.
            (1, d, 1, &[(d, 3, true), (d + DAY_MS + 10, 3, true)]),
            (2, d + 1_000, 2, &[(d + 1_000, 3, true)]),
            // Day 11, before and after the cut-off.
            (3, d + DAY_MS + 1, 3, &[(d + DAY_MS + 1, 3, true)]),
            (5, d + DAY_MS + 20, 5, &[(d + DAY_MS + 20, 3, true)]),
            // Day 9: wholly before the cut-off.
            (6, d - DAY_MS, 6, &[(d - DAY_MS, 3, true)]),
            (4, d + 4 * DAY_MS, 4, &[(d + 4 * DAY_MS, 3, true)]),
        ]);
        conn.execute(
            "INSERT INTO sites (id, domain, created_at) VALUES (?1, 'a.test', 0)",
            params![SITE],
        )
        .unwrap();
        assert_eq!(pack_closed_days(&conn, usize::MAX).unwrap().len(), 3);
        let cutoff = d + DAY_MS + 5;
        let mut calls = 0;
        while crate::retention::delete_oldest_chunk(&conn, cutoff).unwrap() > 0 {
            calls += 1;
            assert!(calls < 20);
        }
        // Visits that started before the cut-off and ended after it stay, with
        // their events after it; the others before it go, as with rows.
        let visits: Vec<i64> = conn
            .prepare("SELECT id FROM visits ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(visits, vec![1, 4, 5]);
        let events: Vec<i64> = conn
            .prepare("SELECT ts FROM events ORDER BY ts")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            events,
            vec![d + DAY_MS + 10, d + DAY_MS + 20, d + 4 * DAY_MS]
        );
        let days: Vec<i64> = conn
            .prepare("SELECT DISTINCT day FROM day_segments")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            days.is_empty(),
            "no segment up to the cut-off's day is left"
        );
        let ranges: Vec<i64> = conn
            .prepare("SELECT day FROM visit_days ORDER BY day")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(!ranges.contains(&9), "the day deleted whole is forgotten");
    }

    #[test]
    fn new_visits_never_take_the_ids_of_packed_ones() {
        let d = 10 * DAY_MS;
        let conn = database_with(&[
            (1, d + 4 * DAY_MS, 1, &[(d + 4 * DAY_MS, 3, true)]),
            // Created last, with a start in the past: the highest id is on a
            // day that gets packed.
            (9, d, 2, &[(d, 3, true)]),
        ]);
        pack_closed_days(&conn, usize::MAX).unwrap();
        let left: i64 = conn
            .query_row("SELECT max(id) FROM visits", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 1, "visit 9's row is packed away");
        let mut state = crate::insert::WriterState::load(&conn, d + 5 * DAY_MS).unwrap();
        let event = mallard_core::NewEvent {
            site: mallard_core::SiteId::parse("late.example").unwrap(),
            timestamp_ms: d + 5 * DAY_MS,
            visitor: mallard_core::VisitorId(5),
            name: mallard_core::EventName::parse(mallard_core::EventName::PAGEVIEW).unwrap(),
            hostname: "late.example".to_owned(),
            pathname: "/".to_owned(),
            props: Vec::new(),
            revenue: None,
            session: mallard_core::SessionAttributes::default(),
            collector: None,
        };
        state.insert(&conn, &[event]).unwrap();
        let newest: i64 = conn
            .query_row("SELECT max(id) FROM visits", [], |r| r.get(0))
            .unwrap();
        assert_eq!(newest, 10);
    }

    /// Visits on days 10 (two) and 13, and the packer one step into
    /// reading day 10.
    fn day_10_read_in_part() -> (Connection, VisitPaths) {
        let d = 10 * DAY_MS;
        let conn = database_with(&[
            (1, d + 1_000, 1, &[(d + 1_000, 3, true)]),
            (2, d + DAY_MS / 2, 2, &[(d + DAY_MS / 2, 3, true)]),
            (3, d + 3 * DAY_MS, 3, &[(d + 3 * DAY_MS, 3, true)]),
        ]);
        let mut paths = VisitPaths::default();
        assert_eq!(paths.step(&conn).unwrap(), Step::ReadRows);
        (conn, paths)
    }

    #[test]
    fn a_batch_that_touches_the_day_being_read_makes_it_start_over() {
        let d = 10 * DAY_MS;
        let (conn, mut paths) = day_10_read_in_part();
        assert!(paths.staged.as_ref().is_some_and(|s| s.day == 10));
        // A visit of another day changes nothing; one of day 10 drops what
        // was read.
        let visit = |start_ts: i64| Visit {
            id: 9,
            site_id: SITE,
            visitor_id: 1,
            start_ts,
            end_ts: start_ts,
            pageviews: 1,
            events: 1,
            entry_page: None,
            exit_page: None,
            attributes: crate::visits::VisitAttributes::default(),
        };
        paths.touch(&conn, &visit(d + 3 * DAY_MS), false).unwrap();
        assert!(paths.staged.is_some());
        paths.touch(&conn, &visit(d + 5), false).unwrap();
        assert!(paths.staged.is_none());
        let mut steps = Vec::new();
        loop {
            let step = paths.step(&conn).unwrap();
            if step == Step::Idle {
                break;
            }
            steps.push(step);
        }
        let reads = steps.iter().filter(|s| **s == Step::ReadRows).count() as i64;
        assert_eq!(
            reads,
            DAY_MS / READ_SLICE_MS,
            "the day is read again from its start"
        );
        assert!(steps.contains(&Step::Packed(SITE, 10)));
    }

    #[test]
    fn a_day_packed_by_other_means_while_it_is_read_is_not_packed_again_from_a_part() {
        let (conn, mut paths) = day_10_read_in_part();
        // A maintenance job packs the day whole and deletes its rows.
        assert_eq!(
            pack_closed_days(&conn, usize::MAX).unwrap(),
            vec![(SITE, 10)]
        );
        let whole: Vec<Vec<u8>> = conn
            .prepare("SELECT data FROM day_segments WHERE day = 10 ORDER BY part")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        while paths.step(&conn).unwrap() != Step::Idle {}
        let after: Vec<Vec<u8>> = conn
            .prepare("SELECT data FROM day_segments WHERE day = 10 ORDER BY part")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(after, whole, "the segment holds both visits still");
    }
}
