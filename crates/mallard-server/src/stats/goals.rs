//! `GET /api/stats/goals`: each goal of the site with its conversions in
//! the period under the filters: the visitors who converted
//! (`unique_conversions`), the events that did (`total_conversions`), and
//! the share of the period's visitors who converted (`conversion_rate`, a
//! fraction like every `*_rate`). Also [`expand`]: a `goal==NAME` filter of
//! any stats endpoint put in terms of the goal's event, page pattern and
//! property.

use axum::Json;
use axum::extract::{RawQuery, State};
use mallard_core::{Dimension, EventName, Filter, FilterOp};
use mallard_store::goals::Goal;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::handlers::{answer, body};
use super::params::{CommonParams, RawParams};
use crate::auth::extract::StatsAccess;
use crate::error::ApiError;
use crate::state::AppState;

/// A goal's conversions in the previous period (`compare=previous`).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PreviousConversionsBody {
    /// Visitors who converted.
    unique_conversions: u64,
    /// Events that converted.
    total_conversions: i64,
    /// `unique_conversions` over that period's visitors, 0 to 1.
    conversion_rate: f64,
}

/// The revenue of a goal's conversions in one currency (never converted
/// into another).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct GoalRevenueBody {
    /// The ISO 4217 code, or `(unknown)` for amounts sent without one.
    currency: String,
    /// The amounts' sum, a decimal string.
    total: String,
    /// The converting events that carried an amount.
    events: i64,
    /// The average amount per such conversion, a decimal string.
    average: String,
}

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
    /// The revenue of the converting events per currency, most events
    /// first (a goal whose events carry no amount has none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    revenue: Vec<GoalRevenueBody>,
    /// The same in the previous period of the same length, with
    /// `compare=previous`.
    #[serde(skip_serializing_if = "Option::is_none")]
    previous: Option<PreviousConversionsBody>,
}

/// The conversions of `goals` and the period's visitors, under `query`.
fn conversions(
    db: &mallard_store::ReadConn<'_>,
    site: &mallard_store::stats::SiteInfo,
    query: &mallard_store::stats::StatsQuery,
    goals: &[Goal],
) -> Result<(Vec<mallard_store::stats::GoalConversions>, u64), mallard_store::StoreError> {
    db.stats_goal_conversions_and_visitors(site, query, goals)
}

/// The goals of the site with their conversions, in the order they were added.
#[utoipa::path(
    get,
    path = "/api/stats/goals",
    tag = "Stats",
    params(crate::openapi::params::Main),
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
    let compare = super::params::compare_previous(&raw)?;
    let domain = common.site.as_str().to_owned();
    let goals = state.read(move |db| db.goals(&domain)).await?;
    // The goals' definitions are part of the answer's key: a goal added or
    // changed is counted at once.
    let key = format!(
        "goals|{compare}|{}",
        goals
            .iter()
            .map(|g| format!("{}:{:?}", g.id, g.definition))
            .collect::<Vec<_>>()
            .join(",")
    );
    answer(&state, common, key, move |db, r, filters| {
        let query = r.query(filters);
        let (counted, visitors) = conversions(db, &r.site, &query, &goals)?;
        let before = if compare {
            let previous = mallard_store::stats::StatsQuery {
                range: r.range.previous(),
                filters: query.filters.clone(),
                with_imported: query.with_imported,
            };
            Some(conversions(db, &r.site, &previous, &goals)?)
        } else {
            None
        };
        let rate = |part: u64, whole: u64| super::dto::fraction(part as f64, whole as f64);
        let rows: Vec<GoalConversionBody> = goals
            .iter()
            .enumerate()
            .map(|(index, goal)| {
                let conversions = counted.get(index).cloned().unwrap_or_default();
                let totals = conversions.totals;
                GoalConversionBody {
                    id: goal.id,
                    goal: goal.definition.name.clone(),
                    unique_conversions: totals.visitors,
                    total_conversions: totals.events,
                    conversion_rate: rate(totals.visitors, visitors),
                    revenue: conversions
                        .revenue
                        .iter()
                        .map(|r| GoalRevenueBody {
                            currency: r.currency.clone(),
                            total: super::dto::amount(r.micros),
                            events: r.events,
                            average: super::dto::amount(r.micros / i128::from(r.events.max(1))),
                        })
                        .collect(),
                    previous: before.as_ref().map(|(counted, visitors)| {
                        let totals = counted.get(index).map(|c| c.totals).unwrap_or_default();
                        PreviousConversionsBody {
                            unique_conversions: totals.visitors,
                            total_conversions: totals.events,
                            conversion_rate: rate(totals.visitors, *visitors),
                        }
                    }),
                }
            })
            .collect();
        Ok(body(&rows))
    })
    .await
}

/// `filters` of `site` with their goal filters expanded ([`expand`]),
/// reading the site's goals only when there is one.
pub(crate) async fn resolved_filters(
    state: &AppState,
    site: &mallard_core::SiteId,
    filters: Vec<Filter>,
) -> Result<Vec<Filter>, ApiError> {
    if !filters
        .iter()
        .any(|filter| filter.dimension == Dimension::Goal)
    {
        return Ok(filters);
    }
    let domain = site.as_str().to_owned();
    let goals = state.read(move |db| db.goals(&domain)).await?;
    expand(&goals, filters)
}

/// Refuses funnel `steps` that name a goal `site` does not have (`goal:NAME`),
/// with a 400 naming it; reads the site's goals only when a step names one.
/// Returns what those goals count, for the answer's cache key (a goal that
/// changes counts something else).
pub(crate) async fn check_goal_steps(
    state: &AppState,
    site: &mallard_core::SiteId,
    steps: &[mallard_core::Step],
) -> Result<String, ApiError> {
    let named: Vec<&str> = steps
        .iter()
        .filter_map(|step| match step {
            mallard_core::Step::Goal(name) => Some(name.as_str()),
            _ => None,
        })
        .collect();
    if named.is_empty() {
        return Ok(String::new());
    }
    let domain = site.as_str().to_owned();
    let goals = state.read(move |db| db.goals(&domain)).await?;
    let mut counted = String::new();
    for name in named {
        counted.push_str(&format!("{:?}", goal_named(&goals, name)?.definition));
    }
    Ok(counted)
}

/// The goal of `goals` named `name`; a 400 naming it when there is none.
fn goal_named<'a>(goals: &'a [Goal], name: &str) -> Result<&'a Goal, ApiError> {
    goals
        .iter()
        .find(|goal| goal.definition.name == name)
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "the site has no goal named {name} (its goals are listed by /api/goals)"
            ))
        })
}

/// `filters` with each `goal==NAME` replaced by what the goal counts: its
/// custom event (and property) or the page views of its path pattern, all
/// conditions on one event. A goal the site does not have, or `goal!=`, is
/// a 400 naming it.
pub(crate) fn expand(goals: &[Goal], filters: Vec<Filter>) -> Result<Vec<Filter>, ApiError> {
    let mut expanded = Vec::with_capacity(filters.len() + 2);
    for filter in filters {
        if filter.dimension != Dimension::Goal {
            expanded.push(filter);
            continue;
        }
        if filter.op != FilterOp::Is {
            return Err(ApiError::BadRequest(
                "goal filters take == only: goal==NAME".into(),
            ));
        }
        let goal = goal_named(goals, &filter.value)?;
        let is = |dimension: Dimension, value: &str| Filter {
            dimension,
            op: FilterOp::Is,
            value: value.to_owned(),
        };
        let definition = &goal.definition;
        match (&definition.event_name, &definition.page_path) {
            (Some(name), _) => expanded.push(is(Dimension::Event, name)),
            (None, Some(path)) => {
                expanded.push(is(Dimension::Page, path));
                expanded.push(is(Dimension::Event, EventName::PAGEVIEW));
            }
            (None, None) => {}
        }
        if let Some((key, value)) = &definition.prop {
            expanded.push(is(Dimension::Prop(key.clone()), value));
        }
    }
    Ok(expanded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mallard_store::goals::GoalDefinition;

    fn goal(
        name: &str,
        event: Option<&str>,
        page: Option<&str>,
        prop: Option<(&str, &str)>,
    ) -> Goal {
        Goal {
            id: 1,
            definition: GoalDefinition {
                name: name.into(),
                event_name: event.map(Into::into),
                page_path: page.map(Into::into),
                prop: prop.map(|(k, v)| (k.into(), v.into())),
            },
            created_at_ms: 0,
        }
    }

    #[test]
    fn goal_filters_become_their_goals_conditions_on_one_event() {
        let goals = [
            goal("Pro", Some("Signup"), None, Some(("plan", "pro"))),
            goal("Blog", None, Some("/blog/*"), None),
        ];
        let parse = |text: &str| mallard_core::filter::parse_filters(text).unwrap();
        assert_eq!(
            expand(&goals, parse("goal==Pro;country==DE")).unwrap(),
            parse("event==Signup;props.plan==pro;country==DE")
        );
        assert_eq!(
            expand(&goals, parse("goal==Blog")).unwrap(),
            parse("page==/blog/*;event==pageview")
        );
        let unknown = expand(&goals, parse("goal==Nope")).unwrap_err();
        assert!(matches!(unknown, ApiError::BadRequest(m) if m.contains("no goal named Nope")));
        assert!(matches!(
            expand(&goals, parse("goal!=Pro")).unwrap_err(),
            ApiError::BadRequest(_)
        ));
    }
}
