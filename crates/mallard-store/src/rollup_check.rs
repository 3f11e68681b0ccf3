//! Comparing the stored rollups with a recomputation from the stored rows.
//!
//! The writer keeps rollups incrementally; a bug or a lost write would leave
//! them different from the visits and events they summarise, and every stats
//! answer with them. [`rollup_differences`] recomputes them with the same code
//! as a rebuild ([`crate::rollup_rebuild::rebuild_site`]) into TEMP tables of
//! the same names, which shadow the stored ones for unqualified statements, so
//! it runs on a read-only connection and never writes the database file. The
//! counters of every row are compared; packed page rows are unpacked first, so
//! that where packing happened does not matter. Visitor sketches are not
//! compared: a sketch cannot forget a visitor whose visit moved to another
//! day, so an incremental sketch may rightly hold more than a rebuilt one.

use std::collections::BTreeMap;

use rusqlite::Connection;

use crate::error::StoreError;
use crate::rollups::kind;

/// The tables a rebuild writes (it drops the marks of the rollup spans of
/// the days it writes: their scratch copy takes that, not the file's).
const ROLLUP_TABLES: [&str; 4] = [
    "rollup_sites",
    "rollup_hours",
    "rollup_days",
    "rollup_span_marks",
];
/// The kind under which `rollup_hours` rows are compared.
const HOUR_ROWS: i64 = -1;
/// Counters per row: pageviews, events, visits, bounces, visit_pageviews,
/// duration_ms, exits (hours have no exits).
const COUNTERS: usize = 7;
const COUNTER_NAMES: [&str; COUNTERS] = [
    "pageviews",
    "events",
    "visits",
    "bounces",
    "visit_pageviews",
    "duration_ms",
    "exits",
];

/// The counters of every rollup row: (site, kind, day or hour, value).
type Rows = BTreeMap<(i64, i64, i64, i64), [i64; COUNTERS]>;

/// What [`rollup_differences`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RollupComparison {
    /// One line per rollup row whose counters differ from the recomputation.
    pub differences: Vec<String>,
    /// Local days whose rollups are known to lag their committed rows (listed
    /// in `rollup_dirty_days`, or visits with logged growth): the store brings
    /// them up to date when it next opens, so they were not compared.
    pub pending_days: usize,
}

/// Recomputes the rollups of every site from the stored rows and compares
/// them with the stored ones. Needs no write access to the database: the
/// recomputation lives in TEMP tables, dropped before it returns.
pub fn rollup_differences(conn: &Connection) -> Result<RollupComparison, StoreError> {
    let pending_days: i64 =
        conn.query_row("SELECT count(*) FROM main.rollup_dirty_days", [], |r| {
            r.get(0)
        })?;
    let pending_growth: i64 =
        conn.query_row("SELECT count(*) FROM main.visit_growth_log", [], |r| {
            r.get(0)
        })?;
    if pending_days > 0 || pending_growth > 0 {
        return Ok(RollupComparison {
            differences: Vec::new(),
            pending_days: usize::try_from(pending_days.max(1)).unwrap_or(usize::MAX),
        });
    }
    create_scratch_tables(conn)?;
    let outcome = recompute_and_compare(conn);
    let dropped = drop_scratch_tables(conn);
    let differences = outcome?;
    dropped?;
    Ok(RollupComparison {
        differences,
        pending_days: 0,
    })
}

fn recompute_and_compare(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let sites: Vec<(i64, String)> = conn
        .prepare("SELECT id, domain FROM main.sites ORDER BY id")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (site, _) in &sites {
        crate::rollup_rebuild::rebuild_site(conn, *site)?;
    }
    let stored = read_rows(conn, "main")?;
    let recomputed = read_rows(conn, "temp")?;
    // The property rows of days still to be counted again with page views
    // (`crate::prop_recount`) differ by design until they are.
    let recounting: std::collections::HashSet<(i64, i64)> = conn
        .prepare("SELECT site_id, day FROM main.prop_recount")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let domains: BTreeMap<i64, &str> = sites.iter().map(|(id, d)| (*id, d.as_str())).collect();
    let mut differences = Vec::new();
    let mut keys: Vec<_> = stored.keys().chain(recomputed.keys()).copied().collect();
    keys.sort_unstable();
    keys.dedup();
    for key in keys {
        if key.1 == kind::PROP && recounting.contains(&(key.0, key.2)) {
            continue;
        }
        let have = stored.get(&key).copied().unwrap_or_default();
        let want = recomputed.get(&key).copied().unwrap_or_default();
        if have == want {
            continue;
        }
        let (site, row_kind, at, value) = key;
        let site = domains.get(&site).copied().unwrap_or("(deleted site)");
        let place = if row_kind == HOUR_ROWS {
            format!("{site}: hour {at}")
        } else {
            format!("{site}: day {at}, kind {row_kind}, value {value}")
        };
        let counters: Vec<String> = (0..COUNTERS)
            .filter(|&i| have[i] != want[i])
            .map(|i| {
                format!(
                    "{} stored {} but the rows give {}",
                    COUNTER_NAMES[i], have[i], want[i]
                )
            })
            .collect();
        differences.push(format!("{place}: {}", counters.join(", ")));
    }
    Ok(differences)
}

/// Creates empty TEMP copies of the rollup tables and their indexes (not
/// their triggers, which keep the rollup spans of `main`).
fn create_scratch_tables(conn: &Connection) -> Result<(), StoreError> {
    drop_scratch_tables(conn)?;
    let mut statements: Vec<(String, String)> = conn
        .prepare(
            "SELECT type, sql FROM main.sqlite_schema WHERE tbl_name IN \
             ('rollup_sites', 'rollup_hours', 'rollup_days', 'rollup_span_marks') \
             AND sql IS NOT NULL AND type IN ('table', 'index')",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    // Tables before their indexes.
    statements.sort_by_key(|(kind, _)| kind != "table");
    for (kind, sql) in statements {
        let scratch = if kind == "table" {
            sql.replacen("CREATE TABLE ", "CREATE TEMP TABLE ", 1)
        } else {
            sql.replacen(" INDEX ", " INDEX temp.", 1)
        };
        if scratch == sql {
            return Err(StoreError::InvalidData(format!(
                "unexpected schema statement: {sql}"
            )));
        }
        conn.execute_batch(&scratch)?;
    }
    Ok(())
}

fn drop_scratch_tables(conn: &Connection) -> Result<(), StoreError> {
    for table in ROLLUP_TABLES {
        conn.execute_batch(&format!("DROP TABLE IF EXISTS temp.{table}"))?;
    }
    Ok(())
}

/// Reads the counters of every rollup row of `schema` (`main` or `temp`),
/// with packed page rows unpacked into one row per path and day and rows of
/// zeros left out.
fn read_rows(conn: &Connection, schema: &str) -> Result<Rows, StoreError> {
    let mut rows = Rows::new();
    let mut add = |key: (i64, i64, i64, i64), counts: [i64; COUNTERS]| {
        let slot = rows.entry(key).or_insert([0; COUNTERS]);
        for (total, count) in slot.iter_mut().zip(counts) {
            *total += count;
        }
    };
    let mut hours = conn.prepare(&format!(
        "SELECT site_id, hour, pageviews, events, visits, bounces, visit_pageviews, \
         duration_ms FROM {schema}.rollup_hours"
    ))?;
    let mut cursor = hours.query([])?;
    while let Some(row) = cursor.next()? {
        let mut counts = [0; COUNTERS];
        for (i, slot) in counts.iter_mut().take(6).enumerate() {
            *slot = row.get(i + 2)?;
        }
        add((row.get(0)?, HOUR_ROWS, row.get(1)?, 0), counts);
    }
    let mut days = conn.prepare(&format!(
        "SELECT site_id, kind, day, value, pageviews, events, visits, bounces, \
         visit_pageviews, duration_ms, exits, visitors FROM {schema}.rollup_days"
    ))?;
    let mut cursor = days.query([])?;
    while let Some(row) = cursor.next()? {
        let (site, row_kind, day, value): (i64, i64, i64, i64) =
            (row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?);
        if row_kind == kind::PAGE_PACK {
            // Value 0 holds the counters of the day's paths; 1 and 2 sketches.
            if value == 0 {
                let blob: Option<Vec<u8>> = row.get(11)?;
                crate::packed_pages::decode_counts(&blob.unwrap_or_default(), |path, counts| {
                    add((site, kind::PAGE, day, path), counts);
                })?;
            }
            continue;
        }
        let mut counts = [0; COUNTERS];
        for (i, slot) in counts.iter_mut().enumerate() {
            *slot = row.get(i + 4)?;
        }
        add((site, row_kind, day, value), counts);
    }
    rows.retain(|_, counts| counts.iter().any(|&c| c != 0));
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_tables_shadow_the_stored_ones_and_go_away() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE rollup_sites (site_id INTEGER PRIMARY KEY, version INTEGER);
             CREATE TABLE rollup_hours (site_id INTEGER, hour INTEGER);
             CREATE UNIQUE INDEX rollup_hours_key ON rollup_hours (site_id, hour);
             CREATE TABLE rollup_days (site_id INTEGER, day INTEGER);
             INSERT INTO rollup_hours VALUES (1, 2);",
        )
        .unwrap();
        create_scratch_tables(&conn).unwrap();
        let unqualified: i64 = conn
            .query_row("SELECT count(*) FROM rollup_hours", [], |r| r.get(0))
            .unwrap();
        assert_eq!(unqualified, 0, "the TEMP table shadows the stored one");
        conn.execute("INSERT INTO rollup_hours VALUES (1, 2)", [])
            .unwrap();
        assert!(
            conn.execute("INSERT INTO rollup_hours VALUES (1, 2)", [])
                .is_err(),
            "the unique index was copied"
        );
        drop_scratch_tables(&conn).unwrap();
        let stored: i64 = conn
            .query_row("SELECT count(*) FROM rollup_hours", [], |r| r.get(0))
            .unwrap();
        assert_eq!(stored, 1);
    }
}
