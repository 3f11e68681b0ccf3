//! End-to-end tests of the chart endpoints: the stats drawn as SVG and PNG.

use mallard_e2e::{Server, TestHome, client, json_of, pageview};
use reqwest::StatusCode;

fn seeded_server(home: &TestHome, env: &[(&str, &str)]) -> Server {
    let server = Server::start(home, env);
    let http = client();
    for path in [
        "/",
        "/pricing",
        "/docs",
        "/pricing",
        "/<script>alert(1)</script>",
    ] {
        let response = http
            .post(server.url("/api/event"))
            .json(&pageview("charts.test", path))
            .send()
            .unwrap();
        assert_eq!(response.status(), StatusCode::ACCEPTED);
    }
    server
}

#[test]
fn timeseries_and_breakdowns_are_drawn_as_svg_and_png() {
    let home = TestHome::new();
    let server = seeded_server(&home, &[]);
    let http = client();
    let svg = http
        .get(server.url("/api/stats/chart/timeseries.svg?site_id=charts.test&period=7d&theme=dark"))
        .send()
        .unwrap();
    assert_eq!(svg.status(), StatusCode::OK);
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    let text = svg.text().unwrap();
    assert!(
        text.contains("<svg") && text.contains("<title>"),
        "{}",
        &text[..200.min(text.len())]
    );

    let png = http
        .get(server.url("/api/stats/chart/timeseries.png?site_id=charts.test&period=day"))
        .send()
        .unwrap();
    assert_eq!(png.headers()["content-type"], "image/png");
    assert!(png.bytes().unwrap().starts_with(b"\x89PNG\r\n\x1a\n"));

    let bars = http
        .get(server.url("/api/stats/chart/breakdown/pages.svg?site_id=charts.test"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(bars.contains("/pricing"), "page paths are labels");
    // The path arrives percent-encoded; the charts crate's own tests cover
    // XML escaping of labels.
    assert!(!bars.contains("<script>"), "no markup from user data");
}

#[test]
fn chart_requests_are_validated_and_need_stats_access() {
    let home = TestHome::new();
    let server = seeded_server(&home, &[("MALLARD_ADMIN_PASSWORD", "a long password")]);
    let http = client();
    let denied = http
        .get(server.url("/api/stats/chart/timeseries.svg?site_id=charts.test"))
        .send()
        .unwrap();
    assert_eq!(denied.status(), StatusCode::UNAUTHORIZED);
    let key = json_of(
        http.post(server.url("/api/keys"))
            .header("origin", &server.base)
            .header("cookie", format!("mm_session={}", login(&server)))
            .json(&serde_json::json!({"name": "charts", "scope": "ReadOnly"}))
            .send()
            .unwrap(),
    )["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let get = |path: &str| http.get(server.url(path)).bearer_auth(&key).send().unwrap();
    assert_eq!(
        get("/api/stats/chart/timeseries.svg?site_id=charts.test").status(),
        StatusCode::OK
    );
    assert_eq!(
        get("/api/stats/chart/timeseries.gif?site_id=charts.test").status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get("/api/stats/chart/breakdown/nope.svg?site_id=charts.test").status(),
        StatusCode::NOT_FOUND
    );
    let wide = get("/api/stats/chart/timeseries.svg?site_id=charts.test&width=99999");
    assert_eq!(wide.status(), StatusCode::BAD_REQUEST);
    assert!(json_of(wide)["error"].is_string());
    assert_eq!(
        get("/api/stats/chart/timeseries.svg?site_id=bad%20site").status(),
        StatusCode::BAD_REQUEST
    );
}

fn login(server: &Server) -> String {
    json_of(
        client()
            .post(server.url("/api/auth/login"))
            .header("origin", &server.base)
            .json(&serde_json::json!({"password": "a long password"}))
            .send()
            .unwrap(),
    )["token"]
        .as_str()
        .unwrap()
        .to_owned()
}
