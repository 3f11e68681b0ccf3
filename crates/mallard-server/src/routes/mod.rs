//! The router: one small router per concern, merged, with the cross-cutting
//! concerns (`crate::layers`) as one layer on top.

pub mod annotations;
pub mod assets;
pub mod auth;
pub mod backups;
mod common;
pub mod feed;
pub mod goals;
pub mod health;
pub mod host;
pub mod imports;
pub mod ingest;
pub mod ingest_keys;
pub mod keys;
pub mod metrics;
pub mod open_access_keys;
pub mod realtime;
pub mod remotes;
pub mod settings;
pub mod sites;

use axum::Router;
use axum::response::IntoResponse;

use crate::error::ApiError;
use crate::layers;
use crate::state::AppState;

/// The whole HTTP API of one server.
pub fn router(state: AppState) -> Router {
    let router = Router::new()
        .merge(ingest::router())
        .merge(auth::router())
        .merge(keys::router())
        .merge(open_access_keys::router())
        .merge(ingest_keys::router())
        .merge(settings::router())
        .merge(sites::router())
        .merge(goals::router())
        .merge(annotations::router())
        .merge(imports::router())
        .merge(backups::router())
        .merge(realtime::router())
        .merge(feed::router())
        .merge(remotes::router())
        .merge(health::router())
        .merge(host::router())
        .merge(metrics::router())
        .merge(assets::router())
        .merge(crate::collector::router())
        .merge(crate::stats::router())
        .merge(crate::openapi::router())
        .fallback(|| async { ApiError::NotFound("Not found".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed.into_response() })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            layers::every_request,
        ));
    router.with_state(state)
}
