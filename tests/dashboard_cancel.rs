//! The dashboard under rapid changes of view, in a real browser (headless
//! Chromium through chromedriver) on a year of seeded events: period,
//! filters, screen and tab change faster than the queries answer. The
//! dashboard aborts the requests of each abandoned view and queues its own,
//! so it never shows a "too many queries" error, and the last view shows
//! the right numbers.

use std::time::{Duration, Instant};

use mallard_e2e::browser::Browser;
use mallard_e2e::{Server, TestHome, client, json_of};

const SITE: &str = "views.test";

/// Records, from now on, the text of every error box the page shows.
const WATCH_ERRORS: &str = "
    window.shownErrors = [];
    new MutationObserver(() => {
        for (const box of document.querySelectorAll('.error-box, [role=alert]')) {
            if (box.textContent.trim() && !window.shownErrors.includes(box.textContent)) {
                window.shownErrors.push(box.textContent);
            }
        }
    }).observe(document.body, { childList: true, subtree: true, characterData: true });
    return null;";

#[test]
fn rapid_view_changes_show_no_busy_error_and_end_on_the_right_numbers() {
    let home = TestHome::new();
    home.seed(SITE, 150_000, 365);
    // Uncached, so that every view runs its queries; fewer slots than the
    // dashboard's eight requests of a view, so that its queue and its retries
    // after `Retry-After` are needed too.
    let server = Server::start(
        &home,
        &[
            ("MALLARD_CACHE_TTL", "0"),
            ("MALLARD_MAX_CONCURRENT_QUERIES", "4"),
        ],
    );
    let browser = Browser::open_dashboard(&server, &format!("/#/?site={SITE}&period=30d"));
    browser.wait_for("#stat-pageviews");
    browser.eval(WATCH_ERRORS);

    let google = "filters=source%3D%3DGoogle";
    let views = [
        format!("#/?site={SITE}&period=12mo&{google}"),
        format!("#/?site={SITE}&period=12mo"),
        format!("#/funnel?site={SITE}&period=12mo&steps=page%3A%2F%3Bpage%3A%2Fpricing"),
        format!("#/?site={SITE}&period=90d&{google}"),
        format!("#/sequences?site={SITE}&period=12mo"),
        format!("#/?site={SITE}&period=12mo&filters=page%3D%3D%2Fpricing"),
        format!("#/retention?site={SITE}&period=12mo"),
        format!("#/?site={SITE}&period=all&{google}"),
        format!("#/flow?site={SITE}&period=12mo&page=%2Fpricing"),
        format!("#/sessions?site={SITE}&period=12mo&{google}"),
    ];
    // Two rounds of every view, each left after 150 ms: long before its
    // queries answer.
    for view in views.iter().chain(views.iter()) {
        browser.eval(&format!("location.hash = {view:?}; return null;"));
        std::thread::sleep(Duration::from_millis(150));
        // A tab of a breakdown card, when the dashboard shows them already.
        browser.eval(
            "document.querySelector('button[data-dimension=referrers]')?.click(); return null;",
        );
    }
    let last = format!("#/?site={SITE}&period=12mo&{google}");
    browser.eval(&format!("location.hash = {last:?}; return null;"));

    // Every panel of the last view is drawn.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let drawn = browser.eval(
            "return !!document.querySelector('#stat-pageviews') \
             && !!document.querySelector('#chart svg') \
             && document.querySelectorAll('table.breakdown').length === 5 \
             && !document.querySelector('#main .loading');",
        );
        if drawn == serde_json::Value::Bool(true) {
            break;
        }
        let errors = browser.eval("return window.shownErrors;");
        assert!(
            Instant::now() < deadline,
            "the last view was not drawn; errors shown: {errors}; page: {}",
            browser.text("#main")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let errors = browser.eval("return window.shownErrors;");
    assert_eq!(errors, serde_json::json!([]), "no error was ever shown");

    // The numbers are those of the API for the last view.
    let api = |path: &str| {
        json_of(
            client()
                .get(server.url(&format!("{path}?site_id={SITE}&period=12mo&{google}")))
                .send()
                .unwrap(),
        )
    };
    let main = api("/api/stats/main");
    let pageviews = main["total_pageviews"].as_u64().unwrap();
    assert!(pageviews > 0, "{main}");
    let shown = browser.text("#stat-pageviews .stat-value").replace(',', "");
    assert_eq!(shown, pageviews.to_string());
    let visits = browser.text("#stat-visits .stat-value").replace(',', "");
    assert_eq!(visits, main["visits"].as_u64().unwrap().to_string());
    let pages = api("/api/stats/breakdown/pages");
    let top = pages[0]["value"].as_str().unwrap();
    let shown = browser.text("table.breakdown[data-dimension=pages] tbody tr");
    assert!(shown.starts_with(top), "{shown:?} against {pages}");
    assert!(
        browser.text("#filters").contains("source is Google"),
        "the filter of the last view"
    );
}
