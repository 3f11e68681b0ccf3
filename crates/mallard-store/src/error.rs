//! The error type of the storage layer.

use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong when opening, writing or reading the database.
///
/// The variants that a person can act on (a lock held by another instance, a
/// database from a newer version, a corrupt file, a full disk) carry a message
/// that says what to do.
#[derive(Debug, Error)]
pub enum StoreError {
    /// Another Mallard process holds the data directory.
    #[error(
        "the data directory {0} is in use by another Mallard Metrics process; \
         stop that process first, or start this one with another --data-dir"
    )]
    Locked(PathBuf),
    /// The database was written by a newer version of Mallard Metrics.
    #[error(
        "the database {path} has schema version {found}, newer than the {supported} this \
         version understands; upgrade Mallard Metrics (the file was left untouched)"
    )]
    NewerSchema {
        /// The database file.
        path: PathBuf,
        /// The schema version found in the file.
        found: i64,
        /// The newest schema version this build knows.
        supported: i64,
    },
    /// The database file is not a readable SQLite database.
    #[error(
        "the database {path} is corrupt or not a Mallard Metrics database ({detail}); \
         it was left untouched: restore it from a backup or move it away to start afresh"
    )]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What SQLite reported.
        detail: String,
    },
    /// The disk is full; nothing of the failed batch was written.
    #[error("the disk holding the database is full; free some space (nothing was written)")]
    DiskFull,
    /// The writer thread has stopped, so nothing more can be written.
    #[error("the database writer has stopped")]
    WriterStopped,
    /// A file-system operation on the data directory failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A backup could not be written, or a file is not a usable backup.
    #[error("{0}")]
    Backup(String),
    /// A schema migration failed.
    #[error("database migration failed: {0}")]
    Migration(String),
    /// The transaction holding this write failed and was rolled back.
    #[error(transparent)]
    Write(#[from] WriteFailure),
    /// Stored data (a rollup, a visitor sketch) has an unexpected shape.
    #[error("unexpected stored data: {0}")]
    InvalidData(String),
    /// A day segment of a site fails its checksum or cannot be decoded.
    #[error(
        "the stored day segment of site {site_id} for {date} (UTC) is damaged: it fails its \
         checksum or cannot be decoded; `mallard check` lists the damaged segments and \
         `mallard check --repair` (with the server stopped) deletes them: the visits of a \
         damaged day cannot be read back (restore the file from a backup if they matter)",
        date = utc_date(*day)
    )]
    DamagedSegment {
        /// The site's id.
        site_id: i64,
        /// The UTC day (days since 1970-01-01).
        day: i64,
    },
    /// The read was cancelled (its [`crate::cancel::QueryCancel`] was set):
    /// nobody waits for its answer any more.
    #[error("the query was cancelled")]
    Cancelled,
    /// Any other SQLite error.
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        match err.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DiskFull) => StoreError::DiskFull,
            // Only the progress handler of a cancellable read interrupts a
            // statement of a `StoreError` path (see `cancel.rs`).
            Some(rusqlite::ErrorCode::OperationInterrupted) => StoreError::Cancelled,
            _ => StoreError::Sqlite(err),
        }
    }
}

impl StoreError {
    /// Builds an [`StoreError::Io`] with a description of what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        StoreError::Io {
            context: context.into(),
            source,
        }
    }
}

/// The date `YYYY-MM-DD` of a UTC day number (days since 1970-01-01).
pub fn utc_date(day: i64) -> String {
    // Howard Hinnant's civil-from-days algorithm.
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// A cheap, cloneable summary of a write failure, handed to every submitter of a
/// failed batch.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WriteFailure {
    /// The disk is full.
    #[error("the disk holding the database is full")]
    DiskFull,
    /// The writer has stopped (the server is shutting down).
    #[error("the database writer has stopped")]
    Stopped,
    /// The database refused the write for another reason.
    #[error("the database could not store the events: {0}")]
    Database(String),
    /// The file or the disk refused the write (read-only, I/O error, locked),
    /// or a batch rolled back and the writer could not load its state again
    /// from the committed rows, so nothing is written until it can. Nothing
    /// of the failed write was kept; retrying later is the answer.
    #[error("the database cannot be written right now: {0}")]
    Unavailable(String),
}

impl From<&StoreError> for WriteFailure {
    fn from(err: &StoreError) -> Self {
        match err {
            StoreError::DiskFull => WriteFailure::DiskFull,
            StoreError::WriterStopped => WriteFailure::Stopped,
            StoreError::Write(failure) => failure.clone(),
            // The file or the disk refused the write (read-only, I/O error,
            // locked): nothing was written and a later retry may succeed.
            StoreError::Sqlite(err)
                if matches!(
                    err.sqlite_error_code(),
                    Some(
                        rusqlite::ErrorCode::ReadOnly
                            | rusqlite::ErrorCode::SystemIoFailure
                            | rusqlite::ErrorCode::CannotOpen
                            | rusqlite::ErrorCode::DatabaseBusy
                            | rusqlite::ErrorCode::DatabaseLocked
                    )
                ) =>
            {
                WriteFailure::Unavailable(err.to_string())
            }
            other => WriteFailure::Database(other.to_string()),
        }
    }
}
