//! End-to-end tests of the collector's rate gates: per client IP, per api key,
//! per workspace (sustained rate and monthly quota), and the exempt probes.

#[path = "collector_common.rs"]
mod common;

use common::*;
use mallard_e2e::{Server, TestHome, client, json_of};
use reqwest::StatusCode;
use reqwest::blocking::Response;
use serde_json::json;

fn assert_flat_rate_limited(response: Response, reason: &str) {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(response.headers()["x-ratelimit-reason"], reason);
    assert_eq!(json_of(response), json!({"error": "rate_limited"}));
}

#[test]
fn the_per_ip_gate_limits_each_client_address_before_auth() {
    let home = TestHome::new();
    let server = Server::start(
        &home,
        &[
            ("RATE_LIMIT_IP_RPS", "1"),
            ("RATE_LIMIT_IP_BURST", "3"),
            ("MALLARD_TRUSTED_PROXIES", "127.0.0.1"),
        ],
    );
    let from = |ip: &str, bearer: Option<&str>| {
        post(
            &server,
            "/events",
            bearer,
            &event("ip.test", "pageview", "/"),
        )
        .header("x-forwarded-for", ip)
        .send()
        .unwrap()
    };
    for _ in 0..3 {
        assert_eq!(
            from("198.51.100.1", Some("ip.test")).status(),
            StatusCode::ACCEPTED
        );
    }
    assert_flat_rate_limited(from("198.51.100.1", Some("ip.test")), "per_ip");
    // The gate runs before auth: even a request without credentials is counted
    // and refused with 429 rather than 401.
    assert_flat_rate_limited(from("198.51.100.1", None), "per_ip");
    assert_eq!(
        from("198.51.100.2", Some("ip.test")).status(),
        StatusCode::ACCEPTED
    );
    // Probes are exempt.
    for path in ["/healthz", "/version", "/v1/healthz", "/v1/version"] {
        let response = client()
            .get(server.url(path))
            .header("x-forwarded-for", "198.51.100.1")
            .send()
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    server.terminate();
    assert_eq!(home.read(|db| db.event_count("ip.test")), 4);
}

#[test]
fn the_per_key_gate_limits_each_credential_after_auth() {
    let home = TestHome::new();
    let server = Server::start(
        &home,
        &[
            ("ADMIN_TOKEN", ADMIN_TOKEN),
            ("RATE_LIMIT_KEY_RPS", "1"),
            ("RATE_LIMIT_KEY_BURST", "2"),
        ],
    );
    let first = mint_key(&server, WORKSPACE, &["ingest:write"]);
    let second = mint_key(&server, WORKSPACE, &["ingest:write"]);
    for _ in 0..2 {
        assert_eq!(
            send(
                &server,
                "/events",
                Some(&first),
                &event("key.test", "pageview", "/")
            )
            .status(),
            StatusCode::ACCEPTED
        );
    }
    assert_flat_rate_limited(
        send(
            &server,
            "/events",
            Some(&first),
            &event("key.test", "pageview", "/"),
        ),
        "per_api_key",
    );
    assert_eq!(
        send(
            &server,
            "/events",
            Some(&second),
            &event("key.test", "pageview", "/")
        )
        .status(),
        StatusCode::ACCEPTED
    );
    // Legacy site-id bearers are limited per site.
    for _ in 0..2 {
        assert_eq!(
            send(
                &server,
                "/events",
                Some("key.test"),
                &event("key.test", "pageview", "/")
            )
            .status(),
            StatusCode::ACCEPTED
        );
    }
    assert_flat_rate_limited(
        send(
            &server,
            "/events",
            Some("key.test"),
            &event("key.test", "pageview", "/"),
        ),
        "per_api_key",
    );
    // An unauthenticated request is 401, not counted against any key.
    let response = send(
        &server,
        "/events",
        Some("lk_live_00000000000000000000000000000000"),
        &event("key.test", "pageview", "/"),
    );
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    server.terminate();
    assert_eq!(home.read(|db| db.event_count("key.test")), 5);
}

#[test]
fn the_workspace_gate_answers_the_billing_envelope() {
    let home = TestHome::new();
    let server = Server::start(
        &home,
        &[
            ("ADMIN_TOKEN", ADMIN_TOKEN),
            ("WORKSPACE_RATE_LIMIT_RPS", "1"),
            ("WORKSPACE_RATE_LIMIT_BURST", "2"),
        ],
    );
    // Two keys of one workspace share the workspace's bucket.
    let first = mint_key(&server, WORKSPACE, &["ingest:write"]);
    let second = mint_key(&server, WORKSPACE, &["ingest:write"]);
    assert_eq!(
        send(
            &server,
            "/events",
            Some(&first),
            &event("ws.test", "pageview", "/")
        )
        .status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        send(
            &server,
            "/events",
            Some(&second),
            &event("ws.test", "pageview", "/")
        )
        .status(),
        StatusCode::ACCEPTED
    );
    let response = send(
        &server,
        "/events",
        Some(&first),
        &event("ws.test", "pageview", "/"),
    );
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(response.headers()["x-ratelimit-reason"], "per_workspace");
    assert_eq!(error_code(response), "rate_limit_exceeded");
    let other = mint_key(
        &server,
        "11111111-2222-4333-8444-555555555555",
        &["ingest:write"],
    );
    assert_eq!(
        send(
            &server,
            "/events",
            Some(&other),
            &event("ws.test", "pageview", "/")
        )
        .status(),
        StatusCode::ACCEPTED
    );
    server.terminate();
}

#[test]
fn the_monthly_quota_answers_402_and_survives_a_restart() {
    let home = TestHome::new();
    let env = [
        ("ADMIN_TOKEN", ADMIN_TOKEN),
        ("WORKSPACE_MONTHLY_QUOTA", "3"),
    ];
    let server = Server::start(&home, &env);
    let key = mint_key(&server, WORKSPACE, &["ingest:write"]);
    for _ in 0..2 {
        assert_eq!(
            send(
                &server,
                "/events",
                Some(&key),
                &event("quota.test", "pageview", "/")
            )
            .status(),
            StatusCode::ACCEPTED
        );
    }
    server.terminate();
    let server = Server::start(&home, &env);
    assert_eq!(
        send(
            &server,
            "/events",
            Some(&key),
            &event("quota.test", "pageview", "/")
        )
        .status(),
        StatusCode::ACCEPTED
    );
    let response = send(
        &server,
        "/events",
        Some(&key),
        &event("quota.test", "pageview", "/"),
    );
    assert_eq!(response.status(), StatusCode::PAYMENT_REQUIRED);
    assert_eq!(error_code(response), "monthly_quota_exceeded");
    // Legacy bearers belong to no workspace and are not metered.
    assert_eq!(
        send(
            &server,
            "/events",
            Some("quota.test"),
            &event("quota.test", "pageview", "/")
        )
        .status(),
        StatusCode::ACCEPTED
    );
    server.terminate();
    assert_eq!(home.read(|db| db.event_count("quota.test")), 4);
}
