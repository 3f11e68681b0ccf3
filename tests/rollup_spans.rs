//! Rollup spans over HTTP: the server builds the spans of closed days on its
//! own, its unfiltered answers read them, and `mallard check` adds each span
//! up again from its days.

use mallard_e2e::{Server, TestHome, create_api_key, get_with_key, sign_in, wait_until};

const SITE: &str = "spans.test";

fn marks(home: &TestHome) -> i64 {
    home.database()
        .query_row(
            "SELECT count(*) FROM rollup_span_marks WHERE ready = 1",
            [],
            |r| r.get(0),
        )
        .unwrap()
}

#[test]
fn the_server_builds_spans_of_closed_days_and_its_answers_read_them() {
    let home = TestHome::new();
    home.seed(SITE, 20_000, 45);
    // Answers are not cached: each read below must reach the rollups.
    let server = Server::start(
        &home,
        &[
            ("MALLARD_ADMIN_PASSWORD", "a long password"),
            ("MALLARD_CACHE_TTL", "0"),
        ],
    );
    let session = sign_in(&server, "a long password");
    let key = create_api_key(&server, &session, "ReadOnly");
    // 45 days hold two whole spans of 16 closed days at least.
    wait_until("no spans built", || marks(&home) >= 2);
    let main_path = format!("/api/stats/main?site_id={SITE}&period=all");
    let main = get_with_key(&server, &key, &main_path);
    let sources = get_with_key(
        &server,
        &key,
        &format!("/api/stats/breakdown/sources?site_id={SITE}&period=all&limit=100"),
    );
    assert!(main["total_pageviews"].as_i64().unwrap() > 10_000, "{main}");
    // Page views made up in a span show: the answers read the spans.
    let made_up = home
        .database()
        .execute(
            "UPDATE rollup_spans SET pageviews = pageviews + 1000 WHERE kind = 0 \
             AND day = (SELECT min(day) FROM rollup_span_marks WHERE ready = 1)",
            [],
        )
        .unwrap();
    assert_eq!(made_up, 1);
    let shown = get_with_key(&server, &key, &main_path);
    assert_eq!(
        shown["total_pageviews"].as_i64().unwrap(),
        main["total_pageviews"].as_i64().unwrap() + 1000
    );
    // Without their marks, the spans are passed over: the days answer the
    // same as the spans did (before the count was made up).
    home.database()
        .execute("DELETE FROM rollup_span_marks", [])
        .unwrap();
    assert_eq!(get_with_key(&server, &key, &main_path), main);
    assert_eq!(
        get_with_key(
            &server,
            &key,
            &format!("/api/stats/breakdown/sources?site_id={SITE}&period=all&limit=100")
        ),
        sources
    );
    server.stop();

    // The next run builds them again; `mallard check` finds a made-up one
    // and `--repair` deletes them all for the server to build again.
    let server = Server::start(&home, &[]);
    wait_until("no spans built again", || marks(&home) >= 2);
    server.stop();
    let (ok, said) = home.check(&[]);
    assert!(ok, "{said}");
    home.database()
        .execute(
            "UPDATE rollup_spans SET visits = visits + 3 WHERE kind = 4 \
             AND day = (SELECT max(day) FROM rollup_span_marks WHERE ready = 1)",
            [],
        )
        .unwrap();
    // (The repair's own writer may build them again before it stops.)
    home.check_finds_and_repair_mends("1 rollup span(s) differ");
}
