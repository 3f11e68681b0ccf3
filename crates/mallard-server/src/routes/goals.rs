//! Goals: `GET /api/goals?site_id=` (a site's goals, for whoever may read
//! its stats), `POST /api/goals` (add one), `PATCH /api/goals/{id}` (change
//! it) and `DELETE /api/goals/{id}`, Admin only. A goal is a custom event by
//! name (`event_name`) or page views of a path pattern (`page_path`, `*` one
//! segment, `**` any depth), optionally only with a property value
//! (`prop_key` and `prop_value`). Their conversions are
//! `GET /api/stats/goals`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, patch};
use axum::{Json, Router};
use mallard_core::goal::{PathPattern, check_text};
use mallard_store::goals::{Goal, GoalDefinition, GoalWrite};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::common::{required_site, write_failed};
use crate::auth::extract::{AdminAccess, StatsAccess};
use crate::error::ApiError;
use crate::json::JsonBody;
use crate::state::AppState;

/// The goals routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/goals", get(list).post(add))
        .route("/api/goals/{id}", patch(update).delete(remove))
}

/// A goal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub(crate) struct GoalBody {
    /// Its id.
    id: i64,
    /// The name it is shown and filtered by (`goal==NAME`).
    name: String,
    /// The custom event it counts, for an event goal.
    #[serde(skip_serializing_if = "Option::is_none")]
    event_name: Option<String>,
    /// The page path pattern it counts page views of, for a page goal.
    #[serde(skip_serializing_if = "Option::is_none")]
    page_path: Option<String>,
    /// The property the event must carry, with `prop_value`.
    #[serde(skip_serializing_if = "Option::is_none")]
    prop_key: Option<String>,
    /// The property's value.
    #[serde(skip_serializing_if = "Option::is_none")]
    prop_value: Option<String>,
    /// RFC 3339.
    created_at: String,
}

impl From<Goal> for GoalBody {
    fn from(goal: Goal) -> Self {
        let (prop_key, prop_value) = goal.definition.prop.unzip();
        Self {
            id: goal.id,
            name: goal.definition.name,
            event_name: goal.definition.event_name,
            page_path: goal.definition.page_path,
            prop_key,
            prop_value,
            created_at: crate::clock::rfc3339(goal.created_at_ms),
        }
    }
}

/// A goal to add, or what a goal becomes.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GoalInput {
    /// The site (for `POST`; ignored by `PATCH`, a goal keeps its site).
    #[serde(default)]
    site_id: Option<String>,
    /// The name to show; default: the event's name, or "Visit " and the path.
    #[serde(default)]
    name: Option<String>,
    /// A custom event's name (or `page_path`).
    #[serde(default)]
    event_name: Option<String>,
    /// A page path pattern such as `/blog/*` or `/docs/**` (or `event_name`).
    #[serde(default)]
    page_path: Option<String>,
    /// A property key the event must carry (with `prop_value`).
    #[serde(default)]
    prop_key: Option<String>,
    /// The property's value.
    #[serde(default)]
    prop_value: Option<String>,
}

impl GoalInput {
    /// The definition, or a 400 naming what is wrong.
    fn definition(&self) -> Result<GoalDefinition, ApiError> {
        let bad = |err: mallard_core::CoreError| ApiError::BadRequest(err.to_string());
        let (event_name, page_path) = match (&self.event_name, &self.page_path) {
            (Some(name), None) => (Some(check_text("event_name", name).map_err(bad)?), None),
            (None, Some(path)) => (
                None,
                Some(
                    PathPattern::parse(path.trim())
                        .map_err(bad)?
                        .as_str()
                        .to_owned(),
                ),
            ),
            _ => {
                return Err(ApiError::BadRequest(
                    "a goal needs exactly one of event_name (a custom event) and page_path \
                     (a page path pattern such as /blog/*)"
                        .into(),
                ));
            }
        };
        let prop = match (&self.prop_key, &self.prop_value) {
            (None, None) => None,
            (Some(key), Some(value)) => Some((
                check_text("prop_key", key).map_err(bad)?,
                check_text("prop_value", value).map_err(bad)?,
            )),
            (Some(_), None) => {
                return Err(ApiError::BadRequest(
                    "prop_value is required with prop_key".into(),
                ));
            }
            (None, Some(_)) => {
                return Err(ApiError::BadRequest(
                    "prop_key is required with prop_value: a property filter needs its key".into(),
                ));
            }
        };
        let name = match &self.name {
            Some(name) => check_text("name", name).map_err(bad)?,
            None => match (&event_name, &page_path) {
                (Some(event), _) => event.clone(),
                (_, Some(path)) => format!("Visit {path}"),
                _ => String::new(),
            },
        };
        Ok(GoalDefinition {
            name,
            event_name,
            page_path,
            prop,
        })
    }
}

/// The query of `GET /api/goals`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct GoalsOf {
    /// The site.
    site_id: Option<String>,
}

fn stored(write: GoalWrite, not_found: &str, name: &str) -> Result<GoalBody, ApiError> {
    match write {
        GoalWrite::Stored(goal) => Ok(goal.into()),
        GoalWrite::NotFound => Err(ApiError::NotFound(not_found.into())),
        GoalWrite::NameTaken => Err(ApiError::Conflict(format!(
            "The site has a goal named {name} already"
        ))),
    }
}

#[utoipa::path(
    get,
    path = "/api/goals",
    operation_id = "list_goals",
    tag = "Goals",
    params(GoalsOf),
    responses(
        (status = 200, description = "The site's goals, oldest first (none for an unknown site)", body = Vec<GoalBody>),
        crate::openapi::responses::StatsErrors,
    ),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
async fn list(
    _access: StatsAccess,
    State(state): State<AppState>,
    Query(query): Query<GoalsOf>,
) -> Result<Json<Vec<GoalBody>>, ApiError> {
    let domain = required_site(query.site_id.as_deref())?.as_str().to_owned();
    let goals = state.read(move |db| db.goals(&domain)).await?;
    Ok(Json(goals.into_iter().map(GoalBody::from).collect()))
}

#[utoipa::path(
    post,
    path = "/api/goals",
    operation_id = "add_goal",
    tag = "Goals",
    request_body = GoalInput,
    responses(
        (status = 201, description = "The goal", body = GoalBody),
        (status = 404, description = "No such site", body = crate::error::ErrorBody),
        (status = 409, description = "The site has a goal of that name", body = crate::error::ErrorBody),
        crate::openapi::responses::AdminErrors,
    ),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
async fn add(
    _admin: AdminAccess,
    State(state): State<AppState>,
    JsonBody(input): JsonBody<GoalInput>,
) -> Result<(StatusCode, Json<GoalBody>), ApiError> {
    let domain = required_site(input.site_id.as_deref())?.as_str().to_owned();
    let definition = input.definition()?;
    let name = definition.name.clone();
    let now = crate::clock::now_ms();
    let write = state
        .writer
        .run(move |conn| mallard_store::goals::add_goal(conn, &domain, &definition, now))
        .await
        .map_err(write_failed("cannot change goals"))?;
    Ok((
        StatusCode::CREATED,
        Json(stored(write, "Site not found", &name)?),
    ))
}

#[utoipa::path(
    patch,
    path = "/api/goals/{id}",
    operation_id = "update_goal",
    tag = "Goals",
    params(("id" = i64, Path, description = "The goal's id")),
    request_body = GoalInput,
    responses(
        (status = 200, description = "The goal as it is now", body = GoalBody),
        (status = 404, description = "No such goal", body = crate::error::ErrorBody),
        (status = 409, description = "The site has another goal of that name", body = crate::error::ErrorBody),
        crate::openapi::responses::AdminErrors,
    ),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
async fn update(
    _admin: AdminAccess,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<GoalInput>,
) -> Result<Json<GoalBody>, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::NotFound("Goal not found".into()))?;
    let definition = input.definition()?;
    let name = definition.name.clone();
    let write = state
        .writer
        .run(move |conn| mallard_store::goals::update_goal(conn, id, &definition))
        .await
        .map_err(write_failed("cannot change goals"))?;
    Ok(Json(stored(write, "Goal not found", &name)?))
}

/// The answer to `DELETE /api/goals/{id}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct GoalDeleted {
    /// Always true.
    deleted: bool,
}

#[utoipa::path(
    delete,
    path = "/api/goals/{id}",
    operation_id = "delete_goal",
    tag = "Goals",
    params(("id" = i64, Path, description = "The goal's id")),
    responses(
        (status = 200, description = "The goal is deleted (the events it counted stay)", body = GoalDeleted),
        (status = 404, description = "No such goal", body = crate::error::ErrorBody),
        crate::openapi::responses::AdminErrors,
    ),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
async fn remove(
    _admin: AdminAccess,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<GoalDeleted>, ApiError> {
    let not_found = || ApiError::NotFound("Goal not found".into());
    let id: i64 = id.parse().map_err(|_| not_found())?;
    let deleted = state
        .writer
        .run(move |conn| mallard_store::goals::delete_goal(conn, id))
        .await
        .map_err(write_failed("cannot change goals"))?;
    if !deleted {
        return Err(not_found());
    }
    Ok(Json(GoalDeleted { deleted: true }))
}
