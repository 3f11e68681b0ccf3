//! The embedded font and text measurement.
//!
//! plotters' `ab_glyph` feature keeps a process-wide table of fonts by family
//! name and never looks at the system's fonts. This module registers DejaVu
//! Sans (shipped in `assets/fonts/`, Bitstream Vera / DejaVu licence) as the
//! `sans-serif` family once, before the first chart is drawn. The SVG output
//! names the same generic `sans-serif` family, so a browser draws SVG text with
//! its own sans-serif font while layout (label widths) uses DejaVu's metrics.

use std::sync::OnceLock;

use plotters::style::{FontDesc, FontFamily, FontStyle, register_font};

use crate::error::ChartError;

/// DejaVu Sans Book, version 2.37, unmodified.
static DEJAVU_SANS: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");

/// The family name every chart text uses.
pub(crate) const FAMILY: &str = "sans-serif";

/// Registers the embedded font with plotters (once per process).
pub(crate) fn ensure_registered() -> Result<(), ChartError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let registered =
        *REGISTERED.get_or_init(|| register_font(FAMILY, FontStyle::Normal, DEJAVU_SANS).is_ok());
    if registered {
        Ok(())
    } else {
        Err(ChartError::Font)
    }
}

/// The font of chart text at `size` (plotters' size unit: the SVG font size
/// is `size / 1.24` pixels).
pub(crate) fn font(size: f64) -> FontDesc<'static> {
    FontDesc::new(FontFamily::Name(FAMILY), size, FontStyle::Normal)
}

/// The width in pixels of `text` at `size`; 0 if it cannot be measured.
pub(crate) fn text_width(text: &str, size: f64) -> i32 {
    font(size)
        .box_size(text)
        .map(|(width, _)| i32::try_from(width).unwrap_or(i32::MAX))
        .unwrap_or(0)
}

/// Shortens `text` (on character boundaries, ending with `…`) until it is at
/// most `max_width` pixels wide at `size`.
pub(crate) fn fit_text(text: &str, size: f64, max_width: i32) -> String {
    if text_width(text, size) <= max_width {
        return text.to_owned();
    }
    let total = text.chars().count();
    // Binary search for the longest prefix that fits with the ellipsis.
    let (mut low, mut high) = (0usize, total);
    while low < high {
        let middle = (low + high).div_ceil(2);
        let candidate = crate::format::truncate_chars(text, middle);
        if text_width(&candidate, size) <= max_width {
            low = middle;
        } else {
            high = middle - 1;
        }
    }
    if low == 0 {
        String::new()
    } else {
        crate::format::truncate_chars(text, low)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_font_registers_and_measures_text() {
        ensure_registered().expect("the embedded font parses");
        let short = text_width("1", 15.0);
        let long = text_width("1,234,567", 15.0);
        assert!(short > 0);
        assert!(long > 5 * short, "{long} vs {short}");
    }

    #[test]
    fn fit_text_shortens_until_it_fits() {
        ensure_registered().expect("the embedded font parses");
        let text = "/a/very/long/path/that/does/not/fit/in/the/label/column";
        let fitted = fit_text(text, 15.0, 120);
        assert!(fitted.ends_with('…'), "{fitted}");
        assert!(text_width(&fitted, 15.0) <= 120);
        assert_eq!(fit_text("/", 15.0, 120), "/");
        assert_eq!(fit_text(text, 15.0, 1), "");
    }
}
