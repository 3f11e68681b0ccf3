//! `POST /api/keys`, `GET /api/keys` and `DELETE /api/keys/{key_hash}`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use mallard_core::Scope;
use mallard_core::scope::validate_key_name;
use mallard_store::auth::ApiKeyRecord;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::auth::extract::AdminAccess;
use crate::auth::secrets::{new_api_key, sha256_hex};
use crate::error::ApiError;
use crate::json::JsonBody;
use crate::state::AppState;

/// The key management routes; all need an Admin principal.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/keys", get(list).post(create))
        .route("/api/keys/{key_hash}", delete(revoke))
}

/// The body of `POST /api/keys`.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct CreateKey {
    /// A name for people: 1 to 100 characters.
    name: String,
    /// `Admin` or `ReadOnly`.
    #[schema(example = "ReadOnly")]
    scope: String,
}

/// A new key: the only time the key itself is shown.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CreatedKey {
    /// The key (`mm_...`); only its hash is stored.
    key: String,
    /// The SHA-256 of the key, hex: its id.
    key_hash: String,
    name: String,
    /// `Admin` or `ReadOnly`.
    scope: &'static str,
}

/// A key in the list (never the key itself).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct KeyListing {
    key_hash: String,
    name: String,
    /// `Admin` or `ReadOnly`.
    scope: &'static str,
    /// RFC 3339.
    created_at: String,
    revoked: bool,
}

/// The answer to a revocation.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Revoked {
    /// `revoked`.
    status: &'static str,
}

#[utoipa::path(
    post,
    path = "/api/keys",
    operation_id = "create_api_key",
    tag = "Keys",
    request_body = CreateKey,
    responses(
        (status = 201, description = "The key, shown once", body = CreatedKey),
        (status = 422, description = "A bad name or scope", body = crate::error::ErrorBody),
        crate::openapi::responses::AdminErrors,
    ),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
async fn create(
    AdminAccess(principal): AdminAccess,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<CreateKey>,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    let name = validate_key_name(&body.name).map_err(ApiError::Unprocessable)?;
    let scope: Scope = body.scope.parse().map_err(ApiError::Unprocessable)?;
    let key = new_api_key().map_err(|_| ApiError::Internal)?;
    let record = ApiKeyRecord {
        key_hash: sha256_hex(&key),
        name,
        scope,
        created_at_ms: crate::clock::now_ms(),
        revoked_at_ms: None,
    };
    let stored = record.clone();
    // A key minted without a password may come from anyone who reached the
    // server then: it is marked for review once the password is set.
    let open_access = principal == Principal::OpenAccess;
    state
        .writer
        .run(move |conn| {
            mallard_store::auth::insert_api_key(conn, &stored)?;
            if open_access {
                mallard_store::auth::mark_created_in_open_access(conn, &stored.key_hash)?;
            }
            Ok(())
        })
        .await
        .map_err(unavailable)?;
    state.auth.add_key(record.clone());
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            key,
            key_hash: record.key_hash,
            name: record.name,
            scope: record.scope.as_str(),
        }),
    ))
}

#[utoipa::path(
    get,
    path = "/api/keys",
    operation_id = "list_api_keys",
    tag = "Keys",
    responses(
        (status = 200, description = "Every key, revoked ones included", body = Vec<KeyListing>),
        crate::openapi::responses::AdminErrors,
    ),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
async fn list(
    _admin: AdminAccess,
    State(state): State<AppState>,
) -> Result<Json<Vec<KeyListing>>, ApiError> {
    let keys = state
        .read(|db| mallard_store::auth::list_api_keys(db.connection()))
        .await?;
    Ok(Json(
        keys.into_iter()
            .map(|key| KeyListing {
                created_at: crate::clock::rfc3339(key.created_at_ms),
                revoked: key.revoked_at_ms.is_some(),
                key_hash: key.key_hash,
                name: key.name,
                scope: key.scope.as_str(),
            })
            .collect(),
    ))
}

#[utoipa::path(
    delete,
    path = "/api/keys/{key_hash}",
    operation_id = "revoke_api_key",
    tag = "Keys",
    params(("key_hash" = String, Path, description = "The key's SHA-256, hex")),
    responses(
        (status = 200, description = "Revoked", body = Revoked),
        (status = 404, description = "No such key", body = crate::error::ErrorBody),
        crate::openapi::responses::AdminErrors,
    ),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
async fn revoke(
    _admin: AdminAccess,
    State(state): State<AppState>,
    Path(key_hash): Path<String>,
) -> Result<Json<Revoked>, ApiError> {
    let well_formed = key_hash.len() == 64 && key_hash.bytes().all(|b| b.is_ascii_hexdigit());
    if !well_formed {
        return Err(not_found());
    }
    let key_hash = key_hash.to_ascii_lowercase();
    let now = crate::clock::now_ms();
    let target = key_hash.clone();
    let found = state
        .writer
        .run(move |conn| mallard_store::auth::revoke_api_key(conn, &target, now))
        .await
        .map_err(unavailable)?;
    if !found {
        return Err(not_found());
    }
    state.auth.revoke_key(&key_hash, now);
    Ok(Json(Revoked { status: "revoked" }))
}

fn not_found() -> ApiError {
    ApiError::NotFound("Key not found".into())
}

fn unavailable(err: mallard_store::StoreError) -> ApiError {
    tracing::error!(error = %err, "key storage failed");
    ApiError::Unavailable("Database unavailable".into())
}
