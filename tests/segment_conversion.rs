//! An upgraded database converts its closed days to day segments while the
//! server runs (`crates/mallard-store/src/visit_paths.rs`: a database
//! written before day segments, or before migration 013, holds its days as
//! rows), and `kill -9` at random moments of the conversion loses nothing:
//! packing a day and deleting its rows are one transaction of the writer.

use std::time::{Duration, Instant};

use mallard_e2e::{Server, TestHome, client, json_of, pageview};
use mallard_store::reader::ReadPool;
use reqwest::StatusCode;
use rusqlite::Connection;

const SITE: &str = "convert.test";
/// Live events go to another site, so that the seeded site's answers stay put.
const LIVE_SITE: &str = "live.test";

fn database(home: &TestHome) -> Connection {
    Connection::open(home.data_dir().join("mallard.db")).expect("open the database")
}

fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).expect(sql)
}

/// Days of the seeded site in the current segment format (part 10 marks
/// it), and in any format.
fn converted(home: &TestHome) -> (i64, i64) {
    let conn = database(home);
    let current = count(
        &conn,
        "SELECT count(*) FROM day_segments WHERE part = 10 AND site_id = \
         (SELECT id FROM sites WHERE domain = 'convert.test')",
    );
    let packed = count(
        &conn,
        "SELECT count(DISTINCT day) FROM day_segments WHERE site_id = \
         (SELECT id FROM sites WHERE domain = 'convert.test')",
    );
    (current, packed)
}

/// The events stored for both sites, wherever their days are kept (read
/// without taking the data directory's lock).
fn stored_events(home: &TestHome) -> u64 {
    ReadPool::new(&home.data_dir().join("mallard.db"))
        .with(|db| Ok(db.event_count(SITE)? + db.event_count(LIVE_SITE)?))
        .expect("count the events")
}

/// The seeded site's answers that read packed days (sequences, over the
/// segments' codes) and rollups (main).
fn answers(server: &Server) -> (serde_json::Value, serde_json::Value) {
    let http = client();
    let get = |path: &str| {
        let response = http.get(server.url(path)).send().expect("stats request");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        json_of(response)
    };
    (
        get(&format!("/api/stats/main?site_id={SITE}&period=all")),
        get(&format!(
            "/api/stats/paths?site_id={SITE}&period=all&length=2&limit=50"
        )),
    )
}

/// A small deterministic generator (xorshift), seeded from the clock and
/// printed, so that a failing run can be told apart.
struct Random(u64);

impl Random {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

#[test]
fn kill_9_during_the_conversion_of_days_kept_as_rows_loses_nothing() {
    let home = TestHome::new();
    // What a database written before day segments holds: every day as rows
    // (days packed in an earlier format kept their rows too, and convert
    // the same way).
    let seeded = home
        .command()
        .args(["seed", "--rows-only", "--data-dir"])
        .arg(home.data_dir())
        .args(["--site", SITE, "--events", "60000", "--days", "40"])
        .status()
        .expect("mallard seed runs");
    assert!(seeded.success());
    assert_eq!(converted(&home), (0, 0), "nothing is packed yet");
    let events = stored_events(&home);
    let rows = count(&database(&home), "SELECT count(*) FROM events");
    assert_eq!(rows as u64, events);
    // The days that are surely closed: all but the newest two.
    let old_days = count(
        &database(&home),
        "SELECT count(*) FROM visit_days WHERE site_id = \
         (SELECT id FROM sites WHERE domain = 'convert.test') \
         AND day < (SELECT max(day) FROM visit_days) - 1",
    );
    assert!(old_days >= 35, "{old_days} closed days");

    // The answers read from the rows (no day is in the new format yet).
    let server = Server::start(&home, &[]);
    let expected = answers(&server);
    server.kill9();

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    println!("random seed {seed}");
    let mut random = Random(seed);
    let http = client();
    let mut live_acked = 0;
    let mut kills = 0;
    let started = Instant::now();
    loop {
        let (current, _) = converted(&home);
        if current >= old_days || started.elapsed() > Duration::from_secs(240) {
            break;
        }
        let server = Server::start(&home, &[]);
        let response = http
            .post(server.url("/api/event"))
            .json(&pageview(LIVE_SITE, &format!("/kill-{kills}")))
            .send()
            .expect("ingest");
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        live_acked += 1;
        // Anywhere in the first moments: between ticks, while packing, while
        // committing (an idle server packs steadily).
        std::thread::sleep(Duration::from_millis(random.below(700)));
        server.kill9();
        kills += 1;
    }
    assert!(kills >= 3, "the conversion ended after {kills} kill(s)");

    // The last start finishes the conversion; nothing was lost or doubled.
    let server = Server::start(&home, &[]);
    let deadline = Instant::now() + Duration::from_secs(120);
    while converted(&home).0 < old_days {
        assert!(Instant::now() < deadline, "the conversion did not finish");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (current, packed) = converted(&home);
    assert_eq!(current, packed, "every packed day is in the new format");
    assert_eq!(answers(&server), expected);
    assert!(server.terminate().0.success());
    assert_eq!(stored_events(&home), events + live_acked, "{kills} kills");
    // A packed day is stored once: its rows are gone.
    let rows = count(&database(&home), "SELECT count(*) FROM events") as u64;
    assert!(
        rows < events / 2,
        "{rows} of {events} events are still rows"
    );
    let check = home
        .command()
        .args(["check", "--data-dir"])
        .arg(home.data_dir())
        .output()
        .expect("mallard check runs");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}
