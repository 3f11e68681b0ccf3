//! Rendering options: the image size (validated), the colour theme and the
//! output format.

use std::str::FromStr;

use crate::error::ChartError;

/// The smallest accepted chart width in pixels.
pub const MIN_WIDTH: u32 = 100;
/// The largest accepted chart width in pixels.
pub const MAX_WIDTH: u32 = 4000;
/// The smallest accepted chart height in pixels.
pub const MIN_HEIGHT: u32 = 100;
/// The largest accepted chart height in pixels.
///
/// Together with [`MAX_WIDTH`] this bounds a PNG render to 8 million pixels
/// (a 24 MB RGB buffer), so a request from the network cannot ask for an
/// arbitrarily large allocation.
pub const MAX_HEIGHT: u32 = 2000;

/// A chart size in pixels, always within [`MIN_WIDTH`]..=[`MAX_WIDTH`] by
/// [`MIN_HEIGHT`]..=[`MAX_HEIGHT`].
///
/// Sizes outside the bounds are refused, not clamped, so that a caller asking
/// for a 100,000 pixel wide chart learns that it cannot have one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChartSize {
    width: u32,
    height: u32,
}

impl ChartSize {
    /// Validates a width and a height.
    pub fn new(width: u32, height: u32) -> Result<Self, ChartError> {
        if !(MIN_WIDTH..=MAX_WIDTH).contains(&width) {
            return Err(ChartError::InvalidWidth {
                got: width,
                min: MIN_WIDTH,
                max: MAX_WIDTH,
            });
        }
        if !(MIN_HEIGHT..=MAX_HEIGHT).contains(&height) {
            return Err(ChartError::InvalidHeight {
                got: height,
                min: MIN_HEIGHT,
                max: MAX_HEIGHT,
            });
        }
        Ok(Self { width, height })
    }

    /// The width in pixels.
    pub fn width(self) -> u32 {
        self.width
    }

    /// The height in pixels.
    pub fn height(self) -> u32 {
        self.height
    }
}

impl Default for ChartSize {
    /// 800 by 300 pixels, the dashboard's main chart.
    fn default() -> Self {
        Self {
            width: 800,
            height: 300,
        }
    }
}

/// The colour theme of a chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Theme {
    /// Dark text on a white background.
    #[default]
    Light,
    /// Light text on a near-black background.
    Dark,
}

impl FromStr for Theme {
    type Err = ChartError;

    /// Parses `light` or `dark` (ASCII case-insensitive).
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        if name.eq_ignore_ascii_case("light") {
            Ok(Self::Light)
        } else if name.eq_ignore_ascii_case("dark") {
            Ok(Self::Dark)
        } else {
            Err(ChartError::UnknownTheme(name.to_owned()))
        }
    }
}

/// How a chart is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChartFormat {
    /// An SVG document (UTF-8 text) with hover titles and an accessible name.
    #[default]
    Svg,
    /// A PNG image (8-bit RGB).
    Png,
}

impl ChartFormat {
    /// The media type to send with the rendered bytes.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Svg => "image/svg+xml",
            Self::Png => "image/png",
        }
    }

    /// The usual file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Svg => "svg",
            Self::Png => "png",
        }
    }
}

impl FromStr for ChartFormat {
    type Err = ChartError;

    /// Parses `svg` or `png` (ASCII case-insensitive).
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        if name.eq_ignore_ascii_case("svg") {
            Ok(Self::Svg)
        } else if name.eq_ignore_ascii_case("png") {
            Ok(Self::Png)
        } else {
            Err(ChartError::UnknownFormat(name.to_owned()))
        }
    }
}

/// Everything about a chart that is not its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChartOptions {
    /// The image size.
    pub size: ChartSize,
    /// The colour theme.
    pub theme: Theme,
}

impl ChartOptions {
    /// Validates a size and pairs it with a theme.
    pub fn new(width: u32, height: u32, theme: Theme) -> Result<Self, ChartError> {
        Ok(Self {
            size: ChartSize::new(width, height)?,
            theme,
        })
    }
}
