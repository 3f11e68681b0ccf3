//! `GET /api/stats/goals`: each goal of the site with its conversions in
//! the period under the filters: the visitors who converted
//! (`unique_conversions`), the events that did (`total_conversions`), and
//! the share of the period's visitors who converted (`conversion_rate`, a
//! fraction like every `*_rate`).

use axum::Json;
use axum::extract::{RawQuery, State};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::handlers::{answer, body};
use super::params::{CommonParams, RawParams};
use crate::auth::extract::StatsAccess;
use crate::error::ApiError;
use crate::state::AppState;

/// One goal's conversions.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct GoalConversionBody {
    /// The goal's id (`/api/goals`).
    id: i64,
    /// The goal's name.
    goal: String,
    /// Visitors who converted.
    unique_conversions: u64,
    /// Events that converted (page views of the pattern, or the events).
    total_conversions: i64,
    /// `unique_conversions` over the period's visitors, 0 to 1.
    conversion_rate: f64,
}

/// The goals of the site with their conversions, in the order they were added.
#[utoipa::path(
    get,
    path = "/api/stats/goals",
    tag = "Stats",
    params(crate::openapi::params::Common),
    responses((status = 200, description = "Every goal of the site with its conversions", body = Vec<GoalConversionBody>), crate::openapi::responses::StatsErrors),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn goals(
    _access: StatsAccess,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let raw = RawParams::parse(query.as_deref());
    let common = CommonParams::from_raw(&raw)?;
    let domain = common.site.as_str().to_owned();
    let goals = state.read(move |db| db.goals(&domain)).await?;
    // The goals' definitions are part of the answer's key: a goal added or
    // changed is counted at once.
    let key = format!(
        "goals|{}",
        goals
            .iter()
            .map(|g| format!("{}:{:?}", g.id, g.definition))
            .collect::<Vec<_>>()
            .join(",")
    );
    answer(&state, common, key, move |db, r, filters| {
        let query = r.query(filters);
        let definitions: Vec<_> = goals.iter().map(|g| g.definition.clone()).collect();
        let conversions = db.stats_goal_conversions(&r.site, &query, &definitions)?;
        let visitors = if goals.is_empty() {
            0
        } else {
            db.stats_main(&r.site, &query)?.visitors
        };
        let rows: Vec<GoalConversionBody> = goals
            .iter()
            .zip(conversions)
            .map(|(goal, totals)| GoalConversionBody {
                id: goal.id,
                goal: goal.definition.name.clone(),
                unique_conversions: totals.visitors,
                total_conversions: totals.events,
                conversion_rate: super::dto::fraction(totals.visitors as f64, visitors as f64),
            })
            .collect();
        Ok(body(&rows))
    })
    .await
}
