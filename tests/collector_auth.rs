//! End-to-end tests of collector authentication: every `API_KEY_MODE` on
//! `/events` and `/s2s/events`, and the `/admin/api-keys` endpoints.

#[path = "collector_common.rs"]
mod common;

use common::*;
use mallard_e2e::{Server, TestHome, client, json_of};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn start(home: &TestHome, mode: &str) -> Server {
    Server::start(
        home,
        &[("API_KEY_MODE", mode), ("ADMIN_TOKEN", ADMIN_TOKEN)],
    )
}

/// Sends a `site.test` event to `path` with `bearer` and optional `X-Site-Id`.
fn ingest(
    server: &Server,
    path: &str,
    bearer: Option<&str>,
    site_header: bool,
) -> reqwest::blocking::Response {
    let mut request = post(server, path, bearer, &event("site.test", "pageview", "/"));
    if site_header {
        request = request.header("x-site-id", "site.test");
    }
    request.send().unwrap()
}

fn assert_api_key_required(response: reqwest::blocking::Response, port: u16) {
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        json_of(response),
        json!({"error": "api_key_required", "upgrade_docs": format!("http://127.0.0.1:{port}/#/keys")})
    );
}

#[test]
fn disabled_mode_takes_the_bearer_as_the_site_id() {
    let home = TestHome::new();
    let server = start(&home, "disabled");
    assert_eq!(
        ingest(&server, "/events", Some("site.test"), false).status(),
        StatusCode::ACCEPTED
    );
    let response = ingest(&server, "/events", Some("not a site id"), false);
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(response), "unauthorized");
    assert_eq!(
        error_code(ingest(&server, "/events", None, false)),
        "unauthorized"
    );
    // /s2s/events needs a server key, never a site id.
    let response = ingest(&server, "/s2s/events", Some("site.test"), false);
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(response), "unauthorized");
    let server_key = mint_key(&server, WORKSPACE, &["ingest:server"]);
    assert_eq!(
        ingest(&server, "/s2s/events", Some(&server_key), true).status(),
        StatusCode::ACCEPTED
    );
    let write_key = mint_key(&server, WORKSPACE, &["ingest:write"]);
    let response = ingest(&server, "/s2s/events", Some(&write_key), true);
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(response), "insufficient_scope");
    server.terminate();
    assert_eq!(home.read(|db| db.event_count("site.test")), 2);
}

#[test]
fn tag_mode_tries_a_key_then_falls_back_to_the_site_id_and_logs_it() {
    let home = TestHome::new();
    let server = Server::start(
        &home,
        &[
            ("API_KEY_MODE", "tag"),
            ("ADMIN_TOKEN", ADMIN_TOKEN),
            ("RUST_LOG", "info"),
        ],
    );
    let write_key = mint_key(&server, WORKSPACE, &["ingest:write"]);
    assert_eq!(
        ingest(&server, "/events", Some(&write_key), true).status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        ingest(&server, "/events", Some(&write_key), false).status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        ingest(&server, "/events", Some("site.test"), false).status(),
        StatusCode::ACCEPTED
    );
    let unknown = "lk_live_00000000000000000000000000000000";
    assert_eq!(
        error_code(ingest(&server, "/events", Some(unknown), true)),
        "unauthorized"
    );
    let server_only = mint_key(&server, WORKSPACE, &["ingest:server"]);
    let response = ingest(&server, "/events", Some(&server_only), true);
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(response), "insufficient_scope");
    // /s2s/events: server keys and ingest:write keys, no site ids.
    assert_eq!(
        ingest(&server, "/s2s/events", Some(&server_only), true).status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        ingest(&server, "/v1/s2s/events", Some(&write_key), true).status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        error_code(ingest(&server, "/s2s/events", Some("site.test"), true)),
        "unauthorized"
    );
    // A key with X-Site-Id naming another site than the body is refused.
    let response = post(
        &server,
        "/events",
        Some(&write_key),
        &event("site.test", "pageview", "/"),
    )
    .header("x-site-id", "elsewhere.test")
    .send()
    .unwrap();
    assert_eq!(error_code(response), "site_mismatch");
    let (status, stderr) = server.terminate();
    assert!(status.success());
    assert!(stderr.contains("legacy_auth"), "{stderr}");
    assert!(!stderr.contains(&write_key), "keys are never logged");
    assert_eq!(home.read(|db| db.event_count("site.test")), 5);
}

#[test]
fn require_mode_accepts_only_active_keys() {
    let home = TestHome::new();
    let server = start(&home, "require");
    let port = server.port;
    assert_api_key_required(ingest(&server, "/events", Some("site.test"), true), port);
    assert_api_key_required(ingest(&server, "/events", None, true), port);
    assert_api_key_required(
        ingest(
            &server,
            "/events",
            Some("6f1c5a1e-8d7b-4c1e-9a43-0b6a8e0f7d21"),
            true,
        ),
        port,
    );
    let write_key = mint_key(&server, WORKSPACE, &["ingest:write"]);
    assert_eq!(
        ingest(&server, "/events", Some(&write_key), true).status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        ingest(&server, "/s2s/events", Some(&write_key), true).status(),
        StatusCode::ACCEPTED
    );
    let admin_key = mint_key(&server, WORKSPACE, &["admin"]);
    assert_eq!(
        ingest(&server, "/v1/events", Some(&admin_key), true).status(),
        StatusCode::ACCEPTED
    );
    let server_only = mint_key(&server, WORKSPACE, &["ingest:server"]);
    assert_api_key_required(
        ingest(&server, "/s2s/events", Some(&server_only), true),
        port,
    );
    assert_api_key_required(
        ingest(&server, "/s2s/events", Some("site.test"), true),
        port,
    );
    server.terminate();
    assert_eq!(home.read(|db| db.event_count("site.test")), 3);
}

fn admin(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
) -> reqwest::blocking::RequestBuilder {
    let mut request = client().request(method, server.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request
}

#[test]
fn admin_endpoints_fail_closed_without_admin_token() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    let body = json!({"workspace_id": WORKSPACE, "name": "k", "scopes": ["admin"]});
    let create = admin(
        &server,
        reqwest::Method::POST,
        "/admin/api-keys",
        Some("anything"),
    )
    .json(&body)
    .send()
    .unwrap();
    assert_eq!(create.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(error_code(create), "unavailable");
    let list = admin(
        &server,
        reqwest::Method::GET,
        &format!("/admin/api-keys?workspace_id={WORKSPACE}"),
        None,
    )
    .send()
    .unwrap();
    assert_eq!(list.status(), StatusCode::SERVICE_UNAVAILABLE);
    let revoke = admin(
        &server,
        reqwest::Method::DELETE,
        &format!("/admin/api-keys/{WORKSPACE}?workspace_id={WORKSPACE}"),
        None,
    )
    .send()
    .unwrap();
    assert_eq!(revoke.status(), StatusCode::SERVICE_UNAVAILABLE);
    server.terminate();
}

#[test]
fn admin_endpoints_mint_list_and_soft_revoke_keys() {
    let home = TestHome::new();
    let server = start(&home, "require");
    let body = json!({"workspace_id": WORKSPACE, "name": "website", "scopes": ["ingest:write"]});
    for token in [None, Some("wrong-token")] {
        let response = admin(&server, reqwest::Method::POST, "/admin/api-keys", token)
            .json(&body)
            .send()
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(error_code(response), "unauthorized");
    }
    let bad = admin(
        &server,
        reqwest::Method::POST,
        "/admin/api-keys",
        Some(ADMIN_TOKEN),
    )
    .json(&json!({"workspace_id": "nope", "name": "x", "scopes": ["admin"]}))
    .send()
    .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(bad), "invalid_field");
    let missing = admin(
        &server,
        reqwest::Method::POST,
        "/admin/api-keys",
        Some(ADMIN_TOKEN),
    )
    .json(&json!({"workspace_id": WORKSPACE, "scopes": ["admin"]}))
    .send()
    .unwrap();
    assert_eq!(error_code(missing), "missing_field");
    let created = admin(
        &server,
        reqwest::Method::POST,
        "/admin/api-keys",
        Some(ADMIN_TOKEN),
    )
    .json(&body)
    .send()
    .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let created = json_of(created);
    let key = created["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("lk_live_") && key.len() == 40, "{key}");
    assert!(key[8..].chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(created["workspace_id"], WORKSPACE);
    assert_eq!(created["name"], "website");
    assert_eq!(created["scopes"], json!(["ingest:write"]));
    assert_eq!(created["prefix"], &key[..12]);
    assert_eq!(created["suffix"], &key[36..]);
    assert!(created["created_at"].as_str().unwrap().ends_with('Z'));
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(
        ingest(&server, "/events", Some(&key), true).status(),
        StatusCode::ACCEPTED
    );

    let listed = json_of(
        admin(
            &server,
            reqwest::Method::GET,
            &format!("/admin/api-keys?workspace_id={WORKSPACE}"),
            Some(ADMIN_TOKEN),
        )
        .send()
        .unwrap(),
    );
    let keys = listed["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["id"], id.as_str());
    assert_eq!(keys[0]["revoked_at"], Value::Null);
    assert!(keys[0].get("key").is_none(), "the plaintext is shown once");
    assert!(!listed.to_string().contains(&key));
    let missing = admin(
        &server,
        reqwest::Method::GET,
        "/admin/api-keys",
        Some(ADMIN_TOKEN),
    )
    .send()
    .unwrap();
    assert_eq!(error_code(missing), "missing_field");
    let other = "11111111-2222-4333-8444-555555555555";
    let unknown = admin(
        &server,
        reqwest::Method::DELETE,
        &format!("/admin/api-keys/{id}?workspace_id={other}"),
        Some(ADMIN_TOKEN),
    )
    .send()
    .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(unknown), "not_found");

    let revoked = admin(
        &server,
        reqwest::Method::DELETE,
        &format!("/admin/api-keys/{id}?workspace_id={WORKSPACE}"),
        Some(ADMIN_TOKEN),
    )
    .send()
    .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    assert!(json_of(revoked)["revoked_at"].is_string());
    assert_api_key_required(ingest(&server, "/events", Some(&key), true), server.port);
    let listed = json_of(
        admin(
            &server,
            reqwest::Method::GET,
            &format!("/admin/api-keys?workspace_id={WORKSPACE}"),
            Some(ADMIN_TOKEN),
        )
        .send()
        .unwrap(),
    );
    assert_eq!(
        listed["keys"].as_array().unwrap().len(),
        1,
        "the row is kept"
    );
    assert!(listed["keys"][0]["revoked_at"].is_string());
    server.terminate();

    // Keys survive a restart; revoked ones stay revoked.
    let server = start(&home, "require");
    assert_api_key_required(ingest(&server, "/events", Some(&key), true), server.port);
    let fresh = mint_key(&server, WORKSPACE, &["ingest:write"]);
    server.terminate();
    let server = start(&home, "require");
    assert_eq!(
        ingest(&server, "/events", Some(&fresh), true).status(),
        StatusCode::ACCEPTED
    );
    server.terminate();
}
