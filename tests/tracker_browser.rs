//! The tracker in a real browser: headless Chromium opens a page served from a
//! second local origin (like a site on a local dev server), the page loads
//! `mallard.js` from the server, and the events it sends land in the database:
//! the page view on load, a queued custom event with props and revenue, a
//! single-page-app navigation, and the opt-in events of a 404 page, an
//! outbound link and a file download, each counted under its ready-made
//! goal. Needs Debian's `chromium` (`.ci/run` installs it).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use mallard_e2e::{
    BROWSER_UA, Server, TestHome, call_with_key, create_api_key, get_with_key, sign_in,
};
use serde_json::json;

/// Serves `page` for every request on a free port, until the test ends.
fn serve_page(page: String) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let mut reader = BufReader::new(&stream);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let mut stream = &stream;
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
                page.len()
            );
        }
    });
    port
}

fn chromium() -> &'static str {
    for candidate in ["chromium", "chromium-browser", "google-chrome"] {
        if Command::new(candidate)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return candidate;
        }
    }
    panic!("this test needs Chromium: apt-get install chromium (.ci/run does)");
}

/// Opens the page served on `page_port` in headless Chromium (a fresh
/// profile, four seconds of virtual time) and returns its DOM once they are
/// spent.
fn open_in_chromium(page_port: u16) -> String {
    let profile = tempfile::tempdir().unwrap();
    let output = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=4000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--user-agent={BROWSER_UA}"))
        .arg(format!("http://localhost:{page_port}/"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Waits (up to five seconds) until the server has taken `count` Mallard
/// events: beacons are sent asynchronously.
fn wait_for_events(server: &Server, count: usize) {
    let wanted = format!("mallard_events_ingested_total{{family=\"mallard\"}} {count}");
    for _ in 0..50 {
        let metrics = reqwest::blocking::get(server.url("/metrics"))
            .unwrap()
            .text()
            .unwrap();
        if metrics.contains(&wanted) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_tracker_sends_pageviews_custom_events_and_spa_navigations_from_a_real_browser() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    let page = format!(
        r#"<!doctype html><html><head><title>start</title>
<script>
window.mallard = window.mallard || function () {{ (window.mallard.q = window.mallard.q || []).push(arguments) }};
mallard('Signup', {{ props: {{ plan: 'pro' }}, revenue: '19.99', currency: 'EUR', callback: function () {{ document.title += ' signup'; }} }});
</script>
<script defer data-domain="tracker.test" src="{base}/mallard.js"></script>
<script>
window.addEventListener('load', function () {{
  setTimeout(function () {{
    history.pushState({{}}, '', '/pricing');
    document.title += ' navigated';
    // The tracker keeps nothing in the browser.
    var kept = document.cookie.length + localStorage.length + sessionStorage.length;
    document.title += ' kept:' + kept;
  }}, 200);
}});
</script>
</head><body><a href="https://example.org/out">out</a></body></html>"#,
        base = server.base
    );
    let dom = open_in_chromium(serve_page(page));
    assert!(
        dom.contains("signup") && dom.contains("navigated"),
        "page did not run: {dom}"
    );
    assert!(
        dom.contains("kept:0"),
        "no cookie or browser storage: {dom}"
    );
    wait_for_events(&server, 3);
    server.terminate();
    let paths = home.read(|db| db.pageview_paths("tracker.test"));
    assert_eq!(
        paths,
        ["/", "/pricing"],
        "page view on load and on pushState"
    );
    let signups = home.read(|db| db.event_props("tracker.test", "Signup"));
    assert_eq!(signups, vec![vec![("plan".to_owned(), "pro".to_owned())]]);
}

#[test]
fn a_404_page_an_outbound_click_and_a_download_arrive_as_their_events_and_count_as_goals() {
    let home = TestHome::new();
    let server = Server::start(&home, &[("MALLARD_ADMIN_PASSWORD", "a long password")]);
    let session = sign_in(&server, "a long password");
    let admin = create_api_key(&server, &session, "Admin");
    // A 404 page (its template carries `data-404`) with two links, clicked
    // once the tracker has loaded; the page keeps itself from navigating.
    let page = format!(
        r#"<!doctype html><html><head><title>missing</title>
<script defer data-domain="tracker404.test" data-404 data-outbound-links data-file-downloads
  src="{base}/mallard.js"></script>
<script>
window.addEventListener('load', function () {{
  document.addEventListener('click', function (e) {{ e.preventDefault(); }});
  document.getElementById('out').click();
  document.getElementById('report').click();
  document.title += ' clicked';
}});
</script>
</head><body>
<a id="out" href="https://example.org/elsewhere?x=1">out</a>
<a id="report" href="/files/report.pdf?token=secret">report</a>
</body></html>"#,
        base = server.base
    );
    let dom = open_in_chromium(serve_page(page));
    assert!(dom.contains("clicked"), "page did not run: {dom}");
    wait_for_events(&server, 4);
    // The three events as the ready-made goals of Settings → Goals: each
    // converts once, and its property breaks it down under its filter.
    for event in ["Outbound Link: Click", "File Download", "404"] {
        let response = call_with_key(
            &server,
            reqwest::Method::POST,
            "/api/goals",
            &admin,
            Some(json!({"site_id": "tracker404.test", "event_name": event})),
        );
        assert_eq!(response.status(), reqwest::StatusCode::CREATED, "{event}");
    }
    let query = "site_id=tracker404.test&period=day";
    let goals = get_with_key(&server, &admin, &format!("/api/stats/goals?{query}"));
    let converted: Vec<(String, i64, i64)> = goals
        .as_array()
        .unwrap()
        .iter()
        .map(|goal| {
            (
                goal["goal"].as_str().unwrap().to_owned(),
                goal["unique_conversions"].as_i64().unwrap(),
                goal["total_conversions"].as_i64().unwrap(),
            )
        })
        .collect();
    for event in ["Outbound Link: Click", "File Download", "404"] {
        assert!(
            converted.contains(&(event.to_owned(), 1, 1)),
            "{event}: {goals}"
        );
    }
    let broken_down = |goal: &str, key: &str| {
        let filters = format!("goal=={goal}")
            .replace(' ', "%20")
            .replace(':', "%3A");
        let rows = get_with_key(
            &server,
            &admin,
            &format!("/api/stats/breakdown/props/{key}?{query}&filters={filters}"),
        );
        rows.as_array()
            .unwrap()
            .iter()
            .map(|row| row["value"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        broken_down("Outbound Link: Click", "url"),
        ["https://example.org/elsewhere?x=1"]
    );
    let downloaded = broken_down("File Download", "url");
    assert!(
        downloaded.len() == 1 && downloaded[0].ends_with("/files/report.pdf"),
        "{downloaded:?}"
    );
    assert_eq!(broken_down("404", "path"), ["/"]);
    server.terminate();
    let props = |name: &str| home.read(|db| db.event_props("tracker404.test", name));
    assert_eq!(
        props("404"),
        vec![vec![("path".to_owned(), "/".to_owned())]],
        "the 404 event names the missing path"
    );
    assert_eq!(
        props("Outbound Link: Click"),
        vec![vec![(
            "url".to_owned(),
            "https://example.org/elsewhere?x=1".to_owned()
        )]]
    );
    let downloads = props("File Download");
    assert_eq!(downloads.len(), 1, "{downloads:?}");
    assert!(
        downloads[0][0].1.ends_with("/files/report.pdf"),
        "no query string: {downloads:?}"
    );
    assert_eq!(
        home.read(|db| db.pageview_paths("tracker404.test")),
        ["/"],
        "the 404 page is a page view too"
    );
}
