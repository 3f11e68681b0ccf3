//! End-to-end tests of the server's life: start-up refusals with clear
//! messages, graceful shutdown, and files it must never touch.

use std::net::TcpListener;

use mallard_e2e::{Server, TestHome, client, pageview};
use reqwest::StatusCode;

#[test]
fn a_second_instance_on_the_same_data_directory_is_refused() {
    let home = TestHome::new();
    let _first = Server::start(&home, &[]);
    let output = home
        .command()
        .args(["serve", "--port", "0", "--data-dir"])
        .arg(home.data_dir())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("in use by another Mallard Metrics process"),
        "{stderr}"
    );
}

#[test]
fn a_port_in_use_is_named_with_how_to_change_it() {
    let home = TestHome::new();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let output = home
        .command()
        .args(["serve", "--port", &port, "--data-dir"])
        .arg(home.data_dir())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("port {port}")) && stderr.contains("--port"),
        "{stderr}"
    );
}

#[test]
fn a_bad_config_file_stops_start_up_naming_the_field() {
    let home = TestHome::new();
    let config = home.path().join("config.toml");
    std::fs::write(&config, "port = 8000\nfilter_bot = true\n").unwrap();
    let output = home
        .command()
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("filter_bot"), "{stderr}");
    let output = home
        .command()
        .args(["serve", "--data-dir"])
        .arg(home.data_dir())
        .env("MALLARD_PORT", "not-a-port")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("MALLARD_PORT"));
}

#[test]
fn the_config_file_in_the_user_config_directory_is_read() {
    let home = TestHome::new();
    let dir = home.path().join("xdg-config/mallard-metrics");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.toml"), "site_ids = [\"only.test\"]\n").unwrap();
    let server = Server::start(&home, &[]);
    let response = client()
        .post(server.url("/api/event"))
        .json(&pageview("other.test", "/"))
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[test]
fn sigterm_commits_everything_accepted_and_exits_zero() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    let http = client();
    for i in 0..50 {
        let response = http
            .post(server.url("/api/event"))
            .json(&pageview("g.test", &format!("/{i}")))
            .send()
            .unwrap();
        assert_eq!(response.status(), StatusCode::ACCEPTED);
    }
    let (status, stderr) = server.terminate();
    assert!(status.success(), "exit {status}: {stderr}");
    assert_eq!(home.read(|db| db.event_count("g.test")), 50);
    assert!(home.read(|db| db.integrity_problems()).is_empty());
}

#[test]
fn a_corrupt_database_is_refused_and_left_untouched() {
    let home = TestHome::new();
    std::fs::create_dir_all(home.data_dir()).unwrap();
    let db = home.data_dir().join("mallard.db");
    let garbage = b"definitely not SQLite, but somebody's precious file".repeat(100);
    std::fs::write(&db, &garbage).unwrap();
    let error = Server::try_start(&home, &[], &[])
        .err()
        .expect("refused")
        .to_string();
    assert!(
        error.contains("corrupt") && error.contains("untouched"),
        "{error}"
    );
    assert_eq!(std::fs::read(&db).unwrap(), garbage);
}

#[test]
fn a_database_from_a_newer_version_is_refused_and_left_untouched() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    server.terminate();
    let db = home.data_dir().join("mallard.db");
    let sqlite = std::process::Command::new("sqlite3")
        .arg(&db)
        .arg("PRAGMA user_version = 99;")
        .status();
    if !sqlite.is_ok_and(|s| s.success()) {
        // Without the sqlite3 tool, bump the version through the header bytes
        // (offset 60, big-endian), which is where SQLite keeps user_version.
        let mut bytes = std::fs::read(&db).unwrap();
        bytes[60..64].copy_from_slice(&99u32.to_be_bytes());
        std::fs::write(&db, bytes).unwrap();
    }
    let before = std::fs::read(&db).unwrap();
    let error = Server::try_start(&home, &[], &[])
        .err()
        .expect("refused")
        .to_string();
    assert!(
        error.contains("newer") && error.contains("upgrade"),
        "{error}"
    );
    assert_eq!(std::fs::read(&db).unwrap(), before);
}

#[test]
fn retention_deletes_data_older_than_the_configured_days() {
    let home = TestHome::new();
    home.seed("old.test", 3_000, 20);
    let before = home.read(|db| db.event_count("old.test"));
    assert!(before >= 2900);
    let server = Server::start(&home, &[("MALLARD_RETENTION_DAYS", "7")]);
    // Retention runs at start; wait until the oldest event is inside the window.
    let week_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        - 7 * 86_400_000;
    let mut done = false;
    for _ in 0..100 {
        let text = client()
            .get(server.url("/metrics"))
            .send()
            .unwrap()
            .text()
            .unwrap();
        if text.contains("mallard_retention_deleted_rows_total") {
            done = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(done, "retention did not run");
    server.terminate();
    let after = home.read(|db| db.event_count("old.test"));
    let oldest = home.read(|db| db.oldest_event_ms("old.test")).unwrap();
    assert!(after < before && after > 0, "{before} -> {after}");
    assert!(
        oldest >= week_ago - 60_000,
        "an event older than 7 days survived"
    );
}

#[test]
fn seed_writes_exactly_the_requested_number_of_events_deterministically() {
    let seed = |home: &TestHome| {
        let output = home
            .command()
            .args([
                "seed",
                "--site",
                "seed.test",
                "--events",
                "5000",
                "--days",
                "3",
                "--seed",
                "7",
                "--data-dir",
            ])
            .arg(home.data_dir())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        home.read(|db| {
            Ok((
                db.event_count("seed.test")?,
                db.visit_count("seed.test")?,
                db.pageview_paths("seed.test")?,
            ))
        })
    };
    let (events, visits, paths) = seed(&TestHome::new());
    assert_eq!(events, 5000);
    assert!(visits > 500 && visits < 4000, "{visits} visits");
    let distinct: std::collections::HashSet<_> = paths.iter().collect();
    assert!(distinct.len() > 100, "pages are varied");
    assert_eq!(
        seed(&TestHome::new()).2,
        paths,
        "the same seed gives the same data"
    );
}
