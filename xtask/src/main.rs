//! `cargo xtask`: the project's automation.
//!
//! - `cargo xtask test`: formatting, lints, build, and every test (the README's
//!   test command; CI runs it).
//! - `cargo xtask run`: install what the desktop app needs, then build and
//!   start it (it falls back to headless mode when there is no display).
//! - `cargo xtask bench-http`: HTTP ingestion throughput and latency with a
//!   keep-alive load generator on loopback.
//! - `cargo xtask bench-disk`: bytes per event on disk after seeding N events.
//! - `cargo xtask bench-queries`: every stats and behaviour endpoint, unfiltered
//!   and filtered, uncached over HTTP on a seeded database, with peak memory.
//! - `cargo xtask bench-import`: `mallard import logs` of a generated
//!   combined log of N lines: lines per second and peak memory.
//! - `cargo xtask dist`: the desktop app's `.deb`, built by the Tauri bundler.

mod bench_disk;
mod bench_http;
mod bench_import;
mod bench_plausible;
mod bench_queries;
mod dist;
mod prereqs;
mod process;
mod schemathesis;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "xtask", about = "Mallard Metrics project automation")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check formatting and lints, build, and run the whole test suite.
    Test {
        /// Extra arguments for `cargo nextest run` (e.g. a test name filter).
        #[arg(trailing_var_arg = true)]
        nextest_args: Vec<String>,
    },
    /// Build (release) and run the Mallard Metrics desktop app (headless when
    /// there is no display); extra arguments go to `mallard-desktop`.
    Run {
        /// Arguments for `mallard-desktop`, e.g. `--port 9000` or `--headless`.
        #[arg(trailing_var_arg = true)]
        args: Vec<String>,
    },
    /// Measure HTTP ingestion throughput and latency against a release build.
    BenchHttp(bench_http::BenchHttpArgs),
    /// Measure bytes per event on disk after seeding.
    BenchDisk(bench_disk::BenchDiskArgs),
    /// Measure uncached stats and behaviour queries, filtered and not, over HTTP.
    BenchQueries(bench_queries::BenchQueriesArgs),
    /// Measure `mallard import logs` on a generated access log.
    BenchImport(bench_import::BenchImportArgs),
    /// Measure `mallard import plausible` and the stats with imported data.
    BenchPlausible(bench_plausible::BenchPlausibleArgs),
    /// Build the desktop app's installable package (a .deb) with the Tauri bundler.
    Dist,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Test { nextest_args } => test(&nextest_args),
        Command::Run { args } => run(&args),
        Command::BenchHttp(args) => bench_http::run(&args),
        Command::BenchDisk(args) => bench_disk::run(&args),
        Command::BenchQueries(args) => bench_queries::run(&args),
        Command::BenchImport(args) => bench_import::run(&args),
        Command::BenchPlausible(args) => bench_plausible::run(&args),
        Command::Dist => dist::run(),
    }
}

fn test(nextest_args: &[String]) -> anyhow::Result<()> {
    prereqs::ensure_tests()?;
    // The schema-driven fuzzer of `tests/schema_fuzz.rs`.
    schemathesis::ensure()?;
    process::cargo(&["fmt", "--all", "--check"])?;
    process::cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])?;
    // The end-to-end tests start the real binaries; build them first.
    process::cargo(&["build", "--workspace", "--bins"])?;
    if !process::succeeds("cargo", &["nextest", "--version"]) {
        process::cargo(&["install", "cargo-nextest", "--locked"])?;
    }
    let mut args = vec!["nextest", "run", "--workspace", "--no-fail-fast"];
    args.extend(nextest_args.iter().map(String::as_str));
    process::cargo(&args)
}

fn run(args: &[String]) -> anyhow::Result<()> {
    if let Err(err) = prereqs::ensure_desktop() {
        // Without WebKitGTK the desktop app cannot be built; the same server
        // still runs headless.
        eprintln!("The desktop app cannot be built here ({err:#}); starting the headless server.");
        let mut cargo_args = vec![
            "run",
            "--release",
            "--package",
            "mallard-cli",
            "--bin",
            "mallard",
            "--",
            "serve",
        ];
        cargo_args.extend(args.iter().map(String::as_str));
        return process::cargo(&cargo_args);
    }
    let mut cargo_args = vec![
        "run",
        "--release",
        "--package",
        "mallard-desktop",
        "--bin",
        "mallard-desktop",
        "--",
    ];
    cargo_args.extend(args.iter().map(String::as_str));
    process::cargo(&cargo_args)
}
