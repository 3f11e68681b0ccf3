//! Storage of the event collector family: workspace api keys, the event-id
//! dedupe table, consent tokens and monthly usage per workspace.
//!
//! Writes run on the write connection (inside the writer's batch transaction,
//! through `WriterHandle::run` or the insert path); reads are methods of
//! [`ReadConn`]. Api keys are stored only as SHA-256 digests plus a masked
//! prefix and suffix for display.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::error::StoreError;
use crate::reader::ReadConn;

/// An api key's metadata as stored (never the plaintext).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// The key's id (a UUID).
    pub id: String,
    /// The workspace the key belongs to (a UUID).
    pub workspace_id: String,
    /// A human-readable name.
    pub name: String,
    /// The first characters of the key, for display.
    pub prefix: String,
    /// The last characters of the key, for display.
    pub suffix: String,
    /// The granted scopes, for example `ingest:write`.
    pub scopes: Vec<String>,
    /// When the key was minted, ms since the epoch.
    pub created_at: i64,
    /// When the key was revoked, ms since the epoch; `None` while active.
    pub revoked_at: Option<i64>,
}

/// A key to be stored: its metadata and the SHA-256 digest of the plaintext.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    /// The metadata (its `revoked_at` is ignored: a new key is active).
    pub record: ApiKeyRecord,
    /// SHA-256 of the plaintext key.
    pub key_hash: [u8; 32],
}

/// What the visits of a site say about client enrichment, for tests and audits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitEnrichment {
    /// Whether the visit was classified as a bot.
    pub is_bot: bool,
    /// Whether the visit came from an internal IP range.
    pub is_internal: bool,
    /// Browser family, if recorded.
    pub browser: Option<String>,
    /// OS family, if recorded.
    pub os: Option<String>,
    /// Country code, if recorded.
    pub country: Option<String>,
}

const KEY_COLUMNS: &str = "id, workspace_id, name, prefix, suffix, scopes, created_at, revoked_at";

fn key_from_row(row: &Row<'_>) -> rusqlite::Result<ApiKeyRecord> {
    let scopes: String = row.get(5)?;
    Ok(ApiKeyRecord {
        id: row.get(0)?,
        workspace_id: row.get(1)?,
        name: row.get(2)?,
        prefix: row.get(3)?,
        suffix: row.get(4)?,
        scopes: scopes
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        created_at: row.get(6)?,
        revoked_at: row.get(7)?,
    })
}

/// Stores a new key, creating its workspace when this is the workspace's first
/// key. Runs on the write connection.
pub fn insert_api_key(conn: &Connection, key: &NewApiKey) -> Result<(), StoreError> {
    let record = &key.record;
    conn.prepare_cached(
        "INSERT INTO collector_workspaces (id, created_at) VALUES (?1, ?2) \
         ON CONFLICT (id) DO NOTHING",
    )?
    .execute(params![record.workspace_id, record.created_at])?;
    conn.prepare_cached(
        "INSERT INTO collector_api_keys (id, workspace_id, name, key_hash, prefix, suffix, \
         scopes, created_at, revoked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL)",
    )?
    .execute(params![
        record.id,
        record.workspace_id,
        record.name,
        key.key_hash.as_slice(),
        record.prefix,
        record.suffix,
        record.scopes.join(" "),
        record.created_at
    ])?;
    Ok(())
}

/// Soft-revokes key `id` of `workspace_id` at `now_ms` (a key already revoked
/// keeps its first revocation time). Returns the key's metadata, or `None` when
/// the workspace has no such key. Runs on the write connection.
pub fn revoke_api_key(
    conn: &Connection,
    workspace_id: &str,
    id: &str,
    now_ms: i64,
) -> Result<Option<ApiKeyRecord>, StoreError> {
    conn.prepare_cached(
        "UPDATE collector_api_keys SET revoked_at = ?3 \
         WHERE id = ?1 AND workspace_id = ?2 AND revoked_at IS NULL",
    )?
    .execute(params![id, workspace_id, now_ms])?;
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {KEY_COLUMNS} FROM collector_api_keys WHERE id = ?1 AND workspace_id = ?2"
        ))?
        .query_row(params![id, workspace_id], key_from_row)
        .optional()?)
}

/// Soft-revokes key `id`, whatever its workspace (the dashboard lists the keys
/// of every workspace). Returns the key's metadata, or `None` when there is no
/// such key. Runs on the write connection.
pub fn revoke_api_key_by_id(
    conn: &Connection,
    id: &str,
    now_ms: i64,
) -> Result<Option<ApiKeyRecord>, StoreError> {
    let workspace: Option<String> = conn
        .prepare_cached("SELECT workspace_id FROM collector_api_keys WHERE id = ?1")?
        .query_row(params![id], |row| row.get(0))
        .optional()?;
    match workspace {
        Some(workspace) => revoke_api_key(conn, &workspace, id, now_ms),
        None => Ok(None),
    }
}

/// How long an event's dedupe key is remembered, in days after the event's
/// own day: longer than the 30 days of past timestamps the collector accepts.
pub const DEDUPE_WINDOW_DAYS: i64 = 35;
/// The most dedupe keys one pruning call deletes.
const PRUNE_CHUNK: i64 = 20_000;

/// Up to one chunk of dedupe keys of events older than the dedupe window at
/// `now_ms`. This scans every key (they are random, so no index orders them by
/// day): run it on a read connection, so the writer is not held meanwhile.
pub fn expired_event_keys(conn: &Connection, now_ms: i64) -> Result<Vec<Vec<u8>>, StoreError> {
    let before_day = now_ms.div_euclid(86_400_000) - DEDUPE_WINDOW_DAYS;
    let keys = conn
        .prepare_cached("SELECT key FROM collector_event_ids WHERE day < ?1 LIMIT ?2")?
        .query_map(params![before_day, PRUNE_CHUNK], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(keys)
}

/// Deletes the dedupe keys `keys` (each by its primary key, so the writer's
/// work is proportional to the keys, not to the table); returns how many went.
pub fn delete_event_keys(conn: &Connection, keys: &[Vec<u8>]) -> Result<u64, StoreError> {
    let mut delete = conn.prepare_cached("DELETE FROM collector_event_ids WHERE key = ?1")?;
    let mut deleted = 0;
    for key in keys {
        deleted += delete.execute(params![key])? as u64;
    }
    Ok(deleted)
}

/// Deletes up to one chunk of dedupe keys of events older than the dedupe
/// window at `now_ms` on one connection; returns how many went (0: none left).
pub fn prune_event_keys(conn: &Connection, now_ms: i64) -> Result<u64, StoreError> {
    delete_event_keys(conn, &expired_event_keys(conn, now_ms)?)
}

/// Records the consent token of a stored event.
pub(crate) fn record_consent(
    conn: &Connection,
    site_id: i64,
    ts: i64,
    event_id: i64,
    token: &str,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO collector_consents (token) VALUES (?1) ON CONFLICT (token) DO NOTHING",
    )?
    .execute(params![token])?;
    let consent_id: i64 = conn
        .prepare_cached("SELECT id FROM collector_consents WHERE token = ?1")?
        .query_row(params![token], |row| row.get(0))?;
    conn.prepare_cached(
        "INSERT OR REPLACE INTO collector_event_consent (site_id, ts, event_id, consent_id) \
         VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![site_id, ts, event_id, consent_id])?;
    Ok(())
}

/// Adds stored events to each workspace's usage of the current UTC month.
pub(crate) fn add_usage(conn: &Connection, usage: &HashMap<&str, i64>) -> Result<(), StoreError> {
    if usage.is_empty() {
        return Ok(());
    }
    let mut upsert = conn.prepare_cached(
        "INSERT INTO collector_usage (workspace_id, month, events) \
         VALUES (?1, strftime('%Y-%m', 'now'), ?2) \
         ON CONFLICT (workspace_id, month) DO UPDATE SET events = events + excluded.events",
    )?;
    for (workspace, events) in usage {
        upsert.execute(params![workspace, events])?;
    }
    Ok(())
}

impl ReadConn<'_> {
    /// Every key of a workspace, newest first, revoked ones included.
    pub fn collector_api_keys(&self, workspace_id: &str) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let mut stmt = self.connection().prepare_cached(&format!(
            "SELECT {KEY_COLUMNS} FROM collector_api_keys WHERE workspace_id = ?1 \
             ORDER BY created_at DESC, id"
        ))?;
        let keys = stmt
            .query_map(params![workspace_id], key_from_row)?
            .collect::<Result<_, _>>()?;
        Ok(keys)
    }

    /// Every key of every workspace, newest first, revoked ones included.
    pub fn collector_all_api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let mut stmt = self.connection().prepare_cached(&format!(
            "SELECT {KEY_COLUMNS} FROM collector_api_keys ORDER BY created_at DESC, id"
        ))?;
        let keys = stmt
            .query_map([], key_from_row)?
            .collect::<Result<_, _>>()?;
        Ok(keys)
    }

    /// Every active (not revoked) key with its SHA-256 digest.
    pub fn collector_active_keys(&self) -> Result<Vec<([u8; 32], ApiKeyRecord)>, StoreError> {
        let mut stmt = self.connection().prepare_cached(&format!(
            "SELECT {KEY_COLUMNS}, key_hash FROM collector_api_keys WHERE revoked_at IS NULL"
        ))?;
        let mut rows = stmt.query([])?;
        let mut keys = Vec::new();
        while let Some(row) = rows.next()? {
            let hash: Vec<u8> = row.get(8)?;
            if let Ok(hash) = <[u8; 32]>::try_from(hash.as_slice()) {
                keys.push((hash, key_from_row(row)?));
            }
        }
        Ok(keys)
    }

    /// How many events a workspace stored in the current UTC month.
    pub fn collector_month_usage(&self, workspace_id: &str) -> Result<u64, StoreError> {
        let events: Option<i64> = self
            .connection()
            .prepare_cached(
                "SELECT events FROM collector_usage \
                 WHERE workspace_id = ?1 AND month = strftime('%Y-%m', 'now')",
            )?
            .query_row(params![workspace_id], |row| row.get(0))
            .optional()?;
        Ok(events.unwrap_or(0).try_into().unwrap_or(0))
    }

    /// The consent tokens stored with a site's events, in time order (events
    /// without consent are left out).
    pub fn collector_consents(&self, domain: &str) -> Result<Vec<String>, StoreError> {
        let conn = self.connection();
        let Some(site) = crate::site_records::site_id(conn, domain)? else {
            return Ok(Vec::new());
        };
        let mut token =
            conn.prepare_cached("SELECT token FROM collector_consents WHERE id = ?1")?;
        let mut tokens = Vec::new();
        for event in crate::site_records::events(conn, site)? {
            if let Some(consent) = event.consent {
                tokens.push(token.query_row(params![consent], |row| row.get(0))?);
            }
        }
        Ok(tokens)
    }

    /// The enrichment recorded on a site's visits, in start order.
    pub fn collector_visit_enrichment(
        &self,
        domain: &str,
    ) -> Result<Vec<VisitEnrichment>, StoreError> {
        let conn = self.connection();
        let Some(site) = crate::site_records::site_id(conn, domain)? else {
            return Ok(Vec::new());
        };
        let mut texts = crate::stats::labels::DimTexts::default();
        crate::site_records::visits(conn, site)?
            .into_iter()
            .map(|visit| {
                Ok(VisitEnrichment {
                    is_bot: visit.attrs.is_bot,
                    is_internal: visit.attrs.is_internal,
                    browser: texts.get(conn, visit.attrs.browser)?,
                    os: texts.get(conn, visit.attrs.os)?,
                    country: texts.get(conn, visit.attrs.country)?,
                })
            })
            .collect()
    }

    /// The timestamps of a site's events named `event_name`, in order.
    pub fn collector_event_times(
        &self,
        domain: &str,
        event_name: &str,
    ) -> Result<Vec<i64>, StoreError> {
        let conn = self.connection();
        let Some(site) = crate::site_records::site_id(conn, domain)? else {
            return Ok(Vec::new());
        };
        let mut texts = crate::stats::labels::DimTexts::default();
        let mut times = Vec::new();
        for event in crate::site_records::events(conn, site)? {
            if texts.get(conn, event.name)?.as_deref() == Some(event_name) {
                times.push(event.ts);
            }
        }
        Ok(times)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database() -> Connection {
        crate::schema::migrated_in_memory()
    }

    fn key(id: &str, hash: u8) -> NewApiKey {
        NewApiKey {
            record: ApiKeyRecord {
                id: id.into(),
                workspace_id: "ws".into(),
                name: "test".into(),
                prefix: "lk_live_ab".into(),
                suffix: "wxyz".into(),
                scopes: vec!["ingest:write".into(), "admin".into()],
                created_at: 1,
                revoked_at: None,
            },
            key_hash: [hash; 32],
        }
    }

    #[test]
    fn keys_are_stored_listed_and_soft_revoked() {
        let conn = database();
        insert_api_key(&conn, &key("k1", 1)).unwrap();
        insert_api_key(&conn, &key("k2", 2)).unwrap();
        assert!(
            insert_api_key(&conn, &key("k3", 2)).is_err(),
            "hashes are unique"
        );
        let revoked = revoke_api_key(&conn, "ws", "k1", 50).unwrap().unwrap();
        assert_eq!(revoked.revoked_at, Some(50));
        let again = revoke_api_key(&conn, "ws", "k1", 99).unwrap().unwrap();
        assert_eq!(
            again.revoked_at,
            Some(50),
            "the first revocation time stays"
        );
        assert!(revoke_api_key(&conn, "other", "k2", 50).unwrap().is_none());
        let reads = ReadConn::new(&conn);
        let listed = reads.collector_api_keys("ws").unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].scopes, ["ingest:write", "admin"]);
        let active = reads.collector_active_keys().unwrap();
        assert_eq!(active.len(), 1);
        assert_eq!(active[0].0, [2; 32]);
    }

    #[test]
    fn keys_of_every_workspace_are_listed_and_revoked_by_id() {
        let conn = database();
        insert_api_key(&conn, &key("k1", 1)).unwrap();
        let mut other = key("k2", 2);
        other.record.workspace_id = "ws2".into();
        other.record.created_at = 2;
        insert_api_key(&conn, &other).unwrap();
        let all = ReadConn::new(&conn).collector_all_api_keys().unwrap();
        let ids: Vec<&str> = all.iter().map(|k| k.id.as_str()).collect();
        assert_eq!(ids, ["k2", "k1"], "newest first, across workspaces");
        let revoked = revoke_api_key_by_id(&conn, "k2", 9).unwrap().unwrap();
        assert_eq!(
            (revoked.workspace_id.as_str(), revoked.revoked_at),
            ("ws2", Some(9))
        );
        assert!(revoke_api_key_by_id(&conn, "nope", 9).unwrap().is_none());
    }

    #[test]
    fn keys_past_the_dedupe_window_are_pruned_in_chunks_and_recent_ones_stay() {
        let conn = database();
        let mut keys = crate::dedupe_keys::DedupeKeys::default();
        let today = 20_500;
        let now_ms = today * 86_400_000 + 1;
        let old_day = today - DEDUPE_WINDOW_DAYS - 1;
        let edge_day = today - DEDUPE_WINDOW_DAYS;
        for i in 0..(PRUNE_CHUNK + 5) {
            let mut key = [0u8; 16];
            key[..8].copy_from_slice(&i.to_le_bytes());
            assert!(keys.claim(&conn, &key, old_day).unwrap());
        }
        assert!(keys.claim(&conn, &[1; 16], edge_day).unwrap());
        assert!(keys.claim(&conn, &[2; 16], today).unwrap());
        keys.move_recent(&conn).unwrap();
        assert_eq!(prune_event_keys(&conn, now_ms).unwrap(), PRUNE_CHUNK as u64);
        assert_eq!(prune_event_keys(&conn, now_ms).unwrap(), 5);
        assert_eq!(prune_event_keys(&conn, now_ms).unwrap(), 0);
        // Keys inside the window still deduplicate; pruned ones are free again.
        assert!(!keys.claim(&conn, &[1; 16], edge_day).unwrap());
        assert!(!keys.claim(&conn, &[2; 16], today).unwrap());
        assert!(keys.claim(&conn, &[0; 16], today).unwrap());
    }

    #[test]
    fn usage_adds_up_per_workspace_and_month() {
        let conn = database();
        add_usage(&conn, &HashMap::from([("a", 2), ("b", 1)])).unwrap();
        add_usage(&conn, &HashMap::from([("a", 3)])).unwrap();
        let reads = ReadConn::new(&conn);
        assert_eq!(reads.collector_month_usage("a").unwrap(), 5);
        assert_eq!(reads.collector_month_usage("b").unwrap(), 1);
        assert_eq!(reads.collector_month_usage("c").unwrap(), 0);
    }
}
