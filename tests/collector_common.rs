//! Helpers shared by the collector end-to-end tests: event bodies, compressed
//! bodies, requests with bearer tokens and api keys minted over the admin API.

#![allow(dead_code)]

use std::io::Write;

use mallard_e2e::{Server, client, json_of};
use reqwest::StatusCode;
use reqwest::blocking::{RequestBuilder, Response};
use serde_json::{Value, json};

/// The admin token the tests start servers with.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// A workspace id.
pub const WORKSPACE: &str = "6f1c5a1e-8d7b-4c1e-9a43-0b6a8e0f7d21";

/// The current time in ms since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A collector event with a unique id.
pub fn event(site: &str, kind: &str, path: &str) -> Value {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    json!({
        "id": format!("00000000-0000-4000-8000-{n:012}"),
        "site_id": site,
        "anon_id": "anon-visitor-1",
        "type": kind,
        "url": format!("https://{site}{path}"),
        "ts": now_ms(),
        "context": {"screen": {"w": 1440, "h": 900}},
    })
}

/// A POST of `body` to `path` with `bearer`.
pub fn post(server: &Server, path: &str, bearer: Option<&str>, body: &Value) -> RequestBuilder {
    let mut request = client()
        .post(server.url(path))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    request
}

/// Sends `body` to `path` with `bearer` and returns the response.
pub fn send(server: &Server, path: &str, bearer: Option<&str>, body: &Value) -> Response {
    post(server, path, bearer, body).send().unwrap()
}

/// The error code of an enveloped error response, checking its shape.
pub fn error_code(response: Response) -> String {
    let body = json_of(response);
    assert!(body["error"]["message"].is_string(), "{body}");
    assert!(body["error"]["details"].is_array(), "{body}");
    body["error"]["code"].as_str().unwrap().to_owned()
}

/// gzip of `data`.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// Brotli of `data`.
pub fn brotli(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut writer = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
        writer.write_all(data).unwrap();
    }
    out
}

/// Mints a key for `workspace` with `scopes` and returns the plaintext.
pub fn mint_key(server: &Server, workspace: &str, scopes: &[&str]) -> String {
    let response = client()
        .post(server.url("/admin/api-keys"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"workspace_id": workspace, "name": "test key", "scopes": scopes}))
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    json_of(response)["key"].as_str().unwrap().to_owned()
}
