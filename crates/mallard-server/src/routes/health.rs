//! `GET /health`, `GET /health/ready` and `GET /health/detailed`.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::error::ApiError;
use crate::state::AppState;
use crate::write_health::WriteStatus;

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

/// Readiness: a new connection can open the database file and query it, and
/// the latest write of events did not fail recently (see
/// [`crate::write_health`]).
async fn ready(State(state): State<AppState>) -> Result<&'static str, ApiError> {
    let reads = std::sync::Arc::clone(&state.reads);
    match tokio::task::spawn_blocking(move || reads.probe()).await {
        Ok(Ok(())) => {}
        _ => return Err(ApiError::Unavailable("database not ready".into())),
    }
    match state.write_health.status() {
        WriteStatus::Ok => Ok("ready"),
        WriteStatus::Failing { error, .. } => Err(ApiError::Unavailable(format!(
            "database not ready: writes are failing ({error})"
        ))),
    }
}

/// A JSON summary for operators.
async fn detailed(State(state): State<AppState>) -> Response {
    let database = state.read(|db| db.ping()).await.is_ok();
    let live = state.settings.get();
    let writes = match state.write_health.status() {
        WriteStatus::Ok => json!({"status": "ok"}),
        WriteStatus::Failing { error, at_ms } => json!({
            "status": "failing",
            "last_error": error,
            "last_failure_at": crate::clock::rfc3339(at_ms),
        }),
    };
    let healthy = database && writes["status"] == "ok";
    Json(json!({
        "status": if healthy { "ok" } else { "degraded" },
        "writes": writes,
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
