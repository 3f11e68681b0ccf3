//! `GET /api/settings` and `PATCH /api/settings`: the settings the dashboard
//! may change (see [`crate::settings`]). A change is validated, saved in the
//! database and put in force at once; a value pinned by an environment
//! variable cannot be changed here. A new `geoip_database` is read before
//! anything is saved, so a file that is not a usable database is refused.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use std::path::PathBuf;

use mallard_geo::Geolocator;
use serde_json::Value;

use crate::auth::extract::AdminAccess;
use crate::error::ApiError;
use crate::geo_source;
use crate::json::JsonBody;
use crate::settings::editable::setting;
use crate::settings::live::SettingState;
use crate::state::AppState;

/// The settings routes; both need an Admin principal.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/settings", get(show).patch(change))
}

/// Every setting by name.
type Described = std::collections::BTreeMap<&'static str, SettingState>;

#[utoipa::path(
    get,
    path = "/api/settings",
    tag = "Settings",
    responses(
        (status = 200, description = "Every setting by name", body = std::collections::BTreeMap<String, SettingState>),
        crate::openapi::responses::AdminErrors,
    ),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
async fn show(_admin: AdminAccess, State(state): State<AppState>) -> Json<Described> {
    Json(state.settings.describe())
}

/// Validates a change; returns the `(name, JSON text or None to reset)` pairs
/// to save, or the error to answer.
fn validate(state: &AppState, body: &Value) -> Result<Vec<(String, Option<String>)>, ApiError> {
    let object = body
        .as_object()
        .ok_or_else(|| ApiError::BadRequest("The body must be a JSON object of settings".into()))?;
    let mut scratch = (*state.settings.get()).clone();
    let mut changes = Vec::with_capacity(object.len());
    for (name, value) in object {
        let Some(known) = setting(name) else {
            return Err(ApiError::BadRequest(format!("Unknown setting: {name}")));
        };
        if let Some(var) = state.settings.pinned_by(known.name) {
            return Err(ApiError::Conflict(format!(
                "{name} is set by the environment variable {var}; change or unset it there"
            )));
        }
        if value.is_null() {
            changes.push((known.name.to_owned(), None));
            continue;
        }
        scratch
            .set(known.name, value)
            .map_err(ApiError::BadRequest)?;
        changes.push((
            known.name.to_owned(),
            Some(scratch.get(known.name).to_string()),
        ));
    }
    Ok(changes)
}

#[utoipa::path(
    patch,
    path = "/api/settings",
    tag = "Settings",
    request_body(
        content = std::collections::BTreeMap<String, serde_json::Value>,
        description = "The settings to change by name; null resets one to the file's value"
    ),
    responses(
        (status = 200, description = "Every setting by name, after the change", body = std::collections::BTreeMap<String, SettingState>),
        (status = 409, description = "A setting pinned by an environment variable", body = crate::error::ErrorBody),
        crate::openapi::responses::AdminErrors,
    ),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
async fn change(
    _admin: AdminAccess,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<Described>, ApiError> {
    let _one_at_a_time = state.settings.changing.lock().await;
    let changes = validate(&state, &body)?;
    let opened = match changes
        .iter()
        .find(|(name, _)| name == "geoip_database")
        .and_then(|(_, value)| value.as_ref())
        .and_then(|text| serde_json::from_str::<String>(text).ok())
        .filter(|path| !path.is_empty())
    {
        Some(path) => Some(
            open_geoip(PathBuf::from(path))
                .await
                .map_err(|err| ApiError::BadRequest(format!("geoip_database: {err}")))?,
        ),
        None => None,
    };
    let saved = state
        .writer
        .run(move |conn| {
            mallard_store::dashboard_settings::save(conn, &changes)?;
            mallard_store::dashboard_settings::load(conn)
        })
        .await
        .map_err(|err| {
            tracing::error!(error = %err, "cannot save settings");
            ApiError::Unavailable("Database unavailable".into())
        })?;
    state.apply_settings(&saved);
    put_geoip_in_force(&state, opened).await;
    Ok(Json(state.settings.describe()))
}

/// Reads the geolocation database at `path` (off the async workers).
async fn open_geoip(path: PathBuf) -> Result<(PathBuf, Geolocator), String> {
    tokio::task::spawn_blocking(move || {
        geo_source::open(Some(&path))
            .map(|geo| (path, geo))
            .map_err(|err| err.to_string())
    })
    .await
    .map_err(|err| err.to_string())?
}

/// Makes the lookups use the database the settings now name: `opened` when
/// that is the one, else the file is read (or the bundled one taken).
async fn put_geoip_in_force(state: &AppState, opened: Option<(PathBuf, Geolocator)>) {
    let wanted = state.settings.get().geoip_database.clone();
    if wanted == state.geo.path() {
        return;
    }
    let geo = match (opened, &wanted) {
        (Some((path, geo)), Some(want)) if path == *want => Ok(geo),
        (_, Some(want)) => open_geoip(want.clone()).await.map(|(_, geo)| geo),
        (_, None) => geo_source::open(None).map_err(|err| err.to_string()),
    };
    match geo {
        Ok(geo) => {
            tracing::info!(
                database = geo.database_type(),
                path = ?wanted,
                "geolocation database changed from the dashboard"
            );
            state.geo.replace(geo, wanted);
        }
        Err(err) => {
            tracing::error!(error = %err, "cannot read the geolocation database; keeping the one in force")
        }
    }
}
