//! Screenshots of the main screens for the README (a program run on demand,
//! not a test). It seeds a small database with `mallard seed`, starts the
//! server, adds keys and a few live events, and saves PNGs:
//!
//! ```sh
//! cargo build --bins
//! MALLARD_SCREENSHOTS=docs/screenshots cargo run -p mallard-e2e --bin screenshots
//! ```

use std::path::PathBuf;
use std::time::Duration;

use mallard_e2e::browser::Browser;
use mallard_e2e::{Server, TestHome, client, json_of};
use reqwest::StatusCode;
use serde_json::json;

const SITE: &str = "demo.example";

fn seed(home: &TestHome) {
    let status = home
        .command()
        .args([
            "seed",
            "--site",
            SITE,
            "--events",
            "40000",
            "--days",
            "90",
            "--data-dir",
        ])
        .arg(home.data_dir())
        .status()
        .expect("run mallard seed");
    assert!(status.success());
}

fn live_events(server: &Server) {
    let visits = [
        (
            "/",
            "https://www.google.com/",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15",
        ),
        (
            "/pricing",
            "https://news.ycombinator.com/",
            "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
        ),
        ("/docs/getting-started", "", mallard_e2e::BROWSER_UA),
        (
            "/blog/local-first-analytics",
            "https://duckduckgo.com/",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
        ),
    ];
    for (i, (path, referrer, agent)) in visits.iter().enumerate() {
        let sent = client()
            .post(server.url("/api/event"))
            .header("user-agent", *agent)
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .json(&json!({"d": SITE, "n": "pageview", "u": format!("https://{SITE}{path}"), "r": referrer, "w": 1440}))
            .send()
            .unwrap();
        assert_eq!(sent.status(), StatusCode::ACCEPTED);
    }
}

fn keys(server: &Server) {
    let http = client();
    let origin = &server.base;
    for (name, scope) in [("ci-pipeline", "ReadOnly"), ("ops", "Admin")] {
        let made = http
            .post(server.url("/api/keys"))
            .header("origin", origin)
            .json(&json!({"name": name, "scope": scope}))
            .send()
            .unwrap();
        assert_eq!(made.status(), StatusCode::CREATED);
    }
    let made = json_of(
        http.post(server.url("/api/ingest-keys"))
            .header("origin", origin)
            .json(&json!({"name": "web sdk", "scopes": ["ingest:write"]}))
            .send()
            .unwrap(),
    );
    let old = json_of(
        http.post(server.url("/api/ingest-keys"))
            .header("origin", origin)
            .json(&json!({"name": "old backend", "scopes": ["ingest:server"]}))
            .send()
            .unwrap(),
    );
    assert!(made["key"].is_string());
    let revoked = http
        .delete(server.url(&format!("/api/ingest-keys/{}", old["id"].as_str().unwrap())))
        .header("origin", origin)
        .send()
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
}

fn main() {
    let out = PathBuf::from(
        std::env::var("MALLARD_SCREENSHOTS").unwrap_or_else(|_| "docs/screenshots".into()),
    );
    let out = if out.is_relative() {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(out)
    } else {
        out
    };
    std::fs::create_dir_all(&out).unwrap();
    let home = TestHome::new();
    seed(&home);
    let server = Server::start(&home, &[]);
    live_events(&server);
    keys(&server);
    let browser = Browser::start();
    browser.goto(&server.url("/"));
    browser.wait_for("#open-access");
    browser.remember_open_access();
    let shoot = |name: &str, path: &str, ready: &str, height: u32| {
        browser.resize(1280, height);
        browser.goto(&server.url(path));
        browser.eval("location.reload(); return null;");
        browser.wait_for(ready);
        std::thread::sleep(Duration::from_millis(800));
        std::fs::write(out.join(format!("{name}.png")), browser.screenshot()).unwrap();
    };
    shoot(
        "dashboard",
        &format!("/#/?site={SITE}&period=30d&compare=1"),
        "#chart svg",
        1500,
    );
    shoot(
        "realtime",
        &format!("/#/realtime?site={SITE}"),
        "#recent-events",
        800,
    );
    shoot(
        "funnel",
        &format!("/#/funnel?site={SITE}&period=30d&steps=page:/,page:/pricing,page:/docs"),
        "#funnel-bars",
        1100,
    );
    shoot(
        "flow",
        &format!("/#/flow?site={SITE}&period=30d&page=/pricing"),
        "#flow-result",
        1000,
    );
    shoot("keys", "/#/keys", "#keys-table", 1000);
    shoot("settings", "/#/settings", "#settings-form", 1400);
    shoot("sites", "/#/sites", "#sites-table", 900);
    // A narrow window: the dashboard reflows into one column.
    browser.resize(390, 1400);
    browser.goto(&server.url(&format!("/#/?site={SITE}&period=7d")));
    browser.eval("location.reload(); return null;");
    browser.wait_for("#chart svg");
    std::thread::sleep(Duration::from_millis(800));
    std::fs::write(out.join("dashboard-narrow.png"), browser.screenshot()).unwrap();
}
