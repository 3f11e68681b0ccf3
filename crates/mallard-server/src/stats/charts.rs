//! `GET /api/stats/chart/timeseries.{svg,png}`,
//! `GET /api/stats/chart/breakdown/{dimension}.{svg,png}` and
//! `GET /api/stats/chart/map.{svg,png}`: the stats of the JSON endpoints (same
//! parameters, same cache, same access rules) drawn by `mallard-charts`; the
//! map shades every country by its visitors (the countries breakdown, all
//! rows). Extra parameters: `width` (100–4000, default 800), `height`
//! (100–2000, default 300; 400 for the map) and `theme` (`light` or `dark`).
//!
//! At most `MAX_CHART_RENDERS` charts are drawn at once (each holds a bitmap
//! of up to 4000 × 2000 pixels while it renders); beyond, a chart request is
//! answered 503 with `Retry-After: 1`.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use mallard_charts::{
    BarChart, BarRow, ChartError, ChartFormat, ChartOptions, Granularity, MAX_COUNTRIES, MapChart,
    MapRow, Theme, TimePoint, TimeseriesChart,
};
use mallard_core::Interval;
use mallard_core::period::format_date;
use serde_json::Value;
use time::PrimitiveDateTime;
use time::macros::format_description;

use super::dto::SeriesPointBody;
use super::handlers;
use super::params::{self, CommonParams, RawParams};
use crate::auth::extract::StatsAccess;
use crate::error::ApiError;
use crate::state::AppState;

/// `GET /api/stats/chart/{file}` where `file` is `timeseries` or `map`,
/// with `.svg` or `.png`.
#[utoipa::path(
    get,
    path = "/api/stats/chart/{file}",
    operation_id = "chart",
    tag = "Stats",
    params(crate::openapi::params::Chart, ("file" = String, Path, description = "timeseries.svg, timeseries.png, map.svg or map.png")),
    responses((status = 200, description = "The chart", content((String = "image/svg+xml"), (String = "image/png"))), (status = 404, description = "An unknown chart or format", body = crate::error::ErrorBody), crate::openapi::responses::StatsErrors),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn by_file(
    access: StatsAccess,
    state: State<AppState>,
    Path(file): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    match split_file(&file)? {
        ("timeseries", format) => timeseries(access, state, query, format).await,
        ("map", format) => map(access, state, query, format).await,
        _ => Err(ApiError::NotFound("Not found".into())),
    }
}

/// Visitors and pageviews over time.
async fn timeseries(
    access: StatsAccess,
    State(state): State<AppState>,
    query: Option<String>,
    format: ChartFormat,
) -> Result<Response, ApiError> {
    let options = chart_options(query.as_deref())?;
    let raw = RawParams::parse(query.as_deref());
    let common = CommonParams::from_raw(&raw)?;
    let interval = params::interval(&raw, &common.period)?;
    let site = common.site.as_str().to_owned();
    // Imported days count only without filters: then the chart marks them.
    let with_imported = common.with_imported && common.filters.is_empty();
    let permit = state.stats.chart_permit()?;
    let axum::Json(data) =
        handlers::timeseries(access, State(state.clone()), RawQuery(query)).await?;
    let points: Vec<SeriesPointBody> =
        serde_json::from_value(data).map_err(|_| ApiError::Internal)?;
    let mut chart = timeseries_chart(interval, &points)?;
    let span = note_span(&chart);
    if let Some((from, to)) = span {
        chart.notes = state
            .read(move |db| {
                let mut notes = chart_notes(&db.annotations(&site, Some(&from), Some(&to))?);
                if with_imported && let Some(info) = db.stats_site(&site)? {
                    notes.extend(imported_note(&info));
                }
                Ok(notes)
            })
            .await?;
    }
    render(format, move || {
        let _permit = permit;
        mallard_charts::render_timeseries(&chart, &options, format)
    })
    .await
}

/// Visitors by country on a world map.
async fn map(
    access: StatsAccess,
    State(state): State<AppState>,
    query: Option<String>,
    format: ChartFormat,
) -> Result<Response, ApiError> {
    let options = sized_chart_options(query.as_deref(), (800, 400))?;
    let permit = state.stats.chart_permit()?;
    let axum::Json(data) = handlers::breakdown(
        access,
        State(state),
        Path("countries".to_owned()),
        RawQuery(Some(every_country(query.as_deref()))),
    )
    .await?;
    let chart = map_chart(&data);
    render(format, move || {
        let _permit = permit;
        mallard_charts::render_map(&chart, &options, format)
    })
    .await
}

/// The query with its `limit` replaced by one that keeps every country.
fn every_country(query: Option<&str>) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if name != "limit" {
            out.append_pair(&name, &value);
        }
    }
    out.append_pair("limit", &MAX_COUNTRIES.to_string());
    out.finish()
}

/// The map of a countries breakdown: visitors per country code.
fn map_chart(data: &Value) -> MapChart {
    let rows = data
        .as_array()
        .into_iter()
        .flatten()
        .take(MAX_COUNTRIES)
        .map(|row| {
            MapRow::new(
                row["value"].as_str().unwrap_or_default(),
                row["visitors"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    MapChart::new("Visitors by country", "Visitors", rows)
}

/// `GET /api/stats/chart/breakdown/{file}`, e.g. `pages.svg`.
#[utoipa::path(
    get,
    path = "/api/stats/chart/breakdown/{file}",
    operation_id = "chart_breakdown",
    tag = "Stats",
    params(crate::openapi::params::Chart, ("file" = String, Path, description = "A breakdown name with .svg or .png, e.g. pages.svg")),
    responses((status = 200, description = "The chart", content((String = "image/svg+xml"), (String = "image/png"))), (status = 404, description = "An unknown dimension or format", body = crate::error::ErrorBody), crate::openapi::responses::StatsErrors),
    security((), ("session" = []), ("bearer" = []), ("api_key" = []))
)]
pub(crate) async fn breakdown(
    access: StatsAccess,
    State(state): State<AppState>,
    Path(file): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let (dimension, format) = split_file(&file)?;
    let options = chart_options(query.as_deref())?;
    let permit = state.stats.chart_permit()?;
    let axum::Json(data) = handlers::breakdown(
        access,
        State(state),
        Path(dimension.to_owned()),
        RawQuery(query),
    )
    .await?;
    let chart = bar_chart(dimension, &data);
    render(format, move || {
        let _permit = permit;
        mallard_charts::render_bar(&chart, &options, format)
    })
    .await
}

/// `name.svg` or `name.png`; any other file is not found.
fn split_file(file: &str) -> Result<(&str, ChartFormat), ApiError> {
    file.rsplit_once('.')
        .and_then(|(stem, extension)| extension.parse::<ChartFormat>().ok().map(|f| (stem, f)))
        .filter(|(stem, _)| !stem.is_empty())
        .ok_or_else(|| ApiError::NotFound("Not found".into()))
}

pub(super) fn chart_options(query: Option<&str>) -> Result<ChartOptions, ApiError> {
    sized_chart_options(query, (800, 300))
}

/// The options of `query`, with `default_size` when it names none.
fn sized_chart_options(
    query: Option<&str>,
    default_size: (u32, u32),
) -> Result<ChartOptions, ApiError> {
    let ((mut width, mut height), mut theme) = (default_size, Theme::Light);
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let bad = |what: &str| ApiError::BadRequest(format!("{what}: {value:?}"));
        match name.as_ref() {
            "width" => {
                width = value
                    .parse()
                    .map_err(|_| bad("width must be a whole number"))?
            }
            "height" => {
                height = value
                    .parse()
                    .map_err(|_| bad("height must be a whole number"))?
            }
            "theme" => {
                theme = value
                    .parse()
                    .map_err(|_| bad("theme must be light or dark"))?
            }
            _ => {}
        }
    }
    ChartOptions::new(width, height, theme).map_err(|e| ApiError::BadRequest(e.to_string()))
}

/// The chart of a time series with buckets of `interval`.
pub(super) fn timeseries_chart(
    interval: Interval,
    points: &[SeriesPointBody],
) -> Result<TimeseriesChart, ApiError> {
    let granularity = match interval {
        Interval::Hour => Granularity::Hour,
        Interval::Day => Granularity::Day,
        Interval::Week => Granularity::Week,
        Interval::Month => Granularity::Month,
    };
    let points = points
        .iter()
        .map(|point| {
            let start = bucket_start(&point.date).ok_or(ApiError::Internal)?;
            Ok(TimePoint {
                start,
                visitors: point.visitors,
                pageviews: u64::try_from(point.pageviews).unwrap_or(0),
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(TimeseriesChart::new(
        "Visitors and pageviews",
        granularity,
        points,
    ))
}

/// The dates whose notes may fall in `chart`: from its first bucket's day
/// to a month past its last bucket's (the chart leaves out what falls after
/// its end).
pub(super) fn note_span(chart: &TimeseriesChart) -> Option<(String, String)> {
    let first = chart.points.first()?.start.date();
    let last = chart.points.last()?.start.date() + time::Duration::days(31);
    Some((first.to_string(), last.to_string()))
}

/// The chart's notes from stored annotations (dates as stored, checked when
/// written; one that does not parse is left out).
pub(super) fn chart_notes(
    annotations: &[mallard_store::annotations::Annotation],
) -> Vec<mallard_charts::ChartNote> {
    let day = format_description!("[year]-[month]-[day]");
    annotations
        .iter()
        .filter_map(|note| {
            let date = time::Date::parse(&note.date, day).ok()?;
            Some(mallard_charts::ChartNote {
                on: date.midnight(),
                text: note.text.clone(),
            })
        })
        .collect()
}

/// The mark of a site's imported days on its chart: a note on the first,
/// naming the days counted (those before the first native day).
fn imported_note(site: &mallard_store::stats::SiteInfo) -> Option<mallard_charts::ChartNote> {
    let (first, last) = site.imported_days?;
    let last = site.first_day.map_or(last, |native| last.min(native - 1));
    if last < first {
        return None;
    }
    let (from, to) = (format_date(first), format_date(last));
    let on = time::Date::parse(&from, format_description!("[year]-[month]-[day]")).ok()?;
    Some(mallard_charts::ChartNote {
        on: on.midnight(),
        text: format!("Imported from Plausible: {from} – {to}"),
    })
}

/// `YYYY-MM-DD` or `YYYY-MM-DD HH:00`, as the timeseries endpoint labels buckets.
fn bucket_start(label: &str) -> Option<PrimitiveDateTime> {
    let hour = format_description!("[year]-[month]-[day] [hour]:[minute]");
    let day = format_description!("[year]-[month]-[day]");
    PrimitiveDateTime::parse(label, hour)
        .ok()
        .or_else(|| time::Date::parse(label, day).ok().map(time::Date::midnight))
}

/// The bar chart of a breakdown answer, by the counter that orders its rows.
fn bar_chart(dimension: &str, data: &Value) -> BarChart {
    let counter = match dimension {
        "pages" => "pageviews",
        "events" => "events",
        _ if dimension.starts_with("props/") => "events",
        _ => "visits",
    };
    let rows = data
        .as_array()
        .into_iter()
        .flatten()
        .take(mallard_charts::MAX_ROWS)
        .map(|row| {
            BarRow::new(
                row["value"].as_str().unwrap_or_default(),
                row[counter].as_u64().unwrap_or(0),
            )
        })
        .collect();
    BarChart::new(
        format!("Top {}", dimension.replace('_', " ")),
        counter,
        rows,
    )
}

async fn render(
    format: ChartFormat,
    draw: impl FnOnce() -> Result<Vec<u8>, ChartError> + Send + 'static,
) -> Result<Response, ApiError> {
    // Drawing takes milliseconds of CPU: keep it off the async workers.
    let bytes = tokio::task::spawn_blocking(draw)
        .await
        .map_err(|_| ApiError::Internal)?
        .map_err(|err| {
            if err.is_invalid_input() {
                ApiError::BadRequest(err.to_string())
            } else {
                tracing::error!(error = %err, "chart rendering failed");
                ApiError::Internal
            }
        })?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(format.content_type()),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        bytes,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn files_name_a_stem_and_a_format() {
        assert_eq!(
            split_file("timeseries.svg").unwrap(),
            ("timeseries", ChartFormat::Svg)
        );
        assert_eq!(
            split_file("pages.png").unwrap(),
            ("pages", ChartFormat::Png)
        );
        assert!(split_file("pages.gif").is_err());
        assert!(split_file(".svg").is_err());
        assert!(split_file("pages").is_err());
    }

    #[test]
    fn the_map_asks_for_every_country_whatever_limit_was_given() {
        assert_eq!(
            every_country(Some("site_id=a.test&limit=3&filters=page%3D%3D%2F")),
            "site_id=a.test&filters=page%3D%3D%2F&limit=300"
        );
        assert_eq!(every_country(None), "limit=300");
        let chart = map_chart(&json!([
            {"value": "DE", "visitors": 4},
            {"value": "(unknown)", "visitors": 2},
        ]));
        assert_eq!(
            chart.rows,
            [MapRow::new("DE", 4), MapRow::new("(unknown)", 2)]
        );
    }

    #[test]
    fn options_are_validated() {
        assert!(chart_options(None).is_ok());
        assert!(chart_options(Some("width=1200&height=400&theme=dark")).is_ok());
        assert_eq!(
            chart_options(Some("width=5"))
                .unwrap_err()
                .status()
                .as_u16(),
            400
        );
        assert_eq!(
            chart_options(Some("width=big"))
                .unwrap_err()
                .status()
                .as_u16(),
            400
        );
        assert_eq!(
            chart_options(Some("theme=purple"))
                .unwrap_err()
                .status()
                .as_u16(),
            400
        );
    }

    #[test]
    fn answers_become_charts() {
        let point = |date: &str, visitors, pageviews| SeriesPointBody {
            date: date.to_owned(),
            visitors,
            pageviews,
            events: pageviews,
            visits: 0,
            bounce_rate: 0.0,
            avg_visit_duration_secs: 0.0,
        };
        let series = [
            point("2024-03-10 14:00", 2, 5),
            point("2024-03-10 15:00", 0, 0),
        ];
        let chart = timeseries_chart(Interval::Hour, &series).unwrap();
        assert_eq!(chart.points.len(), 2);
        assert_eq!(chart.points[0].pageviews, 5);
        let days = [point("2024-03-10", 1, 1)];
        assert_eq!(
            timeseries_chart(Interval::Day, &days).unwrap().points[0]
                .start
                .hour(),
            0
        );
        assert!(timeseries_chart(Interval::Day, &[point("junk", 1, 1)]).is_err());
        let bars = bar_chart(
            "pages",
            &json!([{"value": "/a", "pageviews": 9, "visitors": 3}]),
        );
        assert_eq!(bars.rows[0].value, 9);
    }
}
