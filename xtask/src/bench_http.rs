//! An HTTP load generator for ingestion: N keep-alive connections on loopback,
//! each sending the next request as soon as the previous one was answered,
//! with varied, realistic payloads, user agents and client addresses.
//!
//! It measures acknowledged events per second and latency percentiles, then the
//! rate of `GET /health` over the same connections for scale (what the machine
//! does with a request that touches no database).
//!
//! The load generator always runs as an optimized build (a debug `cargo xtask`
//! builds and runs its release twin), so its own cost per request stays well
//! below the server's on the shared cores.

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

use crate::process::{ServerProcess, own_cpu_time, release_mallard, rerun_optimized};

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
    /// Serve this existing data directory (e.g. a seeded 10M-event database)
    /// instead of an empty one; events are added to it.
    #[arg(long)]
    data_dir: Option<std::path::PathBuf>,
    /// The ingestion path to load.
    #[arg(long, default_value = "/api/event")]
    path: String,
    /// Send gzip-compressed bodies (`Content-Encoding: gzip`).
    #[arg(long)]
    gzip: bool,
    /// Collector paths only: how requests authenticate. `site` sends the site
    /// id as the bearer (legacy flow of the default `tag` mode); `key` mints a
    /// workspace api key over `/admin/api-keys` and sends it with `X-Site-Id`.
    #[arg(long, value_enum, default_value_t = CollectorAuth::Site)]
    auth: CollectorAuth,
    /// Where the clients' forwarded addresses come from: `public` addresses
    /// (looked up in the country database, as real traffic is) or `private`
    /// ones (10.0.0.0/8, never looked up): running both measures what
    /// geolocation costs ingestion.
    #[arg(long, value_enum, default_value_t = ClientAddresses::Public)]
    addresses: ClientAddresses,
}

/// Where the benchmark's client addresses come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ClientAddresses {
    /// Addresses spread over the public IPv4 space.
    Public,
    /// Addresses in 10.0.0.0/8.
    Private,
}

/// First octets of IPv4 blocks with no private, shared, loopback,
/// link-local, documentation or reserved part.
const PUBLIC_FIRST_OCTETS: [u8; 12] = [2, 5, 31, 41, 62, 81, 88, 104, 151, 185, 201, 213];

/// The forwarded address of client number `n` (0..4096).
fn client_address(n: u32, addresses: ClientAddresses) -> String {
    match addresses {
        ClientAddresses::Private => {
            format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255)
        }
        ClientAddresses::Public => {
            // A multiplicative hash spreads the clients over many blocks.
            let spread = n.wrapping_mul(2_654_435_761);
            let first = PUBLIC_FIRST_OCTETS[n as usize % PUBLIC_FIRST_OCTETS.len()];
            format!(
                "{first}.{}.{}.{}",
                (spread >> 16) & 255,
                (spread >> 8) & 255,
                (spread & 254) + 1
            )
        }
    }
}

/// How collector benchmark requests authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum CollectorAuth {
    /// The site id as the bearer.
    Site,
    /// A minted `lk_live_` key plus `X-Site-Id`.
    Key,
}

/// The admin token of the benchmark's own server (collector `--auth key`).
const BENCH_ADMIN_TOKEN: &str = "bench-admin-token";

/// Distinct collector events: each has its own `id` and each connection sends
/// its own share of them, so none is deduplicated within a run of up to this
/// many requests.
const COLLECTOR_EVENTS: u32 = 1 << 19;

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
    if let Some(outcome) = rerun_optimized() {
        return outcome;
    }
    let bin = release_mallard()?;
    let home = tempfile::tempdir()?;
    let collector = args.path.ends_with("/events");
    // The per-credential gate (1000/s by default) would cap a benchmark that
    // sends everything with one credential; it is raised for the measurement.
    let server = ServerProcess::start(
        &bin,
        home.path(),
        args.data_dir.as_deref(),
        &[
            ("MALLARD_TRUSTED_PROXIES", "127.0.0.1"),
            ("ADMIN_TOKEN", BENCH_ADMIN_TOKEN),
            ("RATE_LIMIT_KEY_RPS", "1000000"),
            ("RATE_LIMIT_KEY_BURST", "1000000"),
        ],
    )?;
    let addr: SocketAddr = ([127, 0, 0, 1], server.port).into();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads.max(1))
        .enable_all()
        .build()?;
    let bearer = match (collector, args.auth) {
        (false, _) => None,
        (true, CollectorAuth::Site) => Some("bench.example".to_owned()),
        (true, CollectorAuth::Key) => Some(runtime.block_on(mint_key(addr))?),
    };
    let requests = Arc::new(build_requests(
        &args.path,
        args.gzip,
        bearer.as_deref(),
        args.addresses,
    ));
    let measure = |kind: Load, seconds: u64| -> anyhow::Result<Outcome> {
        let (server_before, client_before) = (server.cpu_time(), own_cpu_time());
        let writer_before = server.writer_cpu_time();
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
        outcome.writer_cpu_us = per_request(writer_before, server.writer_cpu_time());
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
        "bench-http: {} connections, {} s per phase, {cpu} CPUs, client threads {}, \
         {:?} client addresses, gzip {}{}",
        args.connections,
        args.seconds,
        args.client_threads,
        args.addresses,
        args.gzip,
        if collector {
            format!(", auth {:?}", args.auth).to_lowercase()
        } else {
            String::new()
        }
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
            "server {:.1} us (writer thread {:.1}) + client {:.1} us",
            o.server_cpu_us.unwrap_or(f64::NAN),
            o.writer_cpu_us.unwrap_or(f64::NAN),
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

/// One ingestion request, prepared before the measurement.
pub(crate) struct PreparedRequest {
    /// The JSON body (gzip-compressed with `--gzip`).
    pub(crate) body: Bytes,
    /// The `User-Agent` header.
    pub(crate) user_agent: &'static str,
    /// The `X-Forwarded-For` header: the client's address.
    pub(crate) forwarded_for: String,
    /// Further header lines, each ending in CRLF (e.g. authorization).
    extra_headers: String,
}

/// Mints a workspace api key with `ingest:write` on the benchmark's server.
async fn mint_key(addr: SocketAddr) -> anyhow::Result<String> {
    let stream = TcpStream::connect(addr).await.context("connect")?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let body = r#"{"workspace_id":"00000000-0000-4000-8000-00000000be4c","name":"bench","scopes":["ingest:write"]}"#;
    let request = Request::post("/admin/api-keys")
        .header("host", "127.0.0.1")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {BENCH_ADMIN_TOKEN}"))
        .body(Full::new(Bytes::from_static(body.as_bytes())))?;
    let response = sender.send_request(request).await?;
    anyhow::ensure!(
        response.status().as_u16() == 201,
        "minting a key failed: {}",
        response.status()
    );
    let bytes = response.into_body().collect().await?.to_bytes();
    let text = String::from_utf8_lossy(&bytes);
    let key = text
        .split("\"key\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .context("no key in the response")?;
    Ok(key.to_owned())
}

/// gzip of `data` at the default level.
fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(data);
    encoder.finish().unwrap_or_default()
}

/// Distinct events: varied pages, referrers, widths and custom events; 4,096
/// for the Mallard path, [`COLLECTOR_EVENTS`] (each with its own id) for the
/// collector paths, optionally gzip-compressed and with the collector's
/// `Authorization` (and `X-Site-Id` for a key).
pub(crate) fn build_requests(
    path: &str,
    compress: bool,
    bearer: Option<&str>,
    addresses: ClientAddresses,
) -> Vec<PreparedRequest> {
    let collector = path.ends_with("/events");
    let count = if collector { COLLECTOR_EVENTS } else { 4096 };
    let mut extra_headers = String::new();
    if compress {
        extra_headers.push_str("Content-Encoding: gzip\r\n");
    }
    if let Some(bearer) = bearer {
        extra_headers.push_str(&format!("Authorization: Bearer {bearer}\r\n"));
        if bearer.starts_with("lk_live_") {
            extra_headers.push_str("X-Site-Id: bench.example\r\n");
        }
    }
    (0..count)
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
            let body = if compress { gzip(body.as_bytes()) } else { body.into_bytes() };
            let ip = i % 4096;
            PreparedRequest {
                body: Bytes::from(body),
                user_agent: USER_AGENTS[i as usize % USER_AGENTS.len()],
                forwarded_for: client_address(ip, addresses),
                extra_headers: extra_headers.clone(),
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
    writer_cpu_us: Option<f64>,
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
                connections,
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
        writer_cpu_us: None,
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
    connections: usize,
    deadline: Instant,
) -> anyhow::Result<(u64, u64, Histogram<u64>)> {
    use tokio::io::AsyncWriteExt;

    // Requests are serialised once, up front: the generator's own cost per
    // request must stay far below the server's, or it measures itself.
    // With more requests than the 4,096 of the Mallard path (the collector's
    // distinct events), each connection takes its own share, so no event id
    // is sent twice.
    let share = if requests.len() > 4096 {
        connections
    } else {
        1
    };
    let raw: Vec<Vec<u8>> = match kind {
        Load::Health => vec![b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".to_vec()],
        Load::Ingest => requests
            .iter()
            .skip(if share > 1 { index } else { 0 })
            .step_by(share)
            .map(|r| {
                let mut head = format!(
                    "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
                     User-Agent: {}\r\nX-Forwarded-For: {}\r\n{}Content-Length: {}\r\n\r\n",
                    r.user_agent,
                    r.forwarded_for,
                    r.extra_headers,
                    r.body.len()
                )
                .into_bytes();
                head.extend_from_slice(&r.body);
                head
            })
            .collect(),
    };
    let mut stream = TcpStream::connect(addr).await.context("connect")?;
    stream.set_nodelay(true)?;
    let mut latency = Histogram::<u64>::new(3)?;
    let (mut ok, mut errors) = (0, 0);
    let mut next = if share > 1 { 0 } else { index * 61 };
    let mut buffer = vec![0u8; 16 * 1024];
    while Instant::now() < deadline {
        let request = &raw[next % raw.len()];
        next += 1;
        let sent = Instant::now();
        stream.write_all(request).await?;
        let status = read_response(&mut stream, &mut buffer).await?;
        latency.record(sent.elapsed().as_micros() as u64)?;
        if (200..300).contains(&status) {
            ok += 1;
        } else {
            errors += 1;
        }
    }
    Ok((ok, errors, latency))
}

/// Reads one HTTP/1.1 response with a Content-Length body and returns its status.
async fn read_response(stream: &mut TcpStream, buffer: &mut [u8]) -> anyhow::Result<u16> {
    use tokio::io::AsyncReadExt;
    let mut filled = 0;
    loop {
        let read = stream.read(&mut buffer[filled..]).await?;
        anyhow::ensure!(read > 0, "the server closed the connection");
        filled += read;
        let Some(end) = buffer[..filled].windows(4).position(|w| w == b"\r\n\r\n") else {
            anyhow::ensure!(filled < buffer.len(), "response head too large");
            continue;
        };
        let head = std::str::from_utf8(&buffer[..end])?;
        let status: u16 = head.get(9..12).context("no status")?.parse()?;
        let length: usize = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())?
            })
            .unwrap_or(0);
        let mut have = filled - (end + 4);
        while have < length {
            let read = stream.read(buffer).await?;
            anyhow::ensure!(read > 0, "the server closed the connection");
            have += read;
        }
        return Ok(status);
    }
}
