//! `GET /health`, `GET /health/ready` and `GET /health/detailed`.
//!
//! All three sit behind the Host guard (`crate::layers::host_guard`), so a
//! DNS-rebinding page cannot read them; `/health/detailed` shows the settings
//! in force only to a client that may read stats.

use axum::extract::State;
use axum::http::request::Parts;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

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
#[utoipa::path(
    get,
    path = "/health",
    tag = "Health",
    responses((status = 200, description = "ok", body = String, content_type = "text/plain")),
)]
async fn health() -> &'static str {
    "ok"
}

/// Readiness: the database file is still where the server opened it, a
/// pooled read connection can query it (no connection is opened per call),
/// and the latest write of events did not fail recently (see
/// [`crate::write_health`]).
#[utoipa::path(
    get,
    path = "/health/ready",
    tag = "Health",
    responses(
        (status = 200, description = "ready", body = String, content_type = "text/plain"),
        (status = 503, description = "The database cannot answer, or writes are failing", body = crate::error::ErrorBody),
    ),
)]
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

/// The write side of `/health/detailed`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WritesBody {
    /// `ok` or `failing`.
    status: &'static str,
    /// The latest failure, while writes are failing.
    #[serde(skip_serializing_if = "Option::is_none")]
    last_error: Option<String>,
    /// When it happened (RFC 3339), while writes are failing.
    #[serde(skip_serializing_if = "Option::is_none")]
    last_failure_at: Option<String>,
}

/// The configuration in force, shown only to a client that may read stats
/// (every field is absent for anyone else).
#[derive(Debug, Default, Serialize, ToSchema)]
pub(crate) struct ConfigurationBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_configured: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    filter_bots: Option<bool>,
    /// Always true: the server does not start without a country database.
    #[serde(skip_serializing_if = "Option::is_none")]
    geoip_loaded: Option<bool>,
    /// The database's type, e.g. `country ipvAll` (bundled) or `GeoLite2-City`.
    #[serde(skip_serializing_if = "Option::is_none")]
    geoip_database: Option<String>,
    /// The file in force; null for the bundled database.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Option<String>>)]
    geoip_file: Option<Option<std::path::PathBuf>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    site_allowlist: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rate_limit_per_site: Option<u32>,
    /// `process` or `os`.
    #[serde(skip_serializing_if = "Option::is_none")]
    durability: Option<String>,
}

/// The body of `/health/detailed`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DetailedBody {
    /// `ok`, or `degraded` when the database cannot be read or writes fail.
    status: &'static str,
    writes: WritesBody,
    version: &'static str,
    uptime_secs: u64,
    /// `ok` or `unavailable`.
    database: &'static str,
    /// Events accepted and not yet written.
    queued_events: usize,
    /// Mallard's name for `queued_events`.
    buffered_events: usize,
    /// Always true: the behavioural queries are built in.
    behavioral_extension_loaded: bool,
    /// Stats answers in the cache.
    cache_entries: usize,
    cache_empty: bool,
    /// Deleted sites whose data is still being purged (0 when none, or when
    /// the database cannot be read).
    pending_site_purges: usize,
    /// For a client that may read stats only.
    #[serde(flatten)]
    configuration: ConfigurationBody,
}

/// A JSON summary for operators.
#[utoipa::path(
    get,
    path = "/health/detailed",
    tag = "Health",
    responses((status = 200, description = "The server's state", body = DetailedBody)),
)]
async fn detailed(State(state): State<AppState>, parts: Parts) -> Json<DetailedBody> {
    let database = state.read(|db| db.ping()).await.is_ok();
    let pending_site_purges = state
        .read(|db| mallard_store::deletion::pending_purges(db.connection()))
        .await
        .map_or(0, |pending| pending.len());
    let live = state.settings.get();
    let writes = match state.write_health.status() {
        WriteStatus::Ok => WritesBody {
            status: "ok",
            last_error: None,
            last_failure_at: None,
        },
        WriteStatus::Failing { error, at_ms } => WritesBody {
            status: "failing",
            last_error: Some(error),
            last_failure_at: Some(crate::clock::rfc3339(at_ms)),
        },
    };
    let healthy = database && writes.status == "ok";
    let configuration = if principal_of(&parts, &state).can_read_stats() {
        ConfigurationBody {
            auth_configured: Some(state.auth.password_configured()),
            filter_bots: Some(live.filter_bots),
            geoip_loaded: Some(true),
            geoip_database: Some(state.geo.current().database_type().to_owned()),
            geoip_file: Some(state.geo.path()),
            site_allowlist: Some(live.site_ids.iter().map(ToString::to_string).collect()),
            rate_limit_per_site: Some(live.rate_limit_per_site),
            durability: Some(format!("{:?}", state.config.durability).to_lowercase()),
        }
    } else {
        ConfigurationBody::default()
    };
    let queued = state.writer.queued_events();
    let cached = state.stats.cached_answers();
    Json(DetailedBody {
        status: if healthy { "ok" } else { "degraded" },
        writes,
        version: env!("CARGO_PKG_VERSION"),
        uptime_secs: state.started.elapsed().as_secs(),
        database: if database { "ok" } else { "unavailable" },
        queued_events: queued,
        buffered_events: queued,
        behavioral_extension_loaded: true,
        cache_entries: cached,
        cache_empty: cached == 0,
        pending_site_purges,
        configuration,
    })
}
