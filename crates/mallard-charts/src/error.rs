//! The error type of the chart renderer.

use thiserror::Error;

/// Why a chart could not be rendered.
///
/// [`ChartError::is_invalid_input`] tells the caller whether the request itself
/// was wrong (a size, theme or format outside the documented bounds: answer 400)
/// or whether rendering failed (answer 500 and log it).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ChartError {
    /// The requested width is outside the accepted range.
    #[error("chart width must be between {min} and {max} pixels, got {got}")]
    InvalidWidth {
        /// The width that was asked for.
        got: u32,
        /// The smallest accepted width.
        min: u32,
        /// The largest accepted width.
        max: u32,
    },
    /// The requested height is outside the accepted range.
    #[error("chart height must be between {min} and {max} pixels, got {got}")]
    InvalidHeight {
        /// The height that was asked for.
        got: u32,
        /// The smallest accepted height.
        min: u32,
        /// The largest accepted height.
        max: u32,
    },
    /// The theme name is neither `light` nor `dark`.
    #[error("unknown chart theme {0:?}: expected \"light\" or \"dark\"")]
    UnknownTheme(String),
    /// The image format name is neither `svg` nor `png`.
    #[error("unknown chart format {0:?}: expected \"svg\" or \"png\"")]
    UnknownFormat(String),
    /// A timeseries has more points than one chart draws.
    #[error("a timeseries chart has at most {max} points, got {got}")]
    TooManyPoints {
        /// The number of points given.
        got: usize,
        /// The largest accepted number of points.
        max: usize,
    },
    /// A bar chart has more rows than one chart draws.
    #[error("a bar chart has at most {max} rows, got {got}")]
    TooManyRows {
        /// The number of rows given.
        got: usize,
        /// The largest accepted number of rows.
        max: usize,
    },
    /// The embedded font could not be parsed (a broken build, never user input).
    #[error("the embedded chart font could not be loaded")]
    Font,
    /// The drawing library reported an error.
    #[error("drawing the chart failed: {0}")]
    Render(String),
    /// The PNG encoder reported an error.
    #[error("encoding the chart as PNG failed: {0}")]
    Png(String),
}

impl ChartError {
    /// True when the error comes from the caller's input (size, theme, format,
    /// too many points or rows) rather than from a rendering fault.
    pub fn is_invalid_input(&self) -> bool {
        matches!(
            self,
            Self::InvalidWidth { .. }
                | Self::InvalidHeight { .. }
                | Self::UnknownTheme(_)
                | Self::UnknownFormat(_)
                | Self::TooManyPoints { .. }
                | Self::TooManyRows { .. }
        )
    }
}
