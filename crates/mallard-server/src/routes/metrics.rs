//! `GET /metrics` (and `/v1/metrics`, the collector family's alias): the
//! Prometheus text exposition shared by both API families, optionally behind a bearer
//! token (`MALLARD_METRICS_TOKEN`, at least 16 characters). Wrong tokens are
//! throttled per client address (see [`crate::auth::lockout`]).

use std::net::IpAddr;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::client_ip::ClientIp;
use crate::error::ApiError;
use crate::state::AppState;

/// The Prometheus text format's content type.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The metrics route.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/v1/metrics", get(metrics_v1))
}

/// `/metrics` under the collector family's versioned name.
#[utoipa::path(
    get,
    path = "/v1/metrics",
    tag = "Health",
    responses(
        (status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain; version=0.0.4; charset=utf-8"),
        (status = 401, description = "MALLARD_METRICS_TOKEN is set and the request lacks it", body = crate::error::ErrorBody),
        (status = 429, description = "Too many wrong tokens", body = crate::error::ErrorBody),
    ),
    security((), ("bearer" = []))
)]
async fn metrics_v1(state: State<AppState>, ip: ClientIp, headers: HeaderMap) -> Response {
    metrics(state, ip, headers).await
}

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "Health",
    responses(
        (status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain; version=0.0.4; charset=utf-8"),
        (status = 401, description = "MALLARD_METRICS_TOKEN is set and the request lacks it", body = crate::error::ErrorBody),
        (status = 429, description = "Too many wrong tokens", body = crate::error::ErrorBody),
    ),
    security((), ("bearer" = []))
)]
async fn metrics(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
) -> Response {
    if let Some(token) = &state.config.metrics_token
        && let Err(error) = check_token(&state, &headers, token, ip)
    {
        return error.into_response();
    }
    crate::observability::set_mallard_gauges(&crate::observability::MallardGauges {
        buffered_events: state.writer.queued_events(),
        cache_entries: state.stats.cached_answers(),
        auth_configured: state.auth.password_configured(),
        filter_bots: state.settings.get().filter_bots,
    });
    match &state.metrics {
        Some(handle) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(PROMETHEUS_CONTENT_TYPE),
            )],
            handle.render(),
        )
            .into_response(),
        None => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

/// Checks the metrics bearer token of a request from `ip`. Wrong tokens (not
/// missing ones) are counted per address in the token lockout: once it trips, the address gets
/// 429 with `Retry-After` until it expires, even with the right token.
fn check_token(
    state: &AppState,
    headers: &HeaderMap,
    expected: &str,
    ip: IpAddr,
) -> Result<(), ApiError> {
    let lockout = &state.auth.token_lockout;
    if let Some(retry_after_secs) = lockout.locked_for(ip) {
        return Err(ApiError::TooManyRequests {
            message: "Too many failed token attempts. Try again later.".into(),
            retry_after_secs,
        });
    }
    if bearer_matches(headers, expected) {
        return Ok(());
    }
    // Only a presented token is a guess; a bare request is not counted.
    if headers.contains_key(header::AUTHORIZATION) && lockout.record_failure(ip).is_some() {
        tracing::warn!("metrics token attempts locked out after repeated failures");
    }
    Err(ApiError::Unauthorized(
        "Missing or invalid metrics token".into(),
    ))
}

/// Compares the bearer token with `expected` in constant time (over digests, so
/// the length does not leak either).
pub fn bearer_matches(headers: &HeaderMap, expected: &str) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    let given = Sha256::digest(given.trim().as_bytes());
    let expected = Sha256::digest(expected.as_bytes());
    given.ct_eq(&expected).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_bearer_token_matches() {
        let mut headers = HeaderMap::new();
        assert!(!bearer_matches(&headers, "s3cret"));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer s3cret"),
        );
        assert!(bearer_matches(&headers, "s3cret"));
        assert!(!bearer_matches(&headers, "s3cre"));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic s3cret"),
        );
        assert!(!bearer_matches(&headers, "s3cret"));
    }
}
