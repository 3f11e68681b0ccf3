//! `cargo xtask`: the project's automation.
//!
//! - `cargo xtask test`: formatting, lints, build, and every test (the README's
//!   test command; CI runs it).
//! - `cargo xtask run`: build and start Mallard Metrics.
//! - `cargo xtask bench-http`: HTTP ingestion throughput and latency with a
//!   keep-alive load generator on loopback.
//! - `cargo xtask bench-disk`: bytes per event on disk after seeding N events.

mod bench_disk;
mod bench_http;
mod process;

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
    /// Build (release) and run Mallard Metrics; extra arguments go to `mallard serve`.
    Run {
        /// Arguments for `mallard serve`, e.g. `--port 9000`.
        #[arg(trailing_var_arg = true)]
        args: Vec<String>,
    },
    /// Measure HTTP ingestion throughput and latency against a release build.
    BenchHttp(bench_http::BenchHttpArgs),
    /// Measure bytes per event on disk after seeding.
    BenchDisk(bench_disk::BenchDiskArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Test { nextest_args } => test(&nextest_args),
        Command::Run { args } => run(&args),
        Command::BenchHttp(args) => bench_http::run(&args),
        Command::BenchDisk(args) => bench_disk::run(&args),
    }
}

fn test(nextest_args: &[String]) -> anyhow::Result<()> {
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
    process::cargo(&cargo_args)
}
