//! The tracker in a real browser: headless Chromium opens a page served from a
//! second local origin (like a site on a local dev server), the page loads
//! `mallard.js` from the server, and the events it sends land in the database:
//! the page view on load, a queued custom event with props and revenue, and a
//! single-page-app navigation. Needs Debian's `chromium` (`.ci/run` installs it).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use mallard_e2e::{BROWSER_UA, Server, TestHome};

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
  }}, 200);
}});
</script>
</head><body><a href="https://example.org/out">out</a></body></html>"#,
        base = server.base
    );
    let page_port = serve_page(page);
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
    let dom = String::from_utf8_lossy(&output.stdout);
    assert!(
        dom.contains("signup") && dom.contains("navigated"),
        "page did not run: {dom}"
    );
    // Beacons are sent asynchronously; give them a moment to be committed.
    let mut paths = Vec::new();
    for _ in 0..50 {
        let metrics = reqwest::blocking::get(server.url("/metrics"))
            .unwrap()
            .text()
            .unwrap();
        if metrics.contains("mallard_events_ingested_total{family=\"mallard\"} 3") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    server.terminate();
    paths.extend(home.read(|db| db.pageview_paths("tracker.test")));
    assert_eq!(
        paths,
        ["/", "/pricing"],
        "page view on load and on pushState"
    );
    let signups = home.read(|db| db.event_props("tracker.test", "Signup"));
    assert_eq!(signups, vec![vec![("plan".to_owned(), "pro".to_owned())]]);
}
