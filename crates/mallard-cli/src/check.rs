//! `mallard check`: SQLite's integrity check of the data directory's database,
//! a comparison of its stats rollups and goal days with a recomputation from
//! the stored rows, without writing to the file; `--repair` rebuilds the
//! rollups and deletes the goal days (the server counts them again).

use anyhow::{Context, bail};
use clap::Args;
use mallard_store::error::utc_date;
use mallard_store::offline_check::check_database;
use mallard_store::{Store, StoreOptions};

use crate::CommonArgs;

/// Options of `mallard check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Rebuild the stats rollups from the stored visits and events (the
    /// server must be stopped: the data directory lock is taken).
    #[arg(long)]
    repair: bool,
}

/// Checks the database read-only, and with `--repair` rebuilds its rollups.
pub fn run(args: &CheckArgs) -> anyhow::Result<()> {
    let config = args.common.load(None, None)?;
    let dir = &config.data_dir;
    if args.repair {
        return repair(dir);
    }
    let report = check_database(dir).with_context(|| format!("cannot check {}", dir.display()))?;
    if !report.integrity_problems.is_empty() {
        bail!(
            "the database is damaged:\n{}",
            report.integrity_problems.join("\n")
        );
    }
    if !report.rollups.differences.is_empty() {
        bail!(
            "the stats rollups differ from the stored events in {} row(s); run \
             `mallard check --repair` with the server stopped to rebuild them:\n{}",
            report.rollups.differences.len(),
            report.rollups.differences.join("\n")
        );
    }
    if !report.damaged_segments.is_empty() {
        bail!(
            "{} day segment(s) fail their checksum or cannot be decoded; run \
             `mallard check --repair` with the server stopped to delete them (their visits \
             cannot be read back; restore the file from a backup if they matter):\n{}",
            report.damaged_segments.len(),
            segment_lines(&report.damaged_segments)
        );
    }
    if !report.goal_days.is_empty() {
        bail!(
            "{} stored goal day(s) differ from the stored events; run `mallard check --repair` \
             with the server stopped to delete them (the server counts them again):\n{}",
            report.goal_days.len(),
            report.goal_days.join("\n")
        );
    }
    if !report.rollup_spans.is_empty() {
        bail!(
            "{} rollup span(s) differ from their days; run `mallard check --repair` with the \
             server stopped to delete them (the server builds them again):\n{}",
            report.rollup_spans.len(),
            report.rollup_spans.join("\n")
        );
    }
    if !report.derived_parts.is_empty() {
        bail!(
            "{} derived part(s) of day segments (code indexes, entry events) differ from \
             their days' other parts; run `mallard check --repair` with the server stopped to \
             delete them (the server builds them again):\n{}",
            report.derived_parts.len(),
            report.derived_parts.join("\n")
        );
    }
    if report.rollups.pending_days > 0 {
        println!(
            "note: the last run stopped before writing its stats rollups; they are \
             rebuilt from the stored events when the server next starts (not compared now)"
        );
    }
    println!(
        "ok: {} site(s): {}",
        report.sites.len(),
        report.sites.join(", ")
    );
    Ok(())
}

/// One line per day segment: its site id and UTC date.
fn segment_lines(segments: &[(i64, i64)]) -> String {
    segments
        .iter()
        .map(|&(site, day)| format!("  site {site}, day {} (UTC)", utc_date(day)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Opens the store (taking the data directory lock, which a running server
/// holds) and rebuilds every site's rollups through its writer.
fn repair(dir: &std::path::Path) -> anyhow::Result<()> {
    let store = Store::open(dir, StoreOptions::default())
        .with_context(|| format!("cannot open {}", dir.display()))?;
    let deleted = store.writer().delete_damaged_segments_blocking();
    let rebuilt = store.writer().rebuild_rollups_blocking();
    let goal_days = store
        .writer()
        .run_blocking(mallard_store::goal_days::forget_all);
    let spans = store
        .writer()
        .run_blocking(mallard_store::rollup_spans::forget_all);
    let derived_parts = store
        .writer()
        .run_blocking(mallard_store::derived_parts::forget_all);
    store.close();
    let deleted = deleted.context("deleting the damaged day segments failed")?;
    let rebuilt = rebuilt.context("rebuilding the stats rollups failed")?;
    let goal_days = goal_days.context("deleting the goal days failed")?;
    spans.context("deleting the rollup spans failed")?;
    derived_parts.context("deleting the derived parts of the day segments failed")?;
    if goal_days > 0 {
        println!(
            "repaired: deleted {goal_days} goal day(s), which the server counts again from \
             the stored events when it next runs"
        );
    }
    if !deleted.is_empty() {
        println!(
            "repaired: deleted {} damaged day segment(s) and their visits, which could \
             not be read back; the rollups now leave them out:\n{}",
            deleted.len(),
            segment_lines(&deleted)
        );
    }
    let report = check_database(dir).with_context(|| format!("cannot check {}", dir.display()))?;
    if !report.rollups.differences.is_empty() {
        bail!(
            "the stats rollups still differ after the rebuild:\n{}",
            report.rollups.differences.join("\n")
        );
    }
    println!("repaired: stats rollups rebuilt for {rebuilt} site(s)");
    Ok(())
}
