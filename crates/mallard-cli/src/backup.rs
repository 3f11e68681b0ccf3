//! `mallard backup --to FILE` and `mallard restore FILE`.
//!
//! A backup of a running install is taken by its server (`POST
//! /api/backups` with the local admin token), so it reads one consistent
//! snapshot beside the writer; of a stopped install, by this command under
//! the data directory's lock. Either way the copy is checked before it is
//! reported. A restore needs the data directory to itself: it refuses while
//! a server holds it, unless `--stop` asks that server to stop first.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use mallard_store::StoreError;
use mallard_store::lock::DataDirLock;
use serde_json::json;

use crate::CommonArgs;
use crate::local_server::LocalServer;

/// Flags of `mallard backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// The file to write (replaced only once the new copy is checked).
    #[arg(long, value_name = "FILE")]
    to: PathBuf,
}

/// Flags of `mallard restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// The backup to restore.
    file: PathBuf,
    /// Ask the server running on the data directory to stop first (it
    /// commits every queued event before it exits).
    #[arg(long)]
    stop: bool,
}

/// How long `--stop` waits for the server to let go of the data directory.
const STOP_PATIENCE: Duration = Duration::from_secs(60);

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("cannot resolve {}", path.display()))
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1_000_000.0)
}

/// Runs `mallard backup`.
pub fn run_backup(args: BackupArgs) -> anyhow::Result<()> {
    let config = args.common.load(None, None)?;
    let to = absolute(&args.to)?;
    match DataDirLock::acquire(&config.data_dir) {
        Ok(lock) => {
            let report = mallard_store::backup::backup(&config.data_dir, &to)?;
            drop(lock);
            println!(
                "Backed up {} to {} ({}, checked) in {:.1} s.",
                config.data_dir.display(),
                report.path.display(),
                megabytes(report.bytes),
                report.millis as f64 / 1000.0
            );
        }
        Err(StoreError::Locked(_)) => {
            let server = LocalServer::discover(&config.data_dir)?;
            let target = to
                .to_str()
                .with_context(|| format!("{} is not valid UTF-8", to.display()))?;
            let record = server.post("/api/backups", &json!({ "to": target }))?;
            println!(
                "Backed up the running server's database to {} ({}, checked) in {:.1} s.",
                record["path"].as_str().unwrap_or(target),
                megabytes(record["bytes"].as_u64().unwrap_or(0)),
                record["duration_ms"].as_f64().unwrap_or(0.0) / 1000.0
            );
        }
        Err(err) => return Err(err.into()),
    }
    Ok(())
}

/// Runs `mallard restore`.
pub fn run_restore(args: RestoreArgs) -> anyhow::Result<()> {
    let config = args.common.load(None, None)?;
    let file = absolute(&args.file)?;
    if !file.is_file() {
        bail!("{} is not a file", file.display());
    }
    let report = match mallard_store::backup::restore(&config.data_dir, &file) {
        Err(StoreError::Locked(_)) if args.stop => {
            stop_server(&config.data_dir)?;
            mallard_store::backup::restore(&config.data_dir, &file)?
        }
        Err(StoreError::Locked(_)) => {
            let running = mallard_server::local_admin::discover(&config.data_dir)
                .map(|(info, _)| format!(" (process {} at {})", info.pid, info.url))
                .unwrap_or_default();
            bail!(
                "a server holds {}{running}: stop it first, or run `mallard restore --stop` to \
                 have it stop",
                config.data_dir.display()
            );
        }
        other => other?,
    };
    println!(
        "Restored {} into {} ({}, schema version {}); the database it replaced is kept as {}.",
        file.display(),
        config.data_dir.display(),
        megabytes(report.bytes),
        report.schema_version,
        config
            .data_dir
            .join(mallard_store::backup::BEFORE_RESTORE_FILE)
            .display()
    );
    Ok(())
}

/// Asks the server holding `data_dir` to stop (SIGTERM: it commits what it
/// queued and exits) and waits until the data directory is free.
fn stop_server(data_dir: &Path) -> anyhow::Result<()> {
    let (info, _) = mallard_server::local_admin::discover(data_dir).with_context(|| {
        format!(
            "{} is in use, but the running server was not found",
            data_dir.display()
        )
    })?;
    eprintln!("Stopping the server (process {})...", info.pid);
    let status = std::process::Command::new("kill")
        .args(["-TERM", &info.pid.to_string()])
        .status()
        .context("cannot run kill")?;
    if !status.success() {
        bail!("cannot stop process {}", info.pid);
    }
    let deadline = Instant::now() + STOP_PATIENCE;
    loop {
        match DataDirLock::acquire(data_dir) {
            Ok(lock) => {
                drop(lock);
                return Ok(());
            }
            Err(StoreError::Locked(_)) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(err) => return Err(err.into()),
        }
    }
}
