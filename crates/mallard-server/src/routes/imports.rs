//! Imports over HTTP (docs/api.md, "Imports"):
//!
//! - `GET /api/imports` (Admin): every import, newest first.
//! - `DELETE /api/imports/{id}` (Admin): undo one: its visits and events go,
//!   the stats follow, and its files can be imported again.
//! - `POST /api/imports/logs` (Admin, and from this machine only: the local
//!   admin token of `mallard import`, or open access): import log files that
//!   are on this machine, named by path, in the background; answered `202`
//!   with the job to poll. A remote client may not name server paths.
//! - `GET /api/imports/jobs/{job}` (Admin): a job's progress, then its report.
//! - `DELETE /api/imports/jobs/{job}` (Admin): stop a running job; what it
//!   read stays imported, and importing the same files again goes on from
//!   there.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use mallard_core::SiteId;
use mallard_core::access_log::{ExcludePattern, LogFilter};
use mallard_store::imports::{ImportRecord, Undo};
use serde::{Deserialize, Serialize};

use crate::auth::Principal;
use crate::auth::extract::AdminAccess;
use crate::error::ApiError;
use crate::host_control::HostControl;
use crate::import::jobs::{Cancel, JobState};
use crate::import::{FileOutcome, ImportReport, LineCounts, LogImportRequest, import_logs};
use crate::json::JsonBody;
use crate::state::AppState;

/// The imports routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/imports", get(list))
        .route("/api/imports/{id}", delete(undo))
        .route("/api/imports/logs", post(start_logs))
        .route("/api/imports/jobs/{job}", get(job).delete(cancel_job))
}

/// One import as listed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ImportJson {
    id: i64,
    site_id: String,
    kind: String,
    format: String,
    started_at: String,
    finished_at: Option<String>,
    undone_at: Option<String>,
    lines: u64,
    imported: u64,
    unparsed: u64,
    /// Lines left out, by reason.
    #[schema(value_type = std::collections::BTreeMap<String, u64>)]
    skipped: serde_json::Map<String, serde_json::Value>,
    first_event_at: Option<String>,
    last_event_at: Option<String>,
    files: Vec<String>,
}

impl From<ImportRecord> for ImportJson {
    fn from(record: ImportRecord) -> Self {
        let time = |ms: Option<i64>| ms.map(crate::clock::rfc3339);
        Self {
            id: record.id,
            site_id: record.site,
            kind: record.kind,
            format: record.format,
            started_at: crate::clock::rfc3339(record.started_at),
            finished_at: time(record.finished_at),
            undone_at: time(record.undone_at),
            lines: record.counts.lines,
            imported: record.counts.imported,
            unparsed: record.counts.unparsed,
            skipped: serde_json::from_str(&record.counts.skipped_json).unwrap_or_default(),
            first_event_at: time(record.counts.first_ts),
            last_event_at: time(record.counts.last_ts),
            files: record.files,
        }
    }
}

#[utoipa::path(
    get,
    path = "/api/imports",
    operation_id = "list_imports",
    tag = "Imports",
    responses((status = 200, description = "Every import, newest first", body = Vec<ImportJson>), crate::openapi::responses::AdminErrors),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
async fn list(
    _admin: AdminAccess,
    State(state): State<AppState>,
) -> Result<Json<Vec<ImportJson>>, ApiError> {
    let imports = state.read(|db| db.imports()).await?;
    Ok(Json(imports.into_iter().map(ImportJson::from).collect()))
}

/// What an undo answers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct UndoneJson {
    id: i64,
    visits_removed: u64,
    events_removed: u64,
}

#[utoipa::path(
    delete,
    path = "/api/imports/{id}",
    operation_id = "undo_import",
    tag = "Imports",
    params(("id" = i64, Path, description = "The import's id")),
    responses((status = 200, description = "What the undo removed", body = UndoneJson), (status = 404, description = "No such import", body = crate::error::ErrorBody), (status = 409, description = "Undone already", body = crate::error::ErrorBody), crate::openapi::responses::AdminErrors),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
async fn undo(
    _admin: AdminAccess,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<UndoneJson>, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::NotFound("No such import".into()))?;
    let now = crate::clock::now_ms();
    let undone = state
        .writer
        .rewrite(move |conn| mallard_store::imports::undo_import(conn, id, now))
        .await
        .map_err(|err| {
            tracing::error!(error = %err, import = id, "undoing an import failed");
            ApiError::Unavailable("Database unavailable".into())
        })?;
    match undone {
        Undo::NotFound => Err(ApiError::NotFound("No such import".into())),
        Undo::AlreadyUndone(at) => Err(ApiError::Conflict(format!(
            "Import {id} was undone already, at {}",
            crate::clock::rfc3339(at)
        ))),
        Undo::Undone { visits, events } => Ok(Json(UndoneJson {
            id,
            visits_removed: visits,
            events_removed: events,
        })),
    }
}

/// The body of `POST /api/imports/logs` (unknown fields are refused by
/// the flattened options).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct LogImportBody {
    #[serde(flatten)]
    options: LogImportOptions,
    files: Vec<String>,
    /// Keep reading the (one) file as it grows, across log rotation, until
    /// the job is stopped (`DELETE /api/imports/jobs/{job}`).
    #[serde(default)]
    follow: bool,
}

/// How to read the logs: the site, the format, what to leave out.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LogImportOptions {
    site_id: String,
    /// What the files are: `auto` (the default: an access log format told
    /// from the first lines), an access log format (`combined`, `common`,
    /// `combined-vhost`, `caddy`, `cloudfront`, `bunny`, `log:<fields>`), or
    /// `goatcounter` (GoatCounter CSV exports, format version 2), or
    /// `plausible` (Plausible's CSV export: its zip, a directory of its CSV
    /// files, or the files; daily aggregates, counted with
    /// `with_imported=true`).
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    exclude: Vec<String>,
    #[serde(default)]
    include_static: bool,
}

impl LogImportOptions {
    /// The import of `inputs` these options describe, or what is wrong
    /// with them (a 400).
    pub(crate) fn request(
        &self,
        state: &AppState,
        inputs: Vec<PathBuf>,
    ) -> Result<LogImportRequest, ApiError> {
        let site = SiteId::parse(&self.site_id)
            .map_err(|e| ApiError::BadRequest(format!("site_id: {e}")))?;
        let format = self
            .format
            .as_deref()
            .unwrap_or("auto")
            .parse::<crate::import::ImportFormat>()
            .map_err(ApiError::BadRequest)?;
        let patterns = self
            .exclude
            .iter()
            .map(|pattern| ExcludePattern::parse(pattern))
            .collect::<Result<Vec<_>, _>>()
            .map_err(ApiError::BadRequest)?;
        Ok(LogImportRequest {
            site,
            format,
            filter: LogFilter::new(self.include_static, patterns),
            filter_bots: state.settings.get().filter_bots,
            inputs,
            follow: None,
            cancel: Arc::default(),
        })
    }
}

/// What starting an import answers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct JobStartedJson {
    pub(crate) job: u64,
}

#[utoipa::path(
    post,
    path = "/api/imports/logs",
    tag = "Imports",
    request_body = LogImportBody,
    responses((status = 202, description = "The import runs as a job", body = JobStartedJson), crate::openapi::responses::AdminErrors),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
async fn start_logs(
    AdminAccess(principal): AdminAccess,
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<LogImportBody>,
) -> Result<(StatusCode, Json<JobStartedJson>), ApiError> {
    if !(principal == Principal::OpenAccess || state.auth.is_local_admin(&headers)) {
        return Err(ApiError::Forbidden(
            "Only this machine may import files by path: run `mallard import logs` here".into(),
        ));
    }
    if body.files.is_empty() {
        return Err(ApiError::BadRequest(
            "files must name at least one log file".into(),
        ));
    }
    let inputs: Vec<PathBuf> = body
        .files
        .iter()
        .map(|file| {
            let path = PathBuf::from(file);
            if path.is_absolute() {
                Ok(path)
            } else {
                Err(ApiError::BadRequest(format!(
                    "files: {file:?} must be an absolute path"
                )))
            }
        })
        .collect::<Result<_, _>>()?;
    if body.follow && inputs.len() != 1 {
        return Err(ApiError::BadRequest(
            "follow reads one log file: name exactly one".into(),
        ));
    }
    let mut request = body.options.request(&state, inputs)?;
    request.follow = body.follow.then_some(crate::import::FOLLOW_POLL);
    let job = spawn_job(&state, request, JobInputs::Given);
    Ok((StatusCode::ACCEPTED, Json(JobStartedJson { job })))
}

/// Where a job's files come from.
pub(crate) enum JobInputs {
    /// The request names them.
    Given,
    /// The person at the machine picks them in the host's native dialog.
    Dialog(Arc<dyn HostControl>),
}

/// Runs `request` on a blocking thread as a new job, reporting to
/// [`AppState::imports`]; returns the job's id.
pub(crate) fn spawn_job(state: &AppState, mut request: LogImportRequest, inputs: JobInputs) -> u64 {
    let (job, cancel) = state.imports.start();
    request.cancel = cancel;
    let jobs = state.clone();
    let writer = state.writer.clone();
    let geolocator = state.geo.current();
    if matches!(inputs, JobInputs::Dialog(_)) {
        jobs.imports.set(job, JobState::Choosing);
    }
    tokio::task::spawn_blocking(move || {
        if let JobInputs::Dialog(host) = inputs {
            match host.pick_log_files() {
                Some(files) if !files.is_empty() && !request.cancel.load(Ordering::Relaxed) => {
                    request.inputs = files;
                }
                _ => {
                    jobs.imports.set(job, JobState::Dismissed);
                    return;
                }
            }
            jobs.imports.set(job, JobState::starting());
        }
        let mut report = |progress: crate::import::Progress<'_>| {
            jobs.imports.set(
                job,
                JobState::Running {
                    file: progress.file.to_owned(),
                    offset: progress.offset,
                    bytes_done: progress.bytes_done,
                    bytes_total: progress.bytes_total,
                    counts: progress.counts.clone(),
                },
            );
        };
        let outcome = import_logs(
            &writer,
            geolocator,
            request,
            crate::clock::now_ms(),
            &mut report,
        );
        jobs.imports.set(
            job,
            match outcome {
                Ok(report) => JobState::Finished(Box::new(report)),
                Err(err) => JobState::Failed(err.to_string()),
            },
        );
    });
    job
}

/// What asking a job to stop answers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct StoppingJson {
    job: u64,
    status: &'static str,
}

#[utoipa::path(
    delete,
    path = "/api/imports/jobs/{job}",
    tag = "Imports",
    params(("job" = u64, Path, description = "The job's id")),
    responses((status = 202, description = "The job stops", body = StoppingJson), (status = 404, description = "No such job", body = crate::error::ErrorBody), (status = 409, description = "The job has ended", body = crate::error::ErrorBody), crate::openapi::responses::AdminErrors),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
async fn cancel_job(
    _admin: AdminAccess,
    State(state): State<AppState>,
    Path(job): Path<String>,
) -> Result<(StatusCode, Json<StoppingJson>), ApiError> {
    let id = job_id(&job)?;
    match state.imports.cancel(id) {
        Cancel::NotFound => Err(ApiError::NotFound("No such import job".into())),
        Cancel::Ended => Err(ApiError::Conflict(format!(
            "Import job {id} has ended already"
        ))),
        Cancel::Stopping => Ok((
            StatusCode::ACCEPTED,
            Json(StoppingJson {
                job: id,
                status: "stopping",
            }),
        )),
    }
}

/// Counts as the job answer shows them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct CountsJson {
    lines: u64,
    imported: u64,
    unparsed: u64,
    skipped: std::collections::BTreeMap<&'static str, u64>,
    first_errors: Vec<LineErrorJson>,
    first_event_at: Option<String>,
    last_event_at: Option<String>,
}

/// An unreadable line.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct LineErrorJson {
    file: String,
    line: u64,
    error: String,
}

impl From<&LineCounts> for CountsJson {
    fn from(counts: &LineCounts) -> Self {
        Self {
            lines: counts.lines,
            imported: counts.imported,
            unparsed: counts.unparsed,
            skipped: counts
                .skipped
                .iter()
                .map(|(reason, count)| (reason.name(), *count))
                .collect(),
            first_errors: counts
                .first_errors
                .iter()
                .map(|(line, file, error)| LineErrorJson {
                    file: file.clone(),
                    line: *line,
                    error: error.clone(),
                })
                .collect(),
            first_event_at: counts.first_ts.map(crate::clock::rfc3339),
            last_event_at: counts.last_ts.map(crate::clock::rfc3339),
        }
    }
}

/// A file's outcome.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct FileJson {
    file: String,
    outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    from_line: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// A job as `GET /api/imports/jobs/{job}` shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct JobJson {
    job: u64,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    import_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    format: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detected: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    offset: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bytes_done: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bytes_total: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    counts: Option<CountsJson>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    files: Vec<FileJson>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    rolled_back: Vec<UndoneJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

fn finished(job: u64, report: &ImportReport) -> JobJson {
    JobJson {
        job,
        status: if report.cancelled {
            "cancelled"
        } else {
            "finished"
        },
        import_id: Some(report.import_id),
        format: Some(report.format.clone()),
        detected: Some(report.detected),
        file: None,
        offset: None,
        bytes_done: None,
        bytes_total: None,
        counts: Some(CountsJson::from(&report.counts)),
        files: report
            .files
            .iter()
            .map(|(file, outcome)| {
                let (name, from_line, error) = match outcome {
                    FileOutcome::New => ("read", None, None),
                    FileOutcome::Resumed(line) => ("resumed", Some(*line), None),
                    FileOutcome::Known => ("known", None, None),
                    FileOutcome::Unreadable(err) => ("unreadable", None, Some(err.clone())),
                };
                FileJson {
                    file: file.clone(),
                    outcome: name,
                    from_line,
                    error,
                }
            })
            .collect(),
        rolled_back: report
            .rolled_back
            .iter()
            .map(|undone| UndoneJson {
                id: undone.id,
                visits_removed: undone.visits,
                events_removed: undone.events,
            })
            .collect(),
        error: None,
    }
}

/// The job a path names (an unknown or malformed one is not found).
fn job_id(text: &str) -> Result<u64, ApiError> {
    text.parse()
        .map_err(|_| ApiError::NotFound("No such import job".into()))
}

#[utoipa::path(
    get,
    path = "/api/imports/jobs/{job}",
    tag = "Imports",
    params(("job" = u64, Path, description = "The job's id")),
    responses((status = 200, description = "The job's progress, or its outcome", body = JobJson), (status = 404, description = "No such job", body = crate::error::ErrorBody), crate::openapi::responses::AdminErrors),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
async fn job(
    _admin: AdminAccess,
    State(state): State<AppState>,
    Path(job): Path<String>,
) -> Result<Json<JobJson>, ApiError> {
    let id = job_id(&job)?;
    let empty = |status| JobJson {
        job: id,
        status,
        import_id: None,
        format: None,
        detected: None,
        file: None,
        offset: None,
        bytes_done: None,
        bytes_total: None,
        counts: None,
        files: Vec::new(),
        rolled_back: Vec::new(),
        error: None,
    };
    Ok(Json(match state.imports.get(id) {
        None => return Err(ApiError::NotFound("No such import job".into())),
        Some(JobState::Running {
            file,
            offset,
            bytes_done,
            bytes_total,
            counts,
        }) => JobJson {
            file: Some(file),
            offset: Some(offset),
            bytes_done: Some(bytes_done),
            bytes_total,
            counts: Some(CountsJson::from(&counts)),
            ..empty("running")
        },
        Some(JobState::Finished(report)) => finished(id, &report),
        Some(JobState::Choosing) => empty("choosing"),
        Some(JobState::Dismissed) => empty("dismissed"),
        Some(JobState::Failed(error)) => JobJson {
            error: Some(error),
            ..empty("failed")
        },
    }))
}
