//! End-to-end tests of the endpoints behind the dashboard's keys, sites,
//! settings and realtime screens: `/api/ingest-keys`, `/api/sites`,
//! `/api/settings` and `/api/stats/realtime/events`. Authentication, CSRF,
//! validation errors with their exact bodies, and settings that are saved in
//! the database, in force at once and still in force after a restart.

#[path = "collector_common.rs"]
mod common;

use mallard_e2e::{Server, TestHome, client, json_of, pageview};
use reqwest::StatusCode;
use reqwest::blocking::{RequestBuilder, Response};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";

/// Requests as the dashboard makes them: its own Origin, and a session cookie
/// once signed in.
struct Dashboard<'a> {
    server: &'a Server,
    cookie: Option<String>,
}

impl<'a> Dashboard<'a> {
    fn open(server: &'a Server) -> Self {
        Self {
            server,
            cookie: None,
        }
    }

    fn signed_in(server: &'a Server) -> Self {
        let response = client()
            .post(server.url("/api/auth/login"))
            .json(&json!({"password": PASSWORD}))
            .send()
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let cookie = response.headers()["set-cookie"].to_str().unwrap();
        let token = cookie
            .strip_prefix("mm_session=")
            .and_then(|rest| rest.split(';').next())
            .unwrap()
            .to_owned();
        Self {
            server,
            cookie: Some(token),
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> RequestBuilder {
        let mut request = client()
            .request(method, self.server.url(path))
            .header("origin", &self.server.base);
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", format!("mm_session={cookie}"));
        }
        request
    }

    fn get(&self, path: &str) -> Response {
        self.request(reqwest::Method::GET, path).send().unwrap()
    }

    fn send(&self, method: reqwest::Method, path: &str, body: &Value) -> Response {
        self.request(method, path).json(body).send().unwrap()
    }

    fn post(&self, path: &str, body: &Value) -> Response {
        self.send(reqwest::Method::POST, path, body)
    }

    fn patch(&self, path: &str, body: &Value) -> Response {
        self.send(reqwest::Method::PATCH, path, body)
    }

    fn delete(&self, path: &str) -> Response {
        self.request(reqwest::Method::DELETE, path).send().unwrap()
    }
}

fn expect(response: Response, status: StatusCode, body: Value) {
    assert_eq!(response.status(), status);
    assert_eq!(json_of(response), body);
}

fn error(message: &str) -> Value {
    json!({ "error": message })
}

#[test]
fn the_new_endpoints_need_an_admin_and_refuse_cross_site_changes() {
    let home = TestHome::new();
    let server = Server::start(&home, &[("MALLARD_ADMIN_PASSWORD", PASSWORD)]);
    let anonymous = Dashboard::open(&server);
    for path in ["/api/ingest-keys", "/api/settings"] {
        expect(
            anonymous.get(path),
            StatusCode::UNAUTHORIZED,
            error("Authentication required"),
        );
    }
    expect(
        anonymous.post("/api/sites", &json!({"site_id": "a.test"})),
        StatusCode::UNAUTHORIZED,
        error("Authentication required"),
    );
    expect(
        anonymous.get("/api/stats/realtime/events?site_id=a.test"),
        StatusCode::UNAUTHORIZED,
        error("Authentication required"),
    );

    let dashboard = Dashboard::signed_in(&server);
    let readonly =
        json_of(dashboard.post("/api/keys", &json!({"name": "ro", "scope": "ReadOnly"})));
    let readonly = readonly["key"].as_str().unwrap();
    let refused = client()
        .get(server.url("/api/ingest-keys"))
        .bearer_auth(readonly)
        .send()
        .unwrap();
    expect(
        refused,
        StatusCode::FORBIDDEN,
        error("This API key has ReadOnly scope; an Admin key is required"),
    );
    let listed = client()
        .get(server.url("/api/stats/realtime/events?site_id=a.test"))
        .bearer_auth(readonly)
        .send()
        .unwrap();
    assert_eq!(listed.status(), StatusCode::OK, "realtime is a stats read");

    // A page elsewhere cannot use the session to change anything.
    let cookie = format!("mm_session={}", dashboard.cookie.as_deref().unwrap());
    for (method, path, body) in [
        (
            reqwest::Method::POST,
            "/api/ingest-keys",
            json!({"name": "x", "scopes": ["admin"]}),
        ),
        (
            reqwest::Method::PATCH,
            "/api/settings",
            json!({"filter_bots": false}),
        ),
        (
            reqwest::Method::POST,
            "/api/sites",
            json!({"site_id": "evil.test"}),
        ),
    ] {
        let forged = client()
            .request(method, server.url(path))
            .header("origin", "https://evil.test")
            .header("cookie", &cookie)
            .json(&body)
            .send()
            .unwrap();
        expect(
            forged,
            StatusCode::FORBIDDEN,
            error("CSRF check failed: cross-origin request refused"),
        );
    }
    expect(dashboard.get("/api/ingest-keys"), StatusCode::OK, json!([]));

    // An Admin key needs no Origin.
    let admin = json_of(dashboard.post("/api/keys", &json!({"name": "ops", "scope": "Admin"})));
    let made = client()
        .post(server.url("/api/ingest-keys"))
        .bearer_auth(admin["key"].as_str().unwrap())
        .json(&json!({"name": "sdk", "scopes": ["ingest:write"]}))
        .send()
        .unwrap();
    assert_eq!(made.status(), StatusCode::CREATED);
}

#[test]
fn ingestion_keys_are_minted_listed_used_and_revoked() {
    let home = TestHome::new();
    let server = Server::start(&home, &[("API_KEY_MODE", "require")]);
    let dashboard = Dashboard::open(&server);
    let created = dashboard.post(
        "/api/ingest-keys",
        &json!({"name": "web sdk", "scopes": ["ingest:write", "ingest:write"]}),
    );
    assert_eq!(created.status(), StatusCode::CREATED);
    let created = json_of(created);
    let key = created["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("lk_live_") && key.len() == 40, "{key}");
    assert_eq!(created["scopes"], json!(["ingest:write"]));
    assert_eq!(created["prefix"], json!(&key[..12]));
    assert_eq!(created["suffix"], json!(&key[36..]));
    assert_eq!(created["revoked_at"], Value::Null);
    let workspace = created["workspace_id"].as_str().unwrap().to_owned();

    // A second key without a workspace joins the first one's.
    let second = json_of(dashboard.post(
        "/api/ingest-keys",
        &json!({"name": "backend", "scopes": ["ingest:server"]}),
    ));
    assert_eq!(second["workspace_id"], json!(workspace));
    let third = json_of(dashboard.post(
        "/api/ingest-keys",
        &json!({"name": "other", "scopes": ["admin"], "workspace_id": common::WORKSPACE}),
    ));
    assert_eq!(third["workspace_id"], json!(common::WORKSPACE));

    let listed = json_of(dashboard.get("/api/ingest-keys"));
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 3);
    assert!(names.contains(&"web sdk") && names.contains(&"other"));
    assert!(!listed.to_string().contains(&key), "never the plaintext");

    let event = common::event("sdk.test", "pageview", "/");
    let accepted = common::post(&server, "/events", Some(&key), &event)
        .header("x-site-id", "sdk.test")
        .send()
        .unwrap();
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);

    let id = created["id"].as_str().unwrap();
    let revoked = dashboard.delete(&format!("/api/ingest-keys/{id}"));
    assert_eq!(revoked.status(), StatusCode::OK);
    let revoked = json_of(revoked);
    assert_eq!(revoked["id"], json!(id));
    assert!(revoked["revoked_at"].is_string());
    let listed = json_of(dashboard.get("/api/ingest-keys"));
    let row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == json!(id))
        .unwrap()
        .clone();
    assert!(row["revoked_at"].is_string(), "revoked keys stay listed");
    let refused = common::post(
        &server,
        "/events",
        Some(&key),
        &common::event("sdk.test", "pageview", "/"),
    )
    .header("x-site-id", "sdk.test")
    .send()
    .unwrap();
    assert_eq!(
        refused.status(),
        StatusCode::UNAUTHORIZED,
        "revoked at once"
    );

    for missing in [
        "/api/ingest-keys/not-a-uuid".to_owned(),
        format!("/api/ingest-keys/{}", common::WORKSPACE),
    ] {
        expect(
            dashboard.delete(&missing),
            StatusCode::NOT_FOUND,
            error("Ingestion key not found"),
        );
    }
}

#[test]
fn ingestion_key_requests_are_validated_with_exact_bodies() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    let dashboard = Dashboard::open(&server);
    for (body, message) in [
        (
            json!([1]),
            "The body must be a JSON object with name and scopes",
        ),
        (
            json!({"name": "", "scopes": ["admin"]}),
            "name must be a non-empty string of at most 200 characters",
        ),
        (
            json!({"name": "x", "scopes": "admin"}),
            "scopes must be a list of scopes",
        ),
        (
            json!({"name": "x", "scopes": []}),
            "scopes must name at least one scope",
        ),
        (
            json!({"name": "x", "scopes": ["write"]}),
            "each scope must be ingest:write, ingest:server or admin",
        ),
        (
            json!({"name": "x", "scopes": ["admin"], "workspace_id": "mine"}),
            "workspace_id must be a UUID",
        ),
    ] {
        expect(
            dashboard.post("/api/ingest-keys", &body),
            StatusCode::BAD_REQUEST,
            error(message),
        );
    }
    let malformed = dashboard
        .request(reqwest::Method::POST, "/api/ingest-keys")
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .unwrap();
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    assert!(json_of(malformed)["error"].is_string());
    expect(dashboard.get("/api/ingest-keys"), StatusCode::OK, json!([]));
}

#[test]
fn sites_are_added_with_a_time_zone_and_listed_beside_sites_seen_in_events() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    let dashboard = Dashboard::open(&server);
    let sent = client()
        .post(server.url("/api/event"))
        .json(&pageview("seen.test", "/"))
        .send()
        .unwrap();
    assert_eq!(sent.status(), StatusCode::ACCEPTED);
    let added = dashboard.post(
        "/api/sites",
        &json!({"site_id": "added.test", "time_zone": "Europe/Berlin"}),
    );
    assert_eq!(added.status(), StatusCode::CREATED);
    let added = json_of(added);
    assert_eq!(added["site_id"], "added.test");
    assert_eq!(added["time_zone"], "Europe/Berlin");
    assert_eq!(added["has_events"], false);
    let sites = json_of(dashboard.get("/api/sites"));
    let summary: Vec<(String, String, bool)> = sites
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["site_id"].as_str().unwrap().to_owned(),
                s["time_zone"].as_str().unwrap().to_owned(),
                s["has_events"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("added.test".to_owned(), "Europe/Berlin".to_owned(), false),
            ("seen.test".to_owned(), "UTC".to_owned(), true),
        ]
    );

    for (body, status, message) in [
        (
            json!({"site_id": "added.test"}),
            StatusCode::CONFLICT,
            "Site added.test already exists",
        ),
        (
            json!({}),
            StatusCode::BAD_REQUEST,
            "site_id is required (a domain such as example.com)",
        ),
        (
            json!({"site_id": "bad site"}),
            StatusCode::BAD_REQUEST,
            "site_id: invalid site id: site id contains the character ' '; allowed are letters, digits and . _ : -",
        ),
        (
            json!({"site_id": "new.test", "time_zone": "Mars/Olympus"}),
            StatusCode::BAD_REQUEST,
            "time_zone: invalid time zone: \"Mars/Olympus\" is not a known time zone",
        ),
        (
            json!({"site_id": "new.test", "time_zone": 2}),
            StatusCode::BAD_REQUEST,
            "time_zone must be an IANA time zone name such as Europe/Berlin",
        ),
        (
            json!("new.test"),
            StatusCode::BAD_REQUEST,
            "The body must be a JSON object",
        ),
    ] {
        expect(dashboard.post("/api/sites", &body), status, error(message));
    }

    let changed = dashboard.patch("/api/sites/seen.test", &json!({"time_zone": "Asia/Tokyo"}));
    assert_eq!(changed.status(), StatusCode::OK);
    let changed = json_of(changed);
    assert_eq!(changed["time_zone"], "Asia/Tokyo");
    assert_eq!(changed["has_events"], true);
    let stats = json_of(dashboard.get("/api/stats/main?site_id=seen.test&period=7d"));
    assert_eq!(stats["time_zone"], "Asia/Tokyo");
    assert_eq!(
        stats["total_pageviews"], 1,
        "the rollups were rebuilt, not lost"
    );
    expect(
        dashboard.patch("/api/sites/nowhere.test", &json!({"time_zone": "UTC"})),
        StatusCode::NOT_FOUND,
        error("Site not found"),
    );
    expect(
        dashboard.patch("/api/sites/seen.test", &json!({})),
        StatusCode::BAD_REQUEST,
        error("time_zone is required"),
    );
}

#[test]
fn settings_are_validated_saved_in_force_at_once_and_kept_across_a_restart() {
    let home = TestHome::new();
    let server = Server::start(&home, &[("RATE_LIMIT_IP_RPS", "500")]);
    let dashboard = Dashboard::open(&server);
    let settings = json_of(dashboard.get("/api/settings"));
    assert_eq!(
        settings["filter_bots"],
        json!({"value": true, "source": "default", "env": "MALLARD_FILTER_BOTS", "editable": true})
    );
    assert_eq!(
        settings["rate_limit_ip_rps"],
        json!({"value": 500, "source": "env", "env": "RATE_LIMIT_IP_RPS", "editable": false})
    );
    assert_eq!(settings["site_ids"]["value"], json!([]));
    assert_eq!(settings["api_key_mode"]["value"], "tag");

    for (body, status, message) in [
        (
            json!({"port": 1}),
            StatusCode::BAD_REQUEST,
            "Unknown setting: port",
        ),
        (
            json!({"filter_bots": "no"}),
            StatusCode::BAD_REQUEST,
            "filter_bots must be true or false",
        ),
        (
            json!({"retention_days": 1.5}),
            StatusCode::BAD_REQUEST,
            "retention_days must be a whole number of days from 0 (keep forever) to 36500",
        ),
        (
            json!({"rate_limit_per_site": -1}),
            StatusCode::BAD_REQUEST,
            "rate_limit_per_site must be a whole number from 0 (unlimited) to 1000000",
        ),
        (
            json!({"api_key_mode": "strict"}),
            StatusCode::BAD_REQUEST,
            "api_key_mode must be \"disabled\", \"tag\" or \"require\"",
        ),
        (
            json!({"rate_limit_key_burst": 0}),
            StatusCode::BAD_REQUEST,
            "rate_limit_key_burst must be a whole number from 1 to 1000000",
        ),
        (
            json!({"site_ids": "a.test"}),
            StatusCode::BAD_REQUEST,
            "site_ids must be a list of site ids",
        ),
        (
            json!([]),
            StatusCode::BAD_REQUEST,
            "The body must be a JSON object of settings",
        ),
        (
            json!({"rate_limit_ip_rps": 5}),
            StatusCode::CONFLICT,
            "rate_limit_ip_rps is set by the environment variable RATE_LIMIT_IP_RPS; change or unset it there",
        ),
    ] {
        expect(
            dashboard.patch("/api/settings", &body),
            status,
            error(message),
        );
    }
    // A refused change changes nothing, not even its valid parts.
    expect(
        dashboard.patch("/api/settings", &json!({"filter_bots": false, "port": 1})),
        StatusCode::BAD_REQUEST,
        error("Unknown setting: port"),
    );
    assert_eq!(
        json_of(dashboard.get("/api/settings"))["filter_bots"]["value"],
        true
    );

    let saved = dashboard.patch(
        "/api/settings",
        &json!({"site_ids": ["allowed.test"], "retention_days": 400, "rate_limit_per_site": 1}),
    );
    assert_eq!(saved.status(), StatusCode::OK);
    let saved = json_of(saved);
    assert_eq!(saved["site_ids"]["value"], json!(["allowed.test"]));
    assert_eq!(saved["site_ids"]["source"], "dashboard");
    assert_eq!(saved["retention_days"]["value"], 400);

    // In force at once: the allowlist and the per-site rate limit.
    let send = |site: &str| {
        client()
            .post(server.url("/api/event"))
            .json(&pageview(site, "/"))
            .send()
            .unwrap()
    };
    expect(
        send("other.test"),
        StatusCode::FORBIDDEN,
        error("Site other.test is not in the allowlist"),
    );
    assert_eq!(send("allowed.test").status(), StatusCode::ACCEPTED);
    assert_eq!(send("allowed.test").status(), StatusCode::TOO_MANY_REQUESTS);
    let health = json_of(client().get(server.url("/health/detailed")).send().unwrap());
    assert_eq!(health["site_allowlist"], json!(["allowed.test"]));

    // Kept in the database: a restart keeps them.
    let (status, _) = server.terminate();
    assert!(status.success());
    let server = Server::start(&home, &[]);
    let dashboard = Dashboard::open(&server);
    let settings = json_of(dashboard.get("/api/settings"));
    assert_eq!(settings["site_ids"]["value"], json!(["allowed.test"]));
    assert_eq!(settings["retention_days"]["value"], 400);
    assert_eq!(settings["rate_limit_ip_rps"]["source"], "default");
    let refused = client()
        .post(server.url("/api/event"))
        .json(&pageview("other.test", "/"))
        .send()
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    // null goes back to the file or the default.
    let reset = json_of(dashboard.patch(
        "/api/settings",
        &json!({"site_ids": null, "rate_limit_per_site": null}),
    ));
    assert_eq!(
        reset["site_ids"],
        json!({"value": [], "source": "default", "env": "MALLARD_SITE_IDS", "editable": true})
    );
    let accepted = client()
        .post(server.url("/api/event"))
        .json(&pageview("other.test", "/"))
        .send()
        .unwrap();
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);

    // The environment still wins over a saved value after a restart.
    let (status, _) = server.terminate();
    assert!(status.success());
    let server = Server::start(&home, &[("MALLARD_RETENTION_DAYS", "9")]);
    let settings = json_of(Dashboard::open(&server).get("/api/settings"));
    assert_eq!(
        settings["retention_days"],
        json!({"value": 9, "source": "env", "env": "MALLARD_RETENTION_DAYS", "editable": false})
    );
}

#[test]
fn the_collector_follows_a_changed_api_key_mode_at_once() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    let dashboard = Dashboard::open(&server);
    let event = || common::event("mode.test", "pageview", "/");
    let legacy = common::send(&server, "/events", Some("mode.test"), &event());
    assert_eq!(
        legacy.status(),
        StatusCode::ACCEPTED,
        "tag mode takes a site id"
    );
    let saved = dashboard.patch("/api/settings", &json!({"api_key_mode": "require"}));
    assert_eq!(saved.status(), StatusCode::OK);
    let refused = common::send(&server, "/events", Some("mode.test"), &event());
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(json_of(refused)["error"], "api_key_required");
}

#[test]
fn realtime_events_list_the_latest_events_without_addresses() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    let dashboard = Dashboard::open(&server);
    for (path, referrer) in [
        ("/first", None),
        ("/second", Some("https://www.google.com/")),
    ] {
        let mut body = pageview("live.test", path);
        if let Some(referrer) = referrer {
            body["r"] = json!(referrer);
        }
        let sent = client()
            .post(server.url("/api/event"))
            .header("x-forwarded-for", "203.0.113.7")
            .json(&body)
            .send()
            .unwrap();
        assert_eq!(sent.status(), StatusCode::ACCEPTED);
    }
    let listed = dashboard.get("/api/stats/realtime/events?site_id=live.test&limit=1");
    assert_eq!(listed.status(), StatusCode::OK);
    let listed = json_of(listed);
    assert_eq!(listed["site_id"], "live.test");
    assert_eq!(listed["window_secs"], 1800);
    let events = listed["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "limit applies");
    let latest = &events[0];
    assert_eq!(latest["name"], "pageview");
    assert_eq!(latest["page"], "/second", "newest first");
    assert_eq!(latest["browser"], "Chrome");
    assert!(latest["time"].as_str().unwrap().ends_with('Z'));
    let all = json_of(dashboard.get("/api/stats/realtime/events?site_id=live.test"));
    assert_eq!(all["events"].as_array().unwrap().len(), 2);
    assert!(!all.to_string().contains("203.0.113.7"));
    let keys: Vec<&String> = latest.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["browser", "country", "name", "page", "source", "time"]
    );

    for (query, message) in [
        ("", "site_id is required"),
        (
            "site_id=a%20b",
            "Invalid site_id: invalid site id: site id contains the character ' '; allowed are letters, digits and . _ : -",
        ),
        (
            "site_id=live.test&limit=101",
            "limit must be a whole number from 1 to 100",
        ),
    ] {
        expect(
            dashboard.get(&format!("/api/stats/realtime/events?{query}")),
            StatusCode::BAD_REQUEST,
            error(message),
        );
    }
    let unknown = json_of(dashboard.get("/api/stats/realtime/events?site_id=none.test"));
    assert_eq!(unknown["events"], json!([]));
}

#[test]
fn a_geolocation_database_chosen_in_settings_is_read_first_put_in_force_and_kept() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    let dashboard = Dashboard::open(&server);
    let health = || json_of(client().get(server.url("/health/detailed")).send().unwrap());
    assert_eq!(health()["geoip_file"], Value::Null, "the bundled database");
    let settings = json_of(dashboard.get("/api/settings"));
    assert_eq!(
        settings["geoip_database"],
        json!({"value": "", "source": "default", "env": "MALLARD_GEOIP_DATABASE", "editable": true})
    );

    // Files that are not a usable database are refused, naming the file.
    let garbage = home.path().join("GeoLite2-City.mmdb");
    std::fs::write(&garbage, b"not a database").unwrap();
    let missing = home.path().join("missing.mmdb");
    for (path, says) in [(&garbage, "MaxMind DB"), (&missing, "missing.mmdb")] {
        let refused = dashboard.patch(
            "/api/settings",
            &json!({"geoip_database": path.to_str().unwrap()}),
        );
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        let message = json_of(refused)["error"].as_str().unwrap().to_owned();
        assert!(
            message.starts_with("geoip_database: ") && message.contains(says),
            "{message}"
        );
    }
    expect(
        dashboard.patch("/api/settings", &json!({"geoip_database": "city.mmdb"})),
        StatusCode::BAD_REQUEST,
        error(
            "geoip_database must be the absolute path of a GeoLite2 or DB-IP .mmdb file, or empty \
             for the bundled country database",
        ),
    );
    assert_eq!(health()["geoip_file"], Value::Null, "nothing changed");

    // A readable one is in force at once, and after a restart.
    let good = home.path().join("country.mmdb");
    mallard_e2e::copy_of_bundled_country_database(&good);
    let good = good.to_str().unwrap().to_owned();
    let saved = json_of(dashboard.patch("/api/settings", &json!({"geoip_database": good})));
    assert_eq!(saved["geoip_database"]["value"], good);
    assert_eq!(saved["geoip_database"]["source"], "dashboard");
    assert_eq!(health()["geoip_file"], good);
    let (status, _) = server.terminate();
    assert!(status.success());
    let server = Server::start(&home, &[]);
    let health = || json_of(client().get(server.url("/health/detailed")).send().unwrap());
    assert_eq!(health()["geoip_file"], good);

    // A saved file that went away does not keep the server from starting:
    // the bundled database stands in.
    let (status, _) = server.terminate();
    assert!(status.success());
    std::fs::remove_file(&good).unwrap();
    let server = Server::start(&home, &[]);
    let health = || json_of(client().get(server.url("/health/detailed")).send().unwrap());
    assert_eq!(health()["geoip_file"], Value::Null);
    assert_eq!(health()["status"], "ok");
    // Empty chooses the bundled database explicitly.
    let saved =
        json_of(Dashboard::open(&server).patch("/api/settings", &json!({"geoip_database": ""})));
    assert_eq!(saved["geoip_database"]["value"], "");
    assert_eq!(saved["geoip_database"]["source"], "dashboard");
}
