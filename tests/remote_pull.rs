//! Pulling from a remote Mallard, with two real server processes: events
//! posted to A appear in B after a pull, exactly once and in the same
//! visits; a repeated pull adds nothing; a wrong key and an unreachable
//! server fail with their own message; A killed in the middle of a pull
//! leaves B with whole pages only, and the pull resumes from its cursor;
//! Settings → Remote servers adds a remote, shows its pull and its errors.

#[path = "collector_common.rs"]
mod collector_common;

use std::time::{Duration, Instant};

use collector_common::{event, now_ms, send};
use mallard_e2e::browser::Browser;
use mallard_e2e::{Server, TestHome, client, create_api_key, json_of, sign_in, succeeded};
use reqwest::StatusCode;
use serde_json::{Value, json};

const PASSWORD: &str = "a long password";

/// A with a password (so that keys matter) and a ReadOnly key.
fn remote(home: &TestHome, args: &[&str]) -> (Server, String) {
    let server =
        Server::try_start(home, &[("MALLARD_ADMIN_PASSWORD", PASSWORD)], args).expect("A starts");
    let session = sign_in(&server, PASSWORD);
    let key = create_api_key(&server, &session, "ReadOnly");
    (server, key)
}

/// `GET path` of `server` with `key`, as JSON.
fn get(server: &Server, key: &str, path: &str) -> Value {
    let response = client()
        .get(server.url(path))
        .bearer_auth(key)
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    json_of(response)
}

/// The totals of a site over all its history.
fn totals(server: &Server, key: &str, site: &str) -> Value {
    let main = get(
        server,
        key,
        &format!("/api/stats/main?site_id={site}&period=all"),
    );
    json!([
        main["unique_visitors"],
        main["visits"],
        main["total_pageviews"],
        main["total_events"]
    ])
}

/// Posts visits to A through the collector, two and three hours ago (so
/// they are settled): `visitors` visitors, each a visit of three page views
/// and a custom event with a property.
fn post_visits(server: &Server, site: &str, visitors: usize) -> u64 {
    let mut posted = 0;
    for visitor in 0..visitors {
        let start = now_ms() - 3 * 60 * 60 * 1000 + visitor as i64 * 60_000;
        for step in 0..4 {
            let mut body = if step == 3 {
                let mut custom = event(site, "signup", "/pricing");
                custom["props"] = json!({"plan": "pro"});
                custom
            } else {
                event(site, "pageview", &format!("/page/{step}"))
            };
            body["anon_id"] = json!(format!("visitor-{visitor}"));
            body["ts"] = json!(start + step * 45_000);
            assert_eq!(
                send(server, "/events", Some(site), &body).status(),
                StatusCode::ACCEPTED
            );
            posted += 1;
        }
    }
    posted
}

#[test]
fn events_posted_to_a_appear_in_b_after_a_pull_exactly_once() {
    let home_a = TestHome::new();
    let (a, key) = remote(&home_a, &[]);
    let posted = post_visits(&a, "pull.test", 12);
    // Posted now: still open, so not pulled yet.
    assert_eq!(
        client()
            .post(a.url("/api/event"))
            .header(
                "user-agent",
                "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
            )
            .json(&json!({"d": "pull.test", "n": "pageview", "u": "https://pull.test/now"}))
            .send()
            .unwrap()
            .status(),
        StatusCode::ACCEPTED
    );
    // The feed needs a key, and answers 404 for a site A does not have.
    let anonymous = client()
        .get(a.url("/api/events/feed?site_id=pull.test"))
        .send()
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let unknown = client()
        .get(a.url("/api/events/feed?site_id=nowhere.test"))
        .bearer_auth(&key)
        .send()
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let page = get(&a, &key, "/api/events/feed?site_id=pull.test&limit=5");
    assert_eq!(
        page["visits"][0]["events"][0]["origin_id"],
        json!(format!("{}-0", page["visits"][0]["id"]))
    );
    assert_eq!(page["more"], json!(true));

    let home_b = TestHome::new();
    let out = succeeded(&home_b.run(&["pull", &a.base, "--key", &key]));
    assert!(
        out.contains(&format!("pull.test: pulled {posted} events in 12 visits")),
        "{out}"
    );
    assert!(
        out.contains("visits still open on the remote come with a later pull"),
        "{out}"
    );
    // Pulling again adds nothing.
    let again = succeeded(&home_b.run(&["pull", &a.base, "--key", &key]));
    assert!(
        again.contains("pull.test: pulled 0 events in 0 visits"),
        "{again}"
    );
    assert_eq!(home_b.read(|db| db.event_count("pull.test")), posted);
    assert_eq!(home_b.read(|db| db.visit_count("pull.test")), 12);

    // B's stats are A's, less the visit still open on A.
    let b = Server::start(&home_b, &[]);
    let b_main = totals(&b, "", "pull.test");
    assert_eq!(b_main, json!([12, 12, 36, posted]));
    let props = get(
        &b,
        "",
        "/api/stats/breakdown/props/plan?site_id=pull.test&period=all",
    );
    assert!(props.to_string().contains("\"pro\""), "{props}");

    // A site the remote does not have is named.
    let unknown = home_b.run(&["pull", &a.base, "--key", &key, "--site", "nope.test"]);
    assert!(!unknown.status.success());
    let message = String::from_utf8_lossy(&unknown.stderr);
    assert!(message.contains("has no site nope.test"), "{message}");
    // A wrong key and an unreachable server fail with their own message.
    let refused = home_b.run(&["pull", &a.base, "--key", "mm_not_a_key"]);
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(message.contains("refused the key (401"), "{message}");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    drop(listener);
    let unreachable = home_b.run(&["pull", &closed, "--key", &key]);
    assert!(!unreachable.status.success());
    let message = String::from_utf8_lossy(&unreachable.stderr);
    assert!(
        message.contains(&format!("cannot reach {closed}")),
        "{message}"
    );
    // Through the running server (B), the failures are kept with the remote.
    let remotes = get(&b, "", "/api/remotes");
    let listed = remotes.as_array().unwrap();
    assert!(
        listed.iter().all(|r| !r.to_string().contains(&key)),
        "the key is never answered"
    );
    let a_remote = listed.iter().find(|r| r["url"] == json!(a.base)).unwrap();
    assert_eq!(a_remote["events_pulled"], json!(posted));
    assert!(
        a_remote["last_error"]
            .as_str()
            .unwrap_or("")
            .contains("refused the key"),
        "{a_remote}"
    );
}

/// Waits until `check` holds, or fails after a minute.
fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The remote `id` as B lists it.
fn remote_of(b: &Server, id: i64) -> Value {
    get(b, "", "/api/remotes")
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == json!(id))
        .cloned()
        .unwrap()
}

/// The events of A's feed for `site` in the visits up to id `cursor`.
fn feed_events_up_to(a: &Server, key: &str, site: &str, cursor: i64) -> u64 {
    let (mut after, mut events) = (0i64, 0u64);
    loop {
        let page = get(
            a,
            key,
            &format!("/api/events/feed?site_id={site}&after={after}&limit=10000"),
        );
        for visit in page["visits"].as_array().unwrap() {
            if visit["id"].as_i64().unwrap() <= cursor {
                events += visit["events"].as_array().unwrap().len() as u64;
            }
        }
        let next: i64 = page["next"].as_str().unwrap().parse().unwrap();
        if next >= cursor || !page["more"].as_bool().unwrap() {
            return events;
        }
        after = next;
    }
}

#[test]
fn a_pull_cut_short_by_killing_the_remote_resumes_from_its_cursor() {
    let home_a = TestHome::new();
    home_a.seed("big.test", 150_000, 4);
    let (a, key) = remote(&home_a, &[]);
    let home_b = TestHome::new();
    let b = Server::start(&home_b, &[]);
    let admin = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut request = client()
            .request(method, b.url(path))
            .header("Origin", &b.base);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().unwrap()
    };
    let saved = admin(
        reqwest::Method::POST,
        "/api/remotes",
        Some(json!({"url": a.base, "api_key": key, "sites": ["big.test"]})),
    );
    assert_eq!(saved.status(), StatusCode::CREATED);
    let saved = json_of(saved);
    assert_eq!(saved["key_hint"].as_str().unwrap().chars().count(), 8);
    let id = saved["id"].as_i64().unwrap();
    // Kill A once B has written a few pages.
    wait_for("B to pull a few pages", || {
        remote_of(&b, id)["running"]["events"].as_u64().unwrap_or(0) >= 10_000
    });
    let port = a.port.to_string();
    a.kill9();
    wait_for("the pull to give up", || {
        let remote = remote_of(&b, id);
        remote["running"].is_null() && remote["last_error"].is_string()
    });
    let cut = remote_of(&b, id);
    assert!(
        cut["last_error"].as_str().unwrap().contains("cannot reach"),
        "{cut}"
    );
    let pulled_before = cut["events_pulled"].as_u64().unwrap();
    assert!(pulled_before >= 10_000, "{cut}");
    // Whole pages only: what B holds is exactly what it counted.
    let holds = |server: &Server| {
        get(server, "", "/api/stats/main?site_id=big.test&period=all")["total_events"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(holds(&b), pulled_before);

    // A comes back on its address; Pull now resumes where it stopped.
    let a = Server::try_start(
        &home_a,
        &[("MALLARD_ADMIN_PASSWORD", PASSWORD)],
        &["--port", &port],
    )
    .expect("A restarts on its port");
    let asked = admin(
        reqwest::Method::POST,
        &format!("/api/remotes/{id}/pull"),
        None,
    );
    assert_eq!(asked.status(), StatusCode::ACCEPTED);
    wait_for("the pull to end", || {
        let remote = remote_of(&b, id);
        remote["running"].is_null()
            && !remote["queued"].as_bool().unwrap()
            && remote["last_success_at"].is_string()
    });
    let done = remote_of(&b, id);
    assert!(done["last_error"].is_null(), "{done}");
    let pulled = done["events_pulled"].as_u64().unwrap();
    assert!(pulled > pulled_before);
    assert_eq!(holds(&b), pulled, "each event once");
    // Exactly A's settled visits up to B's cursor, each once.
    b.terminate();
    let cursor: i64 = home_b.read(|db| {
        Ok(db.connection().query_row(
            "SELECT cursor FROM remote_cursors WHERE remote_id = ?1 AND site = 'big.test'",
            [id],
            |row| row.get(0),
        )?)
    });
    assert_eq!(feed_events_up_to(&a, &key, "big.test", cursor), pulled);
}

#[test]
fn a_remote_added_in_settings_is_pulled_and_its_failures_shown() {
    let home_a = TestHome::new();
    let (a, key) = remote(&home_a, &[]);
    let posted = post_visits(&a, "window.test", 5);
    let home_b = TestHome::new();
    let b = Server::start(&home_b, &[]);
    // File → Pull from Remote Servers… opens Settings at this card.
    let browser = Browser::open_dashboard(&b, "/#/settings?card=remotes");
    browser.wait_for("#remotes-none");
    let top = browser.eval("return document.getElementById('remotes').getBoundingClientRect().top");
    assert!(top.as_f64().unwrap() < 200.0, "scrolled to the card: {top}");
    // A wrong key first: the error is shown with the remote.
    browser.fill("#remote-url", &a.base);
    browser.fill("#remote-key", "mm_wrong");
    browser.click("#add-remote button[type=submit]");
    browser.wait_for_text("#remotes-table .remote-error", "refused the key");
    // The right key: the same remote, pulled, its key never shown whole.
    browser.fill("#remote-key", &key);
    browser.click("#add-remote button[type=submit]");
    let line = browser.wait_for_text(
        "#remotes-table .remote-events",
        &format!("{posted} events pulled"),
    );
    assert!(line.contains(&posted.to_string()), "{line}");
    browser.wait_for_text("#remotes-table .remote-last", "Last pull");
    let card = browser.text("#remotes");
    assert!(!card.contains(&key), "the key is not shown");
    assert_eq!(
        browser.eval("return document.querySelectorAll('#remotes-table li').length"),
        json!(1)
    );
    assert_eq!(totals(&b, "", "window.test"), json!([5, 5, 15, posted]));
    // Pull now adds nothing new; Remove forgets the remote, the events stay.
    browser.click("#remotes-table .pull-now");
    browser.wait_for("#remotes-table .pull-now:not([disabled])");
    browser.wait_for_text(
        "#remotes-table .remote-events",
        &format!("{posted} events pulled"),
    );
    browser.click("#remotes-table .remove-remote");
    browser.click("#confirm-remove-remote");
    browser.wait_for("#remotes-none");
    assert_eq!(totals(&b, "", "window.test"), json!([5, 5, 15, posted]));
}
