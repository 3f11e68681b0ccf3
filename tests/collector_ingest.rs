//! End-to-end tests of collector ingestion (`/events`, `/s2s/events` and their
//! `/v1/` aliases): the status-code table, compression and bombs, dedupe across
//! restarts, consent, enrichment, the tracking plan, timestamps, and the
//! `/healthz`, `/version` and `/metrics` companions.

#[path = "collector_common.rs"]
mod common;

use std::time::{Duration, Instant};

use common::*;
use mallard_e2e::raw_http::{post_head, read_response};
use mallard_e2e::{BROWSER_UA, Server, TestHome, client, json_of, pageview};
use reqwest::StatusCode;
use serde_json::json;

#[test]
fn collector_events_land_in_the_same_store_as_mallard_events() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    let mallard = client()
        .post(server.url("/api/event"))
        .json(&pageview("same.test", "/from-mallard"))
        .send()
        .unwrap();
    assert_eq!(mallard.status(), StatusCode::ACCEPTED);
    for (path, page) in [("/events", "/from-collector"), ("/v1/events", "/from-v1")] {
        let response = send(
            &server,
            path,
            Some("same.test"),
            &event("same.test", "pageview", page),
        );
        assert_eq!(response.status(), StatusCode::ACCEPTED, "{path}");
        assert!(response.text().unwrap().is_empty());
    }
    let custom = event("same.test", "checkout_completed", "/cart");
    let mut custom = custom;
    custom["props"] = json!({"plan": "pro", "seats": 3});
    assert_eq!(
        send(&server, "/events", Some("same.test"), &custom).status(),
        StatusCode::ACCEPTED
    );
    server.terminate();
    let (paths, props) = home.read(|db| {
        Ok((
            db.pageview_paths("same.test")?,
            db.event_props("same.test", "checkout_completed")?,
        ))
    });
    assert_eq!(paths.len(), 3);
    for page in ["/from-mallard", "/from-collector", "/from-v1"] {
        assert!(paths.iter().any(|p| p == page), "{page} in {paths:?}");
    }
    assert_eq!(
        props,
        vec![vec![
            ("plan".to_owned(), "pro".to_owned()),
            ("seats".to_owned(), "3".to_owned())
        ]]
    );
}

#[test]
fn every_bad_request_gets_its_documented_status_and_code() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    let raw = |body: &str, encoding: Option<&str>| {
        let mut request = client()
            .post(server.url("/events"))
            .bearer_auth("bad.test")
            .body(body.to_owned());
        if let Some(encoding) = encoding {
            request = request.header("content-encoding", encoding);
        }
        request.send().unwrap()
    };
    for body in ["{not json", "[1, 2]", "42", ""] {
        let response = raw(body, None);
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(error_code(response), "invalid_json", "{body}");
    }
    for field in ["id", "site_id", "anon_id", "type", "url", "ts"] {
        let mut body = event("bad.test", "pageview", "/");
        body.as_object_mut().unwrap().remove(field);
        let response = send(&server, "/events", Some("bad.test"), &body);
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let json = json_of(response);
        assert_eq!(json["error"]["code"], "missing_field");
        assert_eq!(json["error"]["details"][0]["field"], field);
    }
    let mut wrong = event("bad.test", "pageview", "/");
    wrong["ts"] = json!("yesterday");
    let response = send(&server, "/events", Some("bad.test"), &wrong);
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let json = json_of(response);
    assert_eq!(json["error"]["code"], "invalid_field");
    assert_eq!(json["error"]["details"][0]["field"], "ts");
    let mut bad_url = event("bad.test", "pageview", "/");
    bad_url["url"] = json!("not a url");
    assert_eq!(
        error_code(send(&server, "/events", Some("bad.test"), &bad_url)),
        "invalid_field"
    );
    let other_site = event("other.test", "pageview", "/");
    let response = send(&server, "/events", Some("bad.test"), &other_site);
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(response), "site_mismatch");
    let response = send(
        &server,
        "/events",
        None,
        &event("bad.test", "pageview", "/"),
    );
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(response), "unauthorized");
    let response = raw("{}", Some("deflate"));
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(error_code(response), "unsupported_encoding");
    let response = raw("definitely not gzip", Some("gzip"));
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(response), "invalid_encoding");
    // A body over the limit is refused from its declared length, before a
    // byte of it is sent (a client still writing it may see the connection
    // close instead of the answer, so only the head is sent here).
    let mut stream = post_head(
        &server,
        "/events",
        5 * 1024 * 1024 + 10,
        "Authorization: Bearer bad.test\r\n",
    );
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let response = read_response(&mut stream).expect("an answer before the body");
    assert_eq!(response.status, StatusCode::PAYLOAD_TOO_LARGE.as_u16());
    assert_eq!(response.json()["error"]["code"], "payload_too_large");
    server.terminate();
    assert_eq!(home.read(|db| db.event_count("bad.test")), 0);
}

#[test]
fn gzip_and_brotli_bodies_are_accepted_and_a_bomb_is_refused_quickly() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    let compressed = |bytes: Vec<u8>, encoding: &str| {
        client()
            .post(server.url("/v1/events"))
            .bearer_auth("zip.test")
            .header("content-type", "application/json")
            .header("content-encoding", encoding)
            .body(bytes)
            .send()
            .unwrap()
    };
    let plain = event("zip.test", "pageview", "/gzip").to_string();
    assert_eq!(
        compressed(gzip(plain.as_bytes()), "gzip").status(),
        StatusCode::ACCEPTED
    );
    let plain = event("zip.test", "pageview", "/brotli").to_string();
    assert_eq!(
        compressed(brotli(plain.as_bytes()), "br").status(),
        StatusCode::ACCEPTED
    );
    // 1 GiB of zeros as 1024 concatenated gzip members of 1 MiB each: about
    // 1 MB on the wire. The server must stop inflating at 5 MB.
    let member = gzip(&vec![0u8; 1024 * 1024]);
    let bomb: Vec<u8> = member
        .iter()
        .copied()
        .cycle()
        .take(member.len() * 1024)
        .collect();
    assert!(bomb.len() < 2 * 1024 * 1024, "{} bytes", bomb.len());
    let started = Instant::now();
    let response = compressed(bomb, "gzip");
    let elapsed = started.elapsed();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_code(response), "payload_too_large");
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
    let brotli_bomb = brotli(&vec![0u8; 64 * 1024 * 1024]);
    let response = compressed(brotli_bomb, "br");
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    server.terminate();
    assert_eq!(
        home.read(|db| db.pageview_paths("zip.test")),
        ["/gzip", "/brotli"]
    );
}

#[test]
fn a_repeated_id_is_accepted_and_stored_once_also_across_restarts() {
    let home = TestHome::new();
    let body = event("dedupe.test", "pageview", "/once");
    let server = Server::start(&home, &[]);
    for _ in 0..3 {
        assert_eq!(
            send(&server, "/events", Some("dedupe.test"), &body).status(),
            StatusCode::ACCEPTED
        );
    }
    server.terminate();
    assert_eq!(home.read(|db| db.event_count("dedupe.test")), 1);
    let server = Server::start(&home, &[]);
    assert_eq!(
        send(&server, "/events", Some("dedupe.test"), &body).status(),
        StatusCode::ACCEPTED
    );
    let fresh = event("dedupe.test", "pageview", "/twice");
    assert_eq!(
        send(&server, "/events", Some("dedupe.test"), &fresh).status(),
        StatusCode::ACCEPTED
    );
    server.terminate();
    assert_eq!(
        home.read(|db| db.pageview_paths("dedupe.test")),
        ["/once", "/twice"]
    );
}

/// Runs one SQL statement on the database of `home` with the sqlite3 tool.
fn sqlite(home: &TestHome, sql: &str) -> String {
    let output = std::process::Command::new("sqlite3")
        .arg(home.data_dir().join("mallard.db"))
        .arg(sql)
        .output()
        .expect("this test needs the sqlite3 tool (.ci/run installs it)");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[test]
fn dedupe_keys_past_their_window_are_forgotten_and_recent_ones_kept() {
    let home = TestHome::new();
    let body = event("window.test", "pageview", "/kept");
    let server = Server::start(&home, &[]);
    assert_eq!(
        send(&server, "/events", Some("window.test"), &body).status(),
        StatusCode::ACCEPTED
    );
    server.terminate();
    // A key of an event from long ago, past the 35-day window.
    sqlite(
        &home,
        "INSERT INTO collector_event_ids (key, day) VALUES (randomblob(16), 1);",
    );
    assert_eq!(
        sqlite(&home, "SELECT count(*) FROM collector_event_ids;"),
        "2"
    );
    let server = Server::start(&home, &[]);
    // Pruning runs when the server starts, then hourly.
    let deadline = Instant::now() + Duration::from_secs(15);
    while sqlite(&home, "SELECT count(*) FROM collector_event_ids;") != "1" {
        assert!(Instant::now() < deadline, "the old key was never pruned");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The recent key still deduplicates.
    assert_eq!(
        send(&server, "/events", Some("window.test"), &body).status(),
        StatusCode::ACCEPTED
    );
    server.terminate();
    assert_eq!(home.read(|db| db.event_count("window.test")), 1);
}

#[test]
fn consent_is_required_when_configured_and_stored_with_the_event() {
    let home = TestHome::new();
    let server = Server::start(&home, &[("CONSENT_REQUIRED", "true")]);
    let response = send(
        &server,
        "/events",
        Some("consent.test"),
        &event("consent.test", "pageview", "/"),
    );
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(response), "consent_required");
    let response = post(
        &server,
        "/events",
        Some("consent.test"),
        &event("consent.test", "pageview", "/ok"),
    )
    .header("x-consent", "granted:analytics")
    .send()
    .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    server.terminate();
    assert_eq!(
        home.read(|db| db.collector_consents("consent.test")),
        ["granted:analytics"]
    );
    assert_eq!(home.read(|db| db.pageview_paths("consent.test")), ["/ok"]);
}

#[test]
fn server_events_skip_enrichment_and_browser_events_get_it() {
    let home = TestHome::new();
    let server = Server::start(
        &home,
        &[
            ("ADMIN_TOKEN", ADMIN_TOKEN),
            ("INTERNAL_IP_RANGES", "127.0.0.0/8"),
            ("MALLARD_FILTER_BOTS", "false"),
        ],
    );
    let server_key = mint_key(&server, WORKSPACE, &["ingest:server"]);
    let mut from_backend = event("s2s.test", "order_paid", "/checkout");
    from_backend["context"]["ua"] = json!(BROWSER_UA);
    let response = post(&server, "/s2s/events", Some(&server_key), &from_backend)
        .header("x-site-id", "s2s.test")
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let response = send(
        &server,
        "/v1/s2s/events",
        Some(&server_key),
        &event("s2s.test", "pageview", "/v1"),
    );
    assert_eq!(
        response.status(),
        StatusCode::ACCEPTED,
        "the body's site_id names the site"
    );
    assert_eq!(
        send(
            &server,
            "/events",
            Some("web.test"),
            &event("web.test", "pageview", "/")
        )
        .status(),
        StatusCode::ACCEPTED
    );
    let mut bot = event("bot.test", "pageview", "/");
    bot["context"]["ua"] =
        json!("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)");
    assert_eq!(
        send(&server, "/events", Some("bot.test"), &bot).status(),
        StatusCode::ACCEPTED
    );
    server.terminate();
    let (s2s, web, bots) = home.read(|db| {
        Ok((
            db.collector_visit_enrichment("s2s.test")?,
            db.collector_visit_enrichment("web.test")?,
            db.collector_visit_enrichment("bot.test")?,
        ))
    });
    assert_eq!(s2s.len(), 1);
    let visit = &s2s[0];
    assert!(!visit.is_bot && !visit.is_internal);
    assert_eq!(
        (&visit.browser, &visit.os, &visit.country),
        (&None, &None, &None)
    );
    assert_eq!(web[0].browser.as_deref(), Some("Chrome"));
    assert_eq!(web[0].os.as_deref(), Some("Linux"));
    assert!(web[0].is_internal, "127.0.0.1 is in INTERNAL_IP_RANGES");
    assert!(!web[0].is_bot);
    assert_eq!(web[0].country, None);
    assert!(bots[0].is_bot);
}

#[test]
fn bots_are_dropped_by_default_like_mallard_events() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    let mut bot = event("bots.test", "pageview", "/");
    bot["context"]["ua"] =
        json!("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)");
    assert_eq!(
        send(&server, "/events", Some("bots.test"), &bot).status(),
        StatusCode::ACCEPTED
    );
    server.terminate();
    assert_eq!(home.read(|db| db.event_count("bots.test")), 0);
}

#[test]
fn the_tracking_plan_rejects_or_warns_per_site() {
    let home = TestHome::new();
    let plan = home.path().join("plan.toml");
    std::fs::write(
        &plan,
        r#"
[sites."shop.test"]
mode = "reject"
[sites."shop.test".events.pageview]
[sites."shop.test".events.checkout_completed.props]
type = "object"
required = ["amount"]
properties = { amount = { type = "number", minimum = 0 } }

[sites."blog.test"]
mode = "warn"
[sites."blog.test".events.pageview]
"#,
    )
    .unwrap();
    let server = Server::start(&home, &[("TRACKING_PLAN_FILE", plan.to_str().unwrap())]);
    let mut bad = event("shop.test", "checkout_completed", "/pay");
    bad["props"] = json!({"amount": -5});
    let response = send(&server, "/events", Some("shop.test"), &bad);
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = json_of(response);
    assert_eq!(body["error"]["code"], "schema_validation_failed");
    assert_eq!(body["error"]["details"][0]["field"], "props.amount");
    let response = send(
        &server,
        "/events",
        Some("shop.test"),
        &event("shop.test", "signup", "/"),
    );
    assert_eq!(json_of(response)["error"]["details"][0]["field"], "type");
    let mut good = event("shop.test", "checkout_completed", "/pay");
    good["props"] = json!({"amount": 12});
    assert_eq!(
        send(&server, "/events", Some("shop.test"), &good).status(),
        StatusCode::ACCEPTED
    );
    let off_plan = event("blog.test", "signup", "/");
    assert_eq!(
        send(&server, "/events", Some("blog.test"), &off_plan).status(),
        StatusCode::ACCEPTED
    );
    server.terminate();
    assert_eq!(home.read(|db| db.event_count("shop.test")), 1);
    assert_eq!(home.read(|db| db.event_count("blog.test")), 1);
    // A broken plan is a start-up error that names the setting.
    std::fs::write(&plan, "[sites.\"x\"]\nmode = \"loud\"\n").unwrap();
    let err = Server::try_start(
        &home,
        &[("TRACKING_PLAN_FILE", plan.to_str().unwrap())],
        &[],
    )
    .err()
    .expect("a broken plan stops the start");
    assert!(err.to_string().contains("tracking_plan_file"), "{err}");
}

#[test]
fn client_timestamps_are_kept_inside_the_sane_window() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    let hour_ago = now_ms() - 60 * 60 * 1000;
    let mut recent = event("time.test", "tick", "/");
    recent["ts"] = json!(hour_ago);
    let mut ancient = event("time.test", "tick", "/");
    ancient["ts"] = json!(now_ms() - 60 * 24 * 60 * 60 * 1000);
    let mut future = event("time.test", "tick", "/");
    future["ts"] = json!(now_ms() + 3 * 24 * 60 * 60 * 1000);
    let before = now_ms();
    for body in [&recent, &ancient, &future] {
        assert_eq!(
            send(&server, "/events", Some("time.test"), body).status(),
            StatusCode::ACCEPTED
        );
    }
    let after = now_ms();
    server.terminate();
    let times = home.read(|db| db.collector_event_times("time.test", "tick"));
    assert_eq!(times.len(), 3);
    assert_eq!(times[0], hour_ago);
    assert!(
        times[1..].iter().all(|t| (before..=after).contains(t)),
        "{times:?}"
    );
}

#[test]
fn health_version_and_metrics_are_served_under_both_prefixes() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    let http = client();
    for path in ["/healthz", "/v1/healthz"] {
        let response = http.get(server.url(path)).send().unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(json_of(response), json!({"status": "ok"}));
    }
    for path in ["/version", "/v1/version"] {
        let body = json_of(http.get(server.url(path)).send().unwrap());
        assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    }
    send(
        &server,
        "/events",
        Some("m.test"),
        &event("m.test", "pageview", "/"),
    );
    for path in ["/metrics", "/v1/metrics"] {
        let response = http.get(server.url(path)).send().unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain; version=0.0.4")
        );
        let text = response.text().unwrap();
        assert!(text.contains("family=\"collector\""), "{path}: {text}");
    }
    // The browser endpoint answers CORS preflights for its headers.
    let preflight = http
        .request(reqwest::Method::OPTIONS, server.url("/events"))
        .header("origin", "https://site.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,x-site-id,x-consent,content-encoding",
        )
        .send()
        .unwrap();
    assert!(preflight.status().is_success());
    let allowed = preflight.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_owned();
    for header in [
        "authorization",
        "x-site-id",
        "x-consent",
        "content-encoding",
    ] {
        assert!(allowed.contains(header), "{allowed}");
    }
    server.terminate();
}

#[test]
fn the_metrics_token_guards_both_metrics_paths() {
    let home = TestHome::new();
    let server = Server::start(
        &home,
        &[("MALLARD_METRICS_TOKEN", "metrics-token-0123456789")],
    );
    for path in ["/metrics", "/v1/metrics"] {
        let denied = client().get(server.url(path)).send().unwrap();
        assert_eq!(denied.status(), StatusCode::UNAUTHORIZED);
        let allowed = client()
            .get(server.url(path))
            .bearer_auth("metrics-token-0123456789")
            .send()
            .unwrap();
        assert_eq!(allowed.status(), StatusCode::OK);
    }
    server.terminate();
}
