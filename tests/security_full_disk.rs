//! A full disk under the real server (issue 14, "a full disk corrupts the
//! stats" and "acknowledged, then lost, after a failed commit"): the data
//! directory is a small tmpfs, filled until writes fail. Events answered 503
//! are retried with the same collector ids while the disk is full and after
//! space is freed. Every event is then stored exactly once, and the stats
//! equal the stored rows (and `mallard check` finds no rollup difference).
//!
//! Mounting needs root, as in CI; a failed mount fails the test (it never
//! passes without running).

#[path = "collector_common.rs"]
mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::now_ms;
use mallard_e2e::tmpfs::Tmpfs;
use mallard_e2e::{Server, TestHome, client, json_of};
use reqwest::StatusCode;
use serde_json::{Value, json};

const SITE: &str = "full-disk.test";
const TMPFS_MB: u64 = 12;
/// Free space left beside the filler file once the server runs.
const LEFT_FREE: u64 = 3 * 1024 * 1024;

/// Events sent: their id numbers and timestamps.
type Sent = Vec<(u64, i64)>;

/// A collector event with id number `n`, from one of a few visitors.
fn collector_event(n: u64, ts: i64) -> Value {
    json!({
        "id": format!("00000000-0000-4000-9000-{n:012}"),
        "site_id": SITE,
        "anon_id": format!("anon-{}", n % 7),
        "type": if n.is_multiple_of(4) { "signup_clicked" } else { "pageview" },
        "url": format!("https://{SITE}/page/{}", n % 13),
        "ts": ts,
        "props": {"note": format!("{n}-{}", "n".repeat(300))},
    })
}

fn send(url: &str, http: &reqwest::blocking::Client, body: &Value) -> StatusCode {
    let response = http
        .post(url)
        .bearer_auth(SITE)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .unwrap();
    let status = response.status();
    if status != StatusCode::ACCEPTED {
        let body = json_of(response);
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "a full disk answers 503, never another failure: {body}"
        );
        assert!(body["error"]["code"].is_string(), "{body}");
    }
    status
}

#[test]
fn events_retried_through_a_full_disk_are_stored_once_and_stats_match_the_rows() {
    let home = TestHome::new();
    let tmpfs = Tmpfs::mount(&home.data_dir(), TMPFS_MB);
    // The test's own traffic is one client IP; the per-IP gate is not tested here.
    let server = Server::start(
        &home,
        &[
            ("RATE_LIMIT_IP_RPS", "1000000"),
            ("RATE_LIMIT_IP_BURST", "1000000"),
        ],
    );
    let http = client();
    let url = server.url("/events");
    let filler = tmpfs.dir().join("filler");
    let room = tmpfs.available().saturating_sub(LEFT_FREE);
    std::fs::write(&filler, vec![0u8; usize::try_from(room).unwrap()]).unwrap();

    // Four clients send new events until the disk has refused plenty.
    let next = AtomicU64::new(1);
    let deadline = Instant::now() + Duration::from_secs(180);
    let results: Vec<(Sent, Sent)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    let (mut acked, mut refused) = (Vec::new(), Vec::new());
                    while refused.len() < 40 && Instant::now() < deadline {
                        let n = next.fetch_add(1, Ordering::Relaxed);
                        let ts = now_ms();
                        match send(&url, &http, &collector_event(n, ts)) {
                            StatusCode::ACCEPTED => acked.push((n, ts)),
                            _ => refused.push((n, ts)),
                        }
                    }
                    (acked, refused)
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let mut acked: BTreeSet<u64> = BTreeSet::new();
    let mut refused = Vec::new();
    for (ok, failed) in results {
        acked.extend(ok.iter().map(|(n, _)| *n));
        refused.extend(failed);
    }
    assert!(
        refused.len() >= 100,
        "the disk never filled up: {} refused",
        refused.len()
    );
    assert!(
        !acked.is_empty(),
        "nothing was stored before the disk filled"
    );
    eprintln!(
        "disk full: {} events acknowledged, {} refused",
        acked.len(),
        refused.len()
    );

    // Retries of the same ids while the disk is still full: still 503.
    for (n, ts) in refused.iter().take(20) {
        if send(&url, &http, &collector_event(*n, *ts)) == StatusCode::ACCEPTED {
            acked.insert(*n);
        }
    }
    std::fs::remove_file(&filler).unwrap();

    // With room again, every refused event is retried until it is accepted.
    for (n, ts) in &refused {
        let retry_deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if send(&url, &http, &collector_event(*n, *ts)) == StatusCode::ACCEPTED {
                acked.insert(*n);
                break;
            }
            assert!(
                Instant::now() < retry_deadline,
                "event {n} still refused 30 s after space was freed"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    // A few acknowledged ones again: duplicates, accepted and not stored.
    for n in acked.iter().take(10) {
        let ts = now_ms();
        assert_eq!(
            send(&url, &http, &collector_event(*n, ts)),
            StatusCode::ACCEPTED
        );
    }

    let response = client()
        .get(server.url(&format!("/api/stats/main?site_id={SITE}&period=all")))
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let stats = json_of(response);
    server.stop();

    let check = home
        .command()
        .args(["check", "--data-dir"])
        .arg(home.data_dir())
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "mallard check: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    let (events, visits, pageviews) = home.read(|db| {
        let conn = db.connection();
        let pageviews: i64 = conn.query_row(
            "SELECT count(*) FROM events e JOIN dims d ON d.id = e.name AND d.value = 'pageview'",
            [],
            |r| r.get(0),
        )?;
        Ok((db.event_count(SITE)?, db.visit_count(SITE)?, pageviews))
    });
    assert_eq!(
        events,
        acked.len() as u64,
        "every acknowledged event is stored exactly once"
    );
    assert_eq!(stats["total_events"], events, "{stats}");
    assert_eq!(stats["total_pageviews"], pageviews, "{stats}");
    assert_eq!(stats["visits"], visits, "{stats}");

    drop(tmpfs);
}
