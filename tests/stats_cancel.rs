//! Abandoned stats queries end to end: a client that closes its connection
//! while its query runs frees the query's slot at once, the query is counted
//! in `mallard_stats_queries_cancelled_total`, and the next query gets a
//! slot instead of `429`.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use mallard_e2e::raw_http::read_response;
use mallard_e2e::{BROWSER_UA, Server, TestHome, client};
use reqwest::StatusCode;

const SITE: &str = "cancel.test";
/// Stats queries the server runs at once in these tests.
const SLOTS: usize = 3;
/// A filtered twelve-month breakdown: the slowest kind of stats query.
const SLOW: &str = "/api/stats/breakdown/pages?site_id=cancel.test&period=12mo\
    &filters=source%3D%3DGoogle&limit=10";
/// A cheap stats query, to see whether a slot is free.
const PROBE: &str = "/api/stats/realtime?site_id=cancel.test";

/// Sends `GET path` on a new connection and leaves the answer unread.
fn send(server: &Server, path: &str) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nUser-Agent: {BROWSER_UA}\r\n\r\n",
        server.port
    );
    stream.write_all(request.as_bytes()).unwrap();
    stream.flush().unwrap();
    stream
}

/// The value of `mallard_stats_queries_cancelled_total` on `/metrics`.
fn cancelled(server: &Server) -> f64 {
    let text = client()
        .get(server.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix("mallard_stats_queries_cancelled_total "))
        .unwrap_or_else(|| panic!("no cancelled counter on /metrics:\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn closed_connections_cancel_their_queries_and_free_their_slots_at_once() {
    let home = TestHome::new();
    home.seed(SITE, 150_000, 365);
    let slots = SLOTS.to_string();
    let server = Server::start(
        &home,
        &[
            ("MALLARD_CACHE_TTL", "0"),
            ("MALLARD_MAX_CONCURRENT_QUERIES", &slots),
        ],
    );
    let http = client();
    assert_eq!(
        cancelled(&server),
        0.0,
        "the counter is exported from the start"
    );

    // How long the slow query runs when nobody leaves.
    let started = Instant::now();
    let answer = http.get(server.url(SLOW)).send().unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let full_answer = answer.text().unwrap();
    let runs_for = started.elapsed();

    // Every slot taken by a slow query; a probe now is turned away. A probe
    // that arrives while the slow queries are still being admitted takes a
    // slot itself and one of them is turned away instead: then their answers
    // are read to the end (nothing is cancelled) and the setup is tried again.
    let mut attempts = 0;
    let held: Vec<TcpStream> = loop {
        attempts += 1;
        assert!(
            attempts <= 20,
            "the slow queries ({runs_for:?} each) never held every slot at once"
        );
        let mut held: Vec<TcpStream> = (0..SLOTS).map(|_| send(&server, SLOW)).collect();
        std::thread::sleep(runs_for / 4);
        let status = http.get(server.url(PROBE)).send().unwrap().status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            break held;
        }
        assert_eq!(status, StatusCode::OK);
        for stream in &mut held {
            stream
                .set_read_timeout(Some(Duration::from_secs(60)))
                .unwrap();
            assert!(read_response(stream).is_some(), "every slow query answers");
        }
    };
    // The clients go away.
    let closed_at = Instant::now();
    drop(held);
    let deadline = closed_at + Duration::from_secs(30);
    while cancelled(&server) < SLOTS as f64 {
        assert!(
            Instant::now() < deadline,
            "the closed queries were not counted as cancelled: {}",
            cancelled(&server)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // The slots are free now, long before the abandoned queries would have
    // finished: every slot serves a new query.
    let again: Vec<_> = (0..SLOTS)
        .map(|_| http.get(server.url(PROBE)).send().unwrap().status())
        .collect();
    let freed_after = closed_at.elapsed();
    assert_eq!(again, vec![StatusCode::OK; SLOTS]);
    assert!(
        freed_after < runs_for / 2,
        "the check came too late to tell ({freed_after:?} after closing, the queries run \
         for {runs_for:?}): seed more events"
    );
    assert_eq!(cancelled(&server), SLOTS as f64, "only the abandoned ones");

    // A slow query still gets its whole answer, uncached and unchanged.
    let answer = http.get(server.url(SLOW)).send().unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.text().unwrap(), full_answer);
}
