//! The automatic backups: every minute (`backup_check_secs`), if
//! `backup_every` is not `off` and the newest backup in the backup directory
//! is older than its interval (or there is none), take one. The directory
//! itself says when the last one was taken, so a restart keeps the rhythm.

use std::time::Duration;

use crate::state::AppState;

use super::{Target, backup_dir, backup_files};

/// Runs forever (until the runtime stops).
pub async fn run(state: AppState) {
    let every = Duration::from_secs(state.config.backup_check_secs);
    loop {
        tokio::time::sleep(every).await;
        if is_due(&state) {
            // A failure is logged and shown in the dashboard; the next check
            // tries again.
            let _ = state.backups.take(&state, Target::Directory, true).await;
        }
    }
}

/// Whether an automatic backup is due now.
fn is_due(state: &AppState) -> bool {
    let Some(interval) = state.settings.get().backup_every.interval_ms() else {
        return false;
    };
    let dir = backup_dir(state);
    let newest = match backup_files(&dir) {
        Ok(files) => files.first().map(|f| f.modified_ms),
        Err(err) => {
            tracing::warn!(error = %err, dir = %dir.display(), "cannot list the backups");
            None
        }
    };
    // After a failed attempt, wait a whole check before the next one (it is
    // retried then), not a whole interval.
    newest.is_none_or(|at| crate::clock::now_ms() - at >= interval)
}
