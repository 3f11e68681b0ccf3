//! `GET /api/stats/view`: a whole dashboard view in one request.
//!
//! The answer holds what `main`, `timeseries` and one `breakdown/{name}`
//! per name in `breakdowns` answer for the same parameters, each in its own
//! endpoint's shape, with the series' `interval`, the `period` and the
//! `time_zone`, and with `chart=svg` the time series drawn as
//! `chart/timeseries.svg` draws it. With filters the store counts all of
//! them in one pass over the period ([`mallard_store::ReadConn::stats_view`]),
//! so a filtered dashboard reads its period once instead of once per panel.
//!
//! Parameters: the common ones, `interval` (as `timeseries`), `limit` (as
//! `breakdown`, for every breakdown), `compare=previous` (as `main`),
//! `breakdowns` (comma-separated breakdown names such as `pages,sources`, or
//! `props/KEY`; at most [`MAX_BREAKDOWNS`]), and `chart=svg` with the chart
//! parameters `width`, `height` and `theme`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{RawQuery, State};
use mallard_charts::ChartFormat;
use mallard_core::Dimension;
use serde::Serialize;
use serde_json::Value;

use super::dto::{self, BreakdownRowBody, MainBody, PeriodBody, SeriesPointBody};
use super::handlers::{answer, body, main_body};
use super::params::{self, CommonParams, RawParams};
use crate::auth::extract::StatsAccess;
use crate::error::ApiError;
use crate::state::AppState;

/// The most breakdowns one view may ask for.
pub const MAX_BREAKDOWNS: usize = 12;

/// The breakdowns named by `breakdowns`, with their names.
fn breakdowns(raw: &RawParams) -> Result<Vec<(String, Dimension)>, ApiError> {
    let Some(list) = raw.get("breakdowns") else {
        return Ok(Vec::new());
    };
    let names: Vec<&str> = list.split(',').map(str::trim).collect();
    if names.len() > MAX_BREAKDOWNS {
        return Err(ApiError::BadRequest(format!(
            "breakdowns may name at most {MAX_BREAKDOWNS} breakdowns"
        )));
    }
    names
        .into_iter()
        .map(|name| {
            let dimension = match name.strip_prefix("props/") {
                Some(key) => {
                    Dimension::prop(key).map_err(|e| ApiError::BadRequest(e.to_string()))?
                }
                None => Dimension::from_breakdown_name(name).ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "Unknown breakdown {name:?} in breakdowns; see docs/api.md for the list"
                    ))
                })?,
            };
            Ok((name.to_owned(), dimension))
        })
        .collect()
}

/// The body of `GET /api/stats/view`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub(crate) struct ViewBody {
    /// As `GET /api/stats/main` answers.
    pub(crate) main: MainBody,
    /// As `GET /api/stats/timeseries` answers.
    pub(crate) timeseries: Vec<SeriesPointBody>,
    /// The buckets of `timeseries`: `hour`, `day`, `week` or `month`.
    pub(crate) interval: &'static str,
    /// The period counted.
    pub(crate) period: PeriodBody,
    /// The site's time zone.
    pub(crate) time_zone: String,
    /// Each breakdown asked for by its name, as `GET
    /// /api/stats/breakdown/{name}` answers.
    pub(crate) breakdowns: BTreeMap<String, Vec<BreakdownRowBody>>,
    /// The time series drawn as `chart/timeseries.svg`, with `chart=svg`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) chart_svg: Option<String>,
}

/// `chart`: absent, or `svg`.
fn wants_chart(raw: &RawParams) -> Result<bool, ApiError> {
    match raw.get("chart") {
        None => Ok(false),
        Some("svg") => Ok(true),
        Some(_) => Err(ApiError::BadRequest("chart must be svg".into())),
    }
}

/// `GET /api/stats/view`.
#[utoipa::path(
    get,
    path = "/api/stats/view",
    tag = "Stats",
    params(crate::openapi::params::View),
    responses((status = 200, description = "A whole dashboard view", body = crate::stats::view::ViewBody), crate::openapi::responses::StatsErrors),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn view(
    _access: StatsAccess,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let raw = RawParams::parse(query.as_deref());
    let common = CommonParams::from_raw(&raw)?;
    let interval = params::interval(&raw, &common.period)?;
    let limit = params::limit(&raw)?;
    let compare = params::compare_previous(&raw)?;
    let named = breakdowns(&raw)?;
    let chart = if wants_chart(&raw)? {
        Some((
            super::charts::chart_options(query.as_deref())?,
            state.stats.chart_permit()?,
        ))
    } else {
        None
    };
    let chart_key = chart.as_ref().map(|(options, _)| format!("{options:?}"));
    let domain = common.site.as_str().to_owned();
    let key = format!("view|{interval:?}|{limit}|{compare}|{named:?}|{chart_key:?}");
    answer(&state, common, key, move |db, r, filters| {
        let query = match r.series_query(interval, filters.clone()) {
            Ok(query) => query,
            Err(err) => return Ok(Err(err)),
        };
        let dimensions: Vec<Dimension> = named.iter().map(|(_, d)| d.clone()).collect();
        let view = db.stats_view(&r.site, &query, interval, &dimensions, limit)?;
        let timeseries = dto::series(interval, &view.series);
        let chart_svg = match &chart {
            Some((options, _permit)) => {
                let mut chart = super::charts::timeseries_chart(interval, &timeseries);
                if let Ok(chart) = &mut chart
                    && let Some((from, to)) = super::charts::note_span(chart)
                {
                    let notes = db.annotations(&domain, Some(&from), Some(&to))?;
                    chart.notes = super::charts::chart_notes(&notes);
                }
                let drawing = chart.and_then(|chart| {
                    mallard_charts::render_timeseries(&chart, options, ChartFormat::Svg)
                        .map_err(|_| ApiError::Internal)
                });
                match drawing.map(String::from_utf8) {
                    Ok(Ok(svg)) => Some(svg),
                    Ok(Err(_)) | Err(_) => return Ok(Err(ApiError::Internal)),
                }
            }
            None => None,
        };
        let breakdowns = named
            .iter()
            .zip(&view.breakdowns)
            .map(|((name, dimension), rows)| (name.clone(), dto::breakdown(dimension, rows)))
            .collect();
        Ok(body(&ViewBody {
            main: main_body(db, r, &view.main, compare.then_some(filters))?,
            timeseries,
            interval: interval.as_str(),
            period: PeriodBody::of(r.range),
            time_zone: r.site.time_zone.name().to_owned(),
            breakdowns,
            chart_svg,
        }))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(query: &str) -> RawParams {
        RawParams::parse(Some(query))
    }

    #[test]
    fn breakdowns_are_named_breakdowns_or_properties() {
        let named = breakdowns(&raw("breakdowns=pages,sources,props/plan")).unwrap();
        assert_eq!(
            named,
            vec![
                ("pages".to_owned(), Dimension::Page),
                ("sources".to_owned(), Dimension::Source),
                ("props/plan".to_owned(), Dimension::prop("plan").unwrap()),
            ]
        );
        assert!(breakdowns(&raw("")).unwrap().is_empty());
        for bad in [
            "breakdowns=pages,nope",
            "breakdowns=props/",
            "breakdowns=pages,,sources",
        ] {
            let err = breakdowns(&raw(bad)).unwrap_err();
            assert_eq!(err.status().as_u16(), 400, "{bad}");
        }
        let too_many = vec!["pages"; MAX_BREAKDOWNS + 1].join(",");
        assert!(breakdowns(&raw(&format!("breakdowns={too_many}"))).is_err());
    }

    #[test]
    fn the_chart_is_svg_or_nothing() {
        assert!(!wants_chart(&raw("")).unwrap());
        assert!(wants_chart(&raw("chart=svg")).unwrap());
        assert!(wants_chart(&raw("chart=png")).is_err());
    }
}
