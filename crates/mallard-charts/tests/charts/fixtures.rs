//! Deterministic chart data shared by the tests.

use mallard_charts::{BarChart, BarRow, Granularity, TimePoint, TimeseriesChart};
use time::macros::datetime;
use time::{Duration, PrimitiveDateTime};

/// Points `step` apart from `start` with the given (visitors, pageviews).
fn points(start: PrimitiveDateTime, step: Duration, values: &[(u64, u64)]) -> Vec<TimePoint> {
    values
        .iter()
        .enumerate()
        .map(|(index, &(visitors, pageviews))| TimePoint {
            start: start + step * i32::try_from(index).expect("small index"),
            visitors,
            pageviews,
        })
        .collect()
}

/// 30 days of November 2026, peaking above a million pageviews.
pub fn daily() -> TimeseriesChart {
    let values: Vec<(u64, u64)> = (0..30u64)
        .map(|day| {
            let visitors = 200_000 + (day * 7919) % 150_000;
            (visitors, visitors * 3 + day * 1000)
        })
        .collect();
    TimeseriesChart::new(
        "Visitors and pageviews, November 2026",
        Granularity::Day,
        points(datetime!(2026-11-01 00:00), Duration::days(1), &values),
    )
}

/// 24 hours of one day.
pub fn hourly() -> TimeseriesChart {
    let values: Vec<(u64, u64)> = (0..24u64)
        .map(|hour| (hour * 3 % 17, hour * 5 % 23 + 1))
        .collect();
    TimeseriesChart::new(
        "Today",
        Granularity::Hour,
        points(datetime!(2026-11-03 00:00), Duration::hours(1), &values),
    )
}

/// 12 months (months have different lengths, so each start is written out).
pub fn monthly() -> TimeseriesChart {
    let starts = [
        datetime!(2025-12-01 00:00),
        datetime!(2026-01-01 00:00),
        datetime!(2026-02-01 00:00),
        datetime!(2026-03-01 00:00),
        datetime!(2026-04-01 00:00),
        datetime!(2026-05-01 00:00),
        datetime!(2026-06-01 00:00),
        datetime!(2026-07-01 00:00),
        datetime!(2026-08-01 00:00),
        datetime!(2026-09-01 00:00),
        datetime!(2026-10-01 00:00),
        datetime!(2026-11-01 00:00),
    ];
    let points = starts
        .iter()
        .zip(1u64..)
        .map(|(&start, month)| TimePoint {
            start,
            visitors: 1000 * month,
            pageviews: 2500 * month,
        })
        .collect();
    TimeseriesChart::new("Last 12 months", Granularity::Month, points)
}

/// A week of zeros.
pub fn zeros() -> TimeseriesChart {
    TimeseriesChart::new(
        "A quiet week",
        Granularity::Day,
        points(datetime!(2026-11-02 00:00), Duration::days(1), &[(0, 0); 7]),
    )
}

/// No points at all.
pub fn empty_timeseries() -> TimeseriesChart {
    TimeseriesChart::new("Nothing yet", Granularity::Day, Vec::new())
}

/// The label a hostile page path could carry.
pub const SCRIPT_LABEL: &str = "/<script>alert(\"x\")</script>?a=1&b='2'";

/// A page path far too long for the label column.
pub const LONG_LABEL: &str = "/blog/2026/11/a-very-long-post-title-that-does-not-fit-in-the-bar\
    /even-on-a-wide-chart-because-it-keeps-going-and-going-and-going";

/// Ten top pages, one of them hostile, one very long.
pub fn top_pages() -> BarChart {
    BarChart::new(
        "Top pages",
        "Visitors",
        vec![
            BarRow::new("/", 1_234_567),
            BarRow::new("/pricing", 456_789),
            BarRow::new(SCRIPT_LABEL, 12_345),
            BarRow::new(LONG_LABEL, 9_876),
            BarRow::new("/docs", 5_432),
            BarRow::new("/about", 1_000),
            BarRow::new("/contact", 999),
            BarRow::new("/careers", 12),
            BarRow::new("/legal\u{0}/privacy", 1),
            BarRow::new("/never", 0),
        ],
    )
}

/// A bar chart with no rows.
pub fn empty_bars() -> BarChart {
    BarChart::new("Top referrers", "Visitors", Vec::new())
}
