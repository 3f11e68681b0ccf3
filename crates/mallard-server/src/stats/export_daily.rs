//! `GET /api/stats/export`: the period's daily aggregates as Mallard
//! documents them, as CSV (default) or JSON: one row per day with `date`,
//! `visitors`, `pageviews`, `top_page` and `top_source`, where the top page
//! and source are those of the whole period (Mallard's rule), repeated on
//! every row. Filters apply. The raw events and visits are
//! `GET /api/stats/export/events` ([`super::export`]).
//!
//! The answer is counted in one pass ([`mallard_store::ReadConn::stats_view`])
//! and cached like the other stats answers. CSV cells that a spreadsheet
//! would read as a formula are defused ([`super::csv`]).

use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use mallard_core::{Dimension, Interval};
use mallard_store::stats::BreakdownRow;
use serde::{Deserialize, Serialize};

use super::behaviour_params::ExportFormat;
use super::csv;
use super::handlers::{answer, body};
use super::params::{CommonParams, RawParams};
use crate::auth::extract::StatsAccess;
use crate::error::ApiError;
use crate::state::AppState;

/// One day of the export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct DailyRow {
    /// `YYYY-MM-DD` in the site's time zone.
    pub(crate) date: String,
    /// Distinct visitors that day.
    pub(crate) visitors: u64,
    /// Page views that day.
    pub(crate) pageviews: i64,
    /// The most viewed page of the period; `null` when it has none.
    pub(crate) top_page: Option<String>,
    /// The source of the most visits of the period; `null` when it has none.
    pub(crate) top_source: Option<String>,
}

/// The header row of the CSV file.
const CSV_HEADER: [&str; 5] = ["date", "visitors", "pageviews", "top_page", "top_source"];

/// The rows as a CSV file with a header row.
fn to_csv(rows: &[DailyRow]) -> String {
    let mut out = String::new();
    let header: Vec<String> = CSV_HEADER.iter().map(|s| (*s).to_owned()).collect();
    csv::push_line(&mut out, &header);
    for row in rows {
        let text =
            |value: &Option<String>| value.as_deref().map(csv::text_cell).unwrap_or_default();
        csv::push_line(
            &mut out,
            &[
                row.date.clone(),
                row.visitors.to_string(),
                row.pageviews.to_string(),
                text(&row.top_page),
                text(&row.top_source),
            ],
        );
    }
    out
}

/// `GET /api/stats/export`.
#[utoipa::path(
    get,
    path = "/api/stats/export",
    tag = "Stats",
    params(crate::openapi::params::Export),
    responses((status = 200, description = "The daily aggregates", content((String = "text/csv"), (Vec<crate::stats::export_daily::DailyRow> = "application/json"))), crate::openapi::responses::StatsErrors),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn daily(
    _access: StatsAccess,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let raw = RawParams::parse(query.as_deref());
    let common = CommonParams::from_raw(&raw)?;
    let format = ExportFormat::from_raw(&raw)?;
    let axum::Json(value) = answer(&state, common, "export-daily".into(), |db, r, filters| {
        let query = match r.series_query(Interval::Day, filters) {
            Ok(query) => query,
            Err(err) => return Ok(Err(err)),
        };
        let view = db.stats_view(
            &r.site,
            &query,
            Interval::Day,
            &[Dimension::Page, Dimension::Source],
            1,
        )?;
        let top = |rows: Option<&Vec<BreakdownRow>>| {
            rows.and_then(|rows| rows.first())
                .map(|row| row.value.clone())
        };
        let (top_page, top_source) = (top(view.breakdowns.first()), top(view.breakdowns.get(1)));
        let rows: Vec<DailyRow> = view
            .series
            .iter()
            .map(|point| DailyRow {
                date: Interval::Day.label(point.key),
                visitors: point.totals.visitors,
                pageviews: point.totals.pageviews,
                top_page: top_page.clone(),
                top_source: top_source.clone(),
            })
            .collect();
        Ok(body(&rows))
    })
    .await?;
    let (content, disposition) = match format {
        ExportFormat::Json => (value.to_string(), "attachment; filename=\"export.json\""),
        ExportFormat::Csv => {
            let rows: Vec<DailyRow> =
                serde_json::from_value(value).map_err(|_| ApiError::Internal)?;
            (to_csv(&rows), "attachment; filename=\"export.csv\"")
        }
    };
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(format.content_type()),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static(disposition),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        content,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_has_mallards_columns_and_defuses_formulas() {
        let rows = [
            DailyRow {
                date: "2024-01-15".into(),
                visitors: 142,
                pageviews: 518,
                top_page: Some("/pricing".into()),
                top_source: Some("=cmd".into()),
            },
            DailyRow {
                date: "2024-01-16".into(),
                visitors: 0,
                pageviews: 0,
                top_page: None,
                top_source: None,
            },
        ];
        assert_eq!(
            to_csv(&rows),
            "date,visitors,pageviews,top_page,top_source\r\n\
             2024-01-15,142,518,/pricing,'=cmd\r\n\
             2024-01-16,0,0,,\r\n"
        );
    }
}
