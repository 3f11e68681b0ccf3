//! A client written against Mallard Metrics' own reference
//! (`../shared/spec/mallard-reference/`: stats, ingestion, health) works
//! against this server unchanged: every documented path answers with the
//! documented status, content type and shape, field by field, and with the
//! documented units (fractions for rates, lists for series and breakdowns,
//! comma-separated steps). The exact numbers are the other suites' job; this
//! one checks what a Mallard script relies on.

use mallard_e2e::{BROWSER_UA, Server, TestHome, client, json_of};
use reqwest::StatusCode;
use serde_json::{Value, json};

const SITE: &str = "compat.test";

/// Posts one event as the tracker would.
fn post(server: &Server, body: &Value) -> reqwest::blocking::Response {
    client()
        .post(server.url("/api/event"))
        .header("user-agent", BROWSER_UA)
        .json(body)
        .send()
        .unwrap()
}

fn get(server: &Server, path: &str) -> Value {
    let response = client().get(server.url(path)).send().unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "{path}"
    );
    json_of(response)
}

/// Asserts that `value` holds every field of `fields` with the JSON type
/// named beside it (`int`, `number`, `string`, `bool`, `list`).
fn has_fields(value: &Value, fields: &[(&str, &str)], context: &str) {
    for (field, kind) in fields {
        let found = &value[*field];
        let ok = match *kind {
            "int" => found.is_u64() || found.is_i64(),
            "number" => found.is_number(),
            "string" => found.is_string(),
            "bool" => found.is_boolean(),
            "list" => found.is_array(),
            other => panic!("unknown kind {other}"),
        };
        assert!(ok, "{context}: {field} should be {kind} in {value}");
    }
}

/// A non-empty list, each item with `fields`.
fn list_of<'a>(value: &'a Value, fields: &[(&str, &str)], context: &str) -> &'a Vec<Value> {
    let items = value
        .as_array()
        .unwrap_or_else(|| panic!("{context}: a list, got {value}"));
    assert!(!items.is_empty(), "{context}: empty");
    for item in items {
        has_fields(item, fields, context);
    }
    items
}

#[test]
fn a_script_written_against_mallards_reference_works_unchanged() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);

    // Ingestion: the documented body, 202 with an empty body.
    let full = post(
        &server,
        &json!({"d": SITE, "n": "pageview", "u": format!("https://{SITE}/"),
                "r": "https://google.com/", "w": 1920}),
    );
    assert_eq!(full.status(), StatusCode::ACCEPTED);
    assert_eq!(full.text().unwrap(), "");
    for (path, name) in [("/pricing", "pageview"), ("/pricing", "signup")] {
        let body = json!({"d": SITE, "n": name, "u": format!("https://{SITE}{path}"),
                          "r": "https://google.com/", "w": 1920,
                          "p": "{\"plan\": \"pro\"}", "ra": 99.00, "rc": "USD"});
        assert_eq!(post(&server, &body).status(), StatusCode::ACCEPTED);
    }
    // A missing required field is 422, an empty site 400.
    let missing = post(&server, &json!({"d": SITE, "n": "pageview"}));
    assert_eq!(missing.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let empty = post(
        &server,
        &json!({"d": "", "n": "pageview", "u": "https://x.test/"}),
    );
    assert_eq!(empty.status(), StatusCode::BAD_REQUEST);

    let q = format!("site_id={SITE}&period=30d");
    let main = get(&server, &format!("/api/stats/main?{q}"));
    has_fields(
        &main,
        &[
            ("unique_visitors", "int"),
            ("total_pageviews", "int"),
            ("bounce_rate", "number"),
            ("avg_visit_duration_secs", "number"),
            ("pages_per_visit", "number"),
        ],
        "main",
    );
    let bounce = main["bounce_rate"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&bounce), "a fraction: {main}");
    assert_eq!(main["total_pageviews"], 2, "{main}");

    let series = get(&server, &format!("/api/stats/timeseries?{q}"));
    let days = list_of(
        &series,
        &[
            ("date", "string"),
            ("visitors", "int"),
            ("pageviews", "int"),
        ],
        "timeseries",
    );
    assert_eq!(days.len(), 30, "daily buckets for 30d");
    let hours = get(
        &server,
        &format!("/api/stats/timeseries?site_id={SITE}&period=day"),
    );
    let hours = list_of(&hours, &[("date", "string")], "hourly timeseries");
    assert_eq!(hours.len(), 24);
    assert_eq!(
        hours[0]["date"].as_str().unwrap().len(),
        "2024-01-15 10:00".len()
    );

    for dimension in ["pages", "sources", "browsers", "os", "devices", "countries"] {
        let rows = get(
            &server,
            &format!("/api/stats/breakdown/{dimension}?{q}&limit=10"),
        );
        list_of(
            &rows,
            &[
                ("value", "string"),
                ("visitors", "int"),
                ("pageviews", "int"),
            ],
            dimension,
        );
    }

    let sessions = get(&server, &format!("/api/stats/sessions?{q}"));
    has_fields(
        &sessions,
        &[
            ("total_sessions", "int"),
            ("avg_session_duration_secs", "number"),
            ("avg_pages_per_session", "number"),
        ],
        "sessions",
    );

    let funnel = get(
        &server,
        &format!("/api/stats/funnel?{q}&steps=page:/pricing,event:signup&window=1+hour"),
    );
    let steps = list_of(&funnel, &[("step", "int"), ("visitors", "int")], "funnel");
    assert_eq!(
        steps.iter().map(|s| s["step"].clone()).collect::<Vec<_>>(),
        [json!(1), json!(2)]
    );
    assert_eq!(steps[1]["visitors"], 1, "{funnel}");

    let retention = get(&server, &format!("/api/stats/retention?{q}&weeks=4"));
    for cohort in list_of(
        &retention,
        &[("cohort_date", "string"), ("retained", "list")],
        "retention",
    ) {
        let retained = cohort["retained"].as_array().unwrap();
        assert_eq!(retained.len(), 4, "{cohort}");
        assert!(retained.iter().all(Value::is_boolean), "{cohort}");
    }

    let sequences = get(
        &server,
        &format!("/api/stats/sequences?{q}&steps=page:/,page:/pricing"),
    );
    has_fields(
        &sequences,
        &[
            ("converting_visitors", "int"),
            ("total_visitors", "int"),
            ("conversion_rate", "number"),
        ],
        "sequences",
    );

    let flow = get(&server, &format!("/api/stats/flow?{q}&page=/"));
    let next = list_of(
        &flow,
        &[("next_page", "string"), ("visitors", "int")],
        "flow",
    );
    assert!(next.len() <= 10);

    for format in ["", "&format=csv"] {
        let csv = client()
            .get(server.url(&format!("/api/stats/export?{q}{format}")))
            .send()
            .unwrap();
        assert_eq!(csv.status(), StatusCode::OK);
        assert_eq!(
            csv.headers()["content-disposition"],
            "attachment; filename=\"export.csv\""
        );
        let text = csv.text().unwrap();
        assert!(
            text.starts_with("date,visitors,pageviews,top_page,top_source\r\n"),
            "{text}"
        );
    }
    let json_export = get(&server, &format!("/api/stats/export?{q}&format=json"));
    list_of(
        &json_export,
        &[
            ("date", "string"),
            ("visitors", "int"),
            ("pageviews", "int"),
            ("top_page", "string"),
            ("top_source", "string"),
        ],
        "export",
    );
    let refused = client()
        .get(server.url(&format!("/api/stats/export?{q}&format=xml")))
        .send()
        .unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);

    // Every stats endpoint refuses a bad site_id with Mallard's body.
    for bad in ["", "a%20b", &"x".repeat(257)] {
        for endpoint in [
            "main",
            "timeseries",
            "breakdown/pages",
            "sessions",
            "export",
        ] {
            let response = client()
                .get(server.url(&format!("/api/stats/{endpoint}?site_id={bad}")))
                .send()
                .unwrap();
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{endpoint}");
            assert_eq!(json_of(response), json!({"error": "Invalid site_id"}));
        }
    }

    // Health: text bodies for liveness and readiness, Mallard's fields in
    // the detailed status, and Mallard's metric names.
    let health = client().get(server.url("/health")).send().unwrap();
    assert_eq!(health.text().unwrap(), "ok");
    let ready = client().get(server.url("/health/ready")).send().unwrap();
    assert_eq!(ready.text().unwrap(), "ready");
    let detailed = get(&server, "/health/detailed");
    has_fields(
        &detailed,
        &[
            ("status", "string"),
            ("version", "string"),
            ("buffered_events", "int"),
            ("auth_configured", "bool"),
            ("geoip_loaded", "bool"),
            ("behavioral_extension_loaded", "bool"),
            ("filter_bots", "bool"),
            ("cache_entries", "int"),
            ("cache_empty", "bool"),
        ],
        "health/detailed",
    );
    let metrics = client()
        .get(server.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    for name in [
        "mallard_buffered_events",
        "mallard_cache_entries",
        "mallard_auth_configured",
        "mallard_geoip_loaded",
        "mallard_filter_bots",
        "mallard_behavioral_extension",
        "mallard_events_ingested_total",
        "mallard_flush_failures_total",
        "mallard_rate_limit_rejections_total",
        "mallard_login_failures_total",
        "mallard_cache_hits_total",
        "mallard_cache_misses_total",
    ] {
        assert!(
            metrics.lines().any(|line| line.starts_with(name)),
            "{name} missing from\n{metrics}"
        );
    }
}
