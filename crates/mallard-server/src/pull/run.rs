//! One pull of a remote from start to end: its sites (those named, or every
//! site the key reads), and for each the feed from its cursor on, a page per
//! transaction with the cursor, until the remote has nothing settled left.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mallard_core::SiteId;
use mallard_store::WriterHandle;
use mallard_store::remotes::{self, PulledPage};

use super::client::{FeedClient, PullError};
use super::events::{FeedEvents, Skipped};

/// How often a page that failed for a passing reason is asked again within
/// one pull, and how long it waits first (doubling).
const PAGE_RETRIES: u32 = 3;
const FIRST_RETRY_WAIT: Duration = Duration::from_millis(500);

/// What to pull.
#[derive(Debug, Clone)]
pub struct PullTarget {
    /// The remote's id in this store (`mallard_store::remotes`).
    pub remote_id: i64,
    /// Its base URL.
    pub url: String,
    /// The key the feed is read with.
    pub api_key: String,
    /// The remote's sites to pull; empty: every site the key reads.
    pub sites: Vec<String>,
    /// About how many events a page holds.
    pub page_events: usize,
    /// Set from elsewhere to stop after the page being written.
    pub cancel: Arc<AtomicBool>,
}

/// Progress as the pull goes.
#[derive(Debug, Clone, Copy)]
pub struct PullProgress<'a> {
    /// The remote site being pulled.
    pub site: &'a str,
    /// Events of it written by this pull so far.
    pub site_events: u64,
    /// Events of every site written by this pull so far.
    pub events: u64,
    /// The time of the latest event written (how far the history reaches).
    pub reached_ms: Option<i64>,
}

/// What a pull did for one site.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SiteReport {
    /// The remote site (and the local one of the same name).
    pub site: String,
    /// Events written.
    pub events: u64,
    /// Visits written.
    pub visits: u64,
    /// What was skipped and why.
    pub skipped: Skipped,
    /// The import (ledger) holding what was pulled of it.
    pub import_id: i64,
    /// Whether its newest visits wait until they are settled on the remote.
    pub waiting_for_open_visit: bool,
}

/// What a pull did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PullReport {
    /// Per site, in the order pulled.
    pub sites: Vec<SiteReport>,
}

impl PullReport {
    /// Events written for every site.
    pub fn events(&self) -> u64 {
        self.sites.iter().map(|s| s.events).sum()
    }
}

/// Pulls `target` through `writer` (the store's single writer, in a running
/// server or on a stopped install) until every site is caught up, calling
/// `progress` after every page. Blocking: call it from a blocking thread.
pub fn pull(
    writer: &WriterHandle,
    target: &PullTarget,
    progress: &mut dyn FnMut(PullProgress<'_>),
) -> Result<PullReport, PullError> {
    let client = FeedClient::new(&target.url, &target.api_key)?;
    let mut sites = with_retries(|| client.sites(), &target.cancel)?;
    if !target.sites.is_empty() {
        if let Some(missing) = target
            .sites
            .iter()
            .find(|wanted| !sites.iter().any(|(site, _)| site == *wanted))
        {
            return Err(PullError::UnknownSite {
                url: client.base().to_owned(),
                site: missing.clone(),
            });
        }
        sites.retain(|(site, _)| target.sites.contains(site));
    }
    let mut report = PullReport::default();
    let mut events_so_far = 0;
    for (site, zone) in sites {
        let local = SiteId::parse(&site).map_err(|err| PullError::NotMallard {
            url: client.base().to_owned(),
            reason: format!("site id {site:?}: {err}"),
        })?;
        let remote_id = target.remote_id;
        let name = site.clone();
        let zone = zone.name().to_owned();
        let start = writer.run_blocking(move |conn| {
            remotes::start_site(conn, remote_id, &name, &zone, crate::clock::now_ms())
        })?;
        let mut site_report = SiteReport {
            site: site.clone(),
            import_id: start.import_id,
            ..SiteReport::default()
        };
        let mut cursor = start.cursor;
        let mut reached_ms = None;
        loop {
            if target.cancel.load(Ordering::Relaxed) {
                return Err(PullError::Stopped);
            }
            let body = with_retries(
                || client.page(&site, cursor, target.page_events),
                &target.cancel,
            )?;
            let next: i64 = body.next.parse().map_err(|_| PullError::NotMallard {
                url: client.base().to_owned(),
                reason: format!("cursor {:?} is not a number", body.next),
            })?;
            if next < cursor || (next == cursor && body.more) {
                return Err(PullError::NotMallard {
                    url: client.base().to_owned(),
                    reason: format!("the feed went from cursor {cursor} to {next}"),
                });
            }
            let page = FeedEvents::of(&local, &body, crate::clock::now_ms());
            site_report.skipped.add(&page.skipped);
            if next > cursor {
                let pulled = PulledPage {
                    cursor: next,
                    events: page.events.len() as u64,
                    span: page.span,
                    visitors: page.visitors,
                };
                let (written, span) = (pulled.events, pulled.span);
                let (name, import_id) = (site.clone(), start.import_id);
                writer.insert_recorded_blocking(page.events, move |conn, _held| {
                    remotes::record_page(conn, remote_id, &name, import_id, &pulled)
                })?;
                site_report.events += written;
                site_report.visits += page.visits;
                events_so_far += written;
                reached_ms = span.map(|(_, last)| last).max(reached_ms);
                cursor = next;
            }
            progress(PullProgress {
                site: &site,
                site_events: site_report.events,
                events: events_so_far,
                reached_ms,
            });
            if !body.more {
                site_report.waiting_for_open_visit = body.waiting_for_open_visit;
                break;
            }
        }
        report.sites.push(site_report);
    }
    let remote_id = target.remote_id;
    writer
        .run_blocking(move |conn| remotes::finish_pull(conn, remote_id, crate::clock::now_ms()))?;
    Ok(report)
}

/// `request`, asked again a few times while it fails for a passing reason.
fn with_retries<T>(
    mut request: impl FnMut() -> Result<T, PullError>,
    cancel: &AtomicBool,
) -> Result<T, PullError> {
    let mut wait = FIRST_RETRY_WAIT;
    let mut tries = 0;
    loop {
        match request() {
            Err(err) if err.is_transient() && tries < PAGE_RETRIES => {
                if cancel.load(Ordering::Relaxed) {
                    return Err(err);
                }
                tracing::debug!(error = %err, "retrying a feed request");
                std::thread::sleep(wait);
                wait *= 2;
                tries += 1;
            }
            outcome => return outcome,
        }
    }
}
