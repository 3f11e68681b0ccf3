//! A counter and a latency histogram of HTTP requests by route and status.
//!
//! The metric handles of each route are registered with the recorder once and
//! kept: building a metrics key and looking it up in the recorder for every
//! request cost more than everything else this middleware does. (The global
//! recorder is installed when the application state is built, before any
//! request is served, so a kept handle always belongs to it.)

use std::collections::HashMap;
use std::sync::{LazyLock, PoisonError, RwLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use metrics::{Counter, Histogram};

/// The route label of requests that matched no route: one label for all, so
/// that scanners cannot blow up cardinality.
const UNMATCHED: &str = "unmatched";

/// The registered handles of one route.
struct RouteMetrics {
    duration: Histogram,
    /// One counter per method and status seen on the route.
    requests: Vec<(Method, StatusCode, Counter)>,
}

static ROUTES: LazyLock<RwLock<HashMap<String, RouteMetrics>>> =
    LazyLock::new(|| RwLock::new(HashMap::new()));

/// What the metrics of one request are labelled with, taken before it is
/// handled.
pub struct RequestLabels {
    route: Option<MatchedPath>,
    method: Method,
    started: Instant,
}

impl RequestLabels {
    /// Notes the route and method of `request` and when it started.
    pub fn of(request: &Request) -> Self {
        Self {
            route: request.extensions().get::<MatchedPath>().cloned(),
            method: label_method(request.method()),
            started: Instant::now(),
        }
    }

    /// Records `mallard_http_requests_total` and
    /// `mallard_http_request_duration_seconds` for the finished request.
    pub fn record(self, response: &Response) {
        let route = self.route.as_ref().map_or(UNMATCHED, MatchedPath::as_str);
        let status = response.status();
        let seconds = self.started.elapsed().as_secs_f64();
        {
            let routes = ROUTES.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(metrics) = routes.get(route)
                && let Some(counter) = metrics.counter(&self.method, status)
            {
                counter.increment(1);
                metrics.duration.record(seconds);
                return;
            }
        }
        let mut routes = ROUTES.write().unwrap_or_else(PoisonError::into_inner);
        let metrics = routes
            .entry(route.to_owned())
            .or_insert_with(|| RouteMetrics {
                duration: metrics::histogram!(
                    "mallard_http_request_duration_seconds",
                    "route" => route.to_owned()
                ),
                requests: Vec::new(),
            });
        match metrics.counter(&self.method, status) {
            Some(counter) => counter.increment(1),
            None => {
                let counter = metrics::counter!(
                    "mallard_http_requests_total",
                    "route" => route.to_owned(),
                    "method" => self.method.as_str().to_owned(),
                    "status" => status.as_u16().to_string()
                );
                counter.increment(1);
                metrics.requests.push((self.method, status, counter));
            }
        }
        metrics.duration.record(seconds);
    }
}

impl RouteMetrics {
    fn counter(&self, method: &Method, status: StatusCode) -> Option<&Counter> {
        self.requests
            .iter()
            .find(|(m, s, _)| m == method && *s == status)
            .map(|(_, _, counter)| counter)
    }
}

/// The method label: the standard methods by name, any other one as `OTHER`
/// (a client can send any token as a method).
fn label_method(method: &Method) -> Method {
    const STANDARD: [Method; 9] = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::HEAD,
        Method::OPTIONS,
        Method::CONNECT,
        Method::PATCH,
        Method::TRACE,
    ];
    if STANDARD.contains(method) {
        method.clone()
    } else {
        Method::from_bytes(b"OTHER").unwrap_or(Method::GET)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_share_one_label() {
        let odd = Method::from_bytes(b"BREW").unwrap();
        assert_eq!(label_method(&odd).as_str(), "OTHER");
        assert_eq!(label_method(&Method::POST), Method::POST);
    }
}
