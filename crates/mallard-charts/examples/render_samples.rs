//! Writes sample charts (SVG and PNG, both themes) into a directory, for
//! looking at them: `cargo run -p mallard-charts --example render_samples -- DIR`.

use std::path::PathBuf;

use mallard_charts::{
    BarChart, BarRow, ChartOptions, Granularity, Theme, TimePoint, TimeseriesChart, bar_png,
    bar_svg, timeseries_png, timeseries_svg,
};
use time::macros::datetime;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "charts".to_owned()),
    );
    std::fs::create_dir_all(&dir)?;
    let start = datetime!(2026-10-25 00:00);
    let points = (0..30u64)
        .map(|day| TimePoint {
            start: start + time::Duration::days(i64::try_from(day).unwrap_or(0)),
            visitors: 1200 + (day * 7919) % 900,
            pageviews: 3400 + (day * 104_729) % 2500,
        })
        .collect();
    let timeseries = TimeseriesChart::new(
        "Visitors and pageviews, last 30 days",
        Granularity::Day,
        points,
    );
    let bars = BarChart::new(
        "Top pages",
        "Visitors",
        vec![
            BarRow::new("/", 1_234_567),
            BarRow::new("/pricing", 456_789),
            BarRow::new("/<script>alert(1)</script>", 12_345),
            BarRow::new(
                "/blog/2026/11/a-very-long-post-title-that-does-not-fit",
                9_876,
            ),
            BarRow::new("/docs", 5_432),
        ],
    );
    for (theme, name) in [(Theme::Light, "light"), (Theme::Dark, "dark")] {
        let options = ChartOptions::new(800, 300, theme)?;
        write(
            &dir,
            &format!("timeseries_{name}.svg"),
            timeseries_svg(&timeseries, &options)?.as_bytes(),
        )?;
        write(
            &dir,
            &format!("timeseries_{name}.png"),
            &timeseries_png(&timeseries, &options)?,
        )?;
        write(
            &dir,
            &format!("bar_{name}.svg"),
            bar_svg(&bars, &options)?.as_bytes(),
        )?;
        write(&dir, &format!("bar_{name}.png"), &bar_png(&bars, &options)?)?;
    }
    let empty = TimeseriesChart::new("Nothing yet", Granularity::Day, Vec::new());
    let options = ChartOptions::default();
    write(&dir, "empty.png", &timeseries_png(&empty, &options)?)?;
    Ok(())
}

fn write(dir: &std::path::Path, name: &str, bytes: &[u8]) -> Result<(), std::io::Error> {
    std::fs::write(dir.join(name), bytes)
}
