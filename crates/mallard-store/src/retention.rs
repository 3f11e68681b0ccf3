//! Data retention: deleting events and visits older than a cut-off.
//!
//! Deletion runs in small chunks (one day of one site per call) inside the
//! writer's transactions, so that a first run over years of data never holds the
//! writer for long: ingestion batches commit between chunks.

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::StoreError;

/// How much event time one call deletes at most.
const CHUNK_MS: i64 = 24 * 60 * 60 * 1000;

/// Deletes the oldest chunk of data older than `cutoff_ms` (events, their
/// props, and visits that started before the cut-off) and returns how many rows
/// (or packed days) went; 0 means nothing older remains. Packed days go
/// first: whole, or restored to rows when the cut-off falls in them
/// ([`crate::visit_paths::forget_before`]).
pub fn delete_oldest_chunk(conn: &Connection, cutoff_ms: i64) -> Result<u64, StoreError> {
    let days = crate::visit_paths::forget_before(conn, cutoff_ms)?;
    if days > 0 {
        return Ok(days);
    }
    let oldest: Option<(i64, i64)> = conn
        .prepare_cached(
            "SELECT s.id, (SELECT min(ts) FROM events e WHERE e.site_id = s.id) AS oldest \
             FROM sites s WHERE oldest < ?1 ORDER BY oldest LIMIT 1",
        )?
        .query_row(params![cutoff_ms], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    let mut deleted = 0u64;
    if let Some((site_id, oldest)) = oldest {
        let end = cutoff_ms.min(oldest + CHUNK_MS);
        for table in ["event_props", "events"] {
            let sql = format!("DELETE FROM {table} WHERE site_id = ?1 AND ts >= ?2 AND ts < ?3");
            deleted += conn
                .prepare_cached(&sql)?
                .execute(params![site_id, oldest, end])? as u64;
        }
    }
    // Visits that started before the cut-off have ids up to the last one of
    // the cut-off's day ([`crate::visit_days`]).
    if let Some(last_id) = crate::visit_days::last_id_before(conn, cutoff_ms)? {
        deleted += conn
            .prepare_cached(
                "DELETE FROM visits WHERE id IN (SELECT v.id FROM visits v WHERE v.id <= ?2 \
                 AND v.start_ts < ?1 AND v.end_ts < ?1 AND v.site_id IN (SELECT id FROM sites) \
                 LIMIT 20000)",
            )?
            .execute(params![cutoff_ms, last_id])? as u64;
        crate::visit_days::forget_emptied(conn)?;
    }
    deleted += crate::rollups::delete_before(conn, cutoff_ms)?;
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::visits::VISIT_TIMEOUT_MS;

    #[test]
    fn old_events_and_visits_go_chunk_by_chunk_and_recent_ones_stay() {
        let conn = crate::schema::migrated_in_memory();
        conn.execute_batch("INSERT INTO sites (id, domain, created_at) VALUES (1, 'a.test', 0)")
            .unwrap();
        let day = CHUNK_MS;
        for (id, ts) in [(1, 0), (2, day / 2), (3, 3 * day), (4, 10 * day)] {
            conn.execute(
                "INSERT INTO events (site_id, ts, id, visit_id, name, hostname, pathname) VALUES (1, ?1, ?2, ?2, 1, 1, 1)",
                params![ts, id],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO visits (id, site_id, visitor_id, start_ts, end_ts, pageviews, events, device) \
                 VALUES (?1, 1, ?1, ?2, ?3, 1, 1, 0)",
                params![id, ts, ts + VISIT_TIMEOUT_MS / 2],
            )
            .unwrap();
        }
        // The writer records where each day's visits are.
        crate::visit_days::recover(&conn).unwrap();
        let cutoff = 5 * day;
        let mut calls = 0;
        while delete_oldest_chunk(&conn, cutoff).unwrap() > 0 {
            calls += 1;
            assert!(calls < 10);
        }
        assert!(calls >= 2, "deleted in more than one chunk");
        let remaining: Vec<i64> = conn
            .prepare("SELECT ts FROM events ORDER BY ts")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(remaining, vec![10 * day]);
        let visits: i64 = conn
            .query_row("SELECT count(*) FROM visits", [], |r| r.get(0))
            .unwrap();
        assert_eq!(visits, 1);
        let days: Vec<i64> = conn
            .prepare("SELECT day FROM visit_days")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(days, vec![10], "the ranges of emptied days are forgotten");
    }
}
