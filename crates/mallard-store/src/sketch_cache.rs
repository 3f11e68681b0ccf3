//! Write-behind for the visitor sketches of the rollups.
//!
//! Re-encoding a sketch (up to 16 KB of HyperLogLog registers, deflated) for
//! every touched rollup row in every batch would make the writer spend
//! milliseconds per batch. Instead the writer keeps the sketches of recently
//! touched rows decoded in memory, adds each batch's visitor hashes there, and
//! writes the changed ones back every [`WRITE_EVERY`], at shutdown, and when a
//! reader asks for current numbers (`WriterHandle::sync_sketches`, which stats
//! queries call first). The counters of the rows are still updated in every
//! batch's transaction.
//!
//! Crash safety: the `settings` mark [`SKETCH_MARK`] says that every event with
//! a smaller id is reflected in the stored sketches ([`ALL_WRITTEN`] after a
//! clean shutdown). After a crash, or a rolled-back batch, the sketches are
//! brought up to date from the stored events at or above the mark. Adding a
//! visitor to a sketch twice changes nothing, so replaying too much is harmless.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::StoreError;
use crate::hll::Sketch;
use crate::settings;

/// How often changed sketches are written back.
pub(crate) const WRITE_EVERY: Duration = Duration::from_secs(2);
/// The settings key of the mark.
pub(crate) const SKETCH_MARK: &str = "sketch_mark_event_id";
/// The mark after a clean shutdown: every sketch is written.
pub(crate) const ALL_WRITTEN: i64 = i64::MAX;
/// The most rows kept decoded once written back; beyond, the cache starts over.
const MAX_CACHED_ROWS: usize = 20_000;

/// Which rollup row a sketch belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum SketchRow {
    /// A row of `rollup_hours`.
    Hour { site: i64, hour: i64 },
    /// A row of `rollup_days`.
    Day {
        site: i64,
        kind: i64,
        day: i64,
        value: i64,
    },
}

#[derive(Debug)]
struct Cached {
    sketch: Sketch,
    dirty: bool,
}

/// The decoded sketches of recently touched rows.
#[derive(Debug, Default)]
pub(crate) struct SketchCache {
    rows: HashMap<SketchRow, Cached>,
    last_write: Option<Instant>,
    /// Whether the mark has been moved below this run's first batch.
    marked: bool,
    /// Whether some sketch may differ from its stored copy.
    any_dirty: bool,
}

impl SketchCache {
    /// Notes that a batch whose first event id is `first_event_id` is about to
    /// add to the cache: the first time in a run, the mark moves down to it.
    pub(crate) fn begin_batch(
        &mut self,
        conn: &Connection,
        first_event_id: i64,
    ) -> Result<(), StoreError> {
        if !self.marked {
            let mark = settings::get_i64(conn, SKETCH_MARK)?.unwrap_or(ALL_WRITTEN);
            if first_event_id < mark {
                settings::set_i64(conn, SKETCH_MARK, first_event_id)?;
            }
            self.marked = true;
        }
        Ok(())
    }

    /// Adds `hashes` to the sketch of `row` (loading it on first use).
    pub(crate) fn add(
        &mut self,
        conn: &Connection,
        row: SketchRow,
        hashes: &[u32],
        precision: u8,
    ) -> Result<(), StoreError> {
        let cached = match self.rows.entry(row) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(slot) => slot.insert(Cached {
                sketch: load(conn, row)?,
                dirty: false,
            }),
        };
        cached.sketch.insert_all(hashes, precision);
        cached.dirty = true;
        self.any_dirty = true;
        Ok(())
    }

    /// Writes back the changed sketches of `site` on days before `day` (before
    /// they are packed).
    pub(crate) fn write_days_before(
        &mut self,
        conn: &Connection,
        site: i64,
        day: i64,
    ) -> Result<(), StoreError> {
        self.write(
            conn,
            |row| matches!(row, SketchRow::Day { site: s, day: d, .. } if *s == site && *d < day),
        )
    }

    /// Writes everything back when [`WRITE_EVERY`] has passed; then every event
    /// below `next_event_id` is reflected and the mark moves up to it.
    pub(crate) fn write_if_due(
        &mut self,
        conn: &Connection,
        next_event_id: i64,
    ) -> Result<(), StoreError> {
        let due = self.last_write.is_none_or(|at| at.elapsed() >= WRITE_EVERY);
        if due {
            self.write_all(conn, next_event_id)?;
        }
        Ok(())
    }

    /// Writes every changed sketch back and moves the mark to `mark`.
    pub(crate) fn write_all(&mut self, conn: &Connection, mark: i64) -> Result<(), StoreError> {
        self.write(conn, |_| true)?;
        self.any_dirty = false;
        settings::set_i64(conn, SKETCH_MARK, mark)?;
        self.last_write = Some(Instant::now());
        if self.rows.len() > MAX_CACHED_ROWS {
            self.rows.clear();
        }
        Ok(())
    }

    /// Whether some sketch may differ from its stored copy.
    pub(crate) fn any_dirty(&self) -> bool {
        self.any_dirty
    }

    /// Forgets everything (after a rolled-back batch).
    pub(crate) fn forget(&mut self) {
        *self = Self::default();
    }

    fn write(
        &mut self,
        conn: &Connection,
        select: impl Fn(&SketchRow) -> bool,
    ) -> Result<(), StoreError> {
        let mut hour = conn.prepare_cached(
            "UPDATE rollup_hours SET visitors = ?3 WHERE site_id = ?1 AND hour = ?2",
        )?;
        let mut day = conn.prepare_cached(
            "UPDATE rollup_days SET visitors = ?5 WHERE site_id = ?1 AND kind = ?2 AND day = ?3 \
             AND value = ?4",
        )?;
        for (row, cached) in self
            .rows
            .iter_mut()
            .filter(|(row, c)| c.dirty && select(row))
        {
            let bytes = cached.sketch.encode();
            match *row {
                SketchRow::Hour { site, hour: h } => hour.execute(params![site, h, bytes])?,
                SketchRow::Day {
                    site,
                    kind,
                    day: d,
                    value,
                } => day.execute(params![site, kind, d, value, bytes])?,
            };
            cached.dirty = false;
        }
        Ok(())
    }
}

fn load(conn: &Connection, row: SketchRow) -> Result<Sketch, StoreError> {
    let stored: Option<Option<Vec<u8>>> = match row {
        SketchRow::Hour { site, hour } => conn
            .prepare_cached("SELECT visitors FROM rollup_hours WHERE site_id = ?1 AND hour = ?2")?
            .query_row(params![site, hour], |r| r.get(0))
            .optional()?,
        SketchRow::Day {
            site,
            kind,
            day,
            value,
        } => conn
            .prepare_cached(
                "SELECT visitors FROM rollup_days WHERE site_id = ?1 AND kind = ?2 AND day = ?3 \
                 AND value = ?4",
            )?
            .query_row(params![site, kind, day, value], |r| r.get(0))
            .optional()?,
    };
    match stored.flatten() {
        Some(bytes) => Sketch::decode(&bytes).ok_or_else(|| {
            StoreError::InvalidData("a stored visitor sketch cannot be decoded".into())
        }),
        None => Ok(Sketch::default()),
    }
}
