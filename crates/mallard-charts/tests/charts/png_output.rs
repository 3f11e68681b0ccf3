//! PNG output: a valid PNG of the requested size, in the theme's colours,
//! with something drawn on it (including text, from the embedded font).

use std::io::Cursor;

use mallard_charts::{BarChart, ChartOptions, Theme, bar_png, timeseries_png};

use crate::fixtures;

const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1A, b'\n'];

/// A decoded 8-bit RGB image.
struct Image {
    width: u32,
    height: u32,
    rgb: Vec<u8>,
}

impl Image {
    fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let at = usize::try_from((y * self.width + x) * 3).expect("index");
        [self.rgb[at], self.rgb[at + 1], self.rgb[at + 2]]
    }

    /// How many pixels differ from `background`.
    fn count_not(&self, background: [u8; 3]) -> usize {
        self.rgb
            .chunks_exact(3)
            .filter(|pixel| *pixel != background)
            .count()
    }
}

fn decode(bytes: &[u8]) -> Image {
    assert_eq!(&bytes[..8], &PNG_SIGNATURE, "PNG signature");
    let decoder = png::Decoder::new(Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("PNG header");
    let mut rgb = vec![0; reader.output_buffer_size().expect("buffer size")];
    let frame = reader.next_frame(&mut rgb).expect("PNG data");
    assert_eq!(frame.color_type, png::ColorType::Rgb);
    assert_eq!(frame.bit_depth, png::BitDepth::Eight);
    rgb.truncate(frame.buffer_size());
    Image {
        width: frame.width,
        height: frame.height,
        rgb,
    }
}

const WHITE: [u8; 3] = [0xFF, 0xFF, 0xFF];
const DARK: [u8; 3] = [0x11, 0x18, 0x27];

#[test]
fn a_timeseries_png_has_the_requested_size_and_a_drawing() {
    let options = ChartOptions::new(800, 300, Theme::Light).expect("valid size");
    let image = decode(&timeseries_png(&fixtures::daily(), &options).expect("renders"));
    assert_eq!((image.width, image.height), (800, 300));
    assert_eq!(image.pixel(0, 0), WHITE);
    let drawn = image.count_not(WHITE);
    assert!(drawn > 10_000, "only {drawn} pixels drawn");
}

#[test]
fn a_dark_png_has_the_dark_background() {
    let options = ChartOptions::new(640, 240, Theme::Dark).expect("valid size");
    let image = decode(&bar_png(&fixtures::top_pages(), &options).expect("renders"));
    assert_eq!((image.width, image.height), (640, 240));
    assert_eq!(image.pixel(0, 0), DARK);
    assert_eq!(image.pixel(639, 239), DARK);
    assert!(image.count_not(DARK) > 5_000);
}

#[test]
fn text_is_drawn_from_the_embedded_font() {
    // A chart with no data draws only text: its title and the no-data message.
    let options = ChartOptions::new(400, 200, Theme::Light).expect("valid size");
    let untitled = BarChart::new("", "Visitors", Vec::new());
    let titled = BarChart::new("Top pages", "Visitors", Vec::new());
    let untitled = decode(&bar_png(&untitled, &options).expect("renders"));
    let titled = decode(&bar_png(&titled, &options).expect("renders"));
    let message_pixels = untitled.count_not(WHITE);
    assert!(message_pixels > 100, "the no-data message is drawn");
    assert!(
        titled.count_not(WHITE) > message_pixels + 100,
        "the title adds glyphs"
    );
}

#[test]
fn the_smallest_and_odd_sizes_render() {
    for (width, height) in [(100, 100), (333, 127)] {
        let options = ChartOptions::new(width, height, Theme::Light).expect("valid size");
        let image = decode(&timeseries_png(&fixtures::hourly(), &options).expect("renders"));
        assert_eq!((image.width, image.height), (width, height));
        assert!(image.count_not(WHITE) > 0);
        let image = decode(&bar_png(&fixtures::top_pages(), &options).expect("renders"));
        assert_eq!((image.width, image.height), (width, height));
    }
}
