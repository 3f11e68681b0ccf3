//! `mallard check` (issue 14): it never writes to the database it checks (not
//! even after a crash left a WAL behind), it compares the stats rollups with a
//! recomputation from the stored rows and reports differences, and
//! `mallard check --repair` rebuilds them, refused while a server runs.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;
use std::process::Output;
use std::time::SystemTime;

use mallard_e2e::{Server, TestHome, client, json_of, pageview};
use mallard_store::{Store, StoreOptions};
use reqwest::StatusCode;

const SITE: &str = "check.test";

/// Every file of the data directory: its length, modification time and a
/// hash of its content.
type Snapshot = BTreeMap<String, (u64, SystemTime, u64)>;

fn snapshot(dir: &Path) -> Snapshot {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            let mut hasher = DefaultHasher::new();
            std::fs::read(entry.path()).unwrap().hash(&mut hasher);
            let content = hasher.finish();
            (
                entry.file_name().to_string_lossy().into_owned(),
                (meta.len(), meta.modified().unwrap(), content),
            )
        })
        .collect()
}

/// The snapshot without the `-shm` file's content (the WAL index, which any
/// reader may rebuild; it holds no data), keeping that it exists.
fn data_files(mut snapshot: Snapshot) -> Snapshot {
    if let Some(shm) = snapshot.get_mut("mallard.db-shm") {
        *shm = (0, SystemTime::UNIX_EPOCH, 0);
    }
    snapshot
}

fn ingest(server: &Server, count: usize) {
    let http = client();
    for i in 0..count {
        let response = http
            .post(server.url("/api/event"))
            .json(&pageview(SITE, &format!("/page/{}", i % 5)))
            .send()
            .unwrap();
        assert_eq!(response.status(), StatusCode::ACCEPTED);
    }
}

fn check(home: &TestHome, extra: &[&str]) -> Output {
    home.command()
        .arg("check")
        .args(extra)
        .arg("--data-dir")
        .arg(home.data_dir())
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn check_writes_nothing_after_a_clean_stop_or_a_kill_9() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    ingest(&server, 20);
    server.stop();
    let before = data_files(snapshot(&home.data_dir()));
    let output = check(&home, &[]);
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        text(&output).contains("ok: 1 site(s): check.test"),
        "{}",
        text(&output)
    );
    assert_eq!(
        data_files(snapshot(&home.data_dir())),
        before,
        "check left the data directory exactly as it was"
    );

    // After a crash the WAL holds committed pages and the rollups wait for
    // their rebuild: check reads them and still writes nothing.
    let server = Server::start(&home, &[]);
    ingest(&server, 20);
    server.kill9();
    let before = data_files(snapshot(&home.data_dir()));
    assert!(
        before.contains_key("mallard.db-wal"),
        "the kill left a WAL: {:?}",
        before.keys()
    );
    let output = check(&home, &[]);
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(
        data_files(snapshot(&home.data_dir())),
        before,
        "check after a kill -9 wrote neither the database nor its WAL"
    );
}

#[test]
fn check_reports_rollups_that_differ_from_the_rows_and_repair_rebuilds_them() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    ingest(&server, 30);
    server.stop();
    let output = check(&home, &[]);
    assert!(output.status.success(), "{}", text(&output));

    // Rollups that lost some counts, as after the full-disk bug of issue 14.
    let store = Store::open(&home.data_dir(), StoreOptions::default()).unwrap();
    let changed = store
        .writer()
        .run_blocking(|conn| {
            Ok(conn.execute(
                "UPDATE rollup_hours SET pageviews = pageviews + 7, events = events + 7 \
                 WHERE rowid = (SELECT min(rowid) FROM rollup_hours)",
                [],
            )?)
        })
        .unwrap();
    assert_eq!(changed, 1);
    store.close();

    let output = check(&home, &[]);
    assert!(!output.status.success(), "{}", text(&output));
    let report = text(&output);
    assert!(
        report.contains("stats rollups differ") && report.contains("--repair"),
        "{report}"
    );
    assert!(
        report.contains(": hour ") && report.contains("pageviews stored "),
        "{report}"
    );

    let output = check(&home, &["--repair"]);
    assert!(output.status.success(), "{}", text(&output));
    assert!(text(&output).contains("repaired"), "{}", text(&output));
    let output = check(&home, &[]);
    assert!(output.status.success(), "{}", text(&output));

    let server = Server::start(&home, &[]);
    let response = client()
        .get(server.url(&format!("/api/stats/main?site_id={SITE}&period=all")))
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let stats = json_of(response);
    assert_eq!(stats["total_pageviews"], 30, "{stats}");
    assert_eq!(stats["total_events"], 30, "{stats}");
}

#[test]
fn check_and_repair_are_refused_while_a_server_runs() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    ingest(&server, 3);
    for extra in [&[][..], &["--repair"][..]] {
        let output = check(&home, extra);
        assert!(!output.status.success(), "{extra:?}: {}", text(&output));
        assert!(
            text(&output).contains("in use by another Mallard Metrics process"),
            "{extra:?}: {}",
            text(&output)
        );
    }
    server.stop();
}
