//! Owner-only permissions for the data directory and the files in it.
//!
//! The database holds every event and the day's visitor-id salt, so on Unix the
//! data directory is made `0700` and every file Mallard keeps in it `0600`,
//! whatever the umask, and an install created before this rule is fixed at the
//! next open. Elsewhere the platform's defaults stay.

use std::path::Path;

use crate::error::StoreError;

/// The permissions of the data directory: only its owner may list or enter it.
#[cfg(unix)]
const DIRECTORY_MODE: u32 = 0o700;

/// The permissions of the files in the data directory: owner read and write.
#[cfg(unix)]
pub(crate) const FILE_MODE: u32 = 0o600;

/// Makes `dir` accessible to its owner only.
pub(crate) fn restrict_directory(dir: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    set_mode(dir, DIRECTORY_MODE)?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Makes the file at `path` readable and writable by its owner only, when it
/// exists.
pub(crate) fn restrict_file(path: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    if path.exists() {
        set_mode(path, FILE_MODE)?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Makes the database file and its `-wal` and `-shm` companions private.
/// SQLite gives the companions it creates later the database file's mode.
pub(crate) fn restrict_database(path: &Path) -> Result<(), StoreError> {
    restrict_file(path)?;
    for suffix in ["-wal", "-shm"] {
        let mut companion = path.as_os_str().to_owned();
        companion.push(suffix);
        restrict_file(Path::new(&companion))?;
    }
    Ok(())
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt;
    let current = std::fs::metadata(path)
        .map_err(|e| {
            StoreError::io(
                format!("cannot read the permissions of {}", path.display()),
                e,
            )
        })?
        .permissions()
        .mode()
        & 0o777;
    if current == mode {
        return Ok(());
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|e| {
        StoreError::io(
            format!(
                "cannot make {} private to its owner (mode {mode:o})",
                path.display()
            ),
            e,
        )
    })
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn an_open_install_is_made_private() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
        let db = data.join("mallard.db");
        for file in ["mallard.db", "mallard.db-wal", "mallard.db-shm"] {
            let path = data.join(file);
            std::fs::write(&path, b"x").unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        restrict_directory(&data).unwrap();
        restrict_database(&db).unwrap();
        assert_eq!(mode(&data), 0o700);
        for file in ["mallard.db", "mallard.db-wal", "mallard.db-shm"] {
            assert_eq!(mode(&data.join(file)), 0o600, "{file}");
        }
    }

    #[test]
    fn missing_companions_are_not_created() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("mallard.db");
        restrict_database(&db).unwrap();
        assert!(!db.exists());
        assert!(!dir.path().join("mallard.db-wal").exists());
    }
}
