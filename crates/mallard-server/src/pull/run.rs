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
use crate::routes::feed::FeedVisitBody;

/// How often a page that failed for a passing reason is asked again within
/// one pull, and how long it waits first (doubling).
const PAGE_RETRIES: u32 = 3;
const FIRST_RETRY_WAIT: Duration = Duration::from_millis(500);

/// The events written per transaction: a live event waits behind at most
/// one such transaction.
const WRITE_CHUNK_EVENTS: usize = 500;

/// The longest the pull steps aside for live events after a chunk.
const MAX_YIELD: Duration = Duration::from_millis(100);

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
            if body
                .visits
                .iter()
                .any(|visit| visit.id <= cursor || visit.id > next)
                || body.visits.windows(2).any(|w| w[0].id >= w[1].id)
            {
                return Err(PullError::NotMallard {
                    url: client.base().to_owned(),
                    reason: format!("the visits of the page after {cursor} are not in order"),
                });
            }
            // A page is written in transactions of whole visits, each with
            // the cursor after its last visit, so that live events never wait
            // long behind a pull.
            // Every visit is in (cursor, next]: a page that does not move
            // the cursor has none, and there is nothing to write.
            let chunks = if next > cursor {
                write_chunks(&body.visits)
            } else {
                Vec::new()
            };
            let last = chunks.len().saturating_sub(1);
            for (at, visits) in chunks.into_iter().enumerate() {
                let chunk_cursor = if at == last {
                    next
                } else {
                    visits.last().map_or(next, |visit| visit.id)
                };
                let chunk = FeedEvents::of(&local, visits, crate::clock::now_ms());
                site_report.skipped.add(&chunk.skipped);
                let pulled = PulledPage {
                    cursor: chunk_cursor,
                    events: chunk.events.len() as u64,
                    span: chunk.span,
                    visitors: chunk.visitors,
                };
                let (written, span) = (pulled.events, pulled.span);
                let (name, import_id) = (site.clone(), start.import_id);
                let began = std::time::Instant::now();
                writer.insert_recorded_blocking(chunk.events, move |conn, _held| {
                    remotes::record_page(conn, remote_id, &name, import_id, &pulled)
                })?;
                // Live events come first: while some wait, the pull takes at
                // most half of the writer's time.
                if writer.queued_events() > 0 {
                    std::thread::sleep(began.elapsed().min(MAX_YIELD));
                }
                site_report.events += written;
                site_report.visits += chunk.visits;
                events_so_far += written;
                reached_ms = span.map(|(_, last)| last).max(reached_ms);
                cursor = chunk_cursor;
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

/// [`pull`], with the attempt and how it ended noted on the remote
/// (`last_attempt_at`, then `last_success_at` or `last_error`), as the
/// server's schedule and `mallard pull` both keep them.
pub fn pull_and_note(
    writer: &WriterHandle,
    target: &PullTarget,
    progress: &mut dyn FnMut(PullProgress<'_>),
) -> Result<PullReport, PullError> {
    let remote_id = target.remote_id;
    let started = crate::clock::now_ms();
    writer.run_blocking(move |conn| remotes::note_attempt(conn, remote_id, started))?;
    let outcome = pull(writer, target, progress);
    let error = outcome.as_ref().err().map(ToString::to_string);
    let ended = crate::clock::now_ms();
    writer.run_blocking(move |conn| {
        remotes::note_outcome(conn, remote_id, ended, error.as_deref())
    })?;
    outcome
}

/// The visits of a page in runs of whole visits of about
/// [`WRITE_CHUNK_EVENTS`] events (a visit larger than that alone); one
/// empty run for a page without visits, so that its cursor is still stored.
fn write_chunks(visits: &[FeedVisitBody]) -> Vec<&[FeedVisitBody]> {
    let mut chunks = Vec::new();
    let (mut from, mut events) = (0, 0);
    for (at, visit) in visits.iter().enumerate() {
        if events > 0 && events + visit.events.len() > WRITE_CHUNK_EVENTS {
            chunks.push(&visits[from..at]);
            (from, events) = (at, 0);
        }
        events += visit.events.len();
    }
    chunks.push(&visits[from..]);
    chunks
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

#[cfg(test)]
mod tests {
    use super::*;

    fn visit(id: i64, events: usize) -> FeedVisitBody {
        let event = crate::routes::feed::FeedEventBody {
            origin_id: format!("{id}-0"),
            ts: 0,
            name: "pageview".into(),
            hostname: "a.test".into(),
            pathname: "/".into(),
            props: Default::default(),
            revenue_micros: None,
            currency: None,
        };
        FeedVisitBody {
            id,
            visitor: "1".into(),
            source: None,
            referrer: None,
            utm_source: None,
            utm_medium: None,
            utm_campaign: None,
            utm_term: None,
            utm_content: None,
            browser: None,
            browser_version: None,
            os: None,
            os_version: None,
            device: "Desktop".into(),
            screen_width: None,
            country: None,
            region: None,
            city: None,
            is_bot: false,
            is_internal: false,
            events: vec![event; events],
        }
    }

    #[test]
    fn a_page_is_written_in_runs_of_whole_visits() {
        let visits = vec![
            visit(1, 300),
            visit(2, 300),
            visit(3, 900),
            visit(4, 1),
            visit(5, 499),
        ];
        let sizes: Vec<Vec<i64>> = write_chunks(&visits)
            .iter()
            .map(|run| run.iter().map(|v| v.id).collect())
            .collect();
        assert_eq!(sizes, vec![vec![1], vec![2], vec![3], vec![4, 5]]);
        assert_eq!(
            write_chunks(&[]).len(),
            1,
            "an empty page still moves its cursor"
        );
    }
}
