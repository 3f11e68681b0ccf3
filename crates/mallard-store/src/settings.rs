//! Small named values kept in the `settings` table.

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::StoreError;

/// The key of the next event id counter.
pub(crate) const NEXT_EVENT_ID: &str = "next_event_id";
/// The key of how many low bits of a visitor id are stored (absent: all 64).
pub(crate) const VISITOR_ID_BITS: &str = "visitor_id_bits";

/// Reads a setting.
pub(crate) fn get(conn: &Connection, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT value FROM settings WHERE key = ?1")?
        .query_row(params![key], |row| row.get::<_, Vec<u8>>(0))
        .optional()?)
}

/// Writes a setting, replacing any previous value.
pub(crate) fn set(conn: &Connection, key: &str, value: &[u8]) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO settings (key, value) VALUES (?1, ?2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![key, value])?;
    Ok(())
}

/// Reads an integer setting stored as its decimal text.
pub(crate) fn get_i64(conn: &Connection, key: &str) -> Result<Option<i64>, StoreError> {
    Ok(get(conn, key)?
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.parse().ok()))
}

/// Writes an integer setting as its decimal text.
pub(crate) fn set_i64(conn: &Connection, key: &str, value: i64) -> Result<(), StoreError> {
    set(conn, key, value.to_string().as_bytes())
}
