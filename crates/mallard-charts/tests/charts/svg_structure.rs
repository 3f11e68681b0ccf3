//! The SVG output parsed as XML: accessible name, one hover title per point
//! and bar, escaped labels, theme colours, axis labels, degenerate data.

use mallard_charts::{
    ChartError, ChartOptions, Granularity, MAX_POINTS, Series, Theme, TimePoint, TimeseriesChart,
    bar_svg, timeseries_svg,
};
use roxmltree::{Document, Node};
use time::macros::datetime;

use crate::fixtures;

fn options(theme: Theme) -> ChartOptions {
    ChartOptions::new(800, 300, theme).expect("valid size")
}

fn parse(svg: &str) -> Document<'_> {
    Document::parse(svg).unwrap_or_else(|error| panic!("not well-formed XML: {error}\n{svg}"))
}

/// Elements whose class list contains `class`.
fn with_class<'a, 'input>(doc: &'a Document<'input>, class: &str) -> Vec<Node<'a, 'input>> {
    doc.descendants()
        .filter(|node| {
            node.attribute("class")
                .is_some_and(|classes| classes.split(' ').any(|name| name == class))
        })
        .collect()
}

/// The text of the only `<title>` child of `node`.
fn title_of(node: Node<'_, '_>) -> String {
    let titles: Vec<_> = node
        .children()
        .filter(|child| child.has_tag_name("title"))
        .collect();
    assert_eq!(titles.len(), 1, "one <title> per hover target");
    titles[0].text().unwrap_or_default().to_owned()
}

/// The trimmed text of every `<text>` element.
fn texts(doc: &Document<'_>) -> Vec<String> {
    doc.descendants()
        .filter(|node| node.has_tag_name("text"))
        .map(|node| node.text().unwrap_or_default().trim().to_owned())
        .collect()
}

/// The polylines of a width-2 stroke (the series lines).
fn series_lines<'a, 'input>(doc: &'a Document<'input>) -> Vec<Node<'a, 'input>> {
    doc.descendants()
        .filter(|node| node.has_tag_name("polyline") && node.attribute("stroke-width") == Some("2"))
        .collect()
}

/// The (x, y) pairs of a polyline's `points` attribute.
fn polyline_points(node: Node<'_, '_>) -> Vec<(i32, i32)> {
    node.attribute("points")
        .unwrap_or_default()
        .split_whitespace()
        .map(|pair| {
            let (x, y) = pair.split_once(',').expect("x,y");
            (x.parse().expect("x"), y.parse().expect("y"))
        })
        .collect()
}

#[test]
fn the_root_has_an_accessible_title_and_description() {
    let svg = timeseries_svg(&fixtures::daily(), &options(Theme::Light)).expect("renders");
    let doc = parse(&svg);
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(
        root.tag_name().namespace(),
        Some("http://www.w3.org/2000/svg")
    );
    assert_eq!(root.attribute("role"), Some("img"));
    assert_eq!(root.attribute("width"), Some("800"));
    assert_eq!(root.attribute("height"), Some("300"));
    assert_eq!(
        root.attribute("aria-labelledby"),
        Some("mm-chart-title mm-chart-desc")
    );
    let mut children = root.children().filter(Node::is_element);
    let title = children.next().expect("title");
    assert!(title.has_tag_name("title"));
    assert_eq!(title.attribute("id"), Some("mm-chart-title"));
    assert_eq!(title.text(), Some("Visitors and pageviews, November 2026"));
    let desc = children.next().expect("desc");
    assert!(desc.has_tag_name("desc"));
    assert_eq!(desc.attribute("id"), Some("mm-chart-desc"));
    let desc = desc.text().unwrap_or_default();
    assert!(
        desc.starts_with(
            "Visitors and Pageviews per day from Nov 1, 2026 to Nov 30, 2026 (30 days). Visitors: highest "
        ),
        "{desc}"
    );
}

#[test]
fn every_point_of_every_line_has_a_hover_title_with_its_value() {
    let chart = fixtures::daily();
    let svg = timeseries_svg(&chart, &options(Theme::Light)).expect("renders");
    let doc = parse(&svg);
    let visitors = with_class(&doc, "mm-visitors");
    let pageviews = with_class(&doc, "mm-pageviews");
    assert_eq!(visitors.len(), 30);
    assert_eq!(pageviews.len(), 30);
    assert_eq!(with_class(&doc, "mm-point").len(), 60);
    assert_eq!(title_of(visitors[0]), "Nov 1, 2026\nVisitors: 200,000");
    assert_eq!(title_of(pageviews[0]), "Nov 1, 2026\nPageviews: 600,000");
    let last = chart.points.last().expect("points");
    assert_eq!(
        title_of(visitors[29]),
        format!("Nov 30, 2026\nVisitors: {}", with_commas(last.visitors))
    );
    // Hover targets are invisible but catch the pointer.
    let group = with_class(&doc, "mm-hover");
    assert_eq!(group.len(), 1);
    assert_eq!(group[0].attribute("fill-opacity"), Some("0"));
    assert_eq!(group[0].attribute("pointer-events"), Some("all"));
}

#[test]
fn series_selection_draws_only_the_chosen_line() {
    let mut chart = fixtures::daily();
    chart.series = Series::Pageviews;
    let svg = timeseries_svg(&chart, &options(Theme::Light)).expect("renders");
    let doc = parse(&svg);
    assert_eq!(with_class(&doc, "mm-visitors").len(), 0);
    assert_eq!(with_class(&doc, "mm-pageviews").len(), 30);
    assert_eq!(series_lines(&doc).len(), 1);
    assert!(!texts(&doc).contains(&"Visitors".to_owned()));
}

#[test]
fn every_bar_has_a_hover_title_and_labels_from_user_data_stay_text() {
    let svg = bar_svg(&fixtures::top_pages(), &options(Theme::Light)).expect("renders");
    let doc = parse(&svg);
    let bars = with_class(&doc, "mm-bar");
    assert_eq!(bars.len(), 10);
    assert_eq!(title_of(bars[0]), "/\nVisitors: 1,234,567");
    assert_eq!(
        title_of(bars[2]),
        format!("{}\nVisitors: 12,345", fixtures::SCRIPT_LABEL)
    );
    assert_eq!(title_of(bars[8]), "/legal\u{FFFD}/privacy\nVisitors: 1");
    assert_eq!(title_of(bars[9]), "/never\nVisitors: 0");
    // The hostile label is character data everywhere, never an element.
    assert!(doc.descendants().all(|node| !node.has_tag_name("script")));
    assert!(!svg.contains("<script"));
    assert!(svg.contains("&lt;script&gt;"));
    assert!(texts(&doc).contains(&fixtures::SCRIPT_LABEL.to_owned()));
    // The long label is shortened in the drawing but whole in its title.
    let long = fixtures::LONG_LABEL;
    assert!(title_of(bars[3]).starts_with(long));
    assert!(
        texts(&doc)
            .iter()
            .any(|text| text.ends_with('…') && long.starts_with(text.trim_end_matches('…')))
    );
}

#[test]
fn axis_labels_have_thousands_separators_and_readable_dates() {
    let daily = timeseries_svg(&fixtures::daily(), &options(Theme::Light)).expect("renders");
    let daily = texts(&parse(&daily));
    for label in ["0", "500,000", "1,000,000", "1,500,000", "Nov 1", "Nov 8"] {
        assert!(daily.contains(&label.to_owned()), "{label} in {daily:?}");
    }
    let hourly = timeseries_svg(&fixtures::hourly(), &options(Theme::Light)).expect("renders");
    let hourly = texts(&parse(&hourly));
    for label in ["00:00", "02:00", "14:00", "22:00"] {
        assert!(hourly.contains(&label.to_owned()), "{label} in {hourly:?}");
    }
    let monthly = timeseries_svg(&fixtures::monthly(), &options(Theme::Light)).expect("renders");
    let monthly = texts(&parse(&monthly));
    for label in ["Dec 2025", "Feb 2026", "30,000"] {
        assert!(
            monthly.contains(&label.to_owned()),
            "{label} in {monthly:?}"
        );
    }
}

#[test]
fn themes_set_the_background_text_and_series_colours() {
    let expectations = [
        (Theme::Light, "#FFFFFF", "#111827", "#4F46E5", "#0284C7"),
        (Theme::Dark, "#111827", "#F9FAFB", "#818CF8", "#38BDF8"),
    ];
    for (theme, background, text, visitors, pageviews) in expectations {
        let svg = timeseries_svg(&fixtures::daily(), &options(theme)).expect("renders");
        let doc = parse(&svg);
        let first_rect = doc
            .descendants()
            .find(|node| node.has_tag_name("rect"))
            .expect("background rect");
        assert_eq!(first_rect.attribute("fill"), Some(background), "{theme:?}");
        assert_eq!(first_rect.attribute("width"), Some("800"));
        let title = doc
            .descendants()
            .find(|node| node.has_tag_name("text"))
            .expect("title text");
        assert_eq!(title.attribute("fill"), Some(text), "{theme:?}");
        let strokes: Vec<_> = series_lines(&doc)
            .iter()
            .filter_map(|line| line.attribute("stroke"))
            .map(str::to_owned)
            .collect();
        // Pageviews are drawn first so visitors end on top.
        assert_eq!(strokes, vec![pageviews.to_owned(), visitors.to_owned()]);
    }
}

#[test]
fn an_all_zero_series_is_a_flat_line_at_zero_on_a_readable_axis() {
    let svg = timeseries_svg(&fixtures::zeros(), &options(Theme::Light)).expect("renders");
    assert!(!svg.contains("NaN") && !svg.contains("inf"));
    let doc = parse(&svg);
    let labels = texts(&doc);
    for label in ["0", "1", "5"] {
        assert!(labels.contains(&label.to_owned()), "{label} in {labels:?}");
    }
    let zero_label_y: i32 = doc
        .descendants()
        .find(|node| node.has_tag_name("text") && node.text().map(str::trim) == Some("0"))
        .and_then(|node| node.attribute("y"))
        .and_then(|y| y.parse().ok())
        .expect("the 0 label");
    let lines = series_lines(&doc);
    assert_eq!(lines.len(), 2);
    for line in lines {
        let points = polyline_points(line);
        assert_eq!(points.len(), 7);
        assert!(points.iter().all(|&(_, y)| y == zero_label_y), "{points:?}");
    }
    let titles: Vec<_> = with_class(&doc, "mm-point")
        .into_iter()
        .map(title_of)
        .collect();
    assert_eq!(titles.len(), 14);
    assert!(titles.iter().all(|title| title.ends_with(": 0")));
}

#[test]
fn empty_data_draws_a_no_data_chart() {
    for svg in [
        timeseries_svg(&fixtures::empty_timeseries(), &options(Theme::Light)).expect("renders"),
        bar_svg(&fixtures::empty_bars(), &options(Theme::Dark)).expect("renders"),
    ] {
        let doc = parse(&svg);
        assert!(texts(&doc).contains(&"No data for this period".to_owned()));
        assert!(with_class(&doc, "mm-hover").is_empty());
        let desc = doc
            .descendants()
            .find(|node| node.has_tag_name("desc"))
            .and_then(|node| node.text());
        assert_eq!(desc, Some("No data for this period."));
    }
}

#[test]
fn a_single_point_and_the_largest_values_render() {
    let chart = TimeseriesChart::new(
        "One day",
        Granularity::Day,
        vec![TimePoint {
            start: datetime!(2026-11-03 00:00),
            visitors: u64::MAX,
            pageviews: u64::MAX,
        }],
    );
    let svg = timeseries_svg(&chart, &options(Theme::Light)).expect("renders");
    assert!(!svg.contains("NaN"));
    let doc = parse(&svg);
    let points = with_class(&doc, "mm-point");
    assert_eq!(points.len(), 2);
    assert_eq!(
        title_of(points[0]),
        "Nov 3, 2026\nVisitors: 18,446,744,073,709,551,615"
    );
}

#[test]
fn more_than_the_maximum_number_of_points_is_refused() {
    let start = datetime!(2026-01-01 00:00);
    let points = (0..=MAX_POINTS)
        .map(|hour| TimePoint {
            start: start + time::Duration::hours(i64::try_from(hour).expect("small")),
            visitors: 1,
            pageviews: 1,
        })
        .collect();
    let chart = TimeseriesChart::new("Too long", Granularity::Hour, points);
    let error = timeseries_svg(&chart, &options(Theme::Light)).expect_err("refused");
    assert_eq!(
        error,
        ChartError::TooManyPoints {
            got: MAX_POINTS + 1,
            max: MAX_POINTS
        }
    );
    assert!(error.is_invalid_input());
}

/// `1234567` as `"1,234,567"`, written independently of the crate.
fn with_commas(value: u64) -> String {
    let digits = value.to_string();
    let mut groups: Vec<&str> = Vec::new();
    let mut end = digits.len();
    while end > 3 {
        groups.push(&digits[end - 3..end]);
        end -= 3;
    }
    groups.push(&digits[..end]);
    groups.reverse();
    groups.join(",")
}

#[test]
fn notes_are_flagged_on_their_bucket_titled_keyed_and_described() {
    let mut chart = fixtures::daily();
    chart.notes = vec![
        mallard_charts::ChartNote {
            on: datetime!(2026-11-10 00:00),
            text: "Launch <day>".into(),
        },
        // Outside the chart: left out.
        mallard_charts::ChartNote {
            on: datetime!(2026-12-10 00:00),
            text: "Later".into(),
        },
    ];
    let svg = timeseries_svg(&chart, &options(Theme::Light)).expect("renders");
    let doc = parse(&svg);
    let notes = with_class(&doc, "mm-note");
    assert_eq!(notes.len(), 1, "one flag per note in range");
    assert_eq!(notes[0].attribute("data-key"), Some("2026-11-10"));
    assert_eq!(title_of(notes[0]), "Nov 10, 2026\nLaunch <day>");
    let desc = doc
        .descendants()
        .find(|node| node.has_tag_name("desc"))
        .and_then(|node| node.text())
        .unwrap_or_default()
        .to_owned();
    assert!(
        desc.ends_with(" Notes: Nov 10, 2026: Launch <day>."),
        "{desc}"
    );
    // Every point names its day, for a page to add a note there.
    let points = with_class(&doc, "mm-visitors");
    assert_eq!(points[9].attribute("data-key"), Some("2026-11-10"));
    // The flag and its dashed line are drawn in the PNG too: it differs.
    let plain = mallard_charts::timeseries_png(&fixtures::daily(), &options(Theme::Light)).unwrap();
    let marked = mallard_charts::timeseries_png(&chart, &options(Theme::Light)).unwrap();
    assert_ne!(plain, marked);
}
