//! Runs one filtered stats query over the last 12 months of a seeded data
//! directory, for measuring its peak memory from outside, e.g.:
//!
//! ```text
//! cargo build --release -p mallard-store --example filtered_query
//! /usr/bin/time -v target/release/examples/filtered_query /work/bench-data/1m-q \
//!     bench.example "source==Google" main
//! ```
//!
//! Arguments: the data directory, the site, the filter string, and what to
//! ask: `main`, `pages`, `sources` or `timeseries`.

use std::error::Error;
use std::path::PathBuf;
use std::time::Instant;

use mallard_core::filter::parse_filters;
use mallard_core::{DayRange, Dimension, Interval};
use mallard_store::stats::StatsQuery;
use mallard_store::{DATABASE_FILE, ReadPool};

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: filtered_query DATA_DIR SITE FILTERS main|pages|sources|timeseries";
    let dir = PathBuf::from(args.next().ok_or(usage)?);
    let domain = args.next().ok_or(usage)?;
    let filters = parse_filters(&args.next().ok_or(usage)?)?;
    let what = args.next().ok_or(usage)?;
    let pool = ReadPool::new(&dir.join(DATABASE_FILE));
    let started = Instant::now();
    let answer = pool.with(|db| {
        let site = db
            .stats_site(&domain)?
            .ok_or(mallard_store::StoreError::InvalidData(
                "no such site".into(),
            ))?;
        let last_day: i64 = db.connection().query_row(
            "SELECT max(day) FROM rollup_days WHERE site_id = ?1 AND kind = 0",
            [site.id],
            |r| r.get(0),
        )?;
        let query = StatsQuery {
            range: DayRange {
                start: last_day + 1 - 365,
                end: last_day + 1,
            },
            filters,
            with_imported: false,
        };
        Ok(match what.as_str() {
            "main" => format!("{:?}", db.stats_main(&site, &query)?),
            "pages" => format!(
                "{:?}",
                db.stats_breakdown(&site, &query, &Dimension::Page, 10)?
            ),
            "sources" => format!(
                "{:?}",
                db.stats_breakdown(&site, &query, &Dimension::Source, 10)?
            ),
            _ => format!(
                "{} buckets",
                db.stats_timeseries(&site, &query, Interval::Day)?.len()
            ),
        })
    })?;
    println!("{answer}");
    println!("took {:.1} ms", started.elapsed().as_secs_f64() * 1e3);
    Ok(())
}
