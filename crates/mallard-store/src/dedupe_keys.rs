//! Claiming the dedupe keys of collector events in the writer.
//!
//! A collector event's key (16 bytes of a hash of its site and id) is claimed
//! in the transaction that stores the event: a key seen before means the
//! event is a repeat and is not stored again. The keys are random, so
//! inserting each one into the `collector_event_ids` B-tree would dirty a
//! different page in every commit. Instead a new key is appended to the small
//! `collector_recent_event_ids` table (rows in arrival order, a page per many
//! keys) and kept in memory; the writer moves the recent keys into
//! `collector_event_ids`, in key order, whenever it writes its rollups behind
//! (every few seconds). A key is new when it is in neither place. Keys left in
//! the recent table by a crash are moved when the writer starts, so every
//! committed key keeps deduplicating. A Bloom filter over the moved keys
//! ([`KeyFilter`]) spares the lookup in `collector_event_ids` for almost every
//! new key.

use rusqlite::{Connection, params};
use rustc_hash::FxHashSet;

use crate::error::StoreError;
use crate::key_filter::KeyFilter;

/// The keys appended to `collector_recent_event_ids` since they were last
/// moved.
#[derive(Debug, Default)]
pub(crate) struct DedupeKeys {
    recent: FxHashSet<[u8; 16]>,
    /// Every key in `collector_event_ids`, once first needed.
    stored: Option<KeyFilter>,
    /// How many keys were looked up in `collector_event_ids`.
    lookups: u64,
}

impl DedupeKeys {
    /// Claims `key` of an event on UTC day `day` inside the writer's
    /// transaction: true when the key is new (store the event), false when an
    /// event with it was stored before.
    pub(crate) fn claim(
        &mut self,
        conn: &Connection,
        key: &[u8; 16],
        day: i64,
    ) -> Result<bool, StoreError> {
        if self.recent.contains(key) {
            return Ok(false);
        }
        if self.stored_keys(conn)?.may_contain(key) {
            self.lookups += 1;
            let stored = conn
                .prepare_cached("SELECT 1 FROM collector_event_ids WHERE key = ?1")?
                .exists(params![key.as_slice()])?;
            if stored {
                return Ok(false);
            }
        }
        conn.prepare_cached("INSERT INTO collector_recent_event_ids (key, day) VALUES (?1, ?2)")?
            .execute(params![key.as_slice(), day])?;
        self.recent.insert(*key);
        Ok(true)
    }

    /// Moves the recent keys into `collector_event_ids`, in the caller's
    /// transaction.
    pub(crate) fn move_recent(&mut self, conn: &Connection) -> Result<(), StoreError> {
        if !self.recent.is_empty() {
            move_recent_keys(conn)?;
        }
        if let Some(filter) = &mut self.stored {
            for key in &self.recent {
                filter.insert(key);
            }
            if filter.is_full() {
                // Rebuilt, bigger, from the table when next needed.
                self.stored = None;
            }
        }
        self.recent.clear();
        Ok(())
    }

    /// The filter over the stored keys, built from the table the first time.
    fn stored_keys(&mut self, conn: &Connection) -> Result<&KeyFilter, StoreError> {
        let filter = match self.stored.take() {
            Some(filter) => filter,
            None => filter_of_stored_keys(conn)?,
        };
        Ok(self.stored.insert(filter))
    }
}

/// A filter holding every key in `collector_event_ids`.
fn filter_of_stored_keys(conn: &Connection) -> Result<KeyFilter, StoreError> {
    let count: i64 =
        conn.query_row("SELECT count(*) FROM collector_event_ids", [], |r| r.get(0))?;
    let mut filter = KeyFilter::for_keys(usize::try_from(count).unwrap_or(0));
    let mut stmt = conn.prepare("SELECT key FROM collector_event_ids")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let key: Vec<u8> = row.get(0)?;
        if let Ok(key) = <[u8; 16]>::try_from(key.as_slice()) {
            filter.insert(&key);
        }
    }
    Ok(filter)
}

/// Moves whatever `collector_recent_event_ids` holds into
/// `collector_event_ids` (at start, after a crash or a rolled-back batch).
pub(crate) fn move_recent_keys(conn: &Connection) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO collector_event_ids (key, day) SELECT key, day \
         FROM collector_recent_event_ids WHERE true ORDER BY key ON CONFLICT DO NOTHING",
    )?
    .execute([])?;
    conn.prepare_cached("DELETE FROM collector_recent_event_ids")?
        .execute([])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database() -> Connection {
        crate::schema::migrated_in_memory()
    }

    fn count(conn: &Connection, table: &str) -> i64 {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_key_is_claimed_once_before_and_after_it_moved() {
        let conn = database();
        let mut keys = DedupeKeys::default();
        assert!(keys.claim(&conn, &[7; 16], 20_000).unwrap());
        assert!(!keys.claim(&conn, &[7; 16], 20_000).unwrap());
        assert!(keys.claim(&conn, &[8; 16], 20_000).unwrap());
        assert_eq!(count(&conn, "collector_recent_event_ids"), 2);
        assert_eq!(count(&conn, "collector_event_ids"), 0);
        keys.move_recent(&conn).unwrap();
        assert_eq!(count(&conn, "collector_recent_event_ids"), 0);
        assert_eq!(count(&conn, "collector_event_ids"), 2);
        assert!(!keys.claim(&conn, &[7; 16], 20_000).unwrap());
        assert!(!keys.claim(&conn, &[8; 16], 20_000).unwrap());
        assert!(keys.claim(&conn, &[9; 16], 20_000).unwrap());
    }

    /// Claims the keys of `repeats` (all stored before) and of `fresh` (all
    /// new) and returns how many were looked up in the table.
    fn lookups_for(
        keys: &mut DedupeKeys,
        conn: &Connection,
        repeats: std::ops::Range<u64>,
        fresh: std::ops::Range<u64>,
    ) -> u64 {
        keys.lookups = 0;
        for n in repeats {
            assert!(
                !keys
                    .claim(conn, &crate::key_filter::spread_key(n), 20_000)
                    .unwrap()
            );
        }
        for n in fresh {
            assert!(
                keys.claim(conn, &crate::key_filter::spread_key(n), 20_000)
                    .unwrap()
            );
        }
        keys.lookups
    }

    #[test]
    fn new_keys_are_rarely_looked_up_in_the_table() {
        let conn = database();
        let mut running = DedupeKeys::default();
        assert_eq!(lookups_for(&mut running, &conn, 0..0, 0..2_000), 0);
        running.move_recent(&conn).unwrap();
        // Every repeat is looked up; of the new keys only the filter's false
        // positives (about 1%).
        let looked_up = lookups_for(&mut running, &conn, 0..2_000, 10_000..12_000);
        assert!((2_000..2_060).contains(&looked_up), "{looked_up}");
        // A writer that starts again builds its filter from the table.
        move_recent_keys(&conn).unwrap();
        let mut restarted = DedupeKeys::default();
        let looked_up = lookups_for(&mut restarted, &conn, 0..2_000, 20_000..22_000);
        assert!((2_000..2_060).contains(&looked_up), "{looked_up}");
    }

    #[test]
    fn keys_left_behind_by_a_crash_still_deduplicate() {
        let conn = database();
        let mut before_crash = DedupeKeys::default();
        assert!(before_crash.claim(&conn, &[3; 16], 20_000).unwrap());
        drop(before_crash);
        move_recent_keys(&conn).unwrap();
        let day: i64 = conn
            .query_row(
                "SELECT day FROM collector_event_ids WHERE key = ?1",
                params![[3u8; 16].as_slice()],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(day, 20_000);
        let mut after = DedupeKeys::default();
        assert!(!after.claim(&conn, &[3; 16], 20_000).unwrap());
    }
}
