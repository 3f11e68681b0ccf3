//! An HTTP load generator for ingestion: N keep-alive connections on loopback,
//! each sending the next request as soon as the previous one was answered,
//! with varied, realistic payloads, user agents and client addresses.
//!
//! It measures acknowledged events per second and latency percentiles, then the
//! rate of `GET /health` over the same connections for scale (what the machine
//! does with a request that touches no database).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use clap::Args;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::process::{ServerProcess, own_cpu_time, release_mallard};

/// Flags of `cargo xtask bench-http`.
#[derive(Debug, Args)]
pub struct BenchHttpArgs {
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Seconds of measurement per phase (after a 2-second warm-up).
    #[arg(long, default_value_t = 15)]
    seconds: u64,
    /// Worker threads of the load generator's runtime.
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// The ingestion path to load.
    #[arg(long, default_value = "/api/event")]
    path: String,
}

const USER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
];

const REFERRERS: &[&str] = &[
    "",
    "https://www.google.com/",
    "https://duckduckgo.com/",
    "https://news.ycombinator.com/item?id=4242",
    "https://t.co/abc",
    "https://www.reddit.com/r/rust/comments/x",
    "https://github.com/trending",
    "https://blog.example.org/post",
];

/// Runs the benchmark and prints the figures.
pub fn run(args: &BenchHttpArgs) -> anyhow::Result<()> {
    let bin = release_mallard()?;
    let home = tempfile::tempdir()?;
    let server = ServerProcess::start(
        &bin,
        home.path(),
        &[("MALLARD_TRUSTED_PROXIES", "127.0.0.1")],
    )?;
    let addr: SocketAddr = ([127, 0, 0, 1], server.port).into();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads.max(1))
        .enable_all()
        .build()?;
    let requests = Arc::new(build_requests(&args.path));
    let measure = |kind: Load, seconds: u64| -> anyhow::Result<Outcome> {
        let (server_before, client_before) = (server.cpu_time(), own_cpu_time());
        let mut outcome = runtime.block_on(load(
            addr,
            args.connections,
            Arc::clone(&requests),
            kind,
            &args.path,
            Duration::from_secs(seconds),
        ))?;
        let per_request = |before: Option<Duration>, after: Option<Duration>| {
            before
                .zip(after)
                .map(|(b, a)| (a - b).as_secs_f64() * 1e6 / outcome.ok.max(1) as f64)
        };
        outcome.server_cpu_us = per_request(server_before, server.cpu_time());
        outcome.client_cpu_us = per_request(client_before, own_cpu_time());
        Ok(outcome)
    };
    measure(Load::Ingest, 2)?;
    let ingest = measure(Load::Ingest, args.seconds)?;
    let health = measure(Load::Health, args.seconds.min(10))?;
    let rss = server.peak_rss_mib();
    let writer_stats = runtime.block_on(writer_summary(addr)).unwrap_or_default();
    server.stop()?;
    let cpu = std::thread::available_parallelism().map_or(0, usize::from);
    println!(
        "bench-http: {} connections, {} s per phase, {cpu} CPUs, client threads {}",
        args.connections, args.seconds, args.client_threads
    );
    println!(
        "  POST {}: {:.0} acknowledged events/s ({} events, {} errors)",
        args.path, ingest.rate, ingest.ok, ingest.errors
    );
    println!(
        "  latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}",
        ingest.quantile_ms(0.5),
        ingest.quantile_ms(0.9),
        ingest.quantile_ms(0.99),
        ingest.quantile_ms(0.999),
        ingest.quantile_ms(1.0)
    );
    println!(
        "  GET /health: {:.0} requests/s (p99 {:.2} ms)",
        health.rate,
        health.quantile_ms(0.99)
    );
    let cpu = |o: &Outcome| {
        format!(
            "server {:.1} us + client {:.1} us",
            o.server_cpu_us.unwrap_or(f64::NAN),
            o.client_cpu_us.unwrap_or(f64::NAN)
        )
    };
    println!(
        "  CPU per request: ingest {}; health {}",
        cpu(&ingest),
        cpu(&health)
    );
    println!(
        "  ingest/health ratio: {:.2}",
        ingest.rate / health.rate.max(1.0)
    );
    if let Some(rss) = rss {
        println!("  server peak RSS: {rss:.1} MiB");
    }
    println!("  {writer_stats}");
    Ok(())
}

/// The writer's mean batch size and commit time, from the server's /metrics.
async fn writer_summary(addr: SocketAddr) -> anyhow::Result<String> {
    let stream = TcpStream::connect(addr).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let request = Request::get("/metrics")
        .header("host", "127.0.0.1")
        .body(Full::new(Bytes::new()))?;
    let body = sender
        .send_request(request)
        .await?
        .into_body()
        .collect()
        .await?
        .to_bytes();
    let text = String::from_utf8_lossy(&body);
    let value = |name: &str| {
        text.lines()
            .find_map(|line| {
                line.strip_prefix(name)
                    .and_then(|rest| rest.trim().parse::<f64>().ok())
            })
            .unwrap_or(0.0)
    };
    let batches = value("mallard_writer_batch_events_count");
    let events = value("mallard_writer_batch_events_sum");
    let commit = value("mallard_writer_commit_seconds_sum");
    Ok(format!(
        "writer: {batches:.0} batches, mean {:.1} events/batch, mean commit {:.3} ms",
        events / batches.max(1.0),
        commit * 1000.0 / batches.max(1.0)
    ))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Load {
    Ingest,
    Health,
}

struct PreparedRequest {
    body: Bytes,
    user_agent: &'static str,
    forwarded_for: String,
}

/// 4,096 distinct events: varied sites' pages, referrers, widths, custom events.
fn build_requests(path: &str) -> Vec<PreparedRequest> {
    let collector = path.ends_with("/events");
    (0..4096u32)
        .map(|i| {
            let page = format!("/{}/{}", ["blog", "docs", "pricing", "about", "products"][i as usize % 5], i % 997);
            let referrer = REFERRERS[i as usize % REFERRERS.len()];
            let width = [390, 412, 820, 1280, 1440, 1920][i as usize % 6];
            let body = if collector {
                format!(
                    r#"{{"id":"00000000-0000-4000-8000-{i:012}","site_id":"bench.example","anon_id":"a{}","type":"pageview","url":"https://bench.example{page}","ts":0,"referrer":"{referrer}","context":{{"screen":{{"w":{width},"h":800}}}}}}"#,
                    i % 1500
                )
            } else if i % 20 == 0 {
                format!(r#"{{"d":"bench.example","n":"Signup","u":"https://bench.example{page}","r":"{referrer}","w":{width},"p":"{{\"plan\":\"pro\"}}"}}"#)
            } else {
                format!(r#"{{"d":"bench.example","n":"pageview","u":"https://bench.example{page}?utm_source=news","r":"{referrer}","w":{width}}}"#)
            };
            PreparedRequest {
                body: Bytes::from(body),
                user_agent: USER_AGENTS[i as usize % USER_AGENTS.len()],
                forwarded_for: format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255),
            }
        })
        .collect()
}

struct Outcome {
    ok: u64,
    errors: u64,
    rate: f64,
    latency: Histogram<u64>,
    server_cpu_us: Option<f64>,
    client_cpu_us: Option<f64>,
}

impl Outcome {
    fn quantile_ms(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1000.0
    }
}

async fn load(
    addr: SocketAddr,
    connections: usize,
    requests: Arc<Vec<PreparedRequest>>,
    kind: Load,
    path: &str,
    duration: Duration,
) -> anyhow::Result<Outcome> {
    let path: Arc<str> = Arc::from(path);
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = (0..connections)
        .map(|c| {
            tokio::spawn(connection(
                addr,
                Arc::clone(&requests),
                kind,
                Arc::clone(&path),
                c,
                deadline,
            ))
        })
        .collect();
    let mut outcome = Outcome {
        ok: 0,
        errors: 0,
        rate: 0.0,
        latency: Histogram::new(3)?,
        server_cpu_us: None,
        client_cpu_us: None,
    };
    for task in tasks {
        let (ok, errors, latency) = task.await??;
        outcome.ok += ok;
        outcome.errors += errors;
        outcome.latency.add(latency)?;
    }
    outcome.rate = outcome.ok as f64 / started.elapsed().as_secs_f64();
    Ok(outcome)
}

async fn connection(
    addr: SocketAddr,
    requests: Arc<Vec<PreparedRequest>>,
    kind: Load,
    path: Arc<str>,
    index: usize,
    deadline: Instant,
) -> anyhow::Result<(u64, u64, Histogram<u64>)> {
    let stream = TcpStream::connect(addr).await.context("connect")?;
    stream.set_nodelay(true)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let mut latency = Histogram::<u64>::new(3)?;
    let (mut ok, mut errors) = (0, 0);
    let mut next = index * 61;
    while Instant::now() < deadline {
        let prepared = &requests[next % requests.len()];
        next += 1;
        let request = match kind {
            Load::Ingest => Request::post(&*path)
                .header("host", "127.0.0.1")
                .header("content-type", "application/json")
                .header("user-agent", prepared.user_agent)
                .header("x-forwarded-for", &prepared.forwarded_for)
                .body(Full::new(prepared.body.clone()))?,
            Load::Health => Request::get("/health")
                .header("host", "127.0.0.1")
                .body(Full::new(Bytes::new()))?,
        };
        let sent = Instant::now();
        let response = sender.send_request(request).await?;
        let status = response.status();
        response.into_body().collect().await?;
        latency.record(sent.elapsed().as_micros() as u64)?;
        if status.is_success() {
            ok += 1;
        } else {
            errors += 1;
        }
    }
    Ok((ok, errors, latency))
}
