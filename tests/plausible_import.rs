//! End-to-end tests of `mallard import plausible`: a Plausible CSV export
//! (a zip of daily tables) whose numbers are known adds exactly those
//! numbers to the stats that ask for imported data (`with_imported=true`),
//! only on the days before the site's first day of native data; filters
//! leave it out; the same export cannot be imported twice; undo removes it;
//! a file of another format is refused with the names or columns expected;
//! a running server imports it by path; and the dashboard shows it, with a
//! switch.

use std::io::Write;
use std::path::{Path, PathBuf};

use mallard_e2e::browser::Browser;
use mallard_e2e::{Server, TestHome, breakdown_rows as rows, client, json_of, succeeded};
use reqwest::StatusCode;
use serde_json::Value;

const SITE: &str = "plaus.test";

/// The export: 2024-03-08 to 2024-03-12. The native data (one page view,
/// imported from a GoatCounter export) starts on 2024-03-11, so only the
/// 8th, 9th and 10th count.
const TABLES: &[(&str, &str)] = &[
    (
        "imported_visitors_20240308_20240312.csv",
        "\"date\",\"visitors\",\"pageviews\",\"bounces\",\"visits\",\"visit_duration\"\n\
         \"2024-03-08\",10,30,4,12,600\n\
         \"2024-03-09\",20,50,5,22,900\n\
         \"2024-03-10\",5,8,1,5,100\n\
         \"2024-03-11\",7,9,2,7,70\n\
         \"2024-03-12\",1,1,1,1,0\n",
    ),
    (
        "imported_pages_20240308_20240312.csv",
        "\"date\",\"hostname\",\"page\",\"visits\",\"visitors\",\"pageviews\",\"scroll_depth\",\"pageleave_visitors\"\n\
         \"2024-03-08\",\"plaus.test\",\"/\",10,8,20,\\N,0\n\
         \"2024-03-08\",\"plaus.test\",\"/blog\",3,3,10,\\N,0\n\
         \"2024-03-09\",\"plaus.test\",\"/\",20,18,50,\\N,0\n\
         \"2024-03-10\",\"plaus.test\",\"/docs\",5,5,8,\\N,0\n\
         \"2024-03-11\",\"plaus.test\",\"/\",7,7,9,\\N,0\n\
         this row is broken\n",
    ),
    (
        "imported_sources_20240308_20240312.csv",
        "\"date\",\"source\",\"referrer\",\"utm_source\",\"utm_medium\",\"utm_campaign\",\"utm_content\",\"utm_term\",\"pageviews\",\"visitors\",\"visits\",\"visit_duration\",\"bounces\"\n\
         \"2024-03-08\",\"Google\",\"\",\"\",\"\",\"\",\"\",\"\",20,6,7,300,2\n\
         \"2024-03-08\",\"Direct / None\",\"\",\"\",\"\",\"\",\"\",\"\",10,4,5,300,2\n\
         \"2024-03-09\",\"Google\",\"\",\"\",\"cpc\",\"spring\",\"\",\"\",50,20,22,900,5\n",
    ),
    (
        "imported_browsers_20240308_20240312.csv",
        "\"date\",\"browser\",\"browser_version\",\"visitors\",\"visits\",\"visit_duration\",\"bounces\",\"pageviews\"\n\
         \"2024-03-08\",\"Microsoft Edge\",\"120\",3,3,100,1,6\n\
         \"2024-03-08\",\"Firefox\",\"121\",7,9,500,3,24\n",
    ),
    (
        "imported_locations_20240308_20240312.csv",
        "\"date\",\"country\",\"region\",\"city\",\"visitors\",\"visits\",\"visit_duration\",\"bounces\",\"pageviews\"\n\
         \"2024-03-08\",\"DE\",\"DE-BE\",2950159,10,12,600,4,30\n",
    ),
    (
        "imported_custom_events_20240308_20240312.csv",
        "\"date\",\"name\",\"link_url\",\"path\",\"visitors\",\"events\"\n\
         \"2024-03-09\",\"Signup\",\"\",\"\",2,3\n",
    ),
];

/// One native page view on 2024-03-11, through a GoatCounter export (events
/// keep their own times).
const NATIVE: &str = "2Path,Title,Event,UserAgent,Browser,System,Session,Bot,Referrer,\
                      Referrer scheme,Screen size,Location,FirstVisit,Date\r\n\
                      /,Home,0,,Firefox 121.0,Linux,sess-a,0,,,\"1920,1080,1\",DE,1,2024-03-11T10:00:00Z\r\n";

fn write_zip(path: &Path, tables: &[(&str, &str)]) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, text) in tables {
        zip.start_file(*name, options).unwrap();
        zip.write_all(text.as_bytes()).unwrap();
    }
    zip.start_file("README.txt", options).unwrap();
    zip.write_all(b"not a table").unwrap();
    zip.finish().unwrap();
}

fn export(home: &TestHome) -> PathBuf {
    let path = home.path().join("plausible-export.zip");
    write_zip(&path, TABLES);
    path
}

fn import_native(home: &TestHome) {
    let path = home.path().join("native.csv");
    std::fs::write(&path, NATIVE).unwrap();
    succeeded(&home.import(&["goatcounter", "--site", SITE, path.to_str().unwrap()]));
}

fn stats(server: &Server, query: &str, with_imported: bool) -> Value {
    let separator = if query.contains('?') { '&' } else { '?' };
    let response = client()
        .get(server.url(&format!(
            "/api/stats/{query}{separator}site_id={SITE}&start_date=2024-03-08&end_date=2024-03-13\
             &with_imported={with_imported}"
        )))
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{query}");
    json_of(response)
}

fn site_listing(server: &Server) -> Value {
    let sites = json_of(client().get(server.url("/api/sites")).send().unwrap());
    sites
        .as_array()
        .unwrap()
        .iter()
        .find(|site| site["site_id"] == SITE)
        .cloned()
        .unwrap()
}

/// The numbers of the 8th to the 10th, added to the native page view.
fn assert_imported_numbers(server: &Server) {
    let native = stats(server, "main", false);
    assert_eq!(native["total_pageviews"], 1, "{native}");
    assert_eq!(native["unique_visitors"], 1, "{native}");
    let main = stats(server, "main", true);
    assert_eq!(main["total_pageviews"], 1 + 30 + 50 + 8, "{main}");
    assert_eq!(main["unique_visitors"], 1 + 10 + 20 + 5, "{main}");
    assert_eq!(main["visits"], 1 + 12 + 22 + 5, "{main}");
    // Page views and the imported custom events.
    assert_eq!(main["total_events"], 1 + 88 + 3, "{main}");
    assert_eq!(
        rows(
            &stats(server, "breakdown/pages?limit=20", true),
            "pageviews"
        ),
        [
            ("/".into(), 1 + 20 + 50),
            ("/blog".into(), 10),
            ("/docs".into(), 8)
        ]
    );
    let browsers = stats(server, "breakdown/browsers", true);
    assert_eq!(
        rows(&browsers, "visits"),
        [("Edge".into(), 3), ("Firefox".into(), 9 + 1)]
    );
    // Rows are ordered by the merged counts.
    assert_eq!(browsers[0]["value"], "Firefox", "{browsers}");
    assert_eq!(
        rows(&stats(server, "breakdown/sources", true), "visits"),
        [("(unknown)".into(), 5 + 1), ("Google".into(), 29)]
    );
    assert_eq!(
        rows(&stats(server, "breakdown/utm_medium", true), "visits"),
        [("(unknown)".into(), 12 + 1), ("cpc".into(), 22)]
    );
    assert_eq!(
        rows(&stats(server, "breakdown/countries", true), "visits"),
        [("DE".into(), 12 + 1)]
    );
    assert_eq!(
        rows(&stats(server, "breakdown/events", true), "events"),
        [("Signup".into(), 3)]
    );
    let series = stats(server, "timeseries?interval=day", true);
    let pageviews: Vec<u64> = series
        .as_array()
        .unwrap()
        .iter()
        .map(|point| point["pageviews"].as_u64().unwrap())
        .collect();
    assert_eq!(pageviews, [30, 50, 8, 1, 0], "{series}");
    // A filter counts native data only.
    assert_eq!(
        stats(server, "main?filters=page%3D%3D%2F", true),
        stats(server, "main?filters=page%3D%3D%2F", false)
    );
    // The chart marks the imported days it counts.
    let chart = client()
        .get(server.url(&format!(
            "/api/stats/chart/timeseries.svg?site_id={SITE}&start_date=2024-03-08\
             &end_date=2024-03-13&with_imported=true"
        )))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        chart.contains("Imported from Plausible: 2024-03-08 – 2024-03-10"),
        "{chart}"
    );
    assert_eq!(
        site_listing(server)["imported"],
        serde_json::json!({"first_date": "2024-03-08", "last_date": "2024-03-10"})
    );
}

#[test]
fn an_export_counts_before_native_data_once_and_undo_removes_it() {
    let home = TestHome::new();
    import_native(&home);
    let export = export(&home);
    let file = export.to_str().unwrap();
    let report = succeeded(&home.import(&["plausible", "--site", SITE, file]));
    // 5 + 6 + 3 + 2 + 1 + 1 rows; the 11th and 12th have native data.
    assert!(report.contains("18 lines"), "{report}");
    assert!(
        report.contains("skipped, day with native data: 3"),
        "{report}"
    );
    assert!(
        report.contains("1 unreadable") && report.contains("line 7"),
        "{report}"
    );
    assert!(report.contains("README.txt"), "{report}");

    // The same export again is refused: its days are imported already.
    let again = home.import(&["plausible", "--site", SITE, file]);
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("already holds Plausible data"), "{stderr}");

    let server = Server::start(&home, &[]);
    assert_imported_numbers(&server);
    // `mallard stats` asks for them with --with-imported.
    let page_views = |extra: &[&str]| {
        let output = home
            .command()
            .args(["stats", "--data-dir"])
            .arg(home.data_dir())
            .args(["main", "--site", SITE, "--start-date", "2024-03-08"])
            .args(["--end-date", "2024-03-13"])
            .args(extra)
            .output()
            .unwrap();
        let table = succeeded(&output);
        table
            .lines()
            .find(|line| line.starts_with("Page views"))
            .and_then(|line| line.split_whitespace().last())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(page_views(&[]), "1");
    assert_eq!(page_views(&["--with-imported"]), "89");
    server.terminate();

    let listed = succeeded(&home.import(&["list"]));
    let id = listed
        .lines()
        .find(|line| line.contains("plausible-csv"))
        .and_then(|line| line.split_whitespace().next())
        .unwrap()
        .to_owned();
    succeeded(&home.import(&["undo", &id]));
    let server = Server::start(&home, &[]);
    assert_eq!(stats(&server, "main", true), stats(&server, "main", false));
    assert_eq!(site_listing(&server).get("imported"), None);
    server.terminate();
    // Undone, it may be imported again.
    succeeded(&home.import(&["plausible", "--site", SITE, file]));
}

#[test]
fn files_of_another_format_are_refused_with_the_names_or_columns_expected() {
    let home = TestHome::new();
    let goat = home.path().join("goatcounter.zip");
    write_zip(&goat, &[("export.csv", NATIVE)]);
    let output = home.import(&["plausible", "--site", SITE, goat.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("imported_<table>_<YYYYMMDD>_<YYYYMMDD>.csv"),
        "{stderr}"
    );
    let columns = home.path().join("imported_visitors_20240101_20240131.csv");
    std::fs::write(&columns, "date,visitors,pageviews\n2024-01-01,3,4\n").unwrap();
    let output = home.import(&["plausible", "--site", SITE, columns.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("bounces, visits, visit_duration")
            && stderr.contains("date,visitors,pageviews,bounces,visits,visit_duration"),
        "{stderr}"
    );
    // The same export twice in one import would count twice.
    let zip = export(&home);
    let output = home.import(&[
        "plausible",
        "--site",
        SITE,
        zip.to_str().unwrap(),
        zip.to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("the same table"), "{stderr}");
    let listed = succeeded(&home.import(&["list"]));
    assert!(!listed.contains("plausible"), "nothing began: {listed}");
}

#[test]
fn a_running_server_imports_the_export_and_the_dashboard_shows_it() {
    let home = TestHome::new();
    import_native(&home);
    let server = Server::start(&home, &[]);
    // Through the running server, from a directory the zip was unpacked in.
    let unpacked = home.path().join("unpacked");
    std::fs::create_dir(&unpacked).unwrap();
    for (name, text) in TABLES {
        std::fs::write(unpacked.join(name), text).unwrap();
    }
    let report =
        succeeded(&home.import(&["plausible", "--site", SITE, unpacked.to_str().unwrap()]));
    assert!(
        report.contains("skipped, day with native data: 3"),
        "{report}"
    );
    assert_imported_numbers(&server);

    let browser = Browser::open_dashboard(
        &server,
        &format!("/#/?site={SITE}&period=custom&from=2024-03-08&to=2024-03-12"),
    );
    let note = browser.wait_for_text("#imported-note", "2024-03-08 – 2024-03-10");
    assert!(note.contains("Plausible"), "{note}");
    browser.wait_for_text("#stat-pageviews", "89");
    browser.click("#with-imported");
    browser.wait_for_text("#stat-pageviews .stat-value", "1");
    assert!(
        browser
            .eval("return location.hash;")
            .as_str()
            .unwrap()
            .contains("imported=0"),
        "the switch is kept in the address"
    );
    // The import screen offers the format; a browser on `mallard serve`
    // shows the command to run.
    browser.goto(&server.url("/#/import"));
    browser.wait_for_text("h1", "Import logs");
    browser.eval(
        "const format = document.querySelector('#import-format'); format.value = 'plausible'; \
         format.dispatchEvent(new Event('input', {bubbles: true})); return null;",
    );
    let command = browser.wait_for_text("#import-command", "mallard import plausible");
    assert!(command.ends_with("plausible-export.zip"), "{command}");

    // A site with imported days alone: listed as such, its dashboard shows
    // them all (no native day cuts them).
    succeeded(&home.import(&[
        "plausible",
        "--site",
        "only.test",
        unpacked.to_str().unwrap(),
    ]));
    browser.goto(&server.url("/#/sites"));
    browser.wait_for_text(
        "tr[data-site='only.test']",
        "Imported days only (2024-03-08 – 2024-03-12)",
    );
    browser.goto(&server.url("/#/?site=only.test&period=custom&from=2024-03-08&to=2024-03-12"));
    browser.wait_for_text("#stat-pageviews .stat-value", "98");
    server.terminate();
}
