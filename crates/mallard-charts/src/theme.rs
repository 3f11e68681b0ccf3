//! The colours of the light and dark themes.

use plotters::style::RGBColor;

use crate::options::Theme;

/// Every colour a chart uses, for one theme.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Palette {
    /// The image background.
    pub background: RGBColor,
    /// Titles, legends and bar labels.
    pub text: RGBColor,
    /// Axis tick labels and the "no data" message.
    pub muted_text: RGBColor,
    /// Horizontal grid lines.
    pub grid: RGBColor,
    /// The zero line of a timeseries.
    pub axis: RGBColor,
    /// The visitors series.
    pub visitors: RGBColor,
    /// The pageviews series.
    pub pageviews: RGBColor,
    /// The fill of a bar in a bar chart (labels are drawn over it).
    pub bar: RGBColor,
    /// A country without visitors on a map.
    pub map_empty: RGBColor,
}

/// The light theme: slate text on white, indigo and sky series.
const LIGHT: Palette = Palette {
    background: RGBColor(0xFF, 0xFF, 0xFF),
    text: RGBColor(0x11, 0x18, 0x27),
    muted_text: RGBColor(0x4B, 0x55, 0x63),
    grid: RGBColor(0xE5, 0xE7, 0xEB),
    axis: RGBColor(0x9C, 0xA3, 0xAF),
    visitors: RGBColor(0x4F, 0x46, 0xE5),
    pageviews: RGBColor(0x02, 0x84, 0xC7),
    bar: RGBColor(0xE0, 0xE7, 0xFF),
    map_empty: RGBColor(0xE5, 0xE7, 0xEB),
};

/// The dark theme: light text on near-black, brighter series colours.
const DARK: Palette = Palette {
    background: RGBColor(0x11, 0x18, 0x27),
    text: RGBColor(0xF9, 0xFA, 0xFB),
    muted_text: RGBColor(0x9C, 0xA3, 0xAF),
    grid: RGBColor(0x37, 0x41, 0x51),
    axis: RGBColor(0x6B, 0x72, 0x80),
    visitors: RGBColor(0x81, 0x8C, 0xF8),
    pageviews: RGBColor(0x38, 0xBD, 0xF8),
    bar: RGBColor(0x37, 0x30, 0xA3),
    map_empty: RGBColor(0x37, 0x41, 0x51),
};

impl Palette {
    /// The palette of a theme.
    pub(crate) fn of(theme: Theme) -> Self {
        match theme {
            Theme::Light => LIGHT,
            Theme::Dark => DARK,
        }
    }
}
