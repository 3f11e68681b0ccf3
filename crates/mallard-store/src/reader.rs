//! Read-only connections and the queries that use them.
//!
//! Readers never touch the write connection: in WAL mode they see the last
//! committed state while the writer keeps writing. Connections are pooled; the
//! pool never holds more than a few idle ones.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use crate::error::StoreError;

/// The most idle read connections kept open.
const MAX_IDLE: usize = 8;

/// A pool of read-only connections to one database file.
#[derive(Debug)]
pub struct ReadPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl ReadPool {
    /// A pool for the database at `path`; connections are opened on demand.
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `read` on a read-only connection. This blocks on SQLite: call it from
    /// a blocking thread, never from an async task.
    pub fn with<T>(
        &self,
        read: impl FnOnce(&ReadConn<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let pooled = self.idle.lock().map_or(None, |mut idle| idle.pop());
        let conn = match pooled {
            Some(conn) => conn,
            None => self.open()?,
        };
        let result = read(&ReadConn { conn: &conn });
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < MAX_IDLE
        {
            idle.push(conn);
        }
        result
    }

    /// Opens a new connection (not a pooled one) and runs a trivial query: the
    /// database file is reachable and readable right now.
    pub fn probe(&self) -> Result<(), StoreError> {
        let conn = self.open()?;
        ReadConn { conn: &conn }.ping()
    }

    fn open(&self) -> Result<Connection, StoreError> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.execute_batch(
            "PRAGMA query_only = ON; PRAGMA busy_timeout = 5000; PRAGMA cache_size = -16000;",
        )?;
        Ok(conn)
    }
}

/// A borrowed read-only connection with the queries the server needs.
#[derive(Debug)]
pub struct ReadConn<'a> {
    conn: &'a Connection,
}

impl ReadConn<'_> {
    /// The underlying connection, for query modules of this crate.
    pub fn connection(&self) -> &Connection {
        self.conn
    }

    /// Checks that the database answers a trivial query.
    pub fn ping(&self) -> Result<(), StoreError> {
        self.conn
            .query_row("SELECT count(*) FROM sites", [], |_| Ok(()))?;
        Ok(())
    }

    /// The domains of all sites that have received events, sorted.
    pub fn site_domains(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT domain FROM sites ORDER BY domain")?;
        let domains = stmt
            .query_map([], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(domains)
    }

    /// How many events a site has stored, 0 for an unknown site.
    pub fn event_count(&self, domain: &str) -> Result<u64, StoreError> {
        let count: Option<i64> = self
            .conn
            .prepare_cached(
                "SELECT count(*) FROM events WHERE site_id = (SELECT id FROM sites WHERE domain = ?1)",
            )?
            .query_row(params![domain], |row| row.get(0))
            .optional()?;
        Ok(count.unwrap_or(0).try_into().unwrap_or(0))
    }

    /// The time of a site's oldest event, ms since the epoch.
    pub fn oldest_event_ms(&self, domain: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT min(ts) FROM events WHERE site_id = (SELECT id FROM sites WHERE domain = ?1)",
            )?
            .query_row(params![domain], |row| row.get(0))?)
    }

    /// How many visits a site has, 0 for an unknown site.
    pub fn visit_count(&self, domain: &str) -> Result<u64, StoreError> {
        let count: i64 = self.conn.prepare_cached(
            "SELECT count(*) FROM visits WHERE site_id = (SELECT id FROM sites WHERE domain = ?1)",
        )?
        .query_row(params![domain], |row| row.get(0))?;
        Ok(count.try_into().unwrap_or(0))
    }

    /// The paths of a site's page views in time order; meant for tests and exports
    /// of small sites.
    pub fn pageview_paths(&self, domain: &str) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT p.value FROM events e \
             JOIN dims p ON p.id = e.pathname JOIN dims n ON n.id = e.name \
             WHERE e.site_id = (SELECT id FROM sites WHERE domain = ?1) AND n.value = 'pageview' \
             ORDER BY e.ts, e.id",
        )?;
        let paths = stmt
            .query_map(params![domain], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(paths)
    }

    /// The custom properties stored for a site's events named `event_name`, one
    /// list of key/value pairs per event in time order.
    pub fn event_props(
        &self,
        domain: &str,
        event_name: &str,
    ) -> Result<Vec<Vec<(String, String)>>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT e.id, k.value, v.value FROM events e \
             JOIN dims n ON n.id = e.name \
             LEFT JOIN event_props p ON p.site_id = e.site_id AND p.ts = e.ts AND p.event_id = e.id \
             LEFT JOIN dims k ON k.id = p.key LEFT JOIN dims v ON v.id = p.value \
             WHERE e.site_id = (SELECT id FROM sites WHERE domain = ?1) AND n.value = ?2 \
             ORDER BY e.ts, e.id, k.value",
        )?;
        let mut rows = stmt.query(params![domain, event_name])?;
        let mut events: Vec<(i64, Vec<(String, String)>)> = Vec::new();
        while let Some(row) = rows.next()? {
            let id: i64 = row.get(0)?;
            let pair = match (
                row.get::<_, Option<String>>(1)?,
                row.get::<_, Option<String>>(2)?,
            ) {
                (Some(key), Some(value)) => Some((key, value)),
                _ => None,
            };
            match events.last_mut() {
                Some((last, props)) if *last == id => props.extend(pair),
                _ => events.push((id, pair.into_iter().collect())),
            }
        }
        Ok(events.into_iter().map(|(_, props)| props).collect())
    }

    /// Runs SQLite's full integrity check; an empty list means the file is sound.
    pub fn integrity_problems(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare("PRAGMA integrity_check")?;
        let lines: Vec<String> = stmt
            .query_map([], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(lines.into_iter().filter(|line| line != "ok").collect())
    }
}
