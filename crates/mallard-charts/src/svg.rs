//! The SVG document: plotters draws the picture, this module wraps it in a
//! root element with an accessible name (`<title>`, `<desc>`, `role="img"`)
//! and adds one invisible hover target with a `<title>` per point or bar.
//!
//! plotters' SVG backend writes `<svg ...>` on its first line, the drawing, and
//! `</svg>` on its last. The wrapper keeps only the drawing between them and
//! writes its own root element, so nothing is spliced into the middle of
//! plotters' output. Every text the wrapper writes goes through [`escape`];
//! plotters escapes the text it writes itself.

use std::fmt::Write as _;

use plotters::backend::SVGBackend;
use plotters::coord::Shift;
use plotters::drawing::{DrawingArea, IntoDrawingArea};

use crate::error::ChartError;
use crate::options::ChartSize;
use crate::render::render_error;

/// The id of the chart-wide `<title>` element.
const TITLE_ID: &str = "mm-chart-title";
/// The id of the chart-wide `<desc>` element.
const DESC_ID: &str = "mm-chart-desc";

/// The area that shows a tooltip when the pointer rests on it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum HoverShape {
    /// A circle around a point of a line.
    Circle {
        /// Centre x in pixels.
        cx: i32,
        /// Centre y in pixels.
        cy: i32,
        /// Radius in pixels.
        r: i32,
    },
    /// A rectangle over a bar.
    Rect {
        /// Left edge in pixels.
        x: i32,
        /// Top edge in pixels.
        y: i32,
        /// Width in pixels.
        width: i32,
        /// Height in pixels.
        height: i32,
    },
    /// A country's outline on a map.
    Polygon {
        /// The corners in pixels.
        points: Vec<(i32, i32)>,
        /// What the outline stands for (a country code), written as
        /// `data-key` so that a page can act on a click.
        key: String,
    },
}

/// One hover target: where it is, the tooltip text, and a class naming what
/// it belongs to (`visitors`, `pageviews`, `bar`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HoverTarget {
    /// Where the target is.
    pub shape: HoverShape,
    /// The tooltip (unescaped; escaped when written).
    pub title: String,
    /// The CSS class suffix: the element gets `class="mm-point mm-{kind}"` or
    /// `class="mm-bar"`.
    pub kind: &'static str,
    /// What the target stands for (a date), written as `data-key` so that a
    /// page can act on a click.
    pub key: Option<String>,
}

/// Draws a chart with plotters' SVG backend and wraps it into the final
/// document.
pub(crate) fn render<F>(
    size: ChartSize,
    title: &str,
    description: &str,
    draw: F,
) -> Result<String, ChartError>
where
    F: FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<Vec<HoverTarget>, ChartError>,
{
    let mut drawing = String::new();
    let targets = {
        let root = SVGBackend::with_string(&mut drawing, (size.width(), size.height()))
            .into_drawing_area();
        let targets = draw(&root)?;
        root.present().map_err(render_error)?;
        targets
    };
    let body = drawing_body(&drawing)?;
    Ok(document(size, title, description, body, &targets))
}

/// The part of plotters' output between its `<svg ...>` line and `</svg>`.
fn drawing_body(drawing: &str) -> Result<&str, ChartError> {
    let unexpected = || ChartError::Render("unexpected output from the SVG backend".to_owned());
    if !drawing.starts_with("<svg ") {
        return Err(unexpected());
    }
    let start = drawing.find(">\n").ok_or_else(unexpected)? + 2;
    let end = drawing.rfind("</svg>").ok_or_else(unexpected)?;
    if end < start || !drawing[end..].trim_end().eq("</svg>") {
        return Err(unexpected());
    }
    Ok(&drawing[start..end])
}

/// Writes the whole SVG document.
fn document(
    size: ChartSize,
    title: &str,
    description: &str,
    body: &str,
    targets: &[HoverTarget],
) -> String {
    let (width, height) = (size.width(), size.height());
    let mut out = String::with_capacity(body.len() + 256 + targets.len() * 96);
    // Writing into a String cannot fail; the results are ignored on purpose.
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" role=\"img\" aria-labelledby=\"{TITLE_ID} {DESC_ID}\">\n\
         <title id=\"{TITLE_ID}\">{}</title>\n<desc id=\"{DESC_ID}\">{}</desc>\n",
        escape(title),
        escape(description),
    );
    out.push_str("<g class=\"mm-drawing\" aria-hidden=\"true\">\n");
    out.push_str(body);
    out.push_str("</g>\n");
    if !targets.is_empty() {
        out.push_str(
            "<g class=\"mm-hover\" fill=\"#000000\" fill-opacity=\"0\" pointer-events=\"all\">\n",
        );
        for target in targets {
            write_target(&mut out, target);
        }
        out.push_str("</g>\n");
    }
    out.push_str("</svg>\n");
    out
}

/// Writes one hover target element with its `<title>`.
fn write_target(out: &mut String, target: &HoverTarget) {
    let title = escape(&target.title);
    let _ = match &target.shape {
        HoverShape::Circle { cx, cy, r } => writeln!(
            out,
            "<circle class=\"mm-point mm-{}\"{} cx=\"{cx}\" cy=\"{cy}\" r=\"{r}\"><title>{title}</title></circle>",
            target.kind,
            data_key(target.key.as_deref())
        ),
        HoverShape::Rect {
            x,
            y,
            width,
            height,
        } => writeln!(
            out,
            "<rect class=\"mm-{}\"{} x=\"{x}\" y=\"{y}\" width=\"{width}\" height=\"{height}\"><title>{title}</title></rect>",
            target.kind,
            data_key(target.key.as_deref())
        ),
        HoverShape::Polygon { points, key } => {
            let mut corners = String::with_capacity(points.len() * 8);
            for (x, y) in points {
                let _ = write!(corners, "{x},{y} ");
            }
            writeln!(
                out,
                "<polygon class=\"mm-{}\" data-key=\"{}\" points=\"{}\"><title>{title}</title></polygon>",
                target.kind,
                escape(key),
                corners.trim_end()
            )
        }
    };
}

/// ` data-key="..."` for a target with a key, nothing otherwise.
fn data_key(key: Option<&str>) -> String {
    key.map(|key| format!(" data-key=\"{}\"", escape(key)))
        .unwrap_or_default()
}

/// Escapes text for XML character data and attribute values.
///
/// The text must already be free of characters XML cannot carry (see
/// `format::clean_label`); this function only escapes markup.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_neutralises_markup() {
        assert_eq!(
            escape("<script>alert('x&y')</script>\""),
            "&lt;script&gt;alert(&apos;x&amp;y&apos;)&lt;/script&gt;&quot;"
        );
    }

    #[test]
    fn drawing_body_strips_the_backend_root() {
        let drawing = "<svg width=\"1\" height=\"1\" xmlns=\"x\">\n<rect/>\n</svg>\n";
        assert_eq!(drawing_body(drawing), Ok("<rect/>\n"));
    }

    #[test]
    fn drawing_body_refuses_unexpected_output() {
        for bad in [
            "",
            "<svg >\n",
            "<g>\n</g>\n",
            "<svg a=\"b\">\n<rect/>\n</svg>\n<x/>",
        ] {
            assert!(drawing_body(bad).is_err(), "{bad:?}");
        }
    }
}
