//! `mallard`: the headless Mallard Metrics server and its tools.
//!
//! - `mallard serve` runs the ingestion, auth and stats server.
//! - `mallard seed` fills a data directory with realistic synthetic traffic.
//! - `mallard check` runs an integrity check of a data directory's database and
//!   compares its stats rollups with the stored events (`--repair` rebuilds them).
//! - `mallard keys` manages Mallard API keys, on a stopped or running install.
//! - `mallard import logs` imports page views from server access logs;
//!   `mallard import list` lists the imports.
//! - `mallard stats` reads a site's stats from a running server.
//! - `mallard backup --to FILE` takes a checked backup (also of a running
//!   install); `mallard restore FILE` puts one in place.

mod backup;
mod check;
mod import;
mod import_online;
mod keys;
mod local_server;
mod pull;
mod seed;
mod serve;
mod sites;
mod stats;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use mallard_server::{Config, Overrides};

/// mimalloc serves the many small, short-lived allocations of the request
/// path faster than the system allocator (see docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Local-first web analytics: one process, one SQLite file.
#[derive(Debug, Parser)]
#[command(name = "mallard", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (ingestion, stats, dashboard) until SIGINT or SIGTERM.
    Serve(serve::ServeArgs),
    /// Write deterministic synthetic traffic into the data directory.
    Seed(seed::SeedArgs),
    /// Check the database in the data directory (read-only) for corruption
    /// and for stats that differ from the stored events; --repair rebuilds them.
    Check(check::CheckArgs),
    /// Create, list or revoke Mallard API keys (works while the server runs).
    Keys(keys::KeysArgs),
    /// Import traffic recorded elsewhere (server access logs, GoatCounter and
    /// Plausible exports), list imports, or undo one.
    Import(import::ImportArgs),
    /// Read a site's stats from a running server (a table, or --json).
    Stats(stats::StatsArgs),
    /// Copy the database to a file, checked (works while the server runs).
    Backup(backup::BackupArgs),
    /// Replace the database with a backup (the server must be stopped, or --stop).
    Restore(backup::RestoreArgs),
    /// List sites, or delete a site or a date range of its data (works while
    /// the server runs).
    Sites(sites::SitesArgs),
    /// Pull a remote Mallard's events into this install, now and with
    /// --every on an interval (works while the server runs).
    Pull(pull::PullArgs),
}

/// Options shared by every command that opens the data directory.
#[derive(Debug, Clone, Args)]
struct CommonArgs {
    /// The data directory (default: the OS user data directory).
    #[arg(long, value_name = "DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// A TOML config file (default: config.toml in the OS user config directory).
    #[arg(long, value_name = "FILE", global = true)]
    config: Option<PathBuf>,
}

impl CommonArgs {
    fn load(&self, host: Option<String>, port: Option<u16>) -> anyhow::Result<Config> {
        let env = |key: &str| std::env::var(key).ok();
        let overrides = Overrides {
            host,
            port,
            data_dir: self.data_dir.clone(),
        };
        Ok(Config::load(self.config.as_deref(), &env, overrides)?)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Seed(args) => seed::run(args),
        Command::Check(args) => check::run(&args),
        Command::Keys(args) => keys::run(args),
        Command::Import(args) => import::run(args),
        Command::Stats(args) => stats::run(args),
        Command::Backup(args) => backup::run_backup(args),
        Command::Restore(args) => backup::run_restore(args),
        Command::Sites(args) => sites::run(args),
        Command::Pull(args) => pull::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("mallard: {err:#}");
            ExitCode::FAILURE
        }
    }
}
