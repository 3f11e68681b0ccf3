//! The goals `cargo xtask bench-queries` measures the Goals card with: added
//! over `/api/goals` (the server runs with open access on loopback) unless
//! the database has them already, and waited for until the server has
//! counted their goal days (`mallard_goal_days_counting` in `/metrics`).

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::client::KeepAlive;

/// An event goal, two page patterns and a property goal (seeded revenue is
/// on purchases, which no goal counts, but every count reads the revenue
/// entries); names are unique per site, so adding them again is refused
/// (409) and changes nothing.
const GOALS: &[&str] = &[
    r#"{"event_name":"Signup"}"#,
    r#"{"name":"Visit /blog/*","page_path":"/blog/*"}"#,
    r#"{"name":"Visit /docs/**","page_path":"/docs/**"}"#,
    r#"{"name":"Pro signups","event_name":"Signup","prop_key":"plan","prop_value":"pro"}"#,
];

/// How long the server may take to count a year of goal days.
const COUNTING_TIMEOUT: Duration = Duration::from_secs(600);

/// Adds the goals to `site` and waits until their goal days are counted;
/// returns how long the wait took.
pub async fn prepare(client: &mut KeepAlive, site: &str) -> anyhow::Result<Duration> {
    for goal in GOALS {
        let body = format!(r#"{{"site_id":"{site}",{}"#, &goal[1..]);
        let answer = client
            .send(
                "POST",
                "/api/goals",
                Bytes::from(body),
                &[("content-type", "application/json")],
            )
            .await?;
        anyhow::ensure!(
            matches!(answer.status, 201 | 409),
            "adding a goal answered {}",
            answer.status
        );
    }
    let started = Instant::now();
    // The writer looks for goal days to count within a tick (at most 250
    // ms) of the goals' job; then the gauge says whether it is counting.
    tokio::time::sleep(Duration::from_secs(1)).await;
    loop {
        let metrics = client.get("/metrics").await?;
        let text = String::from_utf8_lossy(&metrics.body);
        let counting = text
            .lines()
            .find_map(|line| line.strip_prefix("mallard_goal_days_counting "))
            .map(str::trim);
        if counting == Some("0") {
            return Ok(started.elapsed());
        }
        anyhow::ensure!(
            started.elapsed() < COUNTING_TIMEOUT,
            "the goal days were not counted within {COUNTING_TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
