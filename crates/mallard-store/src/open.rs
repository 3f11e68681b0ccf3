//! Opening, checking, migrating and closing the database.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use mallard_core::VisitorSecret;
use rusqlite::{Connection, ErrorCode, OpenFlags};

use crate::error::StoreError;
use crate::insert::WriterState;
use crate::lock::DataDirLock;
use crate::reader::ReadPool;
use crate::schema::{self, SCHEMA_VERSION};
use crate::settings;
use crate::writer::{self, WriterHandle, WriterOptions};

/// The page size of databases created by this build.
const PAGE_SIZE: u32 = 8192;

/// How far a commit must reach before an event is acknowledged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Durability {
    /// The commit is in the WAL in the OS page cache (`synchronous = NORMAL`): an
    /// acknowledged event survives a crash or `kill -9` of the process, not a
    /// power loss. The default: an order of magnitude more commits per second.
    #[default]
    Process,
    /// The commit is flushed to the disk (`synchronous = FULL`): it survives a
    /// power loss too.
    Power,
}

/// How to open the store.
#[derive(Debug, Clone, Copy, Default)]
pub struct StoreOptions {
    /// When an event counts as durable.
    pub durability: Durability,
    /// Tuning of the group-commit writer.
    pub writer: WriterOptions,
}

/// An open database: the data directory lock, the writer thread and the readers.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    writer: WriterHandle,
    writer_thread: Option<JoinHandle<()>>,
    reads: Arc<ReadPool>,
    visitor_secret: VisitorSecret,
    _lock: DataDirLock,
}

impl Store {
    /// Opens (creating if needed) the database in `data_dir`, takes the data
    /// directory lock, migrates the schema and starts the writer.
    ///
    /// A database from a newer version or a file that is not a readable SQLite
    /// database is refused and left exactly as it was.
    pub fn open(data_dir: &Path, options: StoreOptions) -> Result<Self, StoreError> {
        let lock = DataDirLock::acquire(data_dir)?;
        let path = data_dir.join(crate::DATABASE_FILE);
        let mut conn = open_checked(&path)?;
        let synchronous = match options.durability {
            Durability::Process => "NORMAL",
            Durability::Power => "FULL",
        };
        // 8 KB pages for a new database (an existing one keeps its size): rollup
        // rows of one or two kilobytes pack with less waste (see
        // docs/benchmarks.md, disk).
        conn.execute_batch(&format!("PRAGMA page_size = {PAGE_SIZE};"))?;
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous}; \
             PRAGMA busy_timeout = 5000; PRAGMA cache_size = -32000; PRAGMA temp_store = MEMORY;"
        ))?;
        schema::migrations()
            .to_latest(&mut conn)
            .map_err(|e| StoreError::Migration(e.to_string()))?;
        crate::rollup_rebuild::rebuild_missing(&conn)?;
        let visitor_secret = load_or_create_secret(&conn)?;
        let state = WriterState::load(&conn, now_ms())?;
        let (writer, thread) = writer::spawn(conn, state, options.writer)?;
        Ok(Self {
            reads: Arc::new(ReadPool::new(&path)),
            path,
            writer,
            writer_thread: Some(thread),
            visitor_secret,
            _lock: lock,
        })
    }

    /// A handle that submits writes to the writer thread.
    pub fn writer(&self) -> WriterHandle {
        self.writer.clone()
    }

    /// The pool of read-only connections.
    pub fn reads(&self) -> Arc<ReadPool> {
        Arc::clone(&self.reads)
    }

    /// The secret that keys visitor ids; generated on first open and kept in the
    /// database.
    pub fn visitor_secret(&self) -> &VisitorSecret {
        &self.visitor_secret
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Commits everything queued so far, stops the writer and closes the write
    /// connection. Writes submitted afterwards fail with "writer stopped".
    pub fn close(mut self) {
        self.stop_writer();
    }

    fn stop_writer(&mut self) {
        if let Some(thread) = self.writer_thread.take() {
            self.writer.request_shutdown();
            if thread.join().is_err() {
                tracing::error!("the database writer thread panicked");
            }
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.stop_writer();
    }
}

/// Opens the file and refuses it, untouched, when it is not a SQLite database or
/// was written by a newer schema.
fn open_checked(path: &Path) -> Result<Connection, StoreError> {
    let corrupt = |detail: String| StoreError::Corrupt {
        path: path.to_owned(),
        detail,
    };
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
    )?;
    let version: i64 = match conn.pragma_query_value(None, "user_version", |row| row.get(0)) {
        Ok(version) => version,
        Err(err) => {
            return Err(match err.sqlite_error_code() {
                Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
                    corrupt(err.to_string())
                }
                _ => StoreError::from(err),
            });
        }
    };
    if version > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            path: path.to_owned(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    if version > 0 {
        // A quick look at the schema catches files whose pages are damaged.
        conn.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))
            .map_err(|err| corrupt(err.to_string()))?;
    }
    Ok(conn)
}

fn load_or_create_secret(conn: &Connection) -> Result<VisitorSecret, StoreError> {
    if let Some(bytes) = settings::get(conn, settings::VISITOR_SECRET)?
        && let Some(secret) = VisitorSecret::from_slice(&bytes)
    {
        return Ok(secret);
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| {
        StoreError::io(
            "the OS random number generator failed",
            std::io::Error::other(e.to_string()),
        )
    })?;
    settings::set(conn, settings::VISITOR_SECRET, &bytes)?;
    Ok(VisitorSecret::from_bytes(bytes))
}

/// The current time in milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
