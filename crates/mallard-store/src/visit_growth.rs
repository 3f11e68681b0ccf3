//! Visit growth written behind the events.
//!
//! Every event grows its visit: a later end, one more event (and page view),
//! a new exit page, now and then an earlier start. New visits are inserted
//! with their batch (an append at the end of `visits`), but updating a grown
//! visit's row in every batch would dirty one page per open visit per commit,
//! which under load is most of what a commit writes. So the writer keeps the
//! grown visits in memory, as they are after their latest batch, and appends
//! them to the small `visit_growth_log` table in the batch's transaction (many
//! visits to a page). When the writer writes its rollups behind (every few
//! seconds, before every stats query, before maintenance, at shutdown) it
//! updates the rows in id order and empties the log. Rows left in the log by a
//! crash or a rolled-back batch are applied when the writer (re)loads its
//! state ([`apply_logged`]), before the rollups of the days involved are
//! rebuilt from the rows.

use rusqlite::{Connection, params};
use rustc_hash::FxHashMap;

use crate::error::StoreError;
use crate::visits::Visit;

/// What a grown visit's row must be updated to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Growth {
    start_ts: i64,
    end_ts: i64,
    pageviews: i64,
    events: i64,
    entry_page: Option<i64>,
    exit_page: Option<i64>,
    /// Whether the start moved since the row was written (the only case in
    /// which the visit may join another day's range, [`crate::visit_days`]).
    start_moved: bool,
}

/// The visits grown since their rows were last written.
#[derive(Debug, Default)]
pub(crate) struct VisitGrowth {
    grown: FxHashMap<i64, Growth>,
}

impl VisitGrowth {
    /// Logs `visit`, grown by the current batch, in the caller's transaction
    /// and keeps it for [`VisitGrowth::write_all`].
    pub(crate) fn note(
        &mut self,
        conn: &Connection,
        visit: &Visit,
        start_moved: bool,
    ) -> Result<(), StoreError> {
        conn.prepare_cached(
            "INSERT INTO visit_growth_log (visit_id, start_ts, end_ts, pageviews, events, \
             entry_page, exit_page) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            visit.id,
            visit.start_ts,
            visit.end_ts,
            visit.pageviews,
            visit.events,
            visit.entry_page,
            visit.exit_page
        ])?;
        let moved_before = self.grown.get(&visit.id).is_some_and(|g| g.start_moved);
        self.grown.insert(
            visit.id,
            Growth {
                start_ts: visit.start_ts,
                end_ts: visit.end_ts,
                pageviews: visit.pageviews,
                events: visit.events,
                entry_page: visit.entry_page,
                exit_page: visit.exit_page,
                start_moved: start_moved || moved_before,
            },
        );
        Ok(())
    }

    /// Writes every grown visit to its row, in id order, and empties the log,
    /// in the caller's transaction.
    pub(crate) fn write_all(&mut self, conn: &Connection) -> Result<(), StoreError> {
        if self.grown.is_empty() {
            return Ok(());
        }
        let mut grown: Vec<(i64, Growth)> = self.grown.drain().collect();
        grown.sort_unstable_by_key(|(id, _)| *id);
        for (id, growth) in grown {
            update_row(conn, id, &growth)?;
        }
        clear_log(conn)
    }

    /// Whether some visit's row lags behind its growth.
    pub(crate) fn is_empty(&self) -> bool {
        self.grown.is_empty()
    }
}

fn update_row(conn: &Connection, id: i64, growth: &Growth) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE visits SET end_ts = ?2, pageviews = ?3, events = ?4, entry_page = ?5, \
         exit_page = ?6 WHERE id = ?1",
    )?
    .execute(params![
        id,
        growth.end_ts,
        growth.pageviews,
        growth.events,
        growth.entry_page,
        growth.exit_page
    ])?;
    if growth.start_moved {
        conn.prepare_cached("UPDATE visits SET start_ts = ?2 WHERE id = ?1")?
            .execute(params![id, growth.start_ts])?;
        crate::visit_days::note_stored_start(conn, id)?;
    }
    Ok(())
}

fn clear_log(conn: &Connection) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM visit_growth_log")?
        .execute([])?;
    Ok(())
}

/// Applies what `visit_growth_log` still holds (the latest entry of each
/// visit) to the visits rows and empties it; returns how many visits were
/// brought up to date. Runs when the writer loads its state.
pub(crate) fn apply_logged(conn: &Connection) -> Result<usize, StoreError> {
    let mut latest: FxHashMap<i64, Growth> = FxHashMap::default();
    {
        let mut stmt = conn.prepare(
            "SELECT g.visit_id, g.start_ts, g.end_ts, g.pageviews, g.events, g.entry_page, \
             g.exit_page, v.start_ts FROM visit_growth_log g JOIN visits v ON v.id = g.visit_id \
             ORDER BY g.rowid",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let start_ts: i64 = row.get(1)?;
            let stored_start: i64 = row.get(7)?;
            latest.insert(
                row.get(0)?,
                Growth {
                    start_ts,
                    end_ts: row.get(2)?,
                    pageviews: row.get(3)?,
                    events: row.get(4)?,
                    entry_page: row.get(5)?,
                    exit_page: row.get(6)?,
                    start_moved: start_ts != stored_start,
                },
            );
        }
    }
    let applied = latest.len();
    let mut ids: Vec<i64> = latest.keys().copied().collect();
    ids.sort_unstable();
    let tx = conn.unchecked_transaction()?;
    for id in ids {
        update_row(&tx, id, &latest[&id])?;
    }
    clear_log(&tx)?;
    tx.commit()?;
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visit(id: i64, start_ts: i64, end_ts: i64, pageviews: i64, exit: i64) -> Visit {
        Visit {
            id,
            site_id: 1,
            visitor_id: 7,
            start_ts,
            end_ts,
            pageviews,
            events: pageviews,
            entry_page: Some(1),
            exit_page: Some(exit),
            attributes: crate::visits::VisitAttributes::default(),
        }
    }

    fn database_with(visits: &[Visit]) -> Connection {
        let conn = crate::schema::migrated_in_memory();
        for v in visits {
            conn.execute(
                "INSERT INTO visits (id, site_id, visitor_id, start_ts, end_ts, pageviews, events, \
                 entry_page, exit_page, device) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0)",
                params![
                    v.id,
                    v.site_id,
                    v.visitor_id,
                    v.start_ts,
                    v.end_ts,
                    v.pageviews,
                    v.events,
                    v.entry_page,
                    v.exit_page
                ],
            )
            .unwrap();
        }
        conn
    }

    /// (start, end, page views, exit page) of a stored visit.
    fn row(conn: &Connection, id: i64) -> (i64, i64, i64, i64) {
        conn.query_row(
            "SELECT start_ts, end_ts, pageviews, exit_page FROM visits WHERE id = ?1",
            params![id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap()
    }

    fn logged(conn: &Connection) -> i64 {
        conn.query_row("SELECT count(*) FROM visit_growth_log", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn growth_reaches_the_rows_when_written_and_not_before() {
        let conn = database_with(&[visit(1, 1_000, 1_000, 1, 10), visit(2, 5_000, 5_000, 1, 20)]);
        let mut growth = VisitGrowth::default();
        growth
            .note(&conn, &visit(1, 1_000, 2_000, 2, 11), false)
            .unwrap();
        growth
            .note(&conn, &visit(1, 1_000, 3_000, 3, 12), false)
            .unwrap();
        growth
            .note(&conn, &visit(2, 4_000, 5_000, 2, 20), true)
            .unwrap();
        assert_eq!(row(&conn, 1), (1_000, 1_000, 1, 10));
        assert_eq!(logged(&conn), 3);
        growth.write_all(&conn).unwrap();
        assert!(growth.is_empty());
        assert_eq!(row(&conn, 1), (1_000, 3_000, 3, 12));
        assert_eq!(row(&conn, 2), (4_000, 5_000, 2, 20));
        assert_eq!(logged(&conn), 0);
    }

    #[test]
    fn a_start_moved_to_an_earlier_day_joins_that_days_range() {
        let day = 86_400_000;
        for crash in [false, true] {
            let conn = database_with(&[visit(1, day + 1_000, day + 1_000, 1, 10)]);
            let mut growth = VisitGrowth::default();
            growth
                .note(&conn, &visit(1, day - 1_000, day + 1_000, 2, 10), true)
                .unwrap();
            if crash {
                drop(growth);
                apply_logged(&conn).unwrap();
            } else {
                growth.write_all(&conn).unwrap();
            }
            assert_eq!(
                crate::visit_days::tests::id_range(&conn, 1, 0, day).unwrap(),
                Some((1, 1)),
                "crash: {crash}"
            );
        }
    }

    #[test]
    fn growth_logged_before_a_crash_is_applied_at_load() {
        let conn = database_with(&[visit(1, 1_000, 1_000, 1, 10), visit(2, 5_000, 5_000, 1, 20)]);
        let mut before_crash = VisitGrowth::default();
        before_crash
            .note(&conn, &visit(2, 4_000, 5_000, 2, 21), true)
            .unwrap();
        before_crash
            .note(&conn, &visit(1, 1_000, 2_000, 2, 11), false)
            .unwrap();
        // A later batch grew visit 2 again, without moving its start further.
        before_crash
            .note(&conn, &visit(2, 4_000, 6_000, 3, 22), false)
            .unwrap();
        drop(before_crash);
        assert_eq!(apply_logged(&conn).unwrap(), 2);
        assert_eq!(row(&conn, 1), (1_000, 2_000, 2, 11));
        assert_eq!(row(&conn, 2), (4_000, 6_000, 3, 22));
        assert_eq!(logged(&conn), 0);
        assert_eq!(apply_logged(&conn).unwrap(), 0);
    }
}
