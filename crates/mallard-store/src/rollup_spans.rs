//! Rollup spans (migration 024): the rollups of sixteen closed local days
//! taken together, so that a long period reads a row per value and span
//! instead of one per value and day.
//!
//! An unfiltered year-long breakdown unions, for each value it shows, 365
//! visitor sketches, each inflated and merged: about four fifths of its time.
//! A span holds, for each kind and value, the counters of its days summed and
//! their sketches merged (exact while small, a HyperLogLog beyond, as a day's
//! are), so a year takes 23 spans and the days at its edges.
//!
//! - **Where**: a span starts on a day that is a multiple of [`SPAN_DAYS`]
//!   and has the key and columns of a `rollup_days` row (its first day in
//!   `day`), so the readers run the same queries on either table
//!   ([`RollupTable`]). Pages are kept packed ([`crate::packed_pages`]).
//! - **When**: the writer builds a span once all its days are closed (the
//!   bound of [`crate::goal_days`]) and it has no day left to pack, a few
//!   days per step ([`step`]), under a claim that any change to one of its
//!   days withdraws.
//! - **Never stale**: a span is read only while it has its mark
//!   (`rollup_span_marks`), which goes in the transaction of any change to
//!   a day of the span (late events, packing, imports, deletions, rebuilds,
//!   a new time zone): the two writers of day rows drop it ([`drop_mark`]),
//!   and a trigger on `rollup_days` for every deleted row. The writer builds
//!   the span again later; until then its days are read one by one. (A
//!   trigger on inserts and updates too would make every rollup write keep
//!   a statement journal: a quarter slower.)
//! - **Read**: [`cover`] splits a period into the marked spans it holds
//!   whole and the days around and between them.

use std::collections::BTreeMap;

use mallard_core::DayRange;
use rusqlite::{Connection, params};

use crate::error::StoreError;
use crate::hll::SketchUnion;
use crate::packed_pages::{self, Entries};
use crate::rollups::kind;
use crate::stats::SiteInfo;

/// How many days a span holds.
pub(crate) const SPAN_DAYS: i64 = 16;

/// The gauge that says whether the writer is building spans (1) or found
/// none missing when it last looked (0).
const BUILDING_GAUGE: &str = "mallard_rollup_spans_building";

/// The kinds of rollup rows, every one a span may hold (pages as
/// [`kind::PAGE_PACK`]).
const KINDS: std::ops::RangeInclusive<i64> = 0..=20;

/// The counters of a rollup row, in the order of its columns.
const COUNTERS: usize = 7;

/// The first day of the span that holds `day`.
pub(crate) const fn span_start(day: i64) -> i64 {
    day & !(SPAN_DAYS - 1)
}

/// Drops the mark of the span of `site` from `span` (its first day), in
/// the transaction that writes a day row of it: the writers of day rows
/// (`rollups::Pending::flush`, `packed_pages::repack_day`) call it, and a
/// trigger (migration 024) does for every deleted day row.
pub(crate) fn drop_mark(conn: &Connection, site: i64, span: i64) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM rollup_span_marks WHERE site_id = ?1 AND day = ?2")?
        .execute(params![site, span])?;
    Ok(())
}

/// A table of rollup rows: days or spans, with the same key and columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RollupTable {
    /// `rollup_days`: a row per kind, value and day.
    Days,
    /// `rollup_spans`: a row per kind, value and span, keyed by its first day.
    Spans,
}

impl RollupTable {
    /// The table's name.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            RollupTable::Days => "rollup_days",
            RollupTable::Spans => "rollup_spans",
        }
    }

    /// How many days apart the rows of one value are.
    pub(crate) const fn days_per_row(self) -> i64 {
        match self {
            RollupTable::Days => 1,
            RollupTable::Spans => SPAN_DAYS,
        }
    }

    /// Whether the table may hold rows of `row_kind` (spans keep pages
    /// packed only; days, as rows too until they are packed).
    pub(crate) const fn holds_rows_of(self, row_kind: i64) -> bool {
        !matches!(self, RollupTable::Spans) || row_kind != kind::PAGE
    }
}

/// A part of a period and the table that answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Piece {
    /// Where the rows are.
    pub(crate) table: RollupTable,
    /// The days (for spans, whole spans).
    pub(crate) range: DayRange,
}

/// Splits `range` into the runs of marked spans of `site` that it holds
/// whole and the days that are not in one, in order. A range that starts
/// by the site's first day is taken to start with that day's span (there
/// is nothing before it), so that the first span serves the period `all`.
pub(crate) fn cover(
    conn: &Connection,
    site: &SiteInfo,
    range: DayRange,
) -> Result<Vec<Piece>, StoreError> {
    let site_id = site.id;
    let range = match site.first_day {
        Some(first) if range.start <= first && first < range.end => DayRange {
            start: range.start.min(span_start(first)),
            end: range.end,
        },
        _ => range,
    };
    let first = span_start(range.start + SPAN_DAYS - 1);
    let end = span_start(range.end);
    let mut pieces = Vec::new();
    let mut next = range.start;
    if first < end {
        let mut stmt = conn.prepare_cached(
            "SELECT day FROM rollup_span_marks WHERE site_id = ?1 AND day >= ?2 AND day < ?3 \
             AND ready = 1 ORDER BY day",
        )?;
        let mut rows = stmt.query(params![site_id, first, end])?;
        while let Some(row) = rows.next()? {
            let span: i64 = row.get(0)?;
            match pieces.last_mut() {
                Some(Piece {
                    table: RollupTable::Spans,
                    range,
                }) if range.end == span => range.end = span + SPAN_DAYS,
                _ => {
                    if next < span {
                        pieces.push(Piece {
                            table: RollupTable::Days,
                            range: DayRange {
                                start: next,
                                end: span,
                            },
                        });
                    }
                    pieces.push(Piece {
                        table: RollupTable::Spans,
                        range: DayRange {
                            start: span,
                            end: span + SPAN_DAYS,
                        },
                    });
                }
            }
            next = span + SPAN_DAYS;
        }
    }
    if next < range.end {
        pieces.push(Piece {
            table: RollupTable::Days,
            range: DayRange {
                start: next,
                end: range.end,
            },
        });
    }
    Ok(pieces)
}

/// The rows of one span: per kind and value (pages under
/// [`kind::PAGE_PACK`], values 0 to 2) the counters and the encoded sketch.
type SpanRows = BTreeMap<(i64, i64), ([i64; COUNTERS], Option<Vec<u8>>)>;

/// Counters summed and visitors unioned, per value.
type Sums = ([i64; COUNTERS], Option<SketchUnion>);

/// Adds a day row's counters and stored sketch to `sums`.
fn add(sums: &mut Sums, counts: [i64; COUNTERS], sketch: Option<&[u8]>) -> Result<(), StoreError> {
    for (slot, count) in sums.0.iter_mut().zip(counts) {
        *slot += count;
    }
    if let Some(bytes) = sketch
        && !sums.1.get_or_insert_default().add_encoded(bytes)
    {
        return Err(undecodable());
    }
    Ok(())
}

/// A span being added up from its days, a few days per writer step (a
/// span of a 100M-event site takes about 200 ms in all). Visitors are
/// unioned as a query over the days unions them ([`SketchUnion`]): exact
/// while every day is and the union is small, so that a period read from
/// spans counts what it counts read from days.
#[derive(Debug)]
pub(crate) struct SpanBuild {
    site_id: i64,
    span: i64,
    /// The first day not added yet.
    next_day: i64,
    /// Per kind and value, but pages.
    values: BTreeMap<(i64, i64), Sums>,
    /// Per path.
    pages: BTreeMap<i64, Sums>,
}

impl SpanBuild {
    /// A build of the span of `site_id` from `span`, nothing added yet.
    fn new(site_id: i64, span: i64) -> Self {
        Self {
            site_id,
            span,
            next_day: span,
            values: BTreeMap::new(),
            pages: BTreeMap::new(),
        }
    }

    /// Whether every day is added.
    fn complete(&self) -> bool {
        self.next_day >= self.span + SPAN_DAYS
    }

    /// Adds the rows of up to `days` more days.
    fn add_days(&mut self, conn: &Connection, days: i64) -> Result<(), StoreError> {
        let end = (self.next_day + days).min(self.span + SPAN_DAYS);
        let mut stmt = conn.prepare_cached(
            "SELECT value, pageviews, events, visits, bounces, visit_pageviews, duration_ms, \
             exits, visitors FROM rollup_days WHERE site_id = ?1 AND kind = ?2 AND day >= ?3 \
             AND day < ?4",
        )?;
        for row_kind in KINDS.filter(|&k| k != kind::PAGE && k != kind::PAGE_PACK) {
            let mut rows = stmt.query(params![self.site_id, row_kind, self.next_day, end])?;
            while let Some(row) = rows.next()? {
                let mut counts = [0; COUNTERS];
                for (i, slot) in counts.iter_mut().enumerate() {
                    *slot = row.get(i + 1)?;
                }
                let sketch = row
                    .get_ref(8)?
                    .as_blob_or_null()
                    .map_err(|_| undecodable())?;
                let sums = self.values.entry((row_kind, row.get(0)?)).or_default();
                add(sums, counts, sketch)?;
            }
        }
        for day in self.next_day..end {
            packed_pages::each_row_of_day(conn, self.site_id, day, |value, counts, sketch| {
                add(self.pages.entry(value).or_default(), counts, sketch)
            })?;
        }
        self.next_day = end;
        Ok(())
    }

    /// The span's rows: per kind and value the counters and the encoded
    /// sketch, pages packed.
    fn rows(self) -> SpanRows {
        let mut rows: SpanRows = self
            .values
            .into_iter()
            .map(|(key, (counts, union))| (key, (counts, union.map(|u| u.into_sketch().encode()))))
            .collect();
        if !self.pages.is_empty() {
            let pages: Entries = self
                .pages
                .into_iter()
                .map(|(value, (counts, union))| {
                    (value, (counts, union.map(SketchUnion::into_sketch)))
                })
                .collect();
            for (part, blob) in (0i64..).zip(packed_pages::pack(&pages)) {
                rows.insert((kind::PAGE_PACK, part), ([0; COUNTERS], Some(blob)));
            }
        }
        rows
    }
}

/// What the days of the span starting on `span` add up to.
fn aggregate(conn: &Connection, site_id: i64, span: i64) -> Result<SpanRows, StoreError> {
    let mut build = SpanBuild::new(site_id, span);
    build.add_days(conn, SPAN_DAYS)?;
    Ok(build.rows())
}

fn undecodable() -> StoreError {
    StoreError::InvalidData("a stored visitor sketch cannot be decoded".into())
}

/// Claims the span of `site_id` from `span` for a build: a mark that is
/// not ready yet, which any change to a day of the span deletes as it
/// deletes a ready one ([`drop_mark`]).
fn claim(conn: &Connection, site_id: i64, span: i64) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO rollup_span_marks (site_id, day, ready) VALUES (?1, ?2, 0)",
    )?
    .execute(params![site_id, span])?;
    Ok(())
}

/// Writes a complete build's rows and makes its mark ready, if the mark
/// its claim wrote is still there (no day of the span changed since);
/// returns whether it wrote. Runs in the caller's transaction.
fn finish(conn: &Connection, build: SpanBuild) -> Result<bool, StoreError> {
    let (site_id, span) = (build.site_id, build.span);
    let ready = conn
        .prepare_cached(
            "UPDATE rollup_span_marks SET ready = 1 WHERE site_id = ?1 AND day = ?2 AND ready = 0",
        )?
        .execute(params![site_id, span])?;
    if ready == 0 {
        return Ok(false);
    }
    let began = std::time::Instant::now();
    let rows = build.rows();
    let count = rows.len();
    let mut delete = conn
        .prepare_cached("DELETE FROM rollup_spans WHERE site_id = ?1 AND kind = ?2 AND day = ?3")?;
    for row_kind in KINDS {
        delete.execute(params![site_id, row_kind, span])?;
    }
    let mut insert = conn.prepare_cached(
        "INSERT INTO rollup_spans (site_id, kind, day, value, pageviews, events, visits, \
         bounces, visit_pageviews, duration_ms, exits, visitors) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?;
    for ((row_kind, value), (c, sketch)) in rows {
        insert.execute(params![
            site_id, row_kind, span, value, c[0], c[1], c[2], c[3], c[4], c[5], c[6], sketch
        ])?;
    }
    tracing::debug!(
        site_id,
        date = %crate::error::utc_date(span),
        rows = count,
        encode_ms = began.elapsed().as_millis() as u64,
        "built a rollup span"
    );
    Ok(true)
}

/// The first span of the first site that has one missing, whose every day
/// is closed.
fn next_missing(conn: &Connection) -> Result<Option<(i64, i64)>, StoreError> {
    let sites: Vec<(i64, i64)> = conn
        .prepare_cached(
            "SELECT site_id, first_day FROM rollup_sites WHERE first_day IS NOT NULL \
             ORDER BY site_id",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (site_id, first_day) in sites {
        let Some(site) = crate::stats::site_by_id(conn, site_id)? else {
            continue;
        };
        let Some(ready_end) = crate::goal_days::ready_end(conn, &site)? else {
            continue;
        };
        if let Some(span) = first_unmarked(conn, site_id, span_start(first_day), ready_end)? {
            return Ok(Some((site_id, span)));
        }
    }
    Ok(None)
}

/// One step of building spans, in the writer's transaction after packing
/// and goal days: adds [`DAYS_PER_STEP`] days to the span being built
/// (claiming the next missing one first), or writes it once complete.
/// Returns whether there was anything to do. A day row that does not
/// decode (which its queries report) fails no write: the span is dropped
/// with a warning, its days read one by one, and this returns false, so
/// that the writer looks again only after a day is packed or a job runs.
pub(crate) fn step(
    conn: &Connection,
    building: &mut Option<SpanBuild>,
) -> Result<bool, StoreError> {
    if building.is_none() {
        let Some((site_id, span)) = next_missing(conn)? else {
            metrics::gauge!(BUILDING_GAUGE).set(0.0);
            return Ok(false);
        };
        claim(conn, site_id, span)?;
        *building = Some(SpanBuild::new(site_id, span));
    }
    metrics::gauge!(BUILDING_GAUGE).set(1.0);
    // Written in a step of its own: encoding a span's sketches takes about
    // as long as adding up four of its days.
    if let Some(build) = building.take_if(|build| build.complete()) {
        finish(conn, build)?;
        return Ok(true);
    }
    let Some(build) = building.as_mut() else {
        return Ok(false);
    };
    match build.add_days(conn, DAYS_PER_STEP) {
        Ok(()) => {}
        Err(StoreError::InvalidData(detail)) => {
            tracing::warn!(
                site_id = build.site_id,
                date = %crate::error::utc_date(build.span),
                %detail,
                "a rollup span cannot be built from its days"
            );
            drop_mark(conn, build.site_id, build.span)?;
            *building = None;
            return Ok(false);
        }
        Err(err) => return Err(err),
    }
    Ok(true)
}

/// Days added to a span per writer step: about 50 ms of a 100M-event site.
const DAYS_PER_STEP: i64 = 4;

/// Builds one whole span, if one is missing (for [`fill_blocking`]).
fn fill_step(conn: &Connection) -> Result<bool, StoreError> {
    let mut building = None;
    while step(conn, &mut building)? {
        if building.is_none() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The first span from `from` (a span's first day) that ends by `end` and
/// has no mark.
fn first_unmarked(
    conn: &Connection,
    site_id: i64,
    from: i64,
    end: i64,
) -> Result<Option<i64>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT day FROM rollup_span_marks WHERE site_id = ?1 AND day >= ?2 AND day + ?3 <= ?4 \
         AND ready = 1 ORDER BY day",
    )?;
    let mut rows = stmt.query(params![site_id, from, SPAN_DAYS, end])?;
    let mut expected = from;
    while let Some(row) = rows.next()? {
        let span: i64 = row.get(0)?;
        if span != expected {
            break;
        }
        expected += SPAN_DAYS;
    }
    Ok((expected + SPAN_DAYS <= end).then_some(expected))
}

/// Builds every missing span of every site, a writer job at a time; returns
/// how many it built (for `mallard seed` and tests, which do not wait for
/// the writer to get to them).
pub fn fill_blocking(writer: &crate::WriterHandle) -> Result<u64, StoreError> {
    let mut built = 0;
    while writer.run_blocking(fill_step)? {
        built += 1;
    }
    Ok(built)
}

/// Deletes the spans that start before local day `day` (data retention):
/// the triggers took their marks with their days' rows.
pub(crate) fn delete_before(conn: &Connection, day: i64) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached("DELETE FROM rollup_spans WHERE day < ?1")?
        .execute(params![span_start(day)])?)
}

/// Deletes every span and mark (for `mallard check --repair`: the writer
/// builds them again); returns how many marks there were.
pub fn forget_all(conn: &Connection) -> Result<usize, StoreError> {
    conn.execute("DELETE FROM rollup_spans", [])?;
    Ok(conn.execute("DELETE FROM rollup_span_marks", [])?)
}

/// Adds every marked span up again from its days and describes each that
/// differs, one line per span (for `mallard check`; reads only).
pub fn differences(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let marks: Vec<(i64, i64)> = conn
        .prepare(
            "SELECT site_id, day FROM rollup_span_marks WHERE ready = 1 ORDER BY site_id, day",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut stmt = conn.prepare(
        "SELECT kind, value, pageviews, events, visits, bounces, visit_pageviews, duration_ms, \
         exits, visitors FROM rollup_spans WHERE site_id = ?1 AND kind = ?2 AND day = ?3",
    )?;
    let mut lines = Vec::new();
    for (site_id, span) in marks {
        let mut stored = SpanRows::new();
        for row_kind in KINDS {
            let mut rows = stmt.query(params![site_id, row_kind, span])?;
            while let Some(row) = rows.next()? {
                let mut counts = [0; COUNTERS];
                for (i, slot) in counts.iter_mut().enumerate() {
                    *slot = row.get(i + 2)?;
                }
                stored.insert((row.get(0)?, row.get(1)?), (counts, row.get(9)?));
            }
        }
        let added_up = aggregate(conn, site_id, span)?;
        if stored != added_up {
            let differing = stored
                .iter()
                .filter(|(key, row)| added_up.get(key) != Some(row))
                .count()
                + added_up
                    .keys()
                    .filter(|key| !stored.contains_key(key))
                    .count();
            lines.push(format!(
                "site {site_id}, the 16 days from local day {}: {differing} rollup row(s) differ \
                 from their days",
                crate::error::utc_date(span)
            ));
        }
    }
    Ok(lines)
}

#[cfg(test)]
mod tests;
