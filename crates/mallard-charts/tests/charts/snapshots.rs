//! Committed SVG snapshots of every chart shape and theme.

use mallard_charts::{ChartOptions, Theme, bar_svg, timeseries_svg};

use crate::fixtures;
use crate::snapshot::assert_snapshot;

fn options(theme: Theme) -> ChartOptions {
    ChartOptions::new(800, 300, theme).expect("valid size")
}

#[test]
fn timeseries_daily_light() {
    let svg = timeseries_svg(&fixtures::daily(), &options(Theme::Light)).expect("renders");
    assert_snapshot("timeseries_daily_light", &svg);
}

#[test]
fn timeseries_daily_dark() {
    let svg = timeseries_svg(&fixtures::daily(), &options(Theme::Dark)).expect("renders");
    assert_snapshot("timeseries_daily_dark", &svg);
}

#[test]
fn timeseries_hourly() {
    let svg = timeseries_svg(&fixtures::hourly(), &options(Theme::Light)).expect("renders");
    assert_snapshot("timeseries_hourly", &svg);
}

#[test]
fn timeseries_monthly() {
    let svg = timeseries_svg(&fixtures::monthly(), &options(Theme::Light)).expect("renders");
    assert_snapshot("timeseries_monthly", &svg);
}

#[test]
fn timeseries_zeros() {
    let svg = timeseries_svg(&fixtures::zeros(), &options(Theme::Light)).expect("renders");
    assert_snapshot("timeseries_zeros", &svg);
}

#[test]
fn timeseries_empty() {
    let svg =
        timeseries_svg(&fixtures::empty_timeseries(), &options(Theme::Light)).expect("renders");
    assert_snapshot("timeseries_empty", &svg);
}

#[test]
fn bar_light() {
    let svg = bar_svg(&fixtures::top_pages(), &options(Theme::Light)).expect("renders");
    assert_snapshot("bar_light", &svg);
}

#[test]
fn bar_dark() {
    let svg = bar_svg(&fixtures::top_pages(), &options(Theme::Dark)).expect("renders");
    assert_snapshot("bar_dark", &svg);
}

#[test]
fn bar_empty() {
    let svg = bar_svg(&fixtures::empty_bars(), &options(Theme::Dark)).expect("renders");
    assert_snapshot("bar_empty", &svg);
}
