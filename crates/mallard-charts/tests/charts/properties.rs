//! Properties: any labels and values render without panicking, and the SVG is
//! always well-formed XML with one hover title per point or bar and no
//! element outside the chart's vocabulary.

use mallard_charts::{
    BarChart, BarRow, ChartOptions, Granularity, Series, Theme, TimePoint, TimeseriesChart,
    bar_png, bar_svg, timeseries_png, timeseries_svg,
};
use proptest::prelude::*;
use time::macros::datetime;

/// Every element name the renderer writes.
const VOCABULARY: [&str; 10] = [
    "svg", "title", "desc", "g", "rect", "text", "circle", "polyline", "polygon", "line",
];

/// Labels: anything at all, or text full of markup characters.
fn label() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[<>&\"' /a-z\\x00-\\x1f]{0,40}",
        Just("<script>alert(1)</script>".to_owned()),
        Just("]]><!--".to_owned()),
    ]
}

fn theme() -> impl Strategy<Value = Theme> {
    prop_oneof![Just(Theme::Light), Just(Theme::Dark)]
}

fn granularity() -> impl Strategy<Value = Granularity> {
    prop_oneof![
        Just(Granularity::Hour),
        Just(Granularity::Day),
        Just(Granularity::Week),
        Just(Granularity::Month),
    ]
}

fn series() -> impl Strategy<Value = Series> {
    prop_oneof![
        Just(Series::Both),
        Just(Series::Visitors),
        Just(Series::Pageviews)
    ]
}

fn options() -> impl Strategy<Value = ChartOptions> {
    (100u32..=1200, 100u32..=600, theme()).prop_map(|(width, height, theme)| {
        ChartOptions::new(width, height, theme).expect("generated in bounds")
    })
}

fn bar_chart(max_rows: usize) -> impl Strategy<Value = BarChart> {
    (
        label(),
        label(),
        prop::collection::vec((label(), any::<u64>()), 0..max_rows),
    )
        .prop_map(|(title, value_name, rows)| {
            BarChart::new(
                title,
                value_name,
                rows.into_iter()
                    .map(|(label, value)| BarRow::new(label, value))
                    .collect(),
            )
        })
}

fn timeseries_chart(max_points: usize) -> impl Strategy<Value = TimeseriesChart> {
    (
        label(),
        granularity(),
        series(),
        prop::collection::vec((any::<u64>(), any::<u64>()), 0..max_points),
    )
        .prop_map(|(title, granularity, series, values)| {
            let start = datetime!(2026-11-03 00:00);
            let points = values
                .into_iter()
                .zip(0i64..)
                .map(|((visitors, pageviews), index)| TimePoint {
                    start: start + time::Duration::hours(index),
                    visitors,
                    pageviews,
                })
                .collect();
            TimeseriesChart {
                title,
                granularity,
                series,
                points,
                notes: Vec::new(),
            }
        })
}

/// Parses the SVG and checks what every chart must satisfy; returns the
/// number of hover targets.
fn check_svg(svg: &str) -> Result<usize, TestCaseError> {
    let doc = roxmltree::Document::parse(svg)
        .map_err(|error| TestCaseError::fail(format!("not well-formed: {error}")))?;
    prop_assert_eq!(doc.root_element().attribute("role"), Some("img"));
    for node in doc.descendants().filter(roxmltree::Node::is_element) {
        let name = node.tag_name().name();
        prop_assert!(VOCABULARY.contains(&name), "unexpected element {}", name);
    }
    prop_assert!(!svg.contains("NaN"));
    let targets: Vec<_> = doc
        .descendants()
        .filter(|node| {
            node.is_element()
                && node
                    .parent()
                    .is_some_and(|parent| parent.attribute("class") == Some("mm-hover"))
        })
        .collect();
    for target in &targets {
        let titles = target
            .children()
            .filter(|child| child.has_tag_name("title"))
            .count();
        prop_assert_eq!(titles, 1);
    }
    Ok(targets.len())
}

proptest! {
    #[test]
    fn any_bar_chart_is_well_formed_svg(chart in bar_chart(16), options in options()) {
        let svg = bar_svg(&chart, &options).expect("renders");
        let targets = check_svg(&svg)?;
        prop_assert_eq!(targets, chart.rows.len());
    }

    #[test]
    fn any_timeseries_is_well_formed_svg(chart in timeseries_chart(48), options in options()) {
        let svg = timeseries_svg(&chart, &options).expect("renders");
        let targets = check_svg(&svg)?;
        let metrics = if chart.series == Series::Both { 2 } else { 1 };
        prop_assert_eq!(targets, chart.points.len() * metrics);
    }
}

proptest! {
    // PNG rendering is slower: fewer, smaller cases.
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn any_chart_renders_as_png(
        bars in bar_chart(8),
        timeseries in timeseries_chart(24),
        width in 100u32..=300,
        height in 100u32..=200,
        theme in theme(),
    ) {
        let options = ChartOptions::new(width, height, theme).expect("in bounds");
        let png = bar_png(&bars, &options).expect("renders");
        prop_assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
        let png = timeseries_png(&timeseries, &options).expect("renders");
        prop_assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
    }
}
