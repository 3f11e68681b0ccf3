//! The durability promise, tested the hard way: `kill -9` under concurrent load
//! loses no acknowledged event, and the stats rollups the writer held in memory
//! at the kill are rebuilt from the stored events at the next start.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mallard_e2e::{Server, TestHome, client, pageview};
use reqwest::StatusCode;

const CLIENTS: usize = 16;
const TARGET_ACKS: usize = 20_000;

#[test]
fn kill_9_under_concurrent_load_loses_no_acknowledged_event() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    let url = server.url("/api/event");
    let stop = Arc::new(AtomicBool::new(false));
    let acked_total = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..CLIENTS)
        .map(|worker| {
            let (url, stop, acked_total) =
                (url.clone(), Arc::clone(&stop), Arc::clone(&acked_total));
            std::thread::spawn(move || {
                let http = client();
                let mut acked = Vec::new();
                let deadline = Instant::now() + Duration::from_secs(240);
                for i in 0.. {
                    if stop.load(Ordering::Relaxed) || Instant::now() > deadline {
                        break;
                    }
                    let path = format!("/w{worker}/e{i}");
                    match http
                        .post(&url)
                        .json(&pageview("durable.test", &path))
                        .send()
                    {
                        Ok(response) if response.status() == StatusCode::ACCEPTED => {
                            acked.push(path);
                            acked_total.fetch_add(1, Ordering::Relaxed);
                        }
                        // Once the server is killed, requests fail: they were
                        // never acknowledged, so they may or may not be stored.
                        _ => break,
                    }
                }
                acked
            })
        })
        .collect();
    let started = Instant::now();
    while acked_total.load(Ordering::Relaxed) < TARGET_ACKS
        && started.elapsed() < Duration::from_secs(240)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    // Kill while every client still has requests in flight.
    server.kill9();
    stop.store(true, Ordering::Relaxed);
    let acked: Vec<String> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    assert!(
        acked.len() >= TARGET_ACKS,
        "only {} events acknowledged",
        acked.len()
    );

    // The OS released the lock with the process; a restart opens the same file.
    let restarted = Server::start(&home, &[]);
    restarted.terminate();
    assert!(
        home.read(|db| db.integrity_problems()).is_empty(),
        "integrity_check failed"
    );
    let stored: HashSet<String> = home
        .read(|db| db.pageview_paths("durable.test"))
        .into_iter()
        .collect();
    let lost: Vec<_> = acked
        .iter()
        .filter(|path| !stored.contains(*path))
        .take(10)
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged events lost, e.g. {lost:?}",
        lost.len(),
        acked.len()
    );
}

/// How many days the stopped server at `home` left listed as dirty, and how
/// many page views its stored rollups count.
fn rollups_left(home: &TestHome) -> (u32, u32) {
    let output = std::process::Command::new("sqlite3")
        .arg(home.data_dir().join("mallard.db"))
        .arg(
            "SELECT (SELECT count(*) FROM rollup_dirty_days) || ' ' || \
             (SELECT coalesce(sum(pageviews), 0) FROM rollup_days WHERE kind = 0);",
        )
        .output()
        .expect("this test needs the sqlite3 tool (.ci/run installs it)");
    let text = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let (dirty_days, counted) = text.split_once(' ').expect("two numbers");
    (dirty_days.parse().unwrap(), counted.parse().unwrap())
}

/// Posts a page view of `path` by a visitor of its own.
fn post_visit(http: &reqwest::blocking::Client, server: &Server, visitor: usize, path: &str) {
    let response = http
        .post(server.url("/api/event"))
        .header(
            "user-agent",
            format!("{} visitor-{visitor}", mallard_e2e::BROWSER_UA),
        )
        .json(&pageview("rollups.test", path))
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
}

#[test]
fn rollups_held_in_memory_at_a_kill_are_rebuilt_at_start() {
    let http = client();
    // The writer writes its rollups at once for the first batch of a run,
    // then every two seconds: the five posts after the first are committed
    // with their rollups still in memory when the process is killed. A machine
    // so slow that two seconds pass first gets another try.
    let home = (0..5)
        .find_map(|_| {
            let home = TestHome::new();
            let server = Server::start(&home, &[]);
            post_visit(&http, &server, 0, "/");
            for visitor in 1..6 {
                post_visit(&http, &server, visitor, &format!("/page-{}", visitor % 2));
            }
            server.kill9();
            let (dirty_days, counted) = rollups_left(&home);
            (dirty_days >= 1 && counted == 1).then_some(home)
        })
        .expect("today is listed as dirty and only the first page view is counted");

    let restarted = Server::start(&home, &[]);
    let main = mallard_e2e::json_of(
        http.get(restarted.url("/api/stats/main?site_id=rollups.test&period=day"))
            .send()
            .unwrap(),
    );
    assert_eq!(main["total_pageviews"], 6, "{main}");
    assert_eq!(main["unique_visitors"], 6, "{main}");
    assert_eq!(main["visits"], 6, "{main}");
    let pages = mallard_e2e::json_of(
        http.get(restarted.url("/api/stats/breakdown/pages?site_id=rollups.test&period=day"))
            .send()
            .unwrap(),
    );
    let pageviews = |page: &str| {
        pages
            .as_array()
            .unwrap()
            .iter()
            .find(|row| row["value"] == page)
            .map(|row| row["pageviews"].clone())
    };
    assert_eq!(pageviews("/page-0").unwrap(), 2, "{pages}");
    assert_eq!(pageviews("/page-1").unwrap(), 3, "{pages}");
    assert_eq!(pageviews("/").unwrap(), 1, "{pages}");
}

#[test]
fn visitor_sketches_left_behind_by_an_earlier_version_are_rebuilt_at_start() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    let http = client();
    for visitor in 0..3 {
        let response = http
            .post(server.url("/api/event"))
            .header(
                "user-agent",
                format!("{} visitor-{visitor}", mallard_e2e::BROWSER_UA),
            )
            .json(&pageview("sketch.test", "/"))
            .send()
            .unwrap();
        assert_eq!(response.status(), StatusCode::ACCEPTED);
    }
    let visitors = |server: &Server| {
        let main = http
            .get(server.url("/api/stats/main?site_id=sketch.test&period=day"))
            .send()
            .unwrap();
        mallard_e2e::json_of(main)["unique_visitors"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(visitors(&server), 3);
    assert!(server.terminate().0.success());

    // What a crash of a build that wrote only the visitor sketches behind (and
    // kept an event-id mark for them) leaves: events committed, sketches only
    // in memory.
    let wiped = std::process::Command::new("sqlite3")
        .arg(home.data_dir().join("mallard.db"))
        .arg(
            "UPDATE rollup_days SET visitors = NULL; UPDATE rollup_hours SET visitors = NULL; \
             INSERT INTO settings (key, value) VALUES ('sketch_mark_event_id', CAST('0' AS BLOB)) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value;",
        )
        .status()
        .expect("this test needs the sqlite3 tool (.ci/run installs it)");
    assert!(wiped.success());

    let restarted = Server::start(&home, &[]);
    assert_eq!(
        visitors(&restarted),
        3,
        "the sketches were rebuilt from the stored events"
    );
}
