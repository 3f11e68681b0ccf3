//! What every kind of chart gives the renderers (its title, checks,
//! accessible description and drawing), and the one way each is rendered to
//! SVG or PNG.

use plotters::coord::Shift;
use plotters::drawing::DrawingArea;
use plotters::prelude::DrawingBackend;

use crate::bar::{self, BarChart};
use crate::error::ChartError;
use crate::format::{clean_label, truncate_chars};
use crate::map::{self, MapChart};
use crate::options::{ChartFormat, ChartOptions};
use crate::svg::HoverTarget;
use crate::theme::Palette;
use crate::timeseries::{self, TimeseriesChart};
use crate::{font, png, svg};

/// The longest chart title kept in the accessible `<title>`, in characters.
const MAX_TITLE_CHARS: usize = 200;

/// A kind of chart.
pub(crate) trait ChartKind {
    /// The chart's title, as given.
    fn title(&self) -> &str;
    /// Refuses data the chart cannot draw.
    fn validate(&self) -> Result<(), ChartError>;
    /// The accessible description of what the chart shows.
    fn description(&self) -> Result<String, ChartError>;
    /// Draws the chart on `root`; returns the regions that show a tooltip.
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        palette: &Palette,
    ) -> Result<Vec<HoverTarget>, ChartError>;
}

/// Renders `chart` as an SVG document.
pub(crate) fn svg_of<C: ChartKind>(
    chart: &C,
    options: &ChartOptions,
) -> Result<String, ChartError> {
    chart.validate()?;
    font::ensure_registered()?;
    let palette = Palette::of(options.theme);
    svg::render(
        options.size,
        &truncate_chars(&clean_label(chart.title()), MAX_TITLE_CHARS),
        &chart.description()?,
        |root| chart.draw(root, &palette),
    )
}

/// Renders `chart` as a PNG image.
pub(crate) fn png_of<C: ChartKind>(
    chart: &C,
    options: &ChartOptions,
) -> Result<Vec<u8>, ChartError> {
    chart.validate()?;
    font::ensure_registered()?;
    let palette = Palette::of(options.theme);
    png::render(options.size, |root| chart.draw(root, &palette))
}

/// Renders `chart` in `format`.
pub(crate) fn render<C: ChartKind>(
    chart: &C,
    options: &ChartOptions,
    format: ChartFormat,
) -> Result<Vec<u8>, ChartError> {
    match format {
        ChartFormat::Svg => svg_of(chart, options).map(String::into_bytes),
        ChartFormat::Png => png_of(chart, options),
    }
}

impl ChartKind for TimeseriesChart {
    fn title(&self) -> &str {
        &self.title
    }
    fn validate(&self) -> Result<(), ChartError> {
        TimeseriesChart::validate(self)
    }
    fn description(&self) -> Result<String, ChartError> {
        Ok(TimeseriesChart::description(self))
    }
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        palette: &Palette,
    ) -> Result<Vec<HoverTarget>, ChartError> {
        timeseries::draw(root, self, palette)
    }
}

impl ChartKind for BarChart {
    fn title(&self) -> &str {
        &self.title
    }
    fn validate(&self) -> Result<(), ChartError> {
        BarChart::validate(self)
    }
    fn description(&self) -> Result<String, ChartError> {
        Ok(BarChart::description(self))
    }
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        palette: &Palette,
    ) -> Result<Vec<HoverTarget>, ChartError> {
        bar::draw(root, self, palette)
    }
}

impl ChartKind for MapChart {
    fn title(&self) -> &str {
        &self.title
    }
    fn validate(&self) -> Result<(), ChartError> {
        MapChart::validate(self)
    }
    fn description(&self) -> Result<String, ChartError> {
        MapChart::description(self)
    }
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        palette: &Palette,
    ) -> Result<Vec<HoverTarget>, ChartError> {
        map::draw(root, self, palette)
    }
}
