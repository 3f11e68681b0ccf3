//! `GET /health`, `GET /health/ready` and `GET /health/detailed`.
//!
//! All three sit behind the Host guard (`crate::layers::host_guard`), so a
//! DNS-rebinding page cannot read them; `/health/detailed` shows the settings
//! in force only to a client that may read stats.

use axum::extract::State;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::auth::extract::principal_of;
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

/// The fields of `/health/detailed` that describe the configuration.
const CONFIGURATION_FIELDS: [&str; 8] = [
    "auth_configured",
    "geoip_loaded",
    "geoip_database",
    "geoip_file",
    "filter_bots",
    "site_allowlist",
    "rate_limit_per_site",
    "durability",
];

/// Readiness: the database file is still where the server opened it, a
/// pooled read connection can query it (no connection is opened per call),
/// and the latest write of events did not fail recently (see
/// [`crate::write_health`]).
async fn ready(State(state): State<AppState>) -> Result<&'static str, ApiError> {
    let reads = std::sync::Arc::clone(&state.reads);
    let file = state.config.data_dir.join(mallard_store::DATABASE_FILE);
    let check = move || file.is_file() && reads.with(|db| db.ping()).is_ok();
    match tokio::task::spawn_blocking(check).await {
        Ok(true) => {}
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
async fn detailed(State(state): State<AppState>, parts: Parts) -> Response {
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
    let mut body = json!({
        "status": if healthy { "ok" } else { "degraded" },
        "writes": writes,
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_secs": state.started.elapsed().as_secs(),
        "database": if database { "ok" } else { "unavailable" },
        "queued_events": state.writer.queued_events(),
        // Mallard's names: its buffer is this server's write queue; its
        // behavioural extension is built in here.
        "buffered_events": state.writer.queued_events(),
        "behavioral_extension_loaded": true,
        "cache_entries": state.stats.cached_answers(),
        "cache_empty": state.stats.cached_answers() == 0,
        "auth_configured": state.auth.password_configured(),
        "filter_bots": live.filter_bots,
        // The server does not start without a readable database, so one is
        // always loaded; `geoip_database` says which.
        "geoip_loaded": true,
        "geoip_database": state.geo.current().database_type(),
        // The file in force; null for the bundled database.
        "geoip_file": state.geo.path(),
        "site_allowlist": live.site_ids.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "rate_limit_per_site": live.rate_limit_per_site,
        "durability": format!("{:?}", state.config.durability).to_lowercase(),
    });
    if !principal_of(&parts, &state).can_read_stats()
        && let Some(fields) = body.as_object_mut()
    {
        for field in CONFIGURATION_FIELDS {
            fields.remove(field);
        }
    }
    Json(body).into_response()
}
