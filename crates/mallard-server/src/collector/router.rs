//! The routes of the collector family. `/metrics` itself is the Mallard
//! family's route (one route serves both); `/v1/metrics` is registered there.

use std::net::IpAddr;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use axum::{Json, Router};
use serde_json::json;
use tower_http::cors::{Any, CorsLayer};

use super::auth::Endpoint;
use super::body::MAX_BODY_BYTES;
use super::ingest::{IngestBody, ingest};
use crate::client_ip::ClientIp;
use crate::layers::timeout::CommitPoint;
use crate::request_body::reservation_of;
use crate::state::AppState;

/// The collector routes.
pub fn router() -> Router<AppState> {
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([http::Method::POST])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            header::CONTENT_ENCODING,
            HeaderName::from_static("x-site-id"),
            HeaderName::from_static("x-consent"),
        ])
        .allow_private_network(true)
        .max_age(std::time::Duration::from_secs(86_400));
    // The browser endpoint answers CORS preflights; the OPTIONS handler gives
    // the CORS layer a route to wrap.
    let browser: MethodRouter<AppState> = post(browser_events)
        .options(|| async { StatusCode::NO_CONTENT })
        .layer::<_, std::convert::Infallible>(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(cors);
    let server: MethodRouter<AppState> = post(server_events)
        .layer::<_, std::convert::Infallible>(DefaultBodyLimit::max(MAX_BODY_BYTES));
    Router::new()
        .route("/events", browser.clone())
        .route("/v1/events", browser)
        .route("/s2s/events", server.clone())
        .route("/v1/s2s/events", server)
        .route("/healthz", get(healthz))
        .route("/v1/healthz", get(healthz))
        .route("/version", get(version))
        .route("/v1/version", get(version))
        .merge(super::admin::router())
}

async fn browser_events(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    request: Request,
) -> Response {
    handle(&state, Endpoint::Browser, ip, request).await
}

async fn server_events(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    request: Request,
) -> Response {
    handle(&state, Endpoint::Server, ip, request).await
}

/// Ingests `request`, whose body is read only once the gates and
/// authentication let it through.
async fn handle(state: &AppState, endpoint: Endpoint, ip: IpAddr, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = IngestBody {
        body,
        reservation: reservation_of(&parts.extensions),
        commit: CommitPoint::of(&parts.extensions),
    };
    respond(ingest(state, endpoint, ip, &parts.headers, body).await)
}

fn respond(outcome: Result<StatusCode, super::CollectorError>) -> Response {
    match outcome {
        Ok(status) => status.into_response(),
        Err(err) => {
            metrics::counter!("mallard_events_rejected_total", "family" => "collector", "reason" => err.code())
                .increment(1);
            err.into_response()
        }
    }
}

/// Liveness: touches no state.
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// The server's name and version.
async fn version() -> Json<serde_json::Value> {
    Json(json!({"name": "mallard-metrics", "version": env!("CARGO_PKG_VERSION")}))
}
