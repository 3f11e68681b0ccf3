//! The dashboard's keys, sites, settings and realtime screens in a real browser
//! (headless Chromium through chromedriver): ingestion keys created and
//! revoked, a setting changed and still there after a reload, a site added with
//! its snippet, a fresh event showing up in realtime, the empty states, and
//! switching site and period with the export links following.

use mallard_e2e::browser::Browser;
use mallard_e2e::{Server, TestHome, client, json_of, pageview};
use reqwest::StatusCode;

fn send(server: &Server, site: &str, path: &str) {
    let sent = client()
        .post(server.url("/api/event"))
        .json(&pageview(site, path))
        .send()
        .unwrap();
    assert_eq!(sent.status(), StatusCode::ACCEPTED);
}

#[test]
fn ingestion_keys_are_created_shown_once_and_revoked_beside_stats_keys() {
    let home = TestHome::new();
    let server = Server::start(&home, &[("API_KEY_MODE", "require")]);
    let browser = Browser::open_dashboard(&server, "/#/keys");
    browser.wait_for_text("h1", "API keys");
    browser.wait_for("#no-keys");
    browser.fill("#key-name", "reporting");
    browser.click("#create-key button[type=submit]");
    browser.wait_for_text("#new-key", "mm_");

    browser.eval("const k = document.querySelector('#key-kind'); k.value = 'ingest'; k.dispatchEvent(new Event('change')); return null;");
    browser.wait_for("#ingest-fields:not([hidden])");
    browser.fill("#key-name", "web sdk");
    browser.click("#create-key button[type=submit]");
    let key = browser
        .wait_for_text("#new-key", "lk_live_")
        .trim()
        .to_owned();
    assert!(
        browser
            .text("#created-key")
            .contains("you will not see this key again")
    );
    browser.wait_for_text("#keys-table tr[data-kind=ingest]", "web sdk");
    let row = browser.text("#keys-table tr[data-kind=ingest]");
    assert!(
        row.contains("ingest:write") && row.contains(&key[..12]),
        "{row}"
    );
    assert!(!row.contains(&key), "the list shows only the masked key");
    assert!(
        browser.text("#keys-table").contains("reporting"),
        "both kinds in one list"
    );

    let event = serde_json::json!({
        "id": "00000000-0000-4000-8000-000000000001", "site_id": "sdk.test",
        "anon_id": "a", "type": "pageview", "url": "https://sdk.test/", "ts": 0,
    });
    let post = |body: &serde_json::Value| {
        let mut body = body.clone();
        body["ts"] = serde_json::json!(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as u64
        );
        client()
            .post(server.url("/events"))
            .bearer_auth(&key)
            .header("x-site-id", "sdk.test")
            .json(&body)
            .send()
            .unwrap()
            .status()
    };
    assert_eq!(post(&event), StatusCode::ACCEPTED);

    browser.click("#keys-table tr[data-kind=ingest] button[data-revoke-ingest]");
    browser.wait_for_text("dialog", "Revoke “web sdk”?");
    browser.click("#confirm-revoke");
    browser.wait_for_text("#keys-table tr[data-kind=ingest]", "Revoked");
    assert!(
        browser
            .text("#keys-table tr[data-kind=ingest]")
            .contains("web sdk")
    );
    let mut again = event.clone();
    again["id"] = serde_json::json!("00000000-0000-4000-8000-000000000002");
    assert_eq!(post(&again), StatusCode::UNAUTHORIZED, "revoked at once");
}

#[test]
fn a_setting_changed_in_the_browser_is_saved_and_still_there_after_a_reload() {
    let home = TestHome::new();
    let server = Server::start(&home, &[("RATE_LIMIT_KEY_RPS", "700")]);
    let browser = Browser::open_dashboard(&server, "/#/settings");
    browser.wait_for_text("h1", "Settings");
    browser.wait_for_text(
        "[data-setting=rate_limit_key_rps]",
        "Set by RATE_LIMIT_KEY_RPS: read-only here",
    );
    let disabled =
        browser.eval("return document.querySelector('#setting-rate_limit_key_rps').disabled");
    assert_eq!(disabled, serde_json::Value::Bool(true));
    browser.fill("#setting-retention_days", "90");
    browser.click("#setting-filter_bots");
    browser.fill("#setting-site_ids", "shop.test\nblog.test");
    browser.click("#save-settings");
    browser.wait_for_text("#settings-status", "Saved");
    browser.wait_for_text("[data-setting=retention_days]", "Saved here");

    browser.eval("location.reload(); return null;");
    browser.wait_for_text("[data-setting=retention_days]", "Saved here");
    let values = browser.eval(
        "return [document.querySelector('#setting-retention_days').value, \
         document.querySelector('#setting-filter_bots').checked, \
         document.querySelector('#setting-site_ids').value]",
    );
    assert_eq!(
        values,
        serde_json::json!(["90", false, "shop.test\nblog.test"])
    );
    let health = json_of(client().get(server.url("/health/detailed")).send().unwrap());
    assert_eq!(health["filter_bots"], false, "in force at once");
    assert_eq!(
        health["site_allowlist"],
        serde_json::json!(["shop.test", "blog.test"])
    );

    // A bad value is refused with the server's words.
    browser.fill("#setting-rate_limit_per_site", "-5");
    browser.click("#save-settings");
    browser.wait_for_text(
        "#settings-error",
        "rate_limit_per_site must be a whole number from 0 (unlimited) to 1000000",
    );

    // The geolocation database is read before it is saved.
    browser.fill("#setting-rate_limit_per_site", "0");
    let missing = home.path().join("GeoLite2-City.mmdb");
    browser.fill("#setting-geoip_database", missing.to_str().unwrap());
    browser.click("#save-settings");
    browser.wait_for_text("#settings-error", "geoip_database: ");
    browser.wait_for_text("#settings-error", "GeoLite2-City.mmdb");
}

#[test]
fn a_site_is_added_with_its_snippet_and_shows_the_teaching_empty_state() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    let browser = Browser::open_dashboard(&server, "/");
    browser.wait_for_text("h1", "Start collecting");
    assert!(browser.text("#snippet-curl").contains("/api/event"));
    browser.fill("#new-site", "https://shop.test/");
    browser.fill("#new-site-tz", "Europe/Berlin");
    browser.click("#add-site button[type=submit]");
    browser.wait_for_text("#site-added", "shop.test is ready");
    let snippet = browser.text("#site-snippet");
    assert_eq!(
        snippet,
        format!(
            "<script defer data-domain=\"shop.test\" src=\"{}/mallard.js\"></script>",
            server.base
        )
    );
    browser.wait_for("#copy-site-snippet");
    assert!(browser.text("#site-added").contains("Europe/Berlin"));

    // Its dashboard teaches how to send the first event.
    browser.click("#site-added a");
    browser.wait_for_text("#empty-site", "No events from shop.test yet");
    let curl = browser.text("#empty-snippet-curl");
    assert!(
        curl.contains(&format!("{}/api/event", server.base))
            && curl.contains("\"d\":\"shop.test\""),
        "{curl}"
    );
    send(&server, "seen.test", "/");
    browser.goto(&server.url("/#/sites"));
    browser.wait_for_text("#sites-table", "seen.test");
    let listed = browser.text("#sites-table");
    assert!(
        listed.contains("shop.test") && listed.contains("Europe/Berlin"),
        "{listed}"
    );
    browser.goto(&server.url("/#/?site=seen.test"));
    browser.wait_for_text("#stat-pageviews", "1");
    let options =
        browser.eval("return [...document.querySelectorAll('#site option')].map(o => o.value)");
    assert_eq!(options, serde_json::json!(["seen.test", "shop.test"]));
}

#[test]
fn realtime_shows_a_freshly_posted_event_without_a_reload() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    send(&server, "live.test", "/already-there");
    let browser = Browser::open_dashboard(&server, "/#/realtime");
    browser.wait_for_text("h1", "Realtime");
    browser.wait_for_text("#recent-events", "/already-there");
    browser.wait_for_text("#live-count", "1");
    browser.eval("window.__marker = 'same page'; return null;");
    send(&server, "live.test", "/just-now");
    // The screen polls every 5 s; leave room for a slow, busy machine.
    browser.wait_for_text_within(
        "#recent-events tbody tr:first-child",
        "/just-now",
        std::time::Duration::from_secs(25),
    );
    let row = browser.text("#recent-events tbody tr:first-child");
    assert!(row.contains("pageview") && row.contains("Chrome"), "{row}");
    assert_eq!(
        browser.eval("return window.__marker"),
        "same page",
        "no reload"
    );
}

#[test]
fn switching_site_and_period_updates_the_view_and_the_export_downloads_it() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    for path in ["/", "/a", "/b"] {
        send(&server, "one.test", path);
    }
    send(&server, "two.test", "/only");
    let browser = Browser::open_dashboard(&server, "/#/?site=one.test&period=30d");
    browser.wait_for_text("#stat-pageviews", "3");

    // The site picker switches the whole view and the URL.
    browser.eval(
        "const s = document.querySelector('#site'); s.value = 'two.test'; \
         s.dispatchEvent(new Event('change')); return null;",
    );
    browser.wait_for_text("#stat-pageviews", "1");
    browser.wait_for_text("table.breakdown[data-dimension=pages]", "/only");
    let hash = browser.eval("return decodeURIComponent(location.hash)");
    assert!(hash.as_str().unwrap().contains("site=two.test"), "{hash}");

    // The period picker too; the export links follow both.
    browser.eval(
        "const p = document.querySelector('#period'); p.value = '7d'; \
         p.dispatchEvent(new Event('change')); return null;",
    );
    browser.wait_for_text("#stat-pageviews", "1");
    let hash = browser.eval("return decodeURIComponent(location.hash)");
    assert!(hash.as_str().unwrap().contains("period=7d"), "{hash}");
    // The view re-renders for the new period; wait for its export link.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let href = loop {
        let href = browser
            .eval("const a = document.querySelector('#export-csv'); return a ? a.href : '';");
        let href = href.as_str().unwrap_or_default().to_owned();
        if href.contains("period=7d") {
            break href;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the export link kept {href}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(
        href.contains("site_id=two.test")
            && href.contains("period=7d")
            && href.contains("format=csv"),
        "{href}"
    );
    let download =
        browser.eval("return document.querySelector('#export-csv').hasAttribute('download')");
    assert_eq!(download, serde_json::Value::Bool(true));

    // What the link downloads: an attachment with the site's events.
    let response = client().get(&href).send().unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{href}: {}",
        response.text().unwrap_or_default()
    );
    let disposition = response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    let csv = response.text().unwrap();
    assert!(csv.contains("/only"), "{csv}");
    assert!(!csv.contains("/a\n") && !csv.contains("one.test"), "{csv}");
}

#[test]
fn settings_link_to_the_openapi_description() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    let browser = Browser::open_dashboard(&server, "/#/settings");
    browser.wait_for_text("#api-card h2", "API");
    let href = browser.eval("return document.querySelector('#openapi-link').href");
    let href = href.as_str().unwrap().to_owned();
    assert!(href.ends_with("/api/openapi.json"), "{href}");
    let description = json_of(client().get(&href).send().unwrap());
    assert!(
        description["openapi"].as_str().unwrap().starts_with("3.1"),
        "{description}"
    );
}

#[test]
fn a_backup_taken_from_settings_shows_with_its_size() {
    let home = TestHome::new();
    let server = Server::start(&home, &[("MALLARD_BACKUP_EVERY", "off")]);
    let browser = Browser::open_dashboard(&server, "/#/settings");
    browser.wait_for_text("#backups-card h2", "Backups");
    browser.wait_for_text("#backup-last", "No backup yet.");
    browser.wait_for_text("#backup-schedule", "Automatic backups are off.");
    browser.click("#backup-now");
    browser.wait_for_text("#backup-status", "Backed up:");
    let last = browser.wait_for_text("#backup-last", "Last backup:");
    assert!(last.contains("KB") || last.contains("MB"), "{last}");
    let files: Vec<_> = std::fs::read_dir(home.data_dir().join("backups"))
        .unwrap()
        .collect();
    assert_eq!(files.len(), 1);
}

#[test]
fn a_site_and_a_date_range_are_deleted_from_the_sites_screen_after_typing_the_name() {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    send(&server, "keep.test", "/a");
    send(&server, "keep.test", "/b");
    send(&server, "drop.test", "/gone");
    let browser = Browser::open_dashboard(&server, "/#/sites");
    browser.wait_for_text("#sites-table", "drop.test");

    // The delete button stays disabled until the site's name is typed.
    browser.click("tr[data-site='drop.test'] .delete-site");
    browser.wait_for("#confirm-delete-site-typed");
    browser.fill("#confirm-delete-site-typed", "drop");
    assert_eq!(
        browser.eval("return document.querySelector('#confirm-delete-site').disabled"),
        true
    );
    browser.fill("#confirm-delete-site-typed", "drop.test");
    browser.click("#confirm-delete-site");
    browser.wait_for_text("#site-deleted", "drop.test is deleted");
    browser.wait_for("#sites-table tr[data-site='keep.test']");
    assert!(!browser.text("#sites-table").contains("drop.test"));
    let sites = json_of(client().get(server.url("/api/sites")).send().unwrap());
    assert_eq!(sites.as_array().unwrap().len(), 1, "{sites}");

    // Today's visits of the other site go from the date-range form.
    let today = browser.eval("const d = new Date(); return d.toISOString().slice(0, 10);");
    let today = today.as_str().unwrap().to_owned();
    browser.eval(&format!(
        "document.querySelector('#delete-range-site').value = 'keep.test'; \
         document.querySelector('#delete-range-from').value = '{today}'; \
         document.querySelector('#delete-range-to').value = '{today}'; return null;"
    ));
    browser.click("#delete-range button[type=submit]");
    browser.fill("#confirm-delete-range-typed", "keep.test");
    browser.click("#confirm-delete-range");
    browser.wait_for_text("#sites-status", "Deleted");
    assert_eq!(
        browser.text("#range-deleted"),
        "Deleted 1 visits (2 events) of keep.test."
    );
    let main = json_of(
        client()
            .get(server.url("/api/stats/main?site_id=keep.test&period=day"))
            .send()
            .unwrap(),
    );
    assert_eq!(main["visits"], 0, "{main}");
}
