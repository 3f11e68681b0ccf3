//! The retention tasks: once an hour, delete data older than `retention_days`,
//! and forget collector dedupe keys past their window (always, so that the
//! keys do not grow without bound).

use std::time::Duration;

use crate::state::AppState;

/// How often retention runs.
const EVERY: Duration = Duration::from_secs(60 * 60);

/// Runs forever (until the runtime stops): deletes expired data chunk by chunk,
/// then sleeps an hour, or until the retention period changes in the
/// dashboard. Deletes nothing while no retention is set.
pub async fn run(state: AppState) {
    loop {
        let Some(days) = state.settings.get().retention_days else {
            state.settings.retention_changed.notified().await;
            continue;
        };
        let cutoff = crate::clock::now_ms() - i64::from(days) * 24 * 60 * 60 * 1000;
        let mut total = 0u64;
        loop {
            match state
                .writer
                .run(move |conn| mallard_store::retention::delete_oldest_chunk(conn, cutoff))
                .await
            {
                Ok(0) => break,
                Ok(deleted) => total += deleted,
                Err(err) => {
                    tracing::warn!(error = %err, "retention run failed; retrying in an hour");
                    break;
                }
            }
        }
        if total > 0 {
            tracing::info!(rows = total, days, "deleted data past the retention period");
            metrics::counter!("mallard_retention_deleted_rows_total").increment(total);
            // The freed pages go back to the file system, a chunk per job.
            let writer = state.writer.clone();
            let reclaimed = tokio::task::spawn_blocking(move || {
                mallard_store::deletion::reclaim_blocking(&writer)
            })
            .await;
            if let Ok(Err(err)) = reclaimed {
                tracing::warn!(error = %err, "giving freed space back failed");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(EVERY) => {}
            () = state.settings.retention_changed.notified() => {}
        }
    }
}

/// Runs forever (until the runtime stops): once an hour, deletes the
/// collector's dedupe keys of events older than the dedupe window
/// (`mallard_store::collector::DEDUPE_WINDOW_DAYS`), chunk by chunk. Each chunk
/// is found on a read connection and deleted key by key by the writer, so
/// ingestion never waits for the scan.
pub async fn prune_dedupe_keys(state: AppState) {
    loop {
        let now = crate::clock::now_ms();
        let mut total = 0u64;
        loop {
            let found = state
                .read(move |db| mallard_store::collector::expired_event_keys(db.connection(), now))
                .await;
            let keys = match found {
                Ok(keys) if keys.is_empty() => break,
                Ok(keys) => keys,
                Err(err) => {
                    tracing::warn!(error = %err, "finding old dedupe keys failed; retrying in an hour");
                    break;
                }
            };
            match state
                .writer
                .run(move |conn| mallard_store::collector::delete_event_keys(conn, &keys))
                .await
            {
                // Nothing went although keys were found: stop rather than spin.
                Ok(0) => break,
                Ok(deleted) => total += deleted,
                Err(err) => {
                    tracing::warn!(error = %err, "pruning dedupe keys failed; retrying in an hour");
                    break;
                }
            }
        }
        if total > 0 {
            tracing::info!(keys = total, "forgot dedupe keys past their window");
        }
        tokio::time::sleep(EVERY).await;
    }
}
