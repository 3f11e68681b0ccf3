//! The handlers of the behavioural endpoints: `GET /api/stats/sessions`,
//! `/funnel`, `/retention`, `/sequences` and `/flow`. Like every stats
//! endpoint they check [`StatsAccess`], take the common parameters, run
//! through the stats runtime (concurrency limit, cache per site and query)
//! and answer bad parameters with 400. They read raw rows, so at most
//! two of them (and of exports) run at once; beyond, 429.

use axum::Json;
use axum::extract::{RawQuery, State};
use serde_json::{Value, json};

use super::behaviour_dto as dto;
use super::behaviour_params::{self as bp};
use super::dto::period;
use super::params::{self, CommonParams, RawParams};
use super::runtime::Resolved;
use crate::auth::extract::StatsAccess;
use crate::error::ApiError;
use crate::state::AppState;
use mallard_store::ReadConn;
use mallard_store::StoreError;
use mallard_store::stats::StatsQuery;

/// The most sessions one request may skip.
pub const MAX_OFFSET: usize = 1_000_000;
/// The longest sequence.
pub const MAX_SEQUENCE_LENGTH: usize = 5;
/// The most retention weeks.
pub const MAX_WEEKS: usize = 52;

/// Runs `compute` for the common parameters of `raw`, cached under `key`, and
/// adds the resolved period and time zone to its object.
async fn run_json<F>(
    state: &AppState,
    common: CommonParams,
    key: String,
    compute: F,
) -> Result<Json<Value>, ApiError>
where
    F: FnOnce(&ReadConn<'_>, &Resolved, StatsQuery) -> Result<Value, StoreError> + Send + 'static,
{
    // Held by this future, so a query whose client went away frees it at once.
    let _permit = state.stats.heavy_permit()?;
    super::handlers::answer(state, common, key, move |db, r, filters| {
        let mut body = compute(db, r, r.query(filters))?;
        if let Value::Object(map) = &mut body {
            map.insert("period".into(), period(r.range));
            map.insert("time_zone".into(), json!(r.site.time_zone.name()));
        }
        Ok(Ok(body))
    })
    .await
}

/// `GET /api/stats/sessions`: the visits of the period, newest first.
pub(crate) async fn sessions(
    _access: StatsAccess,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let raw = RawParams::parse(query.as_deref());
    let common = CommonParams::from_raw(&raw)?;
    let limit = params::limit(&raw)?;
    let offset = bp::bounded(&raw, "offset", 0, 0, MAX_OFFSET)?;
    let oldest = bp::oldest_first(&raw)?;
    let key = format!("sessions|{limit}|{offset}|{oldest}");
    run_json(&state, common, key, move |db, r, query| {
        let mut rows = db.stats_sessions(&r.site, &query, limit + 1, offset, oldest)?;
        let more = rows.len() > limit;
        rows.truncate(limit);
        Ok(json!({
            "limit": limit,
            "offset": offset,
            "next_offset": more.then_some(offset + limit),
            "results": rows.iter().map(dto::session).collect::<Vec<_>>(),
        }))
    })
    .await
}

/// `GET /api/stats/funnel`: visits through `steps`, in order.
pub(crate) async fn funnel(
    _access: StatsAccess,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let raw = RawParams::parse(query.as_deref());
    let common = CommonParams::from_raw(&raw)?;
    let steps = bp::steps(&raw)?;
    let window = bp::window_secs(&raw)?;
    let key = format!("funnel|{steps:?}|{window:?}");
    run_json(&state, common, key, move |db, r, query| {
        let result = db.stats_funnel(&r.site, &query, &steps, window.map(|s| s * 1000))?;
        let first = result.first().map_or(0, |s| s.visits);
        let last = result.last().map_or(0, |s| s.visits);
        Ok(json!({
            "window_secs": window,
            "steps": dto::funnel_steps(&result),
            "entered": first,
            "completed": last,
            "conversion_rate": dto::percent(last, first),
        }))
    })
    .await
}

/// `GET /api/stats/retention`: weekly cohorts and their returns.
pub(crate) async fn retention(
    _access: StatsAccess,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let raw = RawParams::parse(query.as_deref());
    let common = CommonParams::from_raw(&raw)?;
    let weeks = bp::bounded(&raw, "weeks", 4, 1, MAX_WEEKS)?;
    let key = format!("retention|{weeks}");
    run_json(&state, common, key, move |db, r, query| {
        let cohorts = db.stats_retention(&r.site, &query, weeks)?;
        Ok(json!({ "weeks": weeks, "cohorts": dto::cohorts(&cohorts) }))
    })
    .await
}

/// `GET /api/stats/sequences`: the most common runs of steps within visits.
pub(crate) async fn sequences(
    _access: StatsAccess,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let raw = RawParams::parse(query.as_deref());
    let common = CommonParams::from_raw(&raw)?;
    let length = bp::bounded(&raw, "length", 3, 2, MAX_SEQUENCE_LENGTH)?;
    let limit = params::limit(&raw)?;
    let key = format!("sequences|{length}|{limit}");
    run_json(&state, common, key, move |db, r, query| {
        let rows = db.stats_sequences(&r.site, &query, length, limit)?;
        Ok(json!({ "length": length, "results": dto::sequences(&rows) }))
    })
    .await
}

/// `GET /api/stats/flow`: the pages before and after one page.
pub(crate) async fn flow(
    _access: StatsAccess,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let raw = RawParams::parse(query.as_deref());
    let common = CommonParams::from_raw(&raw)?;
    let page = bp::page(&raw)?;
    let limit = params::limit(&raw)?;
    let key = format!("flow|{page:?}|{limit}");
    run_json(&state, common, key, move |db, r, query| {
        let flow = db.stats_flow(&r.site, &query, &page, limit)?;
        Ok(dto::flow(&page, &flow))
    })
    .await
}
