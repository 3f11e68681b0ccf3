//! The server as an embedder sees it (the desktop app): pausing collection,
//! desktop sign-in with a one-time token, and the host controls behind
//! `/api/host` (moving the port, importing logs picked in the native file
//! dialog). Requests go through the whole router in-process.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use mallard_server::host_control::HostControl;
use mallard_server::{AppState, Config, Server, router};
use serde_json::{Value, json};
use tower::ServiceExt;

const BASE: &str = "http://127.0.0.1:8000";

struct Harness {
    state: AppState,
    app: Router,
    _server: Server,
    _dir: tempfile::TempDir,
}

fn harness(password: Option<&str>) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::with_data_dir(dir.path());
    config.admin_password = password.map(str::to_owned);
    // Opening blocks (Argon2, the writer); keep it off the async workers.
    let server = tokio::task::block_in_place(|| Server::open(config)).unwrap();
    let state = server.state().clone();
    Harness {
        app: router(state.clone()),
        state,
        _server: server,
        _dir: dir,
    }
}

async fn send(app: &Router, request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Value) {
    let mut request = request;
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 50_000))));
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = to_bytes(response.into_body(), 1 << 20).await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, headers, body)
}

fn get(path: &str) -> Request<Body> {
    Request::get(format!("{BASE}{path}"))
        .header(header::HOST, "127.0.0.1:8000")
        .body(Body::empty())
        .unwrap()
}

fn json_request(method: &str, path: &str, body: &Value) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(format!("{BASE}{path}"))
        .header(header::HOST, "127.0.0.1:8000")
        .header(header::ORIGIN, BASE)
        .header(header::CONTENT_TYPE, "application/json")
        .header(
            header::USER_AGENT,
            "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0",
        )
        .body(Body::from(body.to_string()))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn paused_collection_answers_503_on_both_families_and_stores_nothing() {
    let h = harness(None);
    let pageview = json!({"d": "pause.test", "n": "pageview", "u": "https://pause.test/"});
    let collector_event = json!({"type": "pageview", "site_id": "pause.test", "ts": 0});
    h.state.collection.set_paused(true);
    let (status, _, body) = send(&h.app, json_request("POST", "/api/event", &pageview)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body, json!({"error": "Collection is paused"}));
    let mut request = json_request("POST", "/events", &collector_event);
    request
        .headers_mut()
        .insert(header::AUTHORIZATION, "Bearer pause.test".parse().unwrap());
    let (status, _, body) = send(&h.app, request).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    let sites = h.state.read(|db| db.site_domains()).await.unwrap();
    assert!(
        sites.is_empty(),
        "nothing was stored while paused: {sites:?}"
    );

    h.state.collection.set_paused(false);
    let (status, _, _) = send(&h.app, json_request("POST", "/api/event", &pageview)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let sites = h.state.read(|db| db.site_domains()).await.unwrap();
    assert_eq!(sites, ["pause.test"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_desktop_token_signs_in_once_and_redirects_within_the_dashboard() {
    let h = harness(Some("correct horse battery"));
    let token = h.state.auth.desktop.mint().unwrap();
    let (status, headers, _) = send(
        &h.app,
        get(&format!(
            "/api/auth/desktop?token={token}&next=/%3Fsite%3Da.test"
        )),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/?site=a.test");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    let cookie = headers[header::SET_COOKIE].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("mm_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_owned();
    let mut status_request = get("/api/auth/status");
    status_request
        .headers_mut()
        .insert(header::COOKIE, session.parse().unwrap());
    let (_, _, status_body) = send(&h.app, status_request).await;
    assert_eq!(
        status_body,
        json!({"setup_required": false, "authenticated": true})
    );

    // Spent, forged, missing, or pointing elsewhere.
    let (status, _, body) = send(&h.app, get(&format!("/api/auth/desktop?token={token}"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body,
        json!({"error": "Invalid or expired desktop sign-in token"})
    );
    let (status, _, _) = send(&h.app, get("/api/auth/desktop?token=forged")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, body) = send(&h.app, get("/api/auth/desktop")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, json!({"error": "Missing sign-in token"}));
    let token = h.state.auth.desktop.mint().unwrap();
    let (_, headers, _) = send(
        &h.app,
        get(&format!(
            "/api/auth/desktop?token={token}&next=//evil.example/"
        )),
    )
    .await;
    assert_eq!(headers[header::LOCATION], "/");
}

/// A host control that records what it was asked.
#[derive(Debug, Default)]
struct FakeHost {
    moved_to: Mutex<Vec<u16>>,
    /// What the file dialog answers, one answer a call.
    dialog_answers: Mutex<Vec<Option<Vec<std::path::PathBuf>>>>,
}

impl HostControl for FakeHost {
    fn port(&self) -> u16 {
        8000
    }

    fn change_port(&self, port: u16) -> Result<String, String> {
        if port == 9999 {
            return Err("port 9999 on 127.0.0.1 is already in use".into());
        }
        self.moved_to.lock().unwrap().push(port);
        Ok(format!("http://127.0.0.1:{port}/"))
    }

    fn pick_log_files(&self) -> Option<Vec<std::path::PathBuf>> {
        // A person takes a moment to choose.
        std::thread::sleep(std::time::Duration::from_millis(100));
        self.dialog_answers.lock().unwrap().remove(0)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_port_is_changed_through_the_host_controls_only_in_the_desktop_app() {
    let h = harness(None);
    let (status, _, body) = send(&h.app, get("/api/host")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["kind"], "server");
    let (status, _, _) = send(
        &h.app,
        json_request("PUT", "/api/host/port", &json!({"port": 9001})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let host = Arc::new(FakeHost::default());
    h.state.host.set(host.clone()).unwrap();
    let (_, _, body) = send(&h.app, get("/api/host")).await;
    assert_eq!(
        body,
        json!({"kind": "desktop", "port": 8000, "port_changeable": true, "file_dialog": true})
    );
    let (status, _, body) = send(
        &h.app,
        json_request("PUT", "/api/host/port", &json!({"port": 9001})),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        body,
        json!({"status": "moving", "url": "http://127.0.0.1:9001/"})
    );
    for (port, expected) in [
        (json!(80), StatusCode::BAD_REQUEST),
        (json!(8000), StatusCode::BAD_REQUEST),
        (json!(9999), StatusCode::CONFLICT),
        (json!("nine"), StatusCode::UNPROCESSABLE_ENTITY),
        (json!(70000), StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let (status, _, body) = send(
            &h.app,
            json_request("PUT", "/api/host/port", &json!({"port": port})),
        )
        .await;
        assert_eq!(status, expected, "{port}: {body}");
        assert!(body["error"].is_string(), "{body}");
    }
    let mut foreign = json_request("PUT", "/api/host/port", &json!({"port": 9002}));
    foreign
        .headers_mut()
        .insert(header::ORIGIN, "https://evil.example".parse().unwrap());
    let (status, _, _) = send(&h.app, foreign).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(*host.moved_to.lock().unwrap(), vec![9001]);
}

/// Polls import job `job` until it leaves `running` and `choosing`.
async fn job_outcome(app: &Router, job: u64) -> Value {
    for _ in 0..300 {
        let (status, _, body) = send(app, get(&format!("/api/imports/jobs/{job}"))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if !matches!(body["status"].as_str(), Some("running" | "choosing")) {
            return body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("import job {job} did not end");
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_picked_in_the_hosts_file_dialog_are_imported_as_a_job() {
    let h = harness(None);
    let options = json!({"site_id": "dialog.test", "format": "combined"});
    // `mallard serve` has no window to show a dialog in.
    let (status, _, body) = send(
        &h.app,
        json_request("POST", "/api/host/import-logs", &options),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("mallard import logs")
    );

    let log = h._dir.path().join("access.log");
    let line = |ip: &str, path: &str, status: u16| {
        format!(
            "{ip} - - [03/Nov/2026:10:00:00 +0000] \"GET {path} HTTP/1.1\" {status} 100 \"-\" \
             \"Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Gecko/20100101 Firefox/130.0\"\n"
        )
    };
    let text = [
        line("81.2.69.160", "/", 200),
        line("81.2.69.161", "/about", 200),
        line("81.2.69.162", "/missing", 404),
        "not a log line\n".to_owned(),
    ]
    .concat();
    std::fs::write(&log, text).unwrap();
    let host = Arc::new(FakeHost::default());
    *host.dialog_answers.lock().unwrap() =
        vec![None, Some(vec![log.clone()]), Some(vec![log.clone()])];
    h.state.host.set(host.clone()).unwrap();

    // Closing the dialog imports nothing.
    let (status, _, body) = send(
        &h.app,
        json_request("POST", "/api/host/import-logs", &options),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let dismissed = job_outcome(&h.app, body["job"].as_u64().unwrap()).await;
    assert_eq!(dismissed["status"], "dismissed");

    // Choosing a file imports it.
    let (status, _, body) = send(
        &h.app,
        json_request("POST", "/api/host/import-logs", &options),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let job = body["job"].as_u64().unwrap();
    let done = job_outcome(&h.app, job).await;
    assert_eq!(done["status"], "finished", "{done}");
    assert_eq!(done["counts"]["lines"], 4);
    assert_eq!(done["counts"]["imported"], 2);
    assert_eq!(done["counts"]["unparsed"], 1);
    assert_eq!(done["counts"]["skipped"]["error status"], 1, "{done}");
    assert_eq!(done["counts"]["first_event_at"], "2026-11-03T10:00:00Z");
    assert_eq!(done["files"][0]["outcome"], "read");
    let (_, _, imports) = send(&h.app, get("/api/imports")).await;
    assert_eq!(imports[0]["id"], done["import_id"]);
    assert_eq!(imports[0]["site_id"], "dialog.test");

    // An ended job cannot be stopped; an unknown one is not found.
    let (status, _, body) = send(
        &h.app,
        json_request("DELETE", &format!("/api/imports/jobs/{job}"), &json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, _, _) = send(
        &h.app,
        json_request("DELETE", "/api/imports/jobs/999", &json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Cancelled while the dialog is open: nothing is imported, even though
    // files were chosen in the end.
    let (_, _, body) = send(
        &h.app,
        json_request("POST", "/api/host/import-logs", &options),
    )
    .await;
    let job = body["job"].as_u64().unwrap();
    let (status, _, body) = send(
        &h.app,
        json_request("DELETE", &format!("/api/imports/jobs/{job}"), &json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body, json!({"job": job, "status": "stopping"}));
    assert_eq!(job_outcome(&h.app, job).await["status"], "dismissed");
    let (_, _, imports) = send(&h.app, get("/api/imports")).await;
    assert_eq!(imports.as_array().unwrap().len(), 1, "{imports}");

    // Bad options are refused before any dialog shows; so is another origin.
    for bad in [
        json!({"site_id": ""}),
        json!({"site_id": "dialog.test", "format": "nginx-ish"}),
        json!({"site_id": "dialog.test", "exclude": ["re:("]}),
        json!({"site_id": "dialog.test", "files": ["/etc/passwd"]}),
    ] {
        let (status, _, body) =
            send(&h.app, json_request("POST", "/api/host/import-logs", &bad)).await;
        assert!(status.is_client_error(), "{bad}: {status}");
        assert!(body["error"].is_string(), "{body}");
    }
    let mut foreign = json_request("POST", "/api/host/import-logs", &options);
    foreign
        .headers_mut()
        .insert(header::ORIGIN, "https://evil.example".parse().unwrap());
    let (status, _, _) = send(&h.app, foreign).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        host.dialog_answers.lock().unwrap().is_empty(),
        "no dialog for refused requests"
    );
}
