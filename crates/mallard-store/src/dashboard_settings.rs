//! Settings changed in the dashboard, kept in the `settings` table under the
//! `config.` prefix as text. The store keeps them as opaque name/value pairs;
//! the server validates and interprets them (and decides their precedence
//! against the config file and the environment).

use rusqlite::{Connection, params};

use crate::error::StoreError;
use crate::reader::ReadConn;

/// The prefix of dashboard settings in the `settings` table.
const PREFIX: &str = "config.";

impl ReadConn<'_> {
    /// Every setting stored by the dashboard, as `(name, value)`, sorted.
    pub fn dashboard_settings(&self) -> Result<Vec<(String, String)>, StoreError> {
        load(self.connection())
    }
}

/// Every setting stored by the dashboard, as `(name, value)`, sorted.
pub fn load(conn: &Connection) -> Result<Vec<(String, String)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT key, value FROM settings WHERE key >= ?1 AND key < ?2 ORDER BY key",
    )?;
    let rows = stmt
        .query_map(params![PREFIX, "config/"], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, Vec<u8>>(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows
        .into_iter()
        .filter_map(|(key, value)| {
            let name = key.strip_prefix(PREFIX)?.to_owned();
            Some((name, String::from_utf8(value).ok()?))
        })
        .collect())
}

/// Applies `changes`: `Some(value)` stores a value, `None` removes the stored
/// one (back to the config file or the default). Runs on the write connection,
/// so all changes land in one transaction.
pub fn save(conn: &Connection, changes: &[(String, Option<String>)]) -> Result<(), StoreError> {
    for (name, value) in changes {
        let key = format!("{PREFIX}{name}");
        match value {
            Some(value) => crate::settings::set(conn, &key, value.as_bytes())?,
            None => {
                conn.prepare_cached("DELETE FROM settings WHERE key = ?1")?
                    .execute(params![key])?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_saved_replaced_and_removed() {
        let conn = crate::schema::migrated_in_memory();
        crate::settings::set(&conn, "visitor_secret", b"x").unwrap();
        save(
            &conn,
            &[
                ("filter_bots".into(), Some("false".into())),
                ("retention_days".into(), Some("30".into())),
            ],
        )
        .unwrap();
        save(
            &conn,
            &[
                ("retention_days".into(), Some("60".into())),
                ("filter_bots".into(), None),
            ],
        )
        .unwrap();
        assert_eq!(
            load(&conn).unwrap(),
            vec![("retention_days".to_owned(), "60".to_owned())]
        );
    }
}
