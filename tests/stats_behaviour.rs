//! End-to-end tests of the behavioural stats endpoints (sessions, funnel,
//! retention, sequences, flow, export): exact numbers on a small hand-made
//! data set, every validation error, hostile parameters and access rules.

use mallard_core::{
    DeviceClass, EventName, NewEvent, Referrer, SessionAttributes, SiteId, Utm, VisitorId,
};
use mallard_e2e::{Server, TestHome, client, json_of};
use mallard_store::{Store, StoreOptions};
use reqwest::StatusCode;
use serde_json::{Value, json};

const SITE: &str = "behaviour.test";
/// 2024-03-04T00:00:00Z, a Monday.
const MON: i64 = 1_709_510_400_000;
const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;
/// Three whole weeks: 2024-03-04 to 2024-03-24.
const WEEKS: &str = "site_id=behaviour.test&start_date=2024-03-04&end_date=2024-03-25";

fn session(
    source: Option<&str>,
    browser: &str,
    device: DeviceClass,
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
        screen_width: Some(1280),
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

/// Seven visits of five visitors (stable visitor ids, as an SDK's `anon_id`
/// gives) over three weeks, UTC:
/// - V1, visitor 1 (Google, DE), Mon 03-04 10:00: `/`, `/pricing`, `/pricing`
///   (reload), `/docs`, `Signup` {plan: pro}, `/`.
/// - V2, visitor 2 (direct, US, Mobile), 03-04 23:50 to 03-05 00:20 (across
///   midnight): `/`, `/pricing` at 00:05, `Signup` {plan: free} at 00:20.
/// - V3, visitor 3 (Google, DE), 03-05 09:00: `/pricing` (a bounce).
/// - V4, visitor 1 again (Twitter, DE), 03-12 08:00: `/`, `/docs`.
/// - V5, visitor 4 (a hostile referrer and campaign, FR), 03-13 12:00: `/`,
///   `/pricing`, `/`, `Purchase` {product: "@SUM(A1)"}.
/// - V6, visitor 2 again, 03-19 15:00: `/pricing`, `Signup` {plan: team}.
/// - V7, visitor 5, a bot kept with its visit flagged, 03-19 16:00: `/`.
fn seed(home: &TestHome) {
    let pv = EventName::PAGEVIEW;
    let v1 = session(Some("Google"), "Chrome", DeviceClass::Desktop, "DE");
    let v2 = session(None, "Safari", DeviceClass::Mobile, "US");
    let v3 = session(Some("Google"), "Firefox", DeviceClass::Laptop, "DE");
    let v4 = session(Some("Twitter"), "Chrome", DeviceClass::Desktop, "DE");
    let v5 = SessionAttributes {
        referrer: Some(Referrer {
            source: "=HYPERLINK(\"http://evil\")".into(),
            url: Some("-evil.example/".into()),
        }),
        utm: Utm {
            campaign: Some("+launch".into()),
            ..Utm::default()
        },
        ..session(None, "Edge", DeviceClass::Desktop, "FR")
    };
    let v6 = session(None, "Safari", DeviceClass::Mobile, "US");
    let v7 = SessionAttributes {
        is_bot: true,
        ..session(None, "Googlebot", DeviceClass::Unknown, "US")
    };
    let d10 = MON + 10 * HOUR;
    let events = vec![
        event(d10, 1, pv, "/", &[], &v1),
        event(d10 + MIN, 1, pv, "/pricing", &[], &v1),
        event(d10 + MIN + 30_000, 1, pv, "/pricing", &[], &v1),
        event(d10 + 3 * MIN, 1, pv, "/docs", &[], &v1),
        event(d10 + 4 * MIN, 1, "Signup", "/docs", &[("plan", "pro")], &v1),
        event(d10 + 6 * MIN, 1, pv, "/", &[], &v1),
        event(MON + 23 * HOUR + 50 * MIN, 2, pv, "/", &[], &v2),
        event(MON + DAY + 5 * MIN, 2, pv, "/pricing", &[], &v2),
        event(
            MON + DAY + 20 * MIN,
            2,
            "Signup",
            "/pricing",
            &[("plan", "free")],
            &v2,
        ),
        event(MON + DAY + 9 * HOUR, 3, pv, "/pricing", &[], &v3),
        event(MON + 8 * DAY + 8 * HOUR, 1, pv, "/", &[], &v4),
        event(MON + 8 * DAY + 8 * HOUR + 2 * MIN, 1, pv, "/docs", &[], &v4),
        event(MON + 9 * DAY + 12 * HOUR, 4, pv, "/", &[], &v5),
        event(MON + 9 * DAY + 12 * HOUR + MIN, 4, pv, "/pricing", &[], &v5),
        event(MON + 9 * DAY + 12 * HOUR + 2 * MIN, 4, pv, "/", &[], &v5),
        event(
            MON + 9 * DAY + 12 * HOUR + 3 * MIN,
            4,
            "Purchase",
            "/",
            &[("product", "@SUM(A1)")],
            &v5,
        ),
        event(MON + 15 * DAY + 15 * HOUR, 2, pv, "/pricing", &[], &v6),
        event(
            MON + 15 * DAY + 15 * HOUR + 2 * MIN,
            2,
            "Signup",
            "/pricing",
            &[("plan", "team")],
            &v6,
        ),
        event(MON + 15 * DAY + 16 * HOUR, 5, pv, "/", &[], &v7),
    ];
    let store = Store::open(&home.data_dir(), StoreOptions::default()).unwrap();
    let writer = store.writer();
    // Two batches, so that a visit grows across batches.
    writer.insert_blocking(events[..8].to_vec()).unwrap();
    writer.insert_blocking(events[8..].to_vec()).unwrap();
    drop(writer);
    store.close();
}

/// Starts the server; a start refused because a concurrently spawned process
/// briefly inherited the data directory lock is retried.
fn start(home: &TestHome, env: &[(&str, &str)]) -> Server {
    let mut attempts = 0;
    loop {
        match Server::try_start(home, env, &[]) {
            Ok(server) => return server,
            Err(err) if attempts < 10 && err.to_string().contains("in use") => {
                attempts += 1;
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            Err(err) => panic!("server starts: {err}"),
        }
    }
}

fn seeded() -> (TestHome, Server) {
    let home = TestHome::new();
    seed(&home);
    let server = start(&home, &[]);
    (home, server)
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

/// Selected fields of every row.
fn pick(rows: &Value, fields: &[&str]) -> Vec<Vec<Value>> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|row| fields.iter().map(|f| row[*f].clone()).collect())
        .collect()
}

#[test]
fn funnels_count_visits_through_the_steps_in_order() {
    let (_home, server) = seeded();
    // Mallard's form: comma-separated steps, one item per step.
    let steps = "steps=page:/,page:/pricing,event:Signup";
    let body = ok(&server, &format!("/api/stats/funnel?{WEEKS}&{steps}"));
    assert_eq!(
        pick(&body, &["step", "visitors"]),
        vec![
            vec![json!(1), json!(4)],
            vec![json!(2), json!(3)],
            vec![json!(3), json!(2)]
        ]
    );
    assert_eq!(
        body,
        json!([
            {"step": 1, "name": "page:/", "type": "page", "value": "/", "visits": 5, "visitors": 4,
             "conversion_rate": 1.0, "conversion_rate_step": 1.0, "dropoff": 0, "dropoff_rate": 0.0},
            {"step": 2, "name": "page:/pricing", "type": "page", "value": "/pricing", "visits": 3, "visitors": 3,
             "conversion_rate": 0.6, "conversion_rate_step": 0.6, "dropoff": 2, "dropoff_rate": 0.4},
            {"step": 3, "name": "event:Signup", "type": "event", "value": "Signup", "visits": 2, "visitors": 2,
             "conversion_rate": 0.4, "conversion_rate_step": 0.6667, "dropoff": 1, "dropoff_rate": 0.3333},
        ])
    );
    // `;` still separates steps, as it did before Mallard's form.
    let semicolons = ok(
        &server,
        &format!("/api/stats/funnel?{WEEKS}&steps=page:/;page:/pricing;event:Signup"),
    );
    assert_eq!(semicolons, body);
    // Within 10 minutes of the first step: V2 took 15 minutes to /pricing.
    // The window as Mallard writes it, and in short form.
    for window in ["10+minutes", "10m", "600"] {
        let windowed = ok(
            &server,
            &format!("/api/stats/funnel?{WEEKS}&{steps}&window={window}"),
        );
        assert_eq!(
            pick(&windowed, &["visits"]),
            vec![vec![json!(5)], vec![json!(2)], vec![json!(1)]],
            "{window}"
        );
    }
    // Filters select visits: Germany (V1, V3, V4), and visits with a Signup (V1, V2, V6).
    let de = ok(
        &server,
        &format!("/api/stats/funnel?{WEEKS}&{steps}&filters=country%3D%3DDE"),
    );
    assert_eq!(
        pick(&de, &["visits", "visitors"]),
        vec![
            vec![json!(2), json!(1)],
            vec![json!(1), json!(1)],
            vec![json!(1), json!(1)]
        ]
    );
    let signed = ok(
        &server,
        &format!("/api/stats/funnel?{WEEKS}&{steps}&filters=event%3D%3DSignup"),
    );
    assert_eq!(
        pick(&signed, &["visits"]),
        vec![vec![json!(2)], vec![json!(2)], vec![json!(2)]]
    );
    // A repeated step needs two matching events; a step never stored is never reached.
    let twice = ok(
        &server,
        &format!("/api/stats/funnel?{WEEKS}&steps=page:/,page:/"),
    );
    assert_eq!(
        pick(&twice, &["visits"]),
        vec![vec![json!(5)], vec![json!(2)]]
    );
    let never = ok(
        &server,
        &format!("/api/stats/funnel?{WEEKS}&steps=page:/,page:/nowhere"),
    );
    assert_eq!(never[1]["visits"], 0);
    // The period selects visits by their start: only the first week.
    let week = ok(
        &server,
        &format!(
            "/api/stats/funnel?site_id=behaviour.test&start_date=2024-03-04&end_date=2024-03-11&{steps}"
        ),
    );
    assert_eq!(
        pick(&week, &["visits"]),
        vec![vec![json!(2)], vec![json!(2)], vec![json!(2)]]
    );
}

#[test]
fn sequences_count_the_visitors_who_took_the_steps_in_order() {
    let (_home, server) = seeded();
    let steps = "steps=page:/,page:/pricing,event:Signup";
    let body = ok(&server, &format!("/api/stats/sequences?{WEEKS}&{steps}"));
    // V1 (visitor 1) and V2 (visitor 2) took all three steps; five visitors
    // (the bot's visit is kept, flagged) visited in the period.
    assert_eq!(
        (
            &body["converting_visitors"],
            &body["total_visitors"],
            &body["conversion_rate"]
        ),
        (&json!(2), &json!(5), &json!(0.4)),
        "{body}"
    );
    assert_eq!(body["converting_visits"], 2);
    assert_eq!(
        body["steps"],
        json!(["page:/", "page:/pricing", "event:Signup"])
    );
    let main = ok(&server, &format!("/api/stats/main?{WEEKS}"));
    assert_eq!(body["total_visitors"], main["unique_visitors"]);
    // Other steps may come between; a filter narrows both counts: Germany
    // is visitors 1 and 3, and only visitor 1 went from / to /docs.
    let de = ok(
        &server,
        &format!("/api/stats/sequences?{WEEKS}&steps=page:/,page:/docs&filters=country%3D%3DDE"),
    );
    assert_eq!(
        (
            &de["converting_visitors"],
            &de["total_visitors"],
            &de["conversion_rate"]
        ),
        (&json!(1), &json!(2), &json!(0.5)),
        "{de}"
    );
    let nobody = ok(
        &server,
        &format!("/api/stats/sequences?{WEEKS}&steps=page:/docs,page:/pricing"),
    );
    assert_eq!(nobody["converting_visitors"], 0, "{nobody}");
}

#[test]
fn sessions_are_mallards_aggregates_of_the_visits() {
    let (_home, server) = seeded();
    let body = ok(&server, &format!("/api/stats/sessions?{WEEKS}"));
    let main = ok(&server, &format!("/api/stats/main?{WEEKS}"));
    assert_eq!(body["total_sessions"], 7, "{body}");
    assert_eq!(body["total_sessions"], main["visits"]);
    assert_eq!(
        body["avg_session_duration_secs"],
        main["avg_visit_duration_secs"]
    );
    assert_eq!(body["avg_pages_per_session"], main["pages_per_visit"]);
    // 15 page views in 7 visits.
    assert_eq!(body["avg_pages_per_session"], 2.14, "{body}");
    let google = ok(
        &server,
        &format!("/api/stats/sessions?{WEEKS}&filters=source%3D%3DGoogle"),
    );
    assert_eq!(google["total_sessions"], 2, "{google}");
}

#[test]
fn paths_and_flows_follow_the_paths_of_visits() {
    let (_home, server) = seeded();
    let pairs = ok(
        &server,
        &format!("/api/stats/paths?{WEEKS}&length=2&limit=100"),
    );
    assert_eq!(pairs["length"], 2);
    let rows = pick(&pairs["results"], &["steps", "visits", "occurrences"]);
    assert_eq!(rows.len(), 8);
    assert_eq!(
        rows[0],
        vec![json!(["page:/", "page:/pricing"]), json!(3), json!(3)]
    );
    assert_eq!(
        rows[1],
        vec![json!(["page:/pricing", "event:Signup"]), json!(2), json!(2)]
    );
    let mut rest: Vec<String> = rows[2..]
        .iter()
        .map(|r| {
            assert_eq!((&r[1], &r[2]), (&json!(1), &json!(1)));
            r[0].to_string()
        })
        .collect();
    rest.sort();
    assert_eq!(
        rest,
        [
            r#"["event:Signup","page:/"]"#,
            r#"["page:/","event:Purchase"]"#,
            r#"["page:/","page:/docs"]"#,
            r#"["page:/docs","event:Signup"]"#,
            r#"["page:/pricing","page:/"]"#,
            r#"["page:/pricing","page:/docs"]"#,
        ]
    );
    let triples = ok(&server, &format!("/api/stats/paths?{WEEKS}"));
    assert_eq!(triples["length"], 3);
    assert_eq!(triples["results"].as_array().unwrap().len(), 6);
    let top = ok(
        &server,
        &format!("/api/stats/paths?{WEEKS}&length=2&limit=1"),
    );
    assert_eq!(top["results"].as_array().unwrap().len(), 1);

    let flow = ok(
        &server,
        &format!("/api/stats/flow/around?{WEEKS}&page=/pricing"),
    );
    assert_eq!(
        (&flow["page"], &flow["visits"], &flow["views"]),
        (&json!("/pricing"), &json!(5), &json!(5))
    );
    let next = pick(
        &flow["next"],
        &["value", "visits", "visitors", "transitions"],
    );
    // V2 and V6 (both visitor 2) and V3 left from /pricing.
    assert_eq!(next[0], vec![json!("(exit)"), json!(3), json!(2), json!(3)]);
    let mut others: Vec<Vec<Value>> = next[1..].to_vec();
    others.sort_by_key(|r| r[0].to_string());
    assert_eq!(
        others,
        vec![
            vec![json!("/"), json!(1), json!(1), json!(1)],
            vec![json!("/docs"), json!(1), json!(1), json!(1)]
        ]
    );
    assert_eq!(
        pick(
            &flow["previous"],
            &["value", "visits", "visitors", "transitions"]
        ),
        vec![
            vec![json!("/"), json!(3), json!(3), json!(3)],
            vec![json!("(entrance)"), json!(2), json!(2), json!(2)]
        ]
    );
    // Mallard's flow: the next pages alone, without the visits that ended.
    let mut mallard = pick(
        &ok(&server, &format!("/api/stats/flow?{WEEKS}&page=/pricing")),
        &["next_page", "visitors"],
    );
    mallard.sort_by_key(|r| r[0].to_string());
    assert_eq!(
        mallard,
        vec![vec![json!("/"), json!(1)], vec![json!("/docs"), json!(1)]]
    );
    let one = ok(
        &server,
        &format!("/api/stats/flow?{WEEKS}&page=/pricing&limit=1"),
    );
    assert_eq!(one.as_array().unwrap().len(), 1, "{one}");
    // A page seen twice in one visit: `/` in V1 and V5.
    let home_page = ok(
        &server,
        &format!("/api/stats/flow/around?{WEEKS}&page=/&filters=country%3D%3DFR"),
    );
    assert_eq!(
        (&home_page["visits"], &home_page["views"]),
        (&json!(1), &json!(2))
    );
    // Ties: pages before the exit.
    assert_eq!(
        pick(&home_page["next"], &["value", "visits", "transitions"]),
        vec![
            vec![json!("/pricing"), json!(1), json!(1)],
            vec![json!("(exit)"), json!(1), json!(1)]
        ]
    );
    let nowhere = ok(
        &server,
        &format!("/api/stats/flow/around?{WEEKS}&page=/nowhere"),
    );
    assert_eq!(
        (&nowhere["visits"], &nowhere["next"]),
        (&json!(0), &json!([]))
    );
    assert_eq!(
        ok(&server, &format!("/api/stats/flow?{WEEKS}&page=/nowhere")),
        json!([])
    );
}

#[test]
fn retention_counts_weekly_cohorts_of_returning_visitors() {
    let (_home, server) = seeded();
    let body = ok(&server, &format!("/api/stats/retention?{WEEKS}&weeks=2"));
    assert_eq!(
        body,
        json!([
            {"cohort_date": "2024-03-04", "retained": [true, true], "visitors": 3, "retention": [
                {"week": 1, "visitors": 1, "rate": 0.3333},
                {"week": 2, "visitors": 1, "rate": 0.3333}]},
            {"cohort_date": "2024-03-11", "retained": [true, false], "visitors": 1, "retention": [
                {"week": 1, "visitors": 0, "rate": 0.0},
                {"week": 2, "visitors": null, "rate": null}]},
            {"cohort_date": "2024-03-18", "retained": [true, false], "visitors": 1, "retention": [
                {"week": 1, "visitors": null, "rate": null},
                {"week": 2, "visitors": null, "rate": null}]},
        ])
    );
    let default = ok(&server, &format!("/api/stats/retention?{WEEKS}"));
    assert_eq!(default[0]["retention"].as_array().unwrap().len(), 4);
    assert_eq!(default[0]["retained"].as_array().unwrap().len(), 4);
    // Without the first week, visitor 1 is first seen in week two.
    let later = ok(
        &server,
        "/api/stats/retention?site_id=behaviour.test&start_date=2024-03-11&end_date=2024-03-25&weeks=1",
    );
    assert_eq!(
        pick(&later, &["cohort_date", "visitors", "retained"]),
        vec![
            vec![json!("2024-03-11"), json!(2), json!([true])],
            vec![json!("2024-03-18"), json!(2), json!([true])]
        ]
    );
}

#[test]
fn sessions_list_visits_newest_first_a_page_at_a_time() {
    let (_home, server) = seeded();
    let body = ok(&server, &format!("/api/stats/visits?{WEEKS}&limit=2"));
    assert_eq!(
        (&body["limit"], &body["offset"], &body["next_offset"]),
        (&json!(2), &json!(0), &json!(2))
    );
    let rows = body["results"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["started_at"], "2024-03-19T16:00:00.000Z");
    assert_eq!(rows[0]["is_bot"], true);
    assert_eq!(rows[1]["entry_page"], "/pricing");
    let all = ok(&server, &format!("/api/stats/visits?{WEEKS}&limit=100"));
    assert_eq!(all["next_offset"], Value::Null);
    let all = all["results"].as_array().unwrap();
    assert_eq!(all.len(), 7);
    let v2 = &all[5];
    assert_eq!(
        *v2,
        json!({
            "visit_id": v2["visit_id"], "started_at": "2024-03-04T23:50:00.000Z",
            "ended_at": "2024-03-05T00:20:00.000Z", "duration_secs": 1800.0, "pageviews": 2,
            "events": 3, "bounce": false, "entry_page": "/", "exit_page": "/pricing", "source": null,
            "referrer": null, "utm_source": null, "utm_medium": null, "utm_campaign": null,
            "utm_term": null, "utm_content": null,
            "country": "US", "region": null, "city": null, "browser": "Safari", "os": "Linux",
            "device": "Mobile",
            "screen_width": 1280, "is_bot": false,
        })
    );
    assert_eq!(
        pick(
            &all[6..].to_vec().into(),
            &[
                "pageviews",
                "events",
                "duration_secs",
                "exit_page",
                "source"
            ]
        ),
        vec![vec![
            json!(5),
            json!(6),
            json!(360.0),
            json!("/"),
            json!("Google")
        ]]
    );
    let last = ok(
        &server,
        &format!("/api/stats/visits?{WEEKS}&limit=2&offset=6"),
    );
    assert_eq!(last["results"].as_array().unwrap().len(), 1);
    assert_eq!(last["next_offset"], Value::Null);
    let oldest = ok(
        &server,
        &format!("/api/stats/visits?{WEEKS}&limit=1&order=oldest"),
    );
    assert_eq!(
        oldest["results"][0]["started_at"],
        "2024-03-04T10:00:00.000Z"
    );
    let google = ok(
        &server,
        &format!("/api/stats/visits?{WEEKS}&filters=source%3D%3DGoogle"),
    );
    assert_eq!(
        pick(&google["results"], &["entry_page"]),
        vec![vec![json!("/pricing")], vec![json!("/")]]
    );
    let signup = ok(
        &server,
        &format!("/api/stats/visits?{WEEKS}&filters=event%3D%3DSignup&limit=1&offset=1"),
    );
    assert_eq!(
        signup["results"][0]["started_at"],
        "2024-03-04T23:50:00.000Z"
    );
    assert_eq!(signup["next_offset"], 2);
}

#[test]
fn exports_are_attachments_with_defused_cells() {
    let (_home, server) = seeded();
    let day = "site_id=behaviour.test&start_date=2024-03-13&end_date=2024-03-14";
    let response = client()
        .get(server.url(&format!("/api/stats/export/events?{day}")))
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename=\"mallard-behaviour.test-events-2024-03-13-2024-03-14.csv\""
    );
    assert_eq!(headers["cache-control"], "no-store");
    assert!(headers.get("x-next-offset").is_none());
    let text = response.text().unwrap();
    let lines: Vec<&str> = text.split("\r\n").collect();
    assert_eq!(lines.len(), 6, "{text}");
    assert_eq!(
        lines[0],
        "timestamp,visit_id,name,hostname,pathname,props,revenue,currency,source,referrer,\
         utm_source,utm_medium,utm_campaign,utm_term,utm_content,browser,os,device,screen_width,\
         country,region,city,is_bot"
    );
    let visit = lines[1].split(',').nth(1).unwrap();
    assert_eq!(
        lines[1],
        format!(
            "2024-03-13T12:00:00.000Z,{visit},pageview,behaviour.test,/,,,,\
             \"'=HYPERLINK(\"\"http://evil\"\")\",'-evil.example/,,,'+launch,,,Edge,Linux,Desktop,1280,FR,,,false"
        )
    );
    assert!(lines[4].starts_with(&format!(
        "2024-03-13T12:03:00.000Z,{visit},Purchase,behaviour.test,/,\"{{\"\"product\"\":\"\"@SUM(A1)\"\"}}\","
    )), "{}", lines[4]);
    assert_eq!(lines[5], "");

    // JSON keeps the values as they are; a limit leaves an offset for the next file.
    let response = client()
        .get(server.url(&format!(
            "/api/stats/export/events?{day}&format=json&limit=3"
        )))
        .send()
        .unwrap();
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"mallard-behaviour.test-events-2024-03-13-2024-03-14.json\""
    );
    assert_eq!(response.headers()["x-next-offset"], "3");
    let rows = json_of(response);
    assert_eq!(rows.as_array().unwrap().len(), 3);
    assert_eq!(rows[0]["source"], "=HYPERLINK(\"http://evil\")");
    assert_eq!(rows[0]["props"], json!({}));
    let rest = json_of(
        client()
            .get(server.url(&format!(
                "/api/stats/export/events?{day}&format=json&offset=3"
            )))
            .send()
            .unwrap(),
    );
    assert_eq!(rest[0]["name"], "Purchase");
    assert_eq!(rest[0]["props"], json!({"product": "@SUM(A1)"}));

    // Sessions, oldest first, filtered.
    let response = client()
        .get(server.url(&format!(
            "/api/stats/export/events?{WEEKS}&data=sessions&filters=country%3D%3DDE"
        )))
        .send()
        .unwrap();
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"mallard-behaviour.test-sessions-2024-03-04-2024-03-25.csv\""
    );
    let text = response.text().unwrap();
    let lines: Vec<&str> = text.trim_end().split("\r\n").collect();
    assert_eq!(lines.len(), 4);
    assert!(
        lines[0].starts_with("visit_id,started_at,ended_at,duration_secs,pageviews,events,bounce,")
    );
    assert!(
        lines[1].contains(
            ",2024-03-04T10:00:00.000Z,2024-03-04T10:06:00.000Z,360,5,6,false,/,/,Google,google/,"
        ),
        "{}",
        lines[1]
    );
    assert!(lines[3].contains(",2024-03-12T08:00:00.000Z,"));
}

#[test]
fn the_export_is_mallards_daily_aggregates() {
    let (_home, server) = seeded();
    let days = "site_id=behaviour.test&start_date=2024-03-04&end_date=2024-03-06";
    let response = client()
        .get(server.url(&format!("/api/stats/export?{days}")))
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"export.csv\""
    );
    // V1 and V2 on the 4th (V2 crosses midnight with /pricing), V2 and V3 on
    // the 5th; the top page and source are the period's, on every row.
    assert_eq!(
        response.text().unwrap(),
        "date,visitors,pageviews,top_page,top_source\r\n\
         2024-03-04,2,6,/pricing,Google\r\n\
         2024-03-05,2,2,/pricing,Google\r\n"
    );
    let rows = json_of(
        client()
            .get(server.url(&format!("/api/stats/export?{days}&format=json")))
            .send()
            .unwrap(),
    );
    assert_eq!(
        rows,
        json!([
            {"date": "2024-03-04", "visitors": 2, "pageviews": 6, "top_page": "/pricing", "top_source": "Google"},
            {"date": "2024-03-05", "visitors": 2, "pageviews": 2, "top_page": "/pricing", "top_source": "Google"},
        ])
    );
    // A source that a spreadsheet would run as a formula is defused; a day
    // without visits has no top page.
    let text = client()
        .get(server.url(
            "/api/stats/export?site_id=behaviour.test&start_date=2024-03-13&end_date=2024-03-14",
        ))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(
        text.lines().nth(1),
        Some("2024-03-13,1,3,/,\"'=HYPERLINK(\"\"http://evil\"\")\""),
        "{text}"
    );
    let empty = json_of(
        client()
            .get(server.url(
                "/api/stats/export?site_id=behaviour.test&start_date=2024-04-01&end_date=2024-04-02&format=json",
            ))
            .send()
            .unwrap(),
    );
    assert_eq!(
        empty,
        json!([{"date": "2024-04-01", "visitors": 0, "pageviews": 0, "top_page": null, "top_source": null}])
    );
}

#[test]
fn bad_parameters_are_400_with_the_flat_error_body() {
    let (_home, server) = seeded();
    let cases = [
        "/api/stats/funnel?site_id=behaviour.test",
        "/api/stats/funnel?site_id=behaviour.test&steps=page:/",
        "/api/stats/funnel?site_id=behaviour.test&steps=page:/;page:/;page:/;page:/;page:/;page:/;page:/;page:/;page:/",
        "/api/stats/funnel?site_id=behaviour.test&steps=url:/a;page:/",
        "/api/stats/funnel?site_id=behaviour.test&steps=page:pricing;page:/",
        "/api/stats/funnel?site_id=behaviour.test&steps=event:pageview;page:/",
        "/api/stats/funnel?site_id=behaviour.test&steps=event:;page:/",
        "/api/stats/funnel?site_id=behaviour.test&steps=page:/;page:/a&window=0",
        "/api/stats/funnel?site_id=behaviour.test&steps=page:/;page:/a&window=2d",
        "/api/stats/funnel?site_id=behaviour.test&steps=page:/;page:/a&window=soon",
        "/api/stats/funnel?steps=page:/;page:/a",
        "/api/stats/funnel?site_id=behaviour.test&steps=page:/;page:/a&period=5d",
        "/api/stats/funnel?site_id=behaviour.test&steps=page:/;page:/a&filters=nope%3D%3D1",
        "/api/stats/retention?site_id=behaviour.test&weeks=0",
        "/api/stats/retention?site_id=behaviour.test&weeks=53",
        "/api/stats/retention?site_id=behaviour.test&weeks=two",
        "/api/stats/retention?site_id=bad%20site",
        "/api/stats/paths?site_id=behaviour.test&length=1",
        "/api/stats/paths?site_id=behaviour.test&length=6",
        "/api/stats/paths?site_id=behaviour.test&limit=0",
        "/api/stats/sequences?site_id=behaviour.test&start_date=2024-03-01",
        "/api/stats/flow?site_id=behaviour.test",
        "/api/stats/flow?site_id=behaviour.test&page=pricing",
        "/api/stats/flow?site_id=behaviour.test&page=/a&limit=1001",
        "/api/stats/visits?site_id=behaviour.test&limit=1001",
        "/api/stats/visits?site_id=behaviour.test&offset=-1",
        "/api/stats/visits?site_id=behaviour.test&offset=1000001",
        "/api/stats/visits?site_id=behaviour.test&order=random",
        "/api/stats/sessions?site_id=behaviour.test&start_date=2024-03-02&end_date=2024-03-01",
        "/api/stats/export?site_id=behaviour.test&format=xml",
        "/api/stats/export/events?site_id=behaviour.test&format=xml",
        "/api/stats/export/events",
        "/api/stats/sequences?site_id=behaviour.test",
        "/api/stats/sequences?site_id=behaviour.test&steps=page:/",
        "/api/stats/flow/around?site_id=behaviour.test&page=pricing",
        "/api/stats/sessions?site_id=behaviour.test&period=5d",
        "/api/stats/export/events?site_id=behaviour.test&data=pages",
        "/api/stats/export/events?site_id=behaviour.test&limit=0",
        "/api/stats/export/events?site_id=behaviour.test&limit=100001",
        "/api/stats/export/events?site_id=behaviour.test&offset=x",
        "/api/stats/export",
    ];
    for path in cases {
        let (status, body) = get(&server, path);
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        let object = body.as_object().unwrap();
        assert_eq!(object.len(), 1, "{path}: {body}");
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{path}: {body}"
        );
    }
}

#[test]
fn hostile_parameters_never_reach_sql() {
    let (home, server) = seeded();
    for (path, field, expected) in [
        (
            "/api/stats/flow/around?site_id=behaviour.test&period=all&page=/x'%20OR%20'1'%3D'1",
            "/visits",
            json!(0),
        ),
        (
            "/api/stats/funnel?site_id=behaviour.test&period=all&steps=page:/');DELETE%20FROM%20events;--",
            "",
            json!(null),
        ),
        (
            "/api/stats/funnel?site_id=behaviour.test&period=all&steps=page:/%20OR%201%3D1;event:x'--",
            "/1/visits",
            json!(0),
        ),
        (
            "/api/stats/visits?site_id=behaviour.test&period=all&filters=page%3D%3D/'%20OR%201%3D1--",
            "/results",
            json!([]),
        ),
        (
            "/api/stats/paths?site_id=behaviour.test&period=all&filters=props.x'%3D%3D1",
            "/results",
            json!([]),
        ),
        (
            "/api/stats/sequences?site_id=behaviour.test&period=all&steps=page:/x',page:/&filters=props.x'%3D%3D1",
            "/converting_visitors",
            json!(0),
        ),
        (
            "/api/stats/export/events?site_id=x');DROP%20TABLE%20visits;--",
            "",
            json!([]),
        ),
        (
            "/api/stats/export?site_id=x');DROP%20TABLE%20visits;--",
            "",
            json!(null),
        ),
    ] {
        let (status, body) = match client().get(server.url(path)).send() {
            Ok(response) => {
                let status = response.status();
                let text = response.text().unwrap();
                (
                    status,
                    serde_json::from_str::<Value>(&text).unwrap_or(Value::Null),
                )
            }
            Err(err) => panic!("{path}: {err}"),
        };
        if field.is_empty() {
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        } else {
            assert_eq!(status, StatusCode::OK, "{path}: {body}");
            assert_eq!(body.pointer(field), Some(&expected), "{path}: {body}");
        }
    }
    drop(server);
    let (events, visits) = home.read(|db| Ok((db.event_count(SITE)?, db.visit_count(SITE)?)));
    assert_eq!((events, visits), (19, 7), "nothing was deleted");
}

#[test]
fn with_a_password_set_behavioural_stats_need_credentials() {
    let home = TestHome::new();
    seed(&home);
    let server = start(&home, &[("MALLARD_ADMIN_PASSWORD", "a long password")]);
    for endpoint in [
        format!("/api/stats/visits?{WEEKS}"),
        format!("/api/stats/funnel?{WEEKS}&steps=page:/;page:/pricing"),
        format!("/api/stats/retention?{WEEKS}"),
        format!("/api/stats/sequences?{WEEKS}&steps=page:/,page:/pricing"),
        format!("/api/stats/paths?{WEEKS}"),
        format!("/api/stats/sessions?{WEEKS}"),
        format!("/api/stats/flow?{WEEKS}&page=/"),
        format!("/api/stats/flow/around?{WEEKS}&page=/"),
        format!("/api/stats/export?{WEEKS}"),
        format!("/api/stats/export/events?{WEEKS}"),
    ] {
        let (status, body) = get(&server, &endpoint);
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{endpoint}: {body}");
        assert!(body["error"].is_string());
    }
    let login = client()
        .post(server.url("/api/auth/login"))
        .header("Origin", &server.base)
        .json(&json!({"password": "a long password"}))
        .send()
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    let token = json_of(login)["token"].as_str().unwrap().to_owned();
    let signed_in = client()
        .get(server.url(&format!(
            "/api/stats/funnel?{WEEKS}&steps=page:/;page:/pricing"
        )))
        .header("Cookie", format!("mm_session={token}"))
        .send()
        .unwrap();
    assert_eq!(signed_in.status(), StatusCode::OK);
    assert_eq!(json_of(signed_in)[1]["visits"], 3);
}
