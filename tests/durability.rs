//! The durability promise, tested the hard way: `kill -9` under concurrent load
//! loses no acknowledged event.

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

#[test]
fn visitor_sketches_lost_in_a_crash_are_rebuilt_from_the_events_at_start() {
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

    // What a crash leaves behind: events committed, sketches only in memory.
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
