//! Cross-cutting concerns of every request.
//!
//! Each concern has its own module; [`every_request`] applies them all as one
//! middleware layer. Axum clones a route's whole layer stack for every
//! request, so one layer instead of four is measurably cheaper on the
//! ingestion path (see docs/benchmarks.md).

pub mod budget;
pub mod declared_length;
pub mod family;
pub mod host_guard;
pub mod http_metrics;
pub mod security_headers;
pub mod timeout;

use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::state::AppState;

/// In this order, outermost first: request metrics, the DNS-rebinding guard,
/// the declared body length check, the body budget, the request time limit;
/// and the security headers on whatever response comes back.
pub async fn every_request(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let labels = http_metrics::RequestLabels::of(&request);
    let refused =
        host_guard::refusal(&state, &request).or_else(|| declared_length::refusal(&request));
    let mut response = match refused {
        Some(refused) => refused,
        None => {
            let limit = Duration::from_secs(state.config.request_timeout_secs);
            let (request, charged) = budget::charge(&state.body_budget, request);
            let response = timeout::enforce(limit, request, |request| next.run(request)).await;
            budget::refusal_or(charged, response)
        }
    };
    labels.record(&response);
    security_headers::add_missing(&mut response);
    response
}
