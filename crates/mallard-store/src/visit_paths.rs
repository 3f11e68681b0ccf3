//! The paths of closed days' visits, packed for the behavioural queries.
//!
//! Funnels (and, later, flows, sequences and retention) are about the order of
//! events within visits, which no rollup keeps. Read from the rows, they cost
//! a scan of the period's visits and events: about a third of a second for 30
//! days of a site with 10 million events a year. So once a UTC day is closed
//! (the newest visit of its site starts [`PACK_AFTER_MS`] after its end), the
//! writer packs the visits that start on it into three blobs in `visit_paths`
//! (migration 009), a few days per write-behind:
//!
//! - part [`part::STARTS`]: `varint(visit count)`, then for each visit, in
//!   start order, `varint(start second - previous start second)` (the first
//!   counted from the day's start);
//! - part [`part::STEPS`]: the format byte [`STEPS_FORMAT`], then for each
//!   visit `varint(byte length)` and one `varint(code)` per event in time
//!   order (ties by event id), the code being `path id << 1` for a page view
//!   and `event name id << 1 | 1` otherwise (the length lets a reader hand a
//!   visit's codes over undecoded, or skip it). A dictionary of each day's
//!   codes, most frequent first, was tried: with the spread of pages of a
//!   real site it saved 2% of the bytes and cost 10% more work to read;
//! - part [`part::VISITORS`]: one byte `w` (6 or 8), then each visitor id in
//!   `w` little-endian bytes.
//!
//! About 5 bytes per event in all. Start seconds suffice: queries select
//! visits by local-day bounds, which are whole seconds. Event times are not
//! kept, so a funnel with a window reads the rows.
//!
//! A packed day always equals its rows: when a batch adds an event to a visit
//! of a packed day, creates a visit on one or moves a visit's start across
//! days, the writer deletes the days concerned in the same transaction
//! ([`VisitPaths::touch`]), and they are packed again later. Data retention
//! deletes the days it reaches. A query reads the packed days of its period
//! in order up to the first day that is not packed, and the rows from there
//! on ([`fold`]).

use std::sync::atomic::{AtomicUsize, Ordering};

use rusqlite::{Connection, OptionalExtension, params};
use rustc_hash::FxHashMap;

use crate::error::StoreError;
use crate::varint::{get_varint, put_varint};
use crate::visit_days::{DAY_MS, DayRange, day_ranges, utc_day};
use crate::visits::Visit;

/// A day is packed once the newest visit of its site starts this long after
/// the day's end: twice the visit timeout, so that the visits still open at
/// midnight have ended (one that goes on unpacks the day again).
const PACK_AFTER_MS: i64 = 2 * crate::visits::VISIT_TIMEOUT_MS;
/// Days packed per write-behind at most, so that catching up after an
/// upgrade never holds a commit for long.
pub(crate) const DAYS_PER_WRITE: usize = 2;

/// The first byte of a steps part: the layout described above. A part that
/// starts otherwise cannot be read (format 1 had a dictionary).
const STEPS_FORMAT: u8 = 2;

/// The parts of a packed day.
pub(crate) mod part {
    /// Start seconds.
    pub(crate) const STARTS: i64 = 0;
    /// Event codes per visit.
    pub(crate) const STEPS: i64 = 1;
    /// Visitor ids.
    pub(crate) const VISITORS: i64 = 2;
}

fn corrupt() -> StoreError {
    StoreError::InvalidData("a packed day of visit paths cannot be decoded".into())
}

/// The code of a page view of path `id` (`pageview`), else of a custom event
/// of name `id`.
pub(crate) fn step_code(id: i64, pageview: bool) -> u64 {
    ((id as u64) << 1) | u64::from(!pageview)
}

/// The code of a stored event.
fn event_code(name: i64, pathname: i64, pageview: Option<i64>) -> u64 {
    if Some(name) == pageview {
        step_code(pathname, true)
    } else {
        step_code(name, false)
    }
}

/// What the writer knows about packed days: per site, the latest packed day
/// (loaded when first needed, forgotten after maintenance jobs).
#[derive(Debug, Default)]
pub(crate) struct VisitPaths {
    latest_packed: Option<FxHashMap<i64, i64>>,
}

impl VisitPaths {
    fn latest_packed(&mut self, conn: &Connection) -> Result<&FxHashMap<i64, i64>, StoreError> {
        if self.latest_packed.is_none() {
            let mut stmt =
                conn.prepare_cached("SELECT site_id, max(day) FROM visit_paths GROUP BY site_id")?;
            let latest = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            self.latest_packed = Some(latest);
        }
        Ok(self.latest_packed.get_or_insert_default())
    }

    /// Unpacks the days whose packed paths `visit`, as a batch just left it,
    /// no longer matches: its start day, and with a moved start every day up
    /// to its end (the day it started on before is among them). Runs in the
    /// batch's transaction.
    pub(crate) fn touch(
        &mut self,
        conn: &Connection,
        visit: &Visit,
        start_moved: bool,
    ) -> Result<(), StoreError> {
        let Some(&latest) = self.latest_packed(conn)?.get(&visit.site_id) else {
            return Ok(());
        };
        let first = utc_day(visit.start_ts);
        if first > latest {
            return Ok(());
        }
        let last = if start_moved {
            utc_day(visit.end_ts).min(latest)
        } else {
            first
        };
        let mut delete =
            conn.prepare_cached("DELETE FROM visit_paths WHERE site_id = ?1 AND day = ?2")?;
        for day in first..=last {
            delete.execute(params![visit.site_id, day])?;
        }
        Ok(())
    }

    /// Packs up to `limit` closed days, newest first (see [`pack_closed_days`]).
    pub(crate) fn pack_closed(
        &mut self,
        conn: &Connection,
        limit: usize,
    ) -> Result<(), StoreError> {
        for (site, day) in pack_closed_days(conn, limit)? {
            if let Some(latest) = &mut self.latest_packed {
                let entry = latest.entry(site).or_insert(day);
                *entry = (*entry).max(day);
            }
        }
        Ok(())
    }

    /// Forgets what was loaded (after a maintenance job, which may pack).
    pub(crate) fn forget(&mut self) {
        self.latest_packed = None;
    }
}

/// Packs up to `limit` closed days that are not packed, newest first, in the
/// caller's transaction, and returns them as `(site, day)`. The writer's
/// visit rows and day ranges must be written (it packs after writing them).
pub(crate) fn pack_closed_days(
    conn: &Connection,
    limit: usize,
) -> Result<Vec<(i64, i64)>, StoreError> {
    let days: Vec<(i64, i64)> = conn
        .prepare_cached(
            "SELECT d.site_id, d.day FROM visit_days d JOIN ( \
             SELECT n.site_id, v.start_ts AS newest FROM visit_days n \
             JOIN visits v ON v.id = n.max_id \
             WHERE n.day = (SELECT max(day) FROM visit_days m WHERE m.site_id = n.site_id)) s \
             ON s.site_id = d.site_id \
             WHERE (d.day + 1) * ?3 + ?1 <= s.newest AND NOT EXISTS (SELECT 1 \
             FROM visit_paths p WHERE p.site_id = d.site_id AND p.day = d.day AND p.part = 0) \
             ORDER BY d.day DESC LIMIT ?2",
        )?
        .query_map(
            params![
                PACK_AFTER_MS,
                i64::try_from(limit).unwrap_or(i64::MAX),
                DAY_MS
            ],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?
        .collect::<Result<_, _>>()?;
    for &(site, day) in &days {
        pack_day(conn, site, day)?;
    }
    Ok(days)
}

/// Deletes the packed days that data retention reached: every day up to the
/// one holding the cut-off (its visits before the cut-off are gone, the
/// others are packed again later).
pub(crate) fn forget_through(conn: &Connection, cutoff_ms: i64) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM visit_paths WHERE day <= ?1")?
        .execute(params![utc_day(cutoff_ms)])?;
    Ok(())
}

/// One visit as it is packed.
struct PackVisit {
    id: i64,
    start_ts: i64,
    visitor_id: i64,
    codes: Vec<u64>,
}

/// Packs the visits of `site` that start on UTC `day`, replacing what was
/// packed for it.
fn pack_day(conn: &Connection, site: i64, day: i64) -> Result<(), StoreError> {
    let from = day * DAY_MS;
    let to = from + DAY_MS;
    let mut visits: Vec<PackVisit> = Vec::new();
    let mut max_end = from;
    if let Some(range) = day_ranges(conn, site, from, to)?.first() {
        let mut stmt = conn.prepare_cached(
            "SELECT id, start_ts, end_ts, visitor_id FROM visits WHERE id BETWEEN ?1 AND ?2 \
             AND site_id = ?3 AND start_ts >= ?4 AND start_ts < ?5",
        )?;
        let mut rows = stmt.query(params![range.low_id, range.high_id, site, from, to])?;
        while let Some(row) = rows.next()? {
            max_end = max_end.max(row.get(2)?);
            visits.push(PackVisit {
                id: row.get(0)?,
                start_ts: row.get(1)?,
                visitor_id: row.get(3)?,
                codes: Vec::new(),
            });
        }
    }
    visits.sort_unstable_by_key(|v| (v.start_ts, v.id));
    let position: FxHashMap<i64, usize> = visits
        .iter()
        .enumerate()
        .map(|(at, v)| (v.id, at))
        .collect();
    let pageview = crate::rollup_rebuild::pageview_name_id(conn)?;
    {
        let mut stmt = conn.prepare_cached(
            "SELECT visit_id, name, pathname FROM events WHERE site_id = ?1 AND ts >= ?2 \
             AND ts <= ?3",
        )?;
        let mut rows = stmt.query(params![site, from, max_end])?;
        while let Some(row) = rows.next()? {
            if let Some(&at) = position.get(&row.get::<_, i64>(0)?) {
                visits[at]
                    .codes
                    .push(event_code(row.get(1)?, row.get(2)?, pageview));
            }
        }
    }
    let mut delete =
        conn.prepare_cached("DELETE FROM visit_paths WHERE site_id = ?1 AND day = ?2")?;
    delete.execute(params![site, day])?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO visit_paths (site_id, day, part, data) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for (part, data) in encode(from, &visits) {
        insert.execute(params![site, day, part, data])?;
    }
    Ok(())
}

/// The three parts of a day starting at `day_start`, for visits in start order.
fn encode(day_start: i64, visits: &[PackVisit]) -> [(i64, Vec<u8>); 3] {
    let mut starts = Vec::with_capacity(visits.len() + 4);
    put_varint(&mut starts, visits.len() as u64);
    let mut previous = 0;
    for visit in visits {
        let second = (visit.start_ts - day_start).div_euclid(1000);
        put_varint(&mut starts, (second - previous) as u64);
        previous = second;
    }
    let mut steps = Vec::with_capacity(1 + visits.len() * 4);
    steps.push(STEPS_FORMAT);
    let mut codes = Vec::new();
    for visit in visits {
        codes.clear();
        for &code in &visit.codes {
            put_varint(&mut codes, code);
        }
        put_varint(&mut steps, codes.len() as u64);
        steps.extend_from_slice(&codes);
    }
    let width: usize = if visits.iter().all(|v| (0..1 << 48).contains(&v.visitor_id)) {
        6
    } else {
        8
    };
    let mut visitors = Vec::with_capacity(1 + visits.len() * width);
    visitors.push(width as u8);
    for visit in visits {
        visitors.extend_from_slice(&visit.visitor_id.to_le_bytes()[..width]);
    }
    [
        (part::STARTS, starts),
        (part::STEPS, steps),
        (part::VISITORS, visitors),
    ]
}

/// One packed visit as a query sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PackedVisit<'a> {
    /// The start, rounded down to the second (ms since the epoch); without
    /// start times (see [`Parts::starts`]) the day's first instant.
    pub(crate) start_ts: i64,
    /// The visitor id (0 unless visitors were asked for).
    pub(crate) visitor_id: i64,
    /// The event codes in time order (see the module documentation), when
    /// steps were asked for.
    pub(crate) codes: PackedCodes<'a>,
}

/// The event codes of one packed visit, decoded as they are iterated.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PackedCodes<'a>(&'a [u8]);

/// Decodes the code at the start of `bytes` and returns it with the bytes
/// after it. Codes of one and two bytes (paths and names up to id 8,191)
/// mix in any order, so they decode without a branch between them: a
/// mispredicted branch per code cost more than the decoding.
#[inline]
fn split_code(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let &first = bytes.first()?;
    let second = bytes.get(1).copied().unwrap_or(0);
    let long = first >> 7;
    if long & second >> 7 == 1 {
        // Three bytes or more: rare.
        let mut at = 0;
        // The last byte of a visit's codes ends a varint (checked when the
        // visit is handed over), so a code never runs past them.
        let code = get_varint(bytes, &mut at)?;
        return Some((code, &bytes[at..]));
    }
    let code =
        u64::from(first & 0x7F) | (u64::from(second) << 7) & 0u64.wrapping_sub(u64::from(long));
    Some((code, bytes.get(1 + usize::from(long)..).unwrap_or_default()))
}

impl Iterator for PackedCodes<'_> {
    type Item = u64;

    #[inline]
    fn next(&mut self) -> Option<u64> {
        let (code, rest) = split_code(self.0)?;
        self.0 = rest;
        Some(code)
    }

    /// Folds every code, keeping the position in a local (a loop of `next`
    /// stored it back on every code).
    #[inline]
    fn fold<B, G: FnMut(B, u64) -> B>(self, init: B, mut each: G) -> B {
        let (mut bytes, mut acc) = (self.0, init);
        while let Some((code, rest)) = split_code(bytes) {
            acc = each(acc, code);
            bytes = rest;
        }
        acc
    }
}

fn read_part(
    conn: &Connection,
    site: i64,
    day: i64,
    part: i64,
) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT data FROM visit_paths WHERE site_id = ?1 AND day = ?2 AND part = ?3",
        )?
        .query_row(params![site, day, part], |r| r.get(0))
        .optional()?)
}

/// Which parts of packed days a query reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Parts {
    /// The start times (else a visit's `start_ts` is its day's first
    /// instant, except on days the period's bounds cut).
    pub(crate) starts: bool,
    /// The event codes.
    pub(crate) steps: bool,
    /// The visitor ids.
    pub(crate) visitors: bool,
    /// With steps: visits with fewer steps are skipped (each step takes at
    /// least one byte, so fewer bytes mean fewer steps).
    pub(crate) min_steps: usize,
}

/// The blobs of one packed day that a query reads.
struct PackedDay {
    /// The part of the query's period on this day.
    range: DayRange,
    /// `None` when start times were neither asked for nor needed to cut the
    /// day at the period's bounds.
    starts: Option<Vec<u8>>,
    /// `None` unless steps were asked for.
    steps: Option<Vec<u8>>,
    /// Visits with fewer bytes of codes are skipped.
    min_steps: usize,
    visitors: Option<Vec<u8>>,
}

/// Reads the blobs of the day of `range`; `None` when the day is not packed.
fn load_day(
    conn: &Connection,
    site: i64,
    range: DayRange,
    parts: Parts,
) -> Result<Option<PackedDay>, StoreError> {
    let day = utc_day(range.from_ms);
    let whole_day = range.from_ms == day * DAY_MS && range.to_ms == (day + 1) * DAY_MS;
    // Start times are read when asked for, and to cut a day at the period's
    // bounds; otherwise the steps tell the visits apart.
    let starts = if parts.starts || !whole_day || !parts.steps {
        let Some(starts) = read_part(conn, site, day, part::STARTS)? else {
            return Ok(None);
        };
        Some(starts)
    } else {
        None
    };
    let steps = if parts.steps {
        match read_part(conn, site, day, part::STEPS)? {
            Some(steps) => Some(steps),
            None if starts.is_none() => return Ok(None),
            None => return Err(corrupt()),
        }
    } else {
        None
    };
    let visitors = if parts.visitors {
        Some(read_part(conn, site, day, part::VISITORS)?.ok_or_else(corrupt)?)
    } else {
        None
    };
    Ok(Some(PackedDay {
        range,
        starts,
        steps,
        min_steps: if parts.steps { parts.min_steps } else { 0 },
        visitors,
    }))
}

/// Calls `each` with every visit of `day` that starts within its range.
fn decode_day(day: &PackedDay, each: &mut impl FnMut(PackedVisit<'_>)) -> Result<(), StoreError> {
    let day_start = utc_day(day.range.from_ms) * DAY_MS;
    let width = match &day.visitors {
        Some(bytes) => match bytes.first() {
            Some(&w @ (6 | 8)) => usize::from(w),
            _ => return Err(corrupt()),
        },
        None => 0,
    };
    // Where the visits' codes start.
    let (steps, mut at_step) = match &day.steps {
        Some(steps) if steps.first() == Some(&STEPS_FORMAT) => (steps.as_slice(), 1),
        Some(_) => return Err(corrupt()),
        None => (&[][..], 0),
    };
    // Without start times every visit of the day is in the range, and the
    // steps end where the visits do.
    let (starts, mut at_start) = (day.starts.as_deref().unwrap_or_default(), 0);
    let count = match &day.starts {
        Some(_) => get_varint(starts, &mut at_start).ok_or_else(corrupt)?,
        None => u64::MAX,
    };
    let mut second = 0i64;
    for visit in 0..count as usize {
        if day.starts.is_some() {
            second += get_varint(starts, &mut at_start).ok_or_else(corrupt)? as i64;
        } else if at_step == steps.len() {
            break;
        }
        let codes = if day.steps.is_some() {
            let length = get_varint(steps, &mut at_step).ok_or_else(corrupt)? as usize;
            let bytes = steps
                .get(at_step..at_step.saturating_add(length))
                .ok_or_else(corrupt)?;
            if bytes.last().is_some_and(|&last| last >= 0x80) {
                return Err(corrupt());
            }
            at_step += length;
            bytes
        } else {
            &[]
        };
        let start_ts = day_start + second * 1000;
        if start_ts < day.range.from_ms
            || start_ts >= day.range.to_ms
            || codes.len() < day.min_steps
        {
            continue;
        }
        let visitor_id = match &day.visitors {
            Some(bytes) => visitor_at(bytes, 1 + visit * width, width).ok_or_else(corrupt)?,
            None => 0,
        };
        each(PackedVisit {
            start_ts,
            visitor_id,
            codes: PackedCodes(codes),
        });
    }
    Ok(())
}

/// The visitor id of `width` bytes (6 or 8) at `at`: one 8-byte load,
/// masked, except for the last ids of a day.
#[inline]
fn visitor_at(bytes: &[u8], at: usize, width: usize) -> Option<i64> {
    let mask = u64::MAX >> (64 - 8 * width);
    let raw = match bytes.get(at..at + 8) {
        Some(eight) => u64::from_le_bytes(<[u8; 8]>::try_from(eight).ok()?),
        None => {
            let mut raw = [0u8; 8];
            raw[..width].copy_from_slice(bytes.get(at..at + width)?);
            u64::from_le_bytes(raw)
        }
    };
    Some((raw & mask) as i64)
}

/// Packed days read before they are folded, at most.
const CHUNK_DAYS: usize = 16;

/// Folds the visits of `site` that start in `[from_ms, to_ms)` (whole
/// seconds) on packed days, up to the first day with visits that is not
/// packed, in parallel: the calling thread reads the blobs a chunk at a time
/// ([`CHUNK_DAYS`]) while rayon's pool folds the previous chunk, then helps;
/// each thread takes the chunk's days one at a time and folds them into an
/// accumulator of its own (made by `new`) kept from chunk to chunk. Steps are
/// read only with `parts.steps`, visitor ids only with `parts.visitors`.
/// Returns the accumulators, to be merged by the caller, and the instant from
/// which the visits are not packed (`to_ms` when all are). The pool's threads
/// live on, so the allocator reuses their memory from query to query (threads
/// started per query left tens of megabytes behind each time), and its tasks
/// never wait for each other, so queries running at once cannot block the
/// pool.
pub(crate) fn fold<A: Send>(
    conn: &Connection,
    site: i64,
    from_ms: i64,
    to_ms: i64,
    parts: Parts,
    new: impl Fn() -> A + Sync,
    each: impl Fn(&mut A, PackedVisit<'_>) + Sync,
) -> Result<(Vec<A>, i64), StoreError> {
    // One accumulator per pool thread, and one for the calling thread.
    let workers = rayon::current_num_threads().clamp(1, 4);
    let mut folds: Vec<A> = (0..=workers).map(|_| new()).collect();
    let mut rest = to_ms;
    let mut ranges = day_ranges(conn, site, from_ms, to_ms)?.into_iter();
    let mut done = false;
    // The next chunk of packed days, empty once they are all read.
    let mut read_chunk = || -> Result<Vec<PackedDay>, StoreError> {
        crate::cancel::check(conn)?;
        let mut chunk = Vec::with_capacity(CHUNK_DAYS);
        while !done && chunk.len() < CHUNK_DAYS {
            let Some(range) = ranges.next() else {
                done = true;
                break;
            };
            match load_day(conn, site, range, parts)? {
                Some(day) => chunk.push(day),
                None => {
                    rest = range.from_ms;
                    done = true;
                }
            }
        }
        Ok(chunk)
    };
    let mut chunk = read_chunk()?;
    while !chunk.is_empty() {
        // Days are taken one at a time by whoever is free.
        let taken = AtomicUsize::new(0);
        let fold_days = |fold: &mut A| -> Result<(), StoreError> {
            loop {
                let Some(day) = chunk.get(taken.fetch_add(1, Ordering::Relaxed)) else {
                    return Ok(());
                };
                decode_day(day, &mut |visit| each(fold, visit))?;
            }
        };
        let (pool_folds, own_fold) = folds.split_at_mut(workers);
        let mut outcomes: Vec<Result<(), StoreError>> = (0..workers).map(|_| Ok(())).collect();
        let mut next = Ok(Vec::new());
        let mut own = Ok(());
        rayon::in_place_scope(|scope| {
            for (fold, outcome) in pool_folds.iter_mut().zip(outcomes.iter_mut()) {
                let fold_days = &fold_days;
                scope.spawn(move |_| *outcome = fold_days(fold));
            }
            // The next chunk is read meanwhile, then this thread helps.
            next = read_chunk();
            own = fold_days(&mut own_fold[0]);
        });
        outcomes
            .into_iter()
            .chain([own])
            .collect::<Result<(), StoreError>>()?;
        chunk = next?;
    }
    Ok((folds, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SITE: i64 = 1;

    /// A test visit: id, start, visitor and its events as `(ts, path or name
    /// id, is page view)`.
    type TestVisit<'a> = (i64, i64, i64, &'a [(i64, i64, bool)]);

    /// A database holding the `pageview` name (id 0 in new databases), one
    /// custom event name (id 2) and the given visits.
    fn database_with(visits: &[TestVisit<'_>]) -> Connection {
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

    /// Calls `each` with every visit of `site` that starts in `[from_ms, to_ms)`
    /// on a packed day, day by day in order, up to the first day with visits
    /// that is not packed; returns the instant from which the visits are not
    /// packed (`to_ms` when all of them are). `from_ms` and `to_ms` must be whole
    /// seconds. Steps are read only with `parts.steps` (else `codes` is empty),
    /// visitor ids only with `parts.visitors` (else 0).
    fn read(
        conn: &Connection,
        site: i64,
        from_ms: i64,
        to_ms: i64,
        parts: Parts,
        mut each: impl FnMut(PackedVisit<'_>),
    ) -> Result<i64, StoreError> {
        for range in day_ranges(conn, site, from_ms, to_ms)? {
            let Some(day) = load_day(conn, site, range, parts)? else {
                return Ok(range.from_ms);
            };
            decode_day(&day, &mut each)?;
        }
        Ok(to_ms)
    }

    /// Every packed visit of `[from, to)` as (start, visitor, codes), and
    /// where the rows take over.
    fn read_all(conn: &Connection, from: i64, to: i64) -> (Vec<(i64, i64, Vec<u64>)>, i64) {
        let mut seen = Vec::new();
        let parts = Parts {
            starts: true,
            steps: true,
            visitors: true,
            min_steps: 0,
        };
        let rest = read(conn, SITE, from, to, parts, |v| {
            seen.push((v.start_ts, v.visitor_id, v.codes.collect()));
        })
        .unwrap();
        (seen, rest)
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
                // Start seconds are kept: 5.5 s reads as 5 s.
                (d + 5_000, -7, vec![3 << 1, (2 << 1) | 1]),
                (d + DAY_MS, 9, vec![3 << 1]),
            ]
        );
        assert_eq!(rest, d + 3 * DAY_MS, "every day with visits is packed");
        // Visits with fewer steps than asked for are skipped.
        let mut long = Vec::new();
        let parts = Parts {
            starts: true,
            steps: true,
            visitors: true,
            min_steps: 2,
        };
        read(&conn, SITE, d, d + 3 * DAY_MS, parts, |v| {
            long.push(v.visitor_id)
        })
        .unwrap();
        assert_eq!(long, vec![1 << 40, -7]);
        // Without start times whole days read the same visits, each at its
        // day's start; a day cut by the bounds still reads its start times.
        let mut whole = Vec::new();
        let parts = Parts {
            starts: false,
            min_steps: 0,
            ..parts
        };
        let rest = read(&conn, SITE, d, d + 3 * DAY_MS, parts, |v| {
            whole.push((v.start_ts, v.visitor_id, v.codes.collect::<Vec<_>>()));
        })
        .unwrap();
        assert_eq!(rest, d + 3 * DAY_MS);
        assert_eq!(
            whole,
            vec![
                (d, 1 << 40, vec![4 << 1, 5 << 1]),
                (d, -7, vec![3 << 1, (2 << 1) | 1]),
                (d + DAY_MS, 9, vec![3 << 1]),
            ]
        );
        let mut cut = Vec::new();
        read(&conn, SITE, d + 2_000, d + DAY_MS, parts, |v| {
            cut.push(v.start_ts)
        })
        .unwrap();
        assert_eq!(cut, vec![d + 5_000]);
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

    #[test]
    fn steps_are_a_format_byte_then_each_visits_codes() {
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
        let steps = read_part(&conn, SITE, 10, part::STEPS).unwrap().unwrap();
        let (code_4, code_300, code_2) = (4 << 1, 300 << 1, (2 << 1) | 1);
        // 600 takes two bytes; so does a code from 16,384 on three.
        let mut expected = vec![STEPS_FORMAT, 4, code_4 as u8];
        put_varint(&mut expected, code_300);
        expected.extend([code_2 as u8, 2]);
        put_varint(&mut expected, code_300);
        assert_eq!(steps, expected);
        let mut three = Vec::new();
        put_varint(&mut three, 1 << 14);
        assert_eq!(PackedCodes(&three).collect::<Vec<_>>(), vec![1 << 14]);
        let (seen, _) = read_all(&conn, d, d + DAY_MS);
        assert_eq!(seen[0].2, vec![code_4, code_300, code_2]);
        assert_eq!(seen[1].2, vec![code_300]);
        // A part of another format is an error.
        let mut other = steps.clone();
        other[0] = 1;
        conn.execute(
            "UPDATE visit_paths SET data = ?1 WHERE day = 10 AND part = ?2",
            params![other, part::STEPS],
        )
        .unwrap();
        let parts = Parts {
            starts: false,
            steps: true,
            visitors: false,
            min_steps: 0,
        };
        let outcome = read(&conn, SITE, d, d + DAY_MS, parts, |_| {});
        assert!(matches!(outcome, Err(StoreError::InvalidData(_))));
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
            conn.prepare("SELECT DISTINCT day FROM visit_paths ORDER BY day")
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
}
