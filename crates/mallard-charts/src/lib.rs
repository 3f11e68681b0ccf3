//! SVG and PNG charts for Mallard Metrics.
//!
//! This crate knows drawing, not SQL or HTTP: it turns query results that the
//! caller has already computed into images. Three charts exist:
//!
//! - [`TimeseriesChart`]: visitors and pageviews over time, one point per
//!   hour, day, week or month ([`Granularity`]).
//! - [`BarChart`]: top-N horizontal bars (pages, referrers, countries, ...).
//! - [`MapChart`]: a world map shaded by a value per country, drawn from
//!   Natural Earth's public-domain 1:110m shapes (embedded, see
//!   `assets/world/README.md`) in the Equal Earth projection.
//!
//! Each renders to SVG ([`timeseries_svg`], [`bar_svg`], [`map_svg`]) or PNG
//! ([`timeseries_png`], [`bar_png`], [`map_png`]), or to either by
//! [`ChartFormat`] ([`render_timeseries`], [`render_bar`], [`render_map`],
//! which return bytes and pair with
//! [`ChartFormat::content_type`]). [`ChartOptions`] carries the size (refused
//! outside 100..=4000 by 100..=2000 pixels, see [`ChartSize`]) and the
//! [`Theme`].
//!
//! # What the output guarantees
//!
//! - Numbers have thousands separators (`1,234,567`); dates read `Nov 3`,
//!   `14:00`, `Nov 2026` on axes and in full (`Nov 3, 2026`) in tooltips.
//! - SVG: the root has `role="img"`, a `<title>` and a `<desc>` summarising the
//!   data; every point and every bar has an invisible hover target carrying a
//!   `<title>` with its value. All text is XML-escaped and control characters
//!   are replaced, so labels from user data (`<script>` in a page path) are
//!   inert text and the document is always well-formed XML.
//! - Empty data draws a chart saying "No data for this period"; all-zero data
//!   draws a flat line at 0 on a 0..5 axis. Rendering never panics on any
//!   label or value.
//!
//! # Fonts and PNG without system libraries
//!
//! PNG charts are drawn with plotters' bitmap backend into memory and encoded
//! with the pure-Rust `png` crate; plotters' `image` encoder and its `ttf`
//! (font-kit, fontconfig) text stack are not compiled in. Text goes through
//! plotters' `ab_glyph` feature with DejaVu Sans embedded in the binary
//! (`include_bytes!` of `assets/fonts/DejaVuSans.ttf`, unmodified, under the
//! Bitstream Vera / DejaVu licence shipped beside it). So a PNG renders the
//! same on a fresh machine with no fonts installed, and the same metrics lay
//! out the SVG. This was chosen over rasterising the SVG with `resvg` because
//! it needs far fewer dependencies (no text shaping, CSS or SVG parser stack)
//! and one drawing code path serves both formats, while `resvg` would still
//! need the same embedded font. The cost is about 750 KB of binary size.
//!
//! plotters keeps registered fonts in a process-wide table; this crate
//! registers its font as the `sans-serif` family on first use. Enabling
//! plotters' `ttf` feature elsewhere in the same build would replace
//! `ab_glyph` and bring back system font lookup: don't.
//!
//! # Example
//!
//! ```
//! use mallard_charts::{BarChart, BarRow, ChartOptions, Theme, bar_svg};
//!
//! let chart = BarChart::new("Top pages", "Visitors", vec![BarRow::new("/pricing", 1234)]);
//! let options = ChartOptions::new(600, 240, Theme::Dark)?;
//! let svg = bar_svg(&chart, &options)?;
//! assert!(svg.contains("<title>/pricing\nVisitors: 1,234</title>"));
//! # Ok::<(), mallard_charts::ChartError>(())
//! ```

mod bar;
mod error;
mod font;
mod format;
mod kind;
mod map;
mod options;
mod png;
mod render;
mod scale;
mod svg;
mod theme;
mod timeseries;
mod world;

pub use bar::{BarChart, BarRow, MAX_ROWS};
pub use error::ChartError;
pub use map::{MAX_COUNTRIES, MapChart, MapRow};
pub use options::{
    ChartFormat, ChartOptions, ChartSize, MAX_HEIGHT, MAX_WIDTH, MIN_HEIGHT, MIN_WIDTH, Theme,
};
pub use render::NO_DATA_MESSAGE;
pub use timeseries::{ChartNote, Granularity, MAX_POINTS, Series, TimePoint, TimeseriesChart};

/// The credit for the embedded data the charts draw with, for the product's
/// About dialog and docs.
pub const ATTRIBUTION: &str = "Map shapes: Natural Earth 1:110m (public domain, \
    https://www.naturalearthdata.com/), packaged by world-atlas (ISC). \
    Chart font: DejaVu Sans (Bitstream Vera licence).";

/// Renders a timeseries chart as an SVG document.
pub fn timeseries_svg(
    chart: &TimeseriesChart,
    options: &ChartOptions,
) -> Result<String, ChartError> {
    kind::svg_of(chart, options)
}

/// Renders a timeseries chart as a PNG image.
pub fn timeseries_png(
    chart: &TimeseriesChart,
    options: &ChartOptions,
) -> Result<Vec<u8>, ChartError> {
    kind::png_of(chart, options)
}

/// Renders a bar chart as an SVG document.
pub fn bar_svg(chart: &BarChart, options: &ChartOptions) -> Result<String, ChartError> {
    kind::svg_of(chart, options)
}

/// Renders a bar chart as a PNG image.
pub fn bar_png(chart: &BarChart, options: &ChartOptions) -> Result<Vec<u8>, ChartError> {
    kind::png_of(chart, options)
}

/// Renders a timeseries chart in `format`; send the bytes with
/// [`ChartFormat::content_type`].
pub fn render_timeseries(
    chart: &TimeseriesChart,
    options: &ChartOptions,
    format: ChartFormat,
) -> Result<Vec<u8>, ChartError> {
    kind::render(chart, options, format)
}

/// Renders a bar chart in `format`; send the bytes with
/// [`ChartFormat::content_type`].
pub fn render_bar(
    chart: &BarChart,
    options: &ChartOptions,
    format: ChartFormat,
) -> Result<Vec<u8>, ChartError> {
    kind::render(chart, options, format)
}

/// Renders a world map as an SVG document.
pub fn map_svg(chart: &MapChart, options: &ChartOptions) -> Result<String, ChartError> {
    kind::svg_of(chart, options)
}

/// Renders a world map as a PNG image.
pub fn map_png(chart: &MapChart, options: &ChartOptions) -> Result<Vec<u8>, ChartError> {
    kind::png_of(chart, options)
}

/// Renders a world map in `format`; send the bytes with
/// [`ChartFormat::content_type`].
pub fn render_map(
    chart: &MapChart,
    options: &ChartOptions,
    format: ChartFormat,
) -> Result<Vec<u8>, ChartError> {
    kind::render(chart, options, format)
}
