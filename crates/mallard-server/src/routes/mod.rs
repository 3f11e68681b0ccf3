//! The router: one small router per concern, merged, with the cross-cutting
//! layers on top.

pub mod assets;
pub mod auth;
pub mod health;
pub mod host;
pub mod ingest;
pub mod ingest_keys;
pub mod keys;
pub mod metrics;
pub mod realtime;
pub mod settings;
pub mod sites;

use std::time::Duration;

use axum::Router;
use axum::response::IntoResponse;

use crate::error::ApiError;
use crate::layers;
use crate::state::AppState;

/// The whole HTTP API of one server.
pub fn router(state: AppState) -> Router {
    let timeout = Duration::from_secs(state.config.request_timeout_secs);
    let router = Router::new()
        .merge(ingest::router())
        .merge(auth::router())
        .merge(keys::router())
        .merge(ingest_keys::router())
        .merge(settings::router())
        .merge(sites::router())
        .merge(realtime::router())
        .merge(health::router())
        .merge(host::router())
        .merge(metrics::router())
        .merge(assets::router())
        .merge(crate::collector::router())
        .merge(crate::stats::router())
        .fallback(|| async { ApiError::NotFound("Not found".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed.into_response() })
        .layer(axum::middleware::from_fn(move |request, next| {
            layers::timeout::enforce(timeout, request, next)
        }))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            layers::host_guard::guard,
        ))
        .layer(axum::middleware::from_fn(layers::http_metrics::record));
    layers::security_headers::apply(router).with_state(state)
}
