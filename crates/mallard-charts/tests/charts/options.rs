//! Option validation and the format-generic entry points.

use mallard_charts::{
    ChartError, ChartFormat, ChartOptions, ChartSize, MAX_HEIGHT, MAX_WIDTH, MIN_HEIGHT, MIN_WIDTH,
    Theme, render_bar, render_timeseries,
};

use crate::fixtures;

#[test]
fn sizes_inside_the_bounds_are_accepted() {
    for (width, height) in [(MIN_WIDTH, MIN_HEIGHT), (MAX_WIDTH, MAX_HEIGHT), (800, 300)] {
        let size = ChartSize::new(width, height).expect("in bounds");
        assert_eq!((size.width(), size.height()), (width, height));
    }
    assert_eq!(
        (MIN_WIDTH, MAX_WIDTH, MIN_HEIGHT, MAX_HEIGHT),
        (100, 4000, 100, 2000)
    );
}

#[test]
fn absurd_sizes_are_refused_with_a_message_naming_the_bound() {
    let cases = [
        (
            99,
            300,
            "chart width must be between 100 and 4000 pixels, got 99",
        ),
        (
            4001,
            300,
            "chart width must be between 100 and 4000 pixels, got 4001",
        ),
        (
            0,
            0,
            "chart width must be between 100 and 4000 pixels, got 0",
        ),
        (
            800,
            99,
            "chart height must be between 100 and 2000 pixels, got 99",
        ),
        (
            800,
            u32::MAX,
            "chart height must be between 100 and 2000 pixels, got 4294967295",
        ),
    ];
    for (width, height, message) in cases {
        let error = ChartOptions::new(width, height, Theme::Light).expect_err("refused");
        assert!(error.is_invalid_input());
        assert_eq!(error.to_string(), message);
    }
}

#[test]
fn themes_and_formats_parse_from_query_strings() {
    assert_eq!("light".parse::<Theme>(), Ok(Theme::Light));
    assert_eq!("DARK".parse::<Theme>(), Ok(Theme::Dark));
    assert_eq!(
        "blue".parse::<Theme>(),
        Err(ChartError::UnknownTheme("blue".to_owned()))
    );
    assert_eq!("svg".parse::<ChartFormat>(), Ok(ChartFormat::Svg));
    assert_eq!("PNG".parse::<ChartFormat>(), Ok(ChartFormat::Png));
    let error = "gif".parse::<ChartFormat>().expect_err("refused");
    assert!(error.is_invalid_input());
    assert_eq!(
        error.to_string(),
        "unknown chart format \"gif\": expected \"svg\" or \"png\""
    );
    assert_eq!(ChartFormat::Svg.content_type(), "image/svg+xml");
    assert_eq!(ChartFormat::Png.content_type(), "image/png");
    assert_eq!(ChartFormat::Png.extension(), "png");
    assert!(!ChartError::Font.is_invalid_input());
    assert!(!ChartError::Render("x".to_owned()).is_invalid_input());
}

#[test]
fn the_format_generic_entry_points_return_the_right_encoding() {
    let options = ChartOptions::default();
    let svg = render_timeseries(&fixtures::daily(), &options, ChartFormat::Svg).expect("renders");
    assert!(svg.starts_with(b"<svg xmlns=\"http://www.w3.org/2000/svg\""));
    let png = render_bar(&fixtures::top_pages(), &options, ChartFormat::Png).expect("renders");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
    let svg = render_bar(&fixtures::top_pages(), &options, ChartFormat::Svg).expect("renders");
    assert!(svg.ends_with(b"</svg>\n"));
    let png = render_timeseries(&fixtures::zeros(), &options, ChartFormat::Png).expect("renders");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
}
