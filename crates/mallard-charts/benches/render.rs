//! Rendering cost of the two charts the dashboard serves: a 365-point daily
//! timeseries and a 10-row bar chart, each as SVG and as PNG (800 x 300).

// criterion's macros generate public functions without documentation.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use mallard_charts::{
    BarChart, BarRow, ChartOptions, Granularity, Theme, TimePoint, TimeseriesChart, bar_png,
    bar_svg, timeseries_png, timeseries_svg,
};
use time::macros::datetime;

/// A year of daily points with a weekly rhythm.
fn year_of_days() -> TimeseriesChart {
    let start = datetime!(2025-11-23 00:00);
    let points = (0..365u64)
        .map(|day| {
            let visitors = 800 + (day * 37) % 400 + if day % 7 < 5 { 300 } else { 0 };
            TimePoint {
                start: start + time::Duration::days(day as i64),
                visitors,
                pageviews: visitors * 3 + day,
            }
        })
        .collect();
    TimeseriesChart::new(
        "Visitors and pageviews, last 12 months",
        Granularity::Day,
        points,
    )
}

/// Ten top pages.
fn top_pages() -> BarChart {
    let rows = (0..10u64)
        .map(|rank| {
            BarRow::new(
                format!("/blog/post-{rank}/a-fairly-long-slug"),
                100_000 / (rank + 1),
            )
        })
        .collect();
    BarChart::new("Top pages", "Visitors", rows)
}

fn render(c: &mut Criterion) {
    let options = ChartOptions::new(800, 300, Theme::Light).expect("valid size");
    let timeseries = year_of_days();
    let bars = top_pages();
    c.bench_function("timeseries_365_svg", |b| {
        b.iter(|| timeseries_svg(black_box(&timeseries), &options).expect("renders"))
    });
    c.bench_function("timeseries_365_png", |b| {
        b.iter(|| timeseries_png(black_box(&timeseries), &options).expect("renders"))
    });
    c.bench_function("bar_10_svg", |b| {
        b.iter(|| bar_svg(black_box(&bars), &options).expect("renders"))
    });
    c.bench_function("bar_10_png", |b| {
        b.iter(|| bar_png(black_box(&bars), &options).expect("renders"))
    });
}

criterion_group!(benches, render);
criterion_main!(benches);
