//! The decoded visitor sketches of recently written rollup rows.
//!
//! Re-encoding a sketch (up to 16 KB of HyperLogLog registers, deflated) every
//! time its row is written would make the writer spend milliseconds on every
//! write of the rollups. Instead the writer keeps the sketches of recently
//! touched rows decoded in memory, adds visitor hashes there, and encodes the
//! changed ones when it writes everything it holds back
//! (`RollupWriter::write_all`). Crash safety is that of the rest of the
//! write-behind rollups: see [`crate::rollup_rebuild`].

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::StoreError;
use crate::hll::Sketch;

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
    /// Whether some sketch may differ from its stored copy.
    any_dirty: bool,
}

impl SketchCache {
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

    /// Writes every changed sketch back.
    pub(crate) fn write_all(&mut self, conn: &Connection) -> Result<(), StoreError> {
        self.write(conn, |_| true)?;
        self.any_dirty = false;
        if self.rows.len() > MAX_CACHED_ROWS {
            self.rows.clear();
        }
        Ok(())
    }

    /// Whether some sketch may differ from its stored copy.
    pub(crate) fn any_dirty(&self) -> bool {
        self.any_dirty
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
