//! End-to-end tests of deleting data: a site with all its data (gone from
//! every list and query at once, purged in the background, the space given
//! back, its domain starting over empty), a date range of a site's visits
//! (exact counts, the other days untouched), who may do either, and `mallard
//! sites delete` on a stopped and on a running install.

use std::time::{Duration, Instant};

use mallard_e2e::{
    BROWSER_UA, Server, TestHome, client, create_api_key, json_of, pageview, sign_in, succeeded,
};
use reqwest::StatusCode;
use serde_json::Value;

const PASSWORD: &str = "a long password";

fn get(server: &Server, path: &str, key: &str) -> (StatusCode, Value) {
    let response = client()
        .get(server.url(path))
        .header("x-api-key", key)
        .send()
        .unwrap();
    (response.status(), json_of(response))
}

fn delete(server: &Server, path: &str, key: &str) -> (StatusCode, Value) {
    let response = client()
        .delete(server.url(path))
        .header("x-api-key", key)
        .send()
        .unwrap();
    (response.status(), json_of(response))
}

/// The visits of `site` on the day `days_ago` days before today (UTC), or
/// over the last 30 days.
fn visits(server: &Server, key: &str, site: &str, days_ago: Option<i64>) -> i64 {
    let query = match days_ago {
        Some(days) => format!(
            "period=custom&start_date={}&end_date={}",
            day_before_today(days),
            day_before_today(days - 1)
        ),
        None => "period=30d".to_owned(),
    };
    let (status, body) = get(
        server,
        &format!("/api/stats/main?site_id={site}&{query}"),
        key,
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    body["visits"].as_i64().unwrap()
}

/// The date `days` days before today (UTC).
fn day_before_today(days: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let today = now.div_euclid(86_400_000);
    mallard_core::period::format_date(today - days)
}

fn file_size(home: &TestHome) -> u64 {
    std::fs::metadata(home.data_dir().join("mallard.db"))
        .unwrap()
        .len()
}

#[test]
fn a_deleted_site_is_gone_at_once_its_data_purged_and_its_domain_starts_over() {
    let home = TestHome::new();
    home.seed("gone.test", 60_000, 30);
    home.seed("kept.test", 2_000, 30);
    let size_before = file_size(&home);
    let server = Server::start(&home, &[("MALLARD_ADMIN_PASSWORD", PASSWORD)]);
    let session = sign_in(&server, PASSWORD);
    let admin = create_api_key(&server, &session, "Admin");
    let read_only = create_api_key(&server, &session, "ReadOnly");
    let kept_before = visits(&server, &admin, "kept.test", None);
    assert!(visits(&server, &admin, "gone.test", None) > 1_000);

    // Least privilege: a ReadOnly key may not delete; nor may a page of
    // another origin with the signed-in person's cookie.
    let (status, body) = delete(&server, "/api/sites/gone.test", &read_only);
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let foreign = client()
        .delete(server.url("/api/sites/gone.test"))
        .header("cookie", format!("mm_session={session}"))
        .header("origin", "https://evil.example")
        .send()
        .unwrap();
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
    let (status, _) = delete(&server, "/api/sites/no-such.test", &admin);
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, body) = delete(&server, "/api/sites/gone.test", &admin);
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["deleted"], true);
    assert_eq!(body["site_id"], "gone.test");
    let (_, sites) = get(&server, "/api/sites", &admin);
    let listed: Vec<&str> = sites
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["site_id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, vec!["kept.test"]);
    assert_eq!(visits(&server, &admin, "gone.test", None), 0);
    let (status, _) = delete(&server, "/api/sites/gone.test", &admin);
    assert_eq!(status, StatusCode::NOT_FOUND, "deleted once");
    assert_eq!(visits(&server, &admin, "kept.test", None), kept_before);

    // An event for the domain creates it again, empty but for that event.
    let sent = client()
        .post(server.url("/api/event"))
        .header("user-agent", BROWSER_UA)
        .json(&pageview("gone.test", "/again"))
        .send()
        .unwrap();
    assert_eq!(sent.status(), StatusCode::ACCEPTED);
    let deadline = Instant::now() + Duration::from_secs(20);
    while visits(&server, &admin, "gone.test", None) != 1 {
        assert!(Instant::now() < deadline, "the new event is counted alone");
        std::thread::sleep(Duration::from_millis(100));
    }

    // The purge finishes in the background.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, health) = get(&server, "/health/detailed", &admin);
        if health["pending_site_purges"] == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the purge finishes: {health}");
        std::thread::sleep(Duration::from_millis(200));
    }
    server.terminate();
    // Opening the store copies what the write-ahead log holds into the file.
    let (kept_events, gone_events) =
        home.read(|db| Ok((db.event_count("kept.test")?, db.event_count("gone.test")?)));
    let size_after = file_size(&home);
    assert!(
        size_after * 2 < size_before,
        "the space is given back: {size_after} of {size_before} bytes"
    );
    assert!(kept_events >= 2_000);
    assert_eq!(gone_events, 1);
}

#[test]
fn deleting_a_date_range_removes_exactly_its_visits() {
    let home = TestHome::new();
    home.seed("range.test", 20_000, 20);
    let server = Server::start(&home, &[("MALLARD_ADMIN_PASSWORD", PASSWORD)]);
    let session = sign_in(&server, PASSWORD);
    let admin = create_api_key(&server, &session, "Admin");
    let read_only = create_api_key(&server, &session, "ReadOnly");
    let (first, last) = (day_before_today(6), day_before_today(5));
    let total = visits(&server, &admin, "range.test", None);
    let in_range = visits(&server, &admin, "range.test", Some(6))
        + visits(&server, &admin, "range.test", Some(5));
    let (before_range, after_range) = (
        visits(&server, &admin, "range.test", Some(7)),
        visits(&server, &admin, "range.test", Some(4)),
    );
    assert!(in_range > 100 && after_range > 100 && before_range > 100);

    let path = format!("/api/sites/range.test/data?from={first}&to={last}");
    let (status, _) = delete(&server, &path, &read_only);
    assert_eq!(status, StatusCode::FORBIDDEN);
    for (bad, message) in [
        ("from=2024-01-02&to=2024-01-01", "from must not be after to"),
        ("from=yesterday&to=2024-01-01", "from must be a date"),
        ("to=2024-01-01", "from is required"),
    ] {
        let (status, body) = delete(
            &server,
            &format!("/api/sites/range.test/data?{bad}"),
            &admin,
        );
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(
            body["error"].as_str().unwrap().contains(message),
            "{bad}: {body}"
        );
    }

    let (status, body) = delete(&server, &path, &admin);
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["visits"].as_i64(), Some(in_range), "{body}");
    assert!(body["events"].as_i64().unwrap() >= in_range);
    assert_eq!(
        (body["from"].as_str(), body["to"].as_str()),
        (Some(first.as_str()), Some(last.as_str()))
    );
    assert_eq!(visits(&server, &admin, "range.test", Some(6)), 0);
    assert_eq!(visits(&server, &admin, "range.test", Some(5)), 0);
    assert_eq!(visits(&server, &admin, "range.test", Some(4)), after_range);
    assert_eq!(visits(&server, &admin, "range.test", Some(7)), before_range);
    assert_eq!(
        visits(&server, &admin, "range.test", None),
        total - in_range
    );
    let (_, again) = delete(&server, &path, &admin);
    assert_eq!(again["visits"], 0, "nothing is left to delete");
    server.terminate();
}

#[test]
fn mallard_sites_delete_works_on_a_stopped_and_on_a_running_install() {
    let home = TestHome::new();
    home.seed("cli-a.test", 3_000, 10);
    home.seed("cli-b.test", 3_000, 10);
    home.seed("cli-c.test", 3_000, 10);
    // Without a terminal to ask, --yes is required.
    let unconfirmed = home.run(&["sites", "delete", "cli-a.test"]);
    assert!(!unconfirmed.status.success());
    assert!(String::from_utf8_lossy(&unconfirmed.stderr).contains("--yes"));

    // Stopped: the command deletes and purges itself.
    let out = succeeded(&home.run(&["sites", "delete", "cli-a.test", "--yes"]));
    assert!(out.contains("Deleted cli-a.test"), "{out}");
    let range = succeeded(&home.run(&[
        "sites",
        "delete",
        "cli-b.test",
        "--from",
        &day_before_today(3),
        "--to",
        &day_before_today(3),
        "--yes",
    ]));
    assert!(range.contains("visits"), "{range}");
    let listed = succeeded(&home.run(&["sites", "list"]));
    assert!(
        !listed.contains("cli-a.test") && listed.contains("cli-b.test"),
        "{listed}"
    );
    let pending = home.read(|db| mallard_store::deletion::pending_purges(db.connection()));
    assert!(pending.is_empty(), "purged before the command returned");

    // Running: the command asks the server.
    let server = Server::start(&home, &[]);
    let out = succeeded(&home.run(&["sites", "delete", "cli-c.test", "--yes"]));
    assert!(out.contains("Deleted cli-c.test"), "{out}");
    let listed = succeeded(&home.run(&["sites", "list"]));
    assert_eq!(listed.trim(), "cli-b.test\tUTC");
    let missing = home.run(&["sites", "delete", "cli-c.test", "--yes"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("Site not found"));
    server.terminate();
}
