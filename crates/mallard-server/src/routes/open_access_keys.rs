//! `GET /api/open-access-keys`, `POST /api/open-access-keys/revoke` and
//! `POST /api/open-access-keys/keep`: the review of the keys created while no
//! admin password was set.
//!
//! Anyone who reached the server in open access could mint keys, and keys
//! keep working after the password is set. So both families' keys created in
//! open access are marked, and once a password protects the server the
//! dashboard lists the active ones with a one-click revoke (or keeps them,
//! which clears the mark).

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use mallard_store::auth::{OpenAccessKey, OpenAccessKeyKind};
use serde::Serialize;

use crate::auth::extract::AdminAccess;
use crate::error::ApiError;
use crate::state::AppState;

/// The review routes; all need an Admin principal.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/open-access-keys", get(list))
        .route("/api/open-access-keys/revoke", post(revoke_all))
        .route("/api/open-access-keys/keep", post(keep_all))
}

/// One listed key.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Listed {
    /// `stats` (an `mm_` key) or `ingestion` (an `lk_live_` key).
    kind: &'static str,
    /// The key hash of a stats key, the id of an ingestion key: what
    /// `DELETE /api/keys/{key_hash}` or `DELETE /api/ingest-keys/{id}` takes.
    id: String,
    name: String,
    scopes: Vec<String>,
    created_at: String,
}

/// The answer of the list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Listing {
    keys: Vec<Listed>,
}

/// The answer of revoke and keep.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Outcome {
    status: &'static str,
    count: usize,
}

impl From<OpenAccessKey> for Listed {
    fn from(key: OpenAccessKey) -> Self {
        Self {
            kind: match key.kind {
                OpenAccessKeyKind::Stats => "stats",
                OpenAccessKeyKind::Ingestion => "ingestion",
            },
            id: key.id,
            name: key.name,
            scopes: key
                .scopes
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
            created_at: crate::clock::rfc3339(key.created_at_ms),
        }
    }
}

#[utoipa::path(
    get,
    path = "/api/open-access-keys",
    operation_id = "list_open_access_keys",
    tag = "Keys",
    responses((status = 200, description = "The keys created before a password was set, not yet reviewed", body = Listing), crate::openapi::responses::AdminErrors),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
async fn list(
    _admin: AdminAccess,
    State(state): State<AppState>,
) -> Result<Json<Listing>, ApiError> {
    let keys = state
        .read(|db| mallard_store::auth::open_access_keys(db.connection()))
        .await?;
    Ok(Json(Listing {
        keys: keys.into_iter().map(Listed::from).collect(),
    }))
}

#[utoipa::path(
    post,
    path = "/api/open-access-keys/revoke",
    operation_id = "revoke_open_access_keys",
    tag = "Keys",
    responses((status = 200, description = "How many were revoked", body = Outcome), crate::openapi::responses::AdminErrors),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
async fn revoke_all(
    _admin: AdminAccess,
    State(state): State<AppState>,
) -> Result<Json<Outcome>, ApiError> {
    let now = crate::clock::now_ms();
    let revoked = state
        .writer
        .run(move |conn| mallard_store::auth::revoke_open_access_keys(conn, now))
        .await
        .map_err(unavailable)?;
    for key in &revoked {
        match key.kind {
            OpenAccessKeyKind::Stats => state.auth.revoke_key(&key.id, now),
            OpenAccessKeyKind::Ingestion => state.collector.keys.revoke(&key.id),
        }
    }
    tracing::info!(
        count = revoked.len(),
        "revoked the keys created in open access"
    );
    Ok(Json(Outcome {
        status: "revoked",
        count: revoked.len(),
    }))
}

#[utoipa::path(
    post,
    path = "/api/open-access-keys/keep",
    operation_id = "keep_open_access_keys",
    tag = "Keys",
    responses((status = 200, description = "How many were kept", body = Outcome), crate::openapi::responses::AdminErrors),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
async fn keep_all(
    _admin: AdminAccess,
    State(state): State<AppState>,
) -> Result<Json<Outcome>, ApiError> {
    let kept = state
        .writer
        .run(mallard_store::auth::keep_open_access_keys)
        .await
        .map_err(unavailable)?;
    Ok(Json(Outcome {
        status: "kept",
        count: kept,
    }))
}

fn unavailable(err: mallard_store::StoreError) -> ApiError {
    tracing::error!(error = %err, "key storage failed");
    ApiError::Unavailable("Database unavailable".into())
}
