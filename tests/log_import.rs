//! End-to-end tests of `mallard import logs`: generated logs whose exact
//! visitors, visits, page views, pages, sources and countries are known, in
//! every format, with bots, static files, redirects, errors, another method,
//! IPv6, a private address, a gzip-rotated pair and unreadable lines; and
//! the ledger: importing again adds nothing, a grown log adds only its new
//! lines, and `import list` shows each import.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Output;

use mallard_e2e::{Server, TestHome, breakdown_rows as rows, client, json_of};
use reqwest::StatusCode;
use serde_json::Value;

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const SAFARI: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15";
const GOOGLEBOT: &str = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

/// One logged request.
struct Request {
    /// `2024-03-10T10:00:00`, UTC.
    time: &'static str,
    ip: &'static str,
    method: &'static str,
    target: &'static str,
    status: u16,
    referrer: &'static str,
    agent: &'static str,
}

const fn request(
    time: &'static str,
    ip: &'static str,
    method: &'static str,
    target: &'static str,
    status: u16,
    referrer: &'static str,
    agent: &'static str,
) -> Request {
    Request {
        time,
        ip,
        method,
        target,
        status,
        referrer,
        agent,
    }
}

/// Day one (2024-03-10): visitor A (US, IPv4, Firefox) comes from Google
/// and views /, /pricing and /docs (a stylesheet and a redirect between),
/// then returns after 54 minutes for /docs (a second visit); visitor B (US,
/// IPv6, Chrome) comes from Hacker News to /pricing, hits a 404; Googlebot
/// crawls /.
const DAY_ONE: [Request; 9] = [
    request(
        "2024-03-10T10:00:00",
        "8.8.8.8",
        "GET",
        "/",
        200,
        "https://www.google.com/",
        FIREFOX,
    ),
    request(
        "2024-03-10T10:00:01",
        "8.8.8.8",
        "GET",
        "/style.css?v=2",
        200,
        "https://logs.test/",
        FIREFOX,
    ),
    request(
        "2024-03-10T10:02:00",
        "8.8.8.8",
        "GET",
        "/pricing",
        200,
        "https://logs.test/",
        FIREFOX,
    ),
    request(
        "2024-03-10T10:05:00",
        "8.8.8.8",
        "GET",
        "/old-page",
        301,
        "-",
        FIREFOX,
    ),
    request(
        "2024-03-10T10:06:00",
        "8.8.8.8",
        "GET",
        "/docs",
        200,
        "https://logs.test/pricing",
        FIREFOX,
    ),
    request(
        "2024-03-10T11:00:00",
        "8.8.8.8",
        "GET",
        "/docs",
        200,
        "-",
        FIREFOX,
    ),
    request(
        "2024-03-10T12:00:00",
        "2001:4860:4860::8888",
        "GET",
        "/pricing",
        200,
        "https://news.ycombinator.com/",
        CHROME,
    ),
    request(
        "2024-03-10T12:01:00",
        "2001:4860:4860::8888",
        "GET",
        "/missing",
        404,
        "-",
        CHROME,
    ),
    request(
        "2024-03-10T13:00:00",
        "66.249.66.1",
        "GET",
        "/",
        200,
        "-",
        GOOGLEBOT,
    ),
];

/// Day two (2024-03-11): visitor C (DE, Safari) views / and, from cache,
/// /pricing (304); visitor D on a private network views /about.
const DAY_TWO: [Request; 3] = [
    request(
        "2024-03-11T09:00:00",
        "193.99.144.80",
        "GET",
        "/",
        200,
        "-",
        SAFARI,
    ),
    request(
        "2024-03-11T09:10:00",
        "193.99.144.80",
        "GET",
        "/pricing",
        304,
        "-",
        SAFARI,
    ),
    request(
        "2024-03-11T10:00:00",
        "192.168.1.5",
        "GET",
        "/about",
        200,
        "-",
        FIREFOX,
    ),
];

/// `2024-03-10T10:00:00` as `10/Mar/2024:10:00:00 +0000`.
fn clf_time(time: &str) -> String {
    let (date, clock) = time.split_once('T').unwrap();
    let mut parts = date.split('-');
    let (year, month, day) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let month = ["Jan", "Feb", "Mar"][month.parse::<usize>().unwrap() - 1];
    format!("{day}/{month}/{year}:{clock} +0000")
}

fn unix_ms(time: &str) -> i64 {
    let stamp: jiff::Timestamp = format!("{time}Z").parse().unwrap();
    stamp.as_millisecond()
}

fn combined(r: &Request) -> String {
    format!(
        r#"{} - - [{}] "{} {} HTTP/1.1" {} 1024 "{}" "{}""#,
        r.ip,
        clf_time(r.time),
        r.method,
        r.target,
        r.status,
        r.referrer,
        r.agent
    )
}

fn caddy(r: &Request) -> String {
    let mut headers = serde_json::json!({"User-Agent": [r.agent]});
    if r.referrer != "-" {
        headers["Referer"] = serde_json::json!([r.referrer]);
    }
    serde_json::json!({
        "level": "info", "ts": unix_ms(r.time) as f64 / 1000.0, "logger": "http.log.access",
        "msg": "handled request",
        "request": {"remote_ip": r.ip, "client_ip": r.ip, "proto": "HTTP/2.0", "method": r.method,
                    "host": "logs.test", "uri": r.target, "headers": headers},
        "duration": 0.001, "size": 1024, "status": r.status,
    })
    .to_string()
}

fn bunny(r: &Request) -> String {
    format!(
        "HIT|{}|{}|1024|390|{}|{}|https://logs.test{}|WA|{}|322b688bd63fb63f2babe9de30a5d262|DE",
        r.status,
        unix_ms(r.time),
        r.ip,
        r.referrer,
        r.target,
        r.agent
    )
}

fn cloudfront(r: &Request) -> String {
    let (stem, query) = r.target.split_once('?').unwrap_or((r.target, "-"));
    let (date, time) = r.time.split_once('T').unwrap();
    let agent = r.agent.replace(' ', "%2520");
    format!(
        "{date}\t{time}\tFRA2\t1024\t{}\t{}\td1.cloudfront.net\t{stem}\t{}\t{}\t{agent}\t{query}",
        r.ip, r.method, r.status, r.referrer
    )
}

fn custom(r: &Request) -> String {
    format!(
        "{} | {} | {} {} | {} | {} | {}",
        r.time.replace('T', " "),
        r.ip,
        r.method,
        r.target,
        r.status,
        r.referrer,
        r.agent
    )
}

fn write(path: &Path, lines: &[String]) {
    std::fs::write(
        path,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .unwrap();
}

fn write_gz(path: &Path, lines: &[String]) {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for line in lines {
        writeln!(gz, "{line}").unwrap();
    }
    std::fs::write(path, gz.finish().unwrap()).unwrap();
}

fn import(home: &TestHome, args: &[&str], files: &[&PathBuf]) -> Output {
    let output = import_command(home)
        .arg("logs")
        .args(args)
        .args(files)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stats(server: &Server, site: &str, query: &str) -> Value {
    let separator = if query.contains('?') { '&' } else { '?' };
    let response = client()
        .get(server.url(&format!(
            "/api/stats/{query}{separator}site_id={site}&start_date=2024-03-10&end_date=2024-03-12"
        )))
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{query}");
    json_of(response)
}

/// Checks the numbers the requests of [`DAY_ONE`] and [`DAY_TWO`] give.
fn assert_known_numbers(server: &Server, site: &str) {
    let main = stats(server, site, "main");
    assert_eq!(main["unique_visitors"], 4, "{site}: {main}");
    assert_eq!(main["visits"], 5, "{site}: {main}");
    assert_eq!(main["total_pageviews"], 8, "{site}: {main}");
    let pages = stats(server, site, "breakdown/pages?limit=20");
    assert_eq!(
        rows(&pages, "pageviews"),
        [
            ("/".into(), 2),
            ("/about".into(), 1),
            ("/docs".into(), 2),
            ("/pricing".into(), 3)
        ],
        "{site}"
    );
    let countries = stats(server, site, "breakdown/countries");
    assert_eq!(
        rows(&countries, "visitors"),
        [("(unknown)".into(), 1), ("DE".into(), 1), ("US".into(), 2)],
        "{site}"
    );
    let sources = rows(&stats(server, site, "breakdown/sources"), "visits");
    assert!(
        sources.contains(&("Google".into(), 1)),
        "{site}: {sources:?}"
    );
    assert!(
        sources.contains(&("Hacker News".into(), 1)),
        "{site}: {sources:?}"
    );
    let browsers = rows(&stats(server, site, "breakdown/browsers"), "visitors");
    assert!(
        browsers.contains(&("Safari".into(), 1)),
        "{site}: {browsers:?}"
    );
}

#[test]
fn a_rotated_combined_log_imports_exactly_once_and_a_grown_one_adds_its_new_lines() {
    let home = TestHome::new();
    let logs = home.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let rotated = logs.join("access.log.1.gz");
    let current = logs.join("access.log");
    let mut day_one: Vec<String> = DAY_ONE.iter().map(combined).collect();
    day_one.push(combined(&request(
        "2024-03-10T12:01:30",
        "2001:4860:4860::8888",
        "POST",
        "/signup",
        200,
        "-",
        CHROME,
    )));
    day_one.push("this is not a log line".into());
    let mut day_two: Vec<String> = DAY_TWO.iter().map(combined).collect();
    day_two.push(r#"1.2.3.4 - - [11/Mar/2024:10:30:00 +0000] "GET /cut"#.into());
    write_gz(&rotated, &day_one);
    write(&current, &day_two);

    // Named newest first: read oldest first all the same.
    let first = import(&home, &["--site", "logs.test"], &[&current, &rotated]);
    let report = stdout(&first);
    assert!(report.contains("combined format (detected)"), "{report}");
    assert!(
        report.contains("15 lines") && report.contains("8 page views imported"),
        "{report}"
    );
    assert!(
        report.contains("5 skipped") && report.contains("2 unreadable"),
        "{report}"
    );
    for reason in [
        "static file: 1",
        "redirect: 1",
        "error status: 1",
        "not GET: 1",
        "bot: 1",
    ] {
        assert!(
            report.contains(&format!("skipped, {reason}")),
            "{reason} in {report}"
        );
    }
    assert!(
        report.contains("access.log.1.gz line 11"),
        "unreadable lines are shown: {report}"
    );
    assert!(report.contains("access.log line 4"), "{report}");
    assert!(
        report.find("access.log.1.gz: read").unwrap() < report.find("access.log: read").unwrap(),
        "the rotated (older) file is read first: {report}"
    );

    // Again: nothing new.
    let again = stdout(&import(
        &home,
        &["--site", "logs.test"],
        &[&rotated, &current],
    ));
    assert!(again.contains("0 page views imported"), "{again}");
    assert!(again.contains("nothing new"), "{again}");

    let server = Server::start(&home, &[]);
    assert_known_numbers(&server, "logs.test");
    server.terminate();

    // The log grows: only the new line counts.
    let mut grown = day_two.clone();
    grown.push(combined(&request(
        "2024-03-11T09:20:00",
        "193.99.144.80",
        "GET",
        "/docs",
        200,
        "-",
        SAFARI,
    )));
    write(&current, &grown);
    let resumed = stdout(&import(
        &home,
        &["--site", "logs.test", "--format", "combined"],
        &[&current],
    ));
    assert!(resumed.contains("read from line 5"), "{resumed}");
    assert!(
        resumed.contains("1 lines") && resumed.contains("1 page views imported"),
        "{resumed}"
    );

    let server = Server::start(&home, &[]);
    let main = stats(&server, "logs.test", "main");
    assert_eq!(main["total_pageviews"], 9, "{main}");
    // A new import salts afresh, so the returning reader is a new visitor.
    assert_eq!(main["unique_visitors"], 5, "{main}");
    server.terminate();

    let list = import_command(&home).arg("list").output().unwrap();
    let list = stdout(&list);
    assert_eq!(
        list.lines()
            .filter(|l| l.contains("logs.test\tlogs (combined)"))
            .count(),
        3,
        "{list}"
    );
    assert!(
        list.contains("15 lines, 8 imported, 2 unreadable"),
        "{list}"
    );
    assert!(list.contains("2024-03-10T10:00:00"), "{list}");
    assert!(list.contains("access.log.1.gz"), "{list}");
}

#[test]
fn every_format_gives_the_same_numbers() {
    let home = TestHome::new();
    let requests: Vec<&Request> = DAY_ONE.iter().chain(DAY_TWO.iter()).collect();
    let custom_layout =
        "log:$date $time | $remote_addr | $request | $status | $referrer | $user_agent";
    type Render = fn(&Request) -> String;
    let formats: [(&str, &str, Render, Option<&str>); 6] = [
        ("combined.test", "access.log", combined, None),
        ("caddy.test", "caddy.log", caddy, None),
        ("bunny.test", "bunny.log", bunny, None),
        (
            "cloudfront.test",
            "cloudfront.log",
            cloudfront,
            Some("cloudfront"),
        ),
        ("custom.test", "custom.log", custom, Some(custom_layout)),
        (
            "vhost.test",
            "vhost.log",
            |r| format!("logs.test:443 {}", combined(r)),
            None,
        ),
    ];
    for (site, file, render, format) in formats {
        let path = home.path().join(file);
        let mut lines: Vec<String> = Vec::new();
        if site == "cloudfront.test" {
            lines.push("#Version: 1.0".into());
            lines.push("#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query".into());
        }
        lines.extend(requests.iter().map(|r| render(r)));
        write(&path, &lines);
        let mut args = vec!["--site", site];
        if let Some(format) = format {
            args.extend(["--format", format]);
        }
        let report = stdout(&import(&home, &args, &[&path]));
        assert!(report.contains("8 page views imported"), "{site}: {report}");
    }
    let server = Server::start(&home, &[]);
    for (site, ..) in formats {
        assert_known_numbers(&server, site);
    }
}

#[test]
fn nothing_readable_fails_and_bad_flags_are_refused() {
    let home = TestHome::new();
    let missing = home.path().join("missing.log");
    let output = import_command(&home)
        .args(["logs", "--site", "logs.test"])
        .arg(&missing)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("nothing could be read") && stderr.contains("missing.log"),
        "{stderr}"
    );

    let unknown = home.path().join("unknown.log");
    write(&unknown, &["hello".into(), "world".into()]);
    let output = import_command(&home)
        .args(["logs", "--site", "logs.test"])
        .arg(&unknown)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--format"));

    for bad in [["--format", "apache"], ["--exclude", "re:("]] {
        let output = import_command(&home)
            .args(["logs", "--site", "logs.test"])
            .args(bad)
            .arg(&unknown)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{bad:?}");
    }

    // A running server reads files by path, not this command's input; and
    // its answer about an unknown format reaches the user.
    let server = Server::start(&home, &[]);
    let piped = import_command(&home)
        .args(["logs", "--site", "logs.test", "-"])
        .output()
        .unwrap();
    assert!(!piped.status.success());
    assert!(String::from_utf8_lossy(&piped.stderr).contains("standard input"));
    let output = import_command(&home)
        .args(["logs", "--site", "logs.test"])
        .arg(&unknown)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("import failed") && stderr.contains("--format"),
        "{stderr}"
    );
    server.terminate();
}

/// `mallard import --data-dir <the home's data directory>`, to be given its
/// action and arguments.
fn import_command(home: &TestHome) -> std::process::Command {
    let mut command = home.command();
    command.args(["import", "--data-dir"]).arg(home.data_dir());
    command
}

fn command(home: &TestHome, args: &[&str]) -> Output {
    import_command(home).args(args).output().unwrap()
}

#[test]
fn undo_removes_exactly_one_import_and_its_files_can_be_imported_again() {
    let home = TestHome::new();
    let day_one = home.path().join("day-one.log");
    let day_two = home.path().join("day-two.log");
    write(&day_one, &DAY_ONE.iter().map(combined).collect::<Vec<_>>());
    write(&day_two, &DAY_TWO.iter().map(combined).collect::<Vec<_>>());
    let first = stdout(&import(&home, &["--site", "logs.test"], &[&day_one]));
    assert!(first.starts_with("import 1:"), "{first}");
    let second = stdout(&import(&home, &["--site", "logs.test"], &[&day_two]));
    assert!(second.starts_with("import 2:"), "{second}");

    let undone = command(&home, &["undo", "1"]);
    assert!(undone.status.success(), "{undone:?}");
    // A: two visits (4 page views), B: one (1 page view).
    assert_eq!(
        stdout(&undone).trim(),
        "import 1 undone: 3 visits and 5 events removed"
    );
    let again = command(&home, &["undo", "1"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("undone already"));
    let missing = command(&home, &["undo", "99"]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no import 99"));
    let list = stdout(&command(&home, &["list"]));
    assert!(
        list.lines()
            .any(|l| l.starts_with("1\t") && l.contains("undone")),
        "{list}"
    );

    let server = Server::start(&home, &[]);
    let main = stats(&server, "logs.test", "main");
    assert_eq!(
        main["unique_visitors"], 2,
        "only day two's visitors: {main}"
    );
    assert_eq!(main["visits"], 2, "{main}");
    assert_eq!(main["total_pageviews"], 3, "{main}");
    let pages = stats(&server, "logs.test", "breakdown/pages?limit=20");
    assert_eq!(
        rows(&pages, "pageviews"),
        [
            ("/".into(), 1),
            ("/about".into(), 1),
            ("/pricing".into(), 1)
        ]
    );
    server.terminate();

    // The undone file reads again; the other is still known.
    let reimport = stdout(&import(
        &home,
        &["--site", "logs.test"],
        &[&day_one, &day_two],
    ));
    assert!(reimport.contains("5 page views imported"), "{reimport}");
    assert!(reimport.contains("nothing new"), "{reimport}");
    let server = Server::start(&home, &[]);
    assert_known_numbers(&server, "logs.test");
}

#[test]
fn a_running_server_imports_lists_and_undoes_through_its_api() {
    let home = TestHome::new();
    let created = home
        .command()
        .args(["keys", "--data-dir"])
        .arg(home.data_dir())
        .args(["create", "--name", "remote admin", "--scope", "Admin"])
        .output()
        .unwrap();
    let admin_key = stdout(&created)
        .lines()
        .find_map(|line| line.strip_prefix("key:"))
        .expect("a key")
        .trim()
        .to_owned();
    let log = home.path().join("access.log");
    let mut lines: Vec<String> = DAY_ONE.iter().chain(DAY_TWO.iter()).map(combined).collect();
    lines.push("garbage".into());
    write(&log, &lines);
    let server = Server::start(&home, &[]);

    let report = stdout(&import(&home, &["--site", "logs.test"], &[&log]));
    assert!(
        report.contains("import 1: combined format (detected)"),
        "{report}"
    );
    assert!(
        report.contains("13 lines") && report.contains("8 page views imported"),
        "{report}"
    );
    assert!(
        report.contains("skipped, bot: 1") && report.contains("line 13"),
        "{report}"
    );
    assert_known_numbers(&server, "logs.test");
    let again = stdout(&import(&home, &["--site", "logs.test"], &[&log]));
    assert!(again.contains("nothing new"), "{again}");

    let list = stdout(&command(&home, &["list"]));
    assert!(list.starts_with("2\tlogs.test\tlogs (combined)"), "{list}");
    assert!(
        list.contains("13 lines, 8 imported, 1 unreadable"),
        "{list}"
    );

    // Remote clients may list and undo, but not name files on this machine.
    let remote = client()
        .post(server.url("/api/imports/logs"))
        .bearer_auth(&admin_key)
        .json(&serde_json::json!({"site_id": "logs.test", "files": [log]}))
        .send()
        .unwrap();
    assert_eq!(remote.status(), StatusCode::FORBIDDEN);
    let listed = json_of(
        client()
            .get(server.url("/api/imports"))
            .bearer_auth(&admin_key)
            .send()
            .unwrap(),
    );
    assert_eq!(listed[1]["imported"], 8, "{listed}");
    assert_eq!(listed[1]["skipped"]["static file"], 1, "{listed}");

    let undone = command(&home, &["undo", "1"]);
    assert!(undone.status.success(), "{undone:?}");
    assert!(stdout(&undone).contains("import 1 undone: 5 visits and 8 events removed"));
    let main = stats(&server, "logs.test", "main");
    assert_eq!(
        main["total_pageviews"], 0,
        "the cached answer was dropped: {main}"
    );
    let twice = client()
        .delete(server.url("/api/imports/1"))
        .bearer_auth(&admin_key)
        .send()
        .unwrap();
    assert_eq!(twice.status(), StatusCode::CONFLICT);
    assert_eq!(
        client()
            .delete(server.url("/api/imports/77"))
            .bearer_auth(&admin_key)
            .send()
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
}

/// The page views the ledger says import 1 wrote, read from the database
/// while the importer holds it.
fn imported_so_far(home: &TestHome) -> i64 {
    let db = home.data_dir().join("mallard.db");
    let Ok(conn) =
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return -1;
    };
    conn.query_row("SELECT imported FROM imports WHERE id = 1", [], |row| {
        row.get(0)
    })
    .unwrap_or(-1)
}

fn wait_for_imported(home: &TestHome, wanted: i64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while imported_so_far(home) != wanted {
        assert!(
            std::time::Instant::now() < deadline,
            "waited for {wanted} page views, have {}",
            imported_so_far(home)
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// A combined-log line of a Firefox page view of `path` at 10:`minute` on
/// 2024-03-10, from one address.
fn line(minute: u32, path: &str) -> String {
    format!(
        "8.8.8.8 - - [10/Mar/2024:10:{minute:02}:00 +0000] \"GET {path} HTTP/1.1\" 200 1 \"-\" \"{FIREFOX}\"\n"
    )
}

fn append(path: &Path, text: &str) {
    let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

#[test]
fn follow_reads_new_lines_as_they_come_and_across_log_rotation() {
    let home = TestHome::new();
    let log = home.path().join("access.log");
    std::fs::write(&log, format!("{}{}", line(0, "/a"), line(1, "/b"))).unwrap();
    let mut child = import_command(&home)
        .args(["logs", "--follow", "--site", "follow.test"])
        .arg(&log)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for_imported(&home, 2);
    // A line written in two goes counts once, when it is complete.
    append(&log, &line(2, "/c"));
    let half = line(3, "/d");
    append(&log, &half[..20]);
    wait_for_imported(&home, 3);
    std::thread::sleep(std::time::Duration::from_millis(700));
    assert_eq!(imported_so_far(&home), 3, "half a line waits");
    append(&log, &half[20..]);
    wait_for_imported(&home, 4);
    // logrotate: the old file is renamed (and gets a last line), a new one
    // is created at the path.
    let rotated = home.path().join("access.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    append(&rotated, &line(4, "/e"));
    std::fs::write(&log, format!("{}{}", line(5, "/f"), line(6, "/g"))).unwrap();
    wait_for_imported(&home, 7);
    child.kill().unwrap();
    child.wait().unwrap();

    let server = Server::start(&home, &[]);
    let main = stats(&server, "follow.test", "main");
    assert_eq!(main["total_pageviews"], 7, "{main}");
    assert_eq!(
        main["visits"], 1,
        "one visit: the salts live as long as the import: {main}"
    );
}

#[test]
fn an_import_killed_midway_and_run_again_counts_every_line_exactly_once() {
    let home = TestHome::new();
    let log = home.path().join("busy.log");
    let (days, visitors) = (8, 2_500);
    write(&log, &mallard_e2e::busy_access_log(10, days, visitors));
    let mut first = import_command(&home)
        .args(["logs", "--site", "crash.test", "--format", "combined"])
        .arg(&log)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Killed as soon as the ledger records some page views: the bulk load
    // then holds the newest days in memory, and has written the oldest.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while imported_so_far(&home) <= 0 {
        assert!(std::time::Instant::now() < deadline, "no progress recorded");
        assert!(first.try_wait().unwrap().is_none(), "ended before the kill");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    first.kill().unwrap();
    first.wait().unwrap();
    let recorded = imported_so_far(&home);
    assert!(
        recorded > 0 && recorded < i64::from(days * visitors * 6),
        "killed midway: {recorded}"
    );

    // The interrupted import is undone whole, and the file read again.
    let again = stdout(&import(&home, &["--site", "crash.test"], &[&log]));
    assert!(
        again.contains("import 1 was interrupted before it finished: undone"),
        "{again}"
    );
    assert!(again.contains("busy.log: read\n"), "{again}");
    let server = Server::start(&home, &[]);
    let main = json_of(
        client()
            .get(server.url(
                "/api/stats/main?site_id=crash.test&start_date=2024-03-01&end_date=2024-03-09",
            ))
            .send()
            .unwrap(),
    );
    assert_eq!(main["total_pageviews"], days * visitors * 6, "{main}");
    assert_eq!(main["visits"], days * visitors, "{main}");
    let listed = json_of(client().get(server.url("/api/imports")).send().unwrap());
    assert!(listed[1]["undone_at"].is_string(), "{listed}");
    assert_eq!(listed[0]["imported"], days * visitors * 6, "{listed}");
    assert!(listed[0]["undone_at"].is_null(), "{listed}");
}

#[test]
fn two_servers_logs_of_the_same_days_import_together_exactly() {
    // The second log goes back to days the first one already filled: the
    // site's bulk load ends there, and the rest takes the ordinary path.
    let home = TestHome::new();
    let (days, visitors) = (4, 300);
    let first = home.path().join("web1.log");
    let second = home.path().join("web2.log");
    write(&first, &mallard_e2e::busy_access_log(10, days, visitors));
    write(&second, &mallard_e2e::busy_access_log(11, days, visitors));
    let output = stdout(&import(&home, &["--site", "pair.test"], &[&first, &second]));
    assert!(
        output.contains(&format!("{} page views imported", 2 * days * visitors * 6)),
        "{output}"
    );
    let server = Server::start(&home, &[]);
    let main =
        json_of(
            client()
                .get(server.url(
                    "/api/stats/main?site_id=pair.test&start_date=2024-03-01&end_date=2024-03-05",
                ))
                .send()
                .unwrap(),
        );
    assert_eq!(main["total_pageviews"], 2 * days * visitors * 6, "{main}");
    assert_eq!(main["visits"], 2 * days * visitors, "{main}");
    let pages = json_of(
        client()
            .get(server.url(
                "/api/stats/breakdown/pages?site_id=pair.test&start_date=2024-03-01&end_date=2024-03-05",
            ))
            .send()
            .unwrap(),
    );
    assert_eq!(pages[0]["pageviews"], 2 * days * visitors, "{pages}");
}

#[test]
fn a_running_server_follows_a_log_until_ctrl_c() {
    let home = TestHome::new();
    let log = home.path().join("access.log");
    std::fs::write(&log, format!("{}{}", line(0, "/a"), line(1, "/b"))).unwrap();
    let server = Server::start(&home, &[]);
    let child = import_command(&home)
        .args(["logs", "--follow", "--site", "follow.test"])
        .arg(&log)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_imported(&home, 2);
    append(&log, &line(2, "/c"));
    wait_for_imported(&home, 3);
    let main = stats(&server, "follow.test", "main");
    assert_eq!(
        main["total_pageviews"], 3,
        "visible while it follows: {main}"
    );

    // Ctrl-C stops the server's job; the command reports and exits 0.
    let interrupted = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let output = child.wait_with_output().unwrap();
    let report = stdout(&output);
    assert!(
        output.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(report.contains("3 page views imported"), "{report}");
    assert!(!report.contains("stopped early"), "{report}");
    let listed = json_of(client().get(server.url("/api/imports")).send().unwrap());
    assert!(listed[0]["finished_at"].is_string(), "{listed}");
    // Lines written after the stop wait for the next import.
    append(&log, &line(3, "/d"));
    std::thread::sleep(std::time::Duration::from_millis(700));
    assert_eq!(imported_so_far(&home), 3);
}

#[test]
fn a_server_that_stops_ends_a_followed_import_cleanly() {
    let home = TestHome::new();
    let log = home.path().join("access.log");
    std::fs::write(
        &log,
        format!(
            "8.8.8.8 - - [10/Mar/2024:10:00:00 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"{FIREFOX}\"\n"
        ),
    )
    .unwrap();
    let server = Server::start(&home, &[]);
    let child = import_command(&home)
        .args(["logs", "--follow", "--site", "follow.test"])
        .arg(&log)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_imported(&home, 1);
    let (status, _) = server.terminate();
    assert!(status.success(), "the server stops while an import follows");
    // The command learns that its job ended (or that the server is gone).
    let output = child.wait_with_output().unwrap();
    assert!(!output.stdout.is_empty() || !output.stderr.is_empty());
    // The import was stopped and recorded, not cut off.
    let db = home.data_dir().join("mallard.db");
    let conn =
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let finished: Option<i64> = conn
        .query_row("SELECT finished_at FROM imports WHERE id = 1", [], |row| {
            row.get(0)
        })
        .unwrap();
    assert!(
        finished.is_some(),
        "the import finished when the server stopped"
    );
}
