//! The body budget applied to every request (see [`crate::body_budget`]).
//!
//! A request with a body gets a reservation, in its extensions for handlers
//! that decode (their output is charged too), and its body is charged as it
//! is read. When any part was refused, the answer is 503 with `Retry-After`
//! in the family's body, whatever the handler made of its failed read.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::body_budget::{BodyBudget, Reservation, charge as charge_body};
use crate::collector::CollectorError;
use crate::error::ApiError;

/// A request's reservation and the family that answers for it.
#[derive(Debug)]
pub struct Charged {
    reservation: Arc<Reservation>,
    collector: bool,
}

/// Whether `path` belongs to the collector family (its error envelope).
fn is_collector_path(path: &str) -> bool {
    let path = path.strip_prefix("/v1").unwrap_or(path);
    matches!(path, "/events" | "/s2s/events") || path.starts_with("/admin/")
}

/// Puts `request`'s body under a new reservation on `budget`; a request
/// known to have no body is left alone.
pub fn charge(budget: &Arc<BodyBudget>, request: Request) -> (Request, Option<Charged>) {
    use http_body::Body as _;
    if request.body().size_hint().upper() == Some(0) {
        return (request, None);
    }
    let reservation = budget.reservation();
    let collector = is_collector_path(request.uri().path());
    let (mut parts, body) = request.into_parts();
    parts.extensions.insert(Arc::clone(&reservation));
    let request = Request::from_parts(parts, charge_body(body, &reservation));
    (
        request,
        Some(Charged {
            reservation,
            collector,
        }),
    )
}

/// `response`, or the 503 refusal when the request's reservation was
/// refused. The reservation is given back here, after the handler answered.
pub fn refusal_or(charged: Option<Charged>, response: Response) -> Response {
    let Some(charged) = charged else {
        return response;
    };
    if !charged.reservation.refused() || response.status() == StatusCode::SERVICE_UNAVAILABLE {
        return response;
    }
    metrics::counter!("mallard_body_budget_refused_total").increment(1);
    let mut refusal = if charged.collector {
        CollectorError::ServerBusy.into_response()
    } else {
        ApiError::bodies_busy().into_response()
    };
    // CORS headers set by the route stay, so a browser can read the answer.
    for (name, value) in response.headers() {
        if name.as_str().starts_with("access-control-") {
            refusal.headers_mut().insert(name.clone(), value.clone());
        }
    }
    refusal
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::header;

    use super::*;

    async fn refused(path: &str) -> (Response, serde_json::Value) {
        let budget = BodyBudget::new(4);
        let request = Request::post(path).body(Body::from("too long")).unwrap();
        let (request, charged) = charge(&budget, request);
        // A handler that reads its body and makes a 400 of the failure.
        let read = axum::body::to_bytes(request.into_body(), 1024).await;
        assert!(read.is_err());
        let mut handled = StatusCode::BAD_REQUEST.into_response();
        handled.headers_mut().insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            header::HeaderValue::from_static("*"),
        );
        let response = refusal_or(charged, handled);
        assert_eq!(budget.in_use(), 0, "the reservation was given back");
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, 4096).await.unwrap();
        (
            Response::from_parts(parts, Body::empty()),
            serde_json::from_slice(&bytes).unwrap(),
        )
    }

    #[tokio::test]
    async fn a_refused_request_gets_503_with_retry_after_in_its_family_body() {
        let (response, body) = refused("/api/keys").await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        assert_eq!(response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert!(body["error"].is_string(), "{body}");
        let (response, body) = refused("/v1/events").await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        assert_eq!(body["error"]["code"], "server_busy", "{body}");
    }

    #[test]
    fn collector_paths_are_told_from_mallard_paths() {
        for path in [
            "/events",
            "/v1/events",
            "/s2s/events",
            "/v1/s2s/events",
            "/admin/api-keys",
        ] {
            assert!(is_collector_path(path), "{path}");
        }
        for path in ["/api/event", "/api/auth/login", "/v1/metrics", "/"] {
            assert!(!is_collector_path(path), "{path}");
        }
    }
}
