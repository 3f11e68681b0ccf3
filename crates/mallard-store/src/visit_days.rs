//! Where the visits of each day are: for every site and UTC day, the lowest
//! and highest id of the visits that start on it (`visit_days`).
//!
//! Visit ids grow as visits are created, and visits are created when their
//! first event arrives, so the visits of one day fill a compact range of ids.
//! A query for the visits that start in a period reads that range of the
//! `visits` table in id order and skips the rows of other sites and times by
//! its own conditions; no index on the start time is needed (it cost 7.7 bytes
//! per event). Ranges are supersets and only ever widen, so an answer never
//! depends on how tight they are, only its cost does.
//!
//! The writer keeps the ranges of new visits in memory and writes them with
//! its other write-behind state. After every such write, each visit whose id
//! is at most the largest `max_id` stored is covered, so [`recover`] finds
//! the visits left uncovered by a crash by their ids alone. A visit whose
//! start moves to an earlier day is added to that day when its row is
//! updated ([`note_stored_start`]).

use rusqlite::{Connection, OptionalExtension, params};
use rustc_hash::FxHashMap;

use crate::error::StoreError;

/// Milliseconds in a UTC day.
pub(crate) const DAY_MS: i64 = 86_400_000;

/// The UTC day of an instant (ms since the epoch), rounded down.
pub(crate) fn utc_day(ts: i64) -> i64 {
    ts.div_euclid(DAY_MS)
}

/// The same day as [`utc_day`], in SQL, of the `start_ts` column.
const START_DAY_SQL: &str = "(start_ts - ((start_ts % 86400000) + 86400000) % 86400000) / 86400000";

/// The day ranges of visits created since the ranges were last written.
#[derive(Debug, Default)]
pub(crate) struct VisitDays {
    pending: FxHashMap<(i64, i64), (i64, i64)>,
}

impl VisitDays {
    /// Remembers that visit `id` of `site_id` starts at `start_ts`.
    pub(crate) fn note(&mut self, site_id: i64, start_ts: i64, id: i64) {
        self.pending
            .entry((site_id, utc_day(start_ts)))
            .and_modify(|(low, high)| {
                *low = (*low).min(id);
                *high = (*high).max(id);
            })
            .or_insert((id, id));
    }

    /// Widens the stored ranges by the remembered ones, in the caller's
    /// transaction, and forgets them.
    pub(crate) fn write_all(&mut self, conn: &Connection) -> Result<(), StoreError> {
        for ((site_id, day), (low, high)) in self.pending.drain() {
            widen(conn, site_id, day, low, high)?;
        }
        Ok(())
    }

    /// Whether some range is only in memory.
    pub(crate) fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

fn widen(conn: &Connection, site_id: i64, day: i64, low: i64, high: i64) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO visit_days (site_id, day, min_id, max_id) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (site_id, day) DO UPDATE SET min_id = min(min_id, excluded.min_id), \
         max_id = max(max_id, excluded.max_id)",
    )?
    .execute(params![site_id, day, low, high])?;
    Ok(())
}

/// Adds visit `id` to the range of the day its stored row now starts on (after
/// its start moved), in the caller's transaction.
pub(crate) fn note_stored_start(conn: &Connection, id: i64) -> Result<(), StoreError> {
    conn.prepare_cached(&format!(
        "INSERT INTO visit_days (site_id, day, min_id, max_id) \
         SELECT site_id, {START_DAY_SQL}, id, id FROM visits WHERE id = ?1 \
         ON CONFLICT (site_id, day) DO UPDATE SET min_id = min(min_id, excluded.min_id), \
         max_id = max(max_id, excluded.max_id)"
    ))?
    .execute(params![id])?;
    Ok(())
}

/// Adds the visits that no stored range covers (those created after the
/// ranges were last written, before a crash) to their days; returns how many
/// there were. Runs when the writer loads its state, before anything reads
/// visits by day.
pub(crate) fn recover(conn: &Connection) -> Result<usize, StoreError> {
    let covered: i64 =
        conn.query_row("SELECT coalesce(max(max_id), 0) FROM visit_days", [], |r| {
            r.get(0)
        })?;
    let mut days = VisitDays::default();
    let mut found = 0;
    {
        let mut stmt =
            conn.prepare("SELECT site_id, start_ts, id FROM visits WHERE id > ?1 ORDER BY id")?;
        let mut rows = stmt.query(params![covered])?;
        while let Some(row) = rows.next()? {
            days.note(row.get(0)?, row.get(1)?, row.get(2)?);
            found += 1;
        }
    }
    let tx = conn.unchecked_transaction()?;
    days.write_all(&tx)?;
    tx.commit()?;
    Ok(found)
}

/// The part of a period on one UTC day and the id range of a site's visits
/// that start on that day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DayRange {
    /// The first instant of the part (ms since the epoch).
    pub(crate) from_ms: i64,
    /// The first instant after it.
    pub(crate) to_ms: i64,
    /// The lowest visit id of the day.
    pub(crate) low_id: i64,
    /// The highest visit id of the day.
    pub(crate) high_id: i64,
    /// The latest end of the day's visits while the day is packed
    /// (`visit_days.max_end`), else `None`.
    pub(crate) max_end: Option<i64>,
}

/// The UTC days of `[from_ms, to_ms)` on which some visit of `site_id`
/// starts, oldest first, each clipped to the period, with its id range.
pub(crate) fn day_ranges(
    conn: &Connection,
    site_id: i64,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<DayRange>, StoreError> {
    if to_ms <= from_ms {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare_cached(
        "SELECT day, min_id, max_id, max_end FROM visit_days WHERE site_id = ?1 \
         AND day >= ?2 AND day <= ?3 ORDER BY day",
    )?;
    let rows = stmt.query_map(
        params![site_id, utc_day(from_ms), utc_day(to_ms - 1)],
        |r| {
            let day: i64 = r.get(0)?;
            Ok(DayRange {
                from_ms: from_ms.max(day.saturating_mul(DAY_MS)),
                to_ms: to_ms.min(day.saturating_add(1).saturating_mul(DAY_MS)),
                low_id: r.get(1)?,
                high_id: r.get(2)?,
                max_end: r.get(3)?,
            })
        },
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The lowest id of a visit of any site starting at or after `from_ms`, or
/// `None` when there is none.
pub(crate) fn first_id_since(conn: &Connection, from_ms: i64) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT min(min_id) FROM visit_days WHERE day >= ?1")?
        .query_row(params![utc_day(from_ms)], |r| r.get(0))
        .optional()?
        .flatten())
}

/// The highest id of a visit of any site starting before `to_ms`, or `None`
/// when there is none.
pub(crate) fn last_id_before(conn: &Connection, to_ms: i64) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT max(max_id) FROM visit_days WHERE day <= ?1")?
        .query_row(params![utc_day(to_ms - 1)], |r| r.get(0))
        .optional()?
        .flatten())
}

/// Deletes the ranges that hold no visit any more: those of days kept as
/// rows (not packed) below the lowest visit id left, after data retention
/// deleted old visits. The range with the highest `max_id` is never among
/// them while a visit is left, so the coverage [`recover`] relies on holds.
pub(crate) fn forget_emptied(conn: &Connection) -> Result<(), StoreError> {
    conn.prepare_cached(
        "DELETE FROM visit_days WHERE max_end IS NULL AND max_id < \
         (SELECT coalesce(min(id), 9223372036854775807) FROM visits)",
    )?
    .execute([])?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The range of ids that holds every visit of `site_id` starting in
    /// `[from_ms, to_ms)`, `None` when no visit of the site starts on those days.
    pub(crate) fn id_range(
        conn: &Connection,
        site_id: i64,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Option<(i64, i64)>, StoreError> {
        if to_ms <= from_ms {
            return Ok(None);
        }
        let range: (Option<i64>, Option<i64>) = conn
            .prepare_cached(
                "SELECT min(min_id), max(max_id) FROM visit_days WHERE site_id = ?1 \
                 AND day >= ?2 AND day <= ?3",
            )?
            .query_row(
                params![site_id, utc_day(from_ms), utc_day(to_ms - 1)],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
        Ok(range.0.zip(range.1))
    }

    fn insert_visit(conn: &Connection, id: i64, site_id: i64, start_ts: i64) {
        conn.execute(
            "INSERT INTO visits (id, site_id, visitor_id, start_ts, end_ts, pageviews, events, \
             device) VALUES (?1, ?2, 1, ?3, ?3, 1, 1, 0)",
            params![id, site_id, start_ts],
        )
        .unwrap();
    }

    #[test]
    fn days_are_floored_in_rust_and_in_sql_alike() {
        let conn = crate::schema::migrated_in_memory();
        for (id, ts) in [
            (1, 0),
            (2, DAY_MS - 1),
            (3, DAY_MS),
            (4, -1),
            (5, -DAY_MS),
            (6, -DAY_MS - 1),
            (7, 1_764_460_800_123),
        ] {
            // One site per visit, so that each gets a row of its own.
            insert_visit(&conn, id, id, ts);
            note_stored_start(&conn, id).unwrap();
            let day: i64 = conn
                .query_row(
                    "SELECT day FROM visit_days WHERE site_id = ?1",
                    params![id],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(day, utc_day(ts), "{ts}");
        }
    }

    #[test]
    fn ranges_cover_the_visits_of_their_days_and_widen_only() {
        let conn = crate::schema::migrated_in_memory();
        let mut days = VisitDays::default();
        // Site 1 on days 10 and 11, site 2 on day 10, one late visit of day 10.
        for (id, site, day) in [(1, 1, 10), (2, 2, 10), (3, 1, 10), (4, 1, 11), (5, 1, 10)] {
            insert_visit(&conn, id, site, day * DAY_MS + id);
            days.note(site, day * DAY_MS + id, id);
        }
        assert!(!days.is_empty());
        assert_eq!(id_range(&conn, 1, 10 * DAY_MS, 11 * DAY_MS).unwrap(), None);
        days.write_all(&conn).unwrap();
        assert!(days.is_empty());
        assert_eq!(
            id_range(&conn, 1, 10 * DAY_MS, 11 * DAY_MS).unwrap(),
            Some((1, 5))
        );
        assert_eq!(
            id_range(&conn, 1, 11 * DAY_MS, 11 * DAY_MS + 1).unwrap(),
            Some((4, 4))
        );
        assert_eq!(
            id_range(&conn, 2, 10 * DAY_MS, 12 * DAY_MS).unwrap(),
            Some((2, 2))
        );
        assert_eq!(id_range(&conn, 2, 11 * DAY_MS, 12 * DAY_MS).unwrap(), None);
        assert_eq!(id_range(&conn, 1, 5, 5).unwrap(), None);
        // Visit 4's start moves back to day 10: day 10 widens, day 11 keeps it.
        conn.execute(
            "UPDATE visits SET start_ts = ?1 WHERE id = 4",
            params![10 * DAY_MS],
        )
        .unwrap();
        note_stored_start(&conn, 4).unwrap();
        assert_eq!(
            id_range(&conn, 1, 10 * DAY_MS, 11 * DAY_MS).unwrap(),
            Some((1, 5))
        );
        assert_eq!(
            id_range(&conn, 1, 11 * DAY_MS, 12 * DAY_MS).unwrap(),
            Some((4, 4))
        );
        assert_eq!(first_id_since(&conn, 11 * DAY_MS).unwrap(), Some(4));
        assert_eq!(first_id_since(&conn, 12 * DAY_MS).unwrap(), None);
        assert_eq!(last_id_before(&conn, 10 * DAY_MS + 1).unwrap(), Some(5));
        assert_eq!(last_id_before(&conn, 10 * DAY_MS).unwrap(), None);
    }

    #[test]
    fn visits_left_uncovered_by_a_crash_are_recovered() {
        let conn = crate::schema::migrated_in_memory();
        let mut days = VisitDays::default();
        for id in 1..=3 {
            insert_visit(&conn, id, 1, 10 * DAY_MS);
            days.note(1, 10 * DAY_MS, id);
        }
        days.write_all(&conn).unwrap();
        // Created after the last write, then a crash: their ranges were only
        // in memory.
        insert_visit(&conn, 4, 1, 10 * DAY_MS + 5);
        insert_visit(&conn, 5, 1, 12 * DAY_MS);
        insert_visit(&conn, 6, 2, 12 * DAY_MS);
        assert_eq!(recover(&conn).unwrap(), 3);
        assert_eq!(
            id_range(&conn, 1, 10 * DAY_MS, 11 * DAY_MS).unwrap(),
            Some((1, 4))
        );
        assert_eq!(
            id_range(&conn, 1, 12 * DAY_MS, 13 * DAY_MS).unwrap(),
            Some((5, 5))
        );
        assert_eq!(id_range(&conn, 2, 0, 13 * DAY_MS).unwrap(), Some((6, 6)));
        assert_eq!(recover(&conn).unwrap(), 0);
    }
}
