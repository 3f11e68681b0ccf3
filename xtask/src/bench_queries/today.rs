//! Today's share of the data: the open day stays in rows until it closes,
//! and every query that reaches today reads those rows one by one, at a
//! cost that grows through the day (10-12 ms of a filtered 30-day view of
//! the 10M seed by the evening, a quarter of it). Figures taken at
//! different hours differ by it, so the benchmark says how much of today
//! there is.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Deserialize;

use super::client::KeepAlive;
use super::plan::encode;

/// What the line reads of `/api/stats/main?period=day`.
#[derive(Debug, Deserialize)]
struct TodayTotals {
    visits: u64,
    total_events: u64,
}

/// The context line for the answer `body` of today's totals, at `now`.
fn line_of(body: &[u8], now: SystemTime) -> anyhow::Result<String> {
    let today: TodayTotals = serde_json::from_slice(body)?;
    let seconds = now.duration_since(UNIX_EPOCH)?.as_secs() % 86_400;
    Ok(format!(
        "today so far, kept as rows until the day closes and read by every query that reaches it: {} visits, {} events at {:02}:{:02} UTC",
        today.visits,
        today.total_events,
        seconds / 3600,
        seconds % 3600 / 60
    ))
}

/// A line that says how many visits and events `site` has today.
pub async fn line(client: &mut KeepAlive, site: &str) -> anyhow::Result<String> {
    let answer = client
        .get(&format!(
            "/api/stats/main?site_id={}&period=day",
            encode(site)
        ))
        .await?;
    anyhow::ensure!(
        answer.status == 200,
        "today's totals answered {}",
        answer.status
    );
    line_of(&answer.body, SystemTime::now())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_line_gives_todays_visits_events_and_the_hour() {
        let body = br#"{"avg_visit_duration_secs":88.1,"bounce_rate":0.4455,"total_events":34672,"total_pageviews":33735,"unique_visitors":14889,"visits":15049}"#;
        let evening = UNIX_EPOCH + Duration::from_secs(20_794 * 86_400 + 16 * 3600 + 35 * 60 + 7);
        assert_eq!(
            line_of(body, evening).unwrap(),
            "today so far, kept as rows until the day closes and read by every query that reaches it: 15049 visits, 34672 events at 16:35 UTC"
        );
        assert!(line_of(b"{\"error\":\"unknown site\"}", evening).is_err());
    }
}
