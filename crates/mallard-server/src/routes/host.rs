//! `GET /api/host`, `PUT /api/host/port` and `POST /api/host/import-logs`:
//! what runs this server (the desktop app or `mallard serve`) and, in the
//! desktop app, moving the server to another port and importing log files
//! the person at the machine picks in a native dialog. All need an Admin
//! principal (and the CSRF check for the changes).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::extract::AdminAccess;
use crate::error::ApiError;
use crate::json::JsonBody;
use crate::routes::imports::{JobInputs, LogImportOptions, spawn_job};
use crate::state::AppState;

/// The host routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/host", get(describe))
        .route("/api/host/port", put(change_port))
        .route("/api/host/import-logs", post(import_logs))
}

/// The body of `PUT /api/host/port`.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct PortChange {
    /// 1024 to 65535.
    port: u16,
}

/// What runs this server.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct HostBody {
    /// `desktop` (the app) or `server` (`mallard serve`).
    kind: &'static str,
    /// The port it listens on.
    port: u16,
    /// Whether `PUT /api/host/port` can move it.
    port_changeable: bool,
    /// Whether it can open a native file dialog.
    file_dialog: bool,
}

/// The answer to a port change.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Moving {
    /// `moving`.
    status: &'static str,
    /// The dashboard's address on the new port.
    url: String,
}

#[utoipa::path(
    get,
    path = "/api/host",
    tag = "Host",
    responses((status = 200, description = "What runs this server", body = HostBody), crate::openapi::responses::AdminErrors),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
async fn describe(_admin: AdminAccess, State(state): State<AppState>) -> Json<HostBody> {
    Json(match state.host.get() {
        Some(host) => HostBody {
            kind: "desktop",
            port: host.port(),
            port_changeable: true,
            file_dialog: true,
        },
        None => HostBody {
            kind: "server",
            port: state.config.port,
            port_changeable: false,
            file_dialog: false,
        },
    })
}

#[utoipa::path(
    put,
    path = "/api/host/port",
    tag = "Host",
    request_body = PortChange,
    responses(
        (status = 202, description = "The server moves", body = Moving),
        (status = 404, description = "Not the desktop app: the configuration sets the port", body = crate::error::ErrorBody),
        (status = 409, description = "The port is taken", body = crate::error::ErrorBody),
        (status = 422, description = "Not the documented body", body = crate::error::ErrorBody),
        crate::openapi::responses::AdminErrors,
    ),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
async fn change_port(
    _admin: AdminAccess,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<PortChange>,
) -> Result<(StatusCode, Json<Moving>), ApiError> {
    let Some(host) = state.host.get() else {
        return Err(ApiError::NotFound(
            "This server's port is set by its configuration (--port, MALLARD_PORT or `port`)"
                .into(),
        ));
    };
    if body.port < 1024 {
        return Err(ApiError::BadRequest(
            "Port must be between 1024 and 65535".into(),
        ));
    }
    if body.port == host.port() {
        return Err(ApiError::BadRequest(format!(
            "The server already listens on port {}",
            body.port
        )));
    }
    let url = host.change_port(body.port).map_err(ApiError::Conflict)?;
    tracing::info!(port = body.port, "moving the server to another port");
    Ok((
        StatusCode::ACCEPTED,
        Json(Moving {
            status: "moving",
            url,
        }),
    ))
}

/// Opens the native file dialog on this machine and imports the log files
/// chosen there, as a job (`GET /api/imports/jobs/{job}`): `choosing` while
/// the dialog is open, `dismissed` if it was closed without a choice. The
/// paths come from the person at the machine, never from the request.
#[utoipa::path(
    post,
    path = "/api/host/import-logs",
    tag = "Host",
    request_body = crate::routes::imports::LogImportOptions,
    responses(
        (status = 202, description = "The dialog opens; the import runs as a job", body = crate::routes::imports::JobStartedJson),
        (status = 404, description = "Not the desktop app: no window to pick files in", body = crate::error::ErrorBody),
        crate::openapi::responses::AdminErrors,
    ),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
async fn import_logs(
    _admin: AdminAccess,
    State(state): State<AppState>,
    JsonBody(options): JsonBody<LogImportOptions>,
) -> Result<(StatusCode, Json<crate::routes::imports::JobStartedJson>), ApiError> {
    let Some(host) = state.host.get().cloned() else {
        return Err(ApiError::NotFound(
            "This server has no window to pick files in: run `mallard import logs` on its machine"
                .into(),
        ));
    };
    let request = options.request(&state, Vec::new())?;
    let job = spawn_job(&state, request, JobInputs::Dialog(host));
    Ok((
        StatusCode::ACCEPTED,
        Json(crate::routes::imports::JobStartedJson { job }),
    ))
}
