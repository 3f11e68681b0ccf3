//! End-to-end tests of the first run on a network (issue 14, "Remote first-run
//! takeover", "Health endpoints" and "Logout"): open access only for clients
//! straight on the server's machine, the one-time setup token, the review of
//! keys created in open access, the Host guard on `/health*`, and logout.
//!
//! How a client on another machine is simulated: the server sees the TCP peer
//! address, and every test client connects over loopback. Two ways make the
//! server see a non-local client without depending on the machine's network:
//! - a trusted proxy: the server trusts `127.0.0.1/32` as a reverse proxy and
//!   the request carries `X-Forwarded-For: 203.0.113.7` (a public address), as
//!   a proxy in front of the server would send it;
//! - a local proxy nobody configured: any forwarding header on a loopback
//!   connection marks the request as forwarded.
//!
//! No test sends traffic to an address other than loopback: a server
//! listening on `0.0.0.0` is reached on 127.0.0.1 too, with the remote client
//! named by the trusted proxy.
//! 127.0.0.0/8 as a whole is loopback: a client on 127.0.0.2 is local.

#[path = "collector_common.rs"]
mod collector_common;

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr};
use std::process::Stdio;
use std::time::{Duration, Instant};

use mallard_e2e::{Server, TestHome, client, json_of};
use reqwest::StatusCode;
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";
/// A public address (TEST-NET-3) standing for a client on another machine.
const REMOTE_CLIENT: &str = "203.0.113.7";
/// Trust the loopback test client as a reverse proxy.
const TRUST_LOOPBACK_PROXY: (&str, &str) = ("MALLARD_TRUSTED_PROXIES", "127.0.0.1/32");

/// A client as the server sees it: its requests go to `base` and, when
/// `forwarded_for` is set, carry the header a reverse proxy adds.
struct Caller {
    http: Client,
    base: String,
    forwarded_for: Option<&'static str>,
    cookie: Option<String>,
}

impl Caller {
    /// A client on this machine.
    fn local(server: &Server) -> Self {
        Self::at(&server.base, None)
    }

    /// A client on another machine, reaching the server through a proxy.
    fn remote(server: &Server) -> Self {
        Self::at(&server.base, Some(REMOTE_CLIENT))
    }

    /// A client on this machine connecting from 127.0.0.2, which a trusted
    /// proxy on 127.0.0.1/32 does not cover.
    fn local_beside_the_proxy(server: &Server) -> Self {
        let mut caller = Self::local(server);
        caller.http = reqwest::blocking::Client::builder()
            .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)))
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        caller
    }

    fn at(base: &str, forwarded_for: Option<&'static str>) -> Self {
        Self {
            http: client(),
            base: base.trim_end_matches('/').to_owned(),
            forwarded_for,
            cookie: None,
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> RequestBuilder {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(ip) = self.forwarded_for {
            request = request.header("x-forwarded-for", ip);
        }
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", format!("mm_session={cookie}"));
        }
        request
    }

    fn get(&self, path: &str) -> Response {
        self.request(reqwest::Method::GET, path).send().unwrap()
    }

    fn post(&self, path: &str, body: &Value) -> Response {
        self.request(reqwest::Method::POST, path)
            .json(body)
            .send()
            .unwrap()
    }

    /// A POST as the dashboard page sends it: with its own Origin.
    fn post_from_page(&self, path: &str, body: &Value) -> Response {
        self.request(reqwest::Method::POST, path)
            .header("origin", &self.base)
            .json(body)
            .send()
            .unwrap()
    }

    fn status(&self) -> Value {
        json_of(self.get("/api/auth/status"))
    }

    /// Keeps the session cookie of a setup or login answer.
    fn keep_session(&mut self, response: &Response) {
        self.cookie = response
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("mm_session="))
            .and_then(|v| v.split(';').next())
            .map(String::from);
    }
}

/// Asserts a Mallard-family refusal: `status` and a flat `{"error": "..."}`.
fn assert_refused(response: Response, status: StatusCode, what: &str) -> String {
    assert_eq!(response.status(), status, "{what}");
    let body = json_of(response);
    let message = body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: not a flat error body: {body}"));
    assert_eq!(body.as_object().map(|o| o.len()), Some(1), "{what}: {body}");
    message.to_owned()
}

fn setup_token_file(home: &TestHome) -> std::path::PathBuf {
    home.data_dir().join("setup-token")
}

fn read_setup_token(home: &TestHome) -> String {
    std::fs::read_to_string(setup_token_file(home))
        .expect("the setup token file exists while no password is set")
        .trim()
        .to_owned()
}

#[test]
fn a_remote_client_gets_no_open_access_and_cannot_mint_keys() {
    let home = TestHome::new();
    let server = Server::start(&home, &[TRUST_LOOPBACK_PROXY]);
    let remote = Caller::remote(&server);
    assert_eq!(
        remote.status(),
        json!({"setup_required": true, "authenticated": false})
    );
    for path in [
        "/api/keys",
        "/api/ingest-keys",
        "/api/settings",
        "/api/sites",
        "/api/open-access-keys",
        "/api/stats/main?site_id=example.com&period=30d",
    ] {
        assert_refused(remote.get(path), StatusCode::UNAUTHORIZED, path);
    }
    let admin_key = json!({"name": "takeover", "scope": "Admin"});
    let ingest_key = json!({"name": "takeover", "scopes": ["admin"]});
    // Like curl (no Origin, no cookie) and like a browser on the dashboard.
    assert_refused(
        remote.post("/api/keys", &admin_key),
        StatusCode::UNAUTHORIZED,
        "mm_ key without Origin",
    );
    assert_refused(
        remote.post_from_page("/api/keys", &admin_key),
        StatusCode::UNAUTHORIZED,
        "mm_ key from the page",
    );
    assert_refused(
        remote.post("/api/ingest-keys", &ingest_key),
        StatusCode::UNAUTHORIZED,
        "lk_live_ key without Origin",
    );
    assert_refused(
        remote.post_from_page("/api/ingest-keys", &ingest_key),
        StatusCode::UNAUTHORIZED,
        "lk_live_ key from the page",
    );
    // The configuration stays private too.
    let detailed = json_of(remote.get("/health/detailed"));
    assert_eq!(detailed["status"], "ok");
    for field in [
        "site_allowlist",
        "auth_configured",
        "filter_bots",
        "geoip_database",
    ] {
        assert!(detailed.get(field).is_none(), "{field} shown: {detailed}");
    }

    // The trusted proxy itself (127.0.0.1) forwards other machines, so it
    // gets no open access even without a forwarding header.
    assert_eq!(
        Caller::local(&server).status(),
        json!({"setup_required": true, "authenticated": false})
    );
    let local = Caller::local_beside_the_proxy(&server);
    assert_eq!(
        local.status(),
        json!({"setup_required": true, "authenticated": true})
    );
    assert_eq!(json_of(local.get("/api/keys")), json!([]), "nothing minted");
    assert_eq!(json_of(local.get("/api/ingest-keys")), json!([]));
    assert!(json_of(local.get("/health/detailed"))["site_allowlist"].is_array());
}

#[test]
fn a_client_behind_an_unconfigured_local_proxy_is_not_local() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    // No trusted proxies: the forwarding header alone says another machine
    // is behind this loopback connection.
    for header in ["x-forwarded-for", "x-real-ip", "forwarded"] {
        let value = if header == "forwarded" {
            "for=203.0.113.7"
        } else {
            REMOTE_CLIENT
        };
        let status = json_of(
            client()
                .get(server.url("/api/auth/status"))
                .header(header, value)
                .send()
                .unwrap(),
        );
        assert_eq!(
            status,
            json!({"setup_required": true, "authenticated": false}),
            "{header}"
        );
        let minted = client()
            .post(server.url("/api/keys"))
            .header(header, value)
            .json(&json!({"name": "k", "scope": "Admin"}))
            .send()
            .unwrap();
        assert_refused(minted, StatusCode::UNAUTHORIZED, header);
    }
}

#[test]
fn remote_setup_needs_the_setup_token_and_retires_it() {
    let home = TestHome::new();
    let server = Server::start(&home, &[TRUST_LOOPBACK_PROXY]);
    let token = read_setup_token(&home);
    assert_eq!(token.len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(setup_token_file(&home))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the token file is private");
    }

    let mut remote = Caller::remote(&server);
    let attacker = json!({"password": "attacker-pass-1"});
    let message = assert_refused(
        remote.post("/api/auth/setup", &attacker),
        StatusCode::UNAUTHORIZED,
        "setup without a token",
    );
    assert!(message.contains("setup token"), "{message}");
    assert_refused(
        remote.post_from_page("/api/auth/setup", &attacker),
        StatusCode::UNAUTHORIZED,
        "setup from the page without a token",
    );
    let forged = remote
        .request(reqwest::Method::POST, "/api/auth/setup")
        .header("x-setup-token", "0".repeat(64))
        .json(&attacker)
        .send()
        .unwrap();
    assert_refused(forged, StatusCode::UNAUTHORIZED, "a wrong token");
    let wrong_field = remote.post(
        "/api/auth/setup",
        &json!({"password": "attacker-pass-1", "setup_token": "guess"}),
    );
    assert_refused(wrong_field, StatusCode::UNAUTHORIZED, "a wrong token field");
    assert_eq!(remote.status()["setup_required"], true, "still not set");

    // The owner, on another machine, with the token from the server's output.
    let owner = remote
        .request(reqwest::Method::POST, "/api/auth/setup")
        .header("x-setup-token", &token)
        .json(&json!({"password": PASSWORD}))
        .send()
        .unwrap();
    assert_eq!(owner.status(), StatusCode::OK);
    remote.keep_session(&owner);
    assert_eq!(json_of(owner)["token"].as_str().map(str::len), Some(64));
    assert_eq!(
        remote.status(),
        json!({"setup_required": false, "authenticated": true})
    );
    assert!(
        !setup_token_file(&home).exists(),
        "the token file is removed"
    );
    let replay = remote.post(
        "/api/auth/setup",
        &json!({"password": "attacker-pass-1", "setup_token": token}),
    );
    assert_refused(replay, StatusCode::CONFLICT, "setup after the password");
    let login = Caller::local(&server).post("/api/auth/login", &json!({"password": PASSWORD}));
    assert_eq!(login.status(), StatusCode::OK, "the owner's password holds");
}

#[test]
fn the_setup_token_in_the_body_works_and_a_restart_makes_a_new_one() {
    let home = TestHome::new();
    let server = Server::start(&home, &[TRUST_LOOPBACK_PROXY]);
    let first = read_setup_token(&home);
    // Serving a request first makes sure the server listens for SIGTERM.
    assert_eq!(Caller::remote(&server).status()["setup_required"], true);
    let (status, stderr) = server.terminate();
    assert!(status.success(), "{status}: {stderr}");
    let server = Server::start(&home, &[TRUST_LOOPBACK_PROXY]);
    let second = read_setup_token(&home);
    assert_ne!(first, second, "every start makes a new token");
    let remote = Caller::remote(&server);
    let stale = remote.post(
        "/api/auth/setup",
        &json!({"password": PASSWORD, "setup_token": first}),
    );
    assert_refused(stale, StatusCode::UNAUTHORIZED, "the previous run's token");
    let fresh = remote.post(
        "/api/auth/setup",
        &json!({"password": PASSWORD, "setup_token": second}),
    );
    assert_eq!(fresh.status(), StatusCode::OK);
    let (status, stderr) = server.terminate();
    assert!(status.success(), "{status}: {stderr}");
    let _server = Server::start(&home, &[TRUST_LOOPBACK_PROXY]);
    assert!(
        !setup_token_file(&home).exists(),
        "no token once a password is set"
    );
}

#[test]
fn the_setup_token_is_printed_with_the_dashboard_address() {
    let home = TestHome::new();
    let mut child = home
        .command()
        .args(["serve", "--port", "0", "--data-dir"])
        .arg(home.data_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut printed = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let Ok(line) = lines_rx.recv_timeout(Duration::from_secs(1)) else {
            continue;
        };
        let done = line.starts_with("Dashboard: ");
        printed.push(line);
        if done {
            break;
        }
    }
    let token = read_setup_token(&home);
    let _ = child.kill();
    let _ = child.wait();
    let text = printed.join("\n");
    assert!(text.contains("Dashboard: "), "{text}");
    assert!(
        text.contains(&format!("Setup token: {token}")),
        "the token is printed at start: {text}"
    );
}

#[test]
fn a_client_on_any_loopback_address_keeps_open_access() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    let from_127_0_0_2 = reqwest::blocking::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)))
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let status = json_of(
        from_127_0_0_2
            .get(server.url("/api/auth/status"))
            .send()
            .unwrap(),
    );
    assert_eq!(
        status,
        json!({"setup_required": true, "authenticated": true})
    );
    // curl on this machine: no Origin, no cookie, no token.
    let setup = from_127_0_0_2
        .post(server.url("/api/auth/setup"))
        .json(&json!({"password": PASSWORD}))
        .send()
        .unwrap();
    assert_eq!(setup.status(), StatusCode::OK);
}

#[test]
fn keys_created_in_open_access_are_listed_after_setup_and_revocable() {
    let home = TestHome::new();
    let server = Server::start(&home, &[("API_KEY_MODE", "require")]);
    let mut local = Caller::local(&server);
    let create_stats = |caller: &Caller, name: &str, scope: &str| -> (String, String) {
        let created = caller.post_from_page("/api/keys", &json!({"name": name, "scope": scope}));
        assert_eq!(created.status(), StatusCode::CREATED);
        let body = json_of(created);
        (
            body["key"].as_str().unwrap().to_owned(),
            body["key_hash"].as_str().unwrap().to_owned(),
        )
    };
    let (admin_key, admin_hash) = create_stats(&local, "made-open-admin", "Admin");
    let (reader_key, reader_hash) = create_stats(&local, "made-open-reader", "ReadOnly");
    let ingest = local.post_from_page(
        "/api/ingest-keys",
        &json!({"name": "made-open-sdk", "scopes": ["ingest:write"]}),
    );
    assert_eq!(ingest.status(), StatusCode::CREATED);
    let ingest = json_of(ingest);
    let ingest_key = ingest["key"].as_str().unwrap().to_owned();
    let ingest_id = ingest["id"].as_str().unwrap().to_owned();

    let setup = local.post_from_page("/api/auth/setup", &json!({"password": PASSWORD}));
    assert_eq!(setup.status(), StatusCode::OK);
    local.keep_session(&setup);
    let (later_key, _) = create_stats(&local, "made-after-setup", "ReadOnly");

    let listed = json_of(local.get("/api/open-access-keys"));
    let mut names: Vec<(&str, &str)> = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["kind"].as_str().unwrap(), k["name"].as_str().unwrap()))
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        vec![
            ("ingestion", "made-open-sdk"),
            ("stats", "made-open-admin"),
            ("stats", "made-open-reader"),
        ]
    );
    let ids: Vec<&str> = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap())
        .collect();
    for id in [
        admin_hash.as_str(),
        reader_hash.as_str(),
        ingest_id.as_str(),
    ] {
        assert!(ids.contains(&id), "{id} in {listed}");
    }
    let stats_with = |key: &str| {
        client()
            .get(server.url("/api/sites"))
            .bearer_auth(key)
            .send()
            .unwrap()
            .status()
    };
    assert_eq!(
        stats_with(&admin_key),
        StatusCode::OK,
        "still works until revoked"
    );
    let send_event = || {
        collector_common::post(
            &server,
            "/events",
            Some(&ingest_key),
            &collector_common::event("shop.test", "pageview", "/"),
        )
        .header("x-site-id", "shop.test")
        .send()
        .unwrap()
        .status()
    };
    assert_eq!(send_event(), StatusCode::ACCEPTED);

    // A stranger (even on this machine) cannot see or revoke the list.
    let stranger = Caller::local(&server);
    assert_refused(
        stranger.get("/api/open-access-keys"),
        StatusCode::UNAUTHORIZED,
        "list",
    );
    assert_refused(
        stranger.post_from_page("/api/open-access-keys/revoke", &json!({})),
        StatusCode::UNAUTHORIZED,
        "revoke",
    );

    // One by one with the existing endpoint, then the rest in one click.
    let one = local
        .request(reqwest::Method::DELETE, &format!("/api/keys/{reader_hash}"))
        .header("origin", &server.base)
        .send()
        .unwrap();
    assert_eq!(one.status(), StatusCode::OK);
    assert_eq!(
        json_of(local.get("/api/open-access-keys"))["keys"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    let all = local.post_from_page("/api/open-access-keys/revoke", &json!({}));
    assert_eq!(all.status(), StatusCode::OK);
    assert_eq!(json_of(all), json!({"status": "revoked", "count": 2}));
    assert_eq!(
        json_of(local.get("/api/open-access-keys")),
        json!({"keys": []})
    );

    assert_eq!(stats_with(&admin_key), StatusCode::UNAUTHORIZED);
    assert_eq!(stats_with(&reader_key), StatusCode::UNAUTHORIZED);
    assert_eq!(
        send_event(),
        StatusCode::UNAUTHORIZED,
        "the lk_live_ key is out"
    );
    assert_eq!(
        stats_with(&later_key),
        StatusCode::OK,
        "later keys are untouched"
    );
}

#[test]
fn kept_open_access_keys_leave_the_list_and_keep_working() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    let mut local = Caller::local(&server);
    let created = local.post_from_page("/api/keys", &json!({"name": "mine", "scope": "ReadOnly"}));
    let key = json_of(created)["key"].as_str().unwrap().to_owned();
    let setup = local.post_from_page("/api/auth/setup", &json!({"password": PASSWORD}));
    local.keep_session(&setup);
    // The marks are stored: a restart still lists the key.
    let (status, _) = server.terminate();
    assert!(status.success());
    let server = Server::start(&home, &[]);
    let mut local = Caller::local(&server);
    let login = local.post_from_page("/api/auth/login", &json!({"password": PASSWORD}));
    local.keep_session(&login);
    assert_eq!(
        json_of(local.get("/api/open-access-keys"))["keys"][0]["name"],
        "mine"
    );
    let kept = local.post_from_page("/api/open-access-keys/keep", &json!({}));
    assert_eq!(json_of(kept), json!({"status": "kept", "count": 1}));
    assert_eq!(
        json_of(local.get("/api/open-access-keys")),
        json!({"keys": []})
    );
    let stats = client()
        .get(server.url("/api/sites"))
        .header("x-api-key", &key)
        .send()
        .unwrap();
    assert_eq!(stats.status(), StatusCode::OK);
}

#[test]
fn dns_rebinding_hosts_are_refused_on_health_too() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    let with_host = |path: &str, host: &str| {
        client()
            .get(server.url(path))
            .header("host", host)
            .send()
            .unwrap()
    };
    for host in [
        "evil.example",
        "evil.example:80",
        "1.2.3.4",
        "1.2.3.4:8000",
        "0.0.0.0",
    ] {
        for path in [
            "/health",
            "/health/ready",
            "/health/detailed",
            "/api/auth/status",
            "/api/keys",
        ] {
            let refused = with_host(path, host);
            assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{host} {path}");
            assert_eq!(json_of(refused), json!({"error": "Host not allowed"}));
        }
    }
    for host in ["localhost", "127.0.0.1", "127.0.0.2:9", "[::1]:8000"] {
        let response = with_host("/health/detailed", host);
        assert_eq!(response.status(), StatusCode::OK, "{host}");
    }
    assert_eq!(
        with_host("/healthz", "evil.example").status(),
        StatusCode::OK,
        "the collector's liveness check stays open"
    );
}

#[test]
fn a_remote_peer_of_a_wildcard_bind_gets_no_open_access_but_can_set_up_with_the_token() {
    // The peer is remote as the server sees it: it comes through a trusted
    // proxy with a public client address. (A real non-loopback peer would
    // need traffic to an address other than loopback, which tests here never
    // send.)
    let home = TestHome::new();
    let server = Server::try_start(&home, &[TRUST_LOOPBACK_PROXY], &["--host", "0.0.0.0"]).unwrap();
    let remote = Caller::remote(&server);
    // Open access does not cover this client.
    assert_eq!(
        remote.status(),
        json!({"setup_required": true, "authenticated": false})
    );
    assert_eq!(
        remote.get("/").status(),
        StatusCode::OK,
        "the first-run screen"
    );
    assert_refused(
        remote.post("/api/keys", &json!({"name": "k", "scope": "Admin"})),
        StatusCode::UNAUTHORIZED,
        "mint",
    );
    assert_refused(
        remote.post("/api/auth/setup", &json!({"password": "attacker-pass-1"})),
        StatusCode::UNAUTHORIZED,
        "setup without token",
    );
    // A page on this machine naming a foreign address gets nothing while
    // open access would cover it.
    let page = Caller::local_beside_the_proxy(&server);
    let rebound = || {
        page.request(reqwest::Method::GET, "/health")
            .header("host", "1.2.3.4")
            .send()
            .unwrap()
            .status()
    };
    assert_eq!(rebound(), StatusCode::FORBIDDEN);
    let token = read_setup_token(&home);
    let setup = remote.post_from_page(
        "/api/auth/setup",
        &json!({"password": PASSWORD, "setup_token": token}),
    );
    assert_eq!(setup.status(), StatusCode::OK);
    assert_eq!(
        rebound(),
        StatusCode::OK,
        "with a password, any address may name a server on 0.0.0.0"
    );
}

#[test]
fn logout_needs_no_authentication_and_always_answers_200() {
    let home = TestHome::new();
    let server = Server::start(&home, &[("MALLARD_ADMIN_PASSWORD", PASSWORD)]);
    let mut browser = Caller::local(&server);
    let login = browser.post_from_page("/api/auth/login", &json!({"password": PASSWORD}));
    assert_eq!(login.status(), StatusCode::OK);
    browser.keep_session(&login);
    assert_eq!(browser.status()["authenticated"], true);

    // A cross-site page: 200, and the session stays.
    let foreign = browser
        .request(reqwest::Method::POST, "/api/auth/logout")
        .header("origin", "https://evil.example")
        .send()
        .unwrap();
    assert_eq!(foreign.status(), StatusCode::OK);
    assert_eq!(json_of(foreign), json!({"status": "logged_out"}));
    assert_eq!(browser.status()["authenticated"], true);

    // A cookie without Origin (a program, or a browser that dropped it): 200.
    let headerless = browser.post("/api/auth/logout", &json!({}));
    assert_eq!(headerless.status(), StatusCode::OK);
    assert!(
        headerless.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(json_of(headerless), json!({"status": "logged_out"}));
    assert_eq!(
        browser.status()["authenticated"],
        false,
        "the session ended"
    );

    // Nobody signed in, from another machine: still 200.
    let anonymous = Caller::remote(&server).post("/api/auth/logout", &json!({}));
    assert_eq!(anonymous.status(), StatusCode::OK);
    assert_eq!(json_of(anonymous), json!({"status": "logged_out"}));
}

#[test]
fn the_first_run_screen_says_who_can_reach_an_open_server() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    let script = client()
        .get(server.url("/static/views/auth.js"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(!script.contains("just you and the programs you run"));
    assert!(
        script.contains("every other user account on this computer"),
        "{script}"
    );
    assert!(
        script.contains("setup-token"),
        "remote first run asks for the token"
    );
}

#[test]
fn a_remote_owner_sets_the_password_with_the_token_and_revokes_open_access_keys_in_the_browser() {
    use mallard_e2e::browser::Browser;

    let home = TestHome::new();
    // The browser connects from 127.0.0.1, the trusted proxy: to the server
    // it is another machine.
    let server = Server::start(&home, &[TRUST_LOOPBACK_PROXY]);
    let local = Caller::local_beside_the_proxy(&server);
    let created =
        local.post_from_page("/api/keys", &json!({"name": "made-open", "scope": "Admin"}));
    assert_eq!(created.status(), StatusCode::CREATED);
    let key = json_of(created)["key"].as_str().unwrap().to_owned();

    let browser = Browser::start();
    browser.goto(&server.url("/"));
    browser.wait_for_text("h1", "Welcome to Mallard Metrics");
    assert_eq!(
        browser.eval("return document.querySelector('#open-access') === null"),
        json!(true),
        "no open access to offer on another machine"
    );
    browser.fill("#setup-password", PASSWORD);
    browser.click("form button[type=submit]");
    browser.wait_for_text("#setup-password-error", "setup token");
    browser.fill("#setup-token", "not-the-token");
    browser.click("form button[type=submit]");
    browser.wait_for_text("#setup-password-error", "setup token");
    browser.fill("#setup-token", &read_setup_token(&home));
    browser.click("form button[type=submit]");
    browser.wait_for_text("h1", "API keys");
    browser.wait_for_text("#open-access-keys", "made-open");
    browser.click("#revoke-open-access-keys");
    browser.wait_for_text("#keys-table", "Revoked");
    assert_eq!(
        browser.eval("return document.querySelector('#open-access-keys') === null"),
        json!(true),
        "nothing left to review"
    );
    let with_key = client()
        .get(server.url("/api/keys"))
        .bearer_auth(&key)
        .send()
        .unwrap();
    assert_eq!(
        with_key.status(),
        StatusCode::UNAUTHORIZED,
        "the key is revoked"
    );
}
