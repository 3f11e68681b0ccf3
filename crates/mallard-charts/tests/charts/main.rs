//! Tests of the chart renderer through its public API: SVG snapshots, SVG
//! structure parsed as XML, PNG output, option validation, and properties.

mod fixtures;
mod map;
mod options;
mod png_output;
mod properties;
mod snapshot;
mod snapshots;
mod svg_structure;
