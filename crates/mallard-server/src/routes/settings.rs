//! `GET /api/settings` and `PATCH /api/settings`: the settings the dashboard
//! may change (see [`crate::settings`]). A change is validated, saved in the
//! database and put in force at once; a value pinned by an environment
//! variable cannot be changed here.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use crate::auth::extract::AdminAccess;
use crate::error::ApiError;
use crate::json::JsonBody;
use crate::settings::editable::setting;
use crate::state::AppState;

/// The settings routes; both need an Admin principal.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/settings", get(show).patch(change))
}

async fn show(_admin: AdminAccess, State(state): State<AppState>) -> Json<Value> {
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

async fn change(
    _admin: AdminAccess,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<Value>, ApiError> {
    let _one_at_a_time = state.settings.changing.lock().await;
    let changes = validate(&state, &body)?;
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
    Ok(Json(state.settings.describe()))
}
