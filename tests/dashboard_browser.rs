//! The dashboard in a real browser (headless Chromium through chromedriver):
//! first run, sign-in with the lockout countdown, sign-out, and API keys.

use mallard_e2e::browser::Browser;
use mallard_e2e::{Server, TestHome, client};
use reqwest::StatusCode;

const PASSWORD: &str = "correct horse battery";

#[test]
fn first_run_sets_a_password_then_signs_out_and_in_again() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    let browser = Browser::start();
    browser.goto(&server.url("/"));
    browser.wait_for_text("h1", "Welcome to Mallard Metrics");
    browser.fill("#setup-password", "short");
    browser.click("form button[type=submit]");
    browser.wait_for_text("#setup-password-error", "at least 8");
    browser.fill("#setup-password", PASSWORD);
    browser.click("form button[type=submit]");
    browser.wait_for_text("h1", "Start collecting");
    assert!(
        browser
            .text("#snippet")
            .contains(&format!("{}/mallard.js", server.base))
    );

    browser.click("#logout");
    browser.wait_for_text("h1", "Sign in");
    browser.fill("#login-password", "wrong password");
    browser.click("form button[type=submit]");
    browser.wait_for_text("#login-password-error", "Invalid password");
    browser.fill("#login-password", PASSWORD);
    browser.click("form button[type=submit]");
    browser.wait_for_text("h1", "Start collecting");
}

#[test]
fn open_access_can_be_chosen_on_first_run() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    let browser = Browser::start();
    browser.goto(&server.url("/"));
    browser.click("#open-access");
    browser.wait_for_text("h1", "Start collecting");
    browser.goto(&server.url("/#/keys"));
    browser.wait_for_text("h1", "API keys");
}

#[test]
fn a_locked_out_login_shows_the_message_and_a_countdown() {
    let home = TestHome::new();
    let server = Server::start(
        &home,
        &[
            ("MALLARD_ADMIN_PASSWORD", PASSWORD),
            ("MALLARD_MAX_LOGIN_ATTEMPTS", "2"),
            ("MALLARD_LOGIN_LOCKOUT", "90"),
        ],
    );
    let browser = Browser::start();
    browser.goto(&server.url("/"));
    for _ in 0..2 {
        browser.fill("#login-password", "wrong password");
        browser.click("form button[type=submit]");
        browser.wait_for_text("#login-password-error", "Invalid password");
    }
    browser.fill("#login-password", PASSWORD);
    browser.click("form button[type=submit]");
    let message = browser.wait_for_text("#login-password-error", "Too many failed login attempts");
    assert!(message.contains("try again in"), "{message}");
    let disabled =
        browser.eval("return document.querySelector('form button[type=submit]').disabled");
    assert_eq!(disabled, serde_json::Value::Bool(true));
}

#[test]
fn keys_are_created_shown_once_and_revoked_with_confirmation() {
    let home = TestHome::new();
    let server = Server::start(&home, &[("MALLARD_ADMIN_PASSWORD", PASSWORD)]);
    let browser = Browser::start();
    browser.goto(&server.url("/#/keys"));
    browser.fill("#login-password", PASSWORD);
    browser.click("form button[type=submit]");
    browser.wait_for_text("h1", "API keys");
    browser.wait_for("#no-keys");
    browser.fill("#key-name", "ci-pipeline");
    browser.click("#create-key button[type=submit]");
    let key = browser.wait_for_text("#new-key", "mm_").trim().to_owned();
    assert!(
        browser
            .text("#created-key")
            .contains("you will not see this key again")
    );
    browser.wait_for_text("#keys-table", "ci-pipeline");
    let works = client()
        .get(server.url("/api/keys"))
        .bearer_auth(&key)
        .send()
        .unwrap()
        .status();
    assert_eq!(
        works,
        StatusCode::FORBIDDEN,
        "a ReadOnly key (the default) is refused key management"
    );

    browser.fill("#key-name", "ops");
    browser.eval("document.querySelector('#key-scope').value = 'Admin'; return null;");
    browser.click("#create-key button[type=submit]");
    // The first key stays on screen until the second replaces it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let admin_key = loop {
        let shown = browser.text("#new-key").trim().to_owned();
        if shown.starts_with("mm_") && shown != key {
            break shown;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the second key never showed"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    browser.wait_for_text("#keys-table", "ops");
    assert_eq!(
        client()
            .get(server.url("/api/keys"))
            .bearer_auth(&admin_key)
            .send()
            .unwrap()
            .status(),
        StatusCode::OK
    );

    browser.click("#keys-table tbody tr:last-child button[data-revoke]");
    browser.wait_for_text("dialog", "Revoke “ops”?");
    browser.click("#confirm-revoke");
    browser.wait_for_text("#keys-table tbody tr:last-child", "Revoked");
    assert_eq!(
        client()
            .get(server.url("/api/keys"))
            .bearer_auth(&admin_key)
            .send()
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

#[test]
fn the_dashboard_shows_stats_and_filters_by_clicking_a_row() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    let http = client();
    for path in ["/", "/pricing", "/pricing", "/docs"] {
        let sent = http
            .post(server.url("/api/event"))
            .json(&mallard_e2e::pageview("dash.test", path))
            .send()
            .unwrap();
        assert_eq!(sent.status(), StatusCode::ACCEPTED);
    }
    let browser = Browser::start();
    browser.goto(&server.url("/"));
    browser.click("#open-access");
    let pageviews = browser.wait_for_text("#stat-pageviews", "4");
    assert!(pageviews.contains("Pageviews"), "{pageviews}");
    browser.wait_for_text("#stat-visitors", "1");
    browser.wait_for("#chart svg");
    browser.wait_for_text("table.breakdown[data-dimension=pages]", "/pricing");
    let hash = browser.eval("return location.hash");
    assert!(hash.as_str().unwrap().contains("site=dash.test"), "{hash}");
    // The unfiltered view came in one request too, and so does the filtered
    // one below: top stats, chart and the first tab of every card, all drawn
    // from it. (Revenue is asked after it is drawn, and only shows for a
    // site that has any.)
    let stats_requests = "return performance.getEntriesByType('resource')\
         .map((r) => new URL(r.name).pathname)\
         .filter((path) => path.startsWith('/api/stats/') && path !== '/api/stats/realtime' \
                 && path !== '/api/stats/revenue')";
    assert_eq!(
        browser.eval(stats_requests),
        serde_json::json!(["/api/stats/view"])
    );

    browser.eval("performance.clearResourceTimings(); return null;");
    browser.click("table.breakdown[data-dimension=pages] tbody tr:first-child .row-filter");
    browser.wait_for_text("#filters", "page is /pricing");
    browser.wait_for_text("#stat-pageviews", "2");
    let hash = browser.eval("return decodeURIComponent(location.hash)");
    assert!(
        hash.as_str().unwrap().contains("filters=page==/pricing"),
        "{hash}"
    );
    browser.wait_for("#chart svg");
    browser.wait_for_text("table.breakdown[data-dimension=pages]", "/pricing");
    browser.wait_for_text("table.breakdown[data-dimension=sources]", "(unknown)");
    let asked = browser.eval(stats_requests);
    assert_eq!(asked, serde_json::json!(["/api/stats/view"]), "{asked}");

    // The state is in the URL: a reload shows the same filtered view.
    browser.eval("location.reload(); return null;");
    browser.wait_for_text("#filters", "page is /pricing");
    browser.click("#filters .chip");
    browser.wait_for_text("#stat-pageviews", "4");
}

#[test]
fn the_regions_and_cities_tabs_list_places_and_a_click_filters_by_one() {
    let home = TestHome::new();
    // The seed places its visitors as a city database would.
    home.seed("places.test", 400, 7);
    let server = Server::start(&home, &[]);
    let browser = Browser::start();
    browser.goto(&server.url("/#/?site=places.test&period=30d"));
    browser.click("#open-access");
    browser.wait_for("table.breakdown[data-dimension=countries]");
    browser.click(".tab[data-dimension=cities]");
    browser.wait_for("table.breakdown[data-dimension=cities] .row-filter");
    let cities = browser.text("table.breakdown[data-dimension=cities]");
    assert!(
        ["New York", "San Francisco", "London"]
            .iter()
            .any(|city| cities.contains(city)),
        "{cities}"
    );
    browser.click(".tab[data-dimension=regions]");
    browser.wait_for("table.breakdown[data-dimension=regions] .row-filter");
    let region = browser.eval(
        "return [...document.querySelectorAll('table.breakdown[data-dimension=regions] .row-filter')]\
         .map((b) => b.textContent).find((name) => name !== '(unknown)')",
    );
    let region = region.as_str().expect("a named region").to_owned();
    browser.eval(&format!(
        "[...document.querySelectorAll('table.breakdown[data-dimension=regions] .row-filter')]\
         .find((b) => b.textContent === {region:?}).click(); return null;"
    ));
    browser.wait_for_text("#filters", &format!("region is {region}"));
    // The filtered view's regions hold that region alone.
    browser.click(".tab[data-dimension=regions]");
    browser.wait_for_text("table.breakdown[data-dimension=regions]", &region);
    let rows = browser.eval(
        "return document.querySelectorAll('table.breakdown[data-dimension=regions] tbody tr').length",
    );
    assert_eq!(rows, serde_json::json!(1), "{region}");
}

#[test]
fn the_properties_tab_lists_keys_then_values_and_a_click_filters_by_one() {
    let home = TestHome::new();
    // The seed's sign-ups carry a `plan` property.
    home.seed("props.test", 400, 7);
    let server = Server::start(&home, &[]);
    let browser = Browser::start();
    browser.goto(&server.url("/#/?site=props.test&period=30d"));
    browser.click("#open-access");
    browser.wait_for("table.breakdown[data-dimension=events]");
    browser.click(".tab[data-dimension=props]");
    browser.wait_for_text("table.breakdown[data-dimension=props]", "plan");
    browser.eval(
        "[...document.querySelectorAll('table.breakdown[data-dimension=props] .row-filter')]\
         .find((b) => b.textContent === 'plan').click(); return null;",
    );
    browser.wait_for("table.breakdown[data-dimension='props/plan'] .row-filter");
    let value = browser.eval(
        "return document.querySelector(\"table.breakdown[data-dimension='props/plan'] .row-filter\").textContent",
    );
    let value = value.as_str().expect("a plan").to_owned();
    // Back to the keys and in again, then a value filters the view.
    browser.click(".props-back");
    browser.wait_for("table.breakdown[data-dimension=props]");
    browser.eval(
        "[...document.querySelectorAll('table.breakdown[data-dimension=props] .row-filter')]\
         .find((b) => b.textContent === 'plan').click(); return null;",
    );
    browser.click("table.breakdown[data-dimension='props/plan'] .row-filter");
    browser.wait_for_text("#filters", &format!("props.plan is {value}"));
}

#[test]
fn the_world_map_shades_countries_and_a_click_filters_by_one() {
    let home = TestHome::new();
    home.seed("map.test", 400, 7);
    let server = Server::start(&home, &[]);
    let browser = Browser::start();
    browser.goto(&server.url("/#/?site=map.test&period=30d"));
    browser.click("#open-access");
    browser.wait_for("table.breakdown[data-dimension=countries]");
    browser.click(".tab[data-dimension=map]");
    browser.wait_for("#world-map .mm-country");
    let code = browser.eval("return document.querySelector('#world-map .mm-country').dataset.key");
    let code = code.as_str().unwrap().to_owned();
    assert_eq!(code.len(), 2, "{code}");
    let title =
        browser.eval("return document.querySelector('#world-map .mm-country title').textContent");
    assert!(title.as_str().unwrap().contains("\nVisitors: "), "{title}");
    browser.click("#world-map .mm-country");
    browser.wait_for_text("#filters", &format!("country is {code}"));
    let hash = browser.eval("return decodeURIComponent(location.hash)");
    assert!(
        hash.as_str()
            .unwrap()
            .contains(&format!("filters=country=={code}")),
        "{hash}"
    );
}

#[test]
fn an_import_is_listed_on_the_sites_screen_and_undone_there() {
    let home = TestHome::new();
    let log = home.path().join("access.log");
    std::fs::write(
        &log,
        "8.8.8.8 - - [10/Mar/2024:10:00:00 +0000] \"GET /hello HTTP/1.1\" 200 5 \"-\" \"Firefox/128.0\"\n\
         8.8.4.4 - - [10/Mar/2024:10:05:00 +0000] \"GET /world HTTP/1.1\" 200 5 \"-\" \"Firefox/128.0\"\n",
    )
    .unwrap();
    let imported = home.import(&["logs", "--site", "import.test", log.to_str().unwrap()]);
    assert!(imported.status.success(), "{imported:?}");
    let server = Server::start(&home, &[]);
    let browser = Browser::start();
    browser.goto(&server.url("/#/sites"));
    browser.click("#open-access");
    browser.goto(&server.url("/#/sites"));
    let row = browser.wait_for_text("#imports-table tr[data-import='1']", "import.test");
    assert!(
        row.contains("2024-03-10") && row.contains("access.log"),
        "{row}"
    );
    browser.click("#imports-table button[data-import='1']");
    browser.click("#confirm-undo-import");
    browser.wait_for_text("#imports-table tr[data-import='1']", "Undone");
    let main =
        client()
            .get(server.url(
                "/api/stats/main?site_id=import.test&start_date=2024-03-10&end_date=2024-03-11",
            ))
            .send()
            .unwrap()
            .text()
            .unwrap();
    assert!(main.contains("\"total_pageviews\":0"), "{main}");

    // A browser cannot hand `mallard serve` a file: the import screen says
    // which command to run on its machine, with the options chosen.
    browser.click("#import-logs-link");
    browser.wait_for_text("h1", "Import logs");
    browser.fill("#import-site", "logs.example");
    let command = browser.wait_for_text("#import-command", "--site logs.example");
    assert!(command.starts_with("mallard import logs"), "{command}");
    let no_dialog = browser.eval("return document.querySelector('#import-choose') === null");
    assert_eq!(
        no_dialog,
        serde_json::Value::Bool(true),
        "no dialog to open"
    );
}

#[test]
fn revenue_shows_as_a_tile_and_a_card_per_currency_never_added_up() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    let http = client();
    for (path, amount, currency) in [
        ("/buy", "10", "EUR"),
        ("/buy", "15", "EUR"),
        ("/buy", "7.5", "USD"),
    ] {
        let sent = http
            .post(server.url("/api/event"))
            .header("user-agent", mallard_e2e::BROWSER_UA)
            .json(&serde_json::json!({
                "d": "shop.test", "n": "Purchase", "u": format!("https://shop.test{path}"),
                "ra": amount, "rc": currency,
            }))
            .send()
            .unwrap();
        assert_eq!(sent.status(), StatusCode::ACCEPTED);
    }
    let browser = Browser::start();
    browser.goto(&server.url("/#/?site=shop.test&period=day"));
    browser.click("#open-access");
    // The tile: the currency with the most events, and how many others.
    let tile = browser.wait_for_text("#stat-revenue", "Revenue");
    assert!(
        tile.contains("25") && tile.contains("+ 1 more currency"),
        "{tile}"
    );
    // Stamped when drawn, for `filter_click` to time it.
    let drawn_at =
        browser.eval("return Number(document.getElementById('stat-revenue').dataset.drawnAt)");
    assert!(drawn_at.as_f64().is_some_and(|at| at > 0.0), "{drawn_at}");
    let eur = browser.wait_for_text("#revenue-table tr[data-currency=EUR]", "EUR");
    assert!(eur.contains("25") && eur.contains("12.5"), "{eur}");
    let usd = browser.text("#revenue-table tr[data-currency=USD]");
    assert!(usd.contains("7.5"), "{usd}");
    let charts =
        browser.eval("return document.querySelectorAll('#revenue-card .revenue-bars').length");
    assert_eq!(charts, serde_json::json!(2));

    // A site without revenue shows neither.
    let plain = http
        .post(server.url("/api/event"))
        .header("user-agent", mallard_e2e::BROWSER_UA)
        .json(&mallard_e2e::pageview("blog.test", "/"))
        .send()
        .unwrap();
    assert_eq!(plain.status(), StatusCode::ACCEPTED);
    browser.goto(&server.url("/#/?site=blog.test&period=day"));
    browser.wait_for_text("#stat-pageviews", "1");
    std::thread::sleep(std::time::Duration::from_millis(500));
    let shown =
        browser.eval("return document.querySelector('#stat-revenue, #revenue-card') !== null");
    assert_eq!(shown, serde_json::json!(false));
}
