//! Backups of the database and restores from them.
//!
//! A backup is a consistent copy taken while the server runs and ingests:
//! `VACUUM INTO` on a read-only connection of its own reads one snapshot (a
//! read transaction, which in WAL mode never blocks the writer) and writes a
//! compact, self-contained file with no WAL. The copy is written beside its
//! destination under a temporary name, checked (`PRAGMA integrity_check`
//! and the schema version), synced, and only then renamed into place, so a
//! file at the destination is always a whole, checked backup.
//!
//! A restore needs the data directory to itself (its lock): the backup is
//! checked the same way, copied in beside the database, and renamed over it;
//! the database it replaces is kept, with its WAL, as
//! `mallard.db.before-restore`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rusqlite::{Connection, OpenFlags};

use crate::DATABASE_FILE;
use crate::error::StoreError;
use crate::lock::DataDirLock;
use crate::schema::SCHEMA_VERSION;

/// The name the replaced database keeps after a restore.
pub const BEFORE_RESTORE_FILE: &str = "mallard.db.before-restore";

/// A backup or a restore that was done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    /// The file written.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// How long it took, in milliseconds.
    pub millis: u64,
    /// The schema version of the copy.
    pub schema_version: i64,
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> StoreError {
    move |source| StoreError::io(context, source)
}

/// `path` with `suffix` appended to its file name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Copies the database of `data_dir` to `destination` (which must not be
/// the database itself), checked; an existing file there is replaced only
/// once the new copy has passed its check.
pub fn backup(data_dir: &Path, destination: &Path) -> Result<CopyReport, StoreError> {
    let started = Instant::now();
    let source = data_dir.join(DATABASE_FILE);
    if let (Ok(a), Ok(b)) = (source.canonicalize(), destination.canonicalize())
        && a == b
    {
        return Err(StoreError::Backup(
            "the backup cannot be written over the database itself".into(),
        ));
    }
    if let Some(parent) = destination.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(io(format!("cannot create {}", parent.display())))?;
    }
    let partial = with_suffix(destination, ".partial");
    remove_if_present(&partial)?;
    let conn = Connection::open_with_flags(
        &source,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let target = partial
        .to_str()
        .ok_or_else(|| StoreError::Backup(format!("{} is not valid UTF-8", partial.display())))?;
    let copied = conn.execute("VACUUM INTO ?1", [target]);
    drop(conn);
    if let Err(err) = copied {
        remove_if_present(&partial)?;
        return Err(StoreError::Backup(format!(
            "cannot write {}: {err}",
            partial.display()
        )));
    }
    // A backup holds what the database holds: only its owner may read it.
    crate::private_files::restrict_file(&partial)?;
    let schema_version = match check(&partial) {
        Ok(version) => version,
        Err(err) => {
            remove_if_present(&partial)?;
            return Err(err);
        }
    };
    sync_file(&partial)?;
    std::fs::rename(&partial, destination).map_err(io(format!(
        "cannot move the backup to {}",
        destination.display()
    )))?;
    if let Some(parent) = destination.parent() {
        sync_directory(parent);
    }
    Ok(CopyReport {
        path: destination.to_owned(),
        bytes: file_size(destination),
        millis: millis_since(started),
        schema_version,
    })
}

/// Checks that `path` is a whole Mallard Metrics database this build can
/// open: SQLite's integrity check passes and its schema version is known.
/// Returns the schema version.
pub fn check(path: &Path) -> Result<i64, StoreError> {
    let damaged = |detail: String| StoreError::Backup(format!("{} {detail}", path.display()));
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|err| damaged(format!("cannot be opened: {err}")))?;
    let verdict: String = conn
        .query_row("PRAGMA integrity_check(1)", [], |row| row.get(0))
        .map_err(|err| damaged(format!("is not a readable database: {err}")))?;
    if verdict != "ok" {
        return Err(damaged(format!("fails its integrity check: {verdict}")));
    }
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|err| damaged(format!("has no schema version: {err}")))?;
    let has_events: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'events')",
            [],
            |row| row.get(0),
        )
        .map_err(|err| damaged(format!("cannot be read: {err}")))?;
    if version < 1 || !has_events {
        return Err(damaged("is not a Mallard Metrics database".into()));
    }
    if version > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            path: path.to_owned(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(version)
}

/// Replaces the database of `data_dir` with the backup at `source`, after
/// checking it. Fails with [`StoreError::Locked`] while a process holds the
/// data directory. The replaced database (and its WAL) is kept as
/// [`BEFORE_RESTORE_FILE`]; a database of an older schema is migrated when
/// the store next opens it.
pub fn restore(data_dir: &Path, source: &Path) -> Result<CopyReport, StoreError> {
    let started = Instant::now();
    let _lock = DataDirLock::acquire(data_dir)?;
    let schema_version = check(source)?;
    let database = data_dir.join(DATABASE_FILE);
    let incoming = with_suffix(&database, ".restoring");
    remove_if_present(&incoming)?;
    std::fs::copy(source, &incoming).map_err(io(format!(
        "cannot copy {} into {}",
        source.display(),
        data_dir.display()
    )))?;
    crate::private_files::restrict_file(&incoming)?;
    sync_file(&incoming)?;
    if database.exists() {
        let kept = data_dir.join(BEFORE_RESTORE_FILE);
        for suffix in ["", "-wal", "-shm"] {
            remove_if_present(&with_suffix(&kept, suffix))?;
            let current = with_suffix(&database, suffix);
            if current.exists() {
                std::fs::rename(&current, with_suffix(&kept, suffix)).map_err(io(format!(
                    "cannot keep {} as {}",
                    current.display(),
                    kept.display()
                )))?;
            }
        }
    }
    std::fs::rename(&incoming, &database).map_err(io(format!(
        "cannot put the backup in {}",
        database.display()
    )))?;
    sync_directory(data_dir);
    Ok(CopyReport {
        path: database.clone(),
        bytes: file_size(&database),
        millis: millis_since(started),
        schema_version,
    })
}

fn remove_if_present(path: &Path) -> Result<(), StoreError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(StoreError::io(
            format!("cannot remove {}", path.display()),
            err,
        )),
    }
}

fn sync_file(path: &Path) -> Result<(), StoreError> {
    std::fs::File::open(path)
        .and_then(|file| file.sync_all())
        .map_err(io(format!("cannot sync {}", path.display())))
}

/// Syncs a directory so a rename in it survives a crash; best effort (not
/// every platform opens directories).
fn sync_directory(dir: &Path) {
    if let Ok(handle) = std::fs::File::open(dir) {
        let _ = handle.sync_all();
    }
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |meta| meta.len())
}

fn millis_since(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Store, StoreOptions};

    fn store_with_events(dir: &Path) {
        let store = Store::open(dir, StoreOptions::default()).unwrap();
        store
            .writer()
            .run_blocking(|conn| {
                conn.execute_batch(
                    "INSERT INTO settings (key, value) VALUES ('backup-test', 'kept')",
                )?;
                Ok(())
            })
            .unwrap();
        store.close();
    }

    fn setting(dir: &Path) -> Option<String> {
        let conn = Connection::open(dir.join(DATABASE_FILE)).unwrap();
        conn.query_row(
            "SELECT value FROM settings WHERE key = 'backup-test'",
            [],
            |row| row.get(0),
        )
        .ok()
    }

    #[test]
    fn a_backup_restores_to_the_same_database_and_keeps_the_one_it_replaced() {
        let home = tempfile::tempdir().unwrap();
        let data = home.path().join("data");
        store_with_events(&data);
        let file = home.path().join("copies").join("one.db");
        let report = backup(&data, &file).unwrap();
        assert_eq!(report.schema_version, SCHEMA_VERSION);
        assert!(report.bytes > 0 && file.exists());
        assert!(!with_suffix(&file, ".partial").exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "only the owner reads a backup");
        }

        // The database changes after the backup; the restore brings it back.
        let conn = Connection::open(data.join(DATABASE_FILE)).unwrap();
        conn.execute(
            "UPDATE settings SET value = 'changed' WHERE key = 'backup-test'",
            [],
        )
        .unwrap();
        drop(conn);
        restore(&data, &file).unwrap();
        assert_eq!(setting(&data).as_deref(), Some("kept"));
        let kept = Connection::open(data.join(BEFORE_RESTORE_FILE)).unwrap();
        let before: String = kept
            .query_row(
                "SELECT value FROM settings WHERE key = 'backup-test'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(before, "changed");
        // The store opens the restored database.
        Store::open(&data, StoreOptions::default()).unwrap().close();
    }

    #[test]
    fn damaged_foreign_and_newer_files_are_refused_and_nothing_is_replaced() {
        let home = tempfile::tempdir().unwrap();
        let data = home.path().join("data");
        store_with_events(&data);
        let junk = home.path().join("junk.db");
        std::fs::write(&junk, b"not a database at all, just some bytes").unwrap();
        assert!(matches!(restore(&data, &junk), Err(StoreError::Backup(_))));
        let foreign = home.path().join("foreign.db");
        Connection::open(&foreign)
            .unwrap()
            .execute_batch("CREATE TABLE notes (x); PRAGMA user_version = 3;")
            .unwrap();
        let err = restore(&data, &foreign).unwrap_err();
        assert!(
            err.to_string().contains("not a Mallard Metrics database"),
            "{err}"
        );
        let newer = home.path().join("newer.db");
        backup(&data, &newer).unwrap();
        Connection::open(&newer)
            .unwrap()
            .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        assert!(matches!(
            restore(&data, &newer),
            Err(StoreError::NewerSchema { .. })
        ));
        assert_eq!(
            setting(&data).as_deref(),
            Some("kept"),
            "the database is untouched"
        );
        assert!(!data.join(BEFORE_RESTORE_FILE).exists());
    }

    #[test]
    fn a_running_store_is_backed_up_but_not_restored_over() {
        let home = tempfile::tempdir().unwrap();
        let data = home.path().join("data");
        store_with_events(&data);
        let store = Store::open(&data, StoreOptions::default()).unwrap();
        let file = home.path().join("live.db");
        backup(&data, &file).unwrap();
        assert!(matches!(restore(&data, &file), Err(StoreError::Locked(_))));
        store.close();
        let err = backup(&data, &data.join(DATABASE_FILE)).unwrap_err();
        assert!(
            err.to_string().contains("over the database itself"),
            "{err}"
        );
    }
}
