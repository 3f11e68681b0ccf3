//! Cancelling a read that nobody waits for any more.
//!
//! A [`QueryCancel`] is a flag shared between whoever waits for a read (the
//! server, which sets it when the client went away) and the blocking thread
//! that runs it. A read started with [`crate::ReadPool::with_cancel`] carries
//! the flag in two ways:
//!
//! - SQLite's progress handler looks at it every [`PROGRESS_OPS`] virtual
//!   machine instructions, so a long statement stops with `SQLITE_INTERRUPT`
//!   (turned into [`StoreError::Cancelled`]);
//! - query code that works outside SQL (folding decoded days, walking rows)
//!   calls [`check`] once per chunk of work.
//!
//! Query code holds a plain `&Connection`, so [`check`] finds the flag of that
//! connection in a list kept per thread while the read runs. A `Connection`
//! is not `Sync`, so code holding a reference to it runs on the thread that
//! started the read, the thread whose list has the entry.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rusqlite::Connection;

use crate::error::StoreError;

/// The SQLite virtual machine instructions run between two looks at the
/// flag: tens of microseconds of work, a negligible cost.
pub const PROGRESS_OPS: std::ffi::c_int = 1_000;

/// A flag that asks a read to stop; clones share it.
#[derive(Debug, Clone, Default)]
pub struct QueryCancel(Arc<AtomicBool>);

impl QueryCancel {
    /// A flag that is not set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks every read carrying this flag to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether [`QueryCancel::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

thread_local! {
    /// The connections of this thread that run a cancellable read, by
    /// address, with their flags.
    static ACTIVE: RefCell<Vec<(usize, QueryCancel)>> = const { RefCell::new(Vec::new()) };
}

/// The address of a connection: its key in [`ACTIVE`].
fn key(conn: &Connection) -> usize {
    std::ptr::from_ref(conn).addr()
}

/// [`StoreError::Cancelled`] when the read running on `conn` was cancelled;
/// `Ok` for a connection whose read cannot be cancelled. Call it once per
/// chunk of work (a few milliseconds at most).
pub fn check(conn: &Connection) -> Result<(), StoreError> {
    let at = key(conn);
    let cancelled = ACTIVE.with_borrow(|active| {
        active
            .iter()
            .any(|(address, flag)| *address == at && flag.is_cancelled())
    });
    if cancelled {
        Err(StoreError::Cancelled)
    } else {
        Ok(())
    }
}

/// A cancellable read in progress on a connection: the progress handler is
/// installed and the flag registered for [`check`] until it is dropped,
/// which removes both, so the connection goes back to the pool clean.
pub(crate) struct Armed<'c> {
    conn: &'c Connection,
}

impl<'c> Armed<'c> {
    /// Installs `flag` on `conn`.
    pub(crate) fn new(conn: &'c Connection, flag: &QueryCancel) -> Result<Self, StoreError> {
        let watched = flag.clone();
        conn.progress_handler(PROGRESS_OPS, Some(move || watched.is_cancelled()))?;
        ACTIVE.with_borrow_mut(|active| active.push((key(conn), flag.clone())));
        Ok(Self { conn })
    }
}

impl Drop for Armed<'_> {
    fn drop(&mut self) {
        // Removing a handler cannot fail on an owned connection.
        let _ = self.conn.progress_handler(0, None::<fn() -> bool>);
        let at = key(self.conn);
        ACTIVE.with_borrow_mut(|active| {
            if let Some(index) = active.iter().rposition(|(address, _)| *address == at) {
                active.swap_remove(index);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_sees_the_flag_of_its_connection_only_while_armed() {
        let conn = Connection::open_in_memory().unwrap();
        let other = Connection::open_in_memory().unwrap();
        let flag = QueryCancel::new();
        assert!(check(&conn).is_ok(), "a connection that is not armed");
        let armed = Armed::new(&conn, &flag).unwrap();
        assert!(check(&conn).is_ok(), "not cancelled yet");
        flag.cancel();
        assert!(matches!(check(&conn), Err(StoreError::Cancelled)));
        assert!(check(&other).is_ok(), "another connection is not affected");
        drop(armed);
        assert!(check(&conn).is_ok(), "disarmed");
    }

    #[test]
    fn a_set_flag_interrupts_a_running_statement() {
        let conn = Connection::open_in_memory().unwrap();
        let flag = QueryCancel::new();
        flag.cancel();
        let armed = Armed::new(&conn, &flag).unwrap();
        let err = conn
            .query_row(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000000) \
                 SELECT count(*) FROM n",
                [],
                |row| row.get::<_, i64>(0),
            )
            .map_err(StoreError::from)
            .unwrap_err();
        assert!(matches!(err, StoreError::Cancelled), "{err}");
        drop(armed);
        let count: i64 = conn
            .query_row(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000) \
                 SELECT count(*) FROM n",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(count, 100_000, "the handler is gone once disarmed");
    }
}
