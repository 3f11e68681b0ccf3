//! `POST /api/event` and `GET /api/event` (tracking pixel).
//!
//! A posted body may be `Content-Encoding: gzip` or `br`, decoded as the
//! collector decodes (the same bomb-proof decoder), under the same 64 KB limit
//! decoded; any other coding is 415.

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, post};
use mallard_core::SiteId;
use tower_http::cors::{Any, CorsLayer};

use crate::client_ip::ClientIp;
use crate::collector::CollectorError;
use crate::collector::body::{Encoding, decode_granted};
use crate::error::ApiError;
use crate::ingest::enrich::Enriched;
use crate::ingest::payload::{MallardPayload, MallardQuery, parse_json};
use crate::layers::timeout::CommitPoint;
use crate::request_body::{BodyReadError, read_limited, reservation_of};
use crate::site_gate::Admission;
use crate::state::AppState;

/// The body limit of ingestion routes, as documented.
pub const INGEST_BODY_LIMIT: usize = 64 * 1024;

/// A transparent 1x1 GIF.
const PIXEL_GIF: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// The ingestion routes, with open CORS (answering Private Network Access
/// preflights, so public https pages can post to a local port) and the 64 KB
/// body limit.
pub fn router() -> Router<AppState> {
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([http::Method::GET, http::Method::POST])
        .allow_headers([header::CONTENT_TYPE, header::CONTENT_ENCODING])
        .allow_private_network(true)
        .max_age(std::time::Duration::from_secs(86_400));
    // The CORS layer answers preflights before they reach a handler; the OPTIONS
    // handler gives the layer a route to wrap (the method-not-allowed fallback
    // is set on the whole router later and is not wrapped).
    let methods: MethodRouter<AppState> = post(post_event)
        .get(get_event)
        .options(preflight)
        .layer::<_, std::convert::Infallible>(DefaultBodyLimit::max(INGEST_BODY_LIMIT))
        .layer(cors);
    Router::new().route("/api/event", methods)
}

/// The CORS preflight (answered by the CORS layer around it).
#[utoipa::path(
    options,
    path = "/api/event",
    operation_id = "event_preflight",
    tag = "Ingestion",
    responses(
        (status = 200, description = "A CORS preflight: any origin may post events (the CORS layer answers it)"),
        (status = 204, description = "An OPTIONS request that is not a preflight"),
    ),
)]
async fn preflight() -> StatusCode {
    StatusCode::NO_CONTENT
}

#[utoipa::path(
    post,
    path = "/api/event",
    tag = "Ingestion",
    request_body(content = crate::ingest::payload::MallardPayload, description = "One event; gzip or brotli with Content-Encoding, at most 64 KB"),
    responses(
        (status = 202, description = "Accepted (bots too, silently dropped); the body is empty"),
        (status = 400, description = "An empty site or a bad field", body = crate::error::ErrorBody),
        (status = 403, description = "A site outside site_ids, or an Origin that does not match", body = crate::error::ErrorBody),
        (status = 413, description = "Over 64 KB", body = crate::error::ErrorBody),
        (status = 415, description = "Not JSON, or an unknown Content-Encoding", body = crate::error::ErrorBody),
        (status = 422, description = "A required field (d, n, u) is missing", body = crate::error::ErrorBody),
        (status = 429, description = "Over the per-site rate limit", body = crate::error::ErrorBody),
        (status = 503, description = "Collection paused, or the database cannot take writes", body = crate::error::ErrorBody),
    ),
)]
async fn post_event(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    request: Request,
) -> Result<StatusCode, ApiError> {
    let (parts, body) = request.into_parts();
    let headers = &parts.headers;
    let commit = CommitPoint::of(&parts.extensions);
    let outcome = async {
        check_content_type(headers)?;
        let encoding = Encoding::from_headers(headers).map_err(from_decoding)?;
        let reservation = reservation_of(&parts.extensions);
        let raw = read_limited(body, INGEST_BODY_LIMIT, reservation.as_deref())
            .await
            .map_err(|err| match err {
                BodyReadError::TooLarge { .. } => too_large(),
                BodyReadError::OverBudget => ApiError::bodies_busy(),
                BodyReadError::Failed(message) => ApiError::BadRequest(message),
            })?;
        let mut grant = |bytes| reservation.as_ref().is_none_or(|r| r.grow(bytes).is_ok());
        let body =
            decode_granted(encoding, &raw, INGEST_BODY_LIMIT, &mut grant).map_err(from_decoding)?;
        ingest(&state, parse_json(&body)?, ip, headers, &commit).await
    }
    .await;
    count(&outcome);
    outcome.map(|()| StatusCode::ACCEPTED)
}

fn too_large() -> ApiError {
    ApiError::PayloadTooLarge {
        limit_kb: INGEST_BODY_LIMIT / 1024,
    }
}

/// The Mallard family's answer to a body the collector's decoder refused.
fn from_decoding(err: CollectorError) -> ApiError {
    match err {
        CollectorError::PayloadTooLarge { .. } => too_large(),
        CollectorError::UnsupportedEncoding(_) => {
            ApiError::UnsupportedMediaType("Content-Encoding must be gzip, br or identity".into())
        }
        CollectorError::ServerBusy => ApiError::bodies_busy(),
        other => ApiError::BadRequest(other.to_string()),
    }
}

#[utoipa::path(
    get,
    path = "/api/event",
    tag = "Ingestion",
    params(
        ("d" = String, Query, description = "The site"),
        ("n" = String, Query, description = "The event name"),
        ("u" = String, Query, description = "The page URL"),
        ("r" = Option<String>, Query, description = "The referrer"),
        ("w" = Option<u32>, Query, description = "The screen width"),
        ("p" = Option<String>, Query, description = "Custom properties, a JSON object as text"),
        ("ra" = Option<String>, Query, description = "Revenue amount"),
        ("rc" = Option<String>, Query, description = "ISO 4217 currency code"),
    ),
    responses(
        (status = 200, description = "A transparent 1x1 GIF (the tracking pixel)", body = String, content_type = "image/gif"),
        (status = 400, description = "A bad field", body = crate::error::ErrorBody),
        (status = 422, description = "A required field (d, n, u) is missing, or a field of the wrong type", body = crate::error::ErrorBody),
        (status = 403, description = "A site outside site_ids", body = crate::error::ErrorBody),
        (status = 429, description = "Over the per-site rate limit", body = crate::error::ErrorBody),
        (status = 503, description = "Collection paused, or the database cannot take writes", body = crate::error::ErrorBody),
    ),
)]
async fn get_event(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    commit: CommitPoint,
    query: Result<Query<MallardQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let outcome = async {
        let Query(query) =
            query.map_err(|e| ApiError::BadRequest(format!("Invalid query string: {e}")))?;
        ingest(&state, query.into_payload()?, ip, &headers, &commit).await
    }
    .await;
    count(&outcome);
    outcome?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("image/gif")),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-store, max-age=0"),
            ),
        ],
        PIXEL_GIF,
    )
        .into_response())
}

/// Validates, checks origin and rate limit, enriches and stores one event;
/// `commit` is passed just before the event is handed to the writer.
async fn ingest(
    state: &AppState,
    payload: MallardPayload,
    ip: std::net::IpAddr,
    headers: &HeaderMap,
    commit: &CommitPoint,
) -> Result<(), ApiError> {
    if state.collection.is_paused() {
        return Err(ApiError::Unavailable("Collection is paused".into()));
    }
    let event = payload.validate()?;
    check_origin(
        &state.settings.get().site_ids,
        headers.get(header::ORIGIN),
        &event.site,
    )?;
    if let Some(limiter) = state.settings.site_limiter() {
        limiter
            .check(event.site.as_str())
            .map_err(|retry_after_secs| ApiError::TooManyRequests {
                message: "Rate limit exceeded for this site".into(),
                retry_after_secs,
            })?;
    }
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let now = crate::clock::now_ms();
    let salt = state.visitor_salts.for_time(now).await?;
    match state.enricher.enrich(event, ip, user_agent, now, &salt) {
        Enriched::Bot => {
            metrics::counter!("mallard_events_dropped_total", "reason" => "bot").increment(1);
            Ok(())
        }
        Enriched::Event(event) => {
            let site = event.site.clone();
            let admission = crate::site_gate::admit(state, &site)
                .await
                .map_err(|refusal| ApiError::Forbidden(refusal.message(&site)))?;
            // The writer's outcome decides the answer, whatever the time limit.
            commit.pass();
            let outcome = state.writer.insert(vec![*event]).await;
            state.write_health.record(&outcome);
            if let Err(failure) = outcome {
                if admission == Admission::New {
                    state.new_sites.release(&site);
                }
                return Err(failure.into());
            }
            crate::observability::events_ingested(crate::observability::Family::Mallard)
                .increment(1);
            Ok(())
        }
    }
}

fn count(outcome: &Result<(), ApiError>) {
    if let Err(err) = outcome {
        metrics::counter!("mallard_events_rejected_total", "family" => "mallard", "reason" => err.reason())
            .increment(1);
    }
}

/// JSON, or text/plain as `navigator.sendBeacon` sends it; a missing type is
/// read as JSON.
fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let essence = value
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if matches!(essence.as_str(), "application/json" | "text/plain" | "") {
        Ok(())
    } else {
        Err(ApiError::BadRequest(
            "Content-Type must be application/json or text/plain".into(),
        ))
    }
}

/// With a site allowlist configured, the event's site must be on it, and a
/// browser's `Origin` must be a page of one of the listed sites (or a subdomain).
fn check_origin(
    allowed: &[SiteId],
    origin: Option<&HeaderValue>,
    site: &SiteId,
) -> Result<(), ApiError> {
    if allowed.is_empty() {
        return Ok(());
    }
    if !allowed.contains(site) {
        return Err(ApiError::Forbidden(format!(
            "Site {site} is not in the allowlist"
        )));
    }
    let Some(origin) = origin else { return Ok(()) };
    let authority = origin.to_str().ok().and_then(|o| {
        o.split_once("://")
            .map(|(_, rest)| rest.to_ascii_lowercase())
    });
    let Some(authority) = authority else {
        return Err(ApiError::Forbidden("Origin not allowed".into()));
    };
    let host = authority
        .rsplit_once(':')
        .map_or(authority.as_str(), |(host, port)| {
            if port.chars().all(|c| c.is_ascii_digit()) {
                host
            } else {
                authority.as_str()
            }
        });
    let matches = |candidate: &str| {
        allowed.iter().any(|site| {
            let site = site.as_str().to_ascii_lowercase();
            candidate == site || candidate.ends_with(&format!(".{site}"))
        })
    };
    if matches(&authority) || matches(host) {
        Ok(())
    } else {
        Err(ApiError::Forbidden("Origin not allowed".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sites(ids: &[&str]) -> Vec<SiteId> {
        ids.iter().map(|id| SiteId::parse(id).unwrap()).collect()
    }

    fn origin(value: &'static str) -> HeaderValue {
        HeaderValue::from_static(value)
    }

    #[test]
    fn the_origin_allowlist_matches_hosts_subdomains_and_ports() {
        let allowed = sites(&["example.com", "localhost:3000"]);
        let site = SiteId::parse("example.com").unwrap();
        assert!(check_origin(&[], Some(&origin("https://evil.test")), &site).is_ok());
        assert!(check_origin(&allowed, Some(&origin("https://example.com")), &site).is_ok());
        assert!(check_origin(&allowed, Some(&origin("https://blog.example.com")), &site).is_ok());
        assert!(check_origin(&allowed, Some(&origin("http://localhost:3000")), &site).is_ok());
        assert!(check_origin(&allowed, None, &site).is_ok());
        assert!(check_origin(&allowed, Some(&origin("https://evil.test")), &site).is_err());
        assert!(check_origin(&allowed, Some(&origin("https://notexample.com")), &site).is_err());
        assert!(check_origin(&allowed, Some(&origin("null")), &site).is_err());
        let other = SiteId::parse("other.com").unwrap();
        assert!(check_origin(&allowed, None, &other).is_err());
    }

    #[test]
    fn beacons_and_json_are_accepted_other_types_are_not() {
        let mut headers = HeaderMap::new();
        assert!(check_content_type(&headers).is_ok());
        headers.insert(header::CONTENT_TYPE, origin("text/plain;charset=UTF-8"));
        assert!(check_content_type(&headers).is_ok());
        headers.insert(header::CONTENT_TYPE, origin("application/json"));
        assert!(check_content_type(&headers).is_ok());
        headers.insert(
            header::CONTENT_TYPE,
            origin("application/x-www-form-urlencoded"),
        );
        assert!(check_content_type(&headers).is_err());
    }
}
