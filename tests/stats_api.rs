//! End-to-end tests of the stats API: exact numbers on a small hand-made data
//! set, every validation error, filters, caching, and hostile parameters.

use mallard_core::{
    DeviceClass, EventName, NewEvent, Referrer, SessionAttributes, SiteId, VisitorId,
};
use mallard_e2e::{Server, TestHome, client, json_of, pageview};
use mallard_store::{Store, StoreOptions};
use reqwest::StatusCode;
use serde_json::{Value, json};

const SITE: &str = "stats.test";
/// 2024-03-10T00:00:00Z.
const DAY0: i64 = 1_710_028_800_000;
const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;

fn session(
    source: Option<&str>,
    browser: &str,
    device: DeviceClass,
    width: u16,
    country: &str,
) -> SessionAttributes {
    SessionAttributes {
        referrer: source.map(|s| Referrer {
            source: s.into(),
            url: Some(format!("{}/", s.to_lowercase())),
        }),
        browser: Some(browser.into()),
        os: Some("Linux".into()),
        device,
        screen_width: Some(width),
        country: Some(country.into()),
        ..SessionAttributes::default()
    }
}

fn event(
    ts: i64,
    visitor: u64,
    name: &str,
    path: &str,
    props: &[(&str, &str)],
    session: &SessionAttributes,
) -> NewEvent {
    NewEvent {
        site: SiteId::parse(SITE).unwrap(),
        timestamp_ms: ts,
        visitor: VisitorId(visitor),
        name: EventName::parse(name).unwrap(),
        hostname: SITE.into(),
        pathname: path.into(),
        props: props
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        revenue: None,
        session: session.clone(),
        collector: None,
    }
}

/// Four visits of three visitors over 2024-03-10 and 2024-03-11 (UTC):
/// - A (Google, Chrome, Desktop, 1920, DE): `/`, `/pricing`, `/docs` at
///   10:00, 10:01, 10:05 on the 10th: 3 page views, 300 s.
/// - B (direct, Safari, Mobile, 390, US): `/` at 11:00 (a bounce), then after a
///   gap `/pricing` at 13:00 and a `Signup` {plan: pro} at 13:00:30 (a bounce
///   with one custom event, 30 s).
/// - C (Google, Firefox, Laptop, 1440, DE): `/pricing` and `/` at 09:00 and
///   09:10 on the 11th: 2 page views, 600 s.
fn seed(home: &TestHome) {
    let a = session(Some("Google"), "Chrome", DeviceClass::Desktop, 1920, "DE");
    let b = session(None, "Safari", DeviceClass::Mobile, 390, "US");
    let c = session(Some("Google"), "Firefox", DeviceClass::Laptop, 1440, "DE");
    let pv = EventName::PAGEVIEW;
    let events = [
        event(DAY0 + 10 * HOUR, 1, pv, "/", &[], &a),
        event(DAY0 + 10 * HOUR + MIN, 1, pv, "/pricing", &[], &a),
        event(DAY0 + 10 * HOUR + 5 * MIN, 1, pv, "/docs", &[], &a),
        event(DAY0 + 11 * HOUR, 2, pv, "/", &[], &b),
        event(DAY0 + 13 * HOUR, 2, pv, "/pricing", &[], &b),
        event(
            DAY0 + 13 * HOUR + 30_000,
            2,
            "Signup",
            "/pricing",
            &[("plan", "pro")],
            &b,
        ),
        event(DAY0 + 33 * HOUR, 3, pv, "/pricing", &[], &c),
        event(DAY0 + 33 * HOUR + 10 * MIN, 3, pv, "/", &[], &c),
    ];
    let store = Store::open(&home.data_dir(), StoreOptions::default()).unwrap();
    let writer = store.writer();
    // Two batches, so that visits grow across batches.
    writer.insert_blocking(events[..2].to_vec()).unwrap();
    writer.insert_blocking(events[2..].to_vec()).unwrap();
    drop(writer);
    store.close();
}

/// Starts the server on a home that `seed` just wrote to. A process spawned by
/// a concurrent test may briefly inherit the data directory lock between its
/// fork and exec, so a refused start is retried a few times.
fn start(home: &TestHome) -> Server {
    let mut attempts = 0;
    loop {
        match Server::try_start(home, &[], &[]) {
            Ok(server) => return server,
            Err(err) if attempts < 10 && err.to_string().contains("in use") => {
                attempts += 1;
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            Err(err) => panic!("server starts: {err}"),
        }
    }
}

fn get(server: &Server, path: &str) -> (StatusCode, Value) {
    let response = client().get(server.url(path)).send().unwrap();
    let status = response.status();
    (status, json_of(response))
}

fn ok(server: &Server, path: &str) -> Value {
    let (status, body) = get(server, path);
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

const BOTH_DAYS: &str = "site_id=stats.test&start_date=2024-03-10&end_date=2024-03-12";
const FIRST_DAY: &str = "site_id=stats.test&start_date=2024-03-10&end_date=2024-03-11";

#[test]
fn main_stats_are_exact() {
    let home = TestHome::new();
    seed(&home);
    let server = start(&home);
    let body = ok(&server, &format!("/api/stats/main?{BOTH_DAYS}"));
    assert_eq!(body["unique_visitors"], 3);
    assert_eq!(body["total_pageviews"], 7);
    assert_eq!(body["total_events"], 8);
    assert_eq!(body["visits"], 4);
    assert_eq!(body["bounce_rate"], 0.5);
    assert_eq!(body["avg_visit_duration_secs"], 232.5);
    assert_eq!(body["views_per_visit"], 1.75);
    assert_eq!(body["pages_per_visit"], 1.75);
    assert_eq!(body["time_zone"], "UTC");
    assert_eq!(
        body["period"],
        json!({"start_date": "2024-03-10", "end_date": "2024-03-12"})
    );
    assert!(body.get("previous").is_none());

    let body = ok(
        &server,
        "/api/stats/main?site_id=stats.test&start_date=2024-03-11&end_date=2024-03-12&compare=previous",
    );
    assert_eq!(body["unique_visitors"], 1);
    assert_eq!(body["visits"], 1);
    assert_eq!(body["avg_visit_duration_secs"], 600.0);
    let previous = &body["previous"];
    assert_eq!(previous["period"]["start_date"], "2024-03-10");
    assert_eq!(previous["unique_visitors"], 2);
    assert_eq!(previous["total_pageviews"], 5);
    assert_eq!(previous["visits"], 3);
    assert_eq!(previous["bounce_rate"], 0.6667);
    assert_eq!(previous["avg_visit_duration_secs"], 110.0);
    assert_eq!(previous["views_per_visit"], 1.67);

    // The whole history, and a period with nothing in it.
    let all = ok(&server, "/api/stats/main?site_id=stats.test&period=all");
    assert_eq!(all["total_pageviews"], 7);
    assert_eq!(all["period"]["start_date"], "2024-03-10");
    let empty = ok(&server, "/api/stats/main?site_id=stats.test&period=7d");
    assert_eq!(empty["unique_visitors"], 0);
    assert_eq!(empty["bounce_rate"], 0.0);
    let unknown = ok(&server, "/api/stats/main?site_id=never.seen&period=30d");
    assert_eq!(unknown["total_pageviews"], 0);
}

#[test]
fn timeseries_has_every_bucket() {
    let home = TestHome::new();
    seed(&home);
    let server = start(&home);
    let body = ok(&server, &format!("/api/stats/timeseries?{BOTH_DAYS}"));
    // Mallard's shape: a list of buckets.
    let data = body.as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[0]["date"], "2024-03-10");
    assert_eq!(
        (
            &data[0]["visitors"],
            &data[0]["pageviews"],
            &data[0]["visits"]
        ),
        (&json!(2), &json!(5), &json!(3))
    );
    assert_eq!(data[1]["visitors"], 1);
    assert_eq!(data[1]["bounce_rate"], 0.0);

    let body = ok(
        &server,
        &format!("/api/stats/timeseries?{FIRST_DAY}&interval=hour"),
    );
    let data = body.as_array().unwrap();
    assert_eq!(data.len(), 24);
    assert_eq!(data[10]["date"], "2024-03-10 10:00");
    assert_eq!(data[10]["pageviews"], 3);
    assert_eq!(data[10]["avg_visit_duration_secs"], 300.0);
    assert_eq!(data[12]["pageviews"], 0);
    assert_eq!(data[13]["events"], 2);

    let body = ok(
        &server,
        &format!("/api/stats/timeseries?{BOTH_DAYS}&interval=month"),
    );
    let data = body.as_array().unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["date"], "2024-03-01");
    assert_eq!(data[0]["visitors"], 3);
    let body = ok(
        &server,
        &format!("/api/stats/timeseries?{BOTH_DAYS}&interval=week"),
    );
    // 2024-03-10 is a Sunday: the range spans two weeks.
    let dates: Vec<&str> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["date"].as_str().unwrap())
        .collect();
    assert_eq!(dates, ["2024-03-04", "2024-03-11"]);

    let today = ok(
        &server,
        "/api/stats/timeseries?site_id=stats.test&period=today",
    );
    // Hourly buckets for a day, as Mallard answers them.
    let hours = today.as_array().unwrap();
    assert_eq!(hours.len(), 24);
    assert!(
        hours[0]["date"].as_str().unwrap().ends_with(" 00:00"),
        "{today}"
    );
}

fn values(body: &Value, fields: &[&str]) -> Vec<Vec<Value>> {
    body.as_array()
        .unwrap()
        .iter()
        .map(|row| fields.iter().map(|f| row[*f].clone()).collect())
        .collect()
}

#[test]
fn breakdowns_are_exact() {
    let home = TestHome::new();
    seed(&home);
    let server = start(&home);
    let url = |dim: &str| format!("/api/stats/breakdown/{dim}?{BOTH_DAYS}");
    let pages = ok(&server, &url("pages"));
    assert_eq!(
        values(&pages, &["value", "visitors", "pageviews"]),
        [
            [json!("/"), json!(3), json!(3)],
            [json!("/pricing"), json!(3), json!(3)],
            [json!("/docs"), json!(1), json!(1)],
        ]
    );
    let sources = ok(&server, &url("sources"));
    assert_eq!(
        values(&sources, &["value", "visitors", "visits", "bounce_rate"]),
        [
            // A tie on visits: ties go by internal id, and a missing value is 0.
            [json!("(unknown)"), json!(1), json!(2), json!(1.0)],
            [json!("Google"), json!(2), json!(2), json!(0.0)],
        ]
    );
    let entry = ok(&server, &url("entry_pages"));
    assert_eq!(
        values(&entry, &["value", "visits"]),
        [[json!("/"), json!(2)], [json!("/pricing"), json!(2)]]
    );
    let exit = ok(&server, &url("exit_pages"));
    assert_eq!(
        values(&exit, &["value", "visits"]),
        [
            [json!("/"), json!(2)],
            [json!("/pricing"), json!(1)],
            [json!("/docs"), json!(1)],
        ]
    );
    let devices = ok(&server, &url("devices"));
    assert_eq!(devices[0]["value"], "Mobile");
    assert_eq!(devices[0]["visits"], 2);
    let countries = ok(&server, &url("countries"));
    assert_eq!(
        values(&countries, &["value", "visitors", "visits"]),
        [
            [json!("DE"), json!(2), json!(2)],
            [json!("US"), json!(1), json!(2)]
        ]
    );
    let browsers = ok(&server, &url("browsers"));
    assert_eq!(browsers.as_array().unwrap().len(), 3);
    let os = ok(&server, &url("os"));
    assert_eq!(
        values(&os, &["value", "visits"]),
        [[json!("Linux"), json!(4)]]
    );
    let screens = ok(&server, &url("screen_sizes"));
    assert_eq!(screens[0]["value"], "390");
    let events = ok(&server, &url("events"));
    assert_eq!(
        values(&events, &["value", "visitors", "events"]),
        [[json!("Signup"), json!(1), json!(1)]]
    );
    let plan = ok(
        &server,
        &format!("/api/stats/breakdown/props/plan?{BOTH_DAYS}"),
    );
    assert_eq!(
        values(&plan, &["value", "visitors", "events"]),
        [[json!("pro"), json!(1), json!(1)]]
    );
    let utm = ok(&server, &url("utm_source"));
    assert_eq!(
        values(&utm, &["value", "visits"]),
        [[json!("(unknown)"), json!(4)]]
    );
    let limited = ok(&server, &format!("{}&limit=1", url("pages")));
    assert_eq!(limited.as_array().unwrap().len(), 1);
}

#[test]
fn filters_apply_to_every_endpoint() {
    let home = TestHome::new();
    seed(&home);
    let server = start(&home);
    let google = ok(
        &server,
        &format!("/api/stats/main?{BOTH_DAYS}&filters=source%3D%3DGoogle"),
    );
    assert_eq!(google["unique_visitors"], 2);
    assert_eq!(google["total_pageviews"], 5);
    assert_eq!(google["visits"], 2);
    let not_de = ok(
        &server,
        &format!("/api/stats/main?{BOTH_DAYS}&filters=country!%3DDE"),
    );
    assert_eq!(not_de["unique_visitors"], 1);
    assert_eq!(not_de["total_pageviews"], 2);
    let pricing = ok(
        &server,
        &format!("/api/stats/main?{BOTH_DAYS}&filters=page%3D%3D/pricing"),
    );
    assert_eq!(pricing["unique_visitors"], 3);
    assert_eq!(pricing["total_pageviews"], 3);
    assert_eq!(pricing["visits"], 3);
    let both = ok(
        &server,
        &format!(
            "/api/stats/breakdown/pages?{BOTH_DAYS}&filters=source%3D%3DGoogle%3Bcountry%3D%3DDE"
        ),
    );
    assert_eq!(
        values(&both, &["value", "pageviews"]),
        [
            [json!("/"), json!(2)],
            [json!("/pricing"), json!(2)],
            [json!("/docs"), json!(1)],
        ]
    );
    let series = ok(
        &server,
        &format!("/api/stats/timeseries?{BOTH_DAYS}&filters=browser%3D%3DFirefox"),
    );
    assert_eq!(series[0]["visitors"], 0);
    assert_eq!(series[1]["visitors"], 1);
    let plan = ok(
        &server,
        &format!("/api/stats/breakdown/events?{BOTH_DAYS}&filters=props.plan%3D%3Dpro"),
    );
    assert_eq!(
        values(&plan, &["value", "events"]),
        [[json!("Signup"), json!(1)]]
    );
}

#[test]
fn a_view_answers_each_panel_as_its_own_endpoint_does() {
    let home = TestHome::new();
    seed(&home);
    let server = start(&home);
    let chart = "theme=dark&width=600&height=200";
    for range in [BOTH_DAYS, FIRST_DAY] {
        for filters in [
            "",
            "&filters=source%3D%3DGoogle",
            "&filters=page%3D%3D/pricing",
            "&filters=props.plan%3D%3Dpro%3Bcountry%3D%3DDE",
            "&filters=browser%3D%3DNetscape",
        ] {
            let query = format!("{range}{filters}&limit=5");
            let view = ok(
                &server,
                &format!(
                    "/api/stats/view?{query}&compare=previous&chart=svg&{chart}\
                     &breakdowns=pages,sources,countries,browsers,events,entry_pages,props/plan"
                ),
            );
            assert_eq!(
                view["main"],
                ok(
                    &server,
                    &format!("/api/stats/main?{query}&compare=previous")
                ),
                "{query}"
            );
            assert_eq!(
                view["timeseries"],
                ok(&server, &format!("/api/stats/timeseries?{query}")),
                "{query}"
            );
            let breakdowns = view["breakdowns"].as_object().unwrap();
            assert_eq!(breakdowns.len(), 7, "{query}");
            for name in [
                "pages",
                "sources",
                "countries",
                "browsers",
                "events",
                "entry_pages",
                "props/plan",
            ] {
                assert_eq!(
                    breakdowns[name],
                    ok(&server, &format!("/api/stats/breakdown/{name}?{query}")),
                    "{name} {query}"
                );
            }
            let drawn = client()
                .get(server.url(&format!("/api/stats/chart/timeseries.svg?{query}&{chart}")))
                .send()
                .unwrap()
                .text()
                .unwrap();
            assert!(drawn.starts_with("<svg"), "{drawn}");
            assert_eq!(view["chart_svg"].as_str(), Some(drawn.as_str()), "{query}");
        }
    }
    // Without breakdowns or a chart, the view is the top stats and the series.
    let bare = ok(&server, &format!("/api/stats/view?{BOTH_DAYS}"));
    assert_eq!(bare["breakdowns"], json!({}));
    assert!(bare.get("chart_svg").is_none());
    assert_eq!(
        bare["main"]["visits"],
        ok(&server, &format!("/api/stats/main?{BOTH_DAYS}"))["visits"]
    );
}

#[test]
fn bad_parameters_are_400_with_the_flat_error_body() {
    let home = TestHome::new();
    seed(&home);
    let server = start(&home);
    for path in [
        "/api/stats/main",
        "/api/stats/main?site_id=",
        "/api/stats/main?site_id=bad%20site",
        "/api/stats/main?site_id=stats.test&period=1y",
        "/api/stats/main?site_id=stats.test&period=custom",
        "/api/stats/main?site_id=stats.test&start_date=2024-03-10",
        "/api/stats/main?site_id=stats.test&end_date=2024-03-10",
        "/api/stats/main?site_id=stats.test&start_date=2024-3-10&end_date=2024-03-12",
        "/api/stats/main?site_id=stats.test&start_date=2024-03-12&end_date=2024-03-10",
        "/api/stats/main?site_id=stats.test&start_date=2024-01-01&end_date=2025-01-02",
        "/api/stats/main?site_id=stats.test&start_date=2024-02-30&end_date=2024-03-10",
        "/api/stats/main?site_id=stats.test&period=7d&start_date=2024-03-10&end_date=2024-03-12",
        "/api/stats/main?site_id=stats.test&compare=yesterday",
        "/api/stats/main?site_id=stats.test&filters=page%3D/x",
        "/api/stats/main?site_id=stats.test&filters=color%3D%3Dred",
        "/api/stats/main?site_id=stats.test&filters=page%3D%3D",
        "/api/stats/timeseries?site_id=stats.test&interval=minute",
        "/api/stats/timeseries?site_id=stats.test&period=all&interval=hour&start_date=2000-01-01&end_date=2001-01-01",
        "/api/stats/timeseries?site_id=stats.test&period=all&interval=hour",
        "/api/stats/breakdown/pages?site_id=stats.test&limit=0",
        "/api/stats/breakdown/pages?site_id=stats.test&limit=1001",
        "/api/stats/breakdown/pages?site_id=stats.test&limit=ten",
        "/api/stats/realtime?site_id=stats.test&filters=x",
        "/api/stats/view?site_id=stats.test&breakdowns=colors",
        "/api/stats/view?site_id=stats.test&breakdowns=pages,,sources",
        "/api/stats/view?site_id=stats.test&chart=png",
        "/api/stats/view?site_id=stats.test&chart=svg&width=5",
        "/api/stats/view?site_id=stats.test&limit=0",
        "/api/stats/view?site_id=stats.test&interval=minute",
        "/api/stats/view?site_id=stats.test&filters=page%3D/x",
    ] {
        let (status, body) = get(&server, path);
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        let message = body["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{path}: {body}"));
        assert!(!message.is_empty());
        assert_eq!(body.as_object().unwrap().len(), 1, "{path}: {body}");
    }
    let (status, body) = get(&server, "/api/stats/breakdown/colors?site_id=stats.test");
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].is_string());
    // A custom range of exactly 366 days is allowed.
    ok(
        &server,
        "/api/stats/main?site_id=stats.test&start_date=2024-01-01&end_date=2025-01-01",
    );
}

#[test]
fn hostile_parameters_never_reach_sql() {
    let home = TestHome::new();
    seed(&home);
    let server = start(&home);
    // No `;`, which separates filters.
    let injection = "x'%20OR%20'1'%3D'1'%20--%20DROP%20TABLE%20events";
    for path in [
        format!("/api/stats/main?{BOTH_DAYS}&filters=page%3D%3D{injection}"),
        format!("/api/stats/main?{BOTH_DAYS}&filters=props.{injection}%3D%3D{injection}"),
        format!("/api/stats/breakdown/pages?{BOTH_DAYS}&filters=country!%3D{injection}"),
        format!("/api/stats/breakdown/props/{injection}?{BOTH_DAYS}"),
        format!("/api/stats/timeseries?{BOTH_DAYS}&filters=device%3D%3D{injection}"),
        format!("/api/stats/realtime?site_id=stats.test&filters=screen_size%3D%3D{injection}"),
    ] {
        let (status, body) = get(&server, &path);
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        let matched = body
            .get("total_pageviews")
            .or_else(|| body.get("visitors"))
            .cloned();
        if let Some(count) = matched {
            assert!(count == 0 || count == 7, "{path}: {body}");
        }
    }
    // `!=` a value never stored matches everything; `==` matches nothing.
    let none = ok(
        &server,
        &format!("/api/stats/main?{BOTH_DAYS}&filters=page%3D%3D{injection}"),
    );
    assert_eq!(none["total_pageviews"], 0);
    let all = ok(
        &server,
        &format!("/api/stats/main?{BOTH_DAYS}&filters=page!%3D{injection}"),
    );
    assert_eq!(all["total_pageviews"], 7);
    for path in [
        format!("/api/stats/main?site_id={injection}&period=all"),
        format!("/api/stats/main?{BOTH_DAYS}&filters=page%3D%3Dx'%3B%20DROP%20TABLE%20events"),
        format!("/api/stats/main?site_id=stats.test&period={injection}"),
        format!("/api/stats/main?site_id=stats.test&start_date={injection}&end_date=2024-01-01"),
        format!("/api/stats/breakdown/pages?{BOTH_DAYS}&limit=1%20OR%201%3D1"),
    ] {
        let (status, body) = get(&server, &path);
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
    }
    let (status, _) = server.terminate();
    assert!(status.success());
    let pageviews = home.read(|db| db.pageview_paths(SITE));
    assert_eq!(pageviews.len(), 7, "the events table is intact");
}

#[test]
fn utm_term_and_content_are_breakdowns_and_filters() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    let http = client();
    // Three visitors (three user agents): two from one campaign's two ads,
    // one without UTM tags.
    for (agent, path) in [
        (
            "Firefox/128.0",
            "/?utm_source=ads&utm_term=running+shoes&utm_content=banner",
        ),
        (
            "Chrome/131.0",
            "/?utm_source=ads&utm_term=trail+shoes&utm_content=banner",
        ),
        ("Safari/17.0", "/"),
    ] {
        let response = http
            .post(server.url("/api/event"))
            .header("user-agent", agent)
            .json(&pageview("utm.test", path))
            .send()
            .unwrap();
        assert_eq!(response.status(), StatusCode::ACCEPTED);
    }
    let query = "site_id=utm.test&period=day";
    let terms = ok(&server, &format!("/api/stats/breakdown/utm_term?{query}"));
    assert_eq!(
        values(&terms, &["value", "visits"]),
        [
            vec![json!("(unknown)"), json!(1)],
            vec![json!("running shoes"), json!(1)],
            vec![json!("trail shoes"), json!(1)],
        ],
        "{terms}"
    );
    let contents = ok(
        &server,
        &format!("/api/stats/breakdown/utm_content?{query}"),
    );
    assert_eq!(
        values(&contents, &["value", "visits"]),
        [
            vec![json!("banner"), json!(2)],
            vec![json!("(unknown)"), json!(1)]
        ],
        "{contents}"
    );
    let banner = ok(
        &server,
        &format!("/api/stats/main?{query}&filters=utm_content%3D%3Dbanner"),
    );
    assert_eq!(banner["unique_visitors"], 2, "{banner}");
    let trail = ok(
        &server,
        &format!("/api/stats/breakdown/utm_content?{query}&filters=utm_term%3D%3Dtrail%20shoes"),
    );
    assert_eq!(
        values(&trail, &["value", "visits"]),
        [vec![json!("banner"), json!(1)]],
        "{trail}"
    );
    let visits = ok(
        &server,
        &format!("/api/stats/visits?{query}&filters=utm_term%3D%3Drunning%20shoes"),
    );
    assert_eq!(
        (
            &visits["results"][0]["utm_term"],
            &visits["results"][0]["utm_content"]
        ),
        (&json!("running shoes"), &json!("banner")),
        "{visits}"
    );
}

#[test]
fn property_keys_are_listed_with_their_events_and_visitors() {
    const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
    const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
        Chrome/131.0.0.0 Safari/537.36";
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    let http = client();
    // Two visitors: Firefox signs up twice (plan and seats, then plan
    // alone), Chrome once (plan), and a page view with a property, which
    // counts as Plausible counts properties on page views.
    let sends = [
        (FIREFOX, "Signup", json!({"plan": "pro", "seats": "3"})),
        (FIREFOX, "Signup", json!({"plan": "free"})),
        (CHROME, "Signup", json!({"plan": "pro"})),
        (CHROME, "pageview", json!({"author": "ann"})),
        (CHROME, "Download", json!({})),
    ];
    for (agent, name, props) in sends {
        let response = http
            .post(server.url("/api/event"))
            .header("user-agent", agent)
            .json(&json!({"d": "props.test", "n": name, "u": "https://props.test/", "p": props}))
            .send()
            .unwrap();
        assert_eq!(response.status(), StatusCode::ACCEPTED);
    }
    let query = "site_id=props.test&period=day";
    let keys = ok(&server, &format!("/api/stats/props?{query}"));
    assert_eq!(
        values(&keys, &["value", "events", "visitors"]),
        [
            vec![json!("plan"), json!(3), json!(2)],
            vec![json!("seats"), json!(1), json!(1)],
            vec![json!("author"), json!(1), json!(1)],
        ],
        "{keys}"
    );
    // The page view's property has its values, unfiltered (the rollups)
    // and filtered (the visits).
    for filters in ["", "&filters=browser%3D%3DChrome"] {
        let authors = ok(
            &server,
            &format!("/api/stats/breakdown/props/author?{query}{filters}"),
        );
        assert_eq!(
            values(&authors, &["value", "events", "visitors"]),
            [vec![json!("ann"), json!(1), json!(1)]],
            "{authors}"
        );
    }
    // Filters apply; the limit keeps the keys with the most events.
    let chrome = ok(
        &server,
        &format!("/api/stats/props?{query}&filters=browser%3D%3DChrome"),
    );
    assert_eq!(
        values(&chrome, &["value", "events"]),
        [
            vec![json!("plan"), json!(1)],
            vec![json!("author"), json!(1)]
        ],
        "{chrome}"
    );
    let top = ok(&server, &format!("/api/stats/props?{query}&limit=1"));
    assert_eq!(top.as_array().unwrap().len(), 1, "{top}");
    let nobody = ok(
        &server,
        &format!("/api/stats/props?{query}&filters=props.plan%3D%3Denterprise"),
    );
    assert_eq!(nobody, json!([]), "{nobody}");
    let (status, body) = get(&server, &format!("/api/stats/props?{query}&limit=0"));
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"].is_string(), "{body}");
}

#[test]
fn revenue_is_reported_per_currency_never_added_across_them() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    let http = client();
    let sends = [
        ("Purchase", Some("19.99"), Some("EUR"), "/shop"),
        ("Purchase", Some("5.01"), Some("eur"), "/shop"),
        ("Purchase", Some("100"), Some("USD"), "/us"),
        ("Refund", Some("-100"), Some("USD"), "/us"),
        ("Purchase", Some("30"), Some("USD"), "/shop"),
        ("Signup", None, None, "/shop"),
    ];
    for (name, amount, currency, path) in sends {
        let mut body =
            json!({"d": "shop.test", "n": name, "u": format!("https://shop.test{path}")});
        if let Some(amount) = amount {
            body["ra"] = json!(amount);
        }
        if let Some(currency) = currency {
            body["rc"] = json!(currency);
        }
        let response = http
            .post(server.url("/api/event"))
            .json(&body)
            .send()
            .unwrap();
        assert_eq!(response.status(), StatusCode::ACCEPTED, "{body}");
    }
    let query = "site_id=shop.test&period=day";
    let report = ok(&server, &format!("/api/stats/revenue?{query}"));
    assert_eq!(report["interval"], "hour", "{report}");
    let currencies = report["currencies"].as_array().unwrap();
    let summary: Vec<_> = currencies
        .iter()
        .map(|c| {
            (
                c["currency"].clone(),
                c["total"].clone(),
                c["events"].clone(),
                c["average"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (json!("USD"), json!("30"), json!(3), json!("10")),
            (json!("EUR"), json!("25"), json!(2), json!("12.5")),
        ],
        "{report}"
    );
    // One bucket (this hour) per currency, holding the same totals.
    assert_eq!(
        currencies[1]["data"].as_array().unwrap().len(),
        1,
        "{report}"
    );
    assert_eq!(currencies[1]["data"][0]["total"], "25", "{report}");
    // Filters apply to the events that carry the amounts.
    let shop = ok(
        &server,
        &format!("/api/stats/revenue?{query}&filters=page%3D%3D/shop"),
    );
    let shop: Vec<_> = shop["currencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["currency"].clone(), c["total"].clone()))
        .collect();
    assert_eq!(
        shop,
        [(json!("EUR"), json!("25")), (json!("USD"), json!("30"))]
    );
    let none = ok(
        &server,
        &format!("/api/stats/revenue?{query}&filters=event%3D%3DSignup"),
    );
    assert_eq!(none["currencies"], json!([]), "{none}");
    let (status, body) = get(
        &server,
        &format!("/api/stats/revenue?{query}&interval=year"),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[test]
fn live_events_show_in_realtime_and_invalidate_the_cache() {
    let home = TestHome::new();
    let server = Server::start(&home, &[("MALLARD_CACHE_TTL", "3600")]);
    let http = client();
    let today = "/api/stats/main?site_id=live.test&period=7d";
    assert_eq!(ok(&server, today)["total_pageviews"], 0);
    for path in ["/", "/a"] {
        let response = http
            .post(server.url("/api/event"))
            .json(&pageview("live.test", path))
            .send()
            .unwrap();
        assert_eq!(response.status(), StatusCode::ACCEPTED);
    }
    // The cached zero is replaced because the site received events.
    assert_eq!(ok(&server, today)["total_pageviews"], 2);
    assert_eq!(ok(&server, today)["unique_visitors"], 1);
    let realtime = ok(&server, "/api/stats/realtime?site_id=live.test");
    assert_eq!(realtime, json!({"visitors": 1, "window_secs": 300}));
    let other = ok(
        &server,
        "/api/stats/realtime?site_id=live.test&filters=page%3D%3D/nowhere",
    );
    assert_eq!(other["visitors"], 0);
}

#[test]
fn with_a_password_set_stats_need_a_session_or_an_api_key() {
    let home = TestHome::new();
    seed(&home);
    let created = home
        .command()
        .args(["keys", "--data-dir"])
        .arg(home.data_dir())
        .args(["create", "--name", "stats", "--scope", "ReadOnly"])
        .output()
        .unwrap();
    assert!(created.status.success(), "{:?}", created);
    let stdout = String::from_utf8_lossy(&created.stdout).into_owned();
    let key = stdout
        .lines()
        .find_map(|line| line.strip_prefix("key:"))
        .unwrap_or_else(|| panic!("no key in {stdout}"))
        .trim()
        .to_owned();
    let server = loop {
        match Server::try_start(&home, &[("MALLARD_ADMIN_PASSWORD", "a long password")], &[]) {
            Ok(server) => break server,
            Err(err) if err.to_string().contains("in use") => {
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            Err(err) => panic!("server starts: {err}"),
        }
    };
    let path = format!("/api/stats/main?{BOTH_DAYS}");
    for endpoint in [
        path.clone(),
        format!("/api/stats/timeseries?{BOTH_DAYS}"),
        format!("/api/stats/breakdown/pages?{BOTH_DAYS}"),
        format!("/api/stats/breakdown/props/plan?{BOTH_DAYS}"),
        "/api/stats/realtime?site_id=stats.test".to_owned(),
    ] {
        let (status, body) = get(&server, &endpoint);
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{endpoint}: {body}");
        assert!(body["error"].is_string());
    }
    let bearer = client()
        .get(server.url(&path))
        .bearer_auth(&key)
        .send()
        .unwrap();
    assert_eq!(bearer.status(), StatusCode::OK);
    assert_eq!(json_of(bearer)["total_pageviews"], 7);
    let header = client()
        .get(server.url(&path))
        .header("X-API-Key", &key)
        .send()
        .unwrap();
    assert_eq!(header.status(), StatusCode::OK);
}
