//! Drawing pieces shared by every chart: text, the title line, the "no data"
//! message, and the conversion of plotters' errors.

use plotters::coord::Shift;
use plotters::drawing::{DrawingArea, DrawingAreaErrorKind};
use plotters::element::Text;
use plotters::prelude::DrawingBackend;
use plotters::style::RGBColor;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::error::ChartError;
use crate::font;
use crate::theme::Palette;

/// The message a chart shows when it has nothing to draw.
pub const NO_DATA_MESSAGE: &str = "No data for this period";

/// The space between the image edge and anything drawn, in pixels.
pub(crate) const PADDING: i32 = 16;
/// The height of the title line at the top of every chart, in pixels.
pub(crate) const HEADER_HEIGHT: i32 = 44;
/// The size of titles in plotters' unit: 16 px in SVG (plotters writes
/// `font-size` as the size divided by 1.24).
pub(crate) const TITLE_SIZE: f64 = 19.84;
/// The size of labels, legends and values: 12 px in SVG.
pub(crate) const LABEL_SIZE: f64 = 14.88;

/// Turns a plotters drawing error into a [`ChartError`].
pub(crate) fn render_error<E>(error: DrawingAreaErrorKind<E>) -> ChartError
where
    E: std::error::Error + Send + Sync,
{
    ChartError::Render(error.to_string())
}

/// Where a text is anchored relative to its position.
#[derive(Clone, Copy)]
pub(crate) struct Anchor {
    /// Horizontal anchoring.
    pub h: HPos,
    /// Vertical anchoring.
    pub v: VPos,
}

impl Anchor {
    /// Left edge, vertically centred.
    pub(crate) const LEFT: Self = Self {
        h: HPos::Left,
        v: VPos::Center,
    };
    /// Right edge, vertically centred.
    pub(crate) const RIGHT: Self = Self {
        h: HPos::Right,
        v: VPos::Center,
    };
    /// Horizontally centred, top edge at the position.
    pub(crate) const TOP_CENTER: Self = Self {
        h: HPos::Center,
        v: VPos::Top,
    };
    /// Centred both ways.
    pub(crate) const CENTER: Self = Self {
        h: HPos::Center,
        v: VPos::Center,
    };
}

/// Draws one line of text; an empty text draws nothing.
pub(crate) fn draw_text<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    text: &str,
    at: (i32, i32),
    size: f64,
    color: RGBColor,
    anchor: Anchor,
) -> Result<(), ChartError> {
    if text.is_empty() {
        return Ok(());
    }
    let style = font::font(size)
        .color(&color)
        .pos(Pos::new(anchor.h, anchor.v));
    root.draw(&Text::new(text, at, style)).map_err(render_error)
}

/// Fills the background and draws the title, shortened to `max_width` pixels.
pub(crate) fn draw_frame<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    max_width: i32,
    palette: &Palette,
) -> Result<(), ChartError> {
    root.fill(&palette.background).map_err(render_error)?;
    let title = font::fit_text(title, TITLE_SIZE, max_width);
    draw_text(
        root,
        &title,
        (PADDING, HEADER_HEIGHT / 2),
        TITLE_SIZE,
        palette.text,
        Anchor::LEFT,
    )
}

/// Draws [`NO_DATA_MESSAGE`] in the middle of the area below the title.
pub(crate) fn draw_no_data<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    palette: &Palette,
) -> Result<(), ChartError> {
    let (width, height) = root.dim_in_pixel();
    let width = i32::try_from(width).unwrap_or(i32::MAX);
    let height = i32::try_from(height).unwrap_or(i32::MAX);
    let center_y = HEADER_HEIGHT + (height - HEADER_HEIGHT) / 2;
    draw_text(
        root,
        NO_DATA_MESSAGE,
        (width / 2, center_y.min(height - 1)),
        LABEL_SIZE,
        palette.muted_text,
        Anchor::CENTER,
    )
}
