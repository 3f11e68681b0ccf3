//! Packed page rollups of closed days.
//!
//! A busy site has thousands of paths a day, and one `rollup_days` row per path
//! and day makes page breakdowns scan (and store) many small rows. Once a day
//! is closed (two days older than the newest event of its site), the writer
//! packs its page rows into rows of kind [`PAGE_PACK`]: value 0 holds all
//! counters of the day, value 1 the visitor sketches of the day's most viewed
//! paths and value 2 those of all other paths, each as one compact blob sorted
//! by path id. A top-N breakdown reads value 2 of a day only when one of its
//! paths is not among that day's most viewed. Events that arrive later for a packed day (rare
//! stragglers) add ordinary page rows again; queries always add both, so
//! packing never changes an answer.
//!
//! Counter blob: for each path, `varint(path id - previous path id)` then the
//! seven counters as zigzag varints (pageviews, events, visits, bounces,
//! visit_pageviews, duration_ms, exits). Sketch blob: for each path with a
//! sketch, `varint(path id delta)`, `varint(length)` and the encoded sketch.

use std::collections::{BTreeMap, HashSet};

use mallard_core::DayRange;
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::StoreError;
use crate::hll::{self, Sketch};
use crate::rollup_spans::{Piece, RollupTable};
use crate::rollups::{DayRowids, kind};
use crate::varint::{get_varint, put_varint, unzigzag, zigzag};

/// The kind of packed page rows in `rollup_days`.
pub(crate) const PAGE_PACK: i64 = kind::PAGE_PACK;
/// Days at least this many days older than a site's newest event are packed.
const PACK_LAG_DAYS: i64 = 1;
/// How many of a day's most viewed paths keep their sketches in the first blob.
#[cfg(not(test))]
const HEAVY_PATHS: usize = 100;
/// Small in tests, so that both sketch blobs are exercised.
#[cfg(test)]
const HEAVY_PATHS: usize = 2;

const COUNTERS: usize = 7;

fn corrupt() -> StoreError {
    StoreError::InvalidData("a packed page rollup cannot be decoded".into())
}

/// Calls `each` with every path id and its counters in a counter blob.
pub(crate) fn decode_counts(
    bytes: &[u8],
    mut each: impl FnMut(i64, [i64; COUNTERS]),
) -> Result<(), StoreError> {
    let mut at = 0;
    let mut value = 0i64;
    while at < bytes.len() {
        value += get_varint(bytes, &mut at).ok_or_else(corrupt)? as i64;
        let mut counts = [0i64; COUNTERS];
        for slot in &mut counts {
            *slot = unzigzag(get_varint(bytes, &mut at).ok_or_else(corrupt)?);
        }
        each(value, counts);
    }
    Ok(())
}

/// Calls `each` with every path id and its encoded sketch in a sketch blob.
pub(crate) fn decode_sketches<'a>(
    bytes: &'a [u8],
    mut each: impl FnMut(i64, &'a [u8]) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let mut at = 0;
    let mut value = 0i64;
    while at < bytes.len() {
        value += get_varint(bytes, &mut at).ok_or_else(corrupt)? as i64;
        let len = get_varint(bytes, &mut at).ok_or_else(corrupt)? as usize;
        let sketch = bytes.get(at..at + len).ok_or_else(corrupt)?;
        at += len;
        each(value, sketch)?;
    }
    Ok(())
}

/// The counters and the visitor sketch of each path, by path id.
pub(crate) type Entries = BTreeMap<i64, ([i64; COUNTERS], Option<Sketch>)>;

/// Adds counters and a sketch to the entry of path `value`.
fn add_entry(entries: &mut Entries, value: i64, counts: [i64; COUNTERS], sketch: Option<Sketch>) {
    let entry = entries.entry(value).or_insert(([0; COUNTERS], None));
    for (slot, count) in entry.0.iter_mut().zip(counts) {
        *slot += count;
    }
    if let Some(sketch) = sketch {
        match &mut entry.1 {
            Some(own) => own.merge(&sketch, hll::DIM_PRECISION),
            None => entry.1 = Some(sketch),
        }
    }
}

fn packed_blob(
    conn: &Connection,
    table: RollupTable,
    site: i64,
    day: i64,
    value: i64,
) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT visitors FROM {} WHERE site_id = ?1 AND kind = ?2 AND day = ?3 \
             AND value = ?4",
            table.name()
        ))?
        .query_row(params![site, PAGE_PACK, day, value], |r| r.get(0))
        .optional()?
        .flatten())
}

/// Calls `each` with every page row of `day`, packed and not: a path id,
/// counters (zeros for a packed sketch) and the encoded visitor sketch, if
/// any. A path may come more than once.
pub(crate) fn each_row_of_day(
    conn: &Connection,
    site: i64,
    day: i64,
    mut each: impl FnMut(i64, [i64; COUNTERS], Option<&[u8]>) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    if let Some(blob) = packed_blob(conn, RollupTable::Days, site, day, 0)? {
        let mut failed = None;
        decode_counts(&blob, |value, counts| {
            if failed.is_none() {
                failed = each(value, counts, None).err();
            }
        })?;
        if let Some(err) = failed {
            return Err(err);
        }
    }
    for part in [1, 2] {
        if let Some(blob) = packed_blob(conn, RollupTable::Days, site, day, part)? {
            decode_sketches(&blob, |value, bytes| {
                each(value, [0; COUNTERS], Some(bytes))
            })?;
        }
    }
    let mut stmt = conn.prepare_cached(
        "SELECT value, pageviews, events, visits, bounces, visit_pageviews, duration_ms, \
         exits, visitors FROM rollup_days WHERE site_id = ?1 AND kind = ?2 AND day = ?3",
    )?;
    let mut rows = stmt.query(params![site, kind::PAGE, day])?;
    while let Some(row) = rows.next()? {
        let mut counts = [0; COUNTERS];
        for (i, slot) in counts.iter_mut().enumerate() {
            *slot = row.get(i + 1)?;
        }
        let sketch = row.get_ref(8)?.as_blob_or_null().map_err(|_| corrupt())?;
        each(row.get(0)?, counts, sketch)?;
    }
    Ok(())
}

/// Adds the page rows of `day`, packed and not, to `entries`.
fn collect_day(
    conn: &Connection,
    site: i64,
    day: i64,
    entries: &mut Entries,
) -> Result<(), StoreError> {
    each_row_of_day(conn, site, day, |value, counts, sketch| {
        let sketch = match sketch {
            Some(bytes) => Some(Sketch::decode(bytes).ok_or_else(corrupt)?),
            None => None,
        };
        add_entry(entries, value, counts, sketch);
        Ok(())
    })
}

/// The three packed blobs of `entries`: the counters, the sketches of the
/// most viewed paths and those of the others.
pub(crate) fn pack(entries: &Entries) -> [Vec<u8>; 3] {
    let mut by_views: Vec<(i64, i64)> = entries
        .iter()
        .filter(|(_, (_, sketch))| sketch.is_some())
        .map(|(value, (c, _))| (c[0], *value))
        .collect();
    by_views.sort_unstable_by(|a, b| b.cmp(a));
    let heavy: HashSet<i64> = by_views
        .iter()
        .take(HEAVY_PATHS)
        .map(|(_, value)| *value)
        .collect();
    let mut counts = Vec::new();
    let mut sketches = [Vec::new(), Vec::new()];
    let mut last_count = 0i64;
    let mut last_sketch = [0i64, 0i64];
    for (value, (c, sketch)) in entries {
        if c.iter().any(|v| *v != 0) {
            put_varint(&mut counts, (value - last_count) as u64);
            last_count = *value;
            for v in c {
                put_varint(&mut counts, zigzag(*v));
            }
        }
        if let Some(sketch) = sketch {
            let part = usize::from(!heavy.contains(value));
            let encoded = sketch.encode();
            put_varint(&mut sketches[part], (value - last_sketch[part]) as u64);
            last_sketch[part] = *value;
            put_varint(&mut sketches[part], encoded.len() as u64);
            sketches[part].extend_from_slice(&encoded);
        }
    }
    let [heavy_blob, rest_blob] = sketches;
    [counts, heavy_blob, rest_blob]
}

/// Packs the page rows of one day into (or onto) its packed rows.
pub(crate) fn repack_day(conn: &Connection, site: i64, day: i64) -> Result<(), StoreError> {
    let mut entries = Entries::new();
    collect_day(conn, site, day, &mut entries)?;
    crate::rollup_spans::drop_mark(conn, site, crate::rollup_spans::span_start(day))?;
    conn.prepare_cached("DELETE FROM rollup_days WHERE site_id = ?1 AND kind = ?2 AND day = ?3")?
        .execute(params![site, kind::PAGE, day])?;
    let mut write = conn.prepare_cached(
        "INSERT OR REPLACE INTO rollup_days (site_id, kind, day, value, pageviews, events, \
         visits, bounces, visit_pageviews, duration_ms, exits, visitors, rowid) \
         VALUES (?1, ?2, ?3, ?4, 0, 0, 0, 0, 0, 0, 0, ?5, ?6)",
    )?;
    // Packed rows stay out of the page rows' rowid range (see `DayRowids`).
    let mut rowids = DayRowids::load(conn)?;
    for (part, blob) in (0i64..).zip(pack(&entries)) {
        write.execute(params![
            site,
            PAGE_PACK,
            day,
            part,
            blob,
            rowids.next(false)
        ])?;
    }
    Ok(())
}

/// Packs every closed day of `site` not packed yet, given the newest local day
/// with an event.
pub(crate) fn pack_closed_days(
    conn: &Connection,
    site: i64,
    newest_day: i64,
) -> Result<(), StoreError> {
    let limit = newest_day - PACK_LAG_DAYS;
    let state: Option<(Option<i64>, i64)> = conn
        .prepare_cached("SELECT packed_until, first_day FROM rollup_sites WHERE site_id = ?1")?
        .query_row(params![site], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((packed_until, first_day)) = state else {
        return Ok(());
    };
    let from = packed_until.unwrap_or(first_day);
    if from >= limit {
        return Ok(());
    }
    let days: Vec<i64> = conn
        .prepare_cached(
            "SELECT DISTINCT day FROM rollup_days WHERE site_id = ?1 AND kind = ?2 \
             AND day >= ?3 AND day < ?4",
        )?
        .query_map(params![site, kind::PAGE, from, limit], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for day in days {
        repack_day(conn, site, day)?;
    }
    conn.prepare_cached("UPDATE rollup_sites SET packed_until = ?2 WHERE site_id = ?1")?
        .execute(params![site, limit])?;
    Ok(())
}

/// Calls `each` with the counters of every packed path of `site` in
/// `piece` of a range.
pub(crate) fn read_counts(
    conn: &Connection,
    Piece { table, range }: Piece,
    site: i64,
    mut each: impl FnMut(i64, [i64; COUNTERS]),
) -> Result<(), StoreError> {
    let DayRange { start, end } = range;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT visitors FROM {} WHERE site_id = ?1 AND kind = ?2 AND day >= ?3 \
         AND day < ?4 AND value = 0",
        table.name()
    ))?;
    let mut rows = stmt.query(params![site, PAGE_PACK, start, end])?;
    while let Some(row) = rows.next()? {
        if let Some(bytes) = row.get_ref(0)?.as_blob_or_null().map_err(|_| corrupt())? {
            decode_counts(bytes, &mut each)?;
        }
    }
    Ok(())
}

/// Calls `each` with the encoded sketches of the `wanted` packed paths of
/// `site` in `piece` of a range.
pub(crate) fn read_sketches(
    conn: &Connection,
    Piece { table, range }: Piece,
    site: i64,
    wanted: &HashSet<i64>,
    mut each: impl FnMut(i64, &[u8]) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let DayRange { start, end } = range;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT day, visitors FROM {} WHERE site_id = ?1 AND kind = ?2 AND day >= ?3 \
         AND day < ?4 AND value = 1",
        table.name()
    ))?;
    let mut incomplete = Vec::new();
    let mut rows = stmt.query(params![site, PAGE_PACK, start, end])?;
    while let Some(row) = rows.next()? {
        let day: i64 = row.get(0)?;
        let mut found = 0usize;
        if let Some(bytes) = row.get_ref(1)?.as_blob_or_null().map_err(|_| corrupt())? {
            decode_sketches(bytes, |value, sketch| {
                if wanted.contains(&value) {
                    found += 1;
                    each(value, sketch)
                } else {
                    Ok(())
                }
            })?;
        }
        if found < wanted.len() {
            incomplete.push(day);
        }
    }
    for day in incomplete {
        if let Some(bytes) = packed_blob(conn, table, site, day, 2)? {
            decode_sketches(&bytes, |value, sketch| {
                if wanted.contains(&value) {
                    each(value, sketch)
                } else {
                    Ok(())
                }
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_zigzag_round_trip() {
        for v in [
            0i64,
            1,
            -1,
            63,
            -64,
            1 << 40,
            -(1 << 40),
            i64::MAX,
            i64::MIN,
        ] {
            let mut out = Vec::new();
            put_varint(&mut out, zigzag(v));
            let mut at = 0;
            assert_eq!(unzigzag(get_varint(&out, &mut at).unwrap()), v);
            assert_eq!(at, out.len());
        }
        assert_eq!(get_varint(&[0x80], &mut 0), None);
        assert!(decode_counts(&[5, 1], |_, _| {}).is_err());
    }
}
