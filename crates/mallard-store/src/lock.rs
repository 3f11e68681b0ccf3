//! The exclusive lock on a data directory.
//!
//! Two processes must never share one database: each would keep its own visit
//! state and writer. The lock is an OS advisory lock on `mallard.lock`, which the
//! OS releases when the process dies, so a `kill -9` never leaves a stale lock.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use crate::error::StoreError;

/// The name of the lock file inside the data directory.
pub const LOCK_FILE: &str = "mallard.lock";

/// Holds the exclusive lock on a data directory until dropped.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
    dir: PathBuf,
}

impl DataDirLock {
    /// Takes the lock on `dir`, creating the directory and the lock file if needed.
    /// On Unix the directory is made `0700` and the lock file `0600`.
    pub fn acquire(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::io(format!("cannot create data directory {}", dir.display()), e)
        })?;
        crate::private_files::restrict_directory(dir)?;
        let path = dir.join(LOCK_FILE);
        let mut options = OpenOptions::new();
        options.create(true).truncate(false).write(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(crate::private_files::FILE_MODE);
        }
        let file = options
            .open(&path)
            .map_err(|e| StoreError::io(format!("cannot open lock file {}", path.display()), e))?;
        crate::private_files::restrict_file(&path)?;
        match file.try_lock() {
            Ok(()) => Ok(Self {
                _file: file,
                dir: dir.to_owned(),
            }),
            Err(TryLockError::WouldBlock) => Err(StoreError::Locked(dir.to_owned())),
            Err(TryLockError::Error(e)) => {
                Err(StoreError::io(format!("cannot lock {}", path.display()), e))
            }
        }
    }

    /// The locked directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_directory_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataDirLock::acquire(dir.path()).unwrap();
        assert!(matches!(
            DataDirLock::acquire(dir.path()),
            Err(StoreError::Locked(_))
        ));
        drop(first);
        assert!(DataDirLock::acquire(dir.path()).is_ok());
    }
}
