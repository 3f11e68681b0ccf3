//! The world map: countries shaded by their value, one hover title per
//! drawn outline of a country with a value, an accessible description, and
//! degenerate input (no rows, unknown codes, one country) drawn sanely.

use mallard_charts::{ChartOptions, MapChart, MapRow, Theme, map_png, map_svg};
use roxmltree::Document;

use crate::snapshot::assert_snapshot;

fn options(theme: Theme) -> ChartOptions {
    ChartOptions::new(800, 420, theme).expect("valid size")
}

fn visitors() -> MapChart {
    MapChart::new(
        "Visitors by country",
        "Visitors",
        vec![
            MapRow::new("DE", 1_200),
            MapRow::new("US", 640),
            MapRow::new("BR", 35),
            MapRow::new("JP", 1),
            MapRow::new("ZZ", 9),
        ],
    )
}

/// The fill of the drawn polygon whose points are those of the hover target
/// titled `name`.
fn fill_of(doc: &Document<'_>, name: &str) -> String {
    let target = doc
        .descendants()
        .find(|node| {
            node.has_tag_name("polygon")
                && node.attribute("class") == Some("mm-country")
                && node
                    .children()
                    .any(|title| title.text().is_some_and(|t| t.starts_with(name)))
        })
        .unwrap_or_else(|| panic!("{name} has a hover target"));
    let points = target.attribute("points").unwrap();
    doc.descendants()
        .find(|node| {
            node.has_tag_name("polygon")
                && node.attribute("class").is_none()
                && node.attribute("points").map(str::trim) == Some(points)
        })
        .and_then(|node| node.attribute("fill"))
        .unwrap_or_else(|| panic!("{name} is drawn"))
        .to_owned()
}

#[test]
fn countries_with_values_are_shaded_and_titled() {
    let svg = map_svg(&visitors(), &options(Theme::Light)).unwrap();
    let doc = Document::parse(&svg).unwrap();
    let titles: Vec<String> = doc
        .descendants()
        .filter(|node| node.attribute("class") == Some("mm-country"))
        .filter_map(|node| node.children().find(|c| c.has_tag_name("title")))
        .map(|title| title.text().unwrap_or_default().to_owned())
        .collect();
    assert!(titles.contains(&"Germany\nVisitors: 1,200".to_owned()));
    assert!(titles.contains(&"United States of America\nVisitors: 640".to_owned()));
    assert!(titles.iter().any(|t| t.starts_with("Japan\n")));
    assert!(
        !titles.iter().any(|t| t.starts_with("France")),
        "no value, no title"
    );
    let keys: Vec<&str> = doc
        .descendants()
        .filter(|node| node.attribute("class") == Some("mm-country"))
        .filter_map(|node| node.attribute("data-key"))
        .collect();
    assert!(keys.contains(&"DE") && keys.contains(&"US") && keys.contains(&"JP"));
    // The most visited country has the theme's visitor colour; fewer
    // visitors are lighter, and one visitor is lighter still.
    assert_eq!(fill_of(&doc, "Germany"), "#4F46E5");
    let (us, japan) = (fill_of(&doc, "United States"), fill_of(&doc, "Japan"));
    assert_ne!(us, "#4F46E5");
    assert_ne!(us, japan);
    let desc = doc
        .descendants()
        .find(|node| node.has_tag_name("desc"))
        .and_then(|node| node.text())
        .unwrap();
    assert!(desc.starts_with("Visitors by country by Visitors (5 countries). Germany: 1,200;"));
    assert!(desc.contains("ZZ: 9"), "an unknown code is still listed");
    let texts: Vec<&str> = doc
        .descendants()
        .filter(|node| node.has_tag_name("text"))
        .filter_map(|node| node.text().map(str::trim))
        .collect();
    assert!(
        texts.contains(&"1,200"),
        "the legend shows the maximum: {texts:?}"
    );
}

#[test]
fn an_empty_map_draws_the_world_and_says_so() {
    let empty = MapChart::new("Visitors by country", "Visitors", Vec::new());
    let svg = map_svg(&empty, &options(Theme::Dark)).unwrap();
    let doc = Document::parse(&svg).unwrap();
    let drawn = doc
        .descendants()
        .filter(|node| node.has_tag_name("polygon"))
        .count();
    assert!(drawn > 150, "every country is drawn: {drawn}");
    assert!(svg.contains("No data for this period"));
    assert!(!svg.contains("mm-country"));
    assert_snapshot("map_empty", &svg);
}

#[test]
fn the_map_matches_its_snapshot_and_renders_as_png() {
    let svg = map_svg(&visitors(), &options(Theme::Light)).unwrap();
    assert_snapshot("map_light", &svg);
    let png = map_png(&visitors(), &options(Theme::Dark)).unwrap();
    assert!(png.starts_with(b"\x89PNG"));
}
