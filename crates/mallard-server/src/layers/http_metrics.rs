//! A counter and a latency histogram of HTTP requests by route and status.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::response::Response;

/// What the metrics of one request are labelled with, taken before it is
/// handled.
pub struct RequestLabels {
    route: String,
    method: String,
    started: Instant,
}

impl RequestLabels {
    /// Notes the route and method of `request` and when it started. Unmatched
    /// paths share one label so that scanners cannot blow up cardinality.
    pub fn of(request: &Request) -> Self {
        let route = request
            .extensions()
            .get::<MatchedPath>()
            .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
        Self {
            route,
            method: request.method().as_str().to_owned(),
            started: Instant::now(),
        }
    }

    /// Records `mallard_http_requests_total` and
    /// `mallard_http_request_duration_seconds` for the finished request.
    pub fn record(self, response: &Response) {
        let status = response.status().as_u16().to_string();
        metrics::counter!("mallard_http_requests_total", "route" => self.route.clone(), "method" => self.method, "status" => status)
            .increment(1);
        metrics::histogram!("mallard_http_request_duration_seconds", "route" => self.route)
            .record(self.started.elapsed().as_secs_f64());
    }
}
