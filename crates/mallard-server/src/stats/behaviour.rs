//! The handlers of the behavioural endpoints. Mallard's, in its shapes:
//! `GET /api/stats/sessions` (session aggregates), `/funnel`, `/retention`,
//! `/sequences` (the conversion of one ordered sequence) and `/flow` (the
//! pages after one page). Richer answers under their own paths:
//! `/api/stats/visits` (the visits list), `/paths` (the most common runs of
//! steps) and `/flow/around` (the pages before and after one page).
//!
//! Like every stats endpoint they check [`StatsAccess`], take the common
//! parameters, run through the stats runtime (concurrency limit, cache per
//! site and query) and answer bad parameters with 400. Those that read the
//! visits' events hold a heavy permit: at most two of them (and of exports)
//! run at once; beyond, 429.

use axum::Json;
use axum::extract::{RawQuery, State};
use serde_json::Value;

use super::behaviour_dto as dto;
use super::behaviour_params::{self as bp};
use super::dto::{PeriodBody, avg_duration_secs, bounce_rate, views_per_visit};
use super::handlers::body;
use super::params::{self, CommonParams, RawParams};
use super::runtime::{Answer, Resolved};
use crate::auth::extract::StatsAccess;
use crate::error::ApiError;
use crate::state::AppState;
use mallard_core::Step;
use mallard_store::ReadConn;
use mallard_store::StoreError;
use mallard_store::stats::StatsQuery;

/// The most sessions one request may skip.
pub const MAX_OFFSET: usize = 1_000_000;
/// The longest sequence.
pub const MAX_SEQUENCE_LENGTH: usize = 5;
/// The most retention weeks.
pub const MAX_WEEKS: usize = 52;

/// Runs `compute` for the common parameters under a heavy permit, cached
/// under `key`.
async fn run_heavy<F>(
    state: &AppState,
    common: CommonParams,
    key: String,
    compute: F,
) -> Result<Json<Value>, ApiError>
where
    F: FnOnce(&ReadConn<'_>, &Resolved, StatsQuery) -> Result<Answer, StoreError> + Send + 'static,
{
    // Held by this future, so a query whose client went away frees it at once.
    let _permit = state.stats.heavy_permit()?;
    super::handlers::answer(state, common, key, move |db, r, filters| {
        compute(db, r, r.query(filters))
    })
    .await
}

/// The period and time zone of a resolved query.
fn context(r: &Resolved) -> (PeriodBody, String) {
    (PeriodBody::of(r.range), r.site.time_zone.name().to_owned())
}

/// `GET /api/stats/sessions`: the visits' count, mean duration and mean page
/// views (Mallard's session aggregates), from the same counters as `main`.
#[utoipa::path(
    get,
    path = "/api/stats/sessions",
    tag = "Stats",
    params(crate::openapi::params::Common),
    responses((status = 200, description = "Mallard's session aggregates", body = crate::stats::behaviour_dto::SessionsBody), crate::openapi::responses::StatsErrors),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn sessions(
    _access: StatsAccess,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let raw = RawParams::parse(query.as_deref());
    let common = CommonParams::from_raw(&raw)?;
    super::handlers::answer(&state, common, "sessions".into(), move |db, r, filters| {
        let totals = db.stats_main(&r.site, &r.query(filters))?;
        let (period, time_zone) = context(r);
        Ok(body(&dto::SessionsBody {
            total_sessions: totals.visits,
            avg_session_duration_secs: avg_duration_secs(&totals),
            avg_pages_per_session: views_per_visit(&totals),
            bounce_rate: bounce_rate(&totals),
            unique_visitors: totals.visitors,
            period,
            time_zone,
        }))
    })
    .await
}

/// `GET /api/stats/visits`: the visits of the period, newest first.
#[utoipa::path(
    get,
    path = "/api/stats/visits",
    tag = "Stats",
    params(crate::openapi::params::Visits),
    responses((status = 200, description = "One page of the visits", body = crate::stats::behaviour_dto::VisitsBody), crate::openapi::responses::StatsErrors),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn visits(
    _access: StatsAccess,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let raw = RawParams::parse(query.as_deref());
    let common = CommonParams::from_raw(&raw)?;
    let limit = params::limit(&raw)?;
    let offset = bp::bounded(&raw, "offset", 0, 0, MAX_OFFSET)?;
    let oldest = bp::oldest_first(&raw)?;
    let key = format!("visits|{limit}|{offset}|{oldest}");
    run_heavy(&state, common, key, move |db, r, query| {
        let mut rows = db.stats_sessions(&r.site, &query, limit + 1, offset, oldest)?;
        let more = rows.len() > limit;
        rows.truncate(limit);
        let (period, time_zone) = context(r);
        Ok(body(&dto::VisitsBody {
            limit,
            offset,
            next_offset: more.then_some(offset + limit),
            results: rows.iter().map(dto::VisitBody::of).collect(),
            period,
            time_zone,
        }))
    })
    .await
}

/// `GET /api/stats/funnel`: visits through `steps`, in order; one item per
/// step.
#[utoipa::path(
    get,
    path = "/api/stats/funnel",
    tag = "Stats",
    params(crate::openapi::params::Funnel),
    responses((status = 200, description = "One item per step", body = Vec<crate::stats::behaviour_dto::FunnelStepBody>), crate::openapi::responses::StatsErrors),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn funnel(
    _access: StatsAccess,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let raw = RawParams::parse(query.as_deref());
    let common = CommonParams::from_raw(&raw)?;
    let steps = bp::steps(&raw)?;
    let window = bp::window_secs(&raw)?;
    let goals = super::goals::check_goal_steps(&state, &common.site, &steps).await?;
    let key = format!("funnel|{steps:?}|{window:?}|{goals}");
    run_heavy(&state, common, key, move |db, r, query| {
        let result = db.stats_funnel(&r.site, &query, &steps, window.map(|s| s * 1000))?;
        Ok(body(&dto::funnel_steps(&result)))
    })
    .await
}

/// `GET /api/stats/retention`: weekly cohorts and their returns.
#[utoipa::path(
    get,
    path = "/api/stats/retention",
    tag = "Stats",
    params(crate::openapi::params::Retention),
    responses((status = 200, description = "Weekly cohorts", body = Vec<crate::stats::behaviour_dto::CohortBody>), crate::openapi::responses::StatsErrors),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn retention(
    _access: StatsAccess,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let raw = RawParams::parse(query.as_deref());
    let common = CommonParams::from_raw(&raw)?;
    let weeks = bp::bounded(&raw, "weeks", 4, 1, MAX_WEEKS)?;
    let key = format!("retention|{weeks}");
    run_heavy(&state, common, key, move |db, r, query| {
        let cohorts = db.stats_retention(&r.site, &query, weeks)?;
        Ok(body(&dto::cohorts(&cohorts)))
    })
    .await
}

/// `GET /api/stats/sequences`: how many of the period's visitors took
/// `steps` in order within one visit (other steps may come between).
#[utoipa::path(
    get,
    path = "/api/stats/sequences",
    tag = "Stats",
    params(crate::openapi::params::Sequences),
    responses((status = 200, description = "The conversion of one ordered sequence", body = crate::stats::behaviour_dto::SequenceBody), crate::openapi::responses::StatsErrors),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn sequences(
    _access: StatsAccess,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let raw = RawParams::parse(query.as_deref());
    let common = CommonParams::from_raw(&raw)?;
    let steps = bp::steps(&raw)?;
    let goals = super::goals::check_goal_steps(&state, &common.site, &steps).await?;
    let key = format!("sequences|{steps:?}|{goals}");
    run_heavy(&state, common, key, move |db, r, query| {
        let funnel = db.stats_funnel(&r.site, &query, &steps, None)?;
        let total = db.stats_main(&r.site, &query)?.visitors;
        let last = funnel.last();
        let converting = last.map_or(0, |s| s.visitors);
        let (period, time_zone) = context(r);
        Ok(body(&dto::SequenceBody {
            converting_visitors: converting,
            total_visitors: total,
            conversion_rate: dto::rate(converting, total),
            steps: steps.iter().map(Step::to_string).collect(),
            converting_visits: last.map_or(0, |s| s.visits),
            period,
            time_zone,
        }))
    })
    .await
}

/// `GET /api/stats/paths`: the most common runs of steps within visits.
#[utoipa::path(
    get,
    path = "/api/stats/paths",
    tag = "Stats",
    params(crate::openapi::params::Paths),
    responses((status = 200, description = "The most common paths", body = crate::stats::behaviour_dto::PathsBody), crate::openapi::responses::StatsErrors),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn paths(
    _access: StatsAccess,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let raw = RawParams::parse(query.as_deref());
    let common = CommonParams::from_raw(&raw)?;
    let length = bp::bounded(&raw, "length", 3, 2, MAX_SEQUENCE_LENGTH)?;
    let limit = params::limit(&raw)?;
    let key = format!("paths|{length}|{limit}");
    run_heavy(&state, common, key, move |db, r, query| {
        let rows = db.stats_sequences(&r.site, &query, length, limit)?;
        let (period, time_zone) = context(r);
        Ok(body(&dto::PathsBody {
            length,
            results: dto::paths(&rows),
            period,
            time_zone,
        }))
    })
    .await
}

/// The parameters of both flows: the common ones, `page` and `limit`.
fn flow_params(query: Option<&str>) -> Result<(CommonParams, String, usize), ApiError> {
    let raw = RawParams::parse(query);
    Ok((
        CommonParams::from_raw(&raw)?,
        bp::page(&raw)?,
        params::limit(&raw)?,
    ))
}

/// `GET /api/stats/flow`: the pages viewed right after `page`, most visits
/// first.
#[utoipa::path(
    get,
    path = "/api/stats/flow",
    tag = "Stats",
    params(crate::openapi::params::Flow),
    responses((status = 200, description = "The pages viewed next", body = Vec<crate::stats::behaviour_dto::NextPageBody>), crate::openapi::responses::StatsErrors),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn flow(
    _access: StatsAccess,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let (common, page, limit) = flow_params(query.as_deref())?;
    let key = format!("flow|{page:?}|{limit}");
    run_heavy(&state, common, key, move |db, r, query| {
        // One more row than asked, in case the visits that ended on the page
        // are among the top ones: they are not a next page.
        let flow = db.stats_flow(&r.site, &query, &page, limit + 1)?;
        let mut rows = dto::next_pages(&flow);
        rows.truncate(limit);
        Ok(body(&rows))
    })
    .await
}

/// `GET /api/stats/flow/around`: the pages before and after one page.
#[utoipa::path(
    get,
    path = "/api/stats/flow/around",
    tag = "Stats",
    params(crate::openapi::params::Flow),
    responses((status = 200, description = "The pages before and after", body = crate::stats::behaviour_dto::FlowAroundBody), crate::openapi::responses::StatsErrors),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn flow_around(
    _access: StatsAccess,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let (common, page, limit) = flow_params(query.as_deref())?;
    let key = format!("flow-around|{page:?}|{limit}");
    run_heavy(&state, common, key, move |db, r, query| {
        let flow = db.stats_flow(&r.site, &query, &page, limit)?;
        let (period, time_zone) = context(r);
        Ok(body(&dto::FlowAroundBody::of(
            page, &flow, period, time_zone,
        )))
    })
    .await
}
