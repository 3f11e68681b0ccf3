//! The decoded visitor sketches of recently written rollup rows.
//!
//! Every write of the rollups (`RollupWriter::write_all`, every two seconds)
//! adds visitor hashes to the sketches of the rows it touches and stores them
//! encoded with the rows' counters. Decoding each stored sketch (up to 16 KB
//! of HyperLogLog registers, deflated) again every time would cost more than
//! the rest of the write, so the writer keeps the sketches of recently written
//! rows decoded here. Crash safety is that of the rest of the write-behind
//! rollups: see [`crate::rollup_rebuild`].

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

/// The decoded sketches of recently written rows.
#[derive(Debug, Default)]
pub(crate) struct SketchCache {
    rows: HashMap<SketchRow, Sketch>,
}

impl SketchCache {
    /// Adds `hashes` to the sketch of `row` (loading it on first use) and
    /// returns it encoded, for the caller to write with the row's counters.
    pub(crate) fn add_encoded(
        &mut self,
        conn: &Connection,
        row: SketchRow,
        hashes: &[u32],
        precision: u8,
    ) -> Result<Vec<u8>, StoreError> {
        let sketch = match self.rows.entry(row) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(slot) => slot.insert(load(conn, row)?),
        };
        sketch.insert_all(hashes, precision);
        Ok(sketch.encode())
    }

    /// Keeps memory bounded: beyond [`MAX_CACHED_ROWS`], the cache starts over.
    pub(crate) fn trim(&mut self) {
        if self.rows.len() > MAX_CACHED_ROWS {
            self.rows.clear();
        }
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
