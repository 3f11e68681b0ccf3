//! End-to-end tests of `mallard stats`: against the server running on the
//! data directory (its local admin token), against a named server with a
//! ReadOnly key, as tables and as JSON, and its refusals.

use std::process::Output;

use mallard_e2e::{BROWSER_UA, Server, TestHome, client, create_api_key, pageview, sign_in};
use reqwest::StatusCode;
use serde_json::{Value, json};

const SITE: &str = "cli.test";

fn stats(home: &TestHome, args: &[&str]) -> Output {
    home.command().arg("stats").args(args).output().unwrap()
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Three page views of two pages by one visitor, from Google.
fn seed(server: &Server) {
    for path in ["/", "/pricing", "/pricing"] {
        let mut event = pageview(SITE, path);
        event["r"] = json!("https://www.google.com/");
        let response = client()
            .post(server.url("/api/event"))
            .header("user-agent", BROWSER_UA)
            .json(&event)
            .send()
            .unwrap();
        assert_eq!(response.status(), StatusCode::ACCEPTED);
    }
}

#[test]
fn stats_of_the_running_server_print_as_tables_and_as_its_json() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    seed(&server);
    let data_dir = home.data_dir();
    let data_dir = data_dir.to_str().unwrap();
    let common = ["--data-dir", data_dir];

    let main = stdout(&stats(
        &home,
        &[&common[..], &["main", "--site", SITE, "--period", "day"]].concat(),
    ));
    let value_of = |table: &str, metric: &str| -> String {
        table
            .lines()
            .find(|line| line.starts_with(metric))
            .and_then(|line| line.split_whitespace().last())
            .unwrap_or_else(|| panic!("no {metric} in\n{table}"))
            .to_owned()
    };
    assert_eq!(value_of(&main, "Unique visitors"), "1", "{main}");
    assert_eq!(value_of(&main, "Page views"), "3", "{main}");
    assert_eq!(value_of(&main, "Bounce rate"), "0.0%", "{main}");

    let pages = stdout(&stats(
        &home,
        &[
            &common[..],
            &["breakdown", "pages", "--site", SITE, "--period", "day"],
        ]
        .concat(),
    ));
    let lines: Vec<&str> = pages.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["Value", "Visitors", "Page", "views"]
    );
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["/pricing", "1", "2"],
        "{pages}"
    );
    assert_eq!(
        lines[2].split_whitespace().collect::<Vec<_>>(),
        ["/", "1", "1"],
        "{pages}"
    );

    // --json prints the server's answer as it is: Mallard's list.
    let json_text = stdout(&stats(
        &home,
        &[
            &common[..],
            &[
                "--json",
                "breakdown",
                "sources",
                "--site",
                SITE,
                "--period",
                "day",
                "--limit",
                "1",
            ],
        ]
        .concat(),
    ));
    let rows: Value = serde_json::from_str(&json_text).unwrap();
    assert_eq!(rows[0]["value"], "Google", "{rows}");
    assert_eq!(rows.as_array().unwrap().len(), 1);

    // Filters apply, and a time series lists every bucket.
    let filtered = stdout(&stats(
        &home,
        &[
            &common[..],
            &[
                "main",
                "--site",
                SITE,
                "--period",
                "day",
                "--filter",
                "page==/pricing",
            ],
        ]
        .concat(),
    ));
    assert_eq!(value_of(&filtered, "Page views"), "2", "{filtered}");
    let hours = stdout(&stats(
        &home,
        &[
            &common[..],
            &["timeseries", "--site", SITE, "--period", "day"],
        ]
        .concat(),
    ));
    assert_eq!(hours.lines().count(), 25, "a header and 24 hours:\n{hours}");
}

#[test]
fn a_named_server_needs_a_key_and_a_readonly_one_is_enough() {
    let home = TestHome::new();
    let server = Server::start(&home, &[("MALLARD_ADMIN_PASSWORD", "a long password")]);
    seed(&server);
    let url = server.base.clone();
    let refused = stats(&home, &["--url", &url, "main", "--site", SITE]);
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(message.contains("401"), "{message}");

    let session = sign_in(&server, "a long password");
    let key = create_api_key(&server, &session, "ReadOnly");
    let main = stdout(&stats(
        &home,
        &[
            "--url", &url, "--key", &key, "--json", "main", "--site", SITE, "--period", "day",
        ],
    ));
    let body: Value = serde_json::from_str(&main).unwrap();
    assert_eq!(body["total_pageviews"], 3, "{body}");
    // The key from the environment, as a script would keep it.
    let output = home
        .command()
        .env("MALLARD_API_KEY", &key)
        .args([
            "stats", "--url", &url, "main", "--site", SITE, "--period", "day",
        ])
        .output()
        .unwrap();
    assert!(stdout(&output).contains("Page views"));

    // A bad parameter comes back in the server's words.
    let bad = stats(
        &home,
        &[
            "--url",
            &url,
            "--key",
            &key,
            "breakdown",
            "colours",
            "--site",
            SITE,
        ],
    );
    assert!(!bad.status.success());
    let message = String::from_utf8_lossy(&bad.stderr);
    assert!(
        message.contains("404") && message.contains("colours"),
        "{message}"
    );
}

#[test]
fn without_a_running_server_it_says_how_to_start_one() {
    let home = TestHome::new();
    let data_dir = home.data_dir();
    let output = stats(
        &home,
        &[
            "--data-dir",
            data_dir.to_str().unwrap(),
            "main",
            "--site",
            SITE,
        ],
    );
    assert!(!output.status.success());
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains("mallard serve"), "{message}");
}
