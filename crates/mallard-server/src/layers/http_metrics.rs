//! A counter and a latency histogram of HTTP requests by route and status.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;

/// Records `mallard_http_requests_total` and `mallard_http_request_duration_seconds`.
/// Unmatched paths share one label so that scanners cannot blow up cardinality.
pub async fn record(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("mallard_http_requests_total", "route" => route.clone(), "method" => method, "status" => status)
        .increment(1);
    metrics::histogram!("mallard_http_request_duration_seconds", "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}
