//! The JSON bodies of the stats API, built from the store's counters.
//!
//! Ratios are derived here: `bounce_rate` is a percentage with one decimal,
//! `avg_visit_duration_secs` has one decimal, `views_per_visit` (also
//! `pages_per_visit`) has two; all are 0 when there are no visits.

use mallard_core::period::format_date;
use mallard_core::{DayRange, Dimension, Interval};
use mallard_store::stats::{Breakdown, BreakdownRow, CurrencyRevenue, SeriesPoint, Totals};
use serde_json::{Map, Value, json};

fn rounded(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

fn per_visit(amount: f64, totals: &Totals, decimals: i32) -> f64 {
    if totals.visits <= 0 {
        0.0
    } else {
        rounded(amount / totals.visits as f64, decimals)
    }
}

/// Bounces per visit, as a percentage.
pub(crate) fn bounce_rate(totals: &Totals) -> f64 {
    per_visit(totals.bounces as f64 * 100.0, totals, 1)
}

/// The mean visit duration in seconds.
pub(crate) fn avg_duration_secs(totals: &Totals) -> f64 {
    per_visit(totals.duration_ms as f64 / 1000.0, totals, 1)
}

/// The mean number of page views per visit.
pub(crate) fn views_per_visit(totals: &Totals) -> f64 {
    per_visit(totals.visit_pageviews as f64, totals, 2)
}

/// `{"start_date", "end_date"}` of a range (end exclusive).
pub(crate) fn period(range: DayRange) -> Value {
    json!({ "start_date": format_date(range.start), "end_date": format_date(range.end) })
}

/// The metrics of `GET /api/stats/main` for one range.
pub(crate) fn main_block(totals: &Totals, range: DayRange) -> Map<String, Value> {
    let value = json!({
        "period": period(range),
        "unique_visitors": totals.visitors,
        "total_pageviews": totals.pageviews,
        "total_events": totals.events,
        "visits": totals.visits,
        "bounce_rate": bounce_rate(totals),
        "avg_visit_duration_secs": avg_duration_secs(totals),
        "pages_per_visit": views_per_visit(totals),
        "views_per_visit": views_per_visit(totals),
    });
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// One time-series bucket.
pub(crate) fn series_point(interval: Interval, point: &SeriesPoint) -> Value {
    let t = &point.totals;
    json!({
        "date": interval.label(point.key),
        "visitors": t.visitors,
        "pageviews": t.pageviews,
        "events": t.events,
        "visits": t.visits,
        "bounce_rate": bounce_rate(t),
        "avg_visit_duration_secs": avg_duration_secs(t),
    })
}

/// An amount in millionths of a unit as a decimal string without trailing
/// zeros (`12.5`), exact at any size.
pub(crate) fn amount(micros: i128) -> String {
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

/// The revenue of one currency: its total, events, average per event and
/// buckets.
pub(crate) fn currency_revenue(interval: Interval, c: &CurrencyRevenue) -> Value {
    let total: i128 = c.points.iter().map(|p| p.micros).sum();
    let events: i64 = c.points.iter().map(|p| p.events).sum();
    json!({
        "currency": c.currency,
        "total": amount(total),
        "events": events,
        "average": amount(if events == 0 { 0 } else { total / i128::from(events) }),
        "data": c.points.iter().map(|p| json!({
            "date": interval.label(p.key),
            "total": amount(p.micros),
            "events": p.events,
        })).collect::<Vec<_>>(),
    })
}

/// One breakdown row; its fields depend on the dimension (see docs/api.md).
pub(crate) fn breakdown_row(dimension: &Dimension, row: &BreakdownRow) -> Value {
    let t = &row.totals;
    match (
        Breakdown::of(dimension),
        Breakdown::counts_visitors(dimension),
    ) {
        (Breakdown::ByPageviews, _) => json!({
            "value": row.value,
            "visitors": t.visitors,
            "pageviews": t.pageviews,
        }),
        (Breakdown::ByEvents, _) => json!({
            "value": row.value,
            "visitors": t.visitors,
            "events": t.events,
        }),
        (Breakdown::ByVisits, false) => json!({
            "value": row.value,
            "visits": t.visits,
            "bounce_rate": bounce_rate(t),
            "avg_visit_duration_secs": avg_duration_secs(t),
            "views_per_visit": views_per_visit(t),
        }),
        (Breakdown::ByVisits, true) => json!({
            "value": row.value,
            "visitors": t.visitors,
            "visits": t.visits,
            "pageviews": t.pageviews,
            "bounce_rate": bounce_rate(t),
            "avg_visit_duration_secs": avg_duration_secs(t),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_round_and_survive_zero_visits() {
        let t = Totals {
            visits: 3,
            bounces: 1,
            duration_ms: 10_000,
            visit_pageviews: 5,
            ..Totals::default()
        };
        assert_eq!(bounce_rate(&t), 33.3);
        assert_eq!(avg_duration_secs(&t), 3.3);
        assert_eq!(views_per_visit(&t), 1.67);
        let zero = Totals::default();
        assert_eq!(
            (
                bounce_rate(&zero),
                avg_duration_secs(&zero),
                views_per_visit(&zero)
            ),
            (0.0, 0.0, 0.0)
        );
    }
}
