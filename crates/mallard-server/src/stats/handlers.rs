//! The handlers of `GET /api/stats/*`. Each first checks [`StatsAccess`]: open
//! access while no password is set, else a session or an API key.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use mallard_core::{Dimension, Filter, Interval};
use mallard_store::ReadConn;
use mallard_store::StoreError;
use mallard_store::stats::{StatsQuery, Totals};
use serde::Serialize;
use serde_json::Value;

use super::dto::{self, MainBody, MainMetrics};
use super::params::{self, CommonParams, RawParams};
use super::runtime::{Answer, Resolved};
use crate::auth::extract::StatsAccess;
use crate::error::ApiError;
use crate::state::AppState;

/// `GET /api/stats/main`: the top stats of the period, optionally with the
/// previous period of the same length (`compare=previous`).
#[utoipa::path(
    get,
    path = "/api/stats/main",
    tag = "Stats",
    params(crate::openapi::params::Main),
    responses((status = 200, description = "The totals of the period", body = crate::stats::dto::MainBody), crate::openapi::responses::StatsErrors),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn main(
    _access: StatsAccess,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let raw = RawParams::parse(query.as_deref());
    let common = CommonParams::from_raw(&raw)?;
    let compare = params::compare_previous(&raw)?;
    answer(
        &state,
        common,
        format!("main|{compare}"),
        move |db, r, filters| {
            let totals = db.stats_main(&r.site, &r.query(filters.clone()))?;
            Ok(body(&main_body(
                db,
                r,
                &totals,
                compare.then_some(filters),
            )?))
        },
    )
    .await
}

/// `GET /api/stats/timeseries`: one point per bucket, zeros included.
#[utoipa::path(
    get,
    path = "/api/stats/timeseries",
    tag = "Stats",
    params(crate::openapi::params::WithInterval),
    responses((status = 200, description = "One point per bucket, zeros included", body = Vec<crate::stats::dto::SeriesPointBody>), crate::openapi::responses::StatsErrors),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn timeseries(
    _access: StatsAccess,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    series_answer(&state, query, "timeseries", |db, r, query, interval| {
        let points = db.stats_timeseries(&r.site, query, interval)?;
        Ok(body(&dto::series(interval, &points)))
    })
    .await
}

/// `GET /api/stats/revenue`: per currency, the total, the events with an
/// amount and their average, and the buckets of the time series that hold
/// revenue (amounts are decimal strings; currencies are never added up).
#[utoipa::path(
    get,
    path = "/api/stats/revenue",
    tag = "Stats",
    params(crate::openapi::params::WithInterval),
    responses((status = 200, description = "Revenue per currency", body = crate::stats::dto::RevenueBody), crate::openapi::responses::StatsErrors),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn revenue(
    _access: StatsAccess,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    series_answer(&state, query, "revenue", |db, r, query, interval| {
        let report = db.stats_revenue(&r.site, query, interval)?;
        Ok(body(&dto::RevenueBody::of(
            &report,
            r.range,
            r.site.time_zone.name(),
            interval,
        )))
    })
    .await
}

/// `GET /api/stats/breakdown/{dimension}`.
#[utoipa::path(
    get,
    path = "/api/stats/breakdown/{dimension}",
    tag = "Stats",
    params(crate::openapi::params::WithLimit, ("dimension" = String, Path, description = "pages, entry_pages, exit_pages, sources, referrers, utm_source, utm_medium, utm_campaign, utm_term, utm_content, browsers, os, devices, countries, regions, cities, screen_sizes or events")),
    responses((status = 200, description = "The top values, most first", body = Vec<crate::stats::dto::BreakdownRowBody>), (status = 404, description = "An unknown dimension", body = crate::error::ErrorBody), crate::openapi::responses::StatsErrors),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn breakdown(
    _access: StatsAccess,
    State(state): State<AppState>,
    Path(dimension): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let Some(parsed) = Dimension::from_breakdown_name(&dimension) else {
        return Err(ApiError::NotFound(format!(
            "Unknown breakdown dimension {dimension:?}; see docs/api.md for the list"
        )));
    };
    run_breakdown(state, parsed, query).await
}

/// `GET /api/stats/breakdown/props/{key}`: the values of one custom property.
#[utoipa::path(
    get,
    path = "/api/stats/breakdown/props/{key}",
    tag = "Stats",
    params(crate::openapi::params::WithLimit, ("key" = String, Path, description = "The property key")),
    responses((status = 200, description = "The values of one custom property", body = Vec<crate::stats::dto::BreakdownRowBody>), crate::openapi::responses::StatsErrors),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn breakdown_prop(
    _access: StatsAccess,
    State(state): State<AppState>,
    Path(key): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let dimension = Dimension::prop(&key).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    run_breakdown(state, dimension, query).await
}

/// `GET /api/stats/props`: the custom property keys of the period, each
/// with the custom events that carry it and their visitors, most events
/// first; the values of one key are `breakdown/props/{key}`.
#[utoipa::path(
    get,
    path = "/api/stats/props",
    tag = "Stats",
    params(crate::openapi::params::WithLimit),
    responses((status = 200, description = "The custom property keys, most events first", body = Vec<crate::stats::dto::BreakdownRowBody>), crate::openapi::responses::StatsErrors),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn prop_keys(
    _access: StatsAccess,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let raw = RawParams::parse(query.as_deref());
    let common = CommonParams::from_raw(&raw)?;
    let limit = params::limit(&raw)?;
    answer(
        &state,
        common,
        format!("props|{limit}"),
        move |db, r, filters| {
            let rows = db.stats_prop_keys(&r.site, &r.query(filters), limit)?;
            // Each row is counted as a custom event breakdown's: value,
            // visitors, events.
            Ok(body(&dto::breakdown(&Dimension::Event, &rows)))
        },
    )
    .await
}

async fn run_breakdown(
    state: AppState,
    dimension: Dimension,
    query: Option<String>,
) -> Result<Json<Value>, ApiError> {
    let raw = RawParams::parse(query.as_deref());
    let common = CommonParams::from_raw(&raw)?;
    let limit = params::limit(&raw)?;
    let key = format!("breakdown|{dimension:?}|{limit}");
    answer(&state, common, key, move |db, r, filters| {
        let rows = db.stats_breakdown(&r.site, &r.query(filters), &dimension, limit)?;
        Ok(body(&dto::breakdown(&dimension, &rows)))
    })
    .await
}

/// Answers a query over the buckets of a time series of the request's
/// period (`interval`, as `timeseries` splits it), cached under `name`:
/// `compute` gets the read connection, the resolved site and range, the
/// query and the interval.
async fn series_answer<F>(
    state: &AppState,
    query: Option<String>,
    name: &str,
    compute: F,
) -> Result<Json<Value>, ApiError>
where
    F: FnOnce(&ReadConn<'_>, &Resolved, &StatsQuery, Interval) -> Result<Answer, StoreError>
        + Send
        + 'static,
{
    let raw = RawParams::parse(query.as_deref());
    let common = CommonParams::from_raw(&raw)?;
    let interval: Interval = params::interval(&raw, &common.period)?;
    let key = format!("{name}|{interval:?}");
    answer(state, common, key, move |db, r, filters| {
        let query = match r.series_query(interval, filters) {
            Ok(query) => query,
            Err(err) => return Ok(Err(err)),
        };
        compute(db, r, &query, interval)
    })
    .await
}

/// Answers a stats query for the site and period of `common`, cached under
/// `key` and the filters: `compute` gets the read connection, the resolved
/// site and range, and the filters.
pub(super) async fn answer<F>(
    state: &AppState,
    common: CommonParams,
    key: String,
    compute: F,
) -> Result<Json<Value>, ApiError>
where
    F: FnOnce(&ReadConn<'_>, &Resolved, Vec<Filter>) -> Result<Answer, StoreError> + Send + 'static,
{
    // Goal filters are put in terms of the goals' definitions first, which
    // the cache key then holds: a goal changed is counted anew at once.
    let filters = super::goals::resolved_filters(state, &common.site, common.filters).await?;
    let with_imported = common.with_imported;
    let key = format!("{key}|{filters:?}|imported={with_imported}");
    let value = state
        .stats
        .run(
            state,
            &common.site,
            common.period,
            Some(key),
            move |db, r| {
                let r = Resolved {
                    with_imported,
                    ..r.clone()
                };
                compute(db, &r, filters)
            },
        )
        .await?;
    Ok(Json(value))
}

/// A typed body as the JSON value the cache keeps.
pub(super) fn body<T: Serialize>(value: &T) -> Answer {
    serde_json::to_value(value).map_err(|err| {
        tracing::error!(error = %err, "a stats body did not serialize");
        ApiError::Internal
    })
}

/// The body of `GET /api/stats/main` for `totals` of the resolved range,
/// with the previous period under the same `filters` when they are given
/// (`compare=previous`).
pub(super) fn main_body(
    db: &ReadConn<'_>,
    r: &Resolved,
    totals: &Totals,
    previous_with: Option<Vec<Filter>>,
) -> Result<MainBody, StoreError> {
    let previous = match previous_with {
        Some(filters) => {
            let previous = StatsQuery {
                range: r.range.previous(),
                filters,
                with_imported: r.with_imported,
            };
            let totals = db.stats_main(&r.site, &previous)?;
            Some(MainMetrics::of(&totals, previous.range))
        }
        None => None,
    };
    Ok(MainBody {
        metrics: MainMetrics::of(totals, r.range),
        time_zone: r.site.time_zone.name().to_owned(),
        previous,
    })
}

/// `GET /api/stats/realtime`: visitors with an event in the last five minutes
/// (filters apply; the period is ignored). Never cached.
#[utoipa::path(
    get,
    path = "/api/stats/realtime",
    tag = "Stats",
    params(crate::openapi::params::Common),
    responses((status = 200, description = "Visitors of the last five minutes", body = crate::stats::dto::RealtimeBody), crate::openapi::responses::StatsErrors),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn realtime(
    _access: StatsAccess,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let raw = RawParams::parse(query.as_deref());
    let common = CommonParams::from_raw(&raw)?;
    let filters = super::goals::resolved_filters(&state, &common.site, common.filters).await?;
    let value = state
        .stats
        .run(&state, &common.site, common.period, None, move |db, r| {
            let visitors = db.stats_visitors_between(
                &r.site,
                r.now_ms - crate::live::LIVE_WINDOW_MS,
                r.now_ms,
                &filters,
            )?;
            Ok(body(&dto::RealtimeBody {
                visitors,
                window_secs: crate::live::LIVE_WINDOW_MS / 1000,
            }))
        })
        .await?;
    Ok(Json(value))
}
