//! Annotations end to end: managed by admins only (a ReadOnly key reads
//! them), checked input answered 400 with the problem named, listed by date
//! as JSON and CSV, drawn as flags on the SVG and PNG charts; and in the
//! dashboard, a click on a day of the chart adds a note that is then listed
//! under the chart and flagged on it, and deleted from there.

use mallard_e2e::browser::Browser;
use mallard_e2e::{Server, TestHome, call_with_key, client, create_api_key, sign_in};
use reqwest::StatusCode;
use serde_json::{Value, json};

const SITE: &str = "notes.test";

fn traffic(server: &Server) {
    for path in ["/", "/pricing"] {
        let sent = client()
            .post(server.url("/api/event"))
            .json(&json!({ "d": SITE, "n": "pageview", "u": format!("https://{SITE}{path}") }))
            .send()
            .unwrap();
        assert_eq!(sent.status(), StatusCode::ACCEPTED);
    }
}

fn call(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> (StatusCode, String) {
    let response = call_with_key(server, method, path, key, body);
    (response.status(), response.text().unwrap())
}

/// Today's date in UTC, as the site (UTC) counts days.
fn today() -> String {
    let now = jiff::Timestamp::now();
    now.to_zoned(jiff::tz::TimeZone::UTC).date().to_string()
}

#[test]
fn annotations_are_managed_by_admins_listed_and_drawn_on_the_charts() {
    let home = TestHome::new();
    let server = Server::start(&home, &[("MALLARD_ADMIN_PASSWORD", "a long password")]);
    let session = sign_in(&server, "a long password");
    let admin = create_api_key(&server, &session, "Admin");
    let read_only = create_api_key(&server, &session, "ReadOnly");
    traffic(&server);
    let today = today();
    let post = |key: &str, body: Value| {
        call(
            &server,
            reqwest::Method::POST,
            "/api/annotations",
            key,
            Some(body),
        )
    };

    // Least privilege: a ReadOnly key reads, never writes.
    let (status, _) = post(
        &read_only,
        json!({"site_id": SITE, "date": today, "text": "Launch"}),
    );
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Bad input: 400 naming the problem; an unknown site 404.
    for (body, message) in [
        (
            json!({"site_id": SITE, "date": "10.03.2024", "text": "x"}),
            "date must be a date, YYYY-MM-DD",
        ),
        (
            json!({"site_id": SITE, "date": today, "text": "  "}),
            "text may not be empty",
        ),
        (json!({"date": today, "text": "x"}), "site_id is required"),
    ] {
        let (status, text) = post(&admin, body);
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            json!({"error": message})
        );
    }
    let (status, _) = post(
        &admin,
        json!({"site_id": "nowhere.test", "date": today, "text": "x"}),
    );
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, text) = post(
        &admin,
        json!({"site_id": SITE, "date": today, "text": "Launch, v2"}),
    );
    assert_eq!(status, StatusCode::CREATED);
    let launch: Value = serde_json::from_str(&text).unwrap();
    let (status, _) = post(
        &admin,
        json!({"site_id": SITE, "date": "2020-01-01", "text": "Old"}),
    );
    assert_eq!(status, StatusCode::CREATED);
    let (status, text) = call(
        &server,
        reqwest::Method::GET,
        &format!("/api/annotations?site_id={SITE}"),
        &read_only,
        None,
    );
    assert_eq!(status, StatusCode::OK);
    let listed: Value = serde_json::from_str(&text).unwrap();
    let dates: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["date"].as_str().unwrap())
        .collect();
    assert_eq!(dates, ["2020-01-01", today.as_str()]);
    let (_, csv) = call(
        &server,
        reqwest::Method::GET,
        &format!("/api/annotations?site_id={SITE}&from=2021-01-01&format=csv"),
        &read_only,
        None,
    );
    assert_eq!(csv, format!("date,text\r\n{today},\"Launch, v2\"\r\n"));

    // The charts flag today's note, not the one outside the period.
    let chart_svg = || {
        let (status, svg) = call(
            &server,
            reqwest::Method::GET,
            &format!("/api/stats/chart/timeseries.svg?site_id={SITE}&period=30d"),
            &read_only,
            None,
        );
        assert_eq!(status, StatusCode::OK);
        svg
    };
    let svg = chart_svg();
    assert!(
        svg.contains(&format!("class=\"mm-note\" data-key=\"{today}\"")),
        "{svg}"
    );
    assert!(svg.contains("Launch, v2"));
    assert!(!svg.contains("Old"));
    let png = |key: &str| {
        client()
            .get(server.url(&format!(
                "/api/stats/chart/timeseries.png?site_id={SITE}&period=30d"
            )))
            .header("x-api-key", key)
            .send()
            .unwrap()
            .bytes()
            .unwrap()
    };
    let flagged = png(&read_only);

    // Changed, then deleted: the flag goes with it.
    let id = launch["id"].as_i64().unwrap();
    let (status, text) = call(
        &server,
        reqwest::Method::PATCH,
        &format!("/api/annotations/{id}"),
        &admin,
        Some(json!({"date": today, "text": "Launch day"})),
    );
    assert_eq!(status, StatusCode::OK, "{text}");
    let delete = |key: &str| {
        let path = format!("/api/annotations/{id}");
        call(&server, reqwest::Method::DELETE, &path, key, None).0
    };
    assert_eq!(delete(&read_only), StatusCode::FORBIDDEN);
    assert_eq!(delete(&admin), StatusCode::NO_CONTENT);
    assert_eq!(delete(&admin), StatusCode::NOT_FOUND);
    assert!(!chart_svg().contains("mm-note"));
    assert_ne!(png(&read_only), flagged, "the PNG chart drew the flag");
}

#[test]
fn a_click_on_a_day_of_the_chart_adds_a_note_listed_under_it() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    traffic(&server);
    let today = today();
    let browser = Browser::open_dashboard(&server, &format!("/#/?site={SITE}&period=7d"));
    browser.wait_for(&format!("#chart .mm-visitors[data-key='{today}']"));
    browser.wait_for("#add-note");
    browser.eval(&format!(
        "document.querySelector(\"#chart .mm-visitors[data-key='{today}']\")\
         .dispatchEvent(new MouseEvent('click', {{bubbles: true}})); return null;"
    ));
    browser.wait_for("#note-dialog");
    assert_eq!(
        browser.eval("return document.querySelector('#note-date').value"),
        json!(today)
    );
    browser.fill("#note-text", "Shipped the pricing page");
    browser.click("#note-save");
    browser.wait_for(&format!("#chart .mm-note[data-key='{today}']"));
    let listed = browser.wait_for_text("#chart-notes", "Shipped the pricing page");
    assert!(listed.contains("Delete"), "{listed}");
    // Deleted from the list: gone from the chart too.
    browser.click("#chart-notes .delete-note");
    browser.click("#confirm-delete-note");
    browser.wait_for("#chart:not(:has(.mm-note)) #chart-notes:not(:has(li)) #add-note");
}
