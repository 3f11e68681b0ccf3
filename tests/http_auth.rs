//! End-to-end tests of the authentication API (spec 001): every endpoint, body,
//! cookie attribute and status code; the lockout; API keys and their scopes;
//! CSRF and Host checks; what survives a restart.

use mallard_e2e::{Server, TestHome, client, json_of, pageview};
use reqwest::StatusCode;
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";

/// A browser on the dashboard: sends the dashboard's Origin and its cookie.
struct Dashboard<'a> {
    server: &'a Server,
    http: Client,
    cookie: Option<String>,
}

impl<'a> Dashboard<'a> {
    fn new(server: &'a Server) -> Self {
        Self {
            server,
            http: client(),
            cookie: None,
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> RequestBuilder {
        let mut request = self
            .http
            .request(method, self.server.url(path))
            .header("origin", &self.server.base);
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", format!("mm_session={cookie}"));
        }
        request
    }

    fn post(&self, path: &str, body: &Value) -> Response {
        self.request(reqwest::Method::POST, path)
            .json(body)
            .send()
            .unwrap()
    }

    fn get(&self, path: &str) -> Response {
        self.request(reqwest::Method::GET, path).send().unwrap()
    }

    fn delete(&self, path: &str) -> Response {
        self.request(reqwest::Method::DELETE, path).send().unwrap()
    }

    /// Runs setup or login and keeps the session cookie.
    fn sign_in(&mut self, path: &str, password: &str) -> Response {
        let response = self.post(path, &json!({"password": password}));
        if let Some(cookie) = response.headers().get("set-cookie") {
            let value = cookie.to_str().unwrap();
            self.cookie = value
                .strip_prefix("mm_session=")
                .and_then(|v| v.split(';').next())
                .map(String::from);
        }
        response
    }
}

fn status_of(dashboard: &Dashboard<'_>) -> Value {
    json_of(dashboard.get("/api/auth/status"))
}

#[test]
fn setup_login_logout_and_status_behave_as_documented() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    let mut browser = Dashboard::new(&server);
    assert_eq!(
        status_of(&browser),
        json!({"setup_required": true, "authenticated": true})
    );

    let login_first = browser.post("/api/auth/login", &json!({"password": PASSWORD}));
    assert_eq!(login_first.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        json_of(login_first),
        json!({"error": "No admin password configured. Use /api/auth/setup first."})
    );

    let short = browser.post("/api/auth/setup", &json!({"password": "short"}));
    assert_eq!(short.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        json_of(short),
        json!({"error": "Password must be at least 8 characters"})
    );

    let setup = browser.sign_in("/api/auth/setup", PASSWORD);
    assert_eq!(setup.status(), StatusCode::OK);
    let cookie = setup.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attribute in ["mm_session=", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(!cookie.contains("Secure"));
    let token = json_of(setup)["token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 64, "256-bit token in hex");
    assert_eq!(browser.cookie.as_deref(), Some(token.as_str()));
    assert_eq!(
        status_of(&browser),
        json!({"setup_required": false, "authenticated": true})
    );

    let again = browser.post("/api/auth/setup", &json!({"password": "another password"}));
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert_eq!(
        json_of(again),
        json!({"error": "Admin password already configured"})
    );

    let mut stranger = Dashboard::new(&server);
    assert_eq!(
        status_of(&stranger),
        json!({"setup_required": false, "authenticated": false})
    );
    let wrong = stranger.sign_in("/api/auth/login", "not the password");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(json_of(wrong), json!({"error": "Invalid password"}));
    let right = stranger.sign_in("/api/auth/login", PASSWORD);
    assert_eq!(right.status(), StatusCode::OK);
    assert!(json_of(right)["token"].is_string());
    assert_eq!(status_of(&stranger)["authenticated"], true);

    let logout = browser.post("/api/auth/logout", &json!({}));
    assert_eq!(logout.status(), StatusCode::OK);
    assert!(
        logout.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(json_of(logout), json!({"status": "logged_out"}));
    assert_eq!(
        status_of(&browser)["authenticated"],
        false,
        "the session is invalidated"
    );
    browser.cookie = None;
    let noop = browser.post("/api/auth/logout", &json!({}));
    assert_eq!(
        noop.status(),
        StatusCode::OK,
        "logout without a session is a no-op"
    );
}

#[test]
fn repeated_failures_lock_the_ip_out_with_retry_after() {
    let home = TestHome::new();
    let server = Server::start(
        &home,
        &[
            ("MALLARD_ADMIN_PASSWORD", PASSWORD),
            ("MALLARD_MAX_LOGIN_ATTEMPTS", "3"),
            ("MALLARD_LOGIN_LOCKOUT", "120"),
        ],
    );
    let mut browser = Dashboard::new(&server);
    for _ in 0..3 {
        assert_eq!(
            browser
                .sign_in("/api/auth/login", "wrong password")
                .status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let locked = browser.sign_in("/api/auth/login", PASSWORD);
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = locked.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=120).contains(&retry), "{retry}");
    assert_eq!(
        json_of(locked),
        json!({"error": "Too many failed login attempts. Try again later."})
    );
    let metrics = client()
        .get(server.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("mallard_auth_logins_total{outcome=\"failure\"} 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("mallard_auth_logins_total{outcome=\"locked\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("mallard_auth_lockouts_total 1"),
        "{metrics}"
    );
}

#[test]
fn a_success_clears_the_count_and_zero_attempts_disables_the_lockout() {
    let home = TestHome::new();
    let server = Server::start(
        &home,
        &[
            ("MALLARD_ADMIN_PASSWORD", PASSWORD),
            ("MALLARD_MAX_LOGIN_ATTEMPTS", "2"),
        ],
    );
    let mut browser = Dashboard::new(&server);
    for _ in 0..3 {
        assert_eq!(
            browser
                .sign_in("/api/auth/login", "wrong password")
                .status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            browser.sign_in("/api/auth/login", PASSWORD).status(),
            StatusCode::OK
        );
    }
    drop(server);
    let unlimited = Server::start(&home, &[("MALLARD_MAX_LOGIN_ATTEMPTS", "0")]);
    let mut browser = Dashboard::new(&unlimited);
    for _ in 0..8 {
        assert_eq!(
            browser
                .sign_in("/api/auth/login", "wrong password")
                .status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        browser.sign_in("/api/auth/login", PASSWORD).status(),
        StatusCode::OK
    );
}

#[test]
fn api_keys_are_created_listed_scoped_and_revoked() {
    let home = TestHome::new();
    let server = Server::start(&home, &[("MALLARD_ADMIN_PASSWORD", PASSWORD)]);
    let mut browser = Dashboard::new(&server);
    assert_eq!(browser.get("/api/keys").status(), StatusCode::UNAUTHORIZED);
    browser.sign_in("/api/auth/login", PASSWORD);

    let created = browser.post(
        "/api/keys",
        &json!({"name": "ci-pipeline", "scope": "ReadOnly"}),
    );
    assert_eq!(created.status(), StatusCode::CREATED);
    let readonly = json_of(created);
    let key = readonly["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("mm_") && key.len() >= 3 + 32);
    assert_eq!(readonly["name"], "ci-pipeline");
    assert_eq!(readonly["scope"], "ReadOnly");
    let hash = readonly["key_hash"].as_str().unwrap().to_owned();
    assert_eq!(hash.len(), 64);
    let admin = json_of(browser.post("/api/keys", &json!({"name": "ops", "scope": "Admin"})));
    let admin_key = admin["key"].as_str().unwrap().to_owned();

    let listing = json_of(browser.get("/api/keys"));
    let entry = listing
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key_hash"] == hash.as_str())
        .unwrap()
        .clone();
    assert_eq!(entry["name"], "ci-pipeline");
    assert_eq!(entry["scope"], "ReadOnly");
    assert_eq!(entry["revoked"], false);
    let created_at = entry["created_at"].as_str().unwrap();
    assert!(
        created_at.ends_with('Z') && created_at.len() == 20,
        "{created_at}"
    );
    assert!(
        !listing.to_string().contains(&key),
        "plaintext never listed"
    );

    let http = client();
    let with_bearer = |key: &str| {
        http.get(server.url("/api/keys"))
            .bearer_auth(key)
            .send()
            .unwrap()
    };
    let with_header = |key: &str| {
        http.get(server.url("/api/keys"))
            .header("x-api-key", key)
            .send()
            .unwrap()
    };
    assert_eq!(with_bearer(&admin_key).status(), StatusCode::OK);
    assert_eq!(with_header(&admin_key).status(), StatusCode::OK);
    let forbidden = with_bearer(&key);
    assert_eq!(
        forbidden.status(),
        StatusCode::FORBIDDEN,
        "ReadOnly keys cannot manage keys"
    );
    assert!(json_of(forbidden)["error"].is_string());
    assert_eq!(with_header(&key).status(), StatusCode::FORBIDDEN);
    assert_eq!(with_bearer("mm_0000").status(), StatusCode::UNAUTHORIZED);
    // An Admin key may create keys from anywhere: it is not cookie-driven.
    let by_key = http
        .post(server.url("/api/keys"))
        .bearer_auth(&admin_key)
        .header("origin", "https://elsewhere.example")
        .json(&json!({"name": "from-ci", "scope": "ReadOnly"}))
        .send()
        .unwrap();
    assert_eq!(by_key.status(), StatusCode::CREATED);

    let missing = browser.delete(&format!("/api/keys/{}", "0".repeat(64)));
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(json_of(missing), json!({"error": "Key not found"}));
    assert_eq!(
        browser.delete("/api/keys/not-a-hash").status(),
        StatusCode::NOT_FOUND
    );
    let admin_hash = admin["key_hash"].as_str().unwrap();
    let revoked = browser.delete(&format!("/api/keys/{admin_hash}"));
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_eq!(json_of(revoked), json!({"status": "revoked"}));
    assert_eq!(
        with_bearer(&admin_key).status(),
        StatusCode::UNAUTHORIZED,
        "revocation is immediate"
    );
    let listing = json_of(browser.get("/api/keys"));
    assert!(
        listing
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["key_hash"] == admin_hash && k["revoked"] == true)
    );
}

#[test]
fn key_requests_are_validated() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    let browser = Dashboard::new(&server);
    let bad_scope = browser.post("/api/keys", &json!({"name": "x", "scope": "Owner"}));
    assert_eq!(bad_scope.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        json_of(bad_scope)["error"]
            .as_str()
            .unwrap()
            .contains("scope")
    );
    assert_eq!(
        browser
            .post("/api/keys", &json!({"scope": "Admin"}))
            .status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        browser
            .post("/api/keys", &json!({"name": "  ", "scope": "Admin"}))
            .status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let broken = browser
        .request(reqwest::Method::POST, "/api/keys")
        .header("content-type", "application/json")
        .body("{")
        .send()
        .unwrap();
    assert_eq!(broken.status(), StatusCode::BAD_REQUEST);
    assert!(json_of(broken)["error"].is_string());
    // Open-access mode: key management is reachable without signing in.
    assert_eq!(
        browser
            .post("/api/keys", &json!({"name": "open", "scope": "Admin"}))
            .status(),
        StatusCode::CREATED
    );
}

#[test]
fn cross_origin_state_changes_are_refused() {
    let home = TestHome::new();
    let server = Server::start(&home, &[("MALLARD_ADMIN_PASSWORD", PASSWORD)]);
    let mut browser = Dashboard::new(&server);
    browser.sign_in("/api/auth/login", PASSWORD);
    let cookie = format!("mm_session={}", browser.cookie.clone().unwrap());
    let http = client();
    let body = json!({"name": "csrf", "scope": "Admin"});
    let foreign = http
        .post(server.url("/api/keys"))
        .header("cookie", &cookie)
        .header("origin", "https://evil.example")
        .json(&body)
        .send()
        .unwrap();
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
    assert!(json_of(foreign)["error"].as_str().unwrap().contains("CSRF"));
    let headerless = http
        .post(server.url("/api/keys"))
        .header("cookie", &cookie)
        .json(&body)
        .send()
        .unwrap();
    assert_eq!(
        headerless.status(),
        StatusCode::FORBIDDEN,
        "a cookie without Origin or Referer"
    );
    let referer = http
        .post(server.url("/api/keys"))
        .header("cookie", &cookie)
        .header("referer", server.url("/"))
        .json(&body)
        .send()
        .unwrap();
    assert_eq!(referer.status(), StatusCode::CREATED);
    let foreign_login = http
        .post(server.url("/api/auth/login"))
        .header("origin", "https://evil.example")
        .json(&json!({"password": PASSWORD}))
        .send()
        .unwrap();
    assert_eq!(foreign_login.status(), StatusCode::FORBIDDEN);
}

#[test]
fn a_foreign_host_header_is_refused_except_for_ingestion_and_the_tracker() {
    let home = TestHome::new();
    let server = Server::start(&home, &[("MALLARD_PUBLIC_HOSTNAMES", "stats.example.com")]);
    let http = client();
    let with_host = |method: reqwest::Method, path: &str, host: &str| {
        http.request(method, server.url(path))
            .header("host", host)
            .json(&pageview("h.test", "/"))
            .send()
            .unwrap()
    };
    for path in ["/", "/api/keys", "/api/auth/status", "/metrics"] {
        let refused = with_host(reqwest::Method::GET, path, "rebind.evil.example");
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{path}");
        assert_eq!(json_of(refused), json!({"error": "Host not allowed"}));
    }
    assert_eq!(
        with_host(reqwest::Method::GET, "/api/keys", "stats.example.com").status(),
        StatusCode::OK
    );
    assert_eq!(
        with_host(reqwest::Method::GET, "/api/keys", "localhost:1234").status(),
        StatusCode::OK
    );
    assert_eq!(
        with_host(reqwest::Method::POST, "/api/event", "rebind.evil.example").status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        with_host(reqwest::Method::GET, "/mallard.js", "rebind.evil.example").status(),
        StatusCode::OK
    );
    assert_eq!(
        with_host(reqwest::Method::GET, "/health", "rebind.evil.example").status(),
        StatusCode::FORBIDDEN
    );
}

#[test]
fn the_password_and_keys_survive_a_restart_and_sessions_do_not() {
    let home = TestHome::new();
    let server = Server::start(&home, &[("MALLARD_SECURE_COOKIES", "true")]);
    let mut browser = Dashboard::new(&server);
    let setup = browser.sign_in("/api/auth/setup", PASSWORD);
    assert!(
        setup.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Secure")
    );
    let key = json_of(browser.post("/api/keys", &json!({"name": "keep", "scope": "Admin"})))["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let session = browser.cookie.clone();
    assert!(server.terminate().0.success());

    let restarted = Server::start(&home, &[]);
    let mut browser = Dashboard::new(&restarted);
    browser.cookie = session;
    assert_eq!(
        status_of(&browser),
        json!({"setup_required": false, "authenticated": false})
    );
    let by_key = client()
        .get(restarted.url("/api/keys"))
        .bearer_auth(&key)
        .send()
        .unwrap();
    assert_eq!(by_key.status(), StatusCode::OK);
    assert_eq!(
        browser.sign_in("/api/auth/login", PASSWORD).status(),
        StatusCode::OK
    );
    let setup_again = browser.post("/api/auth/setup", &json!({"password": "a new password"}));
    assert_eq!(setup_again.status(), StatusCode::CONFLICT);
}

#[test]
fn the_site_list_needs_stats_access_and_names_sites_with_events() {
    let home = TestHome::new();
    let server = Server::start(&home, &[("MALLARD_ADMIN_PASSWORD", PASSWORD)]);
    let http = client();
    for site in ["b.test", "a.test"] {
        http.post(server.url("/api/event"))
            .json(&pageview(site, "/"))
            .send()
            .unwrap();
    }
    assert_eq!(
        http.get(server.url("/api/sites")).send().unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let mut browser = Dashboard::new(&server);
    browser.sign_in("/api/auth/login", PASSWORD);
    let key =
        json_of(browser.post("/api/keys", &json!({"name": "reader", "scope": "ReadOnly"})))["key"]
            .as_str()
            .unwrap()
            .to_owned();
    let sites = json_of(
        http.get(server.url("/api/sites"))
            .header("x-api-key", key)
            .send()
            .unwrap(),
    );
    let listed: Vec<(&str, &str, bool)> = sites
        .as_array()
        .unwrap()
        .iter()
        .map(|site| {
            (
                site["site_id"].as_str().unwrap(),
                site["time_zone"].as_str().unwrap(),
                site["has_events"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(listed, [("a.test", "UTC", true), ("b.test", "UTC", true)]);
}
