//! `mallard import logs|list`: traffic from server access logs.
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
//! `import list` shows every import.
//!
//! Both work on a stopped install (they open the data directory). Importing
//! into a running server goes through its API in a later version; until
//! then the command says to stop the server first.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use mallard_core::SiteId;
use mallard_core::access_log::{ExcludePattern, FormatChoice, LogFilter};
use mallard_geo::Geolocator;
use mallard_server::import::{FileOutcome, ImportReport, LogImportRequest, Progress, import_logs};
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
    /// List every import, newest first.
    List,
}

/// Flags of `mallard import logs`.
#[derive(Debug, Args)]
struct LogsArgs {
    /// The site the logs are of (its domain, as events name it).
    #[arg(long)]
    site: String,
    /// auto, combined, common, combined-vhost, caddy, cloudfront, bunny, or
    /// 'log:<fields>' (e.g. 'log:$remote_addr [$datetime] "$request" $status').
    #[arg(long, default_value = "auto")]
    format: FormatChoice,
    /// Paths not to count: glob:PATTERN (the default), re:REGEX, and with a
    /// leading ! the only paths to count. Repeatable.
    #[arg(long = "exclude", value_name = "PATTERN")]
    exclude: Vec<String>,
    /// Count requests for static files (CSS, scripts, images, ...) too.
    #[arg(long)]
    include_static: bool,
    /// The log files (plain or gzip); - reads standard input.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

/// Runs the command.
pub fn run(args: ImportArgs) -> anyhow::Result<()> {
    let config = args.common.load(None, None)?;
    let store = match Store::open(&config.data_dir, StoreOptions::default()) {
        Ok(store) => store,
        Err(StoreError::Locked(_)) => bail!(
            "a Mallard server is running on {}; stop it, import, and start it again \
             (importing into a running server comes in a later version)",
            config.data_dir.display()
        ),
        Err(err) => {
            return Err(err).with_context(|| format!("cannot open {}", config.data_dir.display()));
        }
    };
    let result = match args.action {
        ImportAction::Logs(logs) => import(&store, &config, *logs),
        ImportAction::List => list(&store),
    };
    store.close();
    result
}

fn import(store: &Store, config: &mallard_server::Config, args: LogsArgs) -> anyhow::Result<()> {
    let site = SiteId::parse(&args.site).context("invalid --site")?;
    let patterns = args
        .exclude
        .iter()
        .map(|pattern| ExcludePattern::parse(pattern).map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let geolocator = Arc::new(match &config.geoip_database {
        Some(path) => Geolocator::open(path)?,
        None => Geolocator::bundled()?,
    });
    let saved = store.reads().with(|db| db.dashboard_settings())?;
    let filter_bots = mallard_server::settings::LiveSettings::new(config, &saved)
        .get()
        .filter_bots;
    let request = LogImportRequest {
        site,
        format: args.format,
        filter: LogFilter::new(args.include_static, patterns),
        filter_bots,
        inputs: args.files,
    };
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let started = Instant::now();
    let mut show = |progress: Progress<'_>| {
        let counts = progress.counts;
        let rate = counts.lines as f64 / started.elapsed().as_secs_f64().max(1e-3);
        bar.set_message(format!(
            "{}: {} lines ({:.0}/s, {:.1} MB), {} imported, {} skipped, {} unreadable",
            progress.file,
            counts.lines,
            rate,
            progress.offset as f64 / 1e6,
            counts.imported,
            counts.skipped_total(),
            counts.unparsed
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
    print_report(&report, started.elapsed());
    Ok(())
}

fn print_report(report: &ImportReport, took: Duration) {
    let counts = &report.counts;
    println!(
        "import {}: {} format{}",
        report.import_id,
        report.format,
        if report.detected { " (detected)" } else { "" }
    );
    for (name, outcome) in &report.files {
        let note = match outcome {
            FileOutcome::New => "read".to_owned(),
            FileOutcome::Resumed(line) => {
                format!("read from line {line} (earlier lines were imported before)")
            }
            FileOutcome::Known => "nothing new (imported before)".to_owned(),
            FileOutcome::Unreadable(err) => format!("unreadable: {err}"),
        };
        println!("  {name}: {note}");
    }
    println!(
        "{} lines in {:.1} s ({:.0} lines/s): {} page views imported, {} skipped, {} unreadable",
        counts.lines,
        took.as_secs_f64(),
        counts.lines as f64 / took.as_secs_f64().max(1e-3),
        counts.imported,
        counts.skipped_total(),
        counts.unparsed
    );
    for (reason, count) in &counts.skipped {
        println!("  skipped, {}: {count}", reason.name());
    }
    for (line, file, err) in &counts.first_errors {
        println!("  unreadable: {file} line {line}: {err}");
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
            if import.finished_at.is_some() {
                "finished"
            } else {
                "unfinished"
            },
        );
        for file in import.files {
            println!("\t{file}");
        }
    }
    Ok(())
}
