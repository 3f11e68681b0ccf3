//! The desktop app end to end: the real `mallard-desktop` under Xvfb, its
//! window driven through tauri-driver and WebKitWebDriver. The window is
//! signed in without the password (browsers still need it), events posted to
//! the local port show up, keys are managed from the window, server logs
//! are imported from it, and a second launch hands over to the first.

use std::time::{Duration, Instant};

use mallard_e2e::desktop::DesktopApp;
use mallard_e2e::{TestHome, client};
use reqwest::StatusCode;

const PASSWORD: &str = "correct horse battery";

#[test]
fn the_window_is_signed_in_and_shows_events_posted_to_the_local_port() {
    let home = TestHome::new();
    let app = DesktopApp::launch(&home, &[("MALLARD_ADMIN_PASSWORD", PASSWORD)]);
    let window = &app.window;
    // Signed in although a password is set: the dashboard, not the sign-in form.
    window.wait_for_text("h1", "Start collecting");
    let title = window.runtime.block_on(window.client.title()).unwrap();
    assert!(title.contains("Mallard Metrics"), "{title}");
    // The one-time token does not stay in the address bar.
    let url = window
        .runtime
        .block_on(window.client.current_url())
        .unwrap();
    assert_eq!(url.as_str(), app.url("/"));
    assert!(!url.as_str().contains("token"));
    // A browser without the session still needs the password.
    let http = client();
    let anonymous = http
        .get(app.url("/api/stats/main?site_id=desk.test"))
        .send()
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let status = window.eval("return fetch('/api/auth/status').then(r => r.json())");
    assert_eq!(status["authenticated"], true, "{status}");
    assert_eq!(status["setup_required"], false, "{status}");

    for path in ["/", "/pricing"] {
        let sent = http
            .post(app.url("/api/event"))
            .json(&mallard_e2e::pageview("desk.test", path))
            .send()
            .unwrap();
        assert_eq!(sent.status(), StatusCode::ACCEPTED);
    }
    window.eval("location.reload(); return null;");
    window.wait_for_text("#stat-pageviews", "2");
    window.wait_for_text("#stat-visitors", "1");
    window.wait_for_text("table.breakdown[data-dimension=pages]", "/pricing");
}

#[test]
fn keys_are_created_and_revoked_from_the_window() {
    let home = TestHome::new();
    let app = DesktopApp::launch(&home, &[("MALLARD_ADMIN_PASSWORD", PASSWORD)]);
    let window = &app.window;
    window.wait_for_text("h1", "Start collecting");
    window.goto(&app.url("/#/keys"));
    window.wait_for_text("h1", "API keys");
    window.fill("#key-name", "laptop-script");
    window.click("#create-key button[type=submit]");
    let key = window.wait_for_text("#new-key", "mm_").trim().to_owned();
    window.wait_for_text("#keys-table", "laptop-script");
    let http = client();
    let stats = || {
        http.get(app.url("/api/stats/main?site_id=desk.test"))
            .bearer_auth(&key)
            .send()
            .unwrap()
            .status()
    };
    assert_ne!(stats(), StatusCode::UNAUTHORIZED, "the new key works");

    window.click("#keys-table tbody tr:last-child button[data-revoke]");
    window.wait_for_text("dialog", "Revoke “laptop-script”?");
    window.click("#confirm-revoke");
    window.wait_for_text("#keys-table tbody tr:last-child", "Revoked");
    assert_eq!(
        stats(),
        StatusCode::UNAUTHORIZED,
        "a revoked key stops working"
    );
}

#[test]
fn a_second_launch_focuses_the_first_window_and_exits() {
    let home = TestHome::new();
    let app = DesktopApp::launch(&home, &[]);
    app.window.wait_for("h1");
    let mut second = app.second_launch().spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = second.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the second launch did not exit");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status}");
    app.wait_for_log("a second launch asked for the window");
    // The first instance still serves, and still owns the data directory.
    let health = client().get(app.url("/health")).send().unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert!(
        app.window.text("h1").len() > 1,
        "the first window still shows the dashboard"
    );
}

#[test]
fn the_port_changes_from_the_dashboard_without_restarting_the_app() {
    let home = TestHome::new();
    let app = DesktopApp::launch(&home, &[]);
    let window = &app.window;
    window.wait_for("h1");
    let host = window.eval("return fetch('/api/host').then(r => r.json())");
    assert_eq!(host["kind"], "desktop", "{host}");
    let new_port = mallard_e2e::browser::free_port();
    // First run without a password: keep the dashboard open.
    window.click("#open-access");
    window.goto(&app.url("/#/settings"));
    window.fill("#host-port", &new_port.to_string());
    window.click("#move-port");
    let new_base = format!("http://127.0.0.1:{new_port}/");
    // The window follows the server to the new port, signed in, on the same screen.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let url = window
            .runtime
            .block_on(window.client.current_url())
            .unwrap();
        if url.as_str().starts_with(&new_base) && !url.as_str().contains("token") {
            assert_eq!(url.fragment(), Some("/settings"), "{url}");
            break;
        }
        assert!(Instant::now() < deadline, "the window stayed at {url}");
        std::thread::sleep(Duration::from_millis(100));
    }
    window.wait_for_text("h1", "Settings");
    let http = client();
    let health = http.get(format!("{new_base}health")).send().unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert!(
        http.get(app.url("/health")).send().is_err(),
        "the old port is closed"
    );
}

/// Launches the app with its file dialog answered by `log`, opens the
/// import screen (from the Sites screen's button when `from_sites`, else by
/// its address), and imports into `site`.
fn import_from_the_window(
    home: &TestHome,
    log: &std::path::Path,
    site: &str,
    from_sites: bool,
) -> DesktopApp {
    let app = DesktopApp::launch(
        home,
        &[
            ("MALLARD_ADMIN_PASSWORD", PASSWORD),
            // Answers the native file dialog, which WebDriver cannot reach.
            ("MALLARD_FILE_DIALOG_ANSWER", log.to_str().unwrap()),
        ],
    );
    let window = &app.window;
    window.wait_for_text("h1", "Start collecting");
    if from_sites {
        window.goto(&app.url("/#/sites"));
        window.click("#import-logs-link");
    } else {
        window.goto(&app.url("/#/import"));
    }
    window.wait_for_text("h1", "Import logs");
    window.fill("#import-site", site);
    window.click("#import-choose");
    app
}

#[test]
fn server_logs_are_imported_from_the_window_and_their_numbers_shown() {
    let home = TestHome::new();
    // Three visitors, five page views on 3 November 2026; a stylesheet and a
    // crawler that do not count, and a line that cannot be read.
    let log = home.path().join("access.log");
    let line = |ip: &str, time: &str, path: &str, agent: &str| {
        format!(
            "{ip} - - [03/Nov/2026:{time} +0000] \"GET {path} HTTP/1.1\" 200 512 \"-\" \"{agent}\"\n"
        )
    };
    let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Gecko/20100101 Firefox/130.0";
    let text = [
        line("81.2.69.160", "10:00:00", "/", firefox),
        line("81.2.69.160", "10:01:00", "/pricing", firefox),
        line("81.2.69.161", "11:00:00", "/", firefox),
        line("81.2.69.161", "11:02:00", "/docs", firefox),
        line("81.2.69.162", "12:00:00", "/", firefox),
        line("81.2.69.162", "12:00:01", "/site.css", firefox),
        line(
            "66.249.66.1",
            "12:30:00",
            "/",
            "Googlebot/2.1 (+http://www.google.com/bot.html)",
        ),
        "garbage\n".to_owned(),
    ]
    .concat();
    std::fs::write(&log, text).unwrap();
    let app = import_from_the_window(&home, &log, "logs.test", true);
    let window = &app.window;
    let summary = window.wait_for_text("#import-summary", "finished");
    assert!(summary.contains("5 page views imported"), "{summary}");
    assert!(summary.contains("8 lines read"), "{summary}");
    assert!(summary.contains("1 unreadable"), "{summary}");
    assert!(summary.contains("static file: 1"), "{summary}");
    assert!(summary.contains("bot: 1"), "{summary}");
    window.click("#import-period");
    window.wait_for_text("#stat-pageviews", "5");
    window.wait_for_text("#stat-visitors", "3");
    window.wait_for_text("table.breakdown[data-dimension=pages]", "/pricing");
    // The import is listed on the Sites screen, ready to be undone.
    window.goto(&app.url("/#/sites"));
    window.wait_for_text("#imports-table", "logs.test");
}

#[test]
fn a_long_import_shows_its_progress_in_the_window_and_cancel_keeps_what_it_read() {
    let home = TestHome::new();
    // Long enough on the in-process server's row path to be stopped midway.
    let log = home.path().join("busy.log");
    let lines = mallard_e2e::busy_access_log(10, 16, 2_500);
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    let app = import_from_the_window(&home, &log, "busy.test", false);
    let window = &app.window;
    let progress = window.wait_for_text("#import-eta", "lines/s");
    assert!(
        progress.contains('%') && progress.contains("time left"),
        "{progress}"
    );
    window.click("#import-cancel");
    let summary = window.wait_for_text("#import-summary", "stopped");
    assert!(summary.contains("Import the same files again"), "{summary}");
    // What it read stays imported, and the ledger says where it stopped.
    let listed = window.eval("return fetch('/api/imports').then(r => r.json())");
    let imported = listed[0]["imported"].as_u64().unwrap();
    assert!(imported > 0 && imported < 240_000, "{listed}");
    assert!(listed[0]["finished_at"].is_string(), "{listed}");
}
