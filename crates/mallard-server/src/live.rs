//! Live visitors across every site: the number the desktop tray shows and its
//! traffic-spike notification watches. `/api/stats/realtime` answers the same
//! question for one site.

use crate::error::ApiError;
use crate::state::AppState;

/// The realtime window: visitors with an event in the last five minutes.
pub const LIVE_WINDOW_MS: i64 = 5 * 60 * 1000;

/// The number of visitors with an event in the last five minutes, over all
/// sites (a visitor of two sites counts twice), asked in one query however
/// many sites there are.
pub async fn live_visitors(state: &AppState) -> Result<u64, ApiError> {
    let now_ms = crate::clock::now_ms();
    state
        .read(move |db| {
            let counts = db.visitors_between_by_site(now_ms - LIVE_WINDOW_MS, now_ms)?;
            Ok(counts.iter().map(|(_, visitors)| visitors).sum())
        })
        .await
}
