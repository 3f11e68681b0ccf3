//! `cargo xtask bench-queries`: every stats and behaviour endpoint, unfiltered
//! and with one to three filters, over 30 days and 12 months, uncached
//! (`MALLARD_CACHE_TTL=0`) over HTTP with a keep-alive client, on a database
//! written by `mallard seed`; then a concurrency scenario (filtered 12-month
//! queries while events are ingested). It prints markdown tables: p50 / p90
//! per query with the filtered/unfiltered ratio, and the server's peak RSS
//! per group of queries. With `--compare-bin` it times two builds side by
//! side instead ([`compare`]).

pub(crate) mod client;
mod compare;
mod concurrent;
mod goals;
mod plan;
mod report;
mod today;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use clap::Args;

use crate::process::{ServerProcess, release_mallard, rerun_optimized};
use client::KeepAlive;
use plan::{FilterSet, Period, Plan, Query, request_path};
use report::{Outcome, Row};

/// Flags of `cargo xtask bench-queries`.
#[derive(Debug, Args)]
pub struct BenchQueriesArgs {
    /// The data directory of a database written by `mallard seed` (keep it
    /// outside the worktree, e.g. /work/bench-data/1m); seeded with
    /// `--events` over `--days` for `--site` when it holds no database yet.
    #[arg(long, env = "MALLARD_BENCH_DATA_DIR")]
    data_dir: PathBuf,
    /// The site to query (and to seed).
    #[arg(long, default_value = "bench.example")]
    site: String,
    /// Events to seed when the data directory has no database.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Days to seed them over.
    #[arg(long, default_value_t = 365)]
    days: u32,
    /// Timed runs per query, after one warm-up (default 5; 3 with --quick).
    #[arg(long)]
    runs: Option<usize>,
    /// Periods to measure (default both).
    #[arg(long, value_enum, value_delimiter = ',')]
    periods: Vec<Period>,
    /// Only these queries, by their names in the table (e.g. main,pages,funnel).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Only the filter sets with these numbers of conditions (0 to 3; the
    /// unfiltered set is always measured, for the ratios).
    #[arg(long, value_delimiter = ',')]
    filters: Vec<usize>,
    /// A shorter run: ten queries, filter sets of 0, 1 and 3 conditions,
    /// 3 timed runs, one query per concurrent client.
    #[arg(long)]
    quick: bool,
    /// Which parts to run.
    #[arg(long, value_enum, default_value_t = Part::All)]
    part: Part,
    /// Concurrent query clients in the concurrency scenario.
    #[arg(long, default_value_t = 8)]
    concurrent: usize,
    /// Queries per concurrent client (default 2; 1 with --quick).
    #[arg(long)]
    rounds: Option<usize>,
    /// Connections posting events during the concurrency scenario.
    #[arg(long, default_value_t = 2)]
    ingest_connections: usize,
    /// Measure this `mallard` binary (e.g. a copy of the build before a
    /// change) instead of building the release one.
    #[arg(long, env = "MALLARD_BIN")]
    mallard_bin: Option<PathBuf>,
    /// Time this second `mallard` build side by side with the first, each
    /// serving its own copy of the database, every query asked of both in
    /// turn: the table of both medians and their ratio replaces the query
    /// table, and the concurrency scenario is not run.
    #[arg(long)]
    compare_bin: Option<PathBuf>,
}

/// The parts of the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Part {
    /// The query table, then the concurrency scenario.
    All,
    /// The query table only.
    Queries,
    /// The concurrency scenario only.
    Concurrency,
}

/// Runs the benchmark and prints its tables.
pub fn run(args: &BenchQueriesArgs) -> anyhow::Result<()> {
    if let Some(outcome) = rerun_optimized() {
        return outcome;
    }
    let plan = Plan::new(
        &args.only,
        &args.filters,
        &args.periods,
        args.runs,
        args.quick,
    )?;
    let bin = match &args.mallard_bin {
        Some(bin) => bin.clone(),
        None => release_mallard()?,
    };
    seed_if_missing(&bin, args)?;
    if let Some(second) = &args.compare_bin {
        return compare_builds(args, &plan, &bin, second);
    }
    let home = tempfile::tempdir()?;
    let server = ServerProcess::start(
        &bin,
        home.path(),
        Some(&args.data_dir),
        // No trusted proxy: a loopback client that is one is no longer on
        // the server's own machine, and the queries rely on open access.
        &[("MALLARD_CACHE_TTL", "0")],
    )?;
    let addr: SocketAddr = ([127, 0, 0, 1], server.port).into();
    let runtime = client_runtime()?;
    let today =
        runtime.block_on(async { today::line(&mut KeepAlive::new(addr), &args.site).await })?;
    print_context(args, &bin, &plan, &server, &today);
    if plan.queries.iter().any(|query| query.name == "goals") {
        let waited = runtime
            .block_on(async { goals::prepare(&mut KeepAlive::new(addr), &args.site).await })?;
        println!(
            "- goals: 4 (an event, two page patterns, a property goal), their goal days counted {:.1} s after they were added (or found)",
            waited.as_secs_f64()
        );
    }
    if args.part != Part::Concurrency {
        let (rows, rss) = runtime.block_on(measure(addr, &args.site, &plan, &server))?;
        let columns: Vec<String> = plan.filter_sets.iter().map(column_title).collect();
        println!(
            "\np50 / p90 in ms of {} runs after one warm-up; in brackets the filtered p50 over the unfiltered p50 of the same row.\n",
            plan.runs
        );
        println!("{}", report::table(&columns, &rows));
        println!(
            "Server peak RSS (MiB, VmHWM) per group, the peak started afresh before each group:\n"
        );
        println!("{}", rss_table(&columns, &rss));
    }
    if args.part != Part::Queries {
        let rounds = args.rounds.unwrap_or(if args.quick { 1 } else { 2 });
        server.reset_peak_rss();
        let before = server.rss_mib();
        let outcome = runtime.block_on(concurrent::run(
            addr,
            &args.site,
            args.concurrent,
            rounds,
            args.ingest_connections,
        ))?;
        println!(
            "\nConcurrency: {} clients x {rounds} queries ({}), {} connections posting events:",
            args.concurrent,
            outcome.queries.join(", "),
            args.ingest_connections
        );
        println!("{}", outcome.summary(args.concurrent));
        println!(
            "server RSS before {} MiB, peak during {} MiB",
            mib(before),
            mib(server.peak_rss_mib())
        );
    }
    println!("\nload average at the end: {}", load_average());
    server.stop()
}

/// Times the queries of `plan` on builds `first` and `second` side by side
/// ([`compare`]): each serves a copy of the database, made beside it before
/// either starts and removed at the end (a fresh copy reads a few per cent
/// faster than a file many servers wrote to, so neither build serves the
/// original).
fn compare_builds(
    args: &BenchQueriesArgs,
    plan: &Plan,
    first: &Path,
    second: &Path,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.part != Part::Concurrency,
        "--compare-bin times the queries only"
    );
    let parent = args
        .data_dir
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let copies = [tempfile::tempdir_in(parent)?, tempfile::tempdir_in(parent)?];
    for copy in &copies {
        compare::copy_database(&args.data_dir, copy.path())?;
    }
    let homes = [tempfile::tempdir()?, tempfile::tempdir()?];
    let env = [("MALLARD_CACHE_TTL", "0")];
    let servers = [
        ServerProcess::start(first, homes[0].path(), Some(copies[0].path()), &env)?,
        ServerProcess::start(second, homes[1].path(), Some(copies[1].path()), &env)?,
    ];
    let addrs = servers
        .each_ref()
        .map(|server| SocketAddr::from(([127, 0, 0, 1], server.port)));
    let runtime = client_runtime()?;
    let today =
        runtime.block_on(async { today::line(&mut KeepAlive::new(addrs[0]), &args.site).await })?;
    print_context(args, first, plan, &servers[0], &today);
    println!("second build: {}", second.display());
    if plan.queries.iter().any(|query| query.name == "goals") {
        for addr in addrs {
            runtime
                .block_on(async { goals::prepare(&mut KeepAlive::new(addr), &args.site).await })?;
        }
    }
    let rows = runtime.block_on(compare::measure(addrs[0], addrs[1], &args.site, plan))?;
    println!(
        "\np50 / p90 in ms of {} runs per build after one warm-up each, the builds asked in turn:\n",
        plan.runs
    );
    println!("{}", compare::table(&rows));
    println!("load average at the end: {}", load_average());
    let [first, second] = servers;
    first.stop()?;
    second.stop()
}

/// The runtime the benchmark's clients run on: one worker, so that the
/// client takes as little as it can of the machine the servers share.
fn client_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
}

/// Seeds the data directory with the release build when it has no database.
fn seed_if_missing(bin: &Path, args: &BenchQueriesArgs) -> anyhow::Result<()> {
    if args.data_dir.join("mallard.db").exists() {
        return Ok(());
    }
    let config = tempfile::tempdir()?;
    eprintln!(
        "seeding {} events over {} days into {}",
        args.events,
        args.days,
        args.data_dir.display()
    );
    let started = Instant::now();
    let status = Command::new(bin)
        .args([
            "seed",
            "--site",
            &args.site,
            "--events",
            &args.events.to_string(),
        ])
        .args(["--days", &args.days.to_string(), "--data-dir"])
        .arg(&args.data_dir)
        .env("XDG_CONFIG_HOME", config.path().join("xdg-config"))
        .env("XDG_DATA_HOME", config.path().join("xdg-data"))
        .status()?;
    anyhow::ensure!(status.success(), "mallard seed failed");
    eprintln!("seeded in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// The data, machine and load the figures were taken with.
fn print_context(
    args: &BenchQueriesArgs,
    bin: &Path,
    plan: &Plan,
    server: &ServerProcess,
    today: &str,
) {
    let db = args.data_dir.join("mallard.db");
    let size = std::fs::metadata(&db).map_or(0, |m| m.len());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|line| line.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    println!(
        "bench-queries: site {} in {} ({:.0} MiB database)",
        args.site,
        args.data_dir.display(),
        size as f64 / 1_048_576.0
    );
    println!(
        "machine: {cores} CPUs, {cpu}; load average at the start: {}",
        load_average()
    );
    println!("binary: {}", bin.display());
    println!(
        "uncached (MALLARD_CACHE_TTL=0), keep-alive HTTP/1.1 on loopback, {} timed runs per query",
        plan.runs
    );
    println!("server RSS after start: {} MiB", mib(server.rss_mib()));
    println!("{today}");
    println!("filter sets:");
    for (index, set) in plan.filter_sets.iter().enumerate().skip(1) {
        println!("  F{index}: {}", set.filters);
    }
}

/// The 1, 5 and 15 minute load averages.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

fn mib(value: Option<f64>) -> String {
    value.map_or_else(|| "?".into(), |v| format!("{v:.1}"))
}

/// The column title of a filter set in the tables.
fn column_title(set: &FilterSet) -> String {
    if set.count == 0 {
        "unfiltered".into()
    } else {
        format!("`{}`", set.filters)
    }
}

/// The peak RSS of one group: a period and a family of queries (stats or
/// behaviour), one value per filter set.
struct RssRow {
    label: String,
    mib: Vec<Option<f64>>,
}

fn rss_table(columns: &[String], rows: &[RssRow]) -> String {
    let mut out = String::from("| group |");
    for column in columns {
        out.push_str(&format!(" {column} |"));
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(columns.len()));
    out.push('\n');
    for row in rows {
        out.push_str(&format!("| {} |", row.label));
        for value in &row.mib {
            out.push_str(&format!(" {} |", mib(*value)));
        }
        out.push('\n');
    }
    out
}

/// Whether a query is one of the behaviour endpoints (which run at most two at
/// a time and form their own RSS group).
fn is_behaviour(query: &Query) -> bool {
    matches!(
        query.name,
        "sessions" | "funnel" | "retention" | "sequences" | "flow" | "export"
    )
}

/// Measures every query of the plan: per period, per family, per filter set
/// (a group, whose peak RSS is read at its end), every query with one
/// warm-up and `plan.runs` timed runs.
async fn measure(
    addr: SocketAddr,
    site: &str,
    plan: &Plan,
    server: &ServerProcess,
) -> anyhow::Result<(Vec<Row>, Vec<RssRow>)> {
    let mut client = KeepAlive::new(addr);
    let mut outcomes: HashMap<(usize, usize, usize), Outcome> = HashMap::new();
    let mut rss = Vec::new();
    for (p, period) in plan.periods.iter().enumerate() {
        for behaviour in [false, true] {
            let family: Vec<(usize, &Query)> = plan
                .queries
                .iter()
                .enumerate()
                .filter(|(_, q)| is_behaviour(q) == behaviour)
                .collect();
            if family.is_empty() {
                continue;
            }
            let mut row = RssRow {
                label: format!(
                    "{} queries, {}",
                    if behaviour { "behaviour" } else { "stats" },
                    period.param()
                ),
                mib: Vec::new(),
            };
            for (f, set) in plan.filter_sets.iter().enumerate() {
                server.reset_peak_rss();
                for (q, query) in &family {
                    let target = request_path(query, site, *period, set.filters);
                    let outcome = time_query(&mut client, &target, plan.runs).await;
                    eprintln!(
                        "  {} {} [{}]: {outcome:?}",
                        query.name,
                        period.param(),
                        set.filters
                    );
                    outcomes.insert((*q, p, f), outcome);
                }
                row.mib.push(server.peak_rss_mib());
            }
            rss.push(row);
        }
    }
    let mut rows = Vec::new();
    for (q, query) in plan.queries.iter().enumerate() {
        for (p, period) in plan.periods.iter().enumerate() {
            rows.push(Row {
                query: query.name.into(),
                period: period.param().into(),
                outcomes: (0..plan.filter_sets.len())
                    .map(|f| outcomes.remove(&(q, p, f)).unwrap_or(Outcome::Failed(0)))
                    .collect(),
            });
        }
    }
    Ok((rows, rss))
}

/// One warm-up, then `runs` timed requests of `target`.
async fn time_query(client: &mut KeepAlive, target: &str, runs: usize) -> Outcome {
    let mut millis = Vec::with_capacity(runs);
    let mut statuses = Vec::with_capacity(runs + 1);
    for run in 0..=runs {
        match client.get(target).await {
            Ok(answer) => {
                statuses.push(answer.status);
                if run > 0 {
                    millis.push(answer.elapsed.as_secs_f64() * 1e3);
                }
            }
            Err(err) => {
                eprintln!("{err:#}");
                statuses.push(0);
            }
        }
    }
    Outcome::of(&millis, &statuses)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    /// The flags as `cargo xtask bench-queries` receives them.
    #[derive(Debug, Parser)]
    struct Flags {
        #[command(flatten)]
        args: BenchQueriesArgs,
    }

    fn parse(flags: &[&str]) -> Result<BenchQueriesArgs, clap::Error> {
        Flags::try_parse_from(std::iter::once("bench-queries").chain(flags.iter().copied()))
            .map(|flags| flags.args)
    }

    #[test]
    fn flags_choose_data_queries_filters_and_periods() {
        let args = parse(&[
            "--data-dir",
            "/work/bench-data/1m",
            "--only",
            "main,funnel",
            "--filters",
            "1,3",
            "--periods",
            "12mo",
            "--runs",
            "7",
            "--part",
            "queries",
        ])
        .unwrap();
        assert_eq!(args.data_dir, PathBuf::from("/work/bench-data/1m"));
        assert_eq!(args.site, "bench.example");
        assert_eq!(args.events, 1_000_000);
        assert_eq!(args.part, Part::Queries);
        let with_bin =
            parse(&["--data-dir", "/d", "--mallard-bin", "/tmp/before/mallard"]).unwrap();
        assert_eq!(
            with_bin.mallard_bin,
            Some(PathBuf::from("/tmp/before/mallard"))
        );
        assert_eq!(with_bin.compare_bin, None);
        let compared = parse(&[
            "--data-dir",
            "/d",
            "--mallard-bin",
            "/tmp/before/mallard",
            "--compare-bin",
            "/tmp/after/mallard",
        ])
        .unwrap();
        assert_eq!(
            compared.compare_bin,
            Some(PathBuf::from("/tmp/after/mallard"))
        );
        let plan = Plan::new(
            &args.only,
            &args.filters,
            &args.periods,
            args.runs,
            args.quick,
        )
        .unwrap();
        let names: Vec<_> = plan.queries.iter().map(|q| q.name).collect();
        assert_eq!(names, ["main", "funnel"]);
        let counts: Vec<_> = plan.filter_sets.iter().map(|s| s.count).collect();
        assert_eq!(counts, [0, 1, 3, 3]);
        assert_eq!(plan.periods, [Period::Months12]);
        assert_eq!(plan.runs, 7);
    }

    #[test]
    fn bad_flags_are_refused() {
        assert!(parse(&["--data-dir", "/d", "--periods", "7d"]).is_err());
        assert!(parse(&["--data-dir", "/d", "--filters", "x"]).is_err());
        assert!(parse(&["--data-dir", "/d", "--part", "everything"]).is_err());
    }

    #[test]
    fn behaviour_queries_form_their_own_group() {
        let names: Vec<_> = plan::QUERIES
            .iter()
            .filter(|q| is_behaviour(q))
            .map(|q| q.name)
            .collect();
        assert_eq!(
            names,
            [
                "sessions",
                "funnel",
                "retention",
                "sequences",
                "flow",
                "export"
            ]
        );
    }

    #[test]
    fn the_rss_table_has_a_row_per_group() {
        let columns = vec!["unfiltered".to_owned(), "`source==Google`".to_owned()];
        let rows = vec![RssRow {
            label: "stats queries, 12mo".into(),
            mib: vec![Some(21.04), None],
        }];
        assert_eq!(
            rss_table(&columns, &rows),
            "| group | unfiltered | `source==Google` |\n|---|---|---|\n| stats queries, 12mo | 21.0 | ? |\n"
        );
    }
}
