//! Backups of the running server's database: taken on demand (`POST
//! /api/backups`, `mallard backup`, the window's File → Back Up Now…) and
//! automatically every `backup_every` into `backup_dir` (default `backups/`
//! in the data directory), keeping the newest `backup_keep`.
//!
//! A backup is `mallard_store::backup::backup`: one consistent snapshot read
//! beside the writer, checked before it is put in place. One backup runs at
//! a time; the outcome of the latest (time, file, size, or the error) is
//! kept for the dashboard, which shows a banner when it failed.

mod files;
mod schedule;

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use files::{BackupFile, backup_files, prune};
pub use schedule::run as run_schedule;

use crate::error::ApiError;
use crate::state::AppState;

/// How many automatic backups are kept by default.
pub const DEFAULT_BACKUP_KEEP: u32 = 7;
/// How often, in seconds, the schedule looks whether a backup is due.
pub const DEFAULT_BACKUP_CHECK_SECS: u64 = 60;
/// The most automatic backups that may be kept.
pub const MAX_BACKUP_KEEP: u32 = 1000;

/// How often an automatic backup is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackupEvery {
    /// Never: only backups asked for.
    Off,
    /// Every hour.
    Hourly,
    /// Every day (the default).
    Daily,
    /// Every week.
    Weekly,
}

impl BackupEvery {
    /// The name used in settings and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Hourly => "hourly",
            Self::Daily => "daily",
            Self::Weekly => "weekly",
        }
    }

    /// The time between two automatic backups; `None` when off.
    pub fn interval_ms(self) -> Option<i64> {
        const HOUR: i64 = 60 * 60 * 1000;
        match self {
            Self::Off => None,
            Self::Hourly => Some(HOUR),
            Self::Daily => Some(24 * HOUR),
            Self::Weekly => Some(7 * 24 * HOUR),
        }
    }
}

impl FromStr for BackupEvery {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "off" => Ok(Self::Off),
            "hourly" => Ok(Self::Hourly),
            "daily" => Ok(Self::Daily),
            "weekly" => Ok(Self::Weekly),
            other => Err(format!(
                "expected \"off\", \"hourly\", \"daily\" or \"weekly\", got {other:?}"
            )),
        }
    }
}

/// A backup that was taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct BackupRecord {
    /// The file, an absolute path.
    #[schema(value_type = String)]
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// When it was taken (RFC 3339).
    pub created_at: String,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
}

/// The outcome of the latest backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct LastBackup {
    /// When it was attempted (RFC 3339).
    pub at: String,
    /// Whether it was an automatic one.
    pub automatic: bool,
    /// The backup, when it succeeded.
    pub backup: Option<BackupRecord>,
    /// Why it failed, when it did.
    pub error: Option<String>,
}

/// Where a backup goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A new file in the backup directory (then the oldest beyond
    /// `backup_keep` are deleted).
    Directory,
    /// The file named (by a client on this machine).
    File(PathBuf),
}

/// The backups of one server: one at a time, and the latest outcome.
#[derive(Debug, Default)]
pub struct Backups {
    running: tokio::sync::Mutex<()>,
    last: Mutex<Option<LastBackup>>,
}

impl Backups {
    /// The outcome of the latest backup of this server run.
    pub fn last(&self) -> Option<LastBackup> {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Whether a backup is running now.
    pub fn is_running(&self) -> bool {
        self.running.try_lock().is_err()
    }

    /// Takes a backup to `target`; `automatic` says whether the schedule
    /// asked for it. A second backup while one runs is refused (409).
    pub async fn take(
        &self,
        state: &AppState,
        target: Target,
        automatic: bool,
    ) -> Result<BackupRecord, ApiError> {
        let Ok(_one_at_a_time) = self.running.try_lock() else {
            return Err(ApiError::Conflict("A backup is already running".into()));
        };
        let data_dir = state.config.data_dir.clone();
        let dir = backup_dir(state);
        let keep = state.settings.get().backup_keep;
        let started_ms = crate::clock::now_ms();
        let destination = match &target {
            Target::Directory => dir.join(files::file_name(started_ms)),
            Target::File(path) => path.clone(),
        };
        let outcome = tokio::task::spawn_blocking(move || {
            let report = mallard_store::backup::backup(&data_dir, &destination)?;
            if target == Target::Directory
                && let Err(err) = prune(&dir, keep as usize)
            {
                tracing::warn!(error = %err, "cannot delete old backups");
            }
            Ok::<_, mallard_store::StoreError>(report)
        })
        .await
        .map_err(|_| ApiError::Internal)?;
        let recorded = outcome.map(|report| BackupRecord {
            path: report.path,
            bytes: report.bytes,
            created_at: crate::clock::rfc3339(started_ms),
            duration_ms: report.millis,
        });
        let last = LastBackup {
            at: crate::clock::rfc3339(started_ms),
            automatic,
            backup: recorded.as_ref().ok().cloned(),
            error: recorded.as_ref().err().map(ToString::to_string),
        };
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(last);
        match recorded {
            Ok(record) => {
                tracing::info!(
                    path = %record.path.display(),
                    bytes = record.bytes,
                    ms = record.duration_ms,
                    automatic,
                    "backup taken"
                );
                metrics::counter!("mallard_backups_total", "outcome" => "ok").increment(1);
                Ok(record)
            }
            Err(err) => {
                tracing::error!(error = %err, automatic, "backup failed");
                metrics::counter!("mallard_backups_total", "outcome" => "failed").increment(1);
                Err(ApiError::Unavailable(format!("The backup failed: {err}")))
            }
        }
    }
}

/// The backup directory in force.
pub fn backup_dir(state: &AppState) -> PathBuf {
    state
        .settings
        .get()
        .backup_dir
        .clone()
        .unwrap_or_else(|| state.config.data_dir.join("backups"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_parse_and_name_themselves() {
        for every in [
            BackupEvery::Off,
            BackupEvery::Hourly,
            BackupEvery::Daily,
            BackupEvery::Weekly,
        ] {
            assert_eq!(every.as_str().parse::<BackupEvery>(), Ok(every));
        }
        assert!("monthly".parse::<BackupEvery>().is_err());
        assert_eq!(BackupEvery::Off.interval_ms(), None);
        assert_eq!(BackupEvery::Daily.interval_ms(), Some(86_400_000));
    }
}
