//! The routes of the collector family. `/metrics` itself is the Mallard
//! family's route (one route serves both); `/v1/metrics` is registered there.

use std::net::IpAddr;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use axum::{Json, Router};
use serde::Serialize;
use tower_http::cors::{Any, CorsLayer};
use utoipa::ToSchema;

use super::auth::Endpoint;
use super::body::MAX_BODY_BYTES;
use super::ingest::{IngestBody, ingest};
use crate::client_ip::ClientIp;
use crate::layers::timeout::CommitPoint;
use crate::request_body::reservation_of;
use crate::state::AppState;

/// The CORS layer of the browser endpoint.
fn browser_cors() -> CorsLayer {
    CorsLayer::new()
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
        .max_age(std::time::Duration::from_secs(86_400))
}

/// The collector routes. Each `/v1/...` path is its unprefixed twin under
/// another name (each has its own handler, so the description lists both).
pub fn router() -> Router<AppState> {
    // The browser endpoint answers CORS preflights; the OPTIONS handler gives
    // the CORS layer a route to wrap.
    fn browser<H, T, P, U>(handler: H, preflight: P) -> MethodRouter<AppState>
    where
        H: axum::handler::Handler<T, AppState>,
        T: 'static,
        P: axum::handler::Handler<U, AppState>,
        U: 'static,
    {
        post(handler)
            .options(preflight)
            .layer::<_, std::convert::Infallible>(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .layer(browser_cors())
    }
    fn server<H, T>(handler: H) -> MethodRouter<AppState>
    where
        H: axum::handler::Handler<T, AppState>,
        T: 'static,
    {
        post(handler).layer::<_, std::convert::Infallible>(DefaultBodyLimit::max(MAX_BODY_BYTES))
    }
    Router::new()
        .route("/events", browser(browser_events, preflight))
        .route("/v1/events", browser(browser_events_v1, preflight_v1))
        .route("/s2s/events", server(server_events))
        .route("/v1/s2s/events", server(server_events_v1))
        .route("/healthz", get(healthz))
        .route("/v1/healthz", get(healthz_v1))
        .route("/version", get(version))
        .route("/v1/version", get(version_v1))
        .merge(super::admin::router())
}

/// The answer to a CORS preflight of the browser endpoint (the CORS layer
/// around it answers a real preflight, 200 with its headers).
#[utoipa::path(
    options,
    path = "/events",
    operation_id = "events_preflight",
    tag = "Collector",
    responses(
        (status = 200, description = "A CORS preflight: any origin may post events"),
        (status = 204, description = "An OPTIONS request that is not a preflight"),
    ),
)]
async fn preflight() -> StatusCode {
    StatusCode::NO_CONTENT
}

/// The preflight of `/v1/events`.
#[utoipa::path(
    options,
    path = "/v1/events",
    operation_id = "events_preflight_v1",
    tag = "Collector",
    responses(
        (status = 200, description = "A CORS preflight: any origin may post events"),
        (status = 204, description = "An OPTIONS request that is not a preflight"),
    ),
)]
async fn preflight_v1() -> StatusCode {
    preflight().await
}

/// Documents one collector ingestion path: its body is one event.
macro_rules! ingest_path {
    ($(#[$doc:meta])* $name:ident, $path:literal, $endpoint:expr, $security:tt) => {
        $(#[$doc])*
        #[utoipa::path(
            post,
            path = $path,
            tag = "Collector",
            request_body(content = crate::openapi::CollectorEvent, description = "One event (gzip or br with Content-Encoding, at most 5 MB)"),
            params(
                ("X-Site-Id" = Option<String>, Header, description = "The site, when no key names it"),
                ("X-Consent" = Option<String>, Header, description = "The visitor's consent state"),
            ),
            responses(
                (status = 202, description = "Accepted (duplicates and bots too); the body is empty"),
                crate::openapi::responses::CollectorErrors,
            ),
            security $security
        )]
        async fn $name(
            State(state): State<AppState>,
            ClientIp(ip): ClientIp,
            request: Request,
        ) -> Response {
            handle(&state, $endpoint, ip, request).await
        }
    };
}

ingest_path!(
    /// `POST /events`: an event from a browser.
    browser_events, "/events", Endpoint::Browser, ((), ("bearer" = []))
);
ingest_path!(
    /// `POST /v1/events`: `/events` under its versioned name.
    browser_events_v1, "/v1/events", Endpoint::Browser, ((), ("bearer" = []))
);
ingest_path!(
    /// `POST /s2s/events`: an event from a server, with an `ingest:server` key.
    server_events, "/s2s/events", Endpoint::Server, (("bearer" = []))
);
ingest_path!(
    /// `POST /v1/s2s/events`: `/s2s/events` under its versioned name.
    server_events_v1, "/v1/s2s/events", Endpoint::Server, (("bearer" = []))
);

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

/// The body of `/healthz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Healthz {
    /// `ok`.
    status: &'static str,
}

/// The body of `/version`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Version {
    /// `mallard-metrics`.
    name: &'static str,
    /// This build's version.
    version: &'static str,
}

/// Liveness: touches no state.
#[utoipa::path(get, path = "/healthz", tag = "Collector", responses((status = 200, description = "Alive", body = Healthz)))]
async fn healthz() -> Json<Healthz> {
    Json(Healthz { status: "ok" })
}

/// `/healthz` under its versioned name.
#[utoipa::path(get, path = "/v1/healthz", tag = "Collector", responses((status = 200, description = "Alive", body = Healthz)))]
async fn healthz_v1() -> Json<Healthz> {
    healthz().await
}

/// The server's name and version.
#[utoipa::path(get, path = "/version", tag = "Collector", responses((status = 200, description = "The name and version", body = Version)))]
async fn version() -> Json<Version> {
    Json(Version {
        name: "mallard-metrics",
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// `/version` under its versioned name.
#[utoipa::path(get, path = "/v1/version", tag = "Collector", responses((status = 200, description = "The name and version", body = Version)))]
async fn version_v1() -> Json<Version> {
    version().await
}
