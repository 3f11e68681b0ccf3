//! `GET /api/sites`: the sites that have received events, for the dashboard's
//! site picker.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::auth::extract::StatsAccess;
use crate::error::ApiError;
use crate::state::AppState;

/// The sites route; it needs stats access.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/sites", get(list))
}

async fn list(
    _access: StatsAccess,
    State(state): State<AppState>,
) -> Result<Json<Value>, ApiError> {
    let sites = state.read(|db| db.site_domains()).await?;
    Ok(Json(json!(
        sites
            .into_iter()
            .map(|site| json!({"site_id": site}))
            .collect::<Vec<_>>()
    )))
}
