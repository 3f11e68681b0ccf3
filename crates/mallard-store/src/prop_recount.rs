//! Counting the property rollups of older days again (migration 022).
//!
//! Custom properties count on every event that carries them, page views
//! included. A database written while they counted on custom events alone
//! lists its days in `prop_recount`; [`recount_blocking`] counts their
//! property rows again from the stored events, a few days per writer job
//! (after the writer wrote the rollups it held, so that nothing is counted
//! twice), and takes each day off the list in the same transaction. Until
//! a day is recounted, its property breakdown counts its custom events'
//! properties, as before.

use rusqlite::{Connection, params};

use crate::error::StoreError;
use crate::writer::WriterHandle;

/// Days recounted per writer job: a few milliseconds each.
const DAYS_PER_JOB: i64 = 4;

/// Recounts the property rows of the next few listed days; returns how
/// many it recounted (0 when none is left).
pub fn recount_chunk(conn: &Connection) -> Result<usize, StoreError> {
    let days: Vec<(i64, i64)> = conn
        .prepare_cached("SELECT site_id, day FROM prop_recount ORDER BY site_id, day LIMIT ?1")?
        .query_map(params![DAYS_PER_JOB], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for &(site_id, day) in &days {
        let live: bool = conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM sites WHERE id = ?1)")?
            .query_row(params![site_id], |r| r.get(0))?;
        if live {
            crate::rollup_rebuild::rebuild_props(conn, site_id, day)?;
        }
        conn.prepare_cached("DELETE FROM prop_recount WHERE site_id = ?1 AND day = ?2")?
            .execute(params![site_id, day])?;
    }
    Ok(days.len())
}

/// Recounts every listed day, a job at a time; returns how many.
pub fn recount_blocking(writer: &WriterHandle) -> Result<u64, StoreError> {
    let mut total = 0u64;
    loop {
        let done = writer.run_maintenance_blocking(recount_chunk)?;
        if done == 0 {
            return Ok(total);
        }
        total += done as u64;
    }
}

/// How many days are still to recount.
pub fn pending(conn: &Connection) -> Result<u64, StoreError> {
    Ok(
        conn.query_row("SELECT count(*) FROM prop_recount", [], |r| {
            r.get::<_, i64>(0)
        })? as u64,
    )
}

#[cfg(test)]
mod tests {
    use mallard_core::{DayRange, Dimension};

    use crate::stats::StatsQuery;
    use crate::stats::tests::{BASES_MS, SITE, arrival_order, store_events, three_days_of_events};
    use crate::{Store, StoreOptions};

    #[test]
    fn listed_days_get_the_property_rows_of_their_events_again() {
        let dir = tempfile::tempdir().unwrap();
        let events = arrival_order(BASES_MS[0], &three_days_of_events());
        store_events(dir.path(), "Europe/Berlin", &events, &[7, 50]);
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        let breakdown = |store: &Store| {
            store
                .reads()
                .with(|db| {
                    let site = db.stats_site(SITE)?.unwrap();
                    let first = site.first_day.unwrap();
                    let query = StatsQuery {
                        range: DayRange {
                            start: first,
                            end: first + 4,
                        },
                        filters: Vec::new(),
                        with_imported: false,
                    };
                    db.stats_breakdown(&site, &query, &Dimension::Prop("plan".into()), 10)
                })
                .unwrap()
        };
        let counted = breakdown(&store);
        // Some page views carry `plan`: counted with the custom events'.
        assert!(
            counted.iter().any(|row| row.totals.pageviews > 0),
            "{counted:?}"
        );
        // A database written before lists its days, with property rows of
        // custom events alone; here, none at all.
        store
            .writer()
            .run_maintenance_blocking(|conn| {
                conn.execute("DELETE FROM rollup_days WHERE kind = 15", [])?;
                conn.execute(
                    "INSERT INTO prop_recount SELECT DISTINCT site_id, day FROM rollup_days \
                     WHERE kind = 0",
                    [],
                )?;
                Ok(())
            })
            .unwrap();
        assert!(breakdown(&store).is_empty());
        let listed = store
            .reads()
            .with(|db| super::pending(db.connection()))
            .unwrap();
        assert!(listed >= 3, "{listed}");
        assert_eq!(super::recount_blocking(&store.writer()).unwrap(), listed);
        assert_eq!(breakdown(&store), counted);
        assert_eq!(
            store
                .reads()
                .with(|db| super::pending(db.connection()))
                .unwrap(),
            0
        );
        store.close();
    }
}
