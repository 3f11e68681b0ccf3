//! Keeps a site's own visitor sketches plain in databases written before
//! they were ([`crate::hll`]): the writer re-encodes the deflated ones of
//! the site rows of `rollup_days` and `rollup_spans`, [`ROWS_PER_STEP`] at
//! a time, once no closed day is left to pack, then notes in the settings
//! that none is left and never looks again (no sketch is written deflated
//! at that precision any more).
//!
//! A sketch re-encoded holds the same visitors, so no span or cache built
//! from it goes stale; a deflated one is read as well as a plain one, only
//! more slowly (an unfiltered daily series of a year inflated 365 of them).

use rusqlite::{Connection, params};

use crate::error::StoreError;
use crate::hll::{SITE_PRECISION, Sketch, TAG_DENSE_DEFLATE};
use crate::rollups::kind;
use crate::settings;

/// Rows re-encoded per writer step, at most: about 3 ms of work.
const ROWS_PER_STEP: usize = 64;

/// The setting that says no site sketch is left deflated.
const DONE: &str = "site_sketches_plain";

/// The tables whose site rows hold a sketch per day or span.
const TABLES: [&str; 2] = ["rollup_days", "rollup_spans"];

/// Re-encodes up to [`ROWS_PER_STEP`] deflated site sketches; returns
/// whether it found any (false: none is left, and the setting says so).
/// Runs in the writer's transaction.
pub(crate) fn fill_step(conn: &Connection) -> Result<bool, StoreError> {
    if settings::get_i64(conn, DONE)? == Some(1) {
        return Ok(false);
    }
    // The deflated tag and the site precision lead such a sketch.
    let deflated = [TAG_DENSE_DEFLATE, SITE_PRECISION];
    let sites: Vec<i64> = conn
        .prepare_cached("SELECT id FROM sites ORDER BY id")?
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    // Rows re-encoded, and rows looked at (a sketch that does not decode
    // stays as it is, for `mallard check` to report).
    let (mut converted, mut looked) = (0, 0);
    'tables: for table in TABLES {
        for &site in &sites {
            // Rows by their key (spans have no row id).
            let rows: Vec<(i64, i64, Vec<u8>)> = conn
                .prepare_cached(&format!(
                    "SELECT day, value, visitors FROM {table} WHERE site_id = ?1 AND kind = ?2 \
                     AND substr(visitors, 1, 2) = ?3 LIMIT ?4"
                ))?
                .query_map(
                    params![
                        site,
                        kind::SITE,
                        &deflated[..],
                        (ROWS_PER_STEP - looked) as i64
                    ],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
                )?
                .collect::<Result<_, _>>()?;
            for (day, value, stored) in rows {
                looked += 1;
                let Some(sketch) = Sketch::decode(&stored) else {
                    continue;
                };
                conn.prepare_cached(&format!(
                    "UPDATE {table} SET visitors = ?5 \
                     WHERE site_id = ?1 AND kind = ?2 AND day = ?3 AND value = ?4"
                ))?
                .execute(params![
                    site,
                    kind::SITE,
                    day,
                    value,
                    sketch.encode()
                ])?;
                converted += 1;
            }
            if looked >= ROWS_PER_STEP {
                break 'tables;
            }
        }
    }
    // Nothing re-encoded: none is left but those that do not decode (a
    // site with a step's worth of those would stop the sweep early: its
    // other sketches are read as well deflated).
    if converted == 0 {
        settings::set_i64(conn, DONE, 1)?;
    }
    Ok(converted > 0)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::hll::{DIM_PRECISION, visitor_hash};

    /// A dense sketch of `visitors` visitors at precision `p`.
    fn dense(p: u8, visitors: i64) -> Sketch {
        let hashes: Vec<u32> = (0..visitors).map(visitor_hash).collect();
        let mut sketch = Sketch::default();
        sketch.insert_all(&hashes, p);
        assert!(matches!(sketch, Sketch::Dense { .. }));
        sketch
    }

    /// `sketch` as sketches of its precision were stored before: deflated.
    fn deflated(sketch: &Sketch) -> Vec<u8> {
        let Sketch::Dense { p, registers } = sketch else {
            unreachable!("dense sketches only");
        };
        let packed: Vec<u8> = registers
            .chunks_exact(2)
            .map(|pair| pair[0] | pair[1] << 4)
            .collect();
        let mut encoder = flate2::write::DeflateEncoder::new(
            vec![TAG_DENSE_DEFLATE, *p],
            flate2::Compression::fast(),
        );
        encoder.write_all(&packed).unwrap();
        encoder.finish().unwrap()
    }

    fn insert(conn: &Connection, table: &str, site: i64, kind: i64, day: i64, visitors: &[u8]) {
        conn.execute(
            &format!(
                "INSERT INTO {table} (site_id, kind, day, value, pageviews, events, visits, \
                 bounces, visit_pageviews, duration_ms, exits, visitors) \
                 VALUES (?1, ?2, ?3, 0, 1, 1, 1, 0, 1, 0, 0, ?4)"
            ),
            params![site, kind, day, visitors],
        )
        .unwrap();
    }

    fn stored(conn: &Connection, table: &str, site: i64, kind: i64, day: i64) -> Vec<u8> {
        conn.query_row(
            &format!("SELECT visitors FROM {table} WHERE site_id = ?1 AND kind = ?2 AND day = ?3"),
            params![site, kind, day],
            |row| row.get(0),
        )
        .unwrap()
    }

    #[test]
    fn deflated_site_sketches_are_stored_plain_a_step_at_a_time_then_never_looked_for() {
        let conn = crate::schema::migrated_in_memory();
        conn.execute(
            "INSERT INTO sites (id, domain, timezone, created_at) VALUES (1, 'a.example', 'UTC', 0), \
             (2, 'b.example', 'UTC', 0)",
            [],
        )
        .unwrap();
        let site_day = dense(SITE_PRECISION, 5_000);
        let value_day = dense(DIM_PRECISION, 2_000);
        // More site days than a step re-encodes, of two sites and both
        // tables; a value's sketch (kept deflated) and a damaged one.
        let days = ROWS_PER_STEP as i64 + 10;
        for day in 0..days {
            insert(
                &conn,
                "rollup_days",
                1 + day % 2,
                kind::SITE,
                day,
                &deflated(&site_day),
            );
        }
        insert(
            &conn,
            "rollup_spans",
            2,
            kind::SITE,
            16,
            &deflated(&site_day),
        );
        insert(
            &conn,
            "rollup_days",
            1,
            kind::SOURCE,
            0,
            &deflated(&value_day),
        );
        let mut damaged = deflated(&site_day);
        damaged.truncate(damaged.len() / 2);
        insert(&conn, "rollup_days", 2, kind::SITE, days + 1, &damaged);

        assert!(fill_step(&conn).unwrap());
        let plain = site_day.encode();
        assert_eq!(&plain[..2], &[2, SITE_PRECISION]);
        let left = |conn: &Connection| -> i64 {
            conn.query_row(
                "SELECT (SELECT count(*) FROM rollup_days WHERE kind = 0 AND visitors != ?1) \
                 + (SELECT count(*) FROM rollup_spans WHERE kind = 0 AND visitors != ?1)",
                [&plain],
                |row| row.get(0),
            )
            .unwrap()
        };
        // A step re-encodes a step's worth, the next the rest.
        assert_eq!(left(&conn), days + 2 - ROWS_PER_STEP as i64);
        assert!(fill_step(&conn).unwrap());
        assert_eq!(left(&conn), 1, "the damaged one stays");
        assert!(!fill_step(&conn).unwrap());
        assert_eq!(settings::get_i64(&conn, DONE).unwrap(), Some(1));
        // Every re-encoded sketch holds what it held.
        for day in 0..days {
            let bytes = stored(&conn, "rollup_days", 1 + day % 2, kind::SITE, day);
            assert_eq!(Sketch::decode(&bytes), Some(site_day.clone()));
        }
        assert_eq!(stored(&conn, "rollup_spans", 2, kind::SITE, 16), plain);
        assert_eq!(
            stored(&conn, "rollup_days", 2, kind::SITE, days + 1),
            damaged
        );
        assert_eq!(
            stored(&conn, "rollup_days", 1, kind::SOURCE, 0),
            deflated(&value_day)
        );
        // Once done, a deflated site sketch (none is written any more) is
        // not looked for.
        insert(
            &conn,
            "rollup_days",
            1,
            kind::SITE,
            days + 5,
            &deflated(&site_day),
        );
        assert!(!fill_step(&conn).unwrap());
    }

    #[test]
    fn a_database_opened_with_deflated_site_sketches_has_them_plain_soon_after() {
        let dir = tempfile::tempdir().unwrap();
        let site_day = dense(SITE_PRECISION, 3_000);
        let store = crate::Store::open(dir.path(), crate::StoreOptions::default()).unwrap();
        let stored_before = deflated(&site_day);
        store
            .writer()
            .run_blocking(move |conn| {
                conn.execute(
                    "INSERT INTO sites (id, domain, timezone, created_at) \
                     VALUES (7, 'c.example', 'UTC', 0)",
                    [],
                )?;
                for day in 0..3 {
                    insert(conn, "rollup_days", 7, kind::SITE, day, &stored_before);
                }
                Ok(())
            })
            .unwrap();
        store.close();
        // The writer of the store opened again re-encodes them by itself
        // once it has nothing else to do.
        let store = crate::Store::open(dir.path(), crate::StoreOptions::default()).unwrap();
        let began = std::time::Instant::now();
        let stored_plain = |store: &crate::Store| {
            store
                .reads()
                .with(|db| {
                    Ok((0..3).all(|day| {
                        stored(db.connection(), "rollup_days", 7, kind::SITE, day)
                            == site_day.encode()
                    }))
                })
                .unwrap()
        };
        while !stored_plain(&store) {
            assert!(began.elapsed().as_secs() < 60, "not re-encoded");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        store.close();
    }
}
