//! A small typed client of the stats API: the answers `mallard stats` reads,
//! in Mallard's shapes (see docs/api.md), and the server it asks, which is
//! either named (`--url`, with a key) or the one running on the data
//! directory (found with its local admin token).

use anyhow::{Context, bail};
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// The totals of `GET /api/stats/main`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MainStats {
    /// Distinct visitors.
    pub unique_visitors: u64,
    /// Page views.
    pub total_pageviews: i64,
    /// Visits (a server older than Mallard's shapes may not say).
    #[serde(default)]
    pub visits: Option<i64>,
    /// Visits with one page view, a fraction.
    pub bounce_rate: f64,
    /// Mean visit duration.
    pub avg_visit_duration_secs: f64,
    /// Page views per visit.
    pub pages_per_visit: f64,
}

/// One bucket of `GET /api/stats/timeseries`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SeriesPoint {
    /// `YYYY-MM-DD`, or `YYYY-MM-DD HH:00`.
    pub date: String,
    /// Distinct visitors.
    pub visitors: u64,
    /// Page views.
    pub pageviews: i64,
}

/// One row of `GET /api/stats/breakdown/{dimension}`: its counters depend on
/// the dimension.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BreakdownRow {
    /// The value, `(unknown)` when missing.
    pub value: String,
    /// Distinct visitors, where counted.
    #[serde(default)]
    pub visitors: Option<u64>,
    /// Page views, where counted.
    #[serde(default)]
    pub pageviews: Option<i64>,
    /// Visits, where counted.
    #[serde(default)]
    pub visits: Option<i64>,
    /// Events, where counted.
    #[serde(default)]
    pub events: Option<i64>,
}

/// The server a command asks, and how it proves its right to.
pub struct StatsServer {
    url: String,
    /// Sent as `Authorization: Bearer`: a key, or the local admin token.
    credential: Option<String>,
    http: reqwest::blocking::Client,
}

impl StatsServer {
    /// The server at `url` (without a trailing `/`), with `credential` if any.
    pub fn new(url: &str, credential: Option<String>) -> Self {
        Self {
            url: url.trim_end_matches('/').to_owned(),
            credential,
            http: reqwest::blocking::Client::new(),
        }
    }

    /// `GET path_and_query` as JSON text, refused answers as errors carrying
    /// the server's message.
    pub fn get_text(&self, path_and_query: &str) -> anyhow::Result<String> {
        let mut request = self.http.get(format!("{}{path_and_query}", self.url));
        if let Some(credential) = &self.credential {
            request = request.bearer_auth(credential);
        }
        let response = request
            .send()
            .with_context(|| format!("cannot reach {}", self.url))?;
        let status = response.status();
        let text = response.text().unwrap_or_default();
        if !status.is_success() {
            let message = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|body| body["error"].as_str().map(str::to_owned))
                .unwrap_or_else(|| "no details".to_owned());
            bail!("the server answered {status}: {message}");
        }
        Ok(text)
    }

    /// `GET path_and_query` read as `T`.
    pub fn get<T: DeserializeOwned>(&self, path_and_query: &str) -> anyhow::Result<T> {
        let text = self.get_text(path_and_query)?;
        serde_json::from_str(&text)
            .with_context(|| format!("the answer to {path_and_query} is not the expected shape"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mallards_shapes_are_read_and_extra_fields_ignored() {
        let main: MainStats = serde_json::from_str(
            r#"{"unique_visitors": 3, "total_pageviews": 7, "bounce_rate": 0.5,
                "avg_visit_duration_secs": 232.5, "pages_per_visit": 1.75, "extra": 1}"#,
        )
        .unwrap();
        assert_eq!((main.unique_visitors, main.visits), (3, None));
        let rows: Vec<BreakdownRow> =
            serde_json::from_str(r#"[{"value": "/", "visitors": 3, "pageviews": 4}]"#).unwrap();
        assert_eq!(rows[0].pageviews, Some(4));
        assert_eq!(rows[0].visits, None);
        assert!(serde_json::from_str::<Vec<SeriesPoint>>(r#"{"data": []}"#).is_err());
    }
}
