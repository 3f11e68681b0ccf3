//! The read-only check behind `mallard check`.
//!
//! It takes the data directory lock (so no server writes while it reads, and
//! rollups are not half-way in a writer's memory), opens the database with
//! `SQLITE_OPEN_READ_ONLY` so that nothing it does can change the file, runs
//! SQLite's integrity check and, on an intact file, compares the rollups with
//! a recomputation from the stored rows ([`crate::rollup_check`]), decodes
//! every day segment, verifying its checksums, counts the stored goal
//! days again ([`crate::goal_days::differences`]) and adds each rollup span
//! up again from its days ([`crate::rollup_spans::differences`]), and every
//! day's derived parts (its code index, its entry events) against the parts
//! they come from ([`crate::derived_parts::differences`]).

use std::path::Path;

use rusqlite::{Connection, ErrorCode, OpenFlags};

use crate::error::StoreError;
use crate::lock::DataDirLock;
use crate::rollup_check::{RollupComparison, rollup_differences};

/// What [`check_database`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DatabaseCheck {
    /// The lines of SQLite's integrity check other than "ok"; empty when the
    /// file is intact.
    pub integrity_problems: Vec<String>,
    /// The rollups compared with their recomputation (not run on a damaged
    /// file).
    pub rollups: RollupComparison,
    /// The domains of every site, sorted.
    pub sites: Vec<String>,
    /// The day segments that fail a checksum or do not decode, as
    /// `(site id, UTC day)`; not run on a damaged file.
    pub damaged_segments: Vec<(i64, i64)>,
    /// The goal days that differ from a recount of the stored events
    /// ([`crate::goal_days::differences`]); not run on a damaged file.
    pub goal_days: Vec<String>,
    /// The rollup spans that differ from their days added up again
    /// ([`crate::rollup_spans::differences`]); not run on a damaged file.
    pub rollup_spans: Vec<String>,
    /// The day segments' derived parts (code indexes, entry events) that
    /// differ from the parts they come from or fail their checksums
    /// ([`crate::derived_parts::differences`]); not run on a damaged file.
    pub derived_parts: Vec<String>,
}

/// Checks the database in `data_dir` without writing to it. Refused with
/// [`StoreError::Locked`] while a server holds the directory.
pub fn check_database(data_dir: &Path) -> Result<DatabaseCheck, StoreError> {
    let path = data_dir.join(crate::DATABASE_FILE);
    if !path.is_file() {
        return Err(StoreError::io(
            format!("there is no database at {}", path.display()),
            std::io::Error::from(std::io::ErrorKind::NotFound),
        ));
    }
    let _lock = DataDirLock::acquire(data_dir)?;
    let conn = open_locked_read_only(&path)?;
    let corrupt = |err: StoreError| match err {
        StoreError::Sqlite(inner)
            if matches!(
                inner.sqlite_error_code(),
                Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt)
            ) =>
        {
            StoreError::Corrupt {
                path: path.clone(),
                detail: inner.to_string(),
            }
        }
        other => other,
    };
    let integrity_problems = integrity_problems(&conn).map_err(corrupt)?;
    if !integrity_problems.is_empty() {
        return Ok(DatabaseCheck {
            integrity_problems,
            ..DatabaseCheck::default()
        });
    }
    let sites = conn
        .prepare("SELECT domain FROM main.sites ORDER BY domain")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let rollups = rollup_differences(&conn).map_err(corrupt)?;
    let damaged_segments = crate::segment_fold::damaged_segments(&conn).map_err(corrupt)?;
    let goal_days = crate::goal_days::differences(&conn).map_err(corrupt)?;
    let rollup_spans = crate::rollup_spans::differences(&conn).map_err(corrupt)?;
    let derived_parts = crate::derived_parts::differences(&conn).map_err(corrupt)?;
    Ok(DatabaseCheck {
        integrity_problems,
        rollups,
        sites,
        damaged_segments,
        goal_days,
        rollup_spans,
        derived_parts,
    })
}

/// Opens `path` read-only, while a writer may be running: SQLite then never
/// writes the database file or its WAL (a read-only connection does not
/// checkpoint). Scratch tables live in memory.
pub fn open_read_only(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.execute_batch("PRAGMA busy_timeout = 5000; PRAGMA temp_store = MEMORY;")?;
    Ok(conn)
}

/// Opens `path` read-only for a caller that holds the data directory lock.
/// Without a WAL file (a clean stop) it is opened `immutable`: a plain
/// read-only connection to a WAL database would create empty `-wal` and
/// `-shm` files, and nobody else can write while the lock is held. With a
/// WAL file (after a crash) its committed pages must be read, so the file is
/// opened read-only as usual; the database file and the WAL stay untouched.
fn open_locked_read_only(path: &Path) -> Result<Connection, StoreError> {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    if Path::new(&wal).exists() {
        return open_read_only(path);
    }
    let conn = Connection::open_with_flags(
        immutable_uri(path),
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.execute_batch("PRAGMA temp_store = MEMORY;")?;
    Ok(conn)
}

/// A `file:` URI of `path` that opens it read-only and immutable.
fn immutable_uri(path: &Path) -> String {
    let mut uri = String::from("file:");
    for c in path.to_string_lossy().chars() {
        match c {
            '%' => uri.push_str("%25"),
            '?' => uri.push_str("%3f"),
            '#' => uri.push_str("%23"),
            other => uri.push(other),
        }
    }
    uri.push_str("?mode=ro&immutable=1");
    uri
}

fn integrity_problems(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare("PRAGMA integrity_check")?;
    let lines: Vec<String> = stmt
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(lines.into_iter().filter(|line| line != "ok").collect())
}
