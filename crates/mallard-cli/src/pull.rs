//! `mallard pull URL --key mm_…`: brings a remote Mallard's events into
//! this install, so that a site collected on a server has its whole history
//! offline on the laptop. The remote is remembered (Settings → Remote
//! servers shows it). While a server holds the data directory, the command
//! hands the remote to it (which pulls now, and with `--every` on that
//! interval) and follows the pull; on a stopped install it pulls itself,
//! and with `--every` goes on pulling until stopped, backing off while the
//! remote cannot be reached.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use mallard_server::pull::{PullError, PullProgress, PullReport, PullTarget, pull_and_note};
use mallard_store::Store;
use mallard_store::remotes;
use serde_json::json;

use crate::CommonArgs;
use crate::local_server::LocalServer;

/// Events per feed page.
const PAGE_EVENTS: usize = 5_000;
/// The first wait after a passing failure with `--every`.
const FIRST_BACKOFF: Duration = Duration::from_secs(10);

/// Flags of `mallard pull`.
#[derive(Debug, Args)]
pub struct PullArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// The remote Mallard's base URL, e.g. https://stats.example.com.
    url: String,
    /// An API key of the remote server with at least the ReadOnly scope.
    #[arg(long, env = "MALLARD_PULL_KEY", hide_env_values = true)]
    key: String,
    /// A remote site to pull (repeat for several); default: every site the
    /// key can read.
    #[arg(long = "site", value_name = "SITE")]
    sites: Vec<String>,
    /// Pull again on this interval (e.g. 10m, 1h), from 1m to 7 days.
    #[arg(long, value_parser = humantime::parse_duration)]
    every: Option<Duration>,
}

/// Runs the command against the store or the running server.
pub fn run(args: PullArgs) -> anyhow::Result<()> {
    let config = args.common.load(None, None)?;
    let every = args
        .every
        .map(|every| {
            let secs = every.as_secs();
            if (60..=7 * 24 * 60 * 60).contains(&secs) {
                Ok(secs)
            } else {
                Err(anyhow::anyhow!("--every must be from 1m to 7d"))
            }
        })
        .transpose()?;
    // The URL as the server stores it, checked before anything is written.
    let url = mallard_server::pull::base_url(&args.url)?;
    crate::local_server::on_store_or_server(
        &config.data_dir,
        |store| offline(store, &args, &url, every),
        |dir| online(dir, &args, &url, every),
    )
}

/// Pulls on the stopped install itself.
fn offline(store: &Store, args: &PullArgs, url: &str, every: Option<u64>) -> anyhow::Result<()> {
    let writer = store.writer();
    let (url_owned, key, sites) = (
        url.to_owned(),
        args.key.trim().to_owned(),
        args.sites.clone(),
    );
    let remote_id = writer.run_blocking(move |conn| {
        remotes::save(
            conn,
            &url_owned,
            &key,
            &sites,
            every.map(|s| s as i64),
            mallard_server::clock::now_ms(),
        )
    })?;
    let target = PullTarget {
        remote_id,
        url: url.to_owned(),
        api_key: args.key.trim().to_owned(),
        sites: args.sites.clone(),
        page_events: PAGE_EVENTS,
        cancel: Arc::new(AtomicBool::new(false)),
    };
    let mut backoff = FIRST_BACKOFF;
    loop {
        let bar = crate::import::progress_bar();
        let outcome = pull_and_note(&writer, &target, &mut |progress| {
            bar.set_message(progress_line(&progress));
        });
        bar.finish_and_clear();
        if outcome.as_ref().is_ok_and(|report| report.events() > 0) {
            settle(&writer)?;
        }
        let Some(every) = every else {
            let report = outcome.with_context(|| format!("pulling from {url} failed"))?;
            print_report(&report);
            return Ok(());
        };
        let wait = match outcome {
            Ok(report) => {
                print_report(&report);
                backoff = FIRST_BACKOFF;
                Duration::from_secs(every)
            }
            Err(err @ PullError::Refused { .. } | err @ PullError::BadUrl(_)) => {
                bail!("pulling from {url} failed: {err}")
            }
            Err(err) => {
                let wait = backoff.min(Duration::from_secs(every));
                eprintln!(
                    "pulling from {url} failed: {err}; trying again in {}",
                    humantime::format_duration(wait)
                );
                backoff *= 2;
                wait
            }
        };
        std::thread::sleep(wait);
    }
}

/// Packs the closed days the pull wrote as rows into day segments and gives
/// the pages that freed back to the file system, as a server would over
/// its next minutes (a stopped install has no server to do it).
fn settle(writer: &mallard_store::WriterHandle) -> anyhow::Result<()> {
    let bar = crate::import::progress_bar();
    bar.set_message("packing the pulled days…");
    writer.pack_closed_days_blocking()?;
    mallard_store::deletion::reclaim_blocking(writer)?;
    bar.finish_and_clear();
    Ok(())
}

/// Hands the remote to the running server and follows its pull.
fn online(
    dir: &std::path::Path,
    args: &PullArgs,
    url: &str,
    every: Option<u64>,
) -> anyhow::Result<()> {
    let server = LocalServer::discover(dir)?;
    let saved = server.post(
        "/api/remotes",
        &json!({
            "url": url,
            "api_key": args.key.trim(),
            "sites": args.sites,
            "every_secs": every,
        }),
    )?;
    let id = saved["id"]
        .as_i64()
        .context("the server did not answer a remote id")?;
    let before = saved["events_pulled"].as_i64().unwrap_or(0);
    let bar = crate::import::progress_bar();
    // The server marks the remote queued before it answers, and running
    // from the moment the pull is taken until it ended.
    let remote = loop {
        std::thread::sleep(Duration::from_millis(300));
        let listed = server.get("/api/remotes")?;
        let remote = listed
            .as_array()
            .and_then(|all| all.iter().find(|r| r["id"].as_i64() == Some(id)))
            .cloned()
            .context("the remote server was removed meanwhile")?;
        match remote.get("running").filter(|r| !r.is_null()) {
            Some(running) => bar.set_message(format!(
                "{}: {} events{}",
                running["site"].as_str().unwrap_or(""),
                running["events"].as_u64().unwrap_or(0),
                running["reached"]
                    .as_str()
                    .map(|at| format!(" (up to {at})"))
                    .unwrap_or_default()
            )),
            None if remote["queued"].as_bool() == Some(true) => {}
            None => break remote,
        }
    };
    bar.finish_and_clear();
    if let Some(error) = remote["last_error"].as_str() {
        bail!("pulling from {url} failed: {error}");
    }
    let pulled = remote["events_pulled"].as_i64().unwrap_or(0) - before;
    println!("Pulled {pulled} events from {url} (through the running server).");
    if let Some(secs) = every {
        println!(
            "The server pulls again every {}.",
            humantime::format_duration(Duration::from_secs(secs))
        );
    }
    Ok(())
}

fn progress_line(progress: &PullProgress<'_>) -> String {
    let reached = progress
        .reached_ms
        .map(|ms| format!(" (up to {})", mallard_server::clock::rfc3339(ms)))
        .unwrap_or_default();
    format!(
        "{}: {} events{reached}",
        progress.site, progress.site_events
    )
}

fn print_report(report: &PullReport) {
    if report.sites.is_empty() {
        println!("The key reads no site on the remote server.");
    }
    for site in &report.sites {
        let skipped = site.skipped.total();
        let skipped = if skipped == 0 {
            String::new()
        } else {
            let reasons: Vec<String> = site
                .skipped
                .0
                .iter()
                .map(|(reason, n)| format!("{n} {reason}"))
                .collect();
            format!(", skipped {skipped} ({})", reasons.join(", "))
        };
        let waiting = if site.waiting_for_open_visit {
            "; visits still open on the remote come with a later pull"
        } else {
            ""
        };
        println!(
            "{}: pulled {} events in {} visits (import {}){skipped}{waiting}",
            site.site, site.events, site.visits, site.import_id
        );
    }
}
