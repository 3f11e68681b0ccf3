//! The random salts of visitor ids, one per UTC day.
//!
//! A day's salt is 32 random bytes, drawn and committed when the first event of
//! that day needs it, so that one visitor keeps one id for the whole day, across
//! restarts too. Only the salts of the current and the previous day are kept:
//! older ones are deleted when a new day's salt is drawn, when the store opens,
//! and by [`VisitorSalts::forget_old`], which the server runs as each day
//! begins. They are deleted with `secure_delete`, so the deleted bytes are
//! overwritten with zeros rather than left in the page's free space.

use std::sync::Mutex;

use mallard_core::DailySalt;
use mallard_core::visitor::day_number;
use rusqlite::{Connection, params};

use crate::error::{StoreError, WriteFailure};
use crate::writer::WriterHandle;

/// The salts in use, cached in memory, and the way to draw a new day's salt.
#[derive(Debug)]
pub struct VisitorSalts {
    writer: WriterHandle,
    known: Mutex<Vec<(i64, DailySalt)>>,
}

impl VisitorSalts {
    /// The salts of `known` days (as [`load`] read them), drawing new ones
    /// through `writer`.
    pub(crate) fn new(writer: WriterHandle, known: Vec<(i64, DailySalt)>) -> Self {
        Self {
            writer,
            known: Mutex::new(known),
        }
    }

    /// The salt of the UTC day holding `now_ms`. When that day has none yet, a
    /// random one is drawn and committed before it is returned, so no id made
    /// with a salt that a restart would lose is ever acknowledged.
    pub async fn for_time(&self, now_ms: i64) -> Result<DailySalt, WriteFailure> {
        let day = day_number(now_ms);
        if let Some(salt) = self.cached(day) {
            return Ok(salt);
        }
        let salt = self
            .writer
            .run(move |conn| salt_of_day(conn, day))
            .await
            .map_err(|err| WriteFailure::from(&err))?;
        let mut known = self.lock();
        if !known.iter().any(|(d, _)| *d == day) {
            known.push((day, salt.clone()));
        }
        known.retain(|(d, _)| *d >= day - 1);
        Ok(salt)
    }

    /// Deletes the salts of the days before yesterday (relative to `now_ms`),
    /// from memory and from the database; returns how many stored salts went.
    pub async fn forget_old(&self, now_ms: i64) -> Result<usize, StoreError> {
        let oldest_kept = day_number(now_ms) - 1;
        self.lock().retain(|(d, _)| *d >= oldest_kept);
        self.writer
            .run(move |conn| delete_before(conn, oldest_kept))
            .await
    }

    fn cached(&self, day: i64) -> Option<DailySalt> {
        self.lock()
            .iter()
            .find(|(d, _)| *d == day)
            .map(|(_, salt)| salt.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(i64, DailySalt)>> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The salt of `day`: the stored one, else a new random one written in the
/// current transaction. Salts of days before `day - 1` are deleted.
pub(crate) fn salt_of_day(conn: &Connection, day: i64) -> Result<DailySalt, StoreError> {
    let fresh = random_salt()?;
    conn.prepare_cached(
        "INSERT INTO visitor_salts (day, salt) VALUES (?1, ?2) ON CONFLICT (day) DO NOTHING",
    )?
    .execute(params![day, fresh.as_bytes().as_slice()])?;
    delete_before(conn, day - 1)?;
    let bytes: Vec<u8> = conn
        .prepare_cached("SELECT salt FROM visitor_salts WHERE day = ?1")?
        .query_row(params![day], |row| row.get(0))?;
    DailySalt::from_slice(&bytes).ok_or_else(|| {
        StoreError::InvalidData(format!(
            "the visitor salt of day {day} has {} bytes, not 32",
            bytes.len()
        ))
    })
}

/// Deletes the salts of the days before `day`, overwriting them with zeros;
/// returns how many went.
pub(crate) fn delete_before(conn: &Connection, day: i64) -> Result<usize, StoreError> {
    let before: i64 = conn.pragma_query_value(None, "secure_delete", |row| row.get(0))?;
    conn.pragma_update(None, "secure_delete", 1)?;
    let deleted = conn
        .prepare_cached("DELETE FROM visitor_salts WHERE day < ?1")
        .and_then(|mut delete| delete.execute(params![day]));
    conn.pragma_update(None, "secure_delete", before)?;
    Ok(deleted?)
}

/// Every stored salt with its day.
pub(crate) fn load(conn: &Connection) -> Result<Vec<(i64, DailySalt)>, StoreError> {
    let mut select = conn.prepare_cached("SELECT day, salt FROM visitor_salts ORDER BY day")?;
    let rows = select.query_map([], |row| {
        Ok((row.get::<_, i64>(0)?, row.get::<_, Vec<u8>>(1)?))
    })?;
    let mut salts = Vec::new();
    for row in rows {
        let (day, bytes) = row?;
        if let Some(salt) = DailySalt::from_slice(&bytes) {
            salts.push((day, salt));
        }
    }
    Ok(salts)
}

/// 32 bytes from the OS random number generator.
fn random_salt() -> Result<DailySalt, StoreError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| {
        StoreError::io(
            "the OS random number generator failed",
            std::io::Error::other(e.to_string()),
        )
    })?;
    Ok(DailySalt::from_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored_days(conn: &Connection) -> Vec<i64> {
        load(conn)
            .unwrap()
            .into_iter()
            .map(|(day, _)| day)
            .collect()
    }

    #[test]
    fn a_day_gets_one_random_salt_that_stays() {
        let conn = crate::schema::migrated_in_memory();
        let first = salt_of_day(&conn, 100).unwrap();
        assert_eq!(salt_of_day(&conn, 100).unwrap(), first);
        let next = salt_of_day(&conn, 101).unwrap();
        assert_ne!(next, first, "each day draws its own salt");
        assert_ne!(first.as_bytes(), &[0; 32]);
        assert_eq!(stored_days(&conn), vec![100, 101]);
    }

    #[test]
    fn only_the_current_and_previous_days_salts_are_kept() {
        let conn = crate::schema::migrated_in_memory();
        for day in [96, 97, 98, 99] {
            salt_of_day(&conn, day).unwrap();
        }
        assert_eq!(stored_days(&conn), vec![98, 99]);
        assert_eq!(delete_before(&conn, 99).unwrap(), 1);
        assert_eq!(stored_days(&conn), vec![99]);
    }

    #[test]
    fn deleting_restores_the_connections_secure_delete_setting() {
        let conn = crate::schema::migrated_in_memory();
        let setting = |conn: &Connection| -> i64 {
            conn.pragma_query_value(None, "secure_delete", |r| r.get(0))
                .unwrap()
        };
        let before = setting(&conn);
        delete_before(&conn, 5).unwrap();
        assert_eq!(setting(&conn), before);
    }
}
