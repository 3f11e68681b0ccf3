//! End-to-end tests of the files the server keeps (issue 14): a damaged or
//! emptied database is refused and left untouched, the data directory and its
//! files are private to their owner, and visitor ids are keyed by random daily
//! salts of which only today's and yesterday's are kept.

use std::path::{Path, PathBuf};

use mallard_e2e::{Server, TestHome, client, pageview};
use reqwest::StatusCode;
use rusqlite::{Connection, OpenFlags};

/// The length of a UTC day in milliseconds.
const MS_PER_DAY: i64 = 86_400_000;

fn database(home: &TestHome) -> PathBuf {
    home.data_dir().join("mallard.db")
}

fn companion(db: &Path, suffix: &str) -> PathBuf {
    let mut path = db.as_os_str().to_owned();
    path.push(suffix);
    PathBuf::from(path)
}

fn today() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    i64::try_from(now).unwrap().div_euclid(MS_PER_DAY)
}

/// Sends one pageview for `site` with the test client's user agent.
fn post_pageview(server: &Server, site: &str) {
    let response = client()
        .post(server.url("/api/event"))
        .json(&pageview(site, "/"))
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
}

/// Opens the stopped server's database read-only, without the store, so that
/// nothing is changed (or cleaned up) by looking.
fn inspect(home: &TestHome) -> Connection {
    Connection::open_with_flags(database(home), OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
}

fn stored_salt_days(conn: &Connection) -> Vec<i64> {
    conn.prepare("SELECT day FROM visitor_salts ORDER BY day")
        .and_then(|mut select| {
            select
                .query_map([], |row| row.get(0))?
                .collect::<Result<Vec<i64>, _>>()
        })
        .expect("the database has a visitor_salts table")
}

fn start_refused(home: &TestHome) -> String {
    Server::try_start(home, &[], &[])
        .err()
        .expect("the server refuses to start")
        .to_string()
}

#[cfg(unix)]
mod permissions {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn set_mode(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// Every file in the data directory is 0600 and the directory 0700; the
    /// database and its WAL files must be among them.
    fn assert_private(home: &TestHome) {
        let dir = home.data_dir();
        assert_eq!(mode(&dir), 0o700, "data directory");
        let db = database(home);
        for required in [db.clone(), companion(&db, "-wal"), companion(&db, "-shm")] {
            assert!(required.exists(), "{} is missing", required.display());
        }
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            assert_eq!(mode(&path), 0o600, "{}", path.display());
        }
    }

    #[test]
    fn the_first_start_makes_the_data_directory_and_its_files_private() {
        let home = TestHome::new();
        let server = Server::start(&home, &[]);
        post_pageview(&server, "private.test");
        assert_private(&home);
        server.stop();
    }

    #[test]
    fn an_existing_world_readable_install_is_made_private_at_start() {
        let home = TestHome::new();
        let server = Server::start(&home, &[]);
        post_pageview(&server, "private.test");
        server.kill9();
        // An install made by an older version: umask 022 modes, and the WAL
        // files a crash left behind.
        let dir = home.data_dir();
        set_mode(&dir, 0o755);
        for entry in std::fs::read_dir(&dir).unwrap() {
            set_mode(&entry.unwrap().path(), 0o644);
        }
        assert!(companion(&database(&home), "-wal").exists());
        let server = Server::start(&home, &[]);
        post_pageview(&server, "private.test");
        assert_private(&home);
        server.stop();
    }
}

#[test]
fn a_database_with_damaged_data_pages_is_refused_and_left_untouched() {
    let home = TestHome::new();
    home.seed("damaged.test", 20_000, 10);
    // The file starts and is served while intact.
    let server = Server::start(&home, &[]);
    post_pageview(&server, "damaged.test");
    server.stop();
    let db = database(&home);
    let wal_before = std::fs::read(companion(&db, "-wal")).ok();
    // Overwrite pages in the middle of the file; the header stays intact.
    let mut bytes = std::fs::read(&db).unwrap();
    let page = 8192;
    let pages = bytes.len() / page;
    assert!(pages >= 30, "only {pages} pages");
    for byte in &mut bytes[pages / 3 * page..pages / 3 * page + 4 * page] {
        *byte = 0x5C;
    }
    std::fs::write(&db, &bytes).unwrap();
    let error = start_refused(&home);
    assert!(
        error.contains("corrupt") && error.contains("untouched"),
        "{error}"
    );
    assert!(std::fs::read(&db).unwrap() == bytes, "the file changed");
    assert!(
        std::fs::read(companion(&db, "-wal")).ok() == wal_before,
        "the WAL was created or changed"
    );
}

#[test]
fn an_empty_database_in_a_used_data_directory_is_refused_and_left_untouched() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    post_pageview(&server, "emptied.test");
    server.stop();
    let db = database(&home);
    std::fs::write(&db, b"").unwrap();
    let error = start_refused(&home);
    assert!(
        error.contains("empty") && error.contains("untouched"),
        "{error}"
    );
    assert_eq!(std::fs::metadata(&db).unwrap().len(), 0);
}

#[test]
fn an_empty_database_in_a_new_data_directory_becomes_a_new_database() {
    let home = TestHome::new();
    std::fs::create_dir_all(home.data_dir()).unwrap();
    std::fs::write(database(&home), b"").unwrap();
    let server = Server::start(&home, &[]);
    post_pageview(&server, "fresh.test");
    server.stop();
    assert!(std::fs::metadata(database(&home)).unwrap().len() > 0);
}

#[test]
fn only_todays_and_yesterdays_random_salts_are_stored_and_no_permanent_secret() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    post_pageview(&server, "salts.test");
    server.stop();
    let today = today();
    {
        let conn = inspect(&home);
        let secrets: i64 = conn
            .query_row(
                "SELECT count(*) FROM settings WHERE key = 'visitor_secret'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(secrets, 0, "a permanent visitor secret is stored");
        assert_eq!(stored_salt_days(&conn), vec![today]);
        let salt: Vec<u8> = conn
            .query_row("SELECT salt FROM visitor_salts", [], |row| row.get(0))
            .unwrap();
        assert_eq!(salt.len(), 32);
    }
    // Salts of earlier days, as a server running through them left them.
    {
        let conn = Connection::open(database(&home)).unwrap();
        for day in [today - 9, today - 2, today - 1] {
            conn.execute(
                "INSERT INTO visitor_salts (day, salt) VALUES (?1, randomblob(32))",
                [day],
            )
            .unwrap();
        }
    }
    let server = Server::start(&home, &[]);
    post_pageview(&server, "salts.test");
    server.stop();
    assert_eq!(stored_salt_days(&inspect(&home)), vec![today - 1, today]);
}

#[test]
fn a_visitor_keeps_its_id_across_a_restart_within_the_day() {
    let home = TestHome::new();
    for _ in 0..2 {
        let server = Server::start(&home, &[]);
        post_pageview(&server, "restart.test");
        server.stop();
    }
    let conn = inspect(&home);
    let (events, visitors): (i64, i64) = conn
        .query_row(
            "SELECT sum(events), count(DISTINCT visitor_id) FROM visits \
             WHERE site_id = (SELECT id FROM sites WHERE domain = 'restart.test')",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap();
    assert_eq!(events, 2);
    assert_eq!(
        visitors, 1,
        "the same visitor got another id after a restart"
    );
}

#[test]
fn neither_the_ip_address_nor_the_user_agent_reach_the_files_or_the_log() {
    let home = TestHome::new();
    let server = Server::start(&home, &[("MALLARD_TRUSTED_PROXIES", "127.0.0.1")]);
    let user_agent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
                      Chrome/120.0.0.0 Safari/537.36 ProbeToken8c1f";
    for path in ["/first", "/second"] {
        let response = client()
            .post(server.url("/api/event"))
            .header("x-forwarded-for", "198.51.100.77")
            .header("user-agent", user_agent)
            .json(&pageview("privacy.test", path))
            .send()
            .unwrap();
        assert_eq!(response.status(), StatusCode::ACCEPTED);
    }
    let (_, log) = server.terminate();
    let stored = inspect(&home)
        .query_row("SELECT count(*) FROM visits", [], |r| r.get::<_, i64>(0))
        .unwrap();
    assert_eq!(stored, 1, "the two page views were stored as one visit");
    let mut files = vec![("log".to_owned(), log.into_bytes())];
    for entry in std::fs::read_dir(home.data_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            files.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
    for (name, bytes) in files {
        for needle in ["198.51.100.77", "ProbeToken8c1f"] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle} found in {name}"
            );
        }
    }
}
