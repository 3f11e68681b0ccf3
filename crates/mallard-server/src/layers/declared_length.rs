//! Refuses a request whose declared `Content-Length` exceeds its route's body
//! limit with 413 at once, before any body byte is read, so a client that sent
//! `Expect: 100-continue` gets no `100 Continue` and does not send the body.
//!
//! The limits are the ones the routes enforce while reading a body: the
//! ingestion routes' [`INGEST_BODY_LIMIT`], the collector's [`MAX_BODY_BYTES`],
//! and axum's default body limit for every other route. A body without
//! `Content-Length` (chunked) is still cut off by those limits while it is read.

use axum::extract::Request;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::family::Family;
use crate::collector::CollectorError;
use crate::collector::body::MAX_BODY_BYTES;
use crate::error::ApiError;
use crate::routes::ingest::INGEST_BODY_LIMIT;

/// Axum's default body limit (`DefaultBodyLimit`), which every route without
/// its own limit reads with.
pub const DEFAULT_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// The collector's ingestion paths, which read bodies up to [`MAX_BODY_BYTES`].
const COLLECTOR_INGEST_PATHS: [&str; 4] =
    ["/events", "/v1/events", "/s2s/events", "/v1/s2s/events"];

/// The body limit of the route serving `path`, in bytes.
pub fn limit_of(path: &str) -> usize {
    if path == "/api/event" {
        INGEST_BODY_LIMIT
    } else if COLLECTOR_INGEST_PATHS.contains(&path) {
        MAX_BODY_BYTES
    } else {
        DEFAULT_BODY_LIMIT
    }
}

/// The 413 answer, in the family's body, when `request` declares a body
/// larger than its route reads; `None` when it declares none or one that fits.
pub fn refusal(request: &Request) -> Option<Response> {
    let declared: u64 = request
        .headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let path = request.uri().path();
    let limit = limit_of(path);
    if declared <= limit as u64 {
        return None;
    }
    let response = match Family::of_path(path) {
        Family::Collector => CollectorError::PayloadTooLarge {
            limit_mb: limit / (1024 * 1024),
        }
        .into_response(),
        Family::Mallard => ApiError::PayloadTooLarge {
            limit_kb: limit / 1024,
        }
        .into_response(),
    };
    Some(response)
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::StatusCode;

    use super::*;

    fn request(path: &str, length: &str) -> Request {
        Request::post(path)
            .header(header::CONTENT_LENGTH, length)
            .body(Body::empty())
            .unwrap()
    }

    #[test]
    fn a_declared_length_over_the_route_limit_is_refused_with_413() {
        for (path, limit) in [
            ("/api/event", INGEST_BODY_LIMIT),
            ("/events", MAX_BODY_BYTES),
            ("/v1/s2s/events", MAX_BODY_BYTES),
            ("/api/auth/login", DEFAULT_BODY_LIMIT),
        ] {
            let over = (limit + 1).to_string();
            let refused = refusal(&request(path, &over)).expect(path);
            assert_eq!(refused.status(), StatusCode::PAYLOAD_TOO_LARGE, "{path}");
            assert!(
                refusal(&request(path, &limit.to_string())).is_none(),
                "{path}"
            );
        }
    }

    #[test]
    fn requests_without_a_usable_length_are_left_to_the_body_limits() {
        assert!(refusal(&Request::post("/events").body(Body::empty()).unwrap()).is_none());
        assert!(refusal(&request("/events", "lots")).is_none());
    }
}
