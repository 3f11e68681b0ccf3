//! End-to-end tests of backups and restores: a backup taken while events
//! pour in restores to exactly the events acknowledged before it (and none
//! that were never sent), even after the server is killed; automatic
//! backups are taken, kept and listed; a restore refuses a running server
//! unless asked to stop it; a failing backup is reported.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use mallard_e2e::{BROWSER_UA, Server, TestHome, client, json_of, pageview, succeeded};
use reqwest::StatusCode;
use serde_json::json;

const SITE: &str = "backup.test";

/// The page paths stored for the site, read through a server on `home`.
fn stored_paths(home: &TestHome) -> BTreeSet<String> {
    let server = Server::start(home, &[]);
    let rows = json_of(
        client()
            .get(server.url(&format!(
                "/api/stats/breakdown/pages?site_id={SITE}&period=7d&limit=1000"
            )))
            .send()
            .unwrap(),
    );
    server.terminate();
    rows.as_array()
        .unwrap()
        .iter()
        .map(|row| {
            assert_eq!(row["pageviews"], 1, "each path was sent once: {row}");
            row["value"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[test]
fn a_backup_under_load_restores_to_exactly_the_acknowledged_events() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    let acknowledged = Arc::new(Mutex::new(BTreeSet::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let url = server.url("/api/event");
    let senders: Vec<_> = (0..2)
        .map(|sender| {
            let (acknowledged, stop, url) =
                (Arc::clone(&acknowledged), Arc::clone(&stop), url.clone());
            std::thread::spawn(move || {
                let http = client();
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let path = format!("/s{sender}/{n}");
                    n += 1;
                    let sent = http
                        .post(&url)
                        .header("user-agent", BROWSER_UA)
                        .json(&pageview(SITE, &path))
                        .send();
                    if sent.is_ok_and(|r| r.status() == StatusCode::ACCEPTED) {
                        acknowledged.lock().unwrap().insert(path);
                    }
                }
                n
            })
        })
        .collect();
    // Let events pour in, then back up while they still do.
    while acknowledged.lock().unwrap().len() < 200 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let file = home.path().join("copy.db");
    let before: BTreeSet<String> = acknowledged.lock().unwrap().clone();
    let out = succeeded(&home.run(&["backup", "--to", file.to_str().unwrap()]));
    assert!(out.contains("checked"), "{out}");
    let after: BTreeSet<String> = acknowledged.lock().unwrap().clone();
    // More events after the backup, then the server dies without a goodbye.
    std::thread::sleep(std::time::Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    let sent: usize = senders.into_iter().map(|s| s.join().unwrap()).sum();
    server.kill9();

    // The backup restored into a fresh install.
    let fresh = TestHome::new();
    succeeded(&fresh.run(&["restore", file.to_str().unwrap()]));
    let restored = stored_paths(&fresh);
    assert!(
        before.is_subset(&restored),
        "{} events acknowledged before the backup are missing",
        before.difference(&restored).count()
    );
    assert!(
        restored.len() <= after.len() + 2,
        "the backup holds {} events, {} were acknowledged by its end",
        restored.len(),
        after.len()
    );
    assert!(
        restored.len() < sent,
        "events sent after the backup are not in it"
    );

    // Restored over the killed install, which is kept beside it.
    succeeded(&home.run(&["restore", file.to_str().unwrap()]));
    assert!(home.data_dir().join("mallard.db.before-restore").exists());
    assert_eq!(stored_paths(&home), restored);
}

#[test]
fn automatic_backups_are_taken_kept_and_listed() {
    let home = TestHome::new();
    let server = Server::start(
        &home,
        &[
            ("MALLARD_BACKUP_EVERY", "hourly"),
            ("MALLARD_BACKUP_KEEP", "2"),
            ("MALLARD_BACKUP_CHECK_SECS", "1"),
        ],
    );
    let http = client();
    let list = || json_of(http.get(server.url("/api/backups")).send().unwrap());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let first = loop {
        let listed = list();
        if listed["files"].as_array().is_some_and(|f| !f.is_empty()) {
            break listed;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no automatic backup: {listed}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(first["every"], "hourly");
    assert_eq!(first["keep"], 2);
    let dir = home.data_dir().join("backups");
    assert_eq!(first["dir"], dir.to_str().unwrap());
    // Not due again within the hour: still one after a few more checks.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert_eq!(list()["files"].as_array().unwrap().len(), 1);

    // Asked for: each a new file, the oldest beyond two deleted.
    for _ in 0..2 {
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let taken = http
            .post(server.url("/api/backups"))
            .json(&json!({}))
            .send()
            .unwrap();
        assert_eq!(taken.status(), StatusCode::CREATED);
        let record = json_of(taken);
        assert!(record["bytes"].as_u64().unwrap() > 0, "{record}");
    }
    let listed = list();
    assert_eq!(listed["files"].as_array().unwrap().len(), 2, "{listed}");
    assert!(
        listed["last"]["backup"]["path"]
            .as_str()
            .unwrap()
            .starts_with(dir.to_str().unwrap())
    );
    assert_eq!(listed["last"]["automatic"], false);
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);

    // A file named by the request must be absolute.
    let relative = http
        .post(server.url("/api/backups"))
        .json(&json!({"to": "copy.db"}))
        .send()
        .unwrap();
    assert_eq!(relative.status(), StatusCode::BAD_REQUEST);
    assert!(
        json_of(relative)["error"]
            .as_str()
            .unwrap()
            .contains("absolute")
    );
}

#[test]
fn a_failed_backup_is_reported_and_listed() {
    let home = TestHome::new();
    let blocker = home.path().join("not-a-directory");
    std::fs::write(&blocker, b"a file where the backup directory should be").unwrap();
    let dir = blocker.join("backups");
    let server = Server::start(&home, &[("MALLARD_BACKUP_DIR", dir.to_str().unwrap())]);
    let http = client();
    let failed = http
        .post(server.url("/api/backups"))
        .json(&json!({}))
        .send()
        .unwrap();
    assert_eq!(failed.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        json_of(failed)["error"]
            .as_str()
            .unwrap()
            .starts_with("The backup failed")
    );
    let listed = json_of(http.get(server.url("/api/backups")).send().unwrap());
    assert!(listed["last"]["error"].is_string(), "{listed}");
    assert!(listed["last"]["backup"].is_null(), "{listed}");
    assert!(
        listed["files_error"]
            .as_str()
            .unwrap()
            .contains("Cannot list"),
        "{listed}"
    );
}

#[test]
fn a_restore_refuses_a_running_server_unless_asked_to_stop_it() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    let sent = client()
        .post(server.url("/api/event"))
        .header("user-agent", BROWSER_UA)
        .json(&pageview(SITE, "/kept"))
        .send()
        .unwrap();
    assert_eq!(sent.status(), StatusCode::ACCEPTED);
    let file = home.path().join("copy.db");
    succeeded(&home.run(&["backup", "--to", file.to_str().unwrap()]));
    let refused = home.run(&["restore", file.to_str().unwrap()]);
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(
        message.contains("--stop") && message.contains(&server.pid().to_string()),
        "{message}"
    );
    let out = succeeded(&home.run(&["restore", "--stop", file.to_str().unwrap()]));
    assert!(out.contains("before-restore"), "{out}");
    let (status, _) = server.terminate();
    assert!(status.success(), "the server stopped cleanly: {status}");
    assert_eq!(stored_paths(&home), BTreeSet::from(["/kept".to_owned()]));

    // Not a backup: refused, nothing replaced.
    let junk = home.path().join("junk.db");
    std::fs::write(&junk, b"junk").unwrap();
    let refused = home.run(&["restore", junk.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert_eq!(stored_paths(&home), BTreeSet::from(["/kept".to_owned()]));
}
