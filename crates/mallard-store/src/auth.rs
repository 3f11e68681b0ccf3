//! Persistence of dashboard authentication: the admin password hash and the
//! Mallard API keys. Plaintext secrets never reach this module: it stores the
//! Argon2id PHC string of the password and the SHA-256 of each key.
//!
//! Writes run inside the writer's transaction (`WriterHandle::run`); reads take
//! any connection.

use mallard_core::Scope;
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::StoreError;
use crate::settings;

/// The settings key of the admin password hash.
const ADMIN_PASSWORD_HASH: &str = "admin_password_hash";

/// One stored API key, without its plaintext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// SHA-256 of the plaintext key, lowercase hex.
    pub key_hash: String,
    /// A name chosen by its creator.
    pub name: String,
    /// What the key may do.
    pub scope: Scope,
    /// Creation time, ms since the epoch.
    pub created_at_ms: i64,
    /// Revocation time, ms since the epoch, if revoked.
    pub revoked_at_ms: Option<i64>,
}

/// The stored admin password hash (a PHC string), if a password is configured.
pub fn password_hash(conn: &Connection) -> Result<Option<String>, StoreError> {
    Ok(settings::get(conn, ADMIN_PASSWORD_HASH)?.and_then(|bytes| String::from_utf8(bytes).ok()))
}

/// Stores `hash` as the admin password hash, replacing any previous one.
pub fn set_password_hash(conn: &Connection, hash: &str) -> Result<(), StoreError> {
    settings::set(conn, ADMIN_PASSWORD_HASH, hash.as_bytes())
}

/// Stores `hash` only when no password is configured yet; returns whether it
/// was stored. Run inside the writer's transaction this is atomic, so two
/// concurrent setups cannot both succeed.
pub fn set_password_hash_if_absent(conn: &Connection, hash: &str) -> Result<bool, StoreError> {
    if password_hash(conn)?.is_some() {
        return Ok(false);
    }
    set_password_hash(conn, hash)?;
    Ok(true)
}

/// Every API key, oldest first.
pub fn list_api_keys(conn: &Connection) -> Result<Vec<ApiKeyRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT key_hash, name, scope, created_at, revoked_at FROM api_keys \
         ORDER BY created_at, key_hash",
    )?;
    let rows = stmt.query_map([], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, String>(2)?,
            row.get::<_, i64>(3)?,
            row.get::<_, Option<i64>>(4)?,
        ))
    })?;
    let mut keys = Vec::new();
    for row in rows {
        let (key_hash, name, scope, created_at_ms, revoked_at_ms) = row?;
        // The CHECK constraint admits only the two documented scopes.
        let scope = scope.parse().unwrap_or(Scope::ReadOnly);
        keys.push(ApiKeyRecord {
            key_hash,
            name,
            scope,
            created_at_ms,
            revoked_at_ms,
        });
    }
    Ok(keys)
}

/// Stores a new key.
pub fn insert_api_key(conn: &Connection, key: &ApiKeyRecord) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO api_keys (key_hash, name, scope, created_at, revoked_at) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        key.key_hash,
        key.name,
        key.scope.as_str(),
        key.created_at_ms,
        key.revoked_at_ms
    ])?;
    Ok(())
}

/// Marks a key revoked at `now_ms` (keeping the first revocation time); returns
/// false when no key has that hash.
pub fn revoke_api_key(conn: &Connection, key_hash: &str, now_ms: i64) -> Result<bool, StoreError> {
    let exists = conn
        .prepare_cached("SELECT 1 FROM api_keys WHERE key_hash = ?1")?
        .query_row(params![key_hash], |_| Ok(()))
        .optional()?
        .is_some();
    if exists {
        conn.prepare_cached(
            "UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?2) WHERE key_hash = ?1",
        )?
        .execute(params![key_hash, now_ms])?;
    }
    Ok(exists)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        crate::schema::migrated_in_memory()
    }

    #[test]
    fn the_password_is_set_once_unless_replaced() {
        let conn = db();
        assert_eq!(password_hash(&conn).unwrap(), None);
        assert!(set_password_hash_if_absent(&conn, "$argon2id$first").unwrap());
        assert!(!set_password_hash_if_absent(&conn, "$argon2id$second").unwrap());
        assert_eq!(
            password_hash(&conn).unwrap().as_deref(),
            Some("$argon2id$first")
        );
        set_password_hash(&conn, "$argon2id$third").unwrap();
        assert_eq!(
            password_hash(&conn).unwrap().as_deref(),
            Some("$argon2id$third")
        );
    }

    #[test]
    fn keys_are_listed_and_revoked_once() {
        let conn = db();
        let key = ApiKeyRecord {
            key_hash: "ab".repeat(32),
            name: "ci".into(),
            scope: Scope::Admin,
            created_at_ms: 5,
            revoked_at_ms: None,
        };
        insert_api_key(&conn, &key).unwrap();
        assert!(insert_api_key(&conn, &key).is_err(), "hashes are unique");
        assert_eq!(list_api_keys(&conn).unwrap(), vec![key.clone()]);
        assert!(revoke_api_key(&conn, &key.key_hash, 10).unwrap());
        assert!(revoke_api_key(&conn, &key.key_hash, 20).unwrap());
        assert_eq!(list_api_keys(&conn).unwrap()[0].revoked_at_ms, Some(10));
        assert!(!revoke_api_key(&conn, "missing", 10).unwrap());
    }
}
