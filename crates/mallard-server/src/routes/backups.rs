//! `GET /api/backups` (the backup settings in force, the latest outcome and
//! the automatic backups on disk) and `POST /api/backups` (take one now:
//! into the backup directory, or, for a client on this machine, to the file
//! it names). Both need an Admin principal (and the CSRF check for the
//! change).

use std::path::PathBuf;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::auth::extract::AdminAccess;
use crate::backups::{BackupFile, BackupRecord, LastBackup, Target, backup_dir, backup_files};
use crate::error::ApiError;
use crate::json::JsonBody;
use crate::state::AppState;

/// The backup routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/backups", get(list).post(take))
}

/// The body of `GET /api/backups`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BackupsBody {
    /// Where automatic backups go.
    #[schema(value_type = String)]
    dir: PathBuf,
    /// `off`, `hourly`, `daily` or `weekly`.
    every: &'static str,
    /// How many automatic backups are kept.
    keep: u32,
    /// Whether a backup is running now.
    running: bool,
    /// The latest backup of this server run, `null` before the first.
    last: Option<LastBackup>,
    /// The automatic backups on disk, newest first.
    files: Vec<BackupFile>,
    /// Why the backup directory cannot be listed, when it cannot.
    files_error: Option<String>,
}

/// The body of `POST /api/backups`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BackupRequest {
    /// An absolute file to write the backup to (a client on this machine
    /// only); absent, a new file in the backup directory.
    #[serde(default)]
    to: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/backups",
    operation_id = "list_backups",
    tag = "Backups",
    responses(
        (status = 200, description = "The backups", body = BackupsBody),
        crate::openapi::responses::AdminErrors,
    ),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
async fn list(
    _admin: AdminAccess,
    State(state): State<AppState>,
) -> Result<Json<BackupsBody>, ApiError> {
    let dir = backup_dir(&state);
    let listed = dir.clone();
    let listing = tokio::task::spawn_blocking(move || backup_files(&listed))
        .await
        .map_err(|_| ApiError::Internal)?;
    let (files, files_error) = match listing {
        Ok(files) => (files, None),
        Err(err) => (
            Vec::new(),
            Some(format!("Cannot list {}: {err}", dir.display())),
        ),
    };
    let live = state.settings.get();
    Ok(Json(BackupsBody {
        dir,
        every: live.backup_every.as_str(),
        keep: live.backup_keep,
        running: state.backups.is_running(),
        last: state.backups.last(),
        files,
        files_error,
    }))
}

#[utoipa::path(
    post,
    path = "/api/backups",
    operation_id = "take_backup",
    tag = "Backups",
    request_body = BackupRequest,
    responses(
        (status = 201, description = "The backup, checked", body = BackupRecord),
        (status = 409, description = "A backup is already running", body = crate::error::ErrorBody),
        crate::openapi::responses::AdminErrors,
    ),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
async fn take(
    AdminAccess(principal): AdminAccess,
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<BackupRequest>,
) -> Result<(StatusCode, Json<BackupRecord>), ApiError> {
    let target = match body
        .to
        .as_deref()
        .map(str::trim)
        .filter(|to| !to.is_empty())
    {
        None => Target::Directory,
        Some(to) => {
            if !(principal == Principal::OpenAccess || state.auth.is_local_admin(&headers)) {
                return Err(ApiError::Forbidden(
                    "Only this machine may name the backup's file: run `mallard backup --to FILE` \
                     here, or leave `to` out to write into the backup directory"
                        .into(),
                ));
            }
            let path = PathBuf::from(to);
            if !path.is_absolute() {
                return Err(ApiError::BadRequest(format!(
                    "to: {to:?} must be an absolute path"
                )));
            }
            Target::File(path)
        }
    };
    let record = state.backups.take(&state, target, false).await?;
    Ok((StatusCode::CREATED, Json(record)))
}
