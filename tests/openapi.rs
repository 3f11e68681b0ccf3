//! The OpenAPI description at `GET /api/openapi.json` and the router agree:
//! every path registered with `.route("...")` in the server's source is
//! described, every described path is routed, and every described method
//! is served while every other method is refused with 405. The description
//! is also well-formed enough for tools: OpenAPI 3.1, both API families,
//! the security schemes, and each family's error body.

use std::collections::BTreeSet;
use std::path::Path;

use mallard_e2e::{Server, TestHome, client, json_of};
use reqwest::StatusCode;
use reqwest::blocking::Response;
use serde_json::Value;

/// The methods probed on every path.
const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// Every path literal passed to `.route(` in the Rust files under `dir`,
/// with axum's catch-all `{*name}` written as OpenAPI's `{name}`.
fn routed_paths(dir: &Path, out: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            routed_paths(&path, out);
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for (at, _) in text.match_indices(".route(") {
            let rest = text[at + ".route(".len()..].trim_start();
            let Some(literal) = rest.strip_prefix('"') else {
                continue;
            };
            let end = literal.find('"').unwrap();
            out.insert(literal[..end].replace("{*", "{"));
        }
    }
}

/// A described path with each parameter replaced by a value that names
/// something plausible, so a routed path is never answered by the
/// fallback's bare `Not found`.
fn concrete(path: &str) -> String {
    path.replace("{dimension}", "pages")
        .replace("{key}", "plan")
        .replace("{file}", "timeseries.svg")
        .replace("{key_hash}", &"0".repeat(64))
        .replace("{id}", "00000000-0000-4000-8000-000000000000")
        .replace("{job}", "1")
        .replace("{site_id}", "probe.test")
        .replace("{path}", "app.js")
}

fn is_fallback(response: Response) -> bool {
    response.status() == StatusCode::NOT_FOUND
        && response.text().unwrap_or_default() == r#"{"error":"Not found"}"#
}

#[test]
fn the_description_and_the_router_name_the_same_routes_and_methods() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    let response = client()
        .get(server.url("/api/openapi.json"))
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    let description: Value = json_of(response);
    assert!(description["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = description["paths"].as_object().unwrap();
    let described: BTreeSet<String> = paths.keys().cloned().collect();

    let mut routed = BTreeSet::new();
    routed_paths(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/mallard-server/src"),
        &mut routed,
    );
    assert!(routed.len() > 50, "the source scan found {routed:?}");
    let undescribed: Vec<_> = routed.difference(&described).collect();
    assert!(
        undescribed.is_empty(),
        "routed but not described: {undescribed:?}"
    );
    let unrouted: Vec<_> = described.difference(&routed).collect();
    assert!(
        unrouted.is_empty(),
        "described but not routed: {unrouted:?}"
    );

    let http = client();
    for (path, item) in paths {
        let url = server.url(&concrete(path));
        for method in METHODS {
            let documented = item.get(method.to_ascii_lowercase()).is_some();
            let response = http
                .request(method.parse().unwrap(), &url)
                .header("content-type", "application/json")
                .body("")
                .send()
                .unwrap();
            let status = response.status();
            if documented {
                assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
                assert!(!is_fallback(response), "{method} {path} is not routed");
            } else {
                assert_eq!(
                    status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path} is served but not described"
                );
            }
        }
    }
}

#[test]
fn the_description_covers_both_families_their_errors_and_their_credentials() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    let description = json_of(
        client()
            .get(server.url("/api/openapi.json"))
            .send()
            .unwrap(),
    );
    let schemas = &description["components"]["schemas"];
    // The Mallard family's flat error and the collector's envelope.
    assert_eq!(
        schemas["ErrorBody"]["required"],
        serde_json::json!(["error"])
    );
    assert!(
        schemas["CollectorErrorBody"]["oneOf"].is_array(),
        "{}",
        schemas["CollectorErrorBody"]
    );
    let stats_error = &description["paths"]["/api/stats/main"]["get"]["responses"]["400"];
    assert_eq!(
        stats_error["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ErrorBody"
    );
    let collector_error = &description["paths"]["/events"]["post"]["responses"]["400"];
    assert_eq!(
        collector_error["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/CollectorErrorBody"
    );
    let schemes = description["components"]["securitySchemes"]
        .as_object()
        .unwrap();
    assert_eq!(
        schemes.keys().map(String::as_str).collect::<Vec<_>>(),
        ["admin_token", "api_key", "bearer", "session"]
    );
    let admin = &description["paths"]["/admin/api-keys"]["get"]["security"];
    assert_eq!(admin, &serde_json::json!([{"admin_token": []}]));
    // Mallard's stats shapes: lists where Mallard answers lists.
    let timeseries = &description["paths"]["/api/stats/timeseries"]["get"]["responses"]["200"];
    assert_eq!(
        timeseries["content"]["application/json"]["schema"]["type"],
        "array"
    );
}

/// Whether `description` documents `status` for `method` on `path`.
fn documents(description: &Value, method: &str, path: &str, status: StatusCode) -> bool {
    description["paths"][path][method]["responses"]
        .get(status.as_str())
        .is_some()
}

/// Answers Schemathesis found undocumented (seeds 20261205 and a first run
/// without one), each now documented: the request, then the answer it gets.
#[test]
fn answers_the_fuzzer_found_undocumented_are_documented() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    let http = client();
    let description = json_of(http.get(server.url("/api/openapi.json")).send().unwrap());
    let cases: [(&str, &str, reqwest::blocking::RequestBuilder); 3] = [
        // A pixel with a screen width that is not a number.
        (
            "get",
            "/api/event",
            http.get(server.url("/api/event?d=&n=&u=&w=AAA")),
        ),
        // An OPTIONS request that is not a CORS preflight.
        (
            "options",
            "/api/event",
            http.request(reqwest::Method::OPTIONS, server.url("/api/event")),
        ),
        // JSON of the wrong shape for a log import from the window.
        (
            "post",
            "/api/host/import-logs",
            http.post(server.url("/api/host/import-logs"))
                .header("content-type", "application/json")
                .body("[null, null]"),
        ),
    ];
    for (method, path, request) in cases {
        let status = request.send().unwrap().status();
        assert!(
            documents(&description, method, path, status),
            "{method} {path} answered {status}, which the description does not document"
        );
    }
}
