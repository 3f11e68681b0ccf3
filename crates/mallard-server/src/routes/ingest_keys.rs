//! `GET /api/ingest-keys`, `POST /api/ingest-keys` and
//! `DELETE /api/ingest-keys/{id}`: the collector family's `lk_live_` keys,
//! managed from the dashboard (a session or an Admin `mm_` key, CSRF
//! protected) instead of with `ADMIN_TOKEN`. The keys are the same ones
//! `/admin/api-keys` mints and lists, across every workspace.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::auth::extract::AdminAccess;
use crate::collector::CollectorError;
use crate::collector::admin::{
    KeyMetadata, KeyRequest, metadata, mint, new_uuid, parse_uuid, valid_name, valid_scopes,
};
use crate::error::ApiError;
use crate::json::JsonBody;
use crate::state::AppState;

/// The ingestion key routes; all need an Admin principal.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/ingest-keys", get(list).post(create))
        .route("/api/ingest-keys/{id}", delete(revoke))
}

/// A key just minted from the dashboard: its metadata and, once, the key.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CreatedIngestKey {
    /// The key's metadata.
    #[serde(flatten)]
    metadata: KeyMetadata,
    /// The key (`lk_live_...`), shown once.
    key: String,
}

/// The body of `POST /api/ingest-keys`.
#[derive(Debug, serde::Deserialize, ToSchema)]
#[expect(
    dead_code,
    reason = "a description of the body: parse reads it field by field for the documented errors"
)]
pub(crate) struct CreateIngestKey {
    /// 1 to 200 characters.
    name: String,
    /// At least one of `ingest:write`, `ingest:server`, `admin`.
    scopes: Vec<String>,
    /// A workspace UUID; absent, the newest key's workspace.
    workspace_id: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/ingest-keys",
    operation_id = "list_ingest_keys",
    tag = "Keys",
    responses(
        (status = 200, description = "Every ingestion key of every workspace", body = Vec<KeyMetadata>),
        crate::openapi::responses::AdminErrors,
    ),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
async fn list(
    _admin: AdminAccess,
    State(state): State<AppState>,
) -> Result<Json<Vec<KeyMetadata>>, ApiError> {
    let keys = state.read(|db| db.collector_all_api_keys()).await?;
    Ok(Json(keys.iter().map(metadata).collect()))
}

/// Validates a create body; the error is the message of a 400 answer.
fn parse(body: &Value) -> Result<(String, Vec<String>, Option<String>), String> {
    let object = body
        .as_object()
        .ok_or("The body must be a JSON object with name and scopes")?;
    let name = object
        .get("name")
        .and_then(Value::as_str)
        .and_then(valid_name)
        .ok_or("name must be a non-empty string of at most 200 characters")?;
    let scopes = object
        .get("scopes")
        .and_then(Value::as_array)
        .ok_or("scopes must be a list of scopes")
        .and_then(|list| {
            valid_scopes(list).map_err(|empty| {
                if empty {
                    "scopes must name at least one scope"
                } else {
                    "each scope must be ingest:write, ingest:server or admin"
                }
            })
        })?;
    let workspace = match object.get("workspace_id") {
        None | Some(Value::Null) => None,
        Some(value) => Some(
            value
                .as_str()
                .and_then(parse_uuid)
                .ok_or("workspace_id must be a UUID")?,
        ),
    };
    Ok((name, scopes, workspace))
}

#[utoipa::path(
    post,
    path = "/api/ingest-keys",
    operation_id = "create_ingest_key",
    tag = "Keys",
    request_body = CreateIngestKey,
    responses(
        (status = 201, description = "The key, shown once", body = CreatedIngestKey),
        crate::openapi::responses::AdminErrors,
    ),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
async fn create(
    AdminAccess(principal): AdminAccess,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<Value>,
) -> Result<(StatusCode, Json<CreatedIngestKey>), ApiError> {
    let (name, scopes, workspace) = parse(&body).map_err(ApiError::BadRequest)?;
    // Without a workspace the key joins the newest key's workspace, so the
    // keys of one laptop share one workspace; the very first starts one.
    let workspace_id = match workspace {
        Some(id) => id,
        None => {
            let newest = state
                .read(|db| db.collector_all_api_keys())
                .await?
                .into_iter()
                .next();
            match newest {
                Some(key) => key.workspace_id,
                None => new_uuid().map_err(to_api)?,
            }
        }
    };
    let request = KeyRequest {
        workspace_id,
        name,
        scopes,
        created_in_open_access: principal == Principal::OpenAccess,
    };
    let (record, plaintext) = mint(&state, request).await.map_err(to_api)?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedIngestKey {
            metadata: metadata(&record),
            key: plaintext,
        }),
    ))
}

#[utoipa::path(
    delete,
    path = "/api/ingest-keys/{id}",
    operation_id = "revoke_ingest_key",
    tag = "Keys",
    params(("id" = String, Path, description = "The key's id, a UUID")),
    responses(
        (status = 200, description = "The key, now revoked", body = KeyMetadata),
        (status = 404, description = "No such key", body = crate::error::ErrorBody),
        crate::openapi::responses::AdminErrors,
    ),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
async fn revoke(
    _admin: AdminAccess,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<KeyMetadata>, ApiError> {
    let not_found = || ApiError::NotFound("Ingestion key not found".into());
    let id = parse_uuid(&id).ok_or_else(not_found)?;
    let now = crate::clock::now_ms();
    let key_id = id.clone();
    let revoked = state
        .writer
        .run(move |conn| mallard_store::collector::revoke_api_key_by_id(conn, &key_id, now))
        .await
        .map_err(|err| {
            tracing::error!(error = %err, "cannot revoke an ingestion key");
            ApiError::Unavailable("Database unavailable".into())
        })?
        .ok_or_else(not_found)?;
    state.collector.keys.revoke(&id);
    Ok(Json(metadata(&revoked)))
}

fn to_api(err: CollectorError) -> ApiError {
    match err {
        CollectorError::Unavailable(message) => ApiError::Unavailable(message),
        _ => ApiError::Internal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn create_bodies_are_validated_with_documented_messages() {
        let err = |body: Value| parse(&body).unwrap_err();
        assert_eq!(
            err(json!([])),
            "The body must be a JSON object with name and scopes"
        );
        assert_eq!(
            err(json!({"scopes": ["admin"]})),
            "name must be a non-empty string of at most 200 characters"
        );
        assert_eq!(err(json!({"name": "x"})), "scopes must be a list of scopes");
        assert_eq!(
            err(json!({"name": "x", "scopes": []})),
            "scopes must name at least one scope"
        );
        assert_eq!(
            err(json!({"name": "x", "scopes": ["root"]})),
            "each scope must be ingest:write, ingest:server or admin"
        );
        assert_eq!(
            err(json!({"name": "x", "scopes": ["admin"], "workspace_id": "ws"})),
            "workspace_id must be a UUID"
        );
        let (name, scopes, workspace) =
            parse(&json!({"name": " site ", "scopes": ["ingest:write", "ingest:write"]})).unwrap();
        assert_eq!((name.as_str(), scopes.len(), workspace), ("site", 1, None));
    }
}
