//! Read-only connections and the queries that use them.
//!
//! Readers never touch the write connection: in WAL mode they see the last
//! committed state while the writer keeps writing. Connections are pooled; the
//! pool never holds more than a few idle ones.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OpenFlags, params};

use crate::cancel::{Armed, QueryCancel};
use crate::error::StoreError;
use crate::site_records;
use crate::stats::labels::DimTexts;
use crate::visit_record::Columns;

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
        let conn = self.take()?;
        let result = in_snapshot(&conn, Some((self, None)), read);
        self.give_back(conn);
        result
    }

    /// Runs `read` like [`ReadPool::with`], stopping it with
    /// [`StoreError::Cancelled`] once `cancel` is set: any SQL statement is
    /// interrupted by SQLite's progress handler, and query code checks the
    /// flag per chunk of work ([`ReadConn::check_cancelled`]). A read whose
    /// flag is set before it starts does not run. The handler is removed
    /// before the connection goes back to the pool. When the flag is set, an
    /// error of the read (say, a half-read day reported as damaged) is
    /// answered as [`StoreError::Cancelled`].
    pub fn with_cancel<T>(
        &self,
        cancel: &QueryCancel,
        read: impl FnOnce(&ReadConn<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if cancel.is_cancelled() {
            return Err(StoreError::Cancelled);
        }
        let conn = self.take()?;
        let result = match Armed::new(&conn, cancel) {
            Ok(armed) => {
                let result = in_snapshot(&conn, Some((self, Some(cancel))), read);
                drop(armed);
                result
            }
            Err(err) => Err(err),
        };
        self.give_back(conn);
        match result {
            Err(_) if cancel.is_cancelled() => Err(StoreError::Cancelled),
            result => result,
        }
    }

    /// An idle connection, or a new one.
    fn take(&self) -> Result<Connection, StoreError> {
        let pooled = self.idle.lock().map_or(None, |mut idle| idle.pop());
        match pooled {
            Some(conn) => Ok(conn),
            None => self.open(),
        }
    }

    /// Keeps `conn` for the next read, unless [`MAX_IDLE`] are kept already.
    fn give_back(&self, conn: Connection) {
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < MAX_IDLE
        {
            idle.push(conn);
        }
    }

    /// Opens a new connection (not a pooled one) and runs a trivial query: the
    /// database file is reachable and readable right now.
    pub fn probe(&self) -> Result<(), StoreError> {
        let conn = self.open()?;
        ReadConn {
            conn: &conn,
            pool: None,
        }
        .ping()
    }

    fn open(&self) -> Result<Connection, StoreError> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // A small page cache: a read is one transaction, so its cache is not
        // emptied by the writer's commits while it runs, and day segments
        // are read once per query anyway (the OS caches the file); eight
        // concurrent queries with 16 MB each took 130 MB more.
        conn.execute_batch(
            "PRAGMA query_only = ON; PRAGMA busy_timeout = 5000; PRAGMA cache_size = -2000;",
        )?;
        Ok(conn)
    }
}

/// Runs `read` in one read transaction, so that it sees one state of the
/// database throughout: the writer moves a closed day from rows into its
/// day segment in one transaction, and a read that looked at the day before
/// and after could otherwise miss it or see it twice.
fn in_snapshot<T>(
    conn: &Connection,
    pool: Option<(&ReadPool, Option<&QueryCancel>)>,
    read: impl FnOnce(&ReadConn<'_>) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let snapshot = conn.unchecked_transaction()?;
    let result = read(&ReadConn { conn, pool });
    // Nothing was written: ending the transaction either way is the same.
    drop(snapshot);
    result
}

/// A borrowed read-only connection with the queries the server needs.
#[derive(Debug)]
pub struct ReadConn<'a> {
    conn: &'a Connection,
    /// The pool the connection came from and the flag that stops the read,
    /// for work split across two connections ([`ReadConn::on_two`]); none
    /// for a connection of this crate's tests.
    pool: Option<(&'a ReadPool, Option<&'a QueryCancel>)>,
}

impl<'a> ReadConn<'a> {
    /// Wraps a connection (for this crate's tests).
    #[cfg(test)]
    pub(crate) fn new(conn: &'a Connection) -> Self {
        Self { conn, pool: None }
    }

    /// Runs `work` on this connection and, at the same time, on a second
    /// connection of the pool in a thread of its own, in a read transaction
    /// of its own (stopped by the same flag), and returns both answers: for
    /// independent parts of one answer that the two take from a shared list
    /// (the panels of an unfiltered view), so that they use two cores.
    ///
    /// The second transaction starts a moment after this one, so the two
    /// may see states of the database a few milliseconds apart; each is
    /// consistent on its own. Without a pool (this crate's tests) `work`
    /// runs here alone and the second answer is `None`. An error of either
    /// is the answer.
    pub(crate) fn on_two<T: Send>(
        &self,
        work: impl Fn(&ReadConn<'_>) -> Result<T, StoreError> + Sync,
    ) -> Result<(T, Option<T>), StoreError> {
        let Some((pool, cancel)) = self.pool else {
            return Ok((work(self)?, None));
        };
        let second = |db: &ReadConn<'_>| {
            // The second connection splits nothing further.
            work(&ReadConn {
                conn: db.conn,
                pool: None,
            })
        };
        std::thread::scope(|scope| {
            let helper = scope.spawn(|| match cancel {
                Some(cancel) => pool.with_cancel(cancel, second),
                None => pool.with(second),
            });
            let own = work(self);
            let theirs = helper
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            Ok((own?, Some(theirs?)))
        })
    }
}

impl ReadConn<'_> {
    /// The underlying connection, for query modules of this crate.
    pub fn connection(&self) -> &Connection {
        self.conn
    }

    /// [`StoreError::Cancelled`] when this read was started with
    /// [`ReadPool::with_cancel`] and its flag is set since; query code calls it
    /// once per chunk of work. (Code that holds only the `Connection` calls
    /// [`crate::cancel::check`].)
    pub fn check_cancelled(&self) -> Result<(), StoreError> {
        crate::cancel::check(self.conn)
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
        let Some(site) = site_records::site_id(self.conn, domain)? else {
            return Ok(0);
        };
        let rows: i64 = self
            .conn
            .prepare_cached(&format!(
                "SELECT count(*) FROM events e JOIN visits v ON v.id = e.visit_id \
                 WHERE e.site_id = ?1 AND {}",
                site_records::NOT_REPLACED
            ))?
            .query_row(params![site], |row| row.get(0))?;
        let counters = Columns {
            visit: true,
            ..Columns::default()
        };
        let packed: i64 = site_records::packed_visits(self.conn, site, counters)?
            .iter()
            .map(|v| v.events_count)
            .sum();
        Ok((rows + packed).try_into().unwrap_or(0))
    }

    /// The time of a site's oldest event, ms since the epoch.
    pub fn oldest_event_ms(&self, domain: &str) -> Result<Option<i64>, StoreError> {
        let Some(site) = site_records::site_id(self.conn, domain)? else {
            return Ok(None);
        };
        let rows: Option<i64> = self
            .conn
            .prepare_cached(&format!(
                "SELECT min(v.start_ts) FROM visits v WHERE v.site_id = ?1 AND {}",
                site_records::NOT_REPLACED
            ))?
            .query_row(params![site], |row| row.get(0))?;
        // A visit's first event is its start.
        let packed = site_records::packed_visits(self.conn, site, Columns::default())?
            .first()
            .map(|v| v.start_ts);
        Ok(rows.into_iter().chain(packed).min())
    }

    /// How many visits a site has, 0 for an unknown site.
    pub fn visit_count(&self, domain: &str) -> Result<u64, StoreError> {
        let Some(site) = site_records::site_id(self.conn, domain)? else {
            return Ok(0);
        };
        let rows: i64 = self
            .conn
            .prepare_cached(&format!(
                "SELECT count(*) FROM visits v WHERE v.site_id = ?1 AND {}",
                site_records::NOT_REPLACED
            ))?
            .query_row(params![site], |row| row.get(0))?;
        let packed = site_records::packed_visits(self.conn, site, Columns::default())?.len();
        Ok(u64::try_from(rows).unwrap_or(0) + packed as u64)
    }

    /// The paths of a site's page views in time order; meant for tests and exports
    /// of small sites.
    pub fn pageview_paths(&self, domain: &str) -> Result<Vec<String>, StoreError> {
        let Some(site) = site_records::site_id(self.conn, domain)? else {
            return Ok(Vec::new());
        };
        let mut texts = DimTexts::default();
        site_records::events(self.conn, site)?
            .into_iter()
            .filter(|e| e.pageview)
            .map(|e| Ok(texts.get(self.conn, Some(e.pathname))?.unwrap_or_default()))
            .collect()
    }

    /// The custom properties stored for a site's events named `event_name`, one
    /// list of key/value pairs per event in time order.
    pub fn event_props(
        &self,
        domain: &str,
        event_name: &str,
    ) -> Result<Vec<Vec<(String, String)>>, StoreError> {
        let Some(site) = site_records::site_id(self.conn, domain)? else {
            return Ok(Vec::new());
        };
        let mut texts = DimTexts::default();
        let mut out = Vec::new();
        for event in site_records::events(self.conn, site)? {
            if texts.get(self.conn, event.name)?.as_deref() != Some(event_name) {
                continue;
            }
            let mut pairs = Vec::with_capacity(event.props.len());
            for (key, value) in event.props {
                pairs.push((
                    texts.get(self.conn, Some(key))?.unwrap_or_default(),
                    texts.get(self.conn, Some(value))?.unwrap_or_default(),
                ));
            }
            pairs.sort_unstable();
            out.push(pairs);
        }
        Ok(out)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts to `n` in SQL: a statement that runs for as long as asked.
    fn count_to(db: &ReadConn<'_>, n: i64) -> Result<i64, StoreError> {
        Ok(db.connection().query_row(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1) \
             SELECT count(*) FROM n",
            [n],
            |row| row.get(0),
        )?)
    }

    /// A pool on a new database file in `dir`.
    fn pool(dir: &tempfile::TempDir) -> ReadPool {
        let path = dir.path().join("read.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE sites (id INTEGER PRIMARY KEY, domain TEXT)")
            .unwrap();
        ReadPool::new(&path)
    }

    #[test]
    fn work_on_two_runs_on_two_connections_in_two_threads_of_one_pool() {
        let dir = tempfile::tempdir().unwrap();
        let pool = pool(&dir);
        let (own, theirs) = pool
            .with(|db| {
                db.on_two(|db| {
                    Ok((
                        std::thread::current().id(),
                        std::ptr::from_ref(db.conn) as usize,
                        db.pool.is_some(),
                        // Each runs in a read transaction.
                        db.conn.is_autocommit(),
                    ))
                })
            })
            .unwrap();
        let theirs = theirs.unwrap();
        assert_ne!(own.0, theirs.0, "one thread");
        assert_ne!(own.1, theirs.1, "one connection");
        // The second connection splits nothing further.
        assert_eq!((own.2, theirs.2), (true, false));
        assert_eq!((own.3, theirs.3), (false, false));
        // Both connections went back to the pool.
        assert_eq!(pool.idle.lock().unwrap().len(), 2);
        // Without a pool the work runs once, here.
        let conn = Connection::open(dir.path().join("read.db")).unwrap();
        let (_, none) = ReadConn::new(&conn).on_two(|_| Ok(())).unwrap();
        assert!(none.is_none());
    }

    #[test]
    fn work_on_two_stops_on_both_connections_when_cancelled() {
        let dir = tempfile::tempdir().unwrap();
        let pool = pool(&dir);
        let cancel = QueryCancel::new();
        let started = std::time::Instant::now();
        let answer = pool.with_cancel(&cancel, |db| {
            db.on_two(|db| {
                cancel.cancel();
                count_to(db, 1_000_000_000)
            })
        });
        assert!(matches!(answer, Err(StoreError::Cancelled)), "{answer:?}");
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
    }

    #[test]
    fn a_cancelled_read_stops_its_statement_and_leaves_no_handler_behind() {
        let dir = tempfile::tempdir().unwrap();
        let pool = pool(&dir);
        let cancel = QueryCancel::new();
        let outcome = pool.with_cancel(&cancel, |db| {
            assert_eq!(count_to(db, 1_000)?, 1_000, "not cancelled yet");
            // The client goes away while the read runs.
            cancel.cancel();
            // Without the handler this would run for many seconds, then succeed.
            count_to(db, 300_000_000)
        });
        assert!(matches!(outcome, Err(StoreError::Cancelled)), "{outcome:?}");
        // The same connection (the only one pooled) serves the next reads with
        // no handler left: the flag, still set, stops nothing.
        assert_eq!(pool.idle.lock().unwrap().len(), 1);
        assert_eq!(pool.with(|db| count_to(db, 200_000)).unwrap(), 200_000);
        let fresh = QueryCancel::new();
        assert_eq!(
            pool.with_cancel(&fresh, |db| count_to(db, 200_000))
                .unwrap(),
            200_000
        );
        assert_eq!(pool.idle.lock().unwrap().len(), 1);
    }

    #[test]
    fn chunked_work_stops_at_the_next_check_once_cancelled_elsewhere() {
        let dir = tempfile::tempdir().unwrap();
        let pool = pool(&dir);
        let cancel = QueryCancel::new();
        let from_elsewhere = cancel.clone();
        let canceller = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            from_elsewhere.cancel();
        });
        let mut chunks = 0u64;
        let outcome: Result<(), StoreError> = pool.with_cancel(&cancel, |db| {
            // Work outside SQL, a millisecond per chunk, for up to ten minutes.
            while chunks < 600_000 {
                db.check_cancelled()?;
                std::thread::sleep(std::time::Duration::from_millis(1));
                chunks += 1;
            }
            Ok(())
        });
        canceller.join().unwrap();
        assert!(matches!(outcome, Err(StoreError::Cancelled)), "{outcome:?}");
        assert!(chunks < 600_000);
        // Without a flag the checks never stop a read.
        let read = pool.with(|db| {
            db.check_cancelled()?;
            Ok(7)
        });
        assert_eq!(read.unwrap(), 7);
    }

    #[test]
    fn a_read_cancelled_before_it_starts_does_not_run() {
        let dir = tempfile::tempdir().unwrap();
        let pool = pool(&dir);
        let cancel = QueryCancel::new();
        cancel.cancel();
        let mut ran = false;
        let outcome = pool.with_cancel(&cancel, |_| {
            ran = true;
            Ok(())
        });
        assert!(matches!(outcome, Err(StoreError::Cancelled)));
        assert!(!ran);
    }
}
