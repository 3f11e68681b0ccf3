//! Opening, checking, migrating and closing the database.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::config::DbConfig;
use rusqlite::{Connection, ErrorCode, OpenFlags};

use crate::error::StoreError;
use crate::insert::WriterState;
use crate::lock::DataDirLock;
use crate::reader::ReadPool;
use crate::schema::{self, SCHEMA_VERSION};
use crate::visitor_salts::{self, VisitorSalts};
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
    visitor_salts: Arc<VisitorSalts>,
    _lock: DataDirLock,
}

impl Store {
    /// Opens (creating if needed) the database in `data_dir`, takes the data
    /// directory lock, migrates the schema and starts the writer.
    ///
    /// A database from a newer version, a file that is not a readable SQLite
    /// database, one whose pages are damaged, and an empty file in a data
    /// directory that was in use before are refused and left exactly as they
    /// were. On Unix the directory is made `0700` and its files `0600`.
    pub fn open(data_dir: &Path, options: StoreOptions) -> Result<Self, StoreError> {
        let new_directory = is_new_data_directory(data_dir)?;
        let lock = DataDirLock::acquire(data_dir)?;
        let path = data_dir.join(crate::DATABASE_FILE);
        refuse_empty_file(&path, new_directory)?;
        let mut conn = open_checked(&path)?;
        crate::private_files::restrict_database(&path)?;
        let synchronous = match options.durability {
            Durability::Process => "NORMAL",
            Durability::Power => "FULL",
        };
        // 8 KB pages for a new database (an existing one keeps its size): rollup
        // rows of one or two kilobytes pack with less waste (see
        // docs/benchmarks.md, disk).
        // Incremental auto-vacuum for a new database too (an existing one keeps
        // its mode): the pages a deleted site or date range frees are given
        // back to the file system a chunk at a time ([`crate::deletion`]).
        conn.execute_batch(&format!(
            "PRAGMA page_size = {PAGE_SIZE}; PRAGMA auto_vacuum = INCREMENTAL;"
        ))?;
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous}; \
             PRAGMA busy_timeout = 5000; PRAGMA cache_size = -32000; PRAGMA temp_store = MEMORY;"
        ))?;
        schema::migrations()
            .to_latest(&mut conn)
            .map_err(|e| StoreError::Migration(e.to_string()))?;
        crate::rollup_rebuild::rebuild_missing(&conn)?;
        let now = now_ms();
        visitor_salts::delete_before(&conn, mallard_core::visitor::day_number(now) - 1)?;
        // Nothing reads yet: copy the WAL into the file and empty it, so rows
        // deleted above (old salts, the old permanent secret) leave no copy in it.
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        let salts = visitor_salts::load(&conn)?;
        let state = WriterState::load(&conn, now)?;
        let (writer, thread) = writer::spawn(conn, state, options.writer)?;
        Ok(Self {
            reads: Arc::new(ReadPool::new(&path)),
            path,
            visitor_salts: Arc::new(VisitorSalts::new(writer.clone(), salts)),
            writer,
            writer_thread: Some(thread),
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

    /// The daily salts that key visitor ids.
    pub fn visitor_salts(&self) -> Arc<VisitorSalts> {
        Arc::clone(&self.visitor_salts)
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

    /// Closes like [`Store::close`], then rewrites the file without its free
    /// pages (`VACUUM`) while the data directory is still locked, and returns
    /// the file's size before and after, in bytes. Packing closed days frees
    /// the pages of their rows, which a running app fills again with new rows;
    /// a database written in one go (`mallard seed`) has them all at the end.
    pub fn close_compacted(mut self) -> Result<(u64, u64), StoreError> {
        self.stop_writer();
        let conn = Connection::open(&self.path)?;
        conn.execute_batch("PRAGMA busy_timeout = 5000;")?;
        let size = |conn: &Connection| -> Result<u64, StoreError> {
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            let bytes = std::fs::metadata(&self.path)
                .map_err(|e| StoreError::io("cannot read the database file's size", e))?
                .len();
            Ok(bytes)
        };
        let before = size(&conn)?;
        conn.execute_batch("VACUUM;")?;
        let after = size(&conn)?;
        Ok((before, after))
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
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let wal_existed = Path::new(&wal).exists();
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
    )?;
    // Closing the last connection copies the WAL into the file: a refused file
    // must keep its WAL as it is. (Without a WAL, the one reading creates stays
    // empty and is deleted at close.)
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, wal_existed)?;
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
    let file_bytes = std::fs::metadata(path).map_or(0, |meta| meta.len());
    check_pages(&conn, file_bytes, FULL_CHECK_MAX_BYTES).map_err(|err| match err {
        CheckError::Damaged(detail) => corrupt(detail),
        CheckError::Sqlite(err) => StoreError::from(err),
    })?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, false)?;
    Ok(conn)
}

/// Files up to this size get SQLite's full `PRAGMA quick_check` at open.
const FULL_CHECK_MAX_BYTES: u64 = 32 << 20;

/// How long the walk of a larger file's b-trees may take at open. The walk
/// covers about 700 MB of b-tree pages a second, so a 10-million-event file
/// (812 MiB) would need over a second: the budget keeps the desktop window's
/// time to data on such a file within its 2 s target (median 1.54 s before the
/// check; docs/benchmarks.md), at the price of walking only its first trees.
const WALK_BUDGET: Duration = Duration::from_millis(250);

/// Why a check refused a file.
enum CheckError {
    /// The file is damaged; what SQLite found.
    Damaged(String),
    /// SQLite could not run the check.
    Sqlite(rusqlite::Error),
}

impl From<rusqlite::Error> for CheckError {
    fn from(err: rusqlite::Error) -> Self {
        match err.sqlite_error_code() {
            Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
                CheckError::Damaged(err.to_string())
            }
            _ => CheckError::Sqlite(err),
        }
    }
}

/// Checks the pages of a file of `file_bytes` without writing: the full
/// `PRAGMA quick_check` up to `full_check_max` bytes, else a walk of every
/// b-tree: on 84 MB (a million events) `quick_check` takes 0.94 s and the
/// walk 0.11 s (docs/benchmarks.md, "Start-up check of the database").
fn check_pages(conn: &Connection, file_bytes: u64, full_check_max: u64) -> Result<(), CheckError> {
    if file_bytes <= full_check_max {
        quick_check(conn)
    } else {
        walk_btrees(conn, WALK_BUDGET)
    }
}

/// Runs `PRAGMA quick_check`, which reads every page (overflow chains and
/// free list included), checks the structure of every table and index and the
/// rows' NOT NULL constraints, but not that indexes match their tables.
fn quick_check(conn: &Connection) -> Result<(), CheckError> {
    let first: String = conn.query_row("PRAGMA quick_check(1)", [], |row| row.get(0))?;
    if first == "ok" {
        Ok(())
    } else {
        Err(CheckError::Damaged(format!("quick_check: {first}")))
    }
}

/// Counts the entries of every table and index with `cell_size_check` on,
/// which loads and checks the header and cell layout of every b-tree page: a
/// damaged data or index page fails the count. Cell contents and overflow
/// pages are not read. A walk that exceeds `budget` stops there (logged).
fn walk_btrees(conn: &Connection, budget: Duration) -> Result<(), CheckError> {
    let trees: Vec<(String, String, String)> = conn
        .prepare(
            "SELECT type, name, tbl_name FROM sqlite_schema \
             WHERE rootpage > 0 AND type IN ('table', 'index') ORDER BY rootpage",
        )?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
        .collect::<Result<_, _>>()?;
    conn.pragma_update(None, "cell_size_check", true)?;
    let interrupt = conn.get_interrupt_handle();
    let (finished, finish) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if finish.recv_timeout(budget) == Err(std::sync::mpsc::RecvTimeoutError::Timeout) {
            interrupt.interrupt();
        }
    });
    let quote = |name: &str| format!("\"{}\"", name.replace('"', "\"\""));
    let mut outcome = Ok(());
    for (walked, (kind, name, table)) in trees.iter().enumerate() {
        let sql = if kind == "index" {
            format!(
                "SELECT count(*) FROM {} INDEXED BY {}",
                quote(table),
                quote(name)
            )
        } else {
            format!("SELECT count(*) FROM {} NOT INDEXED", quote(table))
        };
        match conn.query_row(&sql, [], |_| Ok(())) {
            Ok(()) => {}
            Err(err) if err.sqlite_error_code() == Some(ErrorCode::OperationInterrupted) => {
                tracing::info!(
                    walked,
                    total = trees.len(),
                    "the start-up check of the database pages reached its time budget"
                );
                break;
            }
            Err(err) => {
                outcome = Err(CheckError::from(err));
                break;
            }
        }
    }
    drop(finished);
    let _ = watchdog.join();
    conn.pragma_update(None, "cell_size_check", false)?;
    outcome
}

/// Whether `dir` is a new data directory: it does not exist yet, or holds
/// nothing but, at most, an empty database file. Every open takes the lock in
/// `mallard.lock` before it creates the database, so a directory without any
/// other file never held a Mallard database.
fn is_new_data_directory(dir: &Path) -> Result<bool, StoreError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(true),
        Err(err) => {
            return Err(StoreError::io(
                format!("cannot list data directory {}", dir.display()),
                err,
            ));
        }
    };
    for entry in entries {
        let entry = entry.map_err(|e| {
            StoreError::io(format!("cannot list data directory {}", dir.display()), e)
        })?;
        let empty_database = entry.file_name() == crate::DATABASE_FILE
            && entry.metadata().is_ok_and(|m| m.is_file() && m.len() == 0);
        if !empty_database {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Refuses an empty database file in a data directory that was in use before:
/// a file that lost its contents must not silently start afresh. In a new
/// directory an empty file (made by hand, or by SQLite an instant before a
/// crash of the first start) becomes a new database.
fn refuse_empty_file(path: &Path, new_directory: bool) -> Result<(), StoreError> {
    if new_directory {
        return Ok(());
    }
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() && meta.len() == 0 => Err(StoreError::Corrupt {
            path: path.to_owned(),
            detail: "the file is empty (0 bytes), in a data directory that was in use before"
                .into(),
        }),
        _ => Ok(()),
    }
}

/// The current time in milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Opens and closes a store in `dir`, then adds a table of about 1 MB of
    /// random rows behind the store's back, so the file has many data pages.
    fn database_with_data(dir: &Path) -> PathBuf {
        Store::open(dir, StoreOptions::default()).unwrap().close();
        let path = dir.join(crate::DATABASE_FILE);
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE filler (x BLOB); \
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) \
             INSERT INTO filler SELECT randomblob(500) FROM n;",
        )
        .unwrap();
        drop(conn);
        path
    }

    fn companions_exist(path: &Path) -> bool {
        ["-wal", "-shm"].iter().any(|suffix| {
            let mut companion = path.as_os_str().to_owned();
            companion.push(suffix);
            Path::new(&companion).exists()
        })
    }

    #[test]
    fn damaged_data_pages_are_refused_and_the_file_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = database_with_data(dir.path());
        let mut bytes = std::fs::read(&path).unwrap();
        let page = PAGE_SIZE as usize;
        let middle = bytes.len() / 2 / page * page;
        for byte in &mut bytes[middle..middle + 2 * page] {
            *byte = 0xA7;
        }
        std::fs::write(&path, &bytes).unwrap();
        let err = Store::open(dir.path(), StoreOptions::default()).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("untouched"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
        assert!(!companions_exist(&path));
    }

    #[test]
    fn a_damaged_file_keeps_its_wal_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let path = database_with_data(dir.path());
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        // A WAL with committed frames, as a killed server leaves it.
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch("PRAGMA wal_autocheckpoint = 0; INSERT INTO filler VALUES (x'01');")
            .unwrap();
        writer
            .set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
            .unwrap();
        drop(writer);
        let wal_before = std::fs::read(Path::new(&wal)).unwrap();
        assert!(!wal_before.is_empty());
        let mut bytes = std::fs::read(&path).unwrap();
        let page = PAGE_SIZE as usize;
        let middle = bytes.len() / 2 / page * page;
        bytes[middle..middle + page].fill(0xA7);
        std::fs::write(&path, &bytes).unwrap();
        let err = Store::open(dir.path(), StoreOptions::default()).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
        assert_eq!(std::fs::read(Path::new(&wal)).unwrap(), wal_before);
    }

    #[test]
    fn the_walk_of_a_large_file_finds_damaged_data_pages() {
        let dir = tempfile::tempdir().unwrap();
        let path = database_with_data(dir.path());
        let conn = Connection::open(&path).unwrap();
        assert!(check_pages(&conn, u64::MAX, 0).is_ok(), "intact");
        drop(conn);
        let mut bytes = std::fs::read(&path).unwrap();
        let page = PAGE_SIZE as usize;
        let middle = bytes.len() / 2 / page * page;
        bytes[middle..middle + page].fill(0xA7);
        std::fs::write(&path, &bytes).unwrap();
        let conn = Connection::open(&path).unwrap();
        assert!(matches!(
            check_pages(&conn, u64::MAX, 0),
            Err(CheckError::Damaged(_))
        ));
        assert!(matches!(
            check_pages(&conn, 0, u64::MAX),
            Err(CheckError::Damaged(_))
        ));
    }

    #[test]
    fn an_intact_database_passes_the_check() {
        let dir = tempfile::tempdir().unwrap();
        database_with_data(dir.path());
        Store::open(dir.path(), StoreOptions::default())
            .unwrap()
            .close();
    }

    #[test]
    fn an_empty_file_in_a_used_directory_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = database_with_data(dir.path());
        std::fs::write(&path, b"").unwrap();
        let err = Store::open(dir.path(), StoreOptions::default()).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("empty"), "{err}");
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    }

    #[test]
    fn an_empty_file_in_a_new_directory_becomes_a_new_database() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        assert!(is_new_data_directory(&data).unwrap());
        std::fs::write(data.join(crate::DATABASE_FILE), b"").unwrap();
        assert!(is_new_data_directory(&data).unwrap());
        assert!(is_new_data_directory(&dir.path().join("absent")).unwrap());
        Store::open(&data, StoreOptions::default()).unwrap().close();
        assert!(
            std::fs::metadata(data.join(crate::DATABASE_FILE))
                .unwrap()
                .len()
                > 0
        );
        // The lock file now shows the directory was used.
        assert!(!is_new_data_directory(&data).unwrap());
    }

    #[test]
    fn the_permanent_visitor_secret_is_wiped_on_upgrade() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(crate::DATABASE_FILE);
        let secret = [0x5Au8; 32];
        {
            let mut conn = Connection::open(&path).unwrap();
            conn.execute_batch("PRAGMA journal_mode = WAL;").unwrap();
            schema::migrations().to_version(&mut conn, 9).unwrap();
            conn.execute(
                "INSERT INTO settings (key, value) VALUES ('visitor_secret', ?1)",
                [secret.as_slice()],
            )
            .unwrap();
        }
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        let left: i64 = store
            .reads()
            .with(|db| {
                Ok(db.connection().query_row(
                    "SELECT count(*) FROM settings WHERE key = 'visitor_secret'",
                    [],
                    |r| r.get(0),
                )?)
            })
            .unwrap();
        assert_eq!(left, 0);
        store.close();
        let mut files = std::fs::read(&path).unwrap();
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        files.extend(std::fs::read(Path::new(&wal)).unwrap_or_default());
        assert!(
            !files.windows(secret.len()).any(|w| w == secret),
            "the secret's bytes are still in the files"
        );
    }

    #[test]
    fn salts_older_than_yesterday_are_deleted_at_open() {
        let dir = tempfile::tempdir().unwrap();
        Store::open(dir.path(), StoreOptions::default())
            .unwrap()
            .close();
        let today = mallard_core::visitor::day_number(now_ms());
        {
            let conn = Connection::open(dir.path().join(crate::DATABASE_FILE)).unwrap();
            for day in [today - 5, today - 2, today - 1, today] {
                conn.execute(
                    "INSERT INTO visitor_salts (day, salt) VALUES (?1, randomblob(32))",
                    [day],
                )
                .unwrap();
            }
        }
        Store::open(dir.path(), StoreOptions::default())
            .unwrap()
            .close();
        let conn = Connection::open(dir.path().join(crate::DATABASE_FILE)).unwrap();
        let days: Vec<i64> = visitor_salts::load(&conn)
            .unwrap()
            .into_iter()
            .map(|(d, _)| d)
            .collect();
        assert_eq!(days, vec![today - 1, today]);
    }
}
