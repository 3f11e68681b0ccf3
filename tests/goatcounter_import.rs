//! End-to-end tests of `mallard import goatcounter`: an export whose exact
//! visitors, visits, page views, events, sources, browsers and countries are
//! known becomes those numbers; bots and unreadable rows are counted, not
//! stored; importing again adds nothing; undo removes it; a file in another
//! format is refused with the columns it should have; and the same import
//! through a running server.

use std::path::{Path, PathBuf};

use mallard_e2e::{Server, TestHome, breakdown_rows as rows, client, json_of, succeeded};
use reqwest::StatusCode;
use serde_json::Value;

const HEADER: &str = "2Path,Title,Event,UserAgent,Browser,System,Session,Bot,Referrer,\
                      Referrer scheme,Screen size,Location,FirstVisit,Date";

/// Session A (Germany, Firefox on Linux, from Reddit) views three pages and
/// clicks "signup-click"; session B (United States, Safari on iOS, from an
/// email) views one; a bot's row; session D (France, Chrome on Windows, a
/// "spring" campaign) views a page on the 11th and another 40 minutes later
/// (two visits); and a row with a broken date.
const ROWS: [&str; 10] = [
    "/,Home,0,,Firefox 121.0,Linux,sess-a,0,www.reddit.com/r/rust,h,\"1920,1080,1\",DE,1,2024-03-10T10:00:00Z",
    "/pricing,\"Pricing, plans\",0,,Firefox 121.0,Linux,sess-a,0,,,\"1920,1080,1\",DE,0,2024-03-10T10:05:00Z",
    "/docs,Docs,0,,Firefox 121.0,Linux,sess-a,0,,,\"1920,1080,1\",DE,0,2024-03-10T10:10:00Z",
    "signup-click,Signup,1,,Firefox 121.0,Linux,sess-a,0,,,\"1920,1080,1\",DE,0,2024-03-10T10:11:00Z",
    "/,Home,0,,Safari 17.2,iOS 17.2,sess-b,0,Email,g,\"390,844,3\",US-CA,1,2024-03-10T12:00:00Z",
    "/,Home,0,,Chrome 120,Linux,sess-bot,7,,,,,1,2024-03-10T13:00:00Z",
    "/blog/spring,Spring,0,,Chrome 120.0,Windows 10,sess-d,0,spring,c,\"1440,900,1\",FR,1,2024-03-11T09:00:00Z",
    "",
    "/,Home,0,,Chrome 120.0,Windows 10,sess-d,0,,,\"1440,900,1\",FR,0,2024-03-11T09:40:00Z",
    "/lost,Lost,0,,Chrome 120.0,Windows 10,sess-e,0,,,,FR,1,not a date",
];

fn write_export(dir: &Path) -> PathBuf {
    let path = dir.join("goatcounter-export-goat.test.csv");
    let mut text = format!("{HEADER}\r\n");
    for row in ROWS {
        text.push_str(row);
        text.push_str("\r\n");
    }
    std::fs::write(&path, text).unwrap();
    path
}

fn stats(server: &Server, query: &str) -> Value {
    let separator = if query.contains('?') { '&' } else { '?' };
    let response = client()
        .get(server.url(&format!(
            "/api/stats/{query}{separator}site_id=goat.test&start_date=2024-03-10&end_date=2024-03-12"
        )))
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{query}");
    json_of(response)
}

fn assert_known_numbers(server: &Server) {
    let main = stats(server, "main");
    assert_eq!(main["unique_visitors"], 3, "{main}");
    assert_eq!(main["visits"], 4, "{main}");
    assert_eq!(main["total_pageviews"], 6, "{main}");
    assert_eq!(main["total_events"], 7, "{main}");
    assert_eq!(
        rows(&stats(server, "breakdown/pages?limit=20"), "pageviews"),
        [
            ("/".into(), 3),
            ("/blog/spring".into(), 1),
            ("/docs".into(), 1),
            ("/pricing".into(), 1)
        ]
    );
    assert_eq!(
        rows(&stats(server, "breakdown/events"), "events"),
        [("signup-click".into(), 1)]
    );
    assert_eq!(
        rows(&stats(server, "breakdown/sources"), "visits"),
        [
            ("(unknown)".into(), 1),
            ("Email".into(), 1),
            ("Reddit".into(), 1),
            ("spring".into(), 1)
        ]
    );
    assert_eq!(
        rows(&stats(server, "breakdown/countries"), "visitors"),
        [("DE".into(), 1), ("FR".into(), 1), ("US".into(), 1)]
    );
    assert_eq!(
        rows(&stats(server, "breakdown/browsers"), "visitors"),
        [
            ("Chrome".into(), 1),
            ("Firefox".into(), 1),
            ("Safari".into(), 1)
        ]
    );
    assert_eq!(
        rows(&stats(server, "breakdown/devices"), "visitors"),
        [("Desktop".into(), 2), ("Mobile".into(), 1)]
    );
}

#[test]
fn an_export_becomes_exactly_its_hits_once_and_undo_removes_it() {
    let home = TestHome::new();
    let export = write_export(home.path());
    let file = export.to_str().unwrap();
    let report = succeeded(&home.import(&["goatcounter", "--site", "goat.test", file]));
    assert!(
        report.contains("11 lines") && report.contains("7 events imported"),
        "{report}"
    );
    assert!(report.contains("skipped, bot: 1"), "{report}");
    assert!(
        report.contains("1 unreadable") && report.contains("line 11"),
        "{report}"
    );

    // Importing the same export again adds nothing.
    let again = succeeded(&home.import(&["goatcounter", "--site", "goat.test", file]));
    assert!(again.contains("nothing new"), "{again}");

    let server = Server::start(&home, &[]);
    assert_known_numbers(&server);
    server.terminate();

    let listed = succeeded(&home.import(&["list"]));
    assert!(listed.contains("goatcounter"), "{listed}");
    // Newest first: the first import, which stored the events, is last.
    let id = listed
        .lines()
        .rfind(|line| line.contains("goatcounter"))
        .and_then(|line| line.split_whitespace().next())
        .unwrap()
        .to_owned();
    let undone = succeeded(&home.import(&["undo", &id]));
    assert!(undone.contains("4 visits and 7 events removed"), "{undone}");
}

#[test]
fn a_file_in_another_format_is_refused_with_the_columns_expected() {
    let home = TestHome::new();
    let wrong = home.path().join("imported_visitors_20240101_20240131.csv");
    std::fs::write(&wrong, "date,visitors,pageviews\n2024-01-01,3,4\n").unwrap();
    let output = home.import(&[
        "goatcounter",
        "--site",
        "goat.test",
        wrong.to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("not a GoatCounter CSV export") && stderr.contains("2Path,Title,Event"),
        "{stderr}"
    );
    let listed = succeeded(&home.import(&["list"]));
    assert!(!listed.contains("goatcounter"), "nothing began: {listed}");
}

#[test]
fn a_running_server_imports_the_export_by_path() {
    let home = TestHome::new();
    let export = write_export(home.path());
    let server = Server::start(&home, &[]);
    let report = succeeded(&home.import(&[
        "goatcounter",
        "--site",
        "goat.test",
        export.to_str().unwrap(),
    ]));
    assert!(report.contains("7 events imported"), "{report}");
    assert_known_numbers(&server);
    server.terminate();
}
