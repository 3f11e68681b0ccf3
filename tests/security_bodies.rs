//! End-to-end tests of request bodies under attack and under faults: refusals
//! that arrive before a byte of the body is sent, the global in-flight body
//! budget, `Content-Encoding` on `/api/event`, error messages that quote at
//! most an excerpt of a huge value, and the rule that an event which
//! committed is answered 202, never 408.

#[path = "collector_common.rs"]
mod common;

use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{event, gzip, send};
use mallard_e2e::raw_http::{RawResponse, post_head, read_response};
use mallard_e2e::{BROWSER_UA, Server, TestHome, client, json_of, pageview};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[test]
fn gates_and_auth_refuse_before_the_body_is_sent() {
    let home = TestHome::new();
    let server = Server::start(
        &home,
        &[
            ("API_KEY_MODE", "require"),
            ("RATE_LIMIT_IP_RPS", "1"),
            ("RATE_LIMIT_IP_BURST", "2"),
        ],
    );
    // 4 MB promised, none sent: the refusal must come without the body.
    let length = 4 * 1024 * 1024;
    for path in ["/events", "/s2s/events"] {
        let mut stream = post_head(&server, path, length, "Authorization: Bearer not-a-key\r\n");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let started = Instant::now();
        let response = read_response(&mut stream)
            .unwrap_or_else(|| panic!("{path}: no answer before the body was sent"));
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(response.status, 401, "{path}: {response:?}");
        assert_eq!(response.json()["error"], "api_key_required");
    }
    // The per-IP bucket (burst 2) is now empty: the next request is refused
    // by the gate, again before its body.
    let mut stream = post_head(
        &server,
        "/events",
        length,
        "Authorization: Bearer not-a-key\r\n",
    );
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let response = read_response(&mut stream).expect("an answer before the body was sent");
    assert_eq!(response.status, 429, "{response:?}");
    assert_eq!(response.header("retry-after"), Some("1"));
    assert_eq!(response.json(), json!({"error": "rate_limited"}));
}

/// The peak resident memory of process `pid`, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status")
}

#[test]
fn concurrent_large_bodies_stay_within_the_body_budget() {
    const CLIENTS: usize = 256;
    const BODY_BYTES: usize = 5_000_000;
    let home = TestHome::new();
    let server = Server::start(
        &home,
        &[
            ("RATE_LIMIT_IP_BURST", "100000"),
            ("RATE_LIMIT_IP_RPS", "100000"),
            ("MALLARD_MAX_BUFFERED_BODY_MB", "64"),
        ],
    );
    let pid = server.pid();
    let before = peak_rss_kib(pid);
    // A valid event after almost 5 MB of JSON whitespace.
    let event = event("budget.test", "pageview", "/").to_string();
    let mut body = vec![b' '; BODY_BYTES - event.len()];
    body.extend_from_slice(event.as_bytes());
    let body: Arc<[u8]> = body.into();
    let port = server.port;
    let threads: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let body = Arc::clone(&body);
            std::thread::spawn(move || {
                let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
                write!(
                    stream,
                    "POST /events HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: {BROWSER_UA}\r\n\
                     Authorization: Bearer budget.test\r\nContent-Type: application/json\r\n\
                     Content-Length: {}\r\n\r\n",
                    body.len()
                )
                .unwrap();
                // A request the budget cannot hold is refused at once.
                stream
                    .set_read_timeout(Some(Duration::from_secs(2)))
                    .unwrap();
                if let Some(early) = read_response(&mut stream) {
                    return early;
                }
                stream
                    .set_read_timeout(Some(Duration::from_secs(60)))
                    .unwrap();
                // A refusal racing the body may close the connection while
                // it is written; the answer is read either way.
                let _ = stream.write_all(&body);
                read_response(&mut stream).expect("an answer once the body was sent")
            })
        })
        .collect();
    let responses: Vec<RawResponse> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let peak = peak_rss_kib(pid);
    let accepted = responses.iter().filter(|r| r.status == 202).count();
    let busy: Vec<&RawResponse> = responses.iter().filter(|r| r.status == 503).collect();
    let grown_mib = peak.saturating_sub(before) / 1024;
    eprintln!(
        "peak RSS {} MiB (+{grown_mib} MiB), {accepted} accepted",
        peak / 1024
    );
    assert!(
        grown_mib < 160,
        "the server grew by {grown_mib} MiB for a 64 MiB body budget"
    );
    assert_eq!(
        accepted + busy.len(),
        CLIENTS,
        "only 202 and 503: {:?}",
        responses.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert!(accepted >= 1, "the budget holds at least one body");
    assert!(
        accepted <= 64 * 1024 * 1024 / BODY_BYTES,
        "{accepted} bodies of 5 MB fit in 64 MiB?"
    );
    for response in &busy {
        assert_eq!(response.header("retry-after"), Some("1"));
        let body = response.json();
        assert_eq!(body["error"]["code"], "server_busy", "{body}");
        assert!(body["error"]["message"].is_string());
    }
    // Once the bodies are done, the budget is free again.
    let response = send(
        &server,
        "/events",
        Some("budget.test"),
        &common::event("budget.test", "pageview", "/after"),
    );
    assert_eq!(response.status(), StatusCode::ACCEPTED);
}

#[test]
fn api_event_decodes_gzip_and_refuses_what_it_cannot_decode() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    let http = client();
    let post = |encoding: &str, body: Vec<u8>| {
        http.post(server.url("/api/event"))
            .header("content-type", "application/json")
            .header("content-encoding", encoding)
            .body(body)
            .send()
            .unwrap()
    };
    let event = pageview("gz.test", "/gzipped").to_string();
    assert_eq!(
        post("gzip", gzip(event.as_bytes())).status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        post(
            "br",
            common::brotli(pageview("gz.test", "/brotli").to_string().as_bytes())
        )
        .status(),
        StatusCode::ACCEPTED
    );
    // A plain body labelled gzip is not gzip.
    let response = post("gzip", event.clone().into_bytes());
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = json_of(response);
    assert!(body["error"].as_str().unwrap().contains("gzip"), "{body}");
    // A coding the server does not decode.
    let response = post("zstd", event.into_bytes());
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(json_of(response)["error"].is_string());
    // A bomb: 1 MB of zeros in about 1 KB, refused at the 64 KB limit.
    let response = post("gzip", gzip(&vec![b' '; 1024 * 1024]));
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        json_of(response),
        json!({"error": "Request body too large (limit: 64 KB)"})
    );
    let (status, _) = server.terminate();
    assert!(status.success());
    assert_eq!(
        home.read(|db| db.pageview_paths("gz.test")),
        ["/gzipped", "/brotli"]
    );
}

#[test]
fn validation_errors_quote_at_most_an_excerpt_of_a_huge_value() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    let mut huge = event("cut.test", "pageview", "/");
    huge["url"] = Value::String(format!("https://cut.test/{}", "a".repeat(1024 * 1024)));
    let response = send(&server, "/events", Some("cut.test"), &huge);
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let text = response.text().unwrap();
    assert!(text.len() < 2_000, "a {} byte error body", text.len());
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["error"]["code"], "invalid_field", "{body}");
    let message = body["error"]["details"][0]["message"].as_str().unwrap();
    assert!(message.contains("https://cut.test/aaaa"), "{message}");
    assert!(message.contains('…'), "{message}");
    // The Mallard family: a huge value of the wrong type.
    let response = client()
        .post(server.url("/api/event"))
        .json(&json!({"d": "cut.test", "n": "pageview", "u": "https://cut.test/", "w": "w".repeat(60_000)}))
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let text = response.text().unwrap();
    assert!(text.len() < 1_000, "a {} byte error body", text.len());
    let message = flat_error_message(&text);
    assert!(message.contains('…'), "{message}");
}

/// The message of a flat Mallard error body.
fn flat_error_message(text: &str) -> String {
    let body: Value = serde_json::from_str(text).unwrap();
    body["error"].as_str().unwrap().to_owned()
}

/// Holds the database's write lock from another connection for `hold`, so
/// the server's next commit waits that long.
fn hold_write_lock(home: &TestHome, hold: Duration) -> std::thread::JoinHandle<()> {
    let path = home.data_dir().join("mallard.db");
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let holder = std::thread::spawn(move || {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.busy_timeout(Duration::from_secs(10)).unwrap();
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        locked_tx.send(()).unwrap();
        std::thread::sleep(hold);
        conn.execute_batch("ROLLBACK").unwrap();
    });
    locked_rx
        .recv_timeout(Duration::from_secs(15))
        .expect("the write lock is taken");
    holder
}

/// Stores a first pageview of `site`, which also draws the day's visitor-id
/// salt and creates the site: later events of the day write only themselves.
fn warm_up(server: &Server, site: &str) {
    let response = client()
        .post(server.url("/api/event"))
        .json(&pageview(site, "/warm-up"))
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
}

fn queued_events(server: &Server) -> u64 {
    let response = client().get(server.url("/health/detailed")).send().unwrap();
    json_of(response)["queued_events"].as_u64().unwrap()
}

#[test]
fn an_event_that_commits_after_the_time_limit_is_answered_202_not_408() {
    let home = TestHome::new();
    let server = Server::start(&home, &[("MALLARD_REQUEST_TIMEOUT_SECS", "1")]);
    // The day's visitor-id salt and the site are written by a first event, so
    // that the slow commits below are the events' own.
    warm_up(&server, "slow.test");
    // Both families, each while a commit takes three times the time limit.
    let holder = hold_write_lock(&home, Duration::from_secs(3));
    let started = Instant::now();
    let response = client()
        .post(server.url("/api/event"))
        .json(&pageview("slow.test", "/mallard"))
        .send()
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::ACCEPTED,
        "{:?}",
        response.text()
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the commit waited"
    );
    holder.join().unwrap();
    let holder = hold_write_lock(&home, Duration::from_secs(3));
    let slow = event("slow.test", "pageview", "/collector");
    let response = send(&server, "/events", Some("slow.test"), &slow);
    assert_eq!(
        response.status(),
        StatusCode::ACCEPTED,
        "{:?}",
        response.text()
    );
    holder.join().unwrap();
    // Nothing is left counted as queued.
    assert_eq!(queued_events(&server), 0);
    // A request that had not reached its write still gets 408: a body that
    // never comes.
    let mut stream = post_head(&server, "/api/event", 100, "");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let response = read_response(&mut stream).expect("an answer");
    assert_eq!(response.status, 408);
    let (status, _) = server.terminate();
    assert!(status.success());
    let mut paths = home.read(|db| db.pageview_paths("slow.test"));
    paths.sort();
    assert_eq!(
        paths,
        ["/collector", "/mallard", "/warm-up"],
        "each event stored once"
    );
}

#[test]
fn a_client_that_leaves_while_its_event_commits_leaves_no_queued_count() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    warm_up(&server, "gone.test");
    let holder = hold_write_lock(&home, Duration::from_secs(2));
    let body = pageview("gone.test", "/").to_string();
    let mut stream = post_head(&server, "/api/event", body.len(), "");
    stream.write_all(body.as_bytes()).unwrap();
    // Wait until the event is queued, then hang up before the answer.
    let deadline = Instant::now() + Duration::from_secs(10);
    while queued_events(&server) == 0 {
        assert!(Instant::now() < deadline, "the event was never queued");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(stream);
    holder.join().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while queued_events(&server) != 0 {
        assert!(Instant::now() < deadline, "the queued count leaked");
        std::thread::sleep(Duration::from_millis(50));
    }
}
