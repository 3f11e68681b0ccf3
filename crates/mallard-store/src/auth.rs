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

/// Which family a key created in open access belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenAccessKeyKind {
    /// A Mallard `mm_` key, named by the SHA-256 of its plaintext.
    Stats,
    /// A collector `lk_live_` key, named by its id.
    Ingestion,
}

/// An active key that was created while no admin password was set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenAccessKey {
    /// The key's family.
    pub kind: OpenAccessKeyKind,
    /// The `key_hash` of a stats key or the `id` of an ingestion key.
    pub id: String,
    /// The name its creator gave it.
    pub name: String,
    /// The scope of a stats key, or the space-separated scopes of an ingestion key.
    pub scopes: String,
    /// Creation time, ms since the epoch.
    pub created_at_ms: i64,
}

/// Marks the stats key `key_hash` as created in open access. Run it in the
/// writer's transaction that stores the key.
pub fn mark_created_in_open_access(conn: &Connection, key_hash: &str) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE api_keys SET created_in_open_access = 1 WHERE key_hash = ?1")?
        .execute(params![key_hash])?;
    Ok(())
}

/// Marks the ingestion key `id` as created in open access. Run it in the
/// writer's transaction that stores the key.
pub fn mark_ingestion_key_created_in_open_access(
    conn: &Connection,
    id: &str,
) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE collector_api_keys SET created_in_open_access = 1 WHERE id = ?1")?
        .execute(params![id])?;
    Ok(())
}

/// Every active (not revoked) key of either family created in open access,
/// oldest first.
pub fn open_access_keys(conn: &Connection) -> Result<Vec<OpenAccessKey>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT 0, key_hash, name, scope, created_at FROM api_keys \
         WHERE created_in_open_access = 1 AND revoked_at IS NULL \
         UNION ALL \
         SELECT 1, id, name, scopes, created_at FROM collector_api_keys \
         WHERE created_in_open_access = 1 AND revoked_at IS NULL \
         ORDER BY 5, 2",
    )?;
    let keys = stmt
        .query_map([], |row| {
            Ok(OpenAccessKey {
                kind: if row.get::<_, i64>(0)? == 0 {
                    OpenAccessKeyKind::Stats
                } else {
                    OpenAccessKeyKind::Ingestion
                },
                id: row.get(1)?,
                name: row.get(2)?,
                scopes: row.get(3)?,
                created_at_ms: row.get(4)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(keys)
}

/// Revokes at `now_ms` every active key created in open access and returns
/// them, so that the caller can take them out of force.
pub fn revoke_open_access_keys(
    conn: &Connection,
    now_ms: i64,
) -> Result<Vec<OpenAccessKey>, StoreError> {
    let keys = open_access_keys(conn)?;
    conn.prepare_cached(
        "UPDATE api_keys SET revoked_at = ?1 \
         WHERE created_in_open_access = 1 AND revoked_at IS NULL",
    )?
    .execute(params![now_ms])?;
    conn.prepare_cached(
        "UPDATE collector_api_keys SET revoked_at = ?1 \
         WHERE created_in_open_access = 1 AND revoked_at IS NULL",
    )?
    .execute(params![now_ms])?;
    Ok(keys)
}

/// Keeps the keys created in open access: clears their mark, so they are no
/// longer listed for review. Returns how many keys were kept.
pub fn keep_open_access_keys(conn: &Connection) -> Result<usize, StoreError> {
    let stats = conn
        .prepare_cached(
            "UPDATE api_keys SET created_in_open_access = 0 WHERE created_in_open_access = 1 \
             AND revoked_at IS NULL",
        )?
        .execute([])?;
    let ingestion = conn
        .prepare_cached(
            "UPDATE collector_api_keys SET created_in_open_access = 0 \
             WHERE created_in_open_access = 1 AND revoked_at IS NULL",
        )?
        .execute([])?;
    Ok(stats + ingestion)
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

    fn stats_key(byte: &str, created_at_ms: i64) -> ApiKeyRecord {
        ApiKeyRecord {
            key_hash: byte.repeat(32),
            name: format!("key {byte}"),
            scope: Scope::Admin,
            created_at_ms,
            revoked_at_ms: None,
        }
    }

    fn ingestion_key(conn: &Connection, id: &str, created_at_ms: i64) {
        conn.execute(
            "INSERT INTO collector_workspaces (id, created_at) VALUES ('ws', 0) \
             ON CONFLICT (id) DO NOTHING",
            [],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO collector_api_keys (id, workspace_id, name, key_hash, prefix, suffix, \
             scopes, created_at) VALUES (?1, 'ws', 'sdk', ?1, 'lk_live_ab', 'yz', \
             'ingest:write admin', ?2)",
            params![id, created_at_ms],
        )
        .unwrap();
    }

    #[test]
    fn keys_created_in_open_access_are_listed_until_revoked_or_kept() {
        let conn = db();
        insert_api_key(&conn, &stats_key("aa", 1)).unwrap();
        mark_created_in_open_access(&conn, &"aa".repeat(32)).unwrap();
        insert_api_key(&conn, &stats_key("bb", 2)).unwrap();
        ingestion_key(&conn, "k1", 3);
        mark_ingestion_key_created_in_open_access(&conn, "k1").unwrap();
        ingestion_key(&conn, "k2", 4);
        let listed = open_access_keys(&conn).unwrap();
        assert_eq!(
            listed
                .iter()
                .map(|k| (k.kind, k.id.as_str(), k.scopes.as_str()))
                .collect::<Vec<_>>(),
            vec![
                (OpenAccessKeyKind::Stats, "aa".repeat(32).as_str(), "Admin"),
                (OpenAccessKeyKind::Ingestion, "k1", "ingest:write admin"),
            ]
        );
        assert!(revoke_api_key(&conn, &"aa".repeat(32), 9).unwrap());
        assert_eq!(
            open_access_keys(&conn).unwrap().len(),
            1,
            "revoked keys drop out"
        );
        assert_eq!(keep_open_access_keys(&conn).unwrap(), 1);
        assert!(open_access_keys(&conn).unwrap().is_empty());
    }

    #[test]
    fn revoking_the_open_access_keys_leaves_the_others_alone() {
        let conn = db();
        insert_api_key(&conn, &stats_key("aa", 1)).unwrap();
        mark_created_in_open_access(&conn, &"aa".repeat(32)).unwrap();
        insert_api_key(&conn, &stats_key("bb", 2)).unwrap();
        ingestion_key(&conn, "k1", 3);
        mark_ingestion_key_created_in_open_access(&conn, "k1").unwrap();
        let revoked = revoke_open_access_keys(&conn, 50).unwrap();
        assert_eq!(revoked.len(), 2);
        let keys = list_api_keys(&conn).unwrap();
        assert_eq!(keys[0].revoked_at_ms, Some(50));
        assert_eq!(keys[1].revoked_at_ms, None);
        let ingestion_revoked: Option<i64> = conn
            .query_row(
                "SELECT revoked_at FROM collector_api_keys WHERE id = 'k1'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(ingestion_revoked, Some(50));
        assert!(open_access_keys(&conn).unwrap().is_empty());
    }

    #[test]
    fn migration_10_marks_the_keys_of_an_install_without_a_password() {
        for (password, marked) in [(false, 1), (true, 0)] {
            let mut conn = Connection::open_in_memory().unwrap();
            crate::schema::migrations()
                .to_version(&mut conn, 9)
                .unwrap();
            if password {
                set_password_hash(&conn, "$argon2id$x").unwrap();
            }
            conn.execute(
                "INSERT INTO api_keys (key_hash, name, scope, created_at) \
                 VALUES ('h', 'old', 'Admin', 1)",
                [],
            )
            .unwrap();
            crate::schema::migrations().to_latest(&mut conn).unwrap();
            assert_eq!(open_access_keys(&conn).unwrap().len(), marked, "{password}");
        }
    }
}
