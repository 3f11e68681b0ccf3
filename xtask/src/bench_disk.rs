//! Bytes per event on disk: seed N events with the release build, close the
//! database (which checkpoints the WAL), and divide the file size by N.

use std::process::Command;
use std::time::Instant;

use clap::Args;

use crate::process::release_mallard;

/// Flags of `cargo xtask bench-disk`.
#[derive(Debug, Args)]
pub struct BenchDiskArgs {
    /// How many events to seed.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Over how many days.
    #[arg(long, default_value_t = 365)]
    days: u32,
    /// Keep the data directory here instead of a temporary one.
    #[arg(long)]
    data_dir: Option<std::path::PathBuf>,
}

/// Seeds and reports the size.
pub fn run(args: &BenchDiskArgs) -> anyhow::Result<()> {
    let bin = release_mallard()?;
    let temp = tempfile::tempdir()?;
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| temp.path().join("data"));
    let started = Instant::now();
    let status = Command::new(&bin)
        .args([
            "seed",
            "--site",
            "bench.example",
            "--events",
            &args.events.to_string(),
        ])
        .args(["--days", &args.days.to_string(), "--data-dir"])
        .arg(&data_dir)
        .env("XDG_CONFIG_HOME", temp.path().join("xdg-config"))
        .status()?;
    anyhow::ensure!(status.success(), "mallard seed failed");
    let seconds = started.elapsed().as_secs_f64();
    let db = data_dir.join("mallard.db");
    let bytes = std::fs::metadata(&db)?.len();
    let wal = std::fs::metadata(data_dir.join("mallard.db-wal")).map_or(0, |m| m.len());
    println!(
        "bench-disk: {} events over {} days, seeded in {seconds:.1} s",
        args.events, args.days
    );
    println!(
        "  database {:.1} MiB (+ WAL {:.1} MiB): {:.1} bytes per event",
        bytes as f64 / 1_048_576.0,
        wal as f64 / 1_048_576.0,
        (bytes + wal) as f64 / args.events as f64
    );
    // Per-table sizes, when the sqlite3 tool (with dbstat) is installed.
    let table_sizes = Command::new("sqlite3")
        .arg(&db)
        .arg("SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC;")
        .output();
    if let Ok(output) = table_sizes
        && output.status.success()
    {
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            if let Some((name, size)) = line.split_once('|') {
                let size: f64 = size.parse().unwrap_or(0.0);
                let per_event = size / args.events as f64;
                println!(
                    "    {name:<24} {:>8.1} MiB {per_event:>6.1} B/event",
                    size / 1_048_576.0
                );
            }
        }
    }
    Ok(())
}
