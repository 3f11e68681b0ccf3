//! `GET /api/stats/export`: the raw events (or the visits) of the period as a
//! CSV or JSON file to download.
//!
//! Parameters besides the common ones: `format` (`csv` or `json`), `data`
//! (`events` or `sessions`), `limit` (1 to 100,000 rows, default 100,000) and
//! `offset`. When rows are left, `X-Next-Offset` names the offset of the next
//! file. Exports go through the concurrency limit but are never cached.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use mallard_core::period::format_date;
use mallard_store::stats::{ExportEvent, SessionRow, StatsQuery};
use serde_json::{Map, Value, json};

use super::behaviour_dto::{duration_secs, timestamp};
use super::behaviour_params::{ExportData, ExportFormat, bounded};
use super::csv;
use super::params::{CommonParams, RawParams};
use crate::auth::extract::StatsAccess;
use crate::error::ApiError;
use crate::state::AppState;

/// The most rows one export file holds.
pub const MAX_EXPORT_ROWS: usize = 100_000;
/// The most rows an export may skip.
pub const MAX_EXPORT_OFFSET: usize = 100_000_000;

/// One cell of an exported row.
#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Text(Option<String>),
    Int(Option<i64>),
    Float(f64),
    Bool(bool),
    /// A decimal amount written by the server (revenue).
    Amount(Option<String>),
    Props(Vec<(String, String)>),
}

type Row = Vec<(&'static str, Cell)>;

/// Millionths as a decimal number without trailing zeros (`12.5`).
fn amount(micros: i64) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    let abs = micros.unsigned_abs();
    let (whole, fraction) = (abs / 1_000_000, abs % 1_000_000);
    if fraction == 0 {
        format!("{sign}{whole}")
    } else {
        let digits = format!("{fraction:06}");
        format!("{sign}{whole}.{}", digits.trim_end_matches('0'))
    }
}

fn event_row(e: &ExportEvent) -> Row {
    vec![
        ("timestamp", Cell::Text(Some(timestamp(e.ts)))),
        ("visit_id", Cell::Int(Some(e.visit_id))),
        ("name", Cell::Text(Some(e.name.clone()))),
        ("hostname", Cell::Text(Some(e.hostname.clone()))),
        ("pathname", Cell::Text(Some(e.pathname.clone()))),
        ("props", Cell::Props(e.props.clone())),
        ("revenue", Cell::Amount(e.revenue_micros.map(amount))),
        ("currency", Cell::Text(e.currency.clone())),
        ("source", Cell::Text(e.visit.source.clone())),
        ("referrer", Cell::Text(e.visit.referrer.clone())),
        ("utm_source", Cell::Text(e.visit.utm_source.clone())),
        ("utm_medium", Cell::Text(e.visit.utm_medium.clone())),
        ("utm_campaign", Cell::Text(e.visit.utm_campaign.clone())),
        ("browser", Cell::Text(e.visit.browser.clone())),
        ("os", Cell::Text(e.visit.os.clone())),
        (
            "device",
            Cell::Text(Some(e.visit.device.as_str().to_owned())),
        ),
        ("screen_width", Cell::Int(e.visit.screen_width)),
        ("country", Cell::Text(e.visit.country.clone())),
        ("is_bot", Cell::Bool(e.visit.is_bot)),
    ]
}

fn session_row(s: &SessionRow) -> Row {
    vec![
        ("visit_id", Cell::Int(Some(s.visit_id))),
        ("started_at", Cell::Text(Some(timestamp(s.start_ts)))),
        ("ended_at", Cell::Text(Some(timestamp(s.end_ts)))),
        ("duration_secs", Cell::Float(duration_secs(s))),
        ("pageviews", Cell::Int(Some(s.pageviews))),
        ("events", Cell::Int(Some(s.events))),
        ("bounce", Cell::Bool(s.pageviews == 1)),
        ("entry_page", Cell::Text(s.entry_page.clone())),
        ("exit_page", Cell::Text(s.exit_page.clone())),
        ("source", Cell::Text(s.visit.source.clone())),
        ("referrer", Cell::Text(s.visit.referrer.clone())),
        ("utm_source", Cell::Text(s.visit.utm_source.clone())),
        ("utm_medium", Cell::Text(s.visit.utm_medium.clone())),
        ("utm_campaign", Cell::Text(s.visit.utm_campaign.clone())),
        ("country", Cell::Text(s.visit.country.clone())),
        ("browser", Cell::Text(s.visit.browser.clone())),
        ("os", Cell::Text(s.visit.os.clone())),
        (
            "device",
            Cell::Text(Some(s.visit.device.as_str().to_owned())),
        ),
        ("screen_width", Cell::Int(s.visit.screen_width)),
        ("is_bot", Cell::Bool(s.visit.is_bot)),
    ]
}

fn props_object(props: &[(String, String)]) -> Value {
    Value::Object(
        props
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect::<Map<_, _>>(),
    )
}

/// The rows as a CSV file with a header row; `columns` names the columns
/// (also when there are no rows).
fn render_csv(columns: &[&str], rows: impl Iterator<Item = Row>) -> String {
    let mut out = String::new();
    csv::push_line(
        &mut out,
        &columns
            .iter()
            .map(|c| csv::text_cell(c))
            .collect::<Vec<_>>(),
    );
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .map(|(_, cell)| match cell {
                Cell::Text(text) => csv::text_cell(text.as_deref().unwrap_or("")),
                Cell::Int(n) => n.map(|n| n.to_string()).unwrap_or_default(),
                Cell::Float(x) => x.to_string(),
                Cell::Bool(b) => b.to_string(),
                Cell::Amount(a) => a.clone().unwrap_or_default(),
                Cell::Props(p) if p.is_empty() => String::new(),
                Cell::Props(p) => csv::text_cell(&props_object(p).to_string()),
            })
            .collect();
        csv::push_line(&mut out, &cells);
    }
    out
}

/// The rows as a JSON array of objects, written one row at a time.
fn render_json(rows: impl Iterator<Item = Row>) -> String {
    let mut out = String::from("[");
    for (i, row) in rows.enumerate() {
        if i > 0 {
            out.push(',');
        }
        let object: Map<String, Value> = row
            .into_iter()
            .map(|(name, cell)| {
                let value = match cell {
                    Cell::Text(text) => json!(text),
                    Cell::Int(n) => json!(n),
                    Cell::Float(x) => json!(x),
                    Cell::Bool(b) => json!(b),
                    Cell::Amount(a) => json!(a),
                    Cell::Props(p) => props_object(&p),
                };
                (name.to_owned(), value)
            })
            .collect();
        out.push_str(&Value::Object(object).to_string());
    }
    out.push(']');
    out
}

fn columns(data: ExportData) -> Vec<&'static str> {
    let row = match data {
        ExportData::Events => event_row(&ExportEvent::default()),
        ExportData::Sessions => session_row(&SessionRow::default()),
    };
    row.into_iter().map(|(name, _)| name).collect()
}

/// `GET /api/stats/export`.
pub(crate) async fn export(
    _access: StatsAccess,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let raw = RawParams::parse(query.as_deref());
    let common = CommonParams::from_raw(&raw)?;
    let format = ExportFormat::from_raw(&raw)?;
    let data = ExportData::from_raw(&raw)?;
    let limit = bounded(&raw, "limit", MAX_EXPORT_ROWS, 1, MAX_EXPORT_ROWS)?;
    let offset = bounded(&raw, "offset", 0, 0, MAX_EXPORT_OFFSET)?;
    // Site ids are letters, digits and `.` `_` `:` `-`; `:` is not allowed in
    // Windows file names.
    let site_name = common.site.as_str().replace(':', "_");
    let filters = common.filters;
    let permit = state.stats.heavy_permit()?;
    let mut answer = state
        .stats
        .run(&state, &common.site, common.period, None, move |db, r| {
            let _permit = permit;
            let query = StatsQuery {
                range: r.range,
                filters,
            };
            let render = |rows: &mut dyn Iterator<Item = Row>| match format {
                ExportFormat::Csv => render_csv(&columns(data), rows),
                ExportFormat::Json => render_json(rows),
            };
            let (body, more) = match data {
                ExportData::Events => {
                    let events = db.stats_export_events(&r.site, &query, limit + 1, offset)?;
                    let more = events.len() > limit;
                    (render(&mut events.iter().take(limit).map(event_row)), more)
                }
                ExportData::Sessions => {
                    let visits = db.stats_sessions(&r.site, &query, limit + 1, offset, true)?;
                    let more = visits.len() > limit;
                    (
                        render(&mut visits.iter().take(limit).map(session_row)),
                        more,
                    )
                }
            };
            let filename = format!(
                "mallard-{site_name}-{}-{}-{}.{}",
                data.as_str(),
                format_date(r.range.start),
                format_date(r.range.end),
                format.extension()
            );
            Ok(Ok(json!({
                "body": body,
                "filename": filename,
                "next_offset": more.then_some(offset + limit),
            })))
        })
        .await?;
    let body = match answer["body"].take() {
        Value::String(body) => body,
        _ => return Err(ApiError::Internal),
    };
    let disposition = format!(
        "attachment; filename=\"{}\"",
        answer["filename"].as_str().unwrap_or("mallard-export")
    );
    let mut response = (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(format.content_type()),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&disposition).map_err(|_| ApiError::Internal)?,
    );
    if let Some(next) = answer["next_offset"].as_u64() {
        headers.insert(
            HeaderName::from_static("x-next-offset"),
            HeaderValue::from(next),
        );
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_decimal_without_trailing_zeros() {
        assert_eq!(amount(12_500_000), "12.5");
        assert_eq!(amount(5_000_000), "5");
        assert_eq!(amount(1), "0.000001");
        assert_eq!(amount(-2_250_000), "-2.25");
    }

    #[test]
    fn files_render_with_headers_and_escaping() {
        let row: Row = vec![
            ("page", Cell::Text(Some("=cmd()".into()))),
            ("n", Cell::Int(None)),
            ("props", Cell::Props(vec![("plan".into(), "-1".into())])),
            ("bot", Cell::Bool(false)),
        ];
        let csv = render_csv(&["page", "n", "props", "bot"], std::iter::once(row.clone()));
        assert_eq!(
            csv,
            "page,n,props,bot\r\n'=cmd(),,\"{\"\"plan\"\":\"\"-1\"\"}\",false\r\n"
        );
        let json: Value = serde_json::from_str(&render_json(std::iter::once(row))).unwrap();
        assert_eq!(render_json(std::iter::empty()), "[]");
        assert_eq!(
            json,
            json!([{"page": "=cmd()", "n": null, "props": {"plan": "-1"}, "bot": false}])
        );
        assert_eq!(columns(ExportData::Events)[0], "timestamp");
        assert_eq!(columns(ExportData::Sessions).len(), 20);
    }
}
