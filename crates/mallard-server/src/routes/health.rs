//! `GET /health`, `GET /health/ready` and `GET /health/detailed`.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::error::ApiError;
use crate::state::AppState;

/// The health routes; they touch no state beyond what each documents.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/health/ready", get(ready))
        .route("/health/detailed", get(detailed))
}

/// Liveness: the process answers.
async fn health() -> &'static str {
    "ok"
}

/// Readiness: a new connection can open the database file and query it.
async fn ready(State(state): State<AppState>) -> Result<&'static str, ApiError> {
    let reads = std::sync::Arc::clone(&state.reads);
    match tokio::task::spawn_blocking(move || reads.probe()).await {
        Ok(Ok(())) => Ok("ready"),
        _ => Err(ApiError::Unavailable("database not ready".into())),
    }
}

/// A JSON summary for operators.
async fn detailed(State(state): State<AppState>) -> Response {
    let database = state.read(|db| db.ping()).await.is_ok();
    let live = state.settings.get();
    Json(json!({
        "status": if database { "ok" } else { "degraded" },
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_secs": state.started.elapsed().as_secs(),
        "database": if database { "ok" } else { "unavailable" },
        "queued_events": state.writer.queued_events(),
        "auth_configured": state.auth.password_configured(),
        "filter_bots": live.filter_bots,
        "site_allowlist": live.site_ids.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "rate_limit_per_site": live.rate_limit_per_site,
        "durability": format!("{:?}", state.config.durability).to_lowercase(),
    }))
    .into_response()
}
