//! End-to-end tests of goals: managed through `/api/goals` (Admin only,
//! bad definitions refused with a message naming the problem), counted by
//! `/api/stats/goals` with exact numbers on hand-made traffic (an event
//! goal, one with a property, page goals with `*` and `**`), and, in
//! headless Chromium, a goal created in Settings shown on the dashboard
//! with its numbers; the goal days of closed days, counted by the server in
//! the background, answer as the events do, and `mallard check` counts them
//! again.

use mallard_e2e::browser::Browser;
use mallard_e2e::{Server, TestHome, call_with_key, client, create_api_key, json_of, sign_in};
use reqwest::StatusCode;
use serde_json::{Value, json};

const SITE: &str = "goals.test";

/// A distinct browser per visitor (the visitor id hashes the user agent).
fn agent(visitor: u32) -> String {
    format!(
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
         Chrome/120.0.{visitor}.0 Safari/537.36"
    )
}

fn send(server: &Server, visitor: u32, name: &str, path: &str, props: Option<Value>) {
    send_with(server, visitor, name, path, props, None);
}

fn send_with(
    server: &Server,
    visitor: u32,
    name: &str,
    path: &str,
    props: Option<Value>,
    revenue: Option<(&str, &str)>,
) {
    let mut body = json!({ "d": SITE, "n": name, "u": format!("https://{SITE}{path}"), "w": 1280 });
    if let Some(props) = props {
        body["p"] = props;
    }
    if let Some((amount, currency)) = revenue {
        body["ra"] = json!(amount);
        body["rc"] = json!(currency);
    }
    let sent = client()
        .post(server.url("/api/event"))
        .header("user-agent", agent(visitor))
        .json(&body)
        .send()
        .unwrap();
    assert_eq!(sent.status(), StatusCode::ACCEPTED);
}

/// Three visitors: 1 reads two blog posts and signs up on the pro plan; 2
/// reads one post and signs up on the free plan; 3 views the pricing page
/// and a page two levels under /docs/.
fn traffic(server: &Server) {
    send(server, 1, "pageview", "/blog/a", None);
    send(server, 1, "pageview", "/blog/b", None);
    send(server, 1, "Signup", "/blog/b", Some(json!({"plan": "pro"})));
    send(server, 2, "pageview", "/blog/a", None);
    send(
        server,
        2,
        "Signup",
        "/blog/a",
        Some(json!({"plan": "free"})),
    );
    send(server, 3, "pageview", "/pricing", None);
    send(server, 3, "pageview", "/docs/guide/install", None);
}

fn call(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let response = call_with_key(server, method, path, key, body);
    (response.status(), json_of(response))
}

#[test]
fn goals_are_managed_by_admins_and_count_exactly() {
    let home = TestHome::new();
    let server = Server::start(&home, &[("MALLARD_ADMIN_PASSWORD", "a long password")]);
    let session = sign_in(&server, "a long password");
    let admin = create_api_key(&server, &session, "Admin");
    let read_only = create_api_key(&server, &session, "ReadOnly");
    traffic(&server);
    let post = |key: &str, body: Value| {
        call(
            &server,
            reqwest::Method::POST,
            "/api/goals",
            key,
            Some(body),
        )
    };

    let (status, _) = post(&read_only, json!({"site_id": SITE, "event_name": "Signup"}));
    assert_eq!(status, StatusCode::FORBIDDEN, "least privilege");
    for (body, message) in [
        (
            json!({"site_id": SITE, "page_path": "blog/*"}),
            "must start with /",
        ),
        (
            json!({"site_id": SITE, "event_name": "Signup", "prop_value": "pro"}),
            "prop_key is required",
        ),
        (
            json!({"site_id": SITE, "event_name": "Signup", "prop_key": "plan"}),
            "prop_value is required",
        ),
        (json!({"site_id": SITE}), "exactly one of event_name"),
        (
            json!({"site_id": SITE, "event_name": "Signup", "page_path": "/a"}),
            "exactly one of event_name",
        ),
        (
            json!({"site_id": SITE, "event_name": " "}),
            "event_name may not be empty",
        ),
    ] {
        let (status, answer) = post(&admin, body.clone());
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            answer["error"].as_str().unwrap().contains(message),
            "{body}: {answer}"
        );
    }
    let (status, _) = post(
        &admin,
        json!({"site_id": "nowhere.test", "event_name": "Signup"}),
    );
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, signup) = post(&admin, json!({"site_id": SITE, "event_name": "Signup"}));
    assert_eq!(status, StatusCode::CREATED, "{signup}");
    assert_eq!(signup["name"], "Signup");
    let (status, _) = post(&admin, json!({"site_id": SITE, "event_name": "Signup"}));
    assert_eq!(status, StatusCode::CONFLICT, "one name per site");
    let (_, pro) = post(
        &admin,
        json!({"site_id": SITE, "name": "Pro signups", "event_name": "Signup", "prop_key": "plan", "prop_value": "pro"}),
    );
    let (_, blog) = post(&admin, json!({"site_id": SITE, "page_path": "/blog/*"}));
    assert_eq!(blog["name"], "Visit /blog/*");
    let (_, docs) = post(&admin, json!({"site_id": SITE, "page_path": "/docs/*"}));

    // A change takes effect at once: one level under /docs/ does not match,
    // any depth does.
    let conversions = |key: &str| -> Vec<(String, u64, i64, f64)> {
        goal_rows(&server, key, &format!("site_id={SITE}&period=day"))
            .into_iter()
            .map(|(goal, visitors, events, row)| {
                (
                    goal,
                    visitors,
                    events,
                    row["conversion_rate"].as_f64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(
        conversions(&read_only)[3],
        ("Visit /docs/*".into(), 0, 0, 0.0)
    );
    let (status, changed) = call(
        &server,
        reqwest::Method::PATCH,
        &format!("/api/goals/{}", docs["id"]),
        &admin,
        Some(json!({"page_path": "/docs/**"})),
    );
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(
        conversions(&read_only),
        [
            ("Signup".into(), 2, 2, 0.6667),
            ("Pro signups".into(), 1, 1, 0.3333),
            ("Visit /blog/*".into(), 2, 3, 0.6667),
            ("Visit /docs/**".into(), 1, 1, 0.3333),
        ]
    );
    // Compared with the day before, when nothing happened.
    let (_, compared) = call(
        &server,
        reqwest::Method::GET,
        &format!("/api/stats/goals?site_id={SITE}&period=day&compare=previous"),
        &read_only,
        None,
    );
    assert_eq!(compared[0]["unique_conversions"], 2, "{compared}");
    assert_eq!(
        compared[0]["previous"],
        json!({"unique_conversions": 0, "total_conversions": 0, "conversion_rate": 0.0})
    );

    // `goal==NAME` filters every endpoint by what the goal counts, and a
    // page filter takes the same patterns.
    let get = |query: &str| {
        call(
            &server,
            reqwest::Method::GET,
            &format!("/api/stats/{query}"),
            &read_only,
            None,
        )
    };
    let visitors = |filters: &str| {
        let (status, body) = get(&format!("main?site_id={SITE}&period=day&filters={filters}"));
        assert_eq!(status, StatusCode::OK, "{filters}: {body}");
        body["unique_visitors"].as_u64().unwrap()
    };
    assert_eq!(visitors("goal==Signup"), 2);
    assert_eq!(visitors("goal==Pro%20signups"), 1);
    assert_eq!(visitors("goal==Visit%20/docs/**"), 1);
    assert_eq!(visitors("page==/blog/*"), 2);
    assert_eq!(
        visitors("page!=/blog/*"),
        1,
        "only visitor 3 had an event elsewhere"
    );
    let (_, pages) = get(&format!(
        "breakdown/pages?site_id={SITE}&period=day&filters=goal==Visit%20/blog/*"
    ));
    let mut values: Vec<&str> = pages
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["value"].as_str().unwrap())
        .collect();
    values.sort_unstable();
    assert_eq!(values, ["/blog/a", "/blog/b"], "{pages}");
    let (_, sessions) = get(&format!(
        "sessions?site_id={SITE}&period=day&filters=goal==Pro%20signups"
    ));
    assert_eq!(sessions["total_sessions"], 1, "{sessions}");
    for (filters, message) in [
        ("goal==Nope", "no goal named Nope"),
        ("goal!=Signup", "== only"),
    ] {
        let (status, body) = get(&format!("main?site_id={SITE}&period=day&filters={filters}"));
        assert_eq!(status, StatusCode::BAD_REQUEST, "{filters}");
        assert!(body["error"].as_str().unwrap().contains(message), "{body}");
    }

    // A revenue goal: per currency, never added up.
    send_with(&server, 1, "Purchase", "/shop", None, Some(("20", "EUR")));
    send_with(&server, 2, "Purchase", "/shop", None, Some(("5.5", "EUR")));
    send_with(&server, 3, "Purchase", "/shop", None, Some(("30", "USD")));
    let (status, _) = post(&admin, json!({"site_id": SITE, "event_name": "Purchase"}));
    assert_eq!(status, StatusCode::CREATED);
    let (_, rows) = call(
        &server,
        reqwest::Method::GET,
        &format!("/api/stats/goals?site_id={SITE}&period=day"),
        &read_only,
        None,
    );
    let purchase = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["goal"] == "Purchase")
        .unwrap();
    assert_eq!(
        purchase["revenue"],
        json!([
            {"currency": "EUR", "total": "25.5", "events": 2, "average": "12.75"},
            {"currency": "USD", "total": "30", "events": 1, "average": "30"}
        ]),
        "{purchase}"
    );
    assert!(
        rows[0].get("revenue").is_none(),
        "a goal without amounts has no revenue"
    );
    let (status, _) = call(
        &server,
        reqwest::Method::DELETE,
        &format!("/api/goals/{}", purchase["id"]),
        &admin,
        None,
    );
    assert_eq!(status, StatusCode::OK);

    let (_, listed) = call(
        &server,
        reqwest::Method::GET,
        &format!("/api/goals?site_id={SITE}"),
        &read_only,
        None,
    );
    assert_eq!(listed.as_array().unwrap().len(), 4);
    assert_eq!(listed[1]["prop_key"], "plan");
    let path = format!("/api/goals/{}", pro["id"]);
    let (status, _) = call(&server, reqwest::Method::DELETE, &path, &read_only, None);
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = call(&server, reqwest::Method::DELETE, &path, &admin, None);
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(&server, reqwest::Method::DELETE, &path, &admin, None);
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(conversions(&read_only).len(), 3);
}

#[test]
fn a_goal_created_in_settings_shows_on_the_dashboard_with_its_numbers() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    traffic(&server);
    let browser = Browser::open_dashboard(&server, "/#/settings");
    browser.wait_for("#goals-site");
    browser.wait_for("#goals-none");
    browser.eval(
        "const k = document.querySelector('#goal-kind'); k.value = 'page'; \
         k.dispatchEvent(new Event('change')); return null;",
    );
    browser.fill("#goal-target", "/blog/*");
    browser.click("#add-goal button[type=submit]");
    browser.wait_for_text("#goals-table", "Visit /blog/*");
    // A ready-made goal in one click.
    browser.click("button.ready-goal[data-event='404']");
    browser.wait_for_text("#goals-table", "404");

    browser.goto(&server.url(&format!("/#/?site={SITE}&period=day")));
    browser.click("button[data-dimension='goals']");
    let row = browser.wait_for_text(".goals-table tr[data-goal='Visit /blog/*']", "66.7%");
    assert!(row.contains('2') && row.contains('3'), "{row}");
    let none = browser.text(".goals-table tr[data-goal='404']");
    assert!(none.contains("0.0%"), "{none}");
    // The funnel form offers the pattern, the event and the property goal
    // as steps.
    let added = client()
        .post(server.url("/api/goals"))
        .json(
            &json!({"site_id": SITE, "name": "Pro signups", "event_name": "Signup",
            "prop_key": "plan", "prop_value": "pro"}),
        )
        .send()
        .unwrap();
    assert_eq!(added.status(), StatusCode::CREATED);
    browser.goto(&server.url(&format!("/#/funnel?site={SITE}&period=day")));
    browser.wait_for("#add-goal-step:not([hidden])");
    let options = browser.eval(
        "return [...document.querySelectorAll('#add-goal-step option')].map(o => [o.textContent, o.disabled])",
    );
    assert_eq!(
        options,
        json!([
            ["+ Add a goal as a step", false],
            ["Visit /blog/*", false],
            ["404", false],
            ["Pro signups", false]
        ])
    );
    for index in ["0", "1", "2"] {
        browser.eval(&format!(
            "const s = document.querySelector('#add-goal-step'); s.value = '{index}'; \
             s.dispatchEvent(new Event('change')); return null;"
        ));
    }
    let step_value = |n: u32| {
        browser.eval(&format!(
            "return document.querySelector('[data-step=\"{n}\"] .step-value').value"
        ))
    };
    // The empty second step takes the first goal; the next one is added.
    assert_eq!(step_value(2), "/blog/*");
    assert_eq!(step_value(3), "404");
    assert_eq!(step_value(4), "Pro signups");
    assert_eq!(
        browser.eval("return document.querySelector('[data-step=\"4\"] .step-type').value"),
        "goal"
    );
    // A goal step counts what the goal does, its property included: both
    // blog readers signed up, one on the pro plan.
    browser.goto(&server.url(&format!(
        "/#/funnel?site={SITE}&period=day&steps=page:/blog/*,goal:Pro signups"
    )));
    let second = browser.wait_for_text("#funnel-bars [data-step='2']", "1 visitors");
    assert!(
        second.to_lowercase().contains("goal") && second.contains("Pro signups"),
        "{second}"
    );
    let unknown = client()
        .get(server.url(&format!(
            "/api/stats/funnel?site_id={SITE}&period=day&steps=page:/blog/*,goal:Nope"
        )))
        .send()
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    assert!(
        json_of(unknown)["error"]
            .as_str()
            .unwrap()
            .contains("no goal named Nope")
    );
    // A pattern step counts the page views of every path it matches: both
    // visitors who read the blog, one of them then on /blog/b.
    let funnel = json_of(
        client()
            .get(server.url(&format!(
                "/api/stats/funnel?site_id={SITE}&period=day&steps=page:/blog/*,page:/blog/b"
            )))
            .send()
            .unwrap(),
    );
    assert_eq!(funnel[0]["visitors"], 2, "{funnel}");
    assert_eq!(funnel[1]["visitors"], 1, "{funnel}");

    browser.goto(&server.url(&format!("/#/?site={SITE}&period=day")));
    browser.click("button[data-dimension='goals']");
    browser.wait_for_text(".goals-table tr[data-goal='Visit /blog/*']", "66.7%");
    // A click on a goal filters the whole view by it.
    browser.click(".goals-table tr[data-goal='Visit /blog/*'] .goal-filter");
    browser.wait_for_text("#stat-visitors", "2");
    assert!(
        browser
            .eval("return location.hash")
            .as_str()
            .unwrap()
            .contains("goal"),
        "the filter is in the URL"
    );
}

/// The Goals card under `query`, as `(goal, visitors, events, the whole
/// row)`.
fn goal_rows(server: &Server, key: &str, query: &str) -> Vec<(String, u64, i64, Value)> {
    let (status, rows) = call(
        server,
        reqwest::Method::GET,
        &format!("/api/stats/goals?{query}"),
        key,
        None,
    );
    assert_eq!(status, StatusCode::OK, "{rows}");
    rows.as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                row["goal"].as_str().unwrap().to_owned(),
                row["unique_conversions"].as_u64().unwrap(),
                row["total_conversions"].as_i64().unwrap(),
                row.clone(),
            )
        })
        .collect()
}

/// The goal days the server has counted so far.
fn goal_days_stored(home: &TestHome) -> i64 {
    let db = rusqlite::Connection::open_with_flags(
        home.data_dir().join("mallard.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    db.query_row("SELECT count(*) FROM goal_days", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn the_server_counts_the_goal_days_of_closed_days_and_they_answer_as_the_events_do() {
    let home = TestHome::new();
    home.seed("seed.test", 20_000, 20);
    let server = Server::start(&home, &[("MALLARD_ADMIN_PASSWORD", "a long password")]);
    let session = sign_in(&server, "a long password");
    let admin = create_api_key(&server, &session, "Admin");
    for goal in [
        json!({"site_id": "seed.test", "event_name": "Signup"}),
        json!({"site_id": "seed.test", "name": "Purchases", "event_name": "Purchase"}),
        json!({"site_id": "seed.test", "name": "Blog", "page_path": "/blog/*"}),
        json!({"site_id": "seed.test", "name": "Docs", "page_path": "/docs/**"}),
    ] {
        let (status, body) = call(
            &server,
            reqwest::Method::POST,
            "/api/goals",
            &admin,
            Some(goal),
        );
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    // A filter every visit meets: counted from the events, always.
    let seeded = "site_id=seed.test&period=30d";
    let counted = goal_rows(
        &server,
        &admin,
        &format!("{seeded}&filters=source!=Nowhere"),
    );
    assert_eq!(counted.len(), 4);
    assert!(counted.iter().all(|row| row.2 > 0), "{counted:?}");
    // The server counts the closed days' goal days on its own: 17 or more
    // days of the 20 are closed, for each of 4 goals.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while goal_days_stored(&home) < 4 * 17 {
        assert!(
            std::time::Instant::now() < deadline,
            "{} goal days stored",
            goal_days_stored(&home)
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let stored = goal_rows(&server, &admin, seeded);
    for (from_days, from_events) in stored.iter().zip(&counted) {
        // The same events and revenue; visitors (and so the rates) the same
        // within the sketches' error.
        assert_eq!(from_days.0, from_events.0);
        assert_eq!(from_days.2, from_events.2, "{stored:?} {counted:?}");
        assert_eq!(
            from_days.3["revenue"], from_events.3["revenue"],
            "{stored:?} {counted:?}"
        );
        let error = (from_days.1 as f64 - from_events.1 as f64).abs() / from_events.1 as f64;
        assert!(error < 0.03, "{stored:?} {counted:?}");
    }

    // `mallard check` counts the goal days again: a wrong one is reported,
    // and `--repair` deletes them for the server to count again.
    server.stop();
    let (ok, said) = home.check(&[]);
    assert!(ok, "{said}");
    rusqlite::Connection::open(home.data_dir().join("mallard.db"))
        .unwrap()
        .execute(
            "UPDATE goal_days SET events = events + 5 \
             WHERE day = (SELECT max(day) FROM goal_days) AND goal_id = 1",
            [],
        )
        .unwrap();
    let (found, repaired) = home.check_finds_and_repair_mends("1 stored goal day(s) differ");
    assert!(found.contains("\"Signup\""), "{found}");
    assert!(repaired.contains("deleted"), "{repaired}");
}
