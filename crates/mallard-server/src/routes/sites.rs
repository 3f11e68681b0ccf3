//! Sites: `GET /api/sites` (the dashboard's site picker: sites seen in events
//! and sites added by hand), `POST /api/sites` (add one, with its time zone),
//! `PATCH /api/sites/{site_id}` (change its time zone; the rollups are
//! rebuilt in the new zone), `DELETE /api/sites/{site_id}` (delete it with
//! all its data) and `DELETE /api/sites/{site_id}/data?from=&to=` (delete
//! the visits of a date range).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, patch};
use axum::{Json, Router};
use mallard_core::{SiteId, SiteTimeZone};
use mallard_store::sites::{SiteRecord, TimeZoneChange};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::auth::extract::{AdminAccess, StatsAccess};
use crate::error::ApiError;
use crate::json::JsonBody;
use crate::state::AppState;

/// The sites routes: listing needs stats access, changes an Admin principal.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/sites", get(list).post(add))
        .route("/api/sites/{site_id}", patch(update).delete(delete_site))
        .route("/api/sites/{site_id}/data", delete(delete_range))
}

/// A site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub(crate) struct SiteBody {
    /// Its id, usually the domain.
    site_id: String,
    /// The IANA time zone its days and hours follow.
    time_zone: String,
    /// Whether any event was stored for it.
    has_events: bool,
    /// The days of its data imported from another tool as daily aggregates
    /// (a Plausible CSV export), if any; stats count them with
    /// `with_imported=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    imported: Option<ImportedDays>,
    /// RFC 3339.
    created_at: String,
}

/// The first and last day of a site's imported daily aggregates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub(crate) struct ImportedDays {
    /// `YYYY-MM-DD`, in the site's time zone.
    first_date: String,
    /// `YYYY-MM-DD`; imported days on or after the site's first day of
    /// native data are not counted.
    last_date: String,
}

/// The body of `POST /api/sites`.
#[derive(Debug, Deserialize, ToSchema)]
#[expect(
    dead_code,
    reason = "a description of the body: the handler reads it field by field for the documented errors"
)]
pub(crate) struct NewSite {
    /// Letters, digits and . _ : -, at most 256.
    site_id: String,
    /// An IANA time zone such as Europe/Berlin (default UTC).
    time_zone: Option<String>,
}

/// The body of `PATCH /api/sites/{site_id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[expect(
    dead_code,
    reason = "a description of the body: the handler reads it field by field for the documented errors"
)]
pub(crate) struct SiteChange {
    /// An IANA time zone such as Europe/Berlin.
    time_zone: String,
}

fn site_json(site: &SiteRecord) -> SiteBody {
    SiteBody {
        site_id: site.domain.clone(),
        time_zone: site.time_zone.clone(),
        has_events: site.has_events,
        imported: site.imported_days.map(|(first, last)| ImportedDays {
            first_date: mallard_core::period::format_date(first),
            last_date: mallard_core::period::format_date(last),
        }),
        created_at: crate::clock::rfc3339(site.created_at_ms),
    }
}

#[utoipa::path(
    get,
    path = "/api/sites",
    operation_id = "list_sites",
    tag = "Sites",
    responses(
        (status = 200, description = "Every site", body = Vec<SiteBody>),
        crate::openapi::responses::StatsErrors,
    ),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
async fn list(
    _access: StatsAccess,
    State(state): State<AppState>,
) -> Result<Json<Vec<SiteBody>>, ApiError> {
    let sites = state.read(|db| db.sites()).await?;
    Ok(Json(sites.iter().map(site_json).collect()))
}

/// The time zone named by `field` of `body`, validated; UTC when absent.
fn time_zone(body: &Value) -> Result<SiteTimeZone, ApiError> {
    match body.get("time_zone") {
        None | Some(Value::Null) => Ok(SiteTimeZone::utc()),
        Some(Value::String(name)) => {
            SiteTimeZone::parse(name).map_err(|e| ApiError::BadRequest(format!("time_zone: {e}")))
        }
        Some(_) => Err(ApiError::BadRequest(
            "time_zone must be an IANA time zone name such as Europe/Berlin".into(),
        )),
    }
}

fn object(body: &Value) -> Result<(), ApiError> {
    if body.is_object() {
        Ok(())
    } else {
        Err(ApiError::BadRequest(
            "The body must be a JSON object".into(),
        ))
    }
}

#[utoipa::path(
    post,
    path = "/api/sites",
    operation_id = "add_site",
    tag = "Sites",
    request_body = NewSite,
    responses(
        (status = 201, description = "The site", body = SiteBody),
        (status = 409, description = "The site exists", body = crate::error::ErrorBody),
        crate::openapi::responses::AdminErrors,
    ),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
async fn add(
    _admin: AdminAccess,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<Value>,
) -> Result<(StatusCode, Json<SiteBody>), ApiError> {
    object(&body)?;
    let raw = body.get("site_id").and_then(Value::as_str).ok_or_else(|| {
        ApiError::BadRequest("site_id is required (a domain such as example.com)".into())
    })?;
    let site =
        SiteId::parse(raw.trim()).map_err(|e| ApiError::BadRequest(format!("site_id: {e}")))?;
    let zone = time_zone(&body)?;
    let now = crate::clock::now_ms();
    let (domain, zone_name) = (site.as_str().to_owned(), zone.name().to_owned());
    let added = state
        .writer
        .run(move |conn| mallard_store::sites::add_site(conn, &domain, &zone_name, now))
        .await
        .map_err(unavailable)?;
    // Events for a site added by hand are never refused as a new site.
    state.new_sites.add(&site);
    if !added {
        return Err(ApiError::Conflict(format!("Site {site} already exists")));
    }
    let record = SiteRecord {
        domain: site.as_str().to_owned(),
        time_zone: zone.name().to_owned(),
        created_at_ms: now,
        has_events: false,
        imported_days: None,
    };
    Ok((StatusCode::CREATED, Json(site_json(&record))))
}

#[utoipa::path(
    patch,
    path = "/api/sites/{site_id}",
    operation_id = "update_site",
    tag = "Sites",
    params(("site_id" = String, Path, description = "The site")),
    request_body = SiteChange,
    responses(
        (status = 200, description = "The site, in its new time zone", body = SiteBody),
        (status = 404, description = "No such site", body = crate::error::ErrorBody),
        crate::openapi::responses::AdminErrors,
    ),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
async fn update(
    _admin: AdminAccess,
    State(state): State<AppState>,
    Path(site_id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<SiteBody>, ApiError> {
    let not_found = || ApiError::NotFound("Site not found".into());
    let site = SiteId::parse(&site_id).map_err(|_| not_found())?;
    object(&body)?;
    if body.get("time_zone").is_none_or(Value::is_null) {
        return Err(ApiError::BadRequest("time_zone is required".into()));
    }
    let zone = time_zone(&body)?;
    let domain = site.as_str().to_owned();
    let change = state
        .writer
        .run_maintenance(move |conn| {
            mallard_store::sites::set_time_zone(conn, &domain, zone.name())
        })
        .await
        .map_err(unavailable)?;
    if change == TimeZoneChange::NoSuchSite {
        return Err(not_found());
    }
    let sites = state.read(|db| db.sites()).await?;
    let record = sites
        .iter()
        .find(|s| s.domain == site.as_str())
        .ok_or_else(not_found)?;
    Ok(Json(site_json(record)))
}

fn unavailable(err: mallard_store::StoreError) -> ApiError {
    tracing::error!(error = %err, "cannot change sites");
    ApiError::Unavailable("Database unavailable".into())
}

/// The answer to `DELETE /api/sites/{site_id}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SiteDeleted {
    /// The deleted site.
    site_id: String,
    /// Always true.
    deleted: bool,
}

#[utoipa::path(
    delete,
    path = "/api/sites/{site_id}",
    operation_id = "delete_site",
    tag = "Sites",
    params(("site_id" = String, Path, description = "The site")),
    responses(
        (status = 200, description = "The site is deleted: gone from every list and query at \
            once; its data is purged in the background and the space it took given back. \
            An event for the domain later creates a new, empty site.", body = SiteDeleted),
        (status = 404, description = "No such site", body = crate::error::ErrorBody),
        crate::openapi::responses::AdminErrors,
    ),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
async fn delete_site(
    _admin: AdminAccess,
    State(state): State<AppState>,
    Path(site_id): Path<String>,
) -> Result<Json<SiteDeleted>, ApiError> {
    let not_found = || ApiError::NotFound("Site not found".into());
    let site = SiteId::parse(&site_id).map_err(|_| not_found())?;
    let (writer, domain) = (state.writer.clone(), site.as_str().to_owned());
    let now = crate::clock::now_ms();
    let deleted = tokio::task::spawn_blocking(move || {
        mallard_store::deletion::delete_site_blocking(&writer, &domain, now)
    })
    .await
    .map_err(|_| ApiError::Internal)?
    .map_err(unavailable)?;
    if deleted.is_none() {
        return Err(not_found());
    }
    state.new_sites.forget(&site);
    state.site_purges.wake();
    tracing::info!(site = %site, "site deleted");
    Ok(Json(SiteDeleted {
        site_id: site.as_str().to_owned(),
        deleted: true,
    }))
}

/// The query of `DELETE /api/sites/{site_id}/data`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DataRange {
    /// The first day to delete, `YYYY-MM-DD` in the site's time zone.
    from: Option<String>,
    /// The last day to delete (included), `YYYY-MM-DD` in the site's time zone.
    to: Option<String>,
}

/// The answer to `DELETE /api/sites/{site_id}/data`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DataDeleted {
    /// The site.
    site_id: String,
    /// The first day deleted.
    from: String,
    /// The last day deleted.
    to: String,
    /// Visits deleted (those that started in the range), with all their events.
    visits: u64,
    /// Events deleted (page views and custom events).
    events: u64,
}

/// The day named by query parameter `name`.
fn range_day(name: &str, raw: Option<&str>) -> Result<i64, ApiError> {
    let raw = raw
        .ok_or_else(|| ApiError::BadRequest(format!("{name} is required (a date, YYYY-MM-DD)")))?;
    mallard_core::period::parse_date(raw)
        .ok_or_else(|| ApiError::BadRequest(format!("{name} must be a date, YYYY-MM-DD")))
}

#[utoipa::path(
    delete,
    path = "/api/sites/{site_id}/data",
    operation_id = "delete_site_data",
    tag = "Sites",
    params(("site_id" = String, Path, description = "The site"), DataRange),
    responses(
        (status = 200, description = "The visits that started from `from` to `to` (days of the \
            site's time zone) are deleted with all their events; the stats of those days are \
            counted again from what is left.", body = DataDeleted),
        (status = 400, description = "A missing or invalid date, or `from` after `to`", body = crate::error::ErrorBody),
        (status = 404, description = "No such site", body = crate::error::ErrorBody),
        crate::openapi::responses::AdminErrors,
    ),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
async fn delete_range(
    _admin: AdminAccess,
    State(state): State<AppState>,
    Path(site_id): Path<String>,
    Query(range): Query<DataRange>,
) -> Result<Json<DataDeleted>, ApiError> {
    let not_found = || ApiError::NotFound("Site not found".into());
    let site = SiteId::parse(&site_id).map_err(|_| not_found())?;
    let from = range_day("from", range.from.as_deref())?;
    let to = range_day("to", range.to.as_deref())?;
    if from > to {
        return Err(ApiError::BadRequest("from must not be after to".into()));
    }
    let domain = site.as_str().to_owned();
    let info = state
        .read(move |db| db.stats_site(&domain))
        .await?
        .ok_or_else(not_found)?;
    let span = (
        info.time_zone.day_start_ms(from),
        info.time_zone.day_start_ms(to + 1),
    );
    let (writer, domain) = (state.writer.clone(), site.as_str().to_owned());
    let now = crate::clock::now_ms();
    let deleted = tokio::task::spawn_blocking(move || {
        mallard_store::deletion::delete_range_blocking(&writer, &domain, span, now)
    })
    .await
    .map_err(|_| ApiError::Internal)?
    .map_err(unavailable)?
    .ok_or_else(not_found)?;
    tracing::info!(site = %site, visits = deleted.visits, "date range deleted");
    Ok(Json(DataDeleted {
        site_id: site.as_str().to_owned(),
        from: mallard_core::period::format_date(from),
        to: mallard_core::period::format_date(to),
        visits: deleted.visits,
        events: deleted.events,
    }))
}
