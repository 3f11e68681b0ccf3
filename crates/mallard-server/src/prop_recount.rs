//! Counts the property rollups of a database's older days again once, at
//! start ([`mallard_store::prop_recount`]): properties count on page views
//! too now. A few days per writer job, so that ingestion never waits long;
//! a restart goes on with the days left.

use crate::state::AppState;

/// Recounts every listed day, then ends.
pub async fn run(state: AppState) {
    let writer = state.writer.clone();
    let recounted =
        tokio::task::spawn_blocking(move || mallard_store::prop_recount::recount_blocking(&writer))
            .await;
    match recounted {
        Ok(Ok(0)) => {}
        Ok(Ok(days)) => tracing::info!(days, "property rollups counted again with page views"),
        // The server stopped first: a restart goes on with the days left.
        Ok(Err(mallard_store::StoreError::WriterStopped)) => {}
        Ok(Err(err)) => tracing::warn!(error = %err, "recounting property rollups failed"),
        Err(err) => tracing::error!(error = %err, "the property recount task failed"),
    }
}
