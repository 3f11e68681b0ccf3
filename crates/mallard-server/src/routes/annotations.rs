//! Annotations: dated notes on a site ("Launched the pricing page"),
//! drawn as markers on its charts (the dashboard's, and the SVG and PNG
//! charts) and listed with its exports. `GET /api/annotations?site_id=`
//! (JSON, or `format=csv`) for whoever may read the site's stats;
//! `POST /api/annotations`, `PATCH /api/annotations/{id}` and
//! `DELETE /api/annotations/{id}`, Admin only.

use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch};
use axum::{Json, Router};
use mallard_core::SiteId;
use mallard_core::period::{format_date, parse_date};
use mallard_store::annotations::{self, Annotation};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::common::{deleted, path_id, required_site, write_failed};
use crate::auth::extract::{AdminAccess, StatsAccess};
use crate::error::ApiError;
use crate::json::JsonBody;
use crate::state::AppState;

/// The answer for an id that names no annotation.
const NOT_FOUND: &str = "Annotation not found";

/// The longest note, in characters.
pub const MAX_TEXT_CHARS: usize = 280;

/// The annotations routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/annotations", get(list).post(add))
        .route("/api/annotations/{id}", patch(update).delete(remove))
}

/// An annotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AnnotationBody {
    /// Its id.
    pub id: i64,
    /// The site's local date it is about, `YYYY-MM-DD`.
    pub date: String,
    /// The note.
    pub text: String,
    /// RFC 3339.
    pub created_at: String,
}

impl From<Annotation> for AnnotationBody {
    fn from(note: Annotation) -> Self {
        Self {
            id: note.id,
            date: note.date,
            text: note.text,
            created_at: crate::clock::rfc3339(note.created_at_ms),
        }
    }
}

/// An annotation to add, or what one becomes.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnnotationInput {
    /// The site (for `POST`; an annotation keeps its site).
    #[serde(default)]
    pub site_id: Option<String>,
    /// The site's local date, `YYYY-MM-DD`.
    pub date: String,
    /// The note, 1 to 280 characters.
    pub text: String,
}

impl AnnotationInput {
    /// The checked date and text, or a 400 naming what is wrong.
    fn checked(&self) -> Result<(String, String), ApiError> {
        let day = parse_date(self.date.trim())
            .ok_or_else(|| ApiError::BadRequest("date must be a date, YYYY-MM-DD".into()))?;
        let text = self.text.trim();
        if text.is_empty() {
            return Err(ApiError::BadRequest("text may not be empty".into()));
        }
        if text.chars().count() > MAX_TEXT_CHARS {
            return Err(ApiError::BadRequest(format!(
                "text is longer than {MAX_TEXT_CHARS} characters"
            )));
        }
        if text.chars().any(char::is_control) {
            return Err(ApiError::BadRequest(
                "text may not hold control characters".into(),
            ));
        }
        Ok((format_date(day), text.to_owned()))
    }
}

/// What a list asks for: the site, the dates, JSON or CSV.
#[derive(Debug, PartialEq, Eq)]
struct ListQuery {
    site: SiteId,
    from: Option<String>,
    to: Option<String>,
    csv: bool,
}

fn parse_list(query: Option<&str>) -> Result<ListQuery, ApiError> {
    let mut site_id = None;
    let (mut from, mut to, mut csv) = (None, None, false);
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let date = |field: &str| {
            parse_date(&value)
                .map(format_date)
                .ok_or_else(|| ApiError::BadRequest(format!("{field} must be a date, YYYY-MM-DD")))
        };
        match name.as_ref() {
            "site_id" => site_id = Some(value.to_string()),
            "from" => from = Some(date("from")?),
            "to" => to = Some(date("to")?),
            "format" => {
                csv = match value.as_ref() {
                    "csv" => true,
                    "json" => false,
                    _ => return Err(ApiError::BadRequest("format must be json or csv".into())),
                }
            }
            _ => {}
        }
    }
    Ok(ListQuery {
        site: required_site(site_id.as_deref())?,
        from,
        to,
        csv,
    })
}

/// The notes as CSV: `date,text`, safe for spreadsheets.
fn csv_of(notes: &[Annotation]) -> String {
    let mut out = String::new();
    crate::stats::csv::push_line(&mut out, &["date".into(), "text".into()]);
    for note in notes {
        crate::stats::csv::push_line(
            &mut out,
            &[
                crate::stats::csv::text_cell(&note.date),
                crate::stats::csv::text_cell(&note.text),
            ],
        );
    }
    out
}

#[utoipa::path(
    get,
    path = "/api/annotations",
    operation_id = "list_annotations",
    tag = "Annotations",
    params(
        ("site_id" = String, Query, description = "The site"),
        ("from" = Option<String>, Query, description = "The first date, YYYY-MM-DD (default: the first)"),
        ("to" = Option<String>, Query, description = "The last date, YYYY-MM-DD, included (default: the last)"),
        ("format" = Option<String>, Query, description = "json (default) or csv (date,text)"),
    ),
    responses(
        (status = 200, description = "The site's annotations by date (none for an unknown site)", body = Vec<AnnotationBody>, content_type = "application/json"),
        crate::openapi::responses::StatsErrors,
    ),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
async fn list(
    _access: StatsAccess,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let asked = parse_list(query.as_deref())?;
    let domain = asked.site.as_str().to_owned();
    let (from, to) = (asked.from.clone(), asked.to.clone());
    let notes = state
        .read(move |db| db.annotations(&domain, from.as_deref(), to.as_deref()))
        .await?;
    if asked.csv {
        let name = format!("annotations-{}.csv", asked.site.as_str());
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}\""),
                ),
            ],
            csv_of(&notes),
        )
            .into_response());
    }
    let body: Vec<AnnotationBody> = notes.into_iter().map(AnnotationBody::from).collect();
    Ok(Json(body).into_response())
}

#[utoipa::path(
    post,
    path = "/api/annotations",
    operation_id = "add_annotation",
    tag = "Annotations",
    request_body = AnnotationInput,
    responses(
        (status = 201, description = "The annotation", body = AnnotationBody),
        (status = 404, description = "No such site", body = crate::error::ErrorBody),
        crate::openapi::responses::AdminErrors,
    ),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
async fn add(
    _admin: AdminAccess,
    State(state): State<AppState>,
    JsonBody(input): JsonBody<AnnotationInput>,
) -> Result<(StatusCode, Json<AnnotationBody>), ApiError> {
    let domain = required_site(input.site_id.as_deref())?.as_str().to_owned();
    let (date, text) = input.checked()?;
    let now = crate::clock::now_ms();
    let stored = state
        .writer
        .run(move |conn| annotations::add(conn, &domain, &date, &text, now))
        .await
        .map_err(write_failed("cannot change annotations"))?
        .ok_or_else(|| ApiError::NotFound("Site not found".into()))?;
    Ok((StatusCode::CREATED, Json(stored.into())))
}

#[utoipa::path(
    patch,
    path = "/api/annotations/{id}",
    operation_id = "update_annotation",
    tag = "Annotations",
    params(("id" = i64, Path, description = "The annotation's id")),
    request_body = AnnotationInput,
    responses(
        (status = 200, description = "The annotation as it is now", body = AnnotationBody),
        (status = 404, description = "No such annotation", body = crate::error::ErrorBody),
        crate::openapi::responses::AdminErrors,
    ),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
async fn update(
    _admin: AdminAccess,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<AnnotationInput>,
) -> Result<Json<AnnotationBody>, ApiError> {
    let id = path_id(&id, NOT_FOUND)?;
    let (date, text) = input.checked()?;
    let stored = state
        .writer
        .run(move |conn| annotations::update(conn, id, &date, &text))
        .await
        .map_err(write_failed("cannot change annotations"))?
        .ok_or_else(|| ApiError::NotFound(NOT_FOUND.into()))?;
    Ok(Json(stored.into()))
}

#[utoipa::path(
    delete,
    path = "/api/annotations/{id}",
    operation_id = "delete_annotation",
    tag = "Annotations",
    params(("id" = i64, Path, description = "The annotation's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such annotation", body = crate::error::ErrorBody),
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
        .run(move |conn| annotations::remove(conn, id))
        .await
        .map_err(write_failed("cannot change annotations"))?;
    deleted(removed, NOT_FOUND)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(date: &str, text: &str) -> AnnotationInput {
        AnnotationInput {
            site_id: None,
            date: date.into(),
            text: text.into(),
        }
    }

    fn message(result: Result<impl std::fmt::Debug, ApiError>) -> String {
        match result {
            Err(ApiError::BadRequest(message)) => message,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn dates_and_texts_are_checked_with_a_message_naming_the_problem() {
        assert_eq!(
            input(" 2024-03-10 ", " Launch ").checked().unwrap(),
            ("2024-03-10".into(), "Launch".into())
        );
        assert_eq!(
            message(input("10.03.2024", "x").checked()),
            "date must be a date, YYYY-MM-DD"
        );
        assert_eq!(
            message(input("2024-02-30", "x").checked()),
            "date must be a date, YYYY-MM-DD"
        );
        assert_eq!(
            message(input("2024-03-10", "  ").checked()),
            "text may not be empty"
        );
        assert_eq!(
            message(input("2024-03-10", &"é".repeat(281)).checked()),
            "text is longer than 280 characters"
        );
        assert!(input("2024-03-10", &"é".repeat(280)).checked().is_ok());
        assert_eq!(
            message(input("2024-03-10", "a\u{7}b").checked()),
            "text may not hold control characters"
        );
    }

    #[test]
    fn a_list_names_its_site_dates_and_format() {
        let asked = parse_list(Some(
            "site_id=a.test&from=2024-03-01&to=2024-03-31&format=csv",
        ))
        .unwrap();
        assert_eq!(
            (asked.from.as_deref(), asked.to.as_deref(), asked.csv),
            (Some("2024-03-01"), Some("2024-03-31"), true)
        );
        assert_eq!(
            message(parse_list(Some("from=2024-03-01"))),
            "site_id is required"
        );
        assert_eq!(
            message(parse_list(Some("site_id=a.test&to=x"))),
            "to must be a date, YYYY-MM-DD"
        );
        assert_eq!(
            message(parse_list(Some("site_id=a.test&format=xml"))),
            "format must be json or csv"
        );
    }

    #[test]
    fn the_csv_is_safe_for_spreadsheets() {
        let notes = vec![Annotation {
            id: 1,
            date: "2024-03-10".into(),
            text: "=HYPERLINK(\"x\"), launch".into(),
            created_at_ms: 0,
        }];
        assert_eq!(
            csv_of(&notes),
            "date,text\r\n2024-03-10,\"'=HYPERLINK(\"\"x\"\"), launch\"\r\n"
        );
    }
}
