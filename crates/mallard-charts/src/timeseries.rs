//! Visitors and pageviews over time: a line chart with one point per time
//! bucket, round value ticks with thousands separators, date labels that
//! suit the bucket size, and a hover title on every point.

use plotters::coord::Shift;
use plotters::drawing::DrawingArea;
use plotters::element::{Circle, PathElement, Polygon, Rectangle};
use plotters::prelude::DrawingBackend;
use plotters::style::{Color, RGBColor};
use time::PrimitiveDateTime;

use crate::error::ChartError;
use crate::font;
use crate::format::{
    clean_label, hour_minute, month_day, month_day_year, month_year_long, month_year_short,
    thousands,
};
use crate::render::{
    Anchor, HEADER_HEIGHT, LABEL_SIZE, NO_DATA_MESSAGE, PADDING, draw_frame, draw_no_data,
    draw_text, render_error,
};
use crate::scale::{ValueAxis, round_index_step};
use crate::svg::{HoverShape, HoverTarget};
use crate::theme::Palette;

/// The most points one timeseries chart draws (a year of hourly buckets fits).
pub const MAX_POINTS: usize = 10_000;

/// The least distance in pixels between an axis label and the image edge.
const EDGE_MARGIN: i32 = 8;

/// Lines with at most this many points also get a dot on every point.
const MARKER_LIMIT: usize = 60;

/// The size of one time bucket; it decides how dates are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    /// One point per hour: axis labels `14:00` (with the day when the period
    /// spans several days: `Nov 3 14:00`).
    Hour,
    /// One point per day: axis labels `Nov 3`.
    Day,
    /// One point per week, labelled by its first day: `Nov 3`.
    Week,
    /// One point per month: axis labels `Nov 2026`.
    Month,
}

impl Granularity {
    /// The short label under the x axis.
    fn axis_label(self, start: PrimitiveDateTime, spans_days: bool) -> String {
        match self {
            Self::Hour if spans_days => format!("{} {}", month_day(start), hour_minute(start)),
            Self::Hour => hour_minute(start),
            Self::Day | Self::Week => month_day(start),
            Self::Month => month_year_short(start),
        }
    }

    /// The full label in hover titles and the chart description.
    fn full_label(self, start: PrimitiveDateTime) -> String {
        match self {
            Self::Hour => format!("{} {}", month_day_year(start), hour_minute(start)),
            Self::Day => month_day_year(start),
            Self::Week => format!("Week of {}", month_day_year(start)),
            Self::Month => month_year_long(start),
        }
    }

    /// Round numbers of buckets between two axis labels.
    fn label_steps(self) -> &'static [usize] {
        match self {
            Self::Hour => &[1, 2, 3, 6, 12, 24, 48, 72, 168, 336, 720],
            Self::Day => &[1, 2, 7, 14, 28, 56, 91, 182, 364],
            Self::Week => &[1, 2, 4, 8, 13, 26, 52],
            Self::Month => &[1, 2, 3, 6, 12, 24],
        }
    }

    /// The bucket noun used in the description.
    fn noun(self) -> &'static str {
        match self {
            Self::Hour => "hour",
            Self::Day => "day",
            Self::Week => "week",
            Self::Month => "month",
        }
    }
}

/// One time bucket: its start (wall-clock time in the site's time zone) and
/// its counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimePoint {
    /// The first instant of the bucket.
    pub start: PrimitiveDateTime,
    /// Unique visitors in the bucket.
    pub visitors: u64,
    /// Pageviews in the bucket.
    pub pageviews: u64,
}

/// Which lines a timeseries chart draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Series {
    /// Visitors and pageviews.
    #[default]
    Both,
    /// Visitors only.
    Visitors,
    /// Pageviews only.
    Pageviews,
}

/// One metric of a time point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Metric {
    Visitors,
    Pageviews,
}

impl Metric {
    /// The metric's value in a point.
    fn of(self, point: &TimePoint) -> u64 {
        match self {
            Self::Visitors => point.visitors,
            Self::Pageviews => point.pageviews,
        }
    }

    /// The legend and tooltip name.
    fn name(self) -> &'static str {
        match self {
            Self::Visitors => "Visitors",
            Self::Pageviews => "Pageviews",
        }
    }

    /// The class suffix of the metric's hover targets.
    fn kind(self) -> &'static str {
        match self {
            Self::Visitors => "visitors",
            Self::Pageviews => "pageviews",
        }
    }

    /// The line colour.
    fn color(self, palette: &Palette) -> RGBColor {
        match self {
            Self::Visitors => palette.visitors,
            Self::Pageviews => palette.pageviews,
        }
    }
}

impl Series {
    /// The metrics in legend order (the first is drawn on top).
    fn metrics(self) -> &'static [Metric] {
        match self {
            Self::Both => &[Metric::Visitors, Metric::Pageviews],
            Self::Visitors => &[Metric::Visitors],
            Self::Pageviews => &[Metric::Pageviews],
        }
    }
}

/// A dated note drawn on a timeseries chart: a dashed line through the
/// bucket that holds its date, a flag at the top with the note as its
/// hover title, and a line in the chart's description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartNote {
    /// The first instant of the note's day, in the chart's wall-clock time.
    pub on: PrimitiveDateTime,
    /// The note.
    pub text: String,
}

/// A timeseries chart: a title, the bucket size, the lines to draw, and the
/// points in time order (the caller fills gaps with zero points; an empty
/// list draws "No data for this period").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeseriesChart {
    /// The chart title, e.g. `"Visitors and pageviews, last 30 days"`.
    pub title: String,
    /// The size of one bucket.
    pub granularity: Granularity,
    /// Which lines to draw.
    pub series: Series,
    /// The buckets, oldest first.
    pub points: Vec<TimePoint>,
    /// Notes to mark; those outside the buckets are left out.
    pub notes: Vec<ChartNote>,
}

impl TimeseriesChart {
    /// A chart of visitors and pageviews.
    pub fn new(title: impl Into<String>, granularity: Granularity, points: Vec<TimePoint>) -> Self {
        Self {
            title: title.into(),
            granularity,
            series: Series::Both,
            points,
            notes: Vec::new(),
        }
    }

    /// The index of the bucket holding `at`: the last that starts at or
    /// before it, when `at` is before the end of the last bucket.
    fn bucket_of(&self, at: PrimitiveDateTime) -> Option<usize> {
        let index = self
            .points
            .partition_point(|p| p.start <= at)
            .checked_sub(1)?;
        let last = self.points.len() - 1;
        if index == last {
            let end = match self.granularity {
                Granularity::Hour => self.points[last].start + time::Duration::HOUR,
                Granularity::Day => self.points[last].start + time::Duration::DAY,
                Granularity::Week => self.points[last].start + time::Duration::WEEK,
                Granularity::Month => self.points[last].start + time::Duration::days(31),
            };
            // A note dated within the day of an hourly chart's last hour
            // still belongs to that day's buckets only up to its end.
            if at >= end {
                return None;
            }
        }
        Some(index)
    }

    /// The notes that fall in the chart, with their bucket index.
    fn placed_notes(&self) -> Vec<(usize, &ChartNote)> {
        self.notes
            .iter()
            .filter_map(|note| self.bucket_of(note.on).map(|index| (index, note)))
            .collect()
    }

    /// Refuses charts with more than [`MAX_POINTS`] points.
    pub(crate) fn validate(&self) -> Result<(), ChartError> {
        if self.points.len() > MAX_POINTS {
            return Err(ChartError::TooManyPoints {
                got: self.points.len(),
                max: MAX_POINTS,
            });
        }
        Ok(())
    }

    /// The text of the chart's accessible `<desc>`.
    pub(crate) fn description(&self) -> String {
        let (Some(first), Some(last)) = (self.points.first(), self.points.last()) else {
            return format!("{NO_DATA_MESSAGE}.");
        };
        let metrics = self.series.metrics();
        let names: Vec<&str> = metrics.iter().map(|metric| metric.name()).collect();
        let noun = self.granularity.noun();
        let count = self.points.len();
        let mut out = format!(
            "{} per {noun} from {} to {} ({count} {noun}{}).",
            names.join(" and "),
            self.granularity.full_label(first.start),
            self.granularity.full_label(last.start),
            if count == 1 { "" } else { "s" },
        );
        for metric in metrics {
            let by_value = |point: &&TimePoint| metric.of(point);
            let highest = self.points.iter().max_by_key(by_value).unwrap_or(first);
            let lowest = self.points.iter().min_by_key(by_value).unwrap_or(first);
            out.push_str(&format!(
                " {}: highest {} ({}), lowest {} ({}).",
                metric.name(),
                thousands(u128::from(metric.of(highest))),
                self.granularity.full_label(highest.start),
                thousands(u128::from(metric.of(lowest))),
                self.granularity.full_label(lowest.start),
            ));
        }
        let notes = self.placed_notes();
        if !notes.is_empty() {
            let listed: Vec<String> = notes
                .iter()
                .map(|(_, note)| {
                    format!("{}: {}", month_day_year(note.on), clean_label(&note.text))
                })
                .collect();
            out.push_str(&format!(" Notes: {}.", listed.join("; ")));
        }
        out
    }
}

/// The pixel rectangle of the plot and the mapping from data to pixels.
struct Plot {
    left: i32,
    right: i32,
    top: i32,
    bottom: i32,
    count: usize,
    axis_top: f64,
}

impl Plot {
    /// The x pixel of the point at `index`.
    fn x(&self, index: usize) -> i32 {
        let width = f64::from(self.right - self.left);
        let offset = if self.count <= 1 {
            width / 2.0
        } else {
            width * index as f64 / (self.count - 1) as f64
        };
        self.left + offset.round() as i32
    }

    /// The y pixel of `value`.
    fn y(&self, value: f64) -> i32 {
        let height = f64::from(self.bottom - self.top);
        self.bottom - (height * value / self.axis_top).round() as i32
    }
}

/// Draws the chart and returns one hover target per drawn point.
pub(crate) fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &TimeseriesChart,
    palette: &Palette,
) -> Result<Vec<HoverTarget>, ChartError> {
    let (width, height) = root.dim_in_pixel();
    let width = i32::try_from(width).unwrap_or(i32::MAX);
    let height = i32::try_from(height).unwrap_or(i32::MAX);
    let metrics = chart.series.metrics();
    let legend_width = legend_width(metrics);
    let title_room = width - 2 * PADDING - legend_width - PADDING;
    draw_frame(root, &clean_label(&chart.title), title_room, palette)?;
    if chart.points.is_empty() {
        draw_no_data(root, palette)?;
        return Ok(Vec::new());
    }
    draw_legend(root, metrics, width - PADDING - legend_width, palette)?;

    let max = chart
        .points
        .iter()
        .flat_map(|point| metrics.iter().map(|metric| metric.of(point)))
        .max()
        .unwrap_or(0);
    let axis = ValueAxis::for_max(max);
    let ticks: Vec<(u128, String)> = axis.ticks().map(|tick| (tick, thousands(tick))).collect();
    let label_width = ticks
        .iter()
        .map(|(_, label)| font::text_width(label, LABEL_SIZE))
        .max()
        .unwrap_or(0);
    let left = (PADDING + label_width + 8).min(width / 2);
    let top = HEADER_HEIGHT + 8;
    let bottom = (height - PADDING - 20).max(top + 1);
    let plot = Plot {
        left,
        right: (width - PADDING).max(left + 1),
        top,
        bottom,
        count: chart.points.len(),
        axis_top: axis.top as f64,
    };

    draw_value_axis(root, &plot, &ticks, palette)?;
    draw_time_axis(root, &plot, chart, palette)?;
    // The first metric is the main one: draw the others first so it ends on top.
    let notes = chart.placed_notes();
    draw_notes(root, &plot, &notes, palette)?;
    for metric in metrics.iter().rev() {
        draw_line(root, &plot, chart, *metric, metrics[0] == *metric, palette)?;
    }
    let mut targets = hover_targets(&plot, chart, metrics);
    targets.extend(note_targets(&plot, &notes));
    Ok(targets)
}

/// The side of a note's flag, in pixels.
const FLAG: i32 = 7;

/// Draws each note as a dashed vertical line through its bucket with a flag
/// at the top of the plot.
fn draw_notes<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    plot: &Plot,
    notes: &[(usize, &ChartNote)],
    palette: &Palette,
) -> Result<(), ChartError> {
    for &(index, _) in notes {
        let x = plot.x(index);
        let mut y = plot.top;
        while y < plot.bottom {
            let end = (y + 4).min(plot.bottom);
            let dash = PathElement::new(vec![(x, y), (x, end)], palette.muted_text.stroke_width(1));
            root.draw(&dash).map_err(render_error)?;
            y += 8;
        }
        let flag = Polygon::new(
            vec![
                (x, plot.top - FLAG),
                (x + FLAG, plot.top - FLAG / 2),
                (x, plot.top),
            ],
            palette.muted_text.filled(),
        );
        root.draw(&flag).map_err(render_error)?;
    }
    Ok(())
}

/// One hover target per note, over its flag, titled with its date and text
/// and keyed by its date (`data-key`) for the page to act on.
fn note_targets(plot: &Plot, notes: &[(usize, &ChartNote)]) -> Vec<HoverTarget> {
    notes
        .iter()
        .map(|&(index, note)| HoverTarget {
            shape: HoverShape::Rect {
                x: plot.x(index) - 2,
                y: plot.top - FLAG - 2,
                width: FLAG + 4,
                height: FLAG + 4,
            },
            title: format!("{}\n{}", month_day_year(note.on), clean_label(&note.text)),
            kind: "note",
            key: Some(note.on.date().to_string()),
        })
        .collect()
}

/// The width of the legend: a swatch and a name per metric.
fn legend_width(metrics: &[Metric]) -> i32 {
    metrics
        .iter()
        .map(|metric| 16 + font::text_width(metric.name(), LABEL_SIZE))
        .sum::<i32>()
        + 16 * (metrics.len() as i32 - 1).max(0)
}

/// Draws the legend starting at x = `left` on the title line.
fn draw_legend<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    metrics: &[Metric],
    left: i32,
    palette: &Palette,
) -> Result<(), ChartError> {
    let center_y = HEADER_HEIGHT / 2;
    let mut x = left;
    for metric in metrics {
        let swatch = Rectangle::new(
            [(x, center_y - 5), (x + 10, center_y + 5)],
            metric.color(palette).filled(),
        );
        root.draw(&swatch).map_err(render_error)?;
        draw_text(
            root,
            metric.name(),
            (x + 16, center_y),
            LABEL_SIZE,
            palette.text,
            Anchor::LEFT,
        )?;
        x += 16 + font::text_width(metric.name(), LABEL_SIZE) + 16;
    }
    Ok(())
}

/// Draws the horizontal grid lines and their value labels.
fn draw_value_axis<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    plot: &Plot,
    ticks: &[(u128, String)],
    palette: &Palette,
) -> Result<(), ChartError> {
    for (tick, label) in ticks {
        let y = plot.y(*tick as f64);
        let color = if *tick == 0 {
            palette.axis
        } else {
            palette.grid
        };
        let line = PathElement::new(vec![(plot.left, y), (plot.right, y)], color.stroke_width(1));
        root.draw(&line).map_err(render_error)?;
        draw_text(
            root,
            label,
            (plot.left - 8, y),
            LABEL_SIZE,
            palette.muted_text,
            Anchor::RIGHT,
        )?;
    }
    Ok(())
}

/// Draws the date labels under the plot, as many as fit without overlapping.
fn draw_time_axis<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    plot: &Plot,
    chart: &TimeseriesChart,
    palette: &Palette,
) -> Result<(), ChartError> {
    let (Some(first), Some(last)) = (chart.points.first(), chart.points.last()) else {
        return Ok(());
    };
    let spans_days = first.start.date() != last.start.date();
    let sample = chart.granularity.axis_label(first.start, spans_days);
    let slot = font::text_width(&sample, LABEL_SIZE) + 24;
    let fitting = usize::try_from((plot.right - plot.left) / slot.max(1))
        .unwrap_or(0)
        .max(1);
    let step = round_index_step(
        chart.points.len().div_ceil(fitting),
        chart.granularity.label_steps(),
    );
    let image_width = root.dim_in_pixel().0 as i32;
    for index in (0..chart.points.len()).step_by(step) {
        let label = chart
            .granularity
            .axis_label(chart.points[index].start, spans_days);
        let half = font::text_width(&label, LABEL_SIZE) / 2;
        let x = plot.x(index);
        // Keep the first and last labels inside the image, with a margin for
        // glyphs that rasterise a little wider than their measured advance.
        let (lowest, highest) = (half + EDGE_MARGIN, image_width - half - EDGE_MARGIN);
        let x = if lowest <= highest {
            x.clamp(lowest, highest)
        } else {
            x
        };
        draw_text(
            root,
            &label,
            (x, plot.bottom + 6),
            LABEL_SIZE,
            palette.muted_text,
            Anchor::TOP_CENTER,
        )?;
    }
    Ok(())
}

/// Draws one metric's line (with a light area under the main metric, and
/// dots when there are few points).
fn draw_line<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    plot: &Plot,
    chart: &TimeseriesChart,
    metric: Metric,
    is_main: bool,
    palette: &Palette,
) -> Result<(), ChartError> {
    let color = metric.color(palette);
    let path: Vec<(i32, i32)> = chart
        .points
        .iter()
        .enumerate()
        .map(|(index, point)| (plot.x(index), plot.y(metric.of(point) as f64)))
        .collect();
    if is_main && path.len() > 1 {
        let mut area = path.clone();
        area.push((plot.x(chart.points.len() - 1), plot.bottom));
        area.push((plot.x(0), plot.bottom));
        root.draw(&Polygon::new(area, color.mix(0.12).filled()))
            .map_err(render_error)?;
    }
    if path.len() > 1 {
        root.draw(&PathElement::new(path.clone(), color.stroke_width(2)))
            .map_err(render_error)?;
    }
    if path.len() <= MARKER_LIMIT {
        for at in path {
            root.draw(&Circle::new(at, 3, color.filled()))
                .map_err(render_error)?;
        }
    }
    Ok(())
}

/// One hover target per metric and point, with the bucket and the value.
fn hover_targets(plot: &Plot, chart: &TimeseriesChart, metrics: &[Metric]) -> Vec<HoverTarget> {
    let spacing = if chart.points.len() > 1 {
        (plot.right - plot.left) / (chart.points.len() as i32 - 1)
    } else {
        16
    };
    let radius = (spacing / 2).clamp(3, 8);
    let mut targets = Vec::with_capacity(chart.points.len() * metrics.len());
    for metric in metrics {
        for (index, point) in chart.points.iter().enumerate() {
            let value = metric.of(point);
            targets.push(HoverTarget {
                shape: HoverShape::Circle {
                    cx: plot.x(index),
                    cy: plot.y(value as f64),
                    r: radius,
                },
                title: format!(
                    "{}\n{}: {}",
                    chart.granularity.full_label(point.start),
                    metric.name(),
                    thousands(u128::from(value)),
                ),
                kind: metric.kind(),
                // The bucket's first day: a page adds a note there on a click.
                key: Some(point.start.date().to_string()),
            });
        }
    }
    targets
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn labels_suit_the_bucket_size() {
        let at = datetime!(2026-11-03 14:00);
        assert_eq!(Granularity::Hour.axis_label(at, false), "14:00");
        assert_eq!(Granularity::Hour.axis_label(at, true), "Nov 3 14:00");
        assert_eq!(Granularity::Day.axis_label(at, true), "Nov 3");
        assert_eq!(Granularity::Week.axis_label(at, true), "Nov 3");
        assert_eq!(Granularity::Month.axis_label(at, true), "Nov 2026");
        assert_eq!(Granularity::Hour.full_label(at), "Nov 3, 2026 14:00");
        assert_eq!(Granularity::Day.full_label(at), "Nov 3, 2026");
        assert_eq!(Granularity::Week.full_label(at), "Week of Nov 3, 2026");
        assert_eq!(Granularity::Month.full_label(at), "November 2026");
    }

    #[test]
    fn plot_maps_zero_to_the_bottom_and_the_top_value_to_the_top() {
        let plot = Plot {
            left: 10,
            right: 110,
            top: 20,
            bottom: 220,
            count: 3,
            axis_top: 5.0,
        };
        assert_eq!(plot.x(0), 10);
        assert_eq!(plot.x(1), 60);
        assert_eq!(plot.x(2), 110);
        assert_eq!(plot.y(0.0), 220);
        assert_eq!(plot.y(5.0), 20);
        let single = Plot { count: 1, ..plot };
        assert_eq!(single.x(0), 60);
    }

    #[test]
    fn description_names_the_period_and_the_extremes() {
        let chart = TimeseriesChart::new(
            "t",
            Granularity::Day,
            vec![
                TimePoint {
                    start: datetime!(2026-11-03 00:00),
                    visitors: 1234,
                    pageviews: 5000,
                },
                TimePoint {
                    start: datetime!(2026-11-04 00:00),
                    visitors: 7,
                    pageviews: 9,
                },
            ],
        );
        assert_eq!(
            chart.description(),
            "Visitors and Pageviews per day from Nov 3, 2026 to Nov 4, 2026 (2 days). \
             Visitors: highest 1,234 (Nov 3, 2026), lowest 7 (Nov 4, 2026). \
             Pageviews: highest 5,000 (Nov 3, 2026), lowest 9 (Nov 4, 2026)."
        );
        let empty = TimeseriesChart::new("t", Granularity::Day, Vec::new());
        assert_eq!(empty.description(), "No data for this period.");
    }
}
