//! End-to-end tests of offline geolocation: the country of a live event comes
//! from the client's address as the trusted-proxy rules resolve it, through
//! the bundled database, for Mallard and collector events alike; private
//! addresses and spoofed forwarding headers place nobody. With a city
//! database, visits get their region and city too.

mod collector_common;

use collector_common::{event, send};
use mallard_e2e::{Server, TestHome, client, json_of, pageview};
use reqwest::StatusCode;
use serde_json::{Value, json};

const SITE: &str = "geo.test";
const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
    Chrome/131.0.0.0 Safari/537.36";

/// Posts a pageview of `path` as if a proxy forwarded it for `client_ip`.
fn pageview_from(server: &Server, client_ip: &str, user_agent: &str, path: &str) {
    let response = client()
        .post(server.url("/api/event"))
        .header("user-agent", user_agent)
        .header("x-forwarded-for", client_ip)
        .json(&pageview(SITE, path))
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED, "{client_ip}");
}

/// Creates a read-only API key before the server starts: behind a trusted
/// proxy, a request from loopback is not taken for the machine's owner.
fn read_key(home: &TestHome) -> String {
    let created = home
        .command()
        .args(["keys", "--data-dir"])
        .arg(home.data_dir())
        .args(["create", "--name", "geo", "--scope", "ReadOnly"])
        .output()
        .unwrap();
    assert!(created.status.success(), "{created:?}");
    String::from_utf8_lossy(&created.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("key:"))
        .expect("a key is printed")
        .trim()
        .to_owned()
}

fn stats(server: &Server, key: &str, query: &str) -> Value {
    let response = client()
        .get(server.url(&format!("/api/stats/{query}")))
        .bearer_auth(key)
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{query}");
    json_of(response)
}

/// `[value, visitors]` of each row of a breakdown.
fn rows(body: &Value) -> Vec<(Value, Value)> {
    body.as_array()
        .unwrap()
        .iter()
        .map(|row| (row["value"].clone(), row["visitors"].clone()))
        .collect()
}

#[test]
fn countries_come_from_the_forwarded_client_address() {
    let home = TestHome::new();
    let key = read_key(&home);
    let server = Server::start(
        &home,
        &[("MALLARD_TRUSTED_PROXIES", "127.0.0.1,10.0.0.0/8")],
    );
    // Three US visitors (two browsers on one IPv4 address, one IPv6), one
    // German, one on a private network, and one Japanese behind a second,
    // trusted proxy hop.
    pageview_from(&server, "8.8.8.8", FIREFOX, "/");
    pageview_from(&server, "8.8.8.8", CHROME, "/");
    pageview_from(&server, "2001:4860:4860::8888", FIREFOX, "/");
    pageview_from(&server, "193.99.144.80", FIREFOX, "/pricing");
    pageview_from(&server, "192.168.1.20", FIREFOX, "/");
    pageview_from(&server, "133.11.0.1, 10.0.0.2", FIREFOX, "/");
    let query = format!("site_id={SITE}&period=day");
    let countries = stats(&server, &key, &format!("breakdown/countries?{query}"));
    let found = rows(&countries);
    assert!(found.contains(&(json!("US"), json!(3))), "{countries}");
    assert!(found.contains(&(json!("DE"), json!(1))), "{countries}");
    assert!(found.contains(&(json!("JP"), json!(1))), "{countries}");
    let placed: u64 = found
        .iter()
        .filter(|(value, _)| ["US", "DE", "JP"].contains(&value.as_str().unwrap_or("")))
        .map(|(_, visitors)| visitors.as_u64().unwrap())
        .sum();
    assert_eq!(
        placed, 5,
        "the private address is placed nowhere: {countries}"
    );
    let germany = stats(
        &server,
        &key,
        &format!("main?{query}&filters=country%3D%3DDE"),
    );
    assert_eq!(germany["unique_visitors"], 1, "{germany}");
    assert_eq!(germany["total_pageviews"], 1, "{germany}");

    // The world map shades the same countries, whatever `limit` says.
    let map = client()
        .get(server.url(&format!("/api/stats/chart/map.svg?{query}&limit=1")))
        .bearer_auth(&key)
        .send()
        .unwrap();
    assert_eq!(map.status(), StatusCode::OK);
    assert_eq!(map.headers()["content-type"], "image/svg+xml");
    let map = map.text().unwrap();
    for title in [
        "<title>United States of America\nVisitors: 3</title>",
        "<title>Germany\nVisitors: 1</title>",
        "<title>Japan\nVisitors: 1</title>",
    ] {
        assert!(map.contains(title), "{title} in the map");
    }

    // A collector browser event is placed the same way.
    let response = client()
        .post(server.url("/events"))
        .header("content-type", "application/json")
        .header("x-forwarded-for", "200.160.2.3")
        .bearer_auth("collector.geo.test")
        .body(event("collector.geo.test", "pageview", "/").to_string())
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let (status, stderr) = server.terminate();
    assert!(status.success(), "{stderr}");
    assert!(
        !stderr.contains("8.8.8.8") && !stderr.contains("193.99.144.80"),
        "addresses are never logged"
    );
    let collected = home.read(|db| db.collector_visit_enrichment("collector.geo.test"));
    assert_eq!(collected[0].country.as_deref(), Some("BR"));
}

#[test]
fn a_forwarding_header_from_an_untrusted_peer_places_nobody() {
    let home = TestHome::new();
    let key = read_key(&home);
    let server = Server::start(&home, &[]);
    pageview_from(&server, "8.8.8.8", FIREFOX, "/");
    assert_eq!(
        send(
            &server,
            "/events",
            Some("spoof.test"),
            &event("spoof.test", "pageview", "/")
        )
        .status(),
        StatusCode::ACCEPTED
    );
    let countries = stats(
        &server,
        &key,
        &format!("breakdown/countries?site_id={SITE}&period=day"),
    );
    assert!(
        !rows(&countries).iter().any(|(value, _)| value == "US"),
        "the peer (loopback) is the client, not the header: {countries}"
    );
    server.terminate();
    let spoofed = home.read(|db| db.collector_visit_enrichment("spoof.test"));
    assert_eq!(spoofed[0].country, None);
}

#[test]
fn a_configured_database_is_used_and_a_bad_one_refuses_to_start() {
    let home = TestHome::new();
    let bad = home.path().join("GeoLite2-City.mmdb");
    std::fs::write(&bad, b"not a database").unwrap();
    let bad_path = bad.to_str().unwrap();
    let error = Server::try_start(&home, &[("MALLARD_GEOIP_DATABASE", bad_path)], &[])
        .err()
        .expect("a broken database refuses the start");
    assert!(
        error.to_string().contains("GeoLite2-City.mmdb")
            && error.to_string().contains("MaxMind DB"),
        "{error}"
    );
    let missing = home.path().join("missing.mmdb");
    let error = Server::try_start(
        &home,
        &[("MALLARD_GEOIP_DATABASE", missing.to_str().unwrap())],
        &[],
    )
    .err()
    .expect("a missing database refuses the start");
    assert!(error.to_string().contains("missing.mmdb"), "{error}");

    // A country database given by path (here a copy of the bundled one).
    let good = home.path().join("country.mmdb");
    mallard_e2e::copy_of_bundled_country_database(&good);
    let server = Server::start(
        &home,
        &[
            ("MALLARD_GEOIP_DATABASE", good.to_str().unwrap()),
            ("MALLARD_TRUSTED_PROXIES", "127.0.0.1"),
        ],
    );
    pageview_from(&server, "8.8.8.8", FIREFOX, "/");
    server.terminate();
    let visits = home.read(|db| db.collector_visit_enrichment(SITE));
    assert_eq!(visits.len(), 1);
    assert_eq!(visits[0].country.as_deref(), Some("US"));
}

#[test]
fn a_city_database_adds_regions_and_cities_to_breakdowns_filters_and_visits() {
    let home = TestHome::new();
    let key = read_key(&home);
    let city = mallard_e2e::city_test_database();
    let server = Server::start(
        &home,
        &[
            ("MALLARD_GEOIP_DATABASE", city.to_str().unwrap()),
            ("MALLARD_TRUSTED_PROXIES", "127.0.0.1"),
        ],
    );
    pageview_from(&server, "81.2.69.142", FIREFOX, "/");
    pageview_from(&server, "81.2.69.160", CHROME, "/pricing");
    pageview_from(&server, "8.8.8.8", FIREFOX, "/");
    pageview_from(&server, "193.99.144.80", FIREFOX, "/");
    pageview_from(&server, "200.160.2.3", FIREFOX, "/");
    pageview_from(&server, "192.168.1.20", FIREFOX, "/");
    let query = format!("site_id={SITE}&period=day");
    let regions = stats(&server, &key, &format!("breakdown/regions?{query}"));
    assert_eq!(
        rows(&regions),
        // Ties in visits: `(unknown)` first.
        [
            (json!("(unknown)"), json!(2)),
            (json!("England"), json!(2)),
            (json!("California"), json!(1)),
            (json!("Lower Saxony"), json!(1)),
        ],
        "{regions}"
    );
    let cities = stats(&server, &key, &format!("breakdown/cities?{query}"));
    let found = rows(&cities);
    assert!(found.contains(&(json!("London"), json!(2))), "{cities}");
    assert!(
        found.contains(&(json!("Mountain View"), json!(1))),
        "{cities}"
    );
    assert!(found.contains(&(json!("Hanover"), json!(1))), "{cities}");
    assert!(found.contains(&(json!("(unknown)"), json!(2))), "{cities}");
    let countries = stats(&server, &key, &format!("breakdown/countries?{query}"));
    assert!(
        rows(&countries).contains(&(json!("BR"), json!(1))),
        "{countries}"
    );

    // Filters on either, alone or with a breakdown of the other.
    let london = stats(
        &server,
        &key,
        &format!("main?{query}&filters=city%3D%3DLondon"),
    );
    assert_eq!(london["unique_visitors"], 2, "{london}");
    assert_eq!(london["total_pageviews"], 2, "{london}");
    let england = stats(
        &server,
        &key,
        &format!("breakdown/pages?{query}&filters=region%3D%3DEngland"),
    );
    assert_eq!(england.as_array().unwrap().len(), 2, "{england}");
    let elsewhere = stats(
        &server,
        &key,
        &format!("breakdown/cities?{query}&filters=region!%3DEngland"),
    );
    assert!(
        !rows(&elsewhere).iter().any(|(value, _)| value == "London"),
        "{elsewhere}"
    );
    let nowhere = stats(
        &server,
        &key,
        &format!("main?{query}&filters=city%3D%3DAtlantis"),
    );
    assert_eq!(nowhere["visits"], 0, "{nowhere}");

    // The visits list and the raw export name them too.
    let visits = stats(
        &server,
        &key,
        &format!("visits?{query}&filters=city%3D%3DHanover"),
    );
    let first = &visits["results"][0];
    assert_eq!(
        (&first["country"], &first["region"], &first["city"]),
        (&json!("DE"), &json!("Lower Saxony"), &json!("Hanover")),
        "{visits}"
    );
    let export = client()
        .get(server.url(&format!("/api/stats/export/events?{query}&format=csv")))
        .bearer_auth(&key)
        .send()
        .unwrap();
    assert_eq!(export.status(), StatusCode::OK);
    let export = export.text().unwrap();
    let header = export.lines().next().unwrap_or_default();
    assert!(header.contains(",country,region,city,"), "{header}");
    assert!(export.contains(",GB,England,London,"), "{export}");
    let (status, stderr) = server.terminate();
    assert!(status.success(), "{stderr}");
    assert!(!stderr.contains("81.2.69"), "addresses are never logged");
}
