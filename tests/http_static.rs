//! End-to-end tests of the unauthenticated endpoints: health, static files,
//! the tracker, unknown routes and security headers.

use mallard_e2e::{Server, TestHome, client, json_of};
use reqwest::StatusCode;

#[test]
fn health_endpoints_answer_as_documented() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    let http = client();
    let health = http.get(server.url("/health")).send().unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(health.text().unwrap(), "ok");
    let ready = http.get(server.url("/health/ready")).send().unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let detailed = json_of(http.get(server.url("/health/detailed")).send().unwrap());
    assert_eq!(detailed["status"], "ok");
    assert_eq!(detailed["database"], "ok");
    assert_eq!(detailed["filter_bots"], true);
    assert_eq!(detailed["geoip_loaded"], true);
    assert_eq!(
        detailed["geoip_database"], "country ipvAll",
        "the bundled database"
    );
    assert!(detailed["version"].is_string());
    assert!(detailed["queued_events"].is_u64());
}

#[test]
fn readiness_fails_with_503_when_the_database_cannot_answer() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    // Move the data directory away under the running server: the writer keeps
    // its open file, but a new read connection finds no database.
    std::fs::rename(home.data_dir(), home.path().join("moved-away")).unwrap();
    let response = client().get(server.url("/health/ready")).send().unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(json_of(response)["error"], "database not ready");
}

#[test]
fn the_tracker_is_small_cached_and_revalidated_with_its_etag() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    let http = client();
    let response = http.get(server.url("/mallard.js")).send().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("javascript")
    );
    assert!(
        response.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    let etag = response.headers()["etag"].clone();
    let script = response.text().unwrap();
    assert!(script.contains("/api/event"));
    let again = http
        .get(server.url("/mallard.js"))
        .header("if-none-match", etag)
        .send()
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
}

#[test]
fn robots_security_txt_and_the_dashboard_are_served() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    let http = client();
    let robots = http
        .get(server.url("/robots.txt"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(robots.contains("Disallow: /"));
    let security = http
        .get(server.url("/.well-known/security.txt"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        security.contains("Contact: ") && security.contains("Expires: "),
        "{security}"
    );
    let index = http.get(server.url("/")).send().unwrap();
    assert_eq!(index.status(), StatusCode::OK);
    let headers = index.headers().clone();
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert!(index.text().unwrap().contains("Mallard Metrics"));
}

#[test]
fn unknown_routes_and_methods_get_json_errors() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    let http = client();
    let missing = http.get(server.url("/api/nothing-here")).send().unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(json_of(missing)["error"], "Not found");
    let wrong_method = http.delete(server.url("/api/event")).send().unwrap();
    assert_eq!(wrong_method.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(json_of(wrong_method)["error"].is_string());
    let missing_file = http.get(server.url("/static/nope.css")).send().unwrap();
    assert_eq!(missing_file.status(), StatusCode::NOT_FOUND);
}
