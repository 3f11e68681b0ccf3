//! Day segments' derived parts end to end (code indexes, entry events):
//! `mallard seed` writes them, the server adds them to days that have none
//! (or have a code index in its earlier form), and answers page filters,
//! breakdowns by page or event name under visit filters and the revenue
//! without filters the same with them; `mallard check` finds a wrong one
//! that `--repair` mends.

use mallard_e2e::{Server, TestHome, create_api_key, get_with_key, sign_in, wait_until};
use serde_json::Value;

const SITE: &str = "index.test";

/// The part id of the code index, of its earlier form (without how often
/// a visit holds a code), of the entry events, and of the part every
/// packed day has.
const CODE_VISITS: i64 = 12;
const ENTRY_EVENTS: i64 = 13;
const CODE_VISITS_BEFORE_REPEATS: i64 = 11;
const MARKER: i64 = 10;

/// How many days have part `part`.
fn days_with(home: &TestHome, part: i64) -> i64 {
    home.database()
        .query_row(
            "SELECT count(*) FROM day_segments WHERE part = ?1",
            [part],
            |r| r.get(0),
        )
        .unwrap()
}

/// A page filter's answers (the totals and two breakdowns), the page and
/// event breakdowns under a visit filter, which a day with the index counts
/// from it alone, and the revenue without filters per day and per month,
/// which a day with entry events reads from them and its revenue alone.
fn answers(server: &Server, key: &str) -> Vec<Value> {
    let filters = "filters=page%3D%3D%2Fpricing%3Bcountry%21%3DNowhere";
    let visits = "filters=source%21%3DNowhere";
    [
        format!("/api/stats/main?site_id={SITE}&period=all&{filters}"),
        format!("/api/stats/breakdown/sources?site_id={SITE}&period=all&limit=50&{filters}"),
        format!("/api/stats/breakdown/pages?site_id={SITE}&period=all&limit=50&{filters}"),
        format!("/api/stats/breakdown/pages?site_id={SITE}&period=all&limit=500&{visits}"),
        format!("/api/stats/breakdown/events?site_id={SITE}&period=all&limit=50&{visits}"),
        format!("/api/stats/revenue?site_id={SITE}&period=all&interval=day"),
        format!("/api/stats/revenue?site_id={SITE}&period=all&interval=month"),
    ]
    .iter()
    .map(|path| get_with_key(server, key, path))
    .collect()
}

#[test]
fn the_server_adds_missing_derived_parts_answers_the_same_and_check_mends_a_wrong_one() {
    let home = TestHome::new();
    home.seed(SITE, 20_000, 40);
    let packed = days_with(&home, MARKER);
    assert!(packed >= 30, "{packed} packed days");
    assert_eq!(days_with(&home, CODE_VISITS), packed);
    assert_eq!(days_with(&home, ENTRY_EVENTS), packed);

    // Answers with every index, uncached.
    let env = [
        ("MALLARD_ADMIN_PASSWORD", "a long password"),
        ("MALLARD_CACHE_TTL", "0"),
    ];
    let server = Server::start(&home, &env);
    let session = sign_in(&server, "a long password");
    let key = create_api_key(&server, &session, "ReadOnly");
    let with_index = answers(&server, &key);
    let revenue = &with_index[with_index.len() - 1]["currencies"];
    assert!(
        revenue.as_array().is_some_and(|c| !c.is_empty()),
        "the seeded site has revenue: {revenue}"
    );
    server.stop();

    // A database from before the derived parts: the server adds every one
    // back, and answers the same, before and after.
    home.database()
        .execute(
            "DELETE FROM day_segments WHERE part IN (?1, ?2)",
            [CODE_VISITS, ENTRY_EVENTS],
        )
        .unwrap();
    let server = Server::start(&home, &env);
    assert_eq!(answers(&server, &key), with_index);
    wait_until("no derived parts added", || {
        days_with(&home, CODE_VISITS) >= packed && days_with(&home, ENTRY_EVENTS) >= packed
    });
    assert_eq!(answers(&server, &key), with_index);
    server.stop();

    // A database indexed before the index said how often a visit holds a
    // code: that index is not read, and the server builds each day's again
    // in its place.
    home.database()
        .execute(
            "UPDATE day_segments SET part = ?1 WHERE part = ?2",
            [CODE_VISITS_BEFORE_REPEATS, CODE_VISITS],
        )
        .unwrap();
    assert_eq!(days_with(&home, CODE_VISITS_BEFORE_REPEATS), packed);
    let server = Server::start(&home, &env);
    assert_eq!(answers(&server, &key), with_index);
    wait_until("no indexes rebuilt", || {
        days_with(&home, CODE_VISITS) >= packed && days_with(&home, CODE_VISITS_BEFORE_REPEATS) == 0
    });
    assert_eq!(answers(&server, &key), with_index);
    server.stop();

    // `mallard check` finds an index and entry events that are another
    // day's, and `--repair` deletes them all for the server to build again.
    let (ok, said) = home.check(&[]);
    assert!(ok, "{said}");
    for part in [CODE_VISITS, ENTRY_EVENTS] {
        home.database()
            .execute(
                "UPDATE day_segments SET data = (SELECT data FROM day_segments WHERE part = ?1 \
                 ORDER BY day LIMIT 1) WHERE part = ?1 \
                 AND day = (SELECT max(day) FROM day_segments WHERE part = ?1)",
                [part],
            )
            .unwrap();
    }
    let (found, _) = home.check_finds_and_repair_mends("2 derived part(s) of day segments");
    assert!(found.contains("code index differs"), "{found}");
    assert!(found.contains("entry events differ"), "{found}");
}
