//! The concurrency scenario: N clients each send filtered 12-month queries,
//! one after another, while other connections post events to `/api/event`
//! (the payloads of `cargo xtask bench-http`, site `bench.example`, all from
//! 127.0.0.1: the server trusts no proxy here, as open access needs) until the
//! queries are done. What a dashboard does when someone clicks filters while
//! the site receives traffic.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::client::KeepAlive;
use super::plan::{FILTER_SETS, Period, QUERIES, request_path};
use super::report::percentile;
use crate::bench_http::{ClientAddresses, PreparedRequest, build_requests};

/// The queries the concurrent clients take in turn (client i the i-th, with
/// filter set 1 + i mod 4).
const CONCURRENT_QUERIES: &[&str] = &[
    "main",
    "pages",
    "sources",
    "timeseries",
    "countries",
    "browsers",
    "referrers",
    "entry_pages",
];

/// What the scenario measured.
#[derive(Debug)]
pub struct Concurrency {
    /// Query latencies in milliseconds (answers with status 200).
    pub millis: Vec<f64>,
    /// Statuses other than 200, and 0 for failed connections.
    pub failures: Vec<u16>,
    /// Events acknowledged while the queries ran.
    pub events: u64,
    /// Events not acknowledged.
    pub event_errors: u64,
    /// How long the queries took, all together, in seconds.
    pub seconds: f64,
    /// The queries sent, as `name filters`.
    pub queries: Vec<String>,
}

impl Concurrency {
    /// One paragraph of results.
    pub fn summary(&self, clients: usize) -> String {
        let mut sorted = self.millis.clone();
        sorted.sort_by(f64::total_cmp);
        let failures = if self.failures.is_empty() {
            "none failed".to_owned()
        } else {
            format!(
                "{} failed (statuses {:?})",
                self.failures.len(),
                self.failures
            )
        };
        format!(
            "{clients} concurrent filtered 12-month queries: {} answered in {:.1} s, p50 {:.0} ms, p90 {:.0} ms, max {:.0} ms; {failures}\n\
             ingestion meanwhile: {} events acknowledged ({:.0}/s), {} errors",
            self.millis.len(),
            self.seconds,
            percentile(&sorted, 0.5),
            percentile(&sorted, 0.9),
            sorted.last().copied().unwrap_or(f64::NAN),
            self.events,
            self.events as f64 / self.seconds.max(1e-9),
            self.event_errors,
        )
    }
}

/// Runs `clients` query clients of `rounds` queries each against `site`,
/// with `ingest_connections` posting events meanwhile.
pub async fn run(
    addr: SocketAddr,
    site: &str,
    clients: usize,
    rounds: usize,
    ingest_connections: usize,
) -> anyhow::Result<Concurrency> {
    let stop = Arc::new(AtomicBool::new(false));
    let requests = Arc::new(build_requests(
        "/api/event",
        false,
        None,
        ClientAddresses::Public,
    ));
    let posters: Vec<_> = (0..ingest_connections)
        .map(|index| {
            tokio::spawn(post_events(
                addr,
                Arc::clone(&requests),
                index,
                Arc::clone(&stop),
            ))
        })
        .collect();
    let started = Instant::now();
    let mut queries = Vec::new();
    let askers: Vec<_> = (0..clients)
        .map(|index| {
            let name = CONCURRENT_QUERIES[index % CONCURRENT_QUERIES.len()];
            let query = QUERIES.iter().find(|q| q.name == name).copied();
            let filters = FILTER_SETS[1 + index % (FILTER_SETS.len() - 1)].filters;
            queries.push(format!("{name} {filters}"));
            let target = query.map(|q| request_path(&q, site, Period::Months12, filters));
            tokio::spawn(async move {
                let target = target.ok_or_else(|| anyhow::anyhow!("no query {name}"))?;
                let mut client = KeepAlive::new(addr);
                let mut outcomes = Vec::with_capacity(rounds);
                for _ in 0..rounds {
                    outcomes.push(match client.get(&target).await {
                        Ok(answer) => (answer.status, answer.elapsed.as_secs_f64() * 1e3),
                        Err(_) => (0, f64::NAN),
                    });
                }
                anyhow::Ok(outcomes)
            })
        })
        .collect();
    let mut millis = Vec::new();
    let mut failures = Vec::new();
    for asker in askers {
        for (status, ms) in asker.await?? {
            if status == 200 {
                millis.push(ms);
            } else {
                failures.push(status);
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let (mut events, mut event_errors) = (0, 0);
    for poster in posters {
        let (ok, errors) = poster.await?;
        events += ok;
        event_errors += errors;
    }
    Ok(Concurrency {
        millis,
        failures,
        events,
        event_errors,
        seconds,
        queries,
    })
}

/// Posts events over one keep-alive connection until `stop`; returns the
/// acknowledged and the failed ones.
async fn post_events(
    addr: SocketAddr,
    requests: Arc<Vec<PreparedRequest>>,
    index: usize,
    stop: Arc<AtomicBool>,
) -> (u64, u64) {
    let mut client = KeepAlive::new(addr);
    let (mut ok, mut errors) = (0, 0);
    let mut next = index * 61;
    while !stop.load(Ordering::Relaxed) {
        let request = &requests[next % requests.len()];
        next += 1;
        let headers = [
            ("content-type", "application/json"),
            ("user-agent", request.user_agent),
            ("x-forwarded-for", request.forwarded_for.as_str()),
        ];
        match client
            .send("POST", "/api/event", request.body.clone(), &headers)
            .await
        {
            Ok(answer) if (200..300).contains(&answer.status) => ok += 1,
            _ => errors += 1,
        }
    }
    (ok, errors)
}
