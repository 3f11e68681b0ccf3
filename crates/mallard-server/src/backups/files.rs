//! The files of the backup directory: how automatic backups are named
//! (`mallard-YYYYMMDD-HHMMSS.db`, UTC, so names sort by time), listed and
//! pruned to the newest `backup_keep`.

use std::path::Path;

use serde::Serialize;
use utoipa::ToSchema;

/// The name of an automatic backup taken at `ms`.
pub(super) fn file_name(ms: i64) -> String {
    let stamp = crate::clock::rfc3339(ms);
    // 2026-12-05T18:30:12.345Z -> 20261205-183012
    let digits: String = stamp
        .chars()
        .take(19)
        .filter(char::is_ascii_digit)
        .collect();
    let (date, time) = digits.split_at(digits.len().min(8));
    format!("mallard-{date}-{time}.db")
}

/// Whether `name` is an automatic backup's.
fn is_backup_name(name: &str) -> bool {
    name.strip_prefix("mallard-")
        .and_then(|rest| rest.strip_suffix(".db"))
        .is_some_and(|stamp| {
            stamp.len() == 15
                && stamp.bytes().enumerate().all(|(i, b)| {
                    if i == 8 {
                        b == b'-'
                    } else {
                        b.is_ascii_digit()
                    }
                })
        })
}

/// One backup in the backup directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct BackupFile {
    /// The file's name.
    pub name: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// When it was written (RFC 3339, from the file's time).
    pub modified_at: String,
    /// Milliseconds since the epoch of the same.
    #[serde(skip)]
    pub modified_ms: i64,
}

/// The automatic backups in `dir`, newest first; none when it does not exist.
pub fn backup_files(dir: &Path) -> std::io::Result<Vec<BackupFile>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !is_backup_name(&name) {
            continue;
        }
        let meta = entry.metadata()?;
        if !meta.is_file() {
            continue;
        }
        let modified_ms = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .and_then(|d| i64::try_from(d.as_millis()).ok())
            .unwrap_or(0);
        files.push(BackupFile {
            name,
            bytes: meta.len(),
            modified_at: crate::clock::rfc3339(modified_ms),
            modified_ms,
        });
    }
    files.sort_by(|a, b| b.name.cmp(&a.name));
    Ok(files)
}

/// Deletes the automatic backups of `dir` beyond the newest `keep`.
pub fn prune(dir: &Path, keep: usize) -> std::io::Result<usize> {
    let files = backup_files(dir)?;
    let mut deleted = 0;
    for old in files.iter().skip(keep.max(1)) {
        std::fs::remove_file(dir.join(&old.name))?;
        deleted += 1;
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_by_time_and_only_they_are_pruned() {
        let name = file_name(1_733_423_412_345);
        assert_eq!(name, "mallard-20241205-183012.db");
        assert!(is_backup_name(&name));
        for other in [
            "mallard.db",
            "mallard-2024.db",
            "notes.txt",
            "mallard-20241205-183012.db.partial",
        ] {
            assert!(!is_backup_name(other), "{other}");
        }
        let dir = tempfile::tempdir().unwrap();
        for ms in [1_733_000_000_000_i64, 1_733_100_000_000, 1_733_200_000_000] {
            std::fs::write(dir.path().join(file_name(ms)), b"x").unwrap();
        }
        std::fs::write(dir.path().join("keep-me.db"), b"x").unwrap();
        assert_eq!(prune(dir.path(), 2).unwrap(), 1);
        let left: Vec<String> = backup_files(dir.path())
            .unwrap()
            .into_iter()
            .map(|f| f.name)
            .collect();
        assert_eq!(
            left,
            [file_name(1_733_200_000_000), file_name(1_733_100_000_000)]
        );
        assert!(dir.path().join("keep-me.db").exists());
        assert!(
            backup_files(&dir.path().join("missing"))
                .unwrap()
                .is_empty()
        );
    }
}
