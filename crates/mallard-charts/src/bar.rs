//! Top-N horizontal bars: one row per label (a page, a referrer, a country),
//! the label drawn over a bar whose length is proportional to the value, the
//! value with thousands separators at the right, and a hover title per row.

use plotters::coord::Shift;
use plotters::drawing::DrawingArea;
use plotters::element::Rectangle;
use plotters::prelude::DrawingBackend;
use plotters::style::Color;

use crate::error::ChartError;
use crate::font;
use crate::format::{clean_label, thousands, truncate_chars};
use crate::render::{
    Anchor, HEADER_HEIGHT, LABEL_SIZE, NO_DATA_MESSAGE, PADDING, draw_frame, draw_no_data,
    draw_text, render_error,
};
use crate::svg::{HoverShape, HoverTarget};
use crate::theme::Palette;

/// The most rows one bar chart draws.
pub const MAX_ROWS: usize = 100;

/// The tallest a row gets, in pixels, however much room there is.
const MAX_ROW_HEIGHT: i32 = 32;

/// Rows lower than this many pixels get no text (only the bar and its hover
/// title), because the text would overlap.
const MIN_TEXT_ROW_HEIGHT: f64 = 14.0;

/// Labels longer than this many characters are cut before measuring, so a
/// 10,000-character page path costs no more than a long one.
const MAX_LABEL_CHARS: usize = 200;

/// One row of a bar chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BarRow {
    /// What the row counts (a page path, a referrer, ...): user data, drawn
    /// as plain text and escaped in SVG.
    pub label: String,
    /// The count.
    pub value: u64,
}

impl BarRow {
    /// A row.
    pub fn new(label: impl Into<String>, value: u64) -> Self {
        Self {
            label: label.into(),
            value,
        }
    }
}

/// A top-N bar chart. Rows are drawn in the given order (the caller sorts);
/// an empty list draws "No data for this period".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BarChart {
    /// The chart title, e.g. `"Top pages"`.
    pub title: String,
    /// The name of the value in hover titles, e.g. `"Visitors"`.
    pub value_name: String,
    /// The rows, first drawn at the top.
    pub rows: Vec<BarRow>,
}

impl BarChart {
    /// A bar chart.
    pub fn new(title: impl Into<String>, value_name: impl Into<String>, rows: Vec<BarRow>) -> Self {
        Self {
            title: title.into(),
            value_name: value_name.into(),
            rows,
        }
    }

    /// Refuses charts with more than [`MAX_ROWS`] rows.
    pub(crate) fn validate(&self) -> Result<(), ChartError> {
        if self.rows.len() > MAX_ROWS {
            return Err(ChartError::TooManyRows {
                got: self.rows.len(),
                max: MAX_ROWS,
            });
        }
        Ok(())
    }

    /// The text of the chart's accessible `<desc>`.
    pub(crate) fn description(&self) -> String {
        if self.rows.is_empty() {
            return format!("{NO_DATA_MESSAGE}.");
        }
        let rows: Vec<String> = self
            .rows
            .iter()
            .map(|row| {
                format!(
                    "{}: {}",
                    row_label(&row.label),
                    thousands(u128::from(row.value))
                )
            })
            .collect();
        format!(
            "{} by {} ({} rows). {}.",
            clean_label(&self.title),
            clean_label(&self.value_name),
            self.rows.len(),
            rows.join("; ")
        )
    }
}

/// A label cleaned for drawing and cut to [`MAX_LABEL_CHARS`].
fn row_label(label: &str) -> String {
    truncate_chars(&clean_label(label), MAX_LABEL_CHARS)
}

/// Draws the chart and returns one hover target per row.
pub(crate) fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &BarChart,
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
    if chart.rows.is_empty() {
        draw_no_data(root, palette)?;
        return Ok(Vec::new());
    }

    let values: Vec<String> = chart
        .rows
        .iter()
        .map(|row| thousands(u128::from(row.value)))
        .collect();
    let value_width = values
        .iter()
        .map(|value| font::text_width(value, LABEL_SIZE))
        .max()
        .unwrap_or(0)
        .min(width / 3);
    let left = PADDING;
    let right = width - PADDING;
    let bar_right = (right - value_width - 12).max(left + 1);
    let bar_room = f64::from(bar_right - left);
    let top = HEADER_HEIGHT;
    let room = f64::from((height - PADDING - top).max(1));
    let row_height = (room / chart.rows.len() as f64).min(f64::from(MAX_ROW_HEIGHT));
    let max = chart.rows.iter().map(|row| row.value).max().unwrap_or(0);
    let value_name = clean_label(&chart.value_name);

    let mut targets = Vec::with_capacity(chart.rows.len());
    for (index, (row, value_text)) in chart.rows.iter().zip(&values).enumerate() {
        let row_top = top + (row_height * index as f64).round() as i32;
        let row_bottom = top + (row_height * (index + 1) as f64).round() as i32;
        let center_y = (row_top + row_bottom) / 2;
        let inset = ((row_bottom - row_top) / 10).max(1);
        let bar_length = if max == 0 {
            0.0
        } else {
            bar_room * row.value as f64 / max as f64
        };
        let bar_end = left + bar_length.round() as i32;
        if bar_end > left {
            let bar = Rectangle::new(
                [(left, row_top + inset), (bar_end, row_bottom - inset)],
                palette.bar.filled(),
            );
            root.draw(&bar).map_err(render_error)?;
        }
        let label = row_label(&row.label);
        if row_height >= MIN_TEXT_ROW_HEIGHT {
            let fitted = font::fit_text(&label, LABEL_SIZE, bar_right - left - 16);
            draw_text(
                root,
                &fitted,
                (left + 8, center_y),
                LABEL_SIZE,
                palette.text,
                Anchor::LEFT,
            )?;
            draw_text(
                root,
                value_text,
                (right, center_y),
                LABEL_SIZE,
                palette.text,
                Anchor::RIGHT,
            )?;
        }
        targets.push(HoverTarget {
            shape: HoverShape::Rect {
                x: left,
                y: row_top,
                width: right - left,
                height: (row_bottom - row_top).max(1),
            },
            title: format!("{label}\n{value_name}: {value_text}"),
            kind: "bar",
            key: None,
        });
    }
    Ok(targets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn description_lists_every_row_with_separators() {
        let chart = BarChart::new(
            "Top pages",
            "Visitors",
            vec![BarRow::new("/", 1_234_567), BarRow::new("/a\u{0}b", 5)],
        );
        assert_eq!(
            chart.description(),
            "Top pages by Visitors (2 rows). /: 1,234,567; /a\u{FFFD}b: 5."
        );
        let empty = BarChart::new("Top pages", "Visitors", Vec::new());
        assert_eq!(empty.description(), "No data for this period.");
    }

    #[test]
    fn too_many_rows_are_refused() {
        let rows = (0..=MAX_ROWS)
            .map(|i| BarRow::new(i.to_string(), 1))
            .collect();
        let chart = BarChart::new("t", "v", rows);
        assert_eq!(
            chart.validate(),
            Err(ChartError::TooManyRows {
                got: MAX_ROWS + 1,
                max: MAX_ROWS
            })
        );
    }
}
