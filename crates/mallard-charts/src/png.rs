//! PNG output: plotters draws into an in-memory RGB buffer and the `png` crate
//! encodes it. No system library and no font file on disk are involved.

use plotters::backend::BitMapBackend;
use plotters::coord::Shift;
use plotters::drawing::{DrawingArea, IntoDrawingArea};

use crate::error::ChartError;
use crate::options::ChartSize;
use crate::render::render_error;
use crate::svg::HoverTarget;

/// Draws a chart into an RGB buffer and encodes it as PNG.
///
/// The drawing function is the same one the SVG output uses; the hover
/// targets it returns have no meaning in a bitmap and are dropped.
pub(crate) fn render<F>(size: ChartSize, draw: F) -> Result<Vec<u8>, ChartError>
where
    F: FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<Vec<HoverTarget>, ChartError>,
{
    let (width, height) = (size.width(), size.height());
    // At most MAX_WIDTH * MAX_HEIGHT * 3 bytes: 24 MB, bounded by ChartSize.
    let pixels = usize::try_from(u64::from(width) * u64::from(height) * 3)
        .map_err(|_| ChartError::Render("image too large for this platform".to_owned()))?;
    let mut rgb = vec![0u8; pixels];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        draw(&root)?;
        root.present().map_err(render_error)?;
    }
    encode(&rgb, width, height)
}

/// Encodes an 8-bit RGB buffer as PNG.
fn encode(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, ChartError> {
    let png_error = |error: png::EncodingError| ChartError::Png(error.to_string());
    let mut out = Vec::with_capacity(rgb.len() / 8);
    {
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::Fast);
        let mut writer = encoder.write_header().map_err(png_error)?;
        writer.write_image_data(rgb).map_err(png_error)?;
        writer.finish().map_err(png_error)?;
    }
    Ok(out)
}
