//! Deletes the visitor-id salts of past days as each UTC day begins.
//!
//! The store draws a day's salt with the day's first event and deletes the
//! salts older than yesterday then and at every open; this task covers a
//! server that runs through several days without an event.

use std::time::Duration;

use crate::state::AppState;

/// The length of a UTC day in milliseconds.
const MS_PER_DAY: i64 = 86_400_000;

/// The longest sleep between two passes, so that a clock change or a suspended
/// machine delays the deletion by at most this much.
const MAX_SLEEP_MS: i64 = 3_600_000;

/// Runs until aborted: deletes the salts of the days before yesterday now and
/// just after each UTC midnight.
pub async fn run(state: AppState) {
    loop {
        let now = crate::clock::now_ms();
        match state.visitor_salts.forget_old(now).await {
            Ok(0) => {}
            Ok(deleted) => tracing::debug!(deleted, "deleted the visitor-id salts of past days"),
            Err(err) => {
                tracing::warn!(error = %err, "deleting old visitor-id salts failed; retrying later")
            }
        }
        tokio::time::sleep(Duration::from_millis(sleep_ms(now))).await;
    }
}

/// How long to sleep at `now_ms`: until one second into the next UTC day, at
/// most [`MAX_SLEEP_MS`].
fn sleep_ms(now_ms: i64) -> u64 {
    let until_next_day = MS_PER_DAY - now_ms.rem_euclid(MS_PER_DAY) + 1_000;
    u64::try_from(until_next_day.clamp(1_000, MAX_SLEEP_MS)).unwrap_or(1_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_wakes_just_after_midnight_or_within_the_hour() {
        assert_eq!(sleep_ms(MS_PER_DAY - 10_000), 11_000);
        assert_eq!(sleep_ms(5 * MS_PER_DAY), 3_600_000);
        assert_eq!(sleep_ms(MS_PER_DAY - 1), 1_001);
    }
}
