//! `mallard sites list|delete`: the sites of an install, and deleting a site
//! with all its data or the visits of a date range. On a stopped install
//! the command opens the store itself (and purges a deleted site's data
//! before it returns); on a running one it asks the server, which purges in
//! the background.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use mallard_core::SiteId;
use mallard_store::Store;

use crate::CommonArgs;
use crate::local_server::LocalServer;

/// Flags of `mallard sites`.
#[derive(Debug, Args)]
pub struct SitesArgs {
    #[command(flatten)]
    common: CommonArgs,
    #[command(subcommand)]
    action: SitesAction,
}

#[derive(Debug, Subcommand)]
enum SitesAction {
    /// List the sites.
    List,
    /// Delete a site with all its data, or with --from and --to only the
    /// visits that started on those days (the site's time zone).
    Delete {
        /// The site (its domain).
        site: String,
        /// The first day to delete, YYYY-MM-DD.
        #[arg(long, requires = "to")]
        from: Option<String>,
        /// The last day to delete (included), YYYY-MM-DD.
        #[arg(long, requires = "from")]
        to: Option<String>,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

/// Runs the command against the store or the running server.
pub fn run(args: SitesArgs) -> anyhow::Result<()> {
    let config = args.common.load(None, None)?;
    if let SitesAction::Delete {
        site,
        from,
        to,
        yes,
    } = &args.action
    {
        SiteId::parse(site).map_err(|e| anyhow::anyhow!("{site}: {e}"))?;
        if let (Some(from), Some(to)) = (from, to) {
            for (flag, date) in [("--from", from), ("--to", to)] {
                if mallard_core::period::parse_date(date).is_none() {
                    bail!("{flag} must be a date, YYYY-MM-DD");
                }
            }
        }
        if !yes {
            confirm(site, from.as_deref().zip(to.as_deref()))?;
        }
    }
    crate::local_server::on_store_or_server(
        &config.data_dir,
        |store| offline(store, &args.action),
        |dir| online(dir, &args.action),
    )
}

/// Asks the person at the terminal to type the site's domain.
fn confirm(site: &str, range: Option<(&str, &str)>) -> anyhow::Result<()> {
    if !std::io::stdin().is_terminal() {
        bail!("deleting data cannot be undone: pass --yes to delete without being asked");
    }
    match range {
        Some((from, to)) => eprint!(
            "Delete every visit of {site} that started from {from} to {to}, with its events? \
             This cannot be undone. Type the site's name to confirm: "
        ),
        None => eprint!(
            "Delete {site} and all its data? This cannot be undone. Type the site's name to \
             confirm: "
        ),
    }
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if answer.trim() != site {
        bail!("not confirmed; nothing was deleted");
    }
    Ok(())
}

fn offline(store: &Store, action: &SitesAction) -> anyhow::Result<()> {
    let writer = store.writer();
    match action {
        SitesAction::List => {
            let sites = store.reads().with(|db| db.sites())?;
            for site in sites {
                println!("{}\t{}", site.domain, site.time_zone);
            }
        }
        SitesAction::Delete {
            site,
            from: Some(from),
            to: Some(to),
            ..
        } => {
            let (from, to) = (day(from)?, day(to)?);
            if from > to {
                bail!("--from must not be after --to");
            }
            let domain = site.clone();
            let info = store
                .reads()
                .with(move |db| db.stats_site(&domain))?
                .with_context(|| format!("no site {site}"))?;
            let span = (
                info.time_zone.day_start_ms(from),
                info.time_zone.day_start_ms(to + 1),
            );
            let now = mallard_server::clock::now_ms();
            let deleted = mallard_store::deletion::delete_range_blocking(&writer, site, span, now)?
                .with_context(|| format!("no site {site}"))?;
            println!(
                "Deleted {} visits ({} events) of {site}.",
                deleted.visits, deleted.events
            );
        }
        SitesAction::Delete { site, .. } => {
            let now = mallard_server::clock::now_ms();
            mallard_store::deletion::delete_site_blocking(&writer, site, now)?
                .with_context(|| format!("no site {site}"))?;
            mallard_store::deletion::purge_blocking(&writer, |_| {})?;
            println!("Deleted {site} and all its data.");
        }
    }
    Ok(())
}

fn day(date: &str) -> anyhow::Result<i64> {
    mallard_core::period::parse_date(date).with_context(|| format!("{date} is not a date"))
}

fn online(data_dir: &std::path::Path, action: &SitesAction) -> anyhow::Result<()> {
    let server = LocalServer::discover(data_dir)?;
    match action {
        SitesAction::List => {
            let sites = server.get("/api/sites")?;
            for site in sites.as_array().into_iter().flatten() {
                println!(
                    "{}\t{}",
                    site["site_id"].as_str().unwrap_or_default(),
                    site["time_zone"].as_str().unwrap_or_default()
                );
            }
        }
        SitesAction::Delete {
            site,
            from: Some(from),
            to: Some(to),
            ..
        } => {
            let deleted = server.delete(&format!("/api/sites/{site}/data?from={from}&to={to}"))?;
            println!(
                "Deleted {} visits ({} events) of {site}.",
                deleted["visits"], deleted["events"]
            );
        }
        SitesAction::Delete { site, .. } => {
            server.delete(&format!("/api/sites/{site}"))?;
            println!("Deleted {site}; the server purges its data in the background.");
        }
    }
    Ok(())
}
