//! End-to-end tests of the connection limits (issue 14, "Slow and idle
//! connections" and the malformed-HTTP and declared-length items): stalled
//! connections are closed by the header-read timeout while the server keeps
//! answering, idle keep-alive connections are closed, connections over the
//! cap get a 503, a declared body over the limit gets 413 without
//! `100 Continue`, and malformed requests get their family's JSON body.
//!
//! These tests speak raw HTTP/1.1 over `std::net::TcpStream`: the point is
//! what happens on the socket (timing, EOF, bytes that no client library
//! would send).

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use mallard_e2e::{Server, TestHome, wait_until};
use serde_json::Value;

/// How many stalled connections the slow-client test holds open.
const STALLED: usize = 1_500;

/// One HTTP response read from a socket.
#[derive(Debug)]
struct Answer {
    status: u16,
    /// The head, header names lower-cased.
    head: String,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            (key.trim() == name).then(|| value.trim())
        })
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| {
            panic!(
                "not JSON: {:?} (head {:?})",
                String::from_utf8_lossy(&self.body),
                self.head
            )
        })
    }
}

fn connect(server: &Server) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout");
    stream
}

/// Reads one response: the head up to the blank line, then `Content-Length`
/// bytes of body.
fn read_answer(stream: &mut TcpStream) -> Answer {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        let read = stream.read(&mut chunk).expect("read the response head");
        assert!(read > 0, "closed before a response head: {bytes:?}");
        bytes.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8_lossy(&bytes[..head_end]).to_string();
    let head = head
        .lines()
        .enumerate()
        .map(|(index, line)| match (index, line.split_once(':')) {
            (0, _) | (_, None) => line.to_owned(),
            (_, Some((name, value))) => format!("{}:{value}", name.to_ascii_lowercase()),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    let mut answer = Answer {
        status,
        head,
        body: bytes[head_end + 4..].to_vec(),
    };
    let length: usize = answer
        .header("content-length")
        .map_or(0, |value| value.parse().expect("content-length"));
    while answer.body.len() < length {
        let read = stream.read(&mut chunk).expect("read the response body");
        assert!(read > 0, "closed in the body of {:?}", answer.head);
        answer.body.extend_from_slice(&chunk[..read]);
    }
    answer.body.truncate(length);
    answer
}

/// Sends `request` on a new connection and reads the response.
fn exchange(server: &Server, request: &[u8]) -> Answer {
    let mut stream = connect(server);
    stream.write_all(request).expect("send the request");
    read_answer(&mut stream)
}

/// Whether the server closed `stream` before `deadline` (EOF or reset).
fn closed_before(stream: &mut TcpStream, deadline: Instant) -> bool {
    let mut sink = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        stream.set_read_timeout(Some(left)).expect("read timeout");
        match stream.read(&mut sink) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(err) if err.kind() == ErrorKind::ConnectionReset => return true,
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false;
            }
            Err(err) => panic!("reading a stalled connection: {err}"),
        }
    }
}

/// The soft limit on open files of this process (Linux), which the stalled
/// connections count against; `None` when it cannot be read.
fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// How many files (sockets included) the process `pid` holds open, where
/// `/proc` tells.
fn open_files(pid: u32) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

fn assert_security_headers(answer: &Answer) {
    assert_eq!(
        answer.header("x-content-type-options"),
        Some("nosniff"),
        "{}",
        answer.head
    );
    assert!(
        answer.header("content-security-policy").is_some(),
        "{}",
        answer.head
    );
    assert_eq!(
        answer.header("content-type"),
        Some("application/json"),
        "{}",
        answer.head
    );
}

const HEALTH: &[u8] = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";

#[test]
fn stalled_connections_do_not_block_health_and_are_closed_within_40_seconds() {
    if let Some(limit) = open_file_limit() {
        // The test holds STALLED sockets and the server as many; each process
        // inherits this limit.
        assert!(
            limit >= (STALLED as u64) + 200,
            "raise the open-file limit (ulimit -n) to at least {} to run this test (it is {limit})",
            STALLED + 200
        );
    }
    let home = TestHome::new();
    // The default header-read timeout (10 s) and connection cap.
    let server = Server::start(&home, &[]);
    let started = Instant::now();
    let mut stalled = Vec::with_capacity(STALLED);
    for _ in 0..STALLED {
        let mut stream = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            .expect("send a partial head");
        stalled.push(stream);
    }
    // What is timed is the server's answer while it holds every stalled
    // connection, not the kernel's queue of connections it has yet to accept.
    wait_until("the server holds the stalled connections", || {
        open_files(server.pid()).is_none_or(|open| open >= STALLED)
    });

    let asked = Instant::now();
    let answer = exchange(&server, HEALTH);
    let took = asked.elapsed();
    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(took < Duration::from_secs(1), "/health took {took:?}");

    let deadline = started + Duration::from_secs(40);
    let open = stalled
        .iter_mut()
        .map(|stream| closed_before(stream, deadline))
        .filter(|closed| !closed)
        .count();
    assert_eq!(open, 0, "stalled connections still open after 40 s");
    assert_eq!(exchange(&server, HEALTH).status, 200);
}

#[test]
fn an_idle_keep_alive_connection_is_closed_after_the_header_read_timeout() {
    let home = TestHome::new();
    let server = Server::start(&home, &[("MALLARD_HEADER_READ_TIMEOUT_SECS", "1")]);
    let mut stream = connect(&server);
    let request = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    stream.write_all(request).unwrap();
    assert_eq!(read_answer(&mut stream).status, 200);
    // The connection stays usable for a request sent in time.
    stream.write_all(request).unwrap();
    assert_eq!(read_answer(&mut stream).status, 200);
    let idle_since = Instant::now();
    assert!(
        closed_before(&mut stream, idle_since + Duration::from_secs(5)),
        "an idle keep-alive connection was kept open"
    );
    assert!(idle_since.elapsed() >= Duration::from_millis(900));
}

#[test]
fn connections_over_the_cap_get_a_503_with_retry_after_and_the_slot_comes_back() {
    let home = TestHome::new();
    let server = Server::start(&home, &[("MALLARD_MAX_CONNECTIONS", "3")]);
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut stream = connect(&server);
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            .unwrap();
        held.push(stream);
    }
    // The held connections are accepted first (the kernel queues in order).
    let refused = exchange(&server, HEALTH);
    assert_eq!(refused.status, 503, "{refused:?}");
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert_security_headers(&refused);
    assert!(refused.json()["error"].is_string(), "{refused:?}");

    drop(held);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let answer = exchange(&server, HEALTH);
        if answer.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the cap never freed: {answer:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_declared_body_over_the_limit_is_refused_with_413_before_100_continue() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    for path in ["/events", "/v1/s2s/events", "/api/event"] {
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Content-Length: 10000000\r\nExpect: 100-continue\r\n\r\n"
        );
        let asked = Instant::now();
        let answer = exchange(&server, request.as_bytes());
        assert!(asked.elapsed() < Duration::from_secs(2), "{path}");
        assert_eq!(answer.status, 413, "{path}: {answer:?}");
        assert_security_headers(&answer);
        let body = answer.json();
        if path == "/api/event" {
            assert!(body["error"].as_str().unwrap().contains("64 KB"), "{body}");
        } else {
            assert_eq!(body["error"]["code"], "payload_too_large", "{body}");
        }
    }
}

#[test]
fn malformed_requests_get_their_family_json_body_and_security_headers() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    let long_query = "a".repeat(100 * 1024);
    let cases: Vec<(&str, Vec<u8>, u16, bool)> = vec![
        (
            "bad header bytes",
            b"GET /api/event HTTP/1.1\r\nHost: 127.0.0.1\r\nBad\x01Name: 1\r\n\r\n".to_vec(),
            400,
            false,
        ),
        (
            "duplicate Content-Length",
            b"POST /events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\
              Content-Length: 3\r\n\r\n{}"
                .to_vec(),
            400,
            true,
        ),
        (
            "100 KB URI",
            format!("GET /health?q={long_query} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").into_bytes(),
            414,
            false,
        ),
        (
            "100 KB URI on the collector",
            format!("POST /v1/events?q={long_query} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                .into_bytes(),
            414,
            true,
        ),
        (
            "no request line",
            b"\x16\x03\x01 not http\r\n\r\n".to_vec(),
            400,
            false,
        ),
    ];
    for (case, request, status, collector) in cases {
        let answer = exchange(&server, &request);
        assert_eq!(answer.status, status, "{case}: {answer:?}");
        assert_security_headers(&answer);
        let body = answer.json();
        if collector {
            assert_eq!(body["error"]["code"], "invalid_request", "{case}: {body}");
            assert!(body["error"]["message"].is_string(), "{case}: {body}");
        } else {
            assert!(body["error"].is_string(), "{case}: {body}");
        }
    }
    // The server still answers afterwards.
    assert_eq!(exchange(&server, HEALTH).status, 200);
}
