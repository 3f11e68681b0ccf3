//! `mallard import logs|goatcounter|plausible|list|undo`: traffic from
//! server access logs, GoatCounter CSV exports and Plausible CSV exports.
//!
//! `import logs` reads one or more logs (gzip or plain, `-` for standard
//! input) of a site, in a named format or one detected from the first lines,
//! and writes each successful page view as a page view event with the log's
//! own time, through the store's writer: visits form by the log's clock with
//! the 30-minute rule, as for live traffic. A progress bar shows lines per
//! second and the counts; unreadable lines never stop the import (the first
//! few are shown by line number), and the exit status is non-zero only when
//! nothing could be read. The import ledger makes it idempotent: a file read
//! before adds nothing, a grown or rotated one only its new lines.
//! `import goatcounter` reads GoatCounter CSV exports (format version 2):
//! each row, a page view or a custom event, becomes an event at its own
//! time, the rows of one GoatCounter session one visitor's, through the
//! same ledger. `import plausible` reads Plausible's CSV export (its zip, a
//! directory, or its CSV files) into the site's imported daily aggregates,
//! which the dashboard adds to native numbers before the site's first day
//! of native data. `import list` shows every import; `import undo ID`
//! removes exactly what an import added.
//!
//! On a stopped install they open the data directory; while a server runs
//! they go through its API ([`crate::import_online`]), which reads the files
//! by path on this machine.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use mallard_core::SiteId;
use mallard_core::access_log::{ExcludePattern, LogFilter};
use mallard_server::import::{
    FileOutcome, ImportFormat, ImportReport, LogImportRequest, Progress, import_logs,
};
use mallard_store::imports::Undo;
use mallard_store::{Store, StoreError, StoreOptions};

use crate::CommonArgs;

/// Flags of `mallard import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    common: CommonArgs,
    #[command(subcommand)]
    action: ImportAction,
}

#[derive(Debug, Subcommand)]
enum ImportAction {
    /// Import page views from server access logs.
    Logs(Box<LogsArgs>),
    /// Import a GoatCounter CSV export (format version 2): every page view
    /// and event it holds.
    Goatcounter(ExportArgs),
    /// Import a Plausible CSV export (the zip of imported_*.csv daily
    /// tables, a directory it was unpacked into, or its CSV files): daily
    /// aggregates, counted before the site's first day of native data.
    Plausible(ExportArgs),
    /// List every import, newest first.
    List,
    /// Undo an import: remove exactly the visits and events it added (the
    /// stats follow), so that its files can be imported again.
    Undo {
        /// The import's id, as `import list` shows it.
        id: i64,
    },
}

/// Flags of `mallard import logs`.
#[derive(Debug, Args)]
pub(crate) struct LogsArgs {
    /// The site the logs are of (its domain, as events name it).
    #[arg(long)]
    pub(crate) site: String,
    /// auto, combined, common, combined-vhost, caddy, cloudfront, bunny, or
    /// 'log:<fields>' (e.g. 'log:$remote_addr [$datetime] "$request" $status').
    #[arg(long, default_value = "auto", value_parser = check_format)]
    pub(crate) format: String,
    /// Paths not to count: glob:PATTERN (the default), re:REGEX, and with a
    /// leading ! the only paths to count. Repeatable.
    #[arg(long = "exclude", value_name = "PATTERN", value_parser = check_pattern)]
    pub(crate) exclude: Vec<String>,
    /// Count requests for static files (CSS, scripts, images, ...) too.
    #[arg(long)]
    pub(crate) include_static: bool,
    /// Keep reading the log as it grows (and across logrotate) until
    /// interrupted; one file, with no server running.
    #[arg(long)]
    pub(crate) follow: bool,
    /// The log files (plain or gzip); - reads standard input (only while
    /// no server runs).
    #[arg(required = true, value_name = "FILE")]
    pub(crate) files: Vec<PathBuf>,
}

/// Flags of `mallard import goatcounter` and `mallard import plausible`.
#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// The site the export is of (its domain, as events name it).
    #[arg(long)]
    site: String,
    /// The exported files: GoatCounter's CSV files (plain or gzip), or
    /// Plausible's zip, directory or CSV files.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

impl ExportArgs {
    /// The same import as `mallard import logs --format FORMAT` takes it.
    fn into_logs(self, format: &str) -> LogsArgs {
        LogsArgs {
            site: self.site,
            format: format.into(),
            exclude: Vec::new(),
            include_static: false,
            follow: false,
            files: self.files,
        }
    }
}

/// Refuses an unknown `--format` before anything is read.
fn check_format(value: &str) -> Result<String, String> {
    value.parse::<ImportFormat>().map(|_| value.to_owned())
}

/// Refuses a bad `--exclude` pattern before anything is read.
fn check_pattern(value: &str) -> Result<String, String> {
    ExcludePattern::parse(value).map(|_| value.to_owned())
}

/// Runs the command.
pub fn run(args: ImportArgs) -> anyhow::Result<()> {
    let config = args.common.load(None, None)?;
    let mut options = StoreOptions::default();
    // A site without data is loaded straight into day segments as its days
    // settle, as `mallard seed` does; the import's ledger records only what
    // is stored. A site with data gets rows, packed as its days close.
    options.writer.bulk_load = matches!(
        args.action,
        ImportAction::Logs(_) | ImportAction::Goatcounter(_)
    );
    let store = match Store::open(&config.data_dir, options) {
        Ok(store) => store,
        Err(StoreError::Locked(_)) => {
            let dir = &config.data_dir;
            return match args.action {
                ImportAction::Logs(logs) => crate::import_online::logs(dir, &logs),
                ImportAction::Goatcounter(export) => {
                    crate::import_online::logs(dir, &export.into_logs("goatcounter"))
                }
                ImportAction::Plausible(export) => {
                    crate::import_online::logs(dir, &export.into_logs("plausible"))
                }
                ImportAction::List => crate::import_online::list(dir),
                ImportAction::Undo { id } => crate::import_online::undo(dir, id),
            };
        }
        Err(err) => {
            return Err(err).with_context(|| format!("cannot open {}", config.data_dir.display()));
        }
    };
    let result = match args.action {
        ImportAction::Logs(logs) => import(&store, &config, *logs),
        ImportAction::Goatcounter(export) => {
            import(&store, &config, export.into_logs("goatcounter"))
        }
        ImportAction::Plausible(export) => import(&store, &config, export.into_logs("plausible")),
        ImportAction::List => list(&store),
        ImportAction::Undo { id } => undo(&store, id),
    };
    store.close();
    result
}

fn import(store: &Store, config: &mallard_server::Config, args: LogsArgs) -> anyhow::Result<()> {
    if args.follow && (args.files.len() != 1 || args.files[0].as_os_str() == "-") {
        bail!("--follow reads one log file (not standard input)");
    }
    let site = SiteId::parse(&args.site).context("invalid --site")?;
    let patterns = args
        .exclude
        .iter()
        .map(|pattern| ExcludePattern::parse(pattern).map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let saved = store.reads().with(|db| db.dashboard_settings())?;
    let settings = mallard_server::settings::LiveSettings::new(config, &saved).get();
    let filter_bots = settings.filter_bots;
    // The database the server would use, a dashboard choice included.
    let geolocator = Arc::new(
        mallard_server::geo_source::open(settings.geoip_database.as_deref())
            .context("cannot read the geolocation database (geoip_database)")?,
    );
    let request = LogImportRequest {
        site,
        format: args.format.parse().map_err(anyhow::Error::msg)?,
        filter: LogFilter::new(args.include_static, patterns),
        filter_bots,
        follow: args.follow.then_some(mallard_server::import::FOLLOW_POLL),
        cancel: std::sync::Arc::default(),
        inputs: args.files,
    };
    let bar = progress_bar();
    let started = Instant::now();
    let mut show = |progress: Progress<'_>| {
        let counts = progress.counts;
        show_bytes(&bar, progress.bytes_done, progress.bytes_total);
        let reasons: Vec<(&str, u64)> = counts
            .skipped
            .iter()
            .map(|(reason, count)| (reason.name(), *count))
            .collect();
        bar.set_message(progress_message(
            progress.file,
            progress.offset,
            started,
            [counts.lines, counts.imported, counts.unparsed],
            &reasons,
        ));
    };
    let outcome = import_logs(
        &store.writer(),
        geolocator,
        request,
        mallard_server::clock::now_ms(),
        &mut show,
    );
    bar.finish_and_clear();
    let report = outcome?;
    Summary::of(&report).print(started.elapsed());
    Ok(())
}

/// A spinner with a line of counts.
pub(crate) fn progress_bar() -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Moves the bar to `done` stored bytes of `total`: once the total is known
/// the spinner becomes a bar with a percentage and the time left.
pub(crate) fn show_bytes(bar: &ProgressBar, done: u64, total: Option<u64>) {
    let Some(total) = total.filter(|total| *total > 0) else {
        return;
    };
    if bar.length() != Some(total) {
        bar.set_length(total);
        bar.set_style(
            ProgressStyle::with_template(
                "{bar:24} {percent:>3}% {binary_bytes}/{binary_total_bytes} ETA {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
    }
    bar.set_position(done.min(total));
}

/// The progress line: the file, lines and their rate, megabytes read,
/// `[lines, imported, unreadable]`, and the skipped lines by reason.
pub(crate) fn progress_message(
    file: &str,
    offset: u64,
    started: Instant,
    counts: [u64; 3],
    skipped: &[(&str, u64)],
) -> String {
    let [lines, imported, unparsed] = counts;
    let rate = lines as f64 / started.elapsed().as_secs_f64().max(1e-3);
    let total: u64 = skipped.iter().map(|(_, count)| count).sum();
    let mut reasons: Vec<&(&str, u64)> = skipped.iter().filter(|(_, n)| *n > 0).collect();
    reasons.sort_by_key(|(_, count)| std::cmp::Reverse(*count));
    let reasons = reasons
        .iter()
        .map(|(reason, count)| format!("{reason} {count}"))
        .collect::<Vec<_>>()
        .join(", ");
    let by_reason = if reasons.is_empty() {
        String::new()
    } else {
        format!(" ({reasons})")
    };
    format!(
        "{file}: {lines} lines ({rate:.0}/s, {:.1} MB), {imported} imported, \
         {total} skipped{by_reason}, {unparsed} unreadable",
        offset as f64 / 1e6
    )
}

/// What a finished file's line says when it was read before.
pub(crate) const KNOWN_NOTE: &str = "nothing new (imported before)";

/// What a resumed file's line says.
pub(crate) fn resumed_note(line: u64) -> String {
    format!("read from line {line} (earlier lines were imported before)")
}

/// One input in the report.
pub(crate) struct FileLine {
    pub(crate) name: String,
    pub(crate) note: String,
}

/// The report of a finished import, whichever way it ran.
pub(crate) struct Summary {
    pub(crate) import_id: i64,
    pub(crate) format: String,
    pub(crate) detected: bool,
    pub(crate) files: Vec<FileLine>,
    pub(crate) lines: u64,
    pub(crate) imported: u64,
    pub(crate) unparsed: u64,
    /// `(reason, count)`.
    pub(crate) skipped: Vec<(String, u64)>,
    /// `(file, line, why)`.
    pub(crate) first_errors: Vec<(String, u64, String)>,
    /// Whether it was stopped before the end of its files.
    pub(crate) cancelled: bool,
    /// `(import, visits, events)` of interrupted imports undone first.
    pub(crate) rolled_back: Vec<(i64, u64, u64)>,
}

impl Summary {
    fn of(report: &ImportReport) -> Self {
        let counts = &report.counts;
        Self {
            import_id: report.import_id,
            format: report.format.clone(),
            detected: report.detected,
            files: report
                .files
                .iter()
                .map(|(name, outcome)| FileLine {
                    name: name.clone(),
                    note: match outcome {
                        FileOutcome::New => "read".to_owned(),
                        FileOutcome::Resumed(line) => resumed_note(*line),
                        FileOutcome::Known => KNOWN_NOTE.to_owned(),
                        FileOutcome::Unreadable(err) => format!("unreadable: {err}"),
                    },
                })
                .collect(),
            lines: counts.lines,
            imported: counts.imported,
            unparsed: counts.unparsed,
            skipped: counts
                .skipped
                .iter()
                .map(|(reason, count)| (reason.name().to_owned(), *count))
                .collect(),
            first_errors: counts
                .first_errors
                .iter()
                .map(|(line, file, err)| (file.clone(), *line, err.clone()))
                .collect(),
            cancelled: report.cancelled,
            rolled_back: report
                .rolled_back
                .iter()
                .map(|undone| (undone.id, undone.visits, undone.events))
                .collect(),
        }
    }

    pub(crate) fn print(&self, took: Duration) {
        for (id, visits, events) in &self.rolled_back {
            println!(
                "import {id} was interrupted before it finished: undone ({visits} visits, \
                 {events} events removed), and its files are read again"
            );
        }
        println!(
            "import {}: {} format{}",
            self.import_id,
            self.format,
            if self.detected { " (detected)" } else { "" }
        );
        for file in &self.files {
            println!("  {}: {}", file.name, file.note);
        }
        let skipped: u64 = self.skipped.iter().map(|(_, count)| count).sum();
        println!(
            "{} lines in {:.1} s ({:.0} lines/s): {} {} imported, {skipped} skipped, {} unreadable",
            self.lines,
            took.as_secs_f64(),
            self.lines as f64 / took.as_secs_f64().max(1e-3),
            self.imported,
            if self.format.starts_with("goatcounter") {
                "events"
            } else if self.format.starts_with("plausible") {
                "daily rows"
            } else {
                "page views"
            },
            self.unparsed
        );
        for (reason, count) in &self.skipped {
            println!("  skipped, {reason}: {count}");
        }
        for (file, line, err) in &self.first_errors {
            println!("  unreadable: {file} line {line}: {err}");
        }
        if self.cancelled {
            println!("stopped early: import the same files again to go on from here");
        }
    }
}

fn undo(store: &Store, id: i64) -> anyhow::Result<()> {
    let now = mallard_server::clock::now_ms();
    match store
        .writer()
        .rewrite_blocking(move |conn| mallard_store::imports::undo_import(conn, id, now))?
    {
        Undo::NotFound => bail!("there is no import {id} (see `mallard import list`)"),
        Undo::AlreadyUndone(at) => bail!(
            "import {id} was undone already, at {}",
            mallard_server::clock::rfc3339(at)
        ),
        Undo::Undone { visits, events } => {
            println!("import {id} undone: {visits} visits and {events} events removed");
            Ok(())
        }
    }
}

fn list(store: &Store) -> anyhow::Result<()> {
    let imports = store.reads().with(|db| db.imports())?;
    if imports.is_empty() {
        println!("no imports");
        return Ok(());
    }
    for import in imports {
        let period = match (import.counts.first_ts, import.counts.last_ts) {
            (Some(first), Some(last)) => format!(
                "{} to {}",
                mallard_server::clock::rfc3339(first),
                mallard_server::clock::rfc3339(last)
            ),
            _ => "no page views".to_owned(),
        };
        println!(
            "{}\t{}\t{} ({})\t{}\t{} lines, {} imported, {} unreadable, skipped {}\t{}\t{}",
            import.id,
            import.site,
            import.kind,
            import.format,
            mallard_server::clock::rfc3339(import.started_at),
            import.counts.lines,
            import.counts.imported,
            import.counts.unparsed,
            import.counts.skipped_json,
            period,
            match (import.undone_at, import.finished_at) {
                (Some(at), _) => format!("undone {}", mallard_server::clock::rfc3339(at)),
                (None, Some(_)) => "finished".to_owned(),
                (None, None) => "unfinished".to_owned(),
            },
        );
        for file in import.files {
            println!("\t{file}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_line_counts_skipped_lines_by_reason_most_first() {
        let line = progress_message(
            "access.log",
            2_500_000,
            Instant::now(),
            [1000, 460, 2],
            &[
                ("bot", 50),
                ("static file", 400),
                ("redirect", 0),
                ("error status", 88),
            ],
        );
        assert!(line.starts_with("access.log: 1000 lines ("), "{line}");
        assert!(
            line.ends_with(
                "2.5 MB), 460 imported, 538 skipped (static file 400, error status 88, bot 50), \
                 2 unreadable"
            ),
            "{line}"
        );
        let nothing_skipped = progress_message("-", 0, Instant::now(), [3, 3, 0], &[]);
        assert!(
            nothing_skipped.contains("3 imported, 0 skipped, 0 unreadable"),
            "{nothing_skipped}"
        );
    }
}
