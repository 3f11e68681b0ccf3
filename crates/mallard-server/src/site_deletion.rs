//! Deleting sites and date ranges of a site's data, for `DELETE
//! /api/sites/{site_id}` and `DELETE /api/sites/{site_id}/data`.
//!
//! A deleted site is gone from every list and query as soon as the request
//! answers; its data is purged afterwards by [`run_purge`], a few days per
//! writer job (`mallard_store::deletion`), so that ingestion never waits
//! long, and again after a restart when the server stopped midway. Freed
//! pages go back to the file system at the end of each purge and range
//! deletion.

use tokio::sync::Notify;

use crate::state::AppState;

/// Wakes the purge task when a site was deleted.
#[derive(Debug, Default)]
pub struct SitePurges {
    wake: Notify,
}

impl SitePurges {
    /// Asks the purge task to run now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

/// Runs until the runtime stops: purges the data of every deleted site (at
/// start, for a purge a restart cut short, and whenever a site is deleted).
pub async fn run_purge(state: AppState) {
    loop {
        let writer = state.writer.clone();
        let purged = tokio::task::spawn_blocking(move || {
            mallard_store::deletion::purge_blocking(&writer, |step| {
                if let mallard_store::deletion::PurgeStep::Emptied { site_id } = step {
                    tracing::info!(site_id, "a deleted site's data is purged");
                }
            })
        })
        .await;
        match purged {
            Ok(Ok(_)) => {}
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "purging deleted sites failed; retrying later");
            }
            Err(err) => tracing::error!(error = %err, "the purge task failed"),
        }
        tokio::select! {
            () = state.site_purges.wake.notified() => {}
            // A failed purge is tried again now and then.
            () = tokio::time::sleep(std::time::Duration::from_secs(15 * 60)) => {}
        }
    }
}
