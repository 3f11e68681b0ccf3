//! `/admin/api-keys`: mint, list and soft-revoke workspace api keys.
//!
//! Every request needs `Authorization: Bearer <ADMIN_TOKEN>`, compared in
//! constant time over SHA-256 digests. Without `ADMIN_TOKEN` every admin request
//! is 503 (fail closed). Wrong tokens are throttled per client address (see
//! [`crate::auth::lockout`]). A workspace comes into being when its first key is
//! minted. Keys are `lk_live_` + 32 base62 characters from the OS CSPRNG,
//! shown once and stored as SHA-256 with a masked prefix and suffix.

use std::net::IpAddr;

use axum::Json;
use axum::Router;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post};
use bytes::Bytes;
use mallard_store::collector::{ApiKeyRecord, NewApiKey};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

use super::auth::{KEY_PREFIX, SCOPES};
use super::error::{CollectorError, FieldError};
use crate::client_ip::ClientIp;
use crate::routes::metrics::bearer_matches;
use crate::state::AppState;

/// How many random base62 characters follow the key prefix.
pub const KEY_RANDOM_CHARS: usize = 32;
/// The longest key name accepted, in characters.
pub const MAX_KEY_NAME_LEN: usize = 200;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The admin routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/api-keys", post(create).get(list))
        .route("/admin/api-keys/{id}", delete(revoke))
}

#[derive(Debug, Deserialize)]
struct WorkspaceQuery {
    workspace_id: Option<String>,
}

/// What every answer about a key says (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct KeyFields {
    /// The key's id, a UUID.
    pub id: String,
    /// Its workspace, a UUID.
    pub workspace_id: String,
    /// A name for people.
    pub name: String,
    /// The key's first characters (`lk_live_` and four more).
    pub prefix: String,
    /// Its last four characters.
    pub suffix: String,
    /// `ingest:write`, `ingest:server`, `admin`.
    pub scopes: Vec<String>,
    /// RFC 3339.
    pub created_at: String,
}

/// A key as the API lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct KeyMetadata {
    /// The key's fields.
    #[serde(flatten)]
    pub fields: KeyFields,
    /// RFC 3339, or `null` while the key works.
    pub revoked_at: Option<String>,
}

/// The body of `POST /admin/api-keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[expect(
    dead_code,
    reason = "a description of the body: parse_create reads it field by field for the documented errors"
)]
pub struct CreateKeyBody {
    /// The workspace, a UUID.
    workspace_id: String,
    /// 1 to 200 characters.
    name: String,
    /// At least one of `ingest:write`, `ingest:server`, `admin`.
    scopes: Vec<String>,
}

/// A key just minted: the only answer that holds the key itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct MintedKey {
    /// The key's fields.
    #[serde(flatten)]
    pub fields: KeyFields,
    /// The key: `lk_live_` and 32 letters and digits, shown once.
    pub key: String,
}

impl MintedKey {
    /// The answer for `record` and its `key`.
    pub fn of(record: &ApiKeyRecord, key: String) -> Self {
        Self {
            fields: metadata(record).fields,
            key,
        }
    }
}

/// The keys of a workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct KeyList {
    /// The workspace, a UUID.
    pub workspace_id: String,
    /// Its keys, revoked ones included.
    pub keys: Vec<KeyMetadata>,
}

/// Checks the admin bearer token of a request from `ip`. Wrong tokens (not
/// missing ones) are counted per address in the token lockout: once it trips, the address gets
/// 429 with `Retry-After` until it expires, even with the right token.
fn authorize(state: &AppState, headers: &HeaderMap, ip: IpAddr) -> Result<(), CollectorError> {
    let Some(token) = &state.config.collector.admin_token else {
        return Err(CollectorError::Unavailable(
            "Admin endpoints are disabled: ADMIN_TOKEN is not set".into(),
        ));
    };
    let lockout = &state.auth.token_lockout;
    if let Some(retry_after_secs) = lockout.locked_for(ip) {
        return Err(CollectorError::TooManyFailedAttempts { retry_after_secs });
    }
    if bearer_matches(headers, token) {
        Ok(())
    } else {
        // Only a presented token is a guess; a bare request is not counted.
        if headers.contains_key(axum::http::header::AUTHORIZATION)
            && lockout.record_failure(ip).is_some()
        {
            tracing::warn!("admin token attempts locked out after repeated failures");
        }
        Err(CollectorError::Unauthorized(
            "Missing or invalid admin token".into(),
        ))
    }
}

/// Validates a UUID in its 8-4-4-4-12 hex form and returns it in lower case.
pub fn parse_uuid(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let groups: Vec<&str> = raw.split('-').collect();
    let shape_ok = groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.bytes().all(|b| b.is_ascii_hexdigit()));
    shape_ok.then(|| raw.to_ascii_lowercase())
}

/// Fills `out` from the OS CSPRNG.
fn random_bytes(out: &mut [u8]) -> Result<(), CollectorError> {
    getrandom::fill(out).map_err(|err| {
        tracing::error!(error = %err, "the OS random number generator failed");
        CollectorError::Internal
    })
}

/// A fresh UUID v4.
pub fn new_uuid() -> Result<String, CollectorError> {
    let mut b = [0u8; 16];
    random_bytes(&mut b)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex = hex::encode(b);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

/// A fresh key: `lk_live_` + 32 base62 characters, drawn without modulo bias.
pub fn new_key() -> Result<String, CollectorError> {
    let mut key = String::with_capacity(KEY_PREFIX.len() + KEY_RANDOM_CHARS);
    key.push_str(KEY_PREFIX);
    let mut buffer = [0u8; 64];
    while key.len() < KEY_PREFIX.len() + KEY_RANDOM_CHARS {
        random_bytes(&mut buffer)?;
        for byte in buffer {
            // 248 = 4 * 62: bytes above it are dropped so every character is
            // equally likely.
            if byte < 248 && key.len() < KEY_PREFIX.len() + KEY_RANDOM_CHARS {
                key.push(char::from(BASE62[usize::from(byte % 62)]));
            }
        }
    }
    Ok(key)
}

fn timestamp(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// The metadata of a key as the API shows it (never the plaintext).
pub fn metadata(key: &ApiKeyRecord) -> KeyMetadata {
    KeyMetadata {
        fields: KeyFields {
            id: key.id.clone(),
            workspace_id: key.workspace_id.clone(),
            name: key.name.clone(),
            prefix: key.prefix.clone(),
            suffix: key.suffix.clone(),
            scopes: key.scopes.clone(),
            created_at: timestamp(key.created_at),
        },
        revoked_at: key.revoked_at.map(timestamp),
    }
}

fn workspace_of(
    query: Result<Query<WorkspaceQuery>, QueryRejection>,
) -> Result<String, CollectorError> {
    let Query(query) =
        query.map_err(|e| CollectorError::InvalidRequest(format!("Invalid query string: {e}")))?;
    let raw = query
        .workspace_id
        .ok_or_else(|| CollectorError::MissingField("workspace_id".into()))?;
    parse_uuid(&raw).ok_or_else(|| {
        CollectorError::InvalidField(vec![FieldError::new("workspace_id", "must be a UUID")])
    })
}

/// A validated request for a new key.
#[derive(Debug, Clone)]
pub struct KeyRequest {
    /// The workspace (a lower-case UUID).
    pub workspace_id: String,
    /// The key's name.
    pub name: String,
    /// Its scopes, without duplicates.
    pub scopes: Vec<String>,
    /// Whether the key is minted in open access (no admin password yet): it is
    /// then marked for review once the password is set.
    pub created_in_open_access: bool,
}

/// A key name trimmed, if it is 1 to 200 characters without control
/// characters.
pub fn valid_name(raw: &str) -> Option<String> {
    let name = raw.trim();
    (!name.is_empty()
        && name.chars().count() <= MAX_KEY_NAME_LEN
        && !name.chars().any(char::is_control))
    .then(|| name.to_owned())
}

/// The scopes of `values` without duplicates; `Err(true)` when there are
/// none, `Err(false)` when one is not a known scope.
pub fn valid_scopes(values: &[Value]) -> Result<Vec<String>, bool> {
    let mut parsed: Vec<String> = Vec::new();
    for value in values {
        let scope = value.as_str().filter(|s| SCOPES.contains(s)).ok_or(false)?;
        if !parsed.iter().any(|s| s == scope) {
            parsed.push(scope.to_owned());
        }
    }
    if parsed.is_empty() {
        return Err(true);
    }
    Ok(parsed)
}

fn parse_create(body: &[u8]) -> Result<KeyRequest, CollectorError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| CollectorError::InvalidJson(format!("The body is not valid JSON: {e}")))?;
    let Value::Object(map) = value else {
        return Err(CollectorError::InvalidJson(
            "The body must be a JSON object".into(),
        ));
    };
    let field = |name: &str| {
        map.get(name)
            .filter(|v| !v.is_null())
            .ok_or_else(|| CollectorError::MissingField(name.into()))
    };
    let invalid = |name: &str, message: &str| {
        CollectorError::InvalidField(vec![FieldError::new(name, message)])
    };
    let workspace_id = field("workspace_id")?
        .as_str()
        .and_then(parse_uuid)
        .ok_or_else(|| invalid("workspace_id", "must be a UUID"))?;
    let name = field("name")?
        .as_str()
        .and_then(valid_name)
        .ok_or_else(|| {
            invalid(
                "name",
                "must be a non-empty string of at most 200 characters",
            )
        })?;
    let scopes = field("scopes")?
        .as_array()
        .ok_or_else(|| invalid("scopes", "must be an array of scopes"))?;
    let parsed = valid_scopes(scopes).map_err(|empty| {
        if empty {
            invalid("scopes", "at least one scope is required")
        } else {
            invalid(
                "scopes",
                "each scope must be ingest:write, ingest:server or admin",
            )
        }
    })?;
    Ok(KeyRequest {
        workspace_id,
        name,
        scopes: parsed,
        created_in_open_access: false,
    })
}

/// Mints a key for `request`: stores its digest and masked ends, puts it in
/// force at once, and returns its metadata and the plaintext (to be shown
/// once).
pub async fn mint(
    state: &AppState,
    request: KeyRequest,
) -> Result<(ApiKeyRecord, String), CollectorError> {
    let plaintext = new_key()?;
    let key_hash: [u8; 32] = Sha256::digest(plaintext.as_bytes()).into();
    let record = ApiKeyRecord {
        id: new_uuid()?,
        workspace_id: request.workspace_id,
        name: request.name,
        prefix: plaintext[..KEY_PREFIX.len() + 4].to_owned(),
        suffix: plaintext[plaintext.len() - 4..].to_owned(),
        scopes: request.scopes,
        created_at: OffsetDateTime::now_utc().unix_timestamp() * 1000,
        revoked_at: None,
    };
    let new_key = NewApiKey {
        record: record.clone(),
        key_hash,
    };
    let open_access = request.created_in_open_access;
    state
        .writer
        .run(move |conn| {
            mallard_store::collector::insert_api_key(conn, &new_key)?;
            if open_access {
                mallard_store::auth::mark_ingestion_key_created_in_open_access(
                    conn,
                    &new_key.record.id,
                )?;
            }
            Ok(())
        })
        .await
        .map_err(|err| {
            tracing::error!(error = %err, "cannot store an api key");
            CollectorError::Unavailable("The database cannot take writes right now".into())
        })?;
    state.collector.keys.insert(key_hash, record.clone());
    Ok((record, plaintext))
}

#[utoipa::path(
    post,
    path = "/admin/api-keys",
    operation_id = "create_workspace_key",
    tag = "Collector admin",
    request_body = CreateKeyBody,
    responses((status = 201, description = "The key, shown once", body = MintedKey), (status = 400, description = "A bad body or query (the envelope's code names it)", body = crate::collector::error::CollectorErrorBody), (status = 401, description = "A missing or wrong ADMIN_TOKEN", body = crate::collector::error::CollectorErrorBody), (status = 429, description = "Too many wrong tokens", body = crate::collector::error::CollectorErrorBody), (status = 503, description = "ADMIN_TOKEN is not set, or the database is not ready", body = crate::collector::error::CollectorErrorBody)),
    security(("admin_token" = []))
)]
async fn create(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, CollectorError> {
    authorize(&state, &headers, ip)?;
    let body =
        body.map_err(|e| CollectorError::InvalidRequest(format!("Cannot read the body: {e}")))?;
    let request = parse_create(&body)?;
    let (record, plaintext) = mint(&state, request).await?;
    Ok((StatusCode::CREATED, Json(MintedKey::of(&record, plaintext))).into_response())
}

#[utoipa::path(
    get,
    path = "/admin/api-keys",
    operation_id = "list_workspace_keys",
    tag = "Collector admin",
    params(("workspace_id" = String, Query, description = "The workspace, a UUID")),
    responses((status = 200, description = "The workspace's keys", body = KeyList), (status = 400, description = "A bad body or query (the envelope's code names it)", body = crate::collector::error::CollectorErrorBody), (status = 401, description = "A missing or wrong ADMIN_TOKEN", body = crate::collector::error::CollectorErrorBody), (status = 429, description = "Too many wrong tokens", body = crate::collector::error::CollectorErrorBody), (status = 503, description = "ADMIN_TOKEN is not set, or the database is not ready", body = crate::collector::error::CollectorErrorBody)),
    security(("admin_token" = []))
)]
async fn list(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    query: Result<Query<WorkspaceQuery>, QueryRejection>,
) -> Result<Response, CollectorError> {
    authorize(&state, &headers, ip)?;
    let workspace = workspace_of(query)?;
    let id = workspace.clone();
    let keys = state
        .read(move |db| db.collector_api_keys(&id))
        .await
        .map_err(|_| CollectorError::Unavailable("The database is not ready".into()))?;
    Ok(Json(KeyList {
        workspace_id: workspace,
        keys: keys.iter().map(metadata).collect(),
    })
    .into_response())
}

#[utoipa::path(
    delete,
    path = "/admin/api-keys/{id}",
    operation_id = "revoke_workspace_key",
    tag = "Collector admin",
    params(("id" = String, Path, description = "The key's id"), ("workspace_id" = String, Query, description = "The workspace, a UUID")),
    responses((status = 200, description = "The key, now revoked", body = KeyMetadata), (status = 404, description = "No such key in the workspace", body = crate::collector::error::CollectorErrorBody), (status = 400, description = "A bad body or query (the envelope's code names it)", body = crate::collector::error::CollectorErrorBody), (status = 401, description = "A missing or wrong ADMIN_TOKEN", body = crate::collector::error::CollectorErrorBody), (status = 429, description = "Too many wrong tokens", body = crate::collector::error::CollectorErrorBody), (status = 503, description = "ADMIN_TOKEN is not set, or the database is not ready", body = crate::collector::error::CollectorErrorBody)),
    security(("admin_token" = []))
)]
async fn revoke(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(id): Path<String>,
    query: Result<Query<WorkspaceQuery>, QueryRejection>,
) -> Result<Response, CollectorError> {
    authorize(&state, &headers, ip)?;
    let workspace = workspace_of(query)?;
    let not_found = || CollectorError::NotFound("No such api key in this workspace".into());
    let id = parse_uuid(&id).ok_or_else(not_found)?;
    let now = OffsetDateTime::now_utc().unix_timestamp() * 1000;
    let key_id = id.clone();
    let revoked = state
        .writer
        .run(move |conn| mallard_store::collector::revoke_api_key(conn, &workspace, &key_id, now))
        .await
        .map_err(|err| {
            tracing::error!(error = %err, "cannot revoke an api key");
            CollectorError::Unavailable("The database cannot take writes right now".into())
        })?
        .ok_or_else(not_found)?;
    state.collector.keys.revoke(&id);
    Ok(Json(metadata(&revoked)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_the_documented_shape_and_differ() {
        let a = new_key().unwrap();
        let b = new_key().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), KEY_PREFIX.len() + KEY_RANDOM_CHARS);
        assert!(a.starts_with(KEY_PREFIX));
        assert!(
            a[KEY_PREFIX.len()..]
                .bytes()
                .all(|c| c.is_ascii_alphanumeric())
        );
    }

    #[test]
    fn uuids_are_validated_and_generated_as_v4() {
        let id = new_uuid().unwrap();
        assert_eq!(parse_uuid(&id).as_deref(), Some(id.as_str()));
        assert_eq!(&id[14..15], "4");
        assert_eq!(
            parse_uuid("6F1C5A1E-8D7B-4C1E-9A43-0B6A8E0F7D21").as_deref(),
            Some("6f1c5a1e-8d7b-4c1e-9a43-0b6a8e0f7d21")
        );
        for bad in [
            "",
            "not-a-uuid",
            "6f1c5a1e8d7b4c1e9a430b6a8e0f7d21",
            "6f1c5a1e-8d7b-4c1e-9a43-0b6a8e0f7d2g",
        ] {
            assert!(parse_uuid(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn create_requests_are_validated() {
        let ok = br#"{"workspace_id":"6f1c5a1e-8d7b-4c1e-9a43-0b6a8e0f7d21","name":"ci","scopes":["ingest:write","ingest:write"]}"#;
        let request = parse_create(ok).unwrap();
        assert_eq!(request.scopes, ["ingest:write"]);
        let code = |body: &str| parse_create(body.as_bytes()).err().map(|e| e.code());
        assert_eq!(code("[]"), Some("invalid_json"));
        assert_eq!(
            code(r#"{"name":"x","scopes":["admin"]}"#),
            Some("missing_field")
        );
        assert_eq!(
            code(r#"{"workspace_id":"nope","name":"x","scopes":["admin"]}"#),
            Some("invalid_field")
        );
        assert_eq!(
            code(
                r#"{"workspace_id":"6f1c5a1e-8d7b-4c1e-9a43-0b6a8e0f7d21","name":"x","scopes":["root"]}"#
            ),
            Some("invalid_field")
        );
        assert_eq!(
            code(
                r#"{"workspace_id":"6f1c5a1e-8d7b-4c1e-9a43-0b6a8e0f7d21","name":"x","scopes":[]}"#
            ),
            Some("invalid_field")
        );
    }
}
