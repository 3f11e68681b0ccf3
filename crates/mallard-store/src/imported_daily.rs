//! Daily aggregates imported from another analytics tool (migration 021):
//! Plausible's CSV export ([`mallard_core::plausible_export`]).
//!
//! They belong to an import of the ledger ([`crate::imports`], kind
//! `plausible`) and go when it is undone. Stats queries add them to the
//! native numbers when asked (see [`crate::stats`]), with Plausible's
//! overlap rule: imported days count only before the site's first day of
//! native data, so that no day is counted twice.
//!
//! Each count is kept twice: for its day, and added into its month (the
//! dimension's code with [`MONTHLY`] set, `day` the month's first day), so
//! that a breakdown over a year reads twelve months of values and the days
//! of the months it covers in part, not every day's (an export holds a
//! row per page and day).

use std::collections::HashMap;

use mallard_core::Interval;
use mallard_core::plausible_export::{ImportedDimension, ImportedMetrics, ImportedRecord};
use rusqlite::{Connection, params};

use crate::error::StoreError;
use crate::reader::ReadConn;

/// The kind of the imports that hold daily aggregates.
pub const IMPORT_KIND: &str = "plausible";

/// Days of a deleted site's aggregates purged per step.
const PURGE_DAYS: i64 = 31;

/// Set on a dimension's code for its monthly rows.
pub const MONTHLY: u8 = 64;

/// The first day of the month holding local day `day`.
pub fn month_start(day: i64) -> i64 {
    Interval::Month.bucket_start_day(day)
}

/// The first day of the month after the one holding `day`.
pub fn next_month(day: i64) -> i64 {
    // A month has at most 31 days.
    month_start(month_start(day) + 31)
}

/// Every stored dimension code: daily, then monthly.
fn stored_codes() -> impl Iterator<Item = u8> {
    ImportedDimension::ALL
        .into_iter()
        .flat_map(|dimension| [dimension.code(), dimension.code() | MONTHLY])
}

/// Adds `records` to import `import_id` of `site_id`, each to its day and
/// its month (records of the same day, dimension and value add up).
pub fn store_records(
    conn: &Connection,
    import_id: i64,
    site_id: i64,
    records: &[ImportedRecord],
) -> Result<(), StoreError> {
    let mut monthly: HashMap<(u8, i64, &str), ImportedMetrics> = HashMap::new();
    for record in records {
        let key = (
            record.dimension.code() | MONTHLY,
            month_start(record.day),
            record.value.as_str(),
        );
        *monthly.entry(key).or_default() += record.metrics;
    }
    let daily = records
        .iter()
        .map(|r| ((r.dimension.code(), r.day, r.value.as_str()), r.metrics));
    add_rows(conn, import_id, site_id, daily.chain(monthly))
}

/// Adds counts keyed by (code, day, value) to the rows of the import.
fn add_rows<'a>(
    conn: &Connection,
    import_id: i64,
    site_id: i64,
    rows: impl Iterator<Item = ((u8, i64, &'a str), ImportedMetrics)>,
) -> Result<(), StoreError> {
    let mut insert = conn.prepare_cached(
        "INSERT INTO imported_daily (site_id, dimension, day, value, import_id, visitors, \
         visits, pageviews, bounces, visit_duration, events) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
         ON CONFLICT (site_id, dimension, day, value, import_id) DO UPDATE SET \
         visitors = visitors + excluded.visitors, visits = visits + excluded.visits, \
         pageviews = pageviews + excluded.pageviews, bounces = bounces + excluded.bounces, \
         visit_duration = visit_duration + excluded.visit_duration, \
         events = events + excluded.events",
    )?;
    let clamp = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    for ((code, day, value), m) in rows {
        insert.execute(params![
            site_id,
            code,
            day,
            value,
            import_id,
            clamp(m.visitors),
            clamp(m.visits),
            clamp(m.pageviews),
            clamp(m.bounces),
            clamp(m.visit_duration_secs),
            clamp(m.events),
        ])?;
    }
    Ok(())
}

/// The days one import of aggregates covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportedSpan {
    /// The import's id in the ledger.
    pub import_id: i64,
    /// Its first and last local day with any count.
    pub first_day: i64,
    /// See `first_day`.
    pub last_day: i64,
}

/// The imports of aggregates of `site_id` that are not undone, oldest
/// first.
pub fn spans(conn: &Connection, site_id: i64) -> Result<Vec<ImportedSpan>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT d.import_id, min(d.day), max(d.day) FROM imported_daily d \
         JOIN imports i ON i.id = d.import_id \
         WHERE d.site_id = ?1 AND d.dimension < ?2 AND i.undone_at IS NULL \
         GROUP BY d.import_id ORDER BY d.import_id",
    )?;
    let spans = stmt
        .query_map(params![site_id, MONTHLY], |row| {
            Ok(ImportedSpan {
                import_id: row.get(0)?,
                first_day: row.get(1)?,
                last_day: row.get(2)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(spans)
}

/// Deletes the aggregates of import `import_id`; returns how many rows went.
pub fn delete_import(conn: &Connection, import_id: i64) -> Result<u64, StoreError> {
    Ok(conn
        .prepare_cached("DELETE FROM imported_daily WHERE import_id = ?1")?
        .execute(params![import_id])? as u64)
}

/// Deletes the aggregates of `site_id` on local days `first..=last` (a
/// deleted date range), and counts the months they were part of again
/// from the days left.
pub fn delete_days(
    conn: &Connection,
    site_id: i64,
    first: i64,
    last: i64,
) -> Result<u64, StoreError> {
    let mut deleted = 0;
    for dimension in ImportedDimension::ALL {
        let code = dimension.code();
        deleted += conn
            .prepare_cached(
                "DELETE FROM imported_daily WHERE site_id = ?1 AND dimension = ?2 \
                 AND day >= ?3 AND day <= ?4",
            )?
            .execute(params![site_id, code, first, last])?;
        let (from, to) = (month_start(first), next_month(last));
        conn.prepare_cached(
            "DELETE FROM imported_daily WHERE site_id = ?1 AND dimension = ?2 \
             AND day >= ?3 AND day < ?4",
        )?
        .execute(params![site_id, code | MONTHLY, from, to])?;
        let mut month = from;
        while month < to {
            let next = next_month(month);
            conn.prepare_cached(
                "INSERT INTO imported_daily (site_id, dimension, day, value, import_id, \
                 visitors, visits, pageviews, bounces, visit_duration, events) \
                 SELECT site_id, ?3, ?4, value, import_id, sum(visitors), sum(visits), \
                 sum(pageviews), sum(bounces), sum(visit_duration), sum(events) \
                 FROM imported_daily WHERE site_id = ?1 AND dimension = ?2 \
                 AND day >= ?4 AND day < ?5 GROUP BY value, import_id",
            )?
            .execute(params![site_id, code, code | MONTHLY, month, next])?;
            month = next;
        }
    }
    Ok(deleted as u64)
}

/// Deletes a chunk of a deleted site's aggregates (the oldest month of
/// each dimension); returns whether any were left.
pub(crate) fn purge_chunk(conn: &Connection, site_id: i64) -> Result<bool, StoreError> {
    let mut deleted = 0;
    for code in stored_codes() {
        let oldest: Option<i64> = conn
            .prepare_cached(
                "SELECT min(day) FROM imported_daily WHERE site_id = ?1 AND dimension = ?2",
            )?
            .query_row(params![site_id, code], |r| r.get(0))?;
        if let Some(oldest) = oldest {
            deleted += conn
                .prepare_cached(
                    "DELETE FROM imported_daily WHERE site_id = ?1 AND dimension = ?2 \
                     AND day < ?3",
                )?
                .execute(params![site_id, code, oldest + PURGE_DAYS])?;
        }
    }
    Ok(deleted > 0)
}

impl ReadConn<'_> {
    /// The imports of aggregates of site `site_id` that are not undone.
    pub fn imported_spans(&self, site_id: i64) -> Result<Vec<ImportedSpan>, StoreError> {
        spans(self.connection(), site_id)
    }
}

#[cfg(test)]
mod tests {
    use mallard_core::plausible_export::ImportedMetrics;

    use super::*;
    use crate::imports;

    fn records(days: std::ops::Range<i64>) -> Vec<ImportedRecord> {
        days.flat_map(|day| {
            [ImportedDimension::Totals, ImportedDimension::Page].map(|dimension| ImportedRecord {
                day,
                dimension,
                value: if dimension == ImportedDimension::Page {
                    "/".into()
                } else {
                    String::new()
                },
                metrics: ImportedMetrics {
                    visitors: 1,
                    pageviews: 2,
                    ..ImportedMetrics::default()
                },
            })
        })
        .collect()
    }

    fn rows(conn: &Connection) -> i64 {
        conn.query_row("SELECT count(*) FROM imported_daily", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn records_add_up_and_spans_follow_imports() {
        let conn = crate::schema::migrated_in_memory();
        let (import, site) = imports::begin_import(&conn, "p.test", IMPORT_KIND, "x", 1).unwrap();
        store_records(&conn, import, site, &records(100..103)).unwrap();
        // The same day and value again adds to the counts.
        store_records(&conn, import, site, &records(102..103)).unwrap();
        let pageviews: i64 = conn
            .query_row(
                "SELECT pageviews FROM imported_daily WHERE day = 102 AND dimension = 0",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(pageviews, 4);
        assert_eq!(
            spans(&conn, site).unwrap(),
            vec![ImportedSpan {
                import_id: import,
                first_day: 100,
                last_day: 102
            }]
        );
        // Each count is in its month too.
        let month = |code: u8| -> i64 {
            conn.query_row(
                "SELECT pageviews FROM imported_daily WHERE dimension = ?1 AND day = ?2",
                params![code | MONTHLY, month_start(100)],
                |r| r.get(0),
            )
            .unwrap()
        };
        assert_eq!(month(0), 2 + 2 + 4);
        // A deleted range of days takes their aggregates, and their month
        // is counted again from the days left.
        assert_eq!(delete_days(&conn, site, 101, 101).unwrap(), 2);
        assert_eq!(rows(&conn), 4 + 2);
        assert_eq!(month(0), 2 + 4);
        imports::undo_import(&conn, import, 2).unwrap();
        assert_eq!(rows(&conn), 0);
        assert!(spans(&conn, site).unwrap().is_empty());
    }

    #[test]
    fn months_start_and_end_where_the_calendar_says() {
        let day = |date: &str| mallard_core::period::parse_date(date).unwrap();
        assert_eq!(month_start(day("2024-02-29")), day("2024-02-01"));
        assert_eq!(next_month(day("2024-01-31")), day("2024-02-01"));
        assert_eq!(next_month(day("2024-12-01")), day("2025-01-01"));
    }

    #[test]
    fn an_import_killed_while_holding_is_undone_before_the_next() {
        let conn = crate::schema::migrated_in_memory();
        let (import, site) = imports::begin_import(&conn, "p.test", IMPORT_KIND, "x", 1).unwrap();
        imports::hold_span(&conn, import, None, None).unwrap();
        store_records(&conn, import, site, &records(100..110)).unwrap();
        // The process dies here; the next import of the site starts with:
        let undone = imports::roll_back_interrupted(&conn, "p.test", 2).unwrap();
        assert_eq!(undone.len(), 1);
        assert_eq!(rows(&conn), 0);
    }

    #[test]
    fn a_deleted_sites_aggregates_are_purged_in_chunks() {
        let conn = crate::schema::migrated_in_memory();
        let (import, site) = imports::begin_import(&conn, "p.test", IMPORT_KIND, "x", 1).unwrap();
        store_records(&conn, import, site, &records(0..100)).unwrap();
        let mut steps = 0;
        while purge_chunk(&conn, site).unwrap() {
            steps += 1;
        }
        // A month of days at a time.
        assert_eq!(steps, 4);
        assert_eq!(rows(&conn), 0);
    }
}
