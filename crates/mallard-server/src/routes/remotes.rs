//! Remote servers this install pulls events from (Settings → Remote
//! servers, `mallard pull` while a server runs): `GET /api/remotes`,
//! `POST /api/remotes` (add one, or change the one at that URL, and pull it
//! now), `DELETE /api/remotes/{id}` and `POST /api/remotes/{id}/pull`, all
//! Admin only. The key is a secret: it is stored, used and never answered
//! (a list shows its first characters).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use mallard_core::SiteId;
use mallard_store::remotes::{self, Remote};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::common::{deleted, path_id, write_failed};
use crate::auth::extract::AdminAccess;
use crate::error::ApiError;
use crate::json::JsonBody;
use crate::state::AppState;

/// The answer for an id that names no remote.
const NOT_FOUND: &str = "Remote server not found";

/// The shortest and longest interval between automatic pulls.
const MIN_EVERY_SECS: u64 = 60;
const MAX_EVERY_SECS: u64 = 7 * 24 * 60 * 60;

/// The remote servers routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/remotes", get(list).post(save))
        .route("/api/remotes/{id}", axum::routing::delete(remove))
        .route("/api/remotes/{id}/pull", post(pull_now))
}

/// A pull in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RunningBody {
    /// The remote site being pulled.
    pub site: String,
    /// Events written by this pull so far.
    pub events: u64,
    /// The latest event time written (RFC 3339).
    pub reached: Option<String>,
}

/// A remote server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RemoteBody {
    /// Its id here.
    pub id: i64,
    /// The remote Mallard's base URL.
    pub url: String,
    /// The key's first characters (the key itself is never answered).
    pub key_hint: String,
    /// The remote sites pulled; empty: every site the key reads.
    pub sites: Vec<String>,
    /// Seconds between automatic pulls; `null`: only when asked.
    pub every_secs: Option<i64>,
    /// RFC 3339.
    pub created_at: String,
    /// When a pull last started (RFC 3339).
    pub last_attempt_at: Option<String>,
    /// When a pull last succeeded (RFC 3339).
    pub last_success_at: Option<String>,
    /// Why the last pull failed, if it did.
    pub last_error: Option<String>,
    /// Events pulled from it so far.
    pub events_pulled: i64,
    /// The pull in progress.
    pub running: Option<RunningBody>,
    /// Whether a pull was asked for and waits for its turn.
    pub queued: bool,
}

impl RemoteBody {
    fn of(remote: &Remote, state: &AppState) -> Self {
        let time = |ms: Option<i64>| ms.map(crate::clock::rfc3339);
        Self {
            id: remote.id,
            url: remote.url.clone(),
            key_hint: remote.key_hint(),
            sites: remote.sites.clone(),
            every_secs: remote.every_secs,
            created_at: crate::clock::rfc3339(remote.created_at),
            last_attempt_at: time(remote.last_attempt_at),
            last_success_at: time(remote.last_success_at),
            last_error: remote.last_error.clone(),
            events_pulled: remote.events_pulled,
            running: state.remote_pulls.running(remote.id).map(|r| RunningBody {
                site: r.site,
                events: r.events,
                reached: time(r.reached_ms),
            }),
            queued: state.remote_pulls.queued(remote.id),
        }
    }
}

/// A remote to add (or the new settings of the one at `url`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoteInput {
    /// The remote Mallard's base URL (`https://stats.example.com`).
    pub url: String,
    /// An API key of the remote with at least the ReadOnly scope.
    pub api_key: String,
    /// The remote sites to pull; empty or absent: every site the key reads.
    #[serde(default)]
    pub sites: Vec<String>,
    /// Seconds between automatic pulls (60 to 604800); absent or `null`:
    /// only when asked.
    #[serde(default)]
    pub every_secs: Option<u64>,
}

impl RemoteInput {
    /// The checked settings: (URL as normalised, key, sites, interval).
    fn checked(&self) -> Result<(String, String, Vec<String>, Option<i64>), ApiError> {
        let url = crate::pull::base_url(&self.url)
            .map_err(|err| ApiError::BadRequest(format!("url: {err}")))?;
        let key = self.api_key.trim();
        if key.is_empty() || key.len() > 256 || key.chars().any(char::is_whitespace) {
            return Err(ApiError::BadRequest(
                "api_key must be an API key of the remote server (mm_...)".into(),
            ));
        }
        let sites = self
            .sites
            .iter()
            .map(|site| {
                SiteId::parse(site.trim())
                    .map(|s| s.as_str().to_owned())
                    .map_err(|e| ApiError::BadRequest(format!("sites: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let every = match self.every_secs {
            None => None,
            Some(secs) if (MIN_EVERY_SECS..=MAX_EVERY_SECS).contains(&secs) => Some(secs as i64),
            Some(_) => {
                return Err(ApiError::BadRequest(format!(
                    "every_secs must be from {MIN_EVERY_SECS} (a minute) to {MAX_EVERY_SECS} (a week)"
                )));
            }
        };
        Ok((url, key.to_owned(), sites, every))
    }
}

#[utoipa::path(
    get,
    path = "/api/remotes",
    operation_id = "list_remotes",
    tag = "Remotes",
    responses(
        (status = 200, description = "Every remote server, oldest first, with its pull's state", body = Vec<RemoteBody>),
        crate::openapi::responses::AdminErrors,
    ),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
async fn list(
    _admin: AdminAccess,
    State(state): State<AppState>,
) -> Result<Json<Vec<RemoteBody>>, ApiError> {
    let listed = state.read(|db| remotes::list(db.connection())).await?;
    Ok(Json(
        listed.iter().map(|r| RemoteBody::of(r, &state)).collect(),
    ))
}

#[utoipa::path(
    post,
    path = "/api/remotes",
    operation_id = "save_remote",
    tag = "Remotes",
    request_body = RemoteInput,
    responses(
        (status = 201, description = "The remote server, with a pull asked for", body = RemoteBody),
        crate::openapi::responses::AdminErrors,
    ),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
async fn save(
    _admin: AdminAccess,
    State(state): State<AppState>,
    JsonBody(input): JsonBody<RemoteInput>,
) -> Result<(StatusCode, Json<RemoteBody>), ApiError> {
    let (url, key, sites, every) = input.checked()?;
    let now = crate::clock::now_ms();
    let remote = state
        .writer
        .run(move |conn| {
            let id = remotes::save(conn, &url, &key, &sites, every, now)?;
            remotes::get(conn, id)
        })
        .await
        .map_err(write_failed("cannot change the remote servers"))?
        .ok_or(ApiError::Internal)?;
    state.remote_pulls.request(remote.id);
    Ok((StatusCode::CREATED, Json(RemoteBody::of(&remote, &state))))
}

#[utoipa::path(
    delete,
    path = "/api/remotes/{id}",
    operation_id = "delete_remote",
    tag = "Remotes",
    params(("id" = i64, Path, description = "The remote's id")),
    responses(
        (status = 204, description = "Forgotten (what was pulled stays: undo its imports to remove it)"),
        (status = 404, description = "No such remote server", body = crate::error::ErrorBody),
        crate::openapi::responses::AdminErrors,
    ),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
async fn remove(
    _admin: AdminAccess,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = path_id(&id, NOT_FOUND)?;
    let removed = state
        .writer
        .run(move |conn| remotes::remove(conn, id))
        .await
        .map_err(write_failed("cannot change the remote servers"))?;
    deleted(removed, NOT_FOUND)
}

#[utoipa::path(
    post,
    path = "/api/remotes/{id}/pull",
    operation_id = "pull_remote",
    tag = "Remotes",
    params(("id" = i64, Path, description = "The remote's id")),
    responses(
        (status = 202, description = "A pull is asked for; follow it in GET /api/remotes", body = RemoteBody),
        (status = 404, description = "No such remote server", body = crate::error::ErrorBody),
        crate::openapi::responses::AdminErrors,
    ),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
async fn pull_now(
    _admin: AdminAccess,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<RemoteBody>), ApiError> {
    let id = path_id(&id, NOT_FOUND)?;
    let remote = state
        .read(move |db| remotes::get(db.connection(), id))
        .await?
        .ok_or_else(|| ApiError::NotFound(NOT_FOUND.into()))?;
    state.remote_pulls.request(id);
    Ok((StatusCode::ACCEPTED, Json(RemoteBody::of(&remote, &state))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(url: &str, key: &str, every: Option<u64>) -> RemoteInput {
        RemoteInput {
            url: url.into(),
            api_key: key.into(),
            sites: vec![" a.test ".into()],
            every_secs: every,
        }
    }

    #[test]
    fn settings_are_checked_with_a_message_naming_the_problem() {
        let (url, key, sites, every) = input("https://s.test/", " mm_k ", Some(600))
            .checked()
            .unwrap();
        assert_eq!((url.as_str(), key.as_str()), ("https://s.test", "mm_k"));
        assert_eq!((sites, every), (vec!["a.test".to_owned()], Some(600)));
        let message = |i: RemoteInput| match i.checked() {
            Err(ApiError::BadRequest(m)) => m,
            other => panic!("{other:?}"),
        };
        assert!(message(input("ftp://s.test", "k", None)).starts_with("url: "));
        assert!(message(input("https://s.test", "", None)).starts_with("api_key"));
        assert!(message(input("https://s.test", "k", Some(5))).starts_with("every_secs"));
        let mut bad_site = input("https://s.test", "k", None);
        bad_site.sites = vec!["a b".into()];
        assert!(message(bad_site).starts_with("sites: "));
    }
}
