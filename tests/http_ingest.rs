//! End-to-end tests of Mallard event ingestion over HTTP: every documented
//! status code, CORS, bots, and the events that land in the database.

use mallard_e2e::{BROWSER_UA, Server, TestHome, client, json_of, pageview};
use reqwest::StatusCode;
use serde_json::json;

#[test]
fn accepted_events_are_stored_with_their_visit() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    let http = client();
    for path in ["/", "/pricing", "/docs"] {
        let response = http
            .post(server.url("/api/event"))
            .json(&pageview("a.test", path))
            .send()
            .unwrap();
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        assert!(response.text().unwrap().is_empty());
    }
    // sendBeacon posts text/plain.
    let beacon = http
        .post(server.url("/api/event"))
        .header("content-type", "text/plain;charset=UTF-8")
        .body(json!({"d":"a.test","n":"Signup","u":"https://a.test/pricing","p":"{\"plan\":\"pro\"}","ra":"9.5","rc":"EUR"}).to_string())
        .send()
        .unwrap();
    assert_eq!(beacon.status(), StatusCode::ACCEPTED);
    let (status, _) = server.terminate();
    assert!(status.success());
    let (paths, visits, props) = home.read(|db| {
        Ok((
            db.pageview_paths("a.test")?,
            db.visit_count("a.test")?,
            db.event_props("a.test", "Signup")?,
        ))
    });
    assert_eq!(paths, ["/", "/pricing", "/docs"]);
    assert_eq!(visits, 1, "same visitor within 30 minutes is one visit");
    assert_eq!(props, vec![vec![("plan".to_owned(), "pro".to_owned())]]);
}

#[test]
fn the_pixel_answers_a_gif_and_stores_the_event() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    let response = client()
        .get(server.url("/api/event?d=p.test&n=pageview&u=https%3A%2F%2Fp.test%2Fpixel&w=390"))
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "image/gif");
    assert!(
        response.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("no-store")
    );
    assert!(response.bytes().unwrap().starts_with(b"GIF89a"));
    let bad = client()
        .get(server.url("/api/event?d=p.test&n=pageview"))
        .send()
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    server.terminate();
    assert_eq!(home.read(|db| db.pageview_paths("p.test")), ["/pixel"]);
}

#[test]
fn bad_input_gets_the_documented_status_and_flat_error_body() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    let http = client();
    let post = |body: String, content_type: &str| {
        http.post(server.url("/api/event"))
            .header("content-type", content_type)
            .body(body)
            .send()
            .unwrap()
    };
    let cases: Vec<(String, &str, StatusCode)> = vec![
        (
            "{not json".into(),
            "application/json",
            StatusCode::BAD_REQUEST,
        ),
        ("".into(), "application/json", StatusCode::BAD_REQUEST),
        (
            "[1,2]".into(),
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"n":"pageview","u":"https://a.test/"}).to_string(),
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"d":"a.test","n":7,"u":"https://a.test/"}).to_string(),
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"d":"","n":"pageview","u":"https://a.test/"}).to_string(),
            "application/json",
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"d":"bad site!","n":"pageview","u":"https://a.test/"}).to_string(),
            "application/json",
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"d":"a".repeat(257),"n":"pageview","u":"https://a.test/"}).to_string(),
            "application/json",
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"d":"a.test","n":"pageview","u":"not a url"}).to_string(),
            "application/json",
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"d":"a.test","n":"x","u":"https://a.test/","p":"{oops"}).to_string(),
            "application/json",
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"d":"a.test","n":"x","u":"https://a.test/","ra":"1","rc":"DOLLARS"}).to_string(),
            "application/json",
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"d":"a.test","n":"x","u":"https://a.test/","ra":"many","rc":"USD"}).to_string(),
            "application/json",
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"d":"a.test","n":"pageview","u":"https://a.test/"}).to_string(),
            "application/xml",
            StatusCode::BAD_REQUEST,
        ),
        (
            format!(
                "{{\"d\":\"a.test\",\"n\":\"pageview\",\"u\":\"https://a.test/{}\"}}",
                "x".repeat(70_000)
            ),
            "application/json",
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];
    for (body, content_type, expected) in cases {
        let shown = body.chars().take(60).collect::<String>();
        let response = post(body, content_type);
        assert_eq!(response.status(), expected, "body {shown}");
        let error = json_of(response);
        assert!(
            error["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{error} for {shown}"
        );
        assert_eq!(error.as_object().unwrap().len(), 1, "flat body for {shown}");
    }
    server.terminate();
    assert!(
        home.read(|db| db.site_domains()).is_empty(),
        "nothing invalid was stored"
    );
}

#[test]
fn the_site_allowlist_refuses_other_origins_and_sites() {
    let home = TestHome::new();
    let server = Server::start(&home, &[("MALLARD_SITE_IDS", "allowed.test")]);
    let http = client();
    let send = |site: &str, origin: &str| {
        http.post(server.url("/api/event"))
            .header("origin", origin)
            .json(&pageview(site, "/"))
            .send()
            .unwrap()
    };
    assert_eq!(
        send("allowed.test", "https://allowed.test").status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        send("allowed.test", "https://www.allowed.test").status(),
        StatusCode::ACCEPTED
    );
    let refused = send("allowed.test", "https://evil.test");
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(json_of(refused)["error"].is_string());
    assert_eq!(
        send("other.test", "https://other.test").status(),
        StatusCode::FORBIDDEN
    );
}

#[test]
fn the_per_site_rate_limit_answers_429_with_retry_after() {
    let home = TestHome::new();
    let server = Server::start(&home, &[("MALLARD_RATE_LIMIT_PER_SITE", "3")]);
    let http = client();
    let statuses: Vec<_> = (0..6)
        .map(|_| {
            http.post(server.url("/api/event"))
                .json(&pageview("busy.test", "/"))
                .send()
                .unwrap()
        })
        .collect();
    let limited = statuses
        .into_iter()
        .find(|r| r.status() == StatusCode::TOO_MANY_REQUESTS)
        .expect("a 429");
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    assert!(json_of(limited)["error"].is_string());
    // Another site has its own bucket.
    let other = http
        .post(server.url("/api/event"))
        .json(&pageview("calm.test", "/"))
        .send()
        .unwrap();
    assert_eq!(other.status(), StatusCode::ACCEPTED);
}

#[test]
fn cors_preflight_allows_any_page_including_private_network_access() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    let response = client()
        .request(reqwest::Method::OPTIONS, server.url("/api/event"))
        .header("origin", "https://public.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .header("access-control-request-private-network", "true")
        .send()
        .unwrap();
    assert!(response.status().is_success());
    let headers = response.headers();
    assert_eq!(headers["access-control-allow-origin"], "*");
    assert_eq!(headers["access-control-allow-private-network"], "true");
    assert!(
        headers["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
}

#[test]
fn bots_are_accepted_dropped_and_counted() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    let http = client();
    let response = http
        .post(server.url("/api/event"))
        .header(
            "user-agent",
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        )
        .json(&pageview("bots.test", "/"))
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let metrics = http
        .get(server.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("mallard_events_dropped_total{reason=\"bot\"} 1")),
        "{metrics}"
    );
    server.terminate();
    assert!(home.read(|db| db.site_domains()).is_empty());
}

#[test]
fn a_request_slower_than_the_time_limit_gets_408() {
    use std::io::{Read, Write};
    let home = TestHome::new();
    let server = Server::start(&home, &[("MALLARD_REQUEST_TIMEOUT_SECS", "1")]);
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    // Promise a body and never send it.
    write!(
        stream,
        "POST /api/event HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: {BROWSER_UA}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"d\":"
    )
    .unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut reply = vec![0; 4096];
    let read = stream.read(&mut reply).unwrap();
    let reply = String::from_utf8_lossy(&reply[..read]);
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(reply.contains("{\"error\":\"Request timeout\"}"), "{reply}");
}

#[test]
fn metrics_count_ingested_and_rejected_events_and_honour_the_token() {
    let home = TestHome::new();
    let server = Server::start(
        &home,
        &[("MALLARD_METRICS_TOKEN", "metrics-secret-0123456789")],
    );
    let http = client();
    http.post(server.url("/api/event"))
        .json(&pageview("m.test", "/"))
        .send()
        .unwrap();
    http.post(server.url("/api/event"))
        .body("{")
        .send()
        .unwrap();
    let denied = http.get(server.url("/metrics")).send().unwrap();
    assert_eq!(denied.status(), StatusCode::UNAUTHORIZED);
    assert!(json_of(denied)["error"].is_string());
    let wrong = http
        .get(server.url("/metrics"))
        .bearer_auth("nope")
        .send()
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let response = http
        .get(server.url("/metrics"))
        .bearer_auth("metrics-secret-0123456789")
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = response.text().unwrap();
    for expected in [
        "mallard_events_ingested_total{family=\"mallard\"} 1",
        "mallard_events_rejected_total{family=\"mallard\",reason=\"bad_request\"} 1",
        "mallard_writer_batch_events_bucket",
        "mallard_writer_commit_seconds_bucket",
        "mallard_http_requests_total{route=\"/api/event\",method=\"POST\",status=\"202\"} 1",
    ] {
        assert!(text.contains(expected), "missing {expected} in\n{text}");
    }
}

/// The value of the first sample of `name` (without labels) in a Prometheus
/// text exposition.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn mallards_health_fields_gauges_and_counters_are_served() {
    let home = TestHome::new();
    let server = Server::start(
        &home,
        &[
            ("MALLARD_ADMIN_PASSWORD", "a long password"),
            ("MALLARD_RATE_LIMIT_PER_SITE", "1"),
        ],
    );
    let http = client();
    // One event, then one over the per-site limit.
    for expected in [StatusCode::ACCEPTED, StatusCode::TOO_MANY_REQUESTS] {
        let response = http
            .post(server.url("/api/event"))
            .json(&pageview("limit.test", "/"))
            .send()
            .unwrap();
        assert_eq!(response.status(), expected);
    }
    // A failed login.
    let failed = http
        .post(server.url("/api/auth/login"))
        .header("Origin", &server.base)
        .json(&serde_json::json!({"password": "wrong password"}))
        .send()
        .unwrap();
    assert_eq!(failed.status(), StatusCode::UNAUTHORIZED);
    // The same stats question twice: computed, then answered from the cache.
    let login = http
        .post(server.url("/api/auth/login"))
        .header("Origin", &server.base)
        .json(&serde_json::json!({"password": "a long password"}))
        .send()
        .unwrap();
    let token = json_of(login)["token"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        let stats = http
            .get(server.url("/api/stats/main?site_id=limit.test&period=day"))
            .header("Cookie", format!("mm_session={token}"))
            .send()
            .unwrap();
        assert_eq!(stats.status(), StatusCode::OK);
    }
    let text = http
        .get(server.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    for (name, expected) in [
        ("mallard_auth_configured", Some(1.0)),
        ("mallard_geoip_loaded", Some(1.0)),
        ("mallard_filter_bots", Some(1.0)),
        ("mallard_behavioral_extension", Some(1.0)),
        ("mallard_cache_entries", Some(1.0)),
        ("mallard_rate_limit_rejections_total", Some(1.0)),
        ("mallard_login_failures_total", Some(1.0)),
        ("mallard_cache_hits_total", Some(1.0)),
        ("mallard_cache_misses_total", Some(1.0)),
        ("mallard_flush_failures_total", Some(0.0)),
    ] {
        assert_eq!(sample(&text, name), expected, "{name} in\n{text}");
    }
    assert!(sample(&text, "mallard_buffered_events").is_some(), "{text}");
    let detailed = json_of(http.get(server.url("/health/detailed")).send().unwrap());
    assert_eq!(detailed["status"], "ok");
    assert!(detailed["buffered_events"].is_u64(), "{detailed}");
    assert_eq!(detailed["behavioral_extension_loaded"], true);
    assert_eq!(detailed["cache_entries"], 1, "{detailed}");
    assert_eq!(detailed["cache_empty"], false);
}
