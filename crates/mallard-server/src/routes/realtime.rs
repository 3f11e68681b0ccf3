//! `GET /api/stats/realtime/events`: the latest events of a site for the
//! dashboard's realtime view (time, name, page, source, country, browser;
//! never an IP address, which is not stored). Never cached.

use axum::extract::{RawQuery, State};
use axum::routing::get;
use axum::{Json, Router};
use mallard_core::SiteId;
use serde::Serialize;
use utoipa::ToSchema;

use super::common::{query_limit, query_params, query_site};
use crate::auth::extract::StatsAccess;
use crate::error::ApiError;
use crate::state::AppState;

/// How far back the list reaches.
pub const WINDOW_MS: i64 = 30 * 60 * 1000;
/// The default and the largest number of events listed.
const DEFAULT_LIMIT: u32 = 20;
const MAX_LIMIT: u32 = 100;

/// The realtime events route; it needs stats access.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/stats/realtime/events", get(events))
}

/// Validates the query; the error is the message of a 400 answer.
fn parse(query: Option<&str>) -> Result<(SiteId, u32), String> {
    let params = query_params(query);
    let site = query_site(&params)?;
    let limit = query_limit(&params, DEFAULT_LIMIT as usize, MAX_LIMIT as usize)?;
    Ok((site, u32::try_from(limit).unwrap_or(DEFAULT_LIMIT)))
}

/// One recent event.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RecentEventBody {
    /// RFC 3339.
    time: String,
    /// The event's name (`pageview` for page views).
    name: String,
    /// The page's path.
    page: String,
    source: Option<String>,
    country: Option<String>,
    browser: Option<String>,
}

/// The latest events of a site.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RecentEventsBody {
    site_id: String,
    /// How far back the events go, in seconds.
    window_secs: i64,
    /// Newest first.
    events: Vec<RecentEventBody>,
}

#[utoipa::path(
    get,
    path = "/api/stats/realtime/events",
    tag = "Stats",
    params(
        ("site_id" = String, Query, description = "The site"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "How many events (default 20)"),
    ),
    responses(
        (status = 200, description = "The latest events of the last 30 minutes", body = RecentEventsBody),
        crate::openapi::responses::StatsErrors,
    ),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
async fn events(
    _access: StatsAccess,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<RecentEventsBody>, ApiError> {
    let (site, limit) = parse(query.as_deref()).map_err(ApiError::BadRequest)?;
    let since = crate::clock::now_ms() - WINDOW_MS;
    let domain = site.as_str().to_owned();
    let events = state
        .read(move |db| db.recent_events(&domain, since, limit))
        .await?;
    let events = events
        .iter()
        .map(|e| RecentEventBody {
            time: crate::clock::rfc3339(e.ts),
            name: e.name.clone(),
            page: e.path.clone(),
            source: e.source.clone(),
            country: e.country.clone(),
            browser: e.browser.clone(),
        })
        .collect();
    Ok(Json(RecentEventsBody {
        site_id: site.as_str().to_owned(),
        window_secs: WINDOW_MS / 1000,
        events,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_is_validated() {
        assert_eq!(parse(None).unwrap_err(), "site_id is required");
        assert_eq!(
            parse(Some("site_id=a%20b")).unwrap_err(),
            "Invalid site_id: invalid site id: site id contains the character ' '; allowed are letters, digits and . _ : -"
        );
        assert_eq!(
            parse(Some("site_id=a.test&limit=0")).unwrap_err(),
            "limit must be a whole number from 1 to 100"
        );
        let (site, limit) = parse(Some("site_id=a.test&limit=5")).unwrap();
        assert_eq!((site.as_str(), limit), ("a.test", 5));
        assert_eq!(parse(Some("site_id=a.test")).unwrap().1, 20);
    }
}
