//! The remote servers this install pulls events from (migration 019): where
//! they are, the key they are read with, which of their sites and how often,
//! how the last pull went, and per remote site the feed cursor reached and
//! the import (in the ledger, [`crate::imports`]) that holds what was pulled.
//!
//! A pulled page is written with [`record_page`] in the transaction of its
//! events ([`crate::WriterHandle::insert_recorded_blocking`]), so that the
//! cursor never runs ahead of or behind what is stored: a pull that stops
//! anywhere resumes where it stopped, and pulling again adds nothing.

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::StoreError;
use crate::imports;

/// A remote server as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// Its id here.
    pub id: i64,
    /// The base URL of the remote Mallard (`https://stats.example.com`).
    pub url: String,
    /// The API key the feed is read with (a secret).
    pub api_key: String,
    /// The remote's site ids to pull; empty: every site the key reads.
    pub sites: Vec<String>,
    /// How often to pull, in seconds; `None`: only when asked.
    pub every_secs: Option<i64>,
    /// When it was added (ms).
    pub created_at: i64,
    /// When a pull last started (ms).
    pub last_attempt_at: Option<i64>,
    /// When a pull last finished without an error (ms).
    pub last_success_at: Option<i64>,
    /// Why the last pull failed, if it did.
    pub last_error: Option<String>,
    /// Events pulled from it so far.
    pub events_pulled: i64,
}

impl Remote {
    /// The key with all but its first characters hidden, for lists.
    pub fn key_hint(&self) -> String {
        let shown: String = self.api_key.chars().take(7).collect();
        format!("{shown}…")
    }
}

/// Where the pull of one remote site stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SiteCursor {
    /// The import holding what was pulled (see [`crate::imports`]).
    pub import_id: i64,
    /// The local site the events go to.
    pub site_id: i64,
    /// The feed cursor reached (`after` of the next page).
    pub cursor: i64,
}

const COLUMNS: &str = "id, url, api_key, sites, every_secs, created_at, last_attempt_at, \
                       last_success_at, last_error, events_pulled";

fn remote_of(row: &rusqlite::Row<'_>) -> rusqlite::Result<Remote> {
    let sites: String = row.get(3)?;
    Ok(Remote {
        id: row.get(0)?,
        url: row.get(1)?,
        api_key: row.get(2)?,
        sites: sites
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        every_secs: row.get(4)?,
        created_at: row.get(5)?,
        last_attempt_at: row.get(6)?,
        last_success_at: row.get(7)?,
        last_error: row.get(8)?,
        events_pulled: row.get(9)?,
    })
}

/// Every remote, in the order they were added.
pub fn list(conn: &Connection) -> Result<Vec<Remote>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM remotes ORDER BY id"))?;
    let remotes = stmt.query_map([], remote_of)?.collect::<Result<_, _>>()?;
    Ok(remotes)
}

/// The remote with id `id`.
pub fn get(conn: &Connection, id: i64) -> Result<Option<Remote>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM remotes WHERE id = ?1"))?
        .query_row(params![id], remote_of)
        .optional()?)
}

/// Adds the remote at `url`, or changes its key, sites and interval when it
/// is known; returns its id. Runs on the write connection.
pub fn save(
    conn: &Connection,
    url: &str,
    api_key: &str,
    sites: &[String],
    every_secs: Option<i64>,
    now_ms: i64,
) -> Result<i64, StoreError> {
    conn.prepare_cached(
        "INSERT INTO remotes (url, api_key, sites, every_secs, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (url) DO UPDATE SET \
         api_key = excluded.api_key, sites = excluded.sites, every_secs = excluded.every_secs",
    )?
    .execute(params![url, api_key, sites.join(","), every_secs, now_ms])?;
    Ok(conn
        .prepare_cached("SELECT id FROM remotes WHERE url = ?1")?
        .query_row(params![url], |row| row.get(0))?)
}

/// Forgets remote `id` and its cursors (what was pulled stays, as its
/// imports, which can be undone). Whether it existed.
pub fn remove(conn: &Connection, id: i64) -> Result<bool, StoreError> {
    conn.prepare_cached("DELETE FROM remote_cursors WHERE remote_id = ?1")?
        .execute(params![id])?;
    Ok(conn
        .prepare_cached("DELETE FROM remotes WHERE id = ?1")?
        .execute(params![id])?
        > 0)
}

/// Notes that a pull of remote `id` started at `now_ms`.
pub fn note_attempt(conn: &Connection, id: i64, now_ms: i64) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE remotes SET last_attempt_at = ?2 WHERE id = ?1")?
        .execute(params![id, now_ms])?;
    Ok(())
}

/// Notes how the pull of remote `id` that started last ended: `error` is
/// why it failed, `None` when it did not.
pub fn note_outcome(
    conn: &Connection,
    id: i64,
    now_ms: i64,
    error: Option<&str>,
) -> Result<(), StoreError> {
    match error {
        Some(error) => conn
            .prepare_cached("UPDATE remotes SET last_error = ?2 WHERE id = ?1")?
            .execute(params![id, error])?,
        None => conn
            .prepare_cached(
                "UPDATE remotes SET last_error = NULL, last_success_at = ?2 WHERE id = ?1",
            )?
            .execute(params![id, now_ms])?,
    };
    Ok(())
}

/// Where the pull of `site` (the remote's site id) from remote `remote_id`
/// stands, starting it when it has not started, or starting over when its
/// import was undone or its local site deleted: events go to the local site
/// of the same name, created when new with the remote's `time_zone` (an
/// IANA name the caller checked). Runs on the write connection.
pub fn start_site(
    conn: &Connection,
    remote_id: i64,
    site: &str,
    time_zone: &str,
    now_ms: i64,
) -> Result<SiteCursor, StoreError> {
    let known: Option<(i64, i64)> = conn
        .prepare_cached(
            "SELECT import_id, cursor FROM remote_cursors WHERE remote_id = ?1 AND site = ?2",
        )?
        .query_row(params![remote_id, site], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()?;
    if let Some((import_id, cursor)) = known {
        // The import stands while it is not undone and its site is there.
        let site_id: Option<i64> = conn
            .prepare_cached(
                "SELECT i.site_id FROM imports i JOIN sites s ON s.id = i.site_id \
                 WHERE i.id = ?1 AND i.undone_at IS NULL",
            )?
            .query_row(params![import_id], |row| row.get(0))
            .optional()?;
        if let Some(site_id) = site_id {
            return Ok(SiteCursor {
                import_id,
                site_id,
                cursor,
            });
        }
    }
    let exists = crate::site_records::site_id(conn, site)?.is_some();
    let (import_id, site_id) = imports::begin_import(conn, site, "pull", "mallard", now_ms)?;
    if !exists {
        conn.prepare_cached("UPDATE sites SET timezone = ?2 WHERE id = ?1")?
            .execute(params![site_id, time_zone])?;
    }
    conn.prepare_cached(
        "INSERT INTO remote_cursors (remote_id, site, import_id, cursor) VALUES (?1, ?2, ?3, 0) \
         ON CONFLICT (remote_id, site) DO UPDATE SET import_id = excluded.import_id, cursor = 0",
    )?
    .execute(params![remote_id, site, import_id])?;
    Ok(SiteCursor {
        import_id,
        site_id,
        cursor: 0,
    })
}

/// What one pulled page adds, for [`record_page`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PulledPage {
    /// The feed cursor after the page.
    pub cursor: i64,
    /// Events written.
    pub events: u64,
    /// The earliest and latest of their times.
    pub span: Option<(i64, i64)>,
    /// The visitor ids of the page's events.
    pub visitors: Vec<u64>,
}

/// Records a pulled page of `site` from remote `remote_id` in the
/// transaction of its events: the cursor, the import's counts and visitor
/// ids, the remote's total.
pub fn record_page(
    conn: &Connection,
    remote_id: i64,
    site: &str,
    import_id: i64,
    page: &PulledPage,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE remote_cursors SET cursor = ?3 WHERE remote_id = ?1 AND site = ?2",
    )?
    .execute(params![remote_id, site, page.cursor])?;
    conn.prepare_cached("UPDATE remotes SET events_pulled = events_pulled + ?2 WHERE id = ?1")?
        .execute(params![remote_id, page.events as i64])?;
    imports::add_chunk(conn, import_id, page.events, page.span, &page.visitors)
}

/// Marks the imports of remote `remote_id`'s sites finished as of `now_ms`
/// (a pull is an import that goes on: each finished pull moves the mark).
pub fn finish_pull(conn: &Connection, remote_id: i64, now_ms: i64) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE imports SET finished_at = ?2 WHERE id IN \
         (SELECT import_id FROM remote_cursors WHERE remote_id = ?1)",
    )?
    .execute(params![remote_id, now_ms])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection() -> Connection {
        crate::schema::migrated_in_memory()
    }

    #[test]
    fn a_remote_is_saved_changed_listed_and_removed() {
        let conn = connection();
        let sites = vec!["a.test".to_owned(), "b.test".to_owned()];
        let id = save(
            &conn,
            "https://stats.test",
            "mm_secret_key",
            &sites,
            Some(600),
            5,
        )
        .unwrap();
        let again = save(&conn, "https://stats.test", "mm_other_key", &[], None, 9).unwrap();
        assert_eq!(id, again, "one remote per URL");
        let remote = get(&conn, id).unwrap().unwrap();
        assert_eq!(remote.api_key, "mm_other_key");
        assert_eq!(remote.key_hint(), "mm_othe…");
        assert!(remote.sites.is_empty());
        assert_eq!((remote.every_secs, remote.created_at), (None, 5));
        note_attempt(&conn, id, 10).unwrap();
        note_outcome(&conn, id, 11, Some("refused")).unwrap();
        let failed = get(&conn, id).unwrap().unwrap();
        assert_eq!(failed.last_error.as_deref(), Some("refused"));
        assert_eq!(failed.last_success_at, None);
        note_outcome(&conn, id, 12, None).unwrap();
        let fine = get(&conn, id).unwrap().unwrap();
        assert_eq!((fine.last_error, fine.last_success_at), (None, Some(12)));
        assert_eq!(list(&conn).unwrap().len(), 1);
        assert!(remove(&conn, id).unwrap());
        assert!(!remove(&conn, id).unwrap());
        assert!(list(&conn).unwrap().is_empty());
    }

    #[test]
    fn a_cursor_moves_with_its_pages_and_starts_over_after_an_undo() {
        let conn = connection();
        let remote = save(&conn, "http://a.test", "k", &[], None, 0).unwrap();
        let start = start_site(&conn, remote, "site.test", "Europe/Berlin", 1).unwrap();
        assert_eq!(start.cursor, 0);
        let zone: String = conn
            .query_row(
                "SELECT timezone FROM sites WHERE id = ?1",
                [start.site_id],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(
            zone, "Europe/Berlin",
            "a new site takes the remote's time zone"
        );
        let page = PulledPage {
            cursor: 42,
            events: 3,
            span: Some((1_000, 2_000)),
            visitors: vec![7, 8],
        };
        record_page(&conn, remote, "site.test", start.import_id, &page).unwrap();
        let resumed = start_site(&conn, remote, "site.test", "UTC", 2).unwrap();
        assert_eq!(
            resumed,
            SiteCursor {
                cursor: 42,
                ..start
            }
        );
        assert_eq!(get(&conn, remote).unwrap().unwrap().events_pulled, 3);
        let (imported, first, last): (i64, i64, i64) = conn
            .query_row(
                "SELECT imported, first_ts, last_ts FROM imports WHERE id = ?1",
                [start.import_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!((imported, first, last), (3, 1_000, 2_000));
        assert_eq!(
            imports::import_visitors(&conn, start.import_id).unwrap(),
            [7, 8]
        );
        finish_pull(&conn, remote, 3).unwrap();
        // Undone: the next pull starts over, in a new import.
        conn.execute(
            "UPDATE imports SET undone_at = 4 WHERE id = ?1",
            [start.import_id],
        )
        .unwrap();
        let over = start_site(&conn, remote, "site.test", "UTC", 5).unwrap();
        assert_eq!(over.cursor, 0);
        assert_ne!(over.import_id, start.import_id);
        assert_eq!(over.site_id, start.site_id);
    }
}
