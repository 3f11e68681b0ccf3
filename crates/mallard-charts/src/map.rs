//! A world map of a value per country (visitors, usually): every country
//! drawn from Natural Earth's shapes (see [`crate::world`]), shaded from a
//! light tint (one) to the theme's visitor colour (the most), on a
//! logarithmic scale so that a site with one big country still shows the
//! small ones. Countries without a value are drawn in a neutral colour.

use plotters::coord::Shift;
use plotters::drawing::DrawingArea;
use plotters::element::{PathElement, Polygon, Rectangle};
use plotters::prelude::DrawingBackend;
use plotters::style::{Color, RGBColor};

use crate::error::ChartError;
use crate::format::{clean_label, thousands};
use crate::render::{
    Anchor, HEADER_HEIGHT, LABEL_SIZE, NO_DATA_MESSAGE, PADDING, draw_frame, draw_text,
    render_error,
};
use crate::svg::{HoverShape, HoverTarget};
use crate::theme::Palette;
use crate::world;

/// The most rows a map takes: more than there are country codes.
pub const MAX_COUNTRIES: usize = 300;

/// The height of the legend under the map, in pixels.
const LEGEND_HEIGHT: i32 = 24;

/// The number of shades in the legend.
const LEGEND_STEPS: u8 = 5;

/// One country's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapRow {
    /// The ISO 3166-1 alpha-2 code (`"DE"`); codes the map has no shape for
    /// are listed in the description but not drawn.
    pub country: String,
    /// The count.
    pub value: u64,
}

impl MapRow {
    /// A row.
    pub fn new(country: impl Into<String>, value: u64) -> Self {
        Self {
            country: country.into(),
            value,
        }
    }
}

/// A world map chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapChart {
    /// The chart title, e.g. `"Visitors by country"`.
    pub title: String,
    /// The name of the value in hover titles, e.g. `"Visitors"`.
    pub value_name: String,
    /// The countries with their values, in any order.
    pub rows: Vec<MapRow>,
}

impl MapChart {
    /// A map chart.
    pub fn new(title: impl Into<String>, value_name: impl Into<String>, rows: Vec<MapRow>) -> Self {
        Self {
            title: title.into(),
            value_name: value_name.into(),
            rows,
        }
    }

    /// Refuses maps with more than [`MAX_COUNTRIES`] rows.
    pub(crate) fn validate(&self) -> Result<(), ChartError> {
        if self.rows.len() > MAX_COUNTRIES {
            return Err(ChartError::TooManyRows {
                got: self.rows.len(),
                max: MAX_COUNTRIES,
            });
        }
        Ok(())
    }

    /// The value of `code`, summed over rows naming it (case-insensitive).
    fn value_of(&self, code: &str) -> u64 {
        self.rows
            .iter()
            .filter(|row| row.country.eq_ignore_ascii_case(code))
            .map(|row| row.value)
            .sum()
    }

    /// The text of the chart's accessible `<desc>`: the countries with a
    /// value, largest first, by name where the map knows it.
    pub(crate) fn description(&self) -> Result<String, ChartError> {
        let shapes = world::countries()?;
        let mut rows: Vec<(String, u64)> = self
            .rows
            .iter()
            .filter(|row| row.value > 0)
            .map(|row| {
                let name = shapes
                    .iter()
                    .find(|shape| {
                        shape
                            .alpha2
                            .is_some_and(|code| code.eq_ignore_ascii_case(&row.country))
                    })
                    .map_or_else(|| clean_label(&row.country), |shape| shape.name.clone());
                (name, row.value)
            })
            .collect();
        if rows.is_empty() {
            return Ok(format!("{NO_DATA_MESSAGE}."));
        }
        rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let listed: Vec<String> = rows
            .iter()
            .map(|(name, value)| format!("{name}: {}", thousands(u128::from(*value))))
            .collect();
        Ok(format!(
            "{} by {} ({} countries). {}.",
            clean_label(&self.title),
            clean_label(&self.value_name),
            rows.len(),
            listed.join("; ")
        ))
    }
}

/// Where the projected world lands in the image.
struct Frame {
    scale: f64,
    left: f64,
    top: f64,
    max_y: f64,
    min_x: f64,
}

impl Frame {
    /// Fits the projected bounds into the box from `(left, top)` of
    /// `width` by `height` pixels, centred, keeping the aspect ratio.
    fn fit(bounds: (f64, f64, f64, f64), left: i32, top: i32, width: i32, height: i32) -> Self {
        let (min_x, min_y, max_x, max_y) = bounds;
        let scale = (f64::from(width.max(1)) / (max_x - min_x))
            .min(f64::from(height.max(1)) / (max_y - min_y));
        let drawn_width = (max_x - min_x) * scale;
        let drawn_height = (max_y - min_y) * scale;
        Self {
            scale,
            left: f64::from(left) + (f64::from(width) - drawn_width) / 2.0,
            top: f64::from(top) + (f64::from(height) - drawn_height) / 2.0,
            max_y,
            min_x,
        }
    }

    /// A ring in pixels, with repeated points dropped.
    fn pixels(&self, ring: &[(f64, f64)]) -> Vec<(i32, i32)> {
        let mut points: Vec<(i32, i32)> = Vec::with_capacity(ring.len());
        for &(x, y) in ring {
            let point = (
                (self.left + (x - self.min_x) * self.scale).round() as i32,
                (self.top + (self.max_y - y) * self.scale).round() as i32,
            );
            if points.last() != Some(&point) {
                points.push(point);
            }
        }
        points
    }
}

/// The shade of `value` between `low` (a value of one) and `high` (`max`).
fn shade(value: u64, max: u64, low: RGBColor, high: RGBColor) -> RGBColor {
    let t = if max <= 1 {
        1.0
    } else {
        ((value as f64).ln() / (max as f64).ln()).clamp(0.0, 1.0)
    };
    mix(low, high, t)
}

/// `a` blended towards `b` by `t` (0 gives `a`, 1 gives `b`).
fn mix(a: RGBColor, b: RGBColor, t: f64) -> RGBColor {
    let channel = |x: u8, y: u8| (f64::from(x) + (f64::from(y) - f64::from(x)) * t).round() as u8;
    RGBColor(channel(a.0, b.0), channel(a.1, b.1), channel(a.2, b.2))
}

/// Draws the map and returns one hover target per drawn ring of a country
/// with a value.
pub(crate) fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &MapChart,
    palette: &Palette,
) -> Result<Vec<HoverTarget>, ChartError> {
    let (width, height) = root.dim_in_pixel();
    let width = i32::try_from(width).unwrap_or(i32::MAX);
    let height = i32::try_from(height).unwrap_or(i32::MAX);
    draw_frame(
        root,
        &clean_label(&chart.title),
        width - 2 * PADDING,
        palette,
    )?;
    let shapes = world::countries()?;
    let frame = Frame::fit(
        world::bounds(shapes),
        PADDING,
        HEADER_HEIGHT,
        width - 2 * PADDING,
        height - HEADER_HEIGHT - PADDING - LEGEND_HEIGHT,
    );
    let max = chart.rows.iter().map(|row| row.value).max().unwrap_or(0);
    let low = mix(palette.background, palette.visitors, 0.22);
    let value_name = clean_label(&chart.value_name);
    let mut targets = Vec::new();
    for shape in shapes {
        let value = shape.alpha2.map_or(0, |code| chart.value_of(code));
        let fill = if value == 0 {
            palette.map_empty
        } else {
            shade(value, max, low, palette.visitors)
        };
        for ring in &shape.rings {
            let Some(points) = draw_ring(root, &frame, ring, fill, palette)? else {
                continue;
            };
            if value > 0 {
                targets.push(HoverTarget {
                    shape: HoverShape::Polygon {
                        points,
                        key: shape.alpha2.unwrap_or_default().to_owned(),
                    },
                    title: format!(
                        "{}\n{value_name}: {}",
                        shape.name,
                        thousands(u128::from(value))
                    ),
                    kind: "country",
                    key: None,
                });
            }
        }
    }
    draw_legend(root, height, max, low, palette)?;
    Ok(targets)
}

/// Draws one ring filled with `fill` and outlined in the background colour;
/// returns its corners in pixels, or `None` when it is too small to draw.
fn draw_ring<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    frame: &Frame,
    ring: &[(f64, f64)],
    fill: RGBColor,
    palette: &Palette,
) -> Result<Option<Vec<(i32, i32)>>, ChartError> {
    let points = frame.pixels(ring);
    if points.len() < 3 {
        return Ok(None);
    }
    root.draw(&Polygon::new(points.clone(), fill.filled()))
        .map_err(render_error)?;
    root.draw(&PathElement::new(points.clone(), palette.background))
        .map_err(render_error)?;
    Ok(Some(points))
}

/// The legend under the map: "1", a row of shades, and the maximum; or the
/// "no data" message when nothing has a value.
fn draw_legend<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    height: i32,
    max: u64,
    low: RGBColor,
    palette: &Palette,
) -> Result<(), ChartError> {
    let center_y = height - PADDING - LEGEND_HEIGHT / 2;
    if max == 0 {
        return draw_text(
            root,
            NO_DATA_MESSAGE,
            (PADDING, center_y),
            LABEL_SIZE,
            palette.muted_text,
            Anchor::LEFT,
        );
    }
    draw_text(
        root,
        "1",
        (PADDING, center_y),
        LABEL_SIZE,
        palette.muted_text,
        Anchor::LEFT,
    )?;
    let swatch = 18;
    let start = PADDING + 16;
    for step in 0..LEGEND_STEPS {
        let t = f64::from(step) / f64::from(LEGEND_STEPS - 1);
        let x = start + i32::from(step) * swatch;
        root.draw(&Rectangle::new(
            [(x, center_y - 6), (x + swatch - 2, center_y + 6)],
            mix(low, palette.visitors, t).filled(),
        ))
        .map_err(render_error)?;
    }
    draw_text(
        root,
        &thousands(u128::from(max)),
        (start + i32::from(LEGEND_STEPS) * swatch + 6, center_y),
        LABEL_SIZE,
        palette.muted_text,
        Anchor::LEFT,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shades_grow_with_the_value_on_a_log_scale() {
        let low = RGBColor(200, 200, 200);
        let high = RGBColor(0, 0, 100);
        assert_eq!(shade(1, 1000, low, high), low);
        assert_eq!(shade(1000, 1000, low, high), high);
        let middle = shade(31, 1000, low, high);
        assert!(middle.0 < low.0 && middle.0 > high.0, "{middle:?}");
        assert_eq!(shade(5, 1, low, high), high, "a lone value is the most");
    }

    #[test]
    fn the_description_names_countries_largest_first() {
        let chart = MapChart::new(
            "Visitors by country",
            "Visitors",
            vec![
                MapRow::new("us", 3),
                MapRow::new("DE", 1_200),
                MapRow::new("ZZ", 2),
                MapRow::new("FR", 0),
            ],
        );
        assert_eq!(
            chart.description().unwrap(),
            "Visitors by country by Visitors (3 countries). Germany: 1,200; \
             United States of America: 3; ZZ: 2."
        );
        let empty = MapChart::new("t", "v", Vec::new());
        assert_eq!(empty.description().unwrap(), "No data for this period.");
    }

    #[test]
    fn too_many_rows_are_refused() {
        let rows = (0..=MAX_COUNTRIES)
            .map(|i| MapRow::new(i.to_string(), 1))
            .collect();
        assert!(MapChart::new("t", "v", rows).validate().is_err());
    }
}
