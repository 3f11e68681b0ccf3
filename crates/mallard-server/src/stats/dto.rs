//! The JSON bodies of the stats API, as typed structs built from the store's
//! counters. Their shapes are Mallard's (`../shared/spec/mallard-reference/
//! stats.md`): objects and list items carry Mallard's fields and may carry
//! more.
//!
//! Ratios are derived here: every `*_rate` is a fraction from 0 to 1 with
//! four decimals (`bounce_rate` 0.42 is 42 %), `avg_visit_duration_secs` has
//! one decimal, `pages_per_visit` (also `views_per_visit`) has two; all are 0
//! when there is nothing to divide by.

use mallard_core::period::format_date;
use mallard_core::{DayRange, Dimension, Interval};
use mallard_store::stats::{Breakdown, BreakdownRow, CurrencyRevenue, SeriesPoint, Totals};
use serde::Serialize;

fn rounded(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

/// `part / whole` as a fraction with four decimals, 0 when `whole` is 0.
pub(crate) fn fraction(part: f64, whole: f64) -> f64 {
    if whole <= 0.0 {
        0.0
    } else {
        rounded(part / whole, 4)
    }
}

fn per_visit(amount: f64, totals: &Totals, decimals: i32) -> f64 {
    if totals.visits <= 0 {
        0.0
    } else {
        rounded(amount / totals.visits as f64, decimals)
    }
}

/// Bounces per visit, as a fraction.
pub(crate) fn bounce_rate(totals: &Totals) -> f64 {
    fraction(totals.bounces as f64, totals.visits as f64)
}

/// The mean visit duration in seconds.
pub(crate) fn avg_duration_secs(totals: &Totals) -> f64 {
    per_visit(totals.duration_ms as f64 / 1000.0, totals, 1)
}

/// The mean number of page views per visit.
pub(crate) fn views_per_visit(totals: &Totals) -> f64 {
    per_visit(totals.visit_pageviews as f64, totals, 2)
}

/// The days an answer covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub(crate) struct PeriodBody {
    /// The first day, `YYYY-MM-DD` in the site's time zone.
    pub(crate) start_date: String,
    /// The day after the last one (exclusive).
    pub(crate) end_date: String,
}

impl PeriodBody {
    pub(crate) fn of(range: DayRange) -> Self {
        Self {
            start_date: format_date(range.start),
            end_date: format_date(range.end),
        }
    }
}

/// The metrics of `GET /api/stats/main` for one range.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub(crate) struct MainMetrics {
    /// Distinct visitors.
    pub(crate) unique_visitors: u64,
    /// Page views.
    pub(crate) total_pageviews: i64,
    /// Events of every name, page views included.
    pub(crate) total_events: i64,
    /// Visits that started in the period.
    pub(crate) visits: i64,
    /// Visits with one page view, as a fraction of the visits.
    pub(crate) bounce_rate: f64,
    /// The mean visit duration.
    pub(crate) avg_visit_duration_secs: f64,
    /// Page views per visit.
    pub(crate) pages_per_visit: f64,
    /// The same as `pages_per_visit`.
    pub(crate) views_per_visit: f64,
    /// The period counted.
    pub(crate) period: PeriodBody,
}

impl MainMetrics {
    pub(crate) fn of(totals: &Totals, range: DayRange) -> Self {
        Self {
            unique_visitors: totals.visitors,
            total_pageviews: totals.pageviews,
            total_events: totals.events,
            visits: totals.visits,
            bounce_rate: bounce_rate(totals),
            avg_visit_duration_secs: avg_duration_secs(totals),
            pages_per_visit: views_per_visit(totals),
            views_per_visit: views_per_visit(totals),
            period: PeriodBody::of(range),
        }
    }
}

/// The body of `GET /api/stats/main`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub(crate) struct MainBody {
    /// The metrics of the period.
    #[serde(flatten)]
    pub(crate) metrics: MainMetrics,
    /// The site's time zone.
    pub(crate) time_zone: String,
    /// The metrics of the previous period of the same length, with
    /// `compare=previous`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) previous: Option<MainMetrics>,
}

/// One bucket of `GET /api/stats/timeseries`.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub(crate) struct SeriesPointBody {
    /// `YYYY-MM-DD`, or `YYYY-MM-DD HH:00` for hours, in the site's time zone.
    pub(crate) date: String,
    /// Distinct visitors in the bucket.
    pub(crate) visitors: u64,
    /// Page views in the bucket.
    pub(crate) pageviews: i64,
    /// Events of every name in the bucket.
    pub(crate) events: i64,
    /// Visits that started in the bucket.
    pub(crate) visits: i64,
    /// Of those, the fraction with one page view.
    pub(crate) bounce_rate: f64,
    /// Their mean duration.
    pub(crate) avg_visit_duration_secs: f64,
}

impl SeriesPointBody {
    pub(crate) fn of(interval: Interval, point: &SeriesPoint) -> Self {
        let t = &point.totals;
        Self {
            date: interval.label(point.key),
            visitors: t.visitors,
            pageviews: t.pageviews,
            events: t.events,
            visits: t.visits,
            bounce_rate: bounce_rate(t),
            avg_visit_duration_secs: avg_duration_secs(t),
        }
    }
}

/// The points of a time series.
pub(crate) fn series(interval: Interval, points: &[SeriesPoint]) -> Vec<SeriesPointBody> {
    points
        .iter()
        .map(|p| SeriesPointBody::of(interval, p))
        .collect()
}

/// One row of `GET /api/stats/breakdown/{dimension}`. Which counters it
/// carries depends on the dimension (see docs/api.md): page and event
/// breakdowns count views or events, the others count visits.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub(crate) struct BreakdownRowBody {
    /// The dimension's value, `(unknown)` when missing.
    pub(crate) value: String,
    /// Distinct visitors (not for entry and exit pages).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) visitors: Option<u64>,
    /// Page views.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) pageviews: Option<i64>,
    /// Events (event and property breakdowns).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) events: Option<i64>,
    /// Visits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) visits: Option<i64>,
    /// Of those visits, the fraction with one page view.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) bounce_rate: Option<f64>,
    /// Their mean duration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) avg_visit_duration_secs: Option<f64>,
    /// Their page views per visit (entry and exit pages).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) views_per_visit: Option<f64>,
}

impl BreakdownRowBody {
    /// The row of `row` in a breakdown by `dimension`.
    pub(crate) fn of(dimension: &Dimension, row: &BreakdownRow) -> Self {
        let t = &row.totals;
        let bare = Self {
            value: row.value.clone(),
            visitors: None,
            pageviews: None,
            events: None,
            visits: None,
            bounce_rate: None,
            avg_visit_duration_secs: None,
            views_per_visit: None,
        };
        let by_visits = Self {
            visits: Some(t.visits),
            bounce_rate: Some(bounce_rate(t)),
            avg_visit_duration_secs: Some(avg_duration_secs(t)),
            ..bare.clone()
        };
        match (
            Breakdown::of(dimension),
            Breakdown::counts_visitors(dimension),
        ) {
            (Breakdown::ByPageviews, _) => Self {
                visitors: Some(t.visitors),
                pageviews: Some(t.pageviews),
                ..bare
            },
            (Breakdown::ByEvents, _) => Self {
                visitors: Some(t.visitors),
                events: Some(t.events),
                ..bare
            },
            (Breakdown::ByVisits, false) => Self {
                views_per_visit: Some(views_per_visit(t)),
                ..by_visits
            },
            (Breakdown::ByVisits, true) => Self {
                visitors: Some(t.visitors),
                pageviews: Some(t.pageviews),
                ..by_visits
            },
        }
    }
}

/// The rows of a breakdown.
pub(crate) fn breakdown(dimension: &Dimension, rows: &[BreakdownRow]) -> Vec<BreakdownRowBody> {
    rows.iter()
        .map(|row| BreakdownRowBody::of(dimension, row))
        .collect()
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

/// One bucket of a currency's revenue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub(crate) struct RevenuePointBody {
    /// The bucket, as the time series labels it.
    pub(crate) date: String,
    /// The amounts summed, a decimal string.
    pub(crate) total: String,
    /// The events with an amount.
    pub(crate) events: i64,
}

/// The revenue of one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub(crate) struct CurrencyRevenueBody {
    /// The ISO 4217 code, or `(unknown)`.
    pub(crate) currency: String,
    /// The amounts summed, a decimal string.
    pub(crate) total: String,
    /// The events with an amount.
    pub(crate) events: i64,
    /// The mean amount per event, a decimal string.
    pub(crate) average: String,
    /// The buckets that hold revenue, in time order.
    pub(crate) data: Vec<RevenuePointBody>,
}

impl CurrencyRevenueBody {
    pub(crate) fn of(interval: Interval, c: &CurrencyRevenue) -> Self {
        let total: i128 = c.points.iter().map(|p| p.micros).sum();
        let events: i64 = c.points.iter().map(|p| p.events).sum();
        Self {
            currency: c.currency.clone(),
            total: amount(total),
            events,
            average: amount(if events == 0 {
                0
            } else {
                total / i128::from(events)
            }),
            data: c
                .points
                .iter()
                .map(|p| RevenuePointBody {
                    date: interval.label(p.key),
                    total: amount(p.micros),
                    events: p.events,
                })
                .collect(),
        }
    }
}

/// The body of `GET /api/stats/revenue`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub(crate) struct RevenueBody {
    /// The period counted.
    pub(crate) period: PeriodBody,
    /// The site's time zone.
    pub(crate) time_zone: String,
    /// `hour`, `day`, `week` or `month`.
    pub(crate) interval: &'static str,
    /// Each currency, largest total first; never added up.
    pub(crate) currencies: Vec<CurrencyRevenueBody>,
}

impl RevenueBody {
    /// The body for `report` of the range `range` in `time_zone`.
    pub(crate) fn of(
        report: &[CurrencyRevenue],
        range: DayRange,
        time_zone: &str,
        interval: Interval,
    ) -> Self {
        Self {
            period: PeriodBody::of(range),
            time_zone: time_zone.to_owned(),
            interval: interval.as_str(),
            currencies: report
                .iter()
                .map(|c| CurrencyRevenueBody::of(interval, c))
                .collect(),
        }
    }
}

/// The body of `GET /api/stats/realtime`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub(crate) struct RealtimeBody {
    /// Visitors with an event in the window.
    pub(crate) visitors: u64,
    /// The window, in seconds before now.
    pub(crate) window_secs: i64,
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
        assert_eq!(bounce_rate(&t), 0.3333);
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
        assert_eq!(fraction(1.0, 8.0), 0.125);
        assert_eq!(fraction(3.0, 0.0), 0.0);
    }

    #[test]
    fn breakdown_rows_carry_their_dimensions_counters() {
        let row = BreakdownRow {
            value: "/a".into(),
            totals: Totals {
                visitors: 2,
                pageviews: 5,
                events: 6,
                visits: 4,
                bounces: 1,
                visit_pageviews: 8,
                duration_ms: 4_000,
            },
        };
        let json = |d: &Dimension| serde_json::to_value(BreakdownRowBody::of(d, &row)).unwrap();
        assert_eq!(
            json(&Dimension::Page),
            serde_json::json!({"value": "/a", "visitors": 2, "pageviews": 5})
        );
        assert_eq!(
            json(&Dimension::Event),
            serde_json::json!({"value": "/a", "visitors": 2, "events": 6})
        );
        assert_eq!(
            json(&Dimension::Source),
            serde_json::json!({"value": "/a", "visitors": 2, "pageviews": 5, "visits": 4,
                "bounce_rate": 0.25, "avg_visit_duration_secs": 1.0})
        );
        assert_eq!(
            json(&Dimension::EntryPage),
            serde_json::json!({"value": "/a", "visits": 4, "bounce_rate": 0.25,
                "avg_visit_duration_secs": 1.0, "views_per_visit": 2.0})
        );
    }
}
