//! `cargo xtask bench-plausible`: the cost of a Plausible export's daily
//! aggregates. Writes an export (a directory of `imported_*.csv` tables) of
//! `--days` days with `--pages` pages a day ending on `--end-date`, times
//! `mallard import plausible` of the release build into the data directory
//! (a copy of a seeded database: the import adds to it), then measures
//! uncached queries over HTTP with and without `with_imported=true`: over
//! the imported days, over the native year, and over both.

use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use clap::Args;

use crate::bench_import::ymd;
use crate::bench_queries::client::KeepAlive;
use crate::process::{ServerProcess, release_mallard};

/// Flags of `cargo xtask bench-plausible`.
#[derive(Debug, Args)]
pub struct BenchPlausibleArgs {
    /// The data directory to import into: a copy of a database written by
    /// `mallard seed` (the import adds to it).
    #[arg(long)]
    data_dir: PathBuf,
    /// The site.
    #[arg(long, default_value = "bench.example")]
    site: String,
    /// Days of the export.
    #[arg(long, default_value_t = 365)]
    days: i64,
    /// Pages a day (entry and exit pages: a quarter of them each).
    #[arg(long, default_value_t = 2_000)]
    pages: i64,
    /// The export's last day, YYYY-MM-DD (default: 366 days ago, before
    /// a year of seeded data).
    #[arg(long)]
    end_date: Option<String>,
    /// Timed runs per query, after one warm-up.
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

/// Days since 1970-01-01 of `YYYY-MM-DD`.
fn day_of(date: &str) -> anyhow::Result<i64> {
    let mut parts = date.split('-').map(str::parse::<i64>);
    let (Some(Ok(y)), Some(Ok(m)), Some(Ok(d))) = (parts.next(), parts.next(), parts.next()) else {
        anyhow::bail!("not a YYYY-MM-DD date: {date}");
    };
    // Inverse of `ymd`.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Ok(era * 146_097 + doe - 719_468)
}

fn date(day: i64) -> String {
    let (y, m, d) = ymd(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Writes the export's tables into `dir`; returns the number of rows.
fn write_export(dir: &Path, first: i64, last: i64, pages: i64) -> anyhow::Result<u64> {
    let name = |table: &str| {
        dir.join(format!(
            "imported_{table}_{}_{}.csv",
            date(first).replace('-', ""),
            date(last).replace('-', "")
        ))
    };
    let mut rows = 0u64;
    let mut table = |table: &str,
                     header: &str,
                     per_day: i64,
                     row: &dyn Fn(&str, i64) -> String|
     -> anyhow::Result<()> {
        let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(name(table))?);
        writeln!(out, "{header}")?;
        for day in first..=last {
            let date = date(day);
            for i in 0..per_day {
                writeln!(out, "{}", row(&date, i))?;
                rows += 1;
            }
        }
        out.flush()?;
        Ok(())
    };
    let metrics = |i: i64| {
        let visitors = 1000 / (i + 1) + 1;
        format!(
            "{visitors},{},{},{},{}",
            visitors + 1,
            visitors * 60,
            visitors / 2,
            visitors * 3
        )
    };
    table(
        "visitors",
        "date,visitors,pageviews,bounces,visits,visit_duration",
        1,
        &|date, _| format!("{date},3000,9000,1200,3500,210000"),
    )?;
    table(
        "pages",
        "date,hostname,page,visits,visitors,pageviews,scroll_depth,pageleave_visitors",
        pages,
        &|date, i| {
            let v = 1000 / (i + 1) + 1;
            format!("{date},bench.example,/page/{i},{v},{v},{},\\N,0", v * 2)
        },
    )?;
    for (name, column) in [("entry_pages", "entry_page"), ("exit_pages", "exit_page")] {
        let count = if name == "entry_pages" {
            "entrances"
        } else {
            "exits"
        };
        table(
            name,
            &format!("date,{column},visitors,{count},visit_duration,bounces,pageviews"),
            pages / 4,
            &|date, i| {
                let v = 1000 / (i + 1) + 1;
                format!("{date},/page/{i},{v},{v},{},{},{}", v * 60, v / 2, v * 3)
            },
        )?;
    }
    table(
        "sources",
        "date,source,referrer,utm_source,utm_medium,utm_campaign,utm_content,utm_term,pageviews,visitors,visits,visit_duration,bounces",
        50,
        &|date, i| {
            let v = 1000 / (i + 1) + 1;
            format!(
                "{date},Source {i},https://s{i}.test/,,,campaign-{},,,{},{v},{},{},{}",
                i % 5,
                v * 3,
                v + 1,
                v * 60,
                v / 2
            )
        },
    )?;
    table(
        "locations",
        "date,country,region,city,visitors,visits,visit_duration,bounces,pageviews",
        60,
        &|date, i| {
            let code = format!(
                "{}{}",
                char::from(b'A' + (i / 26) as u8),
                char::from(b'A' + (i % 26) as u8)
            );
            format!("{date},{code},,0,{}", metrics(i))
        },
    )?;
    for (name, column, values) in [
        (
            "devices",
            "device",
            &["Desktop", "Mobile", "Tablet", "Laptop"][..],
        ),
        (
            "browsers",
            "browser",
            &[
                "Chrome",
                "Safari",
                "Firefox",
                "Microsoft Edge",
                "Opera",
                "Samsung Browser",
            ][..],
        ),
        (
            "operating_systems",
            "operating_system",
            &["Windows", "Mac", "iOS", "Android", "GNU/Linux"][..],
        ),
    ] {
        table(
            name,
            &format!("date,{column},visitors,visits,visit_duration,bounces,pageviews"),
            values.len() as i64,
            &|date, i| format!("{date},{},{}", values[i as usize], metrics(i)),
        )?;
    }
    table(
        "custom_events",
        "date,name,link_url,path,visitors,events",
        10,
        &|date, i| {
            format!(
                "{date},Event {i},,,{},{}",
                100 / (i + 1) + 1,
                300 / (i + 1) + 1
            )
        },
    )?;
    Ok(rows)
}

/// Writes the export, times its import and the queries.
pub fn run(args: &BenchPlausibleArgs) -> anyhow::Result<()> {
    let bin = release_mallard()?;
    let temp = tempfile::tempdir()?;
    let today = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64
        / 86_400;
    let last = match &args.end_date {
        Some(end) => day_of(end)?,
        None => today - 366,
    };
    let first = last - args.days + 1;
    let export = temp.path().join("export");
    std::fs::create_dir(&export)?;
    let rows = write_export(&export, first, last, args.pages)?;
    let db = args.data_dir.join("mallard.db");
    let size_before = std::fs::metadata(&db).map_or(0, |m| m.len());
    let started = Instant::now();
    let output = Command::new(&bin)
        .args(["import", "--data-dir"])
        .arg(&args.data_dir)
        .args(["plausible", "--site", &args.site])
        .arg(&export)
        .env("XDG_CONFIG_HOME", temp.path().join("xdg-config"))
        .output()?;
    anyhow::ensure!(
        output.status.success(),
        "mallard import plausible failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seconds = started.elapsed().as_secs_f64();
    print!("{}", String::from_utf8_lossy(&output.stdout));
    let size_after = std::fs::metadata(&db).map_or(0, |m| m.len());
    println!(
        "bench-plausible: {rows} rows ({} to {}, {} pages a day) imported in {seconds:.1} s: \
         {:.0} rows/s; database {:.0} MB -> {:.0} MB",
        date(first),
        date(last),
        args.pages,
        rows as f64 / seconds,
        size_before as f64 / 1e6,
        size_after as f64 / 1e6
    );

    let server = ServerProcess::start(
        &bin,
        temp.path(),
        Some(&args.data_dir),
        &[("MALLARD_CACHE_TTL", "0")],
    )?;
    let addr: SocketAddr = ([127, 0, 0, 1], server.port).into();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let imported_days = format!(
        "start_date={}&end_date={}",
        date(first.max(last - 364)),
        date(last + 1)
    );
    let periods = [
        ("the imported year", imported_days),
        ("the native 12 months", "period=12mo".to_owned()),
        (
            "both (all, by month)",
            "period=all&interval=month".to_owned(),
        ),
    ];
    let queries = [
        ("main", "main"),
        ("timeseries", "timeseries"),
        ("pages", "breakdown/pages"),
        ("sources", "breakdown/sources"),
        ("countries", "breakdown/countries"),
    ];
    let mut table = String::from(
        "| period | query | native p50 (ms) | with imported p50 (ms) |\n|---|---|---|---|\n",
    );
    runtime.block_on(async {
        let mut client = KeepAlive::new(addr);
        for (label, period) in &periods {
            for (name, path) in queries {
                let mut p50 = Vec::new();
                for with_imported in [false, true] {
                    let target = format!(
                        "/api/stats/{path}?site_id={}&{period}&with_imported={with_imported}",
                        args.site
                    );
                    let mut times = Vec::new();
                    for run in 0..=args.runs {
                        let answer = client.get(&target).await?;
                        anyhow::ensure!(answer.status == 200, "{target}: {}", answer.status);
                        if run > 0 {
                            times.push(answer.elapsed.as_secs_f64() * 1000.0);
                        }
                    }
                    times.sort_by(f64::total_cmp);
                    p50.push(times[times.len() / 2]);
                }
                let _ = writeln!(
                    table,
                    "| {label} | {name} | {:.1} | {:.1} |",
                    p50[0], p50[1]
                );
            }
        }
        anyhow::Ok(())
    })?;
    println!("\n{table}");
    server.stop()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_day_numbers_agree() {
        for day in [-1000, 0, 19_000, 20_423, 20_500] {
            assert_eq!(day_of(&date(day)).unwrap(), day);
        }
        assert_eq!(date(0), "1970-01-01");
    }
}
