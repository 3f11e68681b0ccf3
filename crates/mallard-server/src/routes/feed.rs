//! `GET /api/events/feed`: a site's settled visits with all their events,
//! after a cursor, for another Mallard to pull (`mallard pull`, Settings →
//! Remote servers). Each event carries a stable origin id; see
//! `mallard_store::feed` for what is handed over when. Any key that may read
//! stats may read the feed (ReadOnly is enough).

use std::collections::BTreeMap;

use axum::extract::{RawQuery, State};
use axum::routing::get;
use axum::{Json, Router};
use mallard_core::SiteId;
use mallard_store::feed::{FeedPage, FeedVisit};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::common::{query_limit, query_params, query_site};
use crate::auth::extract::StatsAccess;
use crate::error::ApiError;
use crate::state::AppState;

/// The default and the largest number of events a page holds (a page ends
/// with a whole visit, so it may hold a few more).
pub const DEFAULT_LIMIT: usize = 1_000;
/// See [`DEFAULT_LIMIT`].
pub const MAX_LIMIT: usize = 10_000;

/// The feed route; it needs stats access.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/events/feed", get(feed))
}

/// What a page asks for.
#[derive(Debug, PartialEq, Eq)]
struct FeedRequest {
    site: SiteId,
    after: i64,
    limit: usize,
}

/// Validates the query; the error is the message of a 400 answer.
fn parse(query: Option<&str>) -> Result<FeedRequest, String> {
    let params = query_params(query);
    let site = query_site(&params)?;
    let after = match params.get("after").map(String::as_str) {
        None | Some("") => 0,
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or("after must be a cursor from an earlier page's `next`")?,
    };
    let limit = query_limit(&params, DEFAULT_LIMIT, MAX_LIMIT)?;
    Ok(FeedRequest { site, after, limit })
}

/// One event of the feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FeedEventBody {
    /// Stable across pulls: `{visit id}-{place in the visit}`.
    pub origin_id: String,
    /// Time, ms since the epoch.
    pub ts: i64,
    /// `pageview` or a custom event's name.
    pub name: String,
    /// The page's host name.
    pub hostname: String,
    /// The page's path.
    pub pathname: String,
    /// Custom properties.
    #[serde(default)]
    pub props: BTreeMap<String, String>,
    /// Revenue in millionths of `currency`.
    #[serde(default)]
    pub revenue_micros: Option<i64>,
    /// Revenue currency (ISO 4217).
    #[serde(default)]
    pub currency: Option<String>,
}

/// One visit of the feed, with the attributes its events share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FeedVisitBody {
    /// The visit's id on the serving Mallard.
    pub id: i64,
    /// The visitor id (a daily-keyed hash, 16 hex digits): the pulling side
    /// forms visits from it as if the events were ingested live.
    pub visitor: String,
    /// Referrer source name.
    pub source: Option<String>,
    /// Referrer URL (host and path).
    pub referrer: Option<String>,
    /// `utm_source`.
    pub utm_source: Option<String>,
    /// `utm_medium`.
    pub utm_medium: Option<String>,
    /// `utm_campaign`.
    pub utm_campaign: Option<String>,
    /// `utm_term`.
    pub utm_term: Option<String>,
    /// `utm_content`.
    pub utm_content: Option<String>,
    /// Browser family.
    pub browser: Option<String>,
    /// Browser major version.
    pub browser_version: Option<String>,
    /// Operating system family.
    pub os: Option<String>,
    /// Operating system version.
    pub os_version: Option<String>,
    /// `Desktop`, `Laptop`, `Tablet`, `Mobile` or `Unknown`.
    pub device: String,
    /// Screen width in CSS pixels.
    pub screen_width: Option<i64>,
    /// Country code (ISO 3166-1 alpha-2).
    pub country: Option<String>,
    /// Region name (with a city database).
    pub region: Option<String>,
    /// City name (with a city database).
    pub city: Option<String>,
    /// Whether the user agent is a known bot.
    pub is_bot: bool,
    /// Whether the visit came from an excluded address.
    pub is_internal: bool,
    /// Oldest first.
    pub events: Vec<FeedEventBody>,
}

/// One page of the feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FeedBody {
    /// The site.
    pub site_id: String,
    /// Settled visits after the cursor, by id.
    pub visits: Vec<FeedVisitBody>,
    /// The cursor for the next page (`after`).
    pub next: String,
    /// Whether more settled visits follow now.
    pub more: bool,
    /// Whether the page stopped at a visit that may still grow: it comes
    /// once it has been idle for the visit timeout.
    pub waiting_for_open_visit: bool,
}

impl FeedVisitBody {
    fn of(visit: FeedVisit) -> Self {
        let labels = visit.labels;
        let id = visit.id;
        Self {
            id,
            visitor: format!("{:016x}", visit.visitor_id as u64),
            source: labels.source,
            referrer: labels.referrer,
            utm_source: labels.utm_source,
            utm_medium: labels.utm_medium,
            utm_campaign: labels.utm_campaign,
            utm_term: labels.utm_term,
            utm_content: labels.utm_content,
            browser: labels.browser,
            browser_version: visit.browser_version,
            os: labels.os,
            os_version: visit.os_version,
            device: labels.device.as_str().to_owned(),
            screen_width: labels.screen_width,
            country: labels.country,
            region: labels.region,
            city: labels.city,
            is_bot: labels.is_bot,
            is_internal: visit.is_internal,
            events: visit
                .events
                .into_iter()
                .enumerate()
                .map(|(at, event)| FeedEventBody {
                    origin_id: format!("{id}-{at}"),
                    ts: event.ts,
                    name: event.name,
                    hostname: event.hostname,
                    pathname: event.pathname,
                    props: event.props.into_iter().collect(),
                    revenue_micros: event.revenue_micros,
                    currency: event.currency,
                })
                .collect(),
        }
    }
}

impl FeedBody {
    fn of(site: &SiteId, page: FeedPage) -> Self {
        Self {
            site_id: site.as_str().to_owned(),
            visits: page.visits.into_iter().map(FeedVisitBody::of).collect(),
            next: page.next.to_string(),
            more: page.more,
            waiting_for_open_visit: page.waiting_for_open_visit,
        }
    }
}

#[utoipa::path(
    get,
    path = "/api/events/feed",
    tag = "Events",
    params(
        ("site_id" = String, Query, description = "The site"),
        ("after" = Option<String>, Query, description = "The `next` of the previous page (start: empty or 0)"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 10000, description = "About how many events (default 1000; a page ends with a whole visit)"),
    ),
    responses(
        (status = 200, description = "Settled visits after the cursor with all their events", body = FeedBody),
        (status = 404, description = "No such site", body = crate::error::ErrorBody),
        crate::openapi::responses::StatsErrors,
    ),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
async fn feed(
    _access: StatsAccess,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<FeedBody>, ApiError> {
    let request = parse(query.as_deref()).map_err(ApiError::BadRequest)?;
    let now = crate::clock::now_ms();
    let domain = request.site.as_str().to_owned();
    let (after, limit) = (request.after, request.limit);
    // Open visits' growth is written behind: what was committed so far must
    // be in the rows before they are read.
    state.writer.sync_rollups().await?;
    let page = state
        .read(move |db| db.event_feed(&domain, after, limit, now))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("Unknown site {}", request.site.as_str())))?;
    Ok(Json(FeedBody::of(&request.site, page)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_is_validated() {
        assert_eq!(parse(None).unwrap_err(), "site_id is required");
        assert_eq!(
            parse(Some("site_id=a.test&after=-1")).unwrap_err(),
            "after must be a cursor from an earlier page's `next`"
        );
        assert_eq!(
            parse(Some("site_id=a.test&after=x")).unwrap_err(),
            "after must be a cursor from an earlier page's `next`"
        );
        assert_eq!(
            parse(Some("site_id=a.test&limit=10001")).unwrap_err(),
            "limit must be a whole number from 1 to 10000"
        );
        assert_eq!(
            parse(Some("site_id=a.test&after=42&limit=5")).unwrap(),
            FeedRequest {
                site: SiteId::parse("a.test").unwrap(),
                after: 42,
                limit: 5
            }
        );
        assert_eq!(parse(Some("site_id=a.test&after=")).unwrap().after, 0);
        assert_eq!(parse(Some("site_id=a.test")).unwrap().limit, DEFAULT_LIMIT);
    }
}
