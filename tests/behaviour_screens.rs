//! The Behaviour screens (funnel, retention, flow, sequences, sessions) in a
//! real browser (headless Chromium through chromedriver), on a small hand-made
//! data set posted over HTTP: the exact numbers each screen shows, the funnel
//! form (add, remove, reorder, validation), paging, and the URL hash that
//! brings the same view back after a reload.

use mallard_e2e::browser::Browser;
use mallard_e2e::{Server, TestHome, client};
use reqwest::StatusCode;
use serde_json::json;

const SITE: &str = "shop.test";
const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;

fn today_day() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    now.div_euclid(DAY)
}

/// `YYYY-MM-DD` of a day number since 1970-01-01 (H. Hinnant's algorithm).
fn civil(day: i64) -> String {
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The Monday on or before `day`.
fn monday(day: i64) -> i64 {
    day - (day + 3).rem_euclid(7)
}

/// Seven visits of four visitors (SDK `anon_id`s, stable across weeks), at
/// noon UTC and after, 22, 15 and 8 days ago (exactly one week apart):
/// - 22 days ago: A `/`, `/pricing` (+1 min), `Signup` (+2 min 30 s);
///   B `/`, `/pricing`; C `/` (a bounce).
/// - 15 days ago: A `/`; B `/docs`; D `/pricing`, `/docs`.
/// - 8 days ago: A `/`.
fn seed(server: &Server) {
    let today = today_day();
    let at = |days_ago: i64, hour: i64, ms: i64| (today - days_ago) * DAY + hour * HOUR + ms;
    let events = [
        ("a", "pageview", "/", at(22, 12, 0)),
        ("a", "pageview", "/pricing", at(22, 12, MIN)),
        ("a", "Signup", "/pricing", at(22, 12, 150_000)),
        ("b", "pageview", "/", at(22, 13, 0)),
        ("b", "pageview", "/pricing", at(22, 13, MIN)),
        ("c", "pageview", "/", at(22, 14, 0)),
        ("a", "pageview", "/", at(15, 12, 0)),
        ("b", "pageview", "/docs", at(15, 13, 0)),
        ("d", "pageview", "/pricing", at(15, 14, 0)),
        ("d", "pageview", "/docs", at(15, 14, MIN)),
        ("a", "pageview", "/", at(8, 12, 0)),
    ];
    for (n, (visitor, kind, path, ts)) in events.into_iter().enumerate() {
        let body = json!({
            "id": format!("00000000-0000-4000-8000-{:012}", n + 1),
            "site_id": SITE, "anon_id": format!("visitor-{visitor}"), "type": kind,
            "url": format!("https://{SITE}{path}"), "ts": ts,
            "context": {"screen": {"w": 1440, "h": 900}},
        });
        let response = client()
            .post(server.url("/events"))
            .bearer_auth(SITE)
            .json(&body)
            .send()
            .unwrap();
        assert_eq!(response.status(), StatusCode::ACCEPTED, "{body}");
    }
}

fn seeded() -> (TestHome, Server) {
    let home = TestHome::new();
    let server = Server::start(&home, &[]);
    seed(&server);
    (home, server)
}

/// Sets a `<select>` as a person would, firing its change event.
fn choose(browser: &Browser, css: &str, value: &str) {
    browser.wait_for(css);
    browser.eval(&format!(
        "const s = document.querySelector({css:?}); s.value = {value:?}; s.dispatchEvent(new Event('change')); return null;"
    ));
}

fn hash(browser: &Browser) -> String {
    browser
        .eval("return decodeURIComponent(location.hash)")
        .as_str()
        .unwrap()
        .to_owned()
}

fn funnel_numbers(browser: &Browser) {
    browser.wait_for_text("#funnel-summary", "5 visits entered, 1 completed");
    assert!(browser.text("#funnel-summary").contains("20.0% conversion"));
    let step = |n: u32| browser.text(&format!("#funnel-bars li[data-step='{n}']"));
    let first = step(1);
    assert!(
        first.contains("/") && first.contains("5 visits · 3 visitors · 100.0% of step 1"),
        "{first}"
    );
    assert_eq!(
        browser.text("#funnel-bars li[data-step='2'] .funnel-numbers"),
        "2 visits · 2 visitors · 40.0% of step 1 · 40.0% of previous step · 3 dropped off (60.0%)"
    );
    let third = step(3);
    assert!(
        third.contains("Event") && third.contains("Signup"),
        "{third}"
    );
    assert_eq!(
        browser.text("#funnel-bars li[data-step='3'] .funnel-numbers"),
        "1 visits · 1 visitors · 20.0% of step 1 · 50.0% of previous step · 1 dropped off (50.0%)"
    );
    // The accessible table says the same.
    browser.click("#funnel-result details summary");
    let row = browser.wait_for_text("#funnel-table tbody tr:nth-child(3)", "event:Signup");
    assert_eq!(row, "3. event:Signup 1 1 20.0% 50.0% 1 50.0%");
}

#[test]
fn a_funnel_defined_in_the_form_shows_exact_steps_and_comes_back_from_the_url() {
    let (_home, server) = seeded();
    let browser = Browser::open_dashboard(&server, &format!("/#/funnel?site={SITE}&period=30d"));
    browser.wait_for_text("h1", "Funnel");
    browser.wait_for("#funnel-hint");

    // An empty step is refused in words, without a request.
    browser.click("#show-funnel");
    browser.wait_for_text("#funnel-problem", "Step 2 is empty");
    assert!(!hash(&browser).contains("steps="));

    // Steps: `/`, then the event Signup, then `/pricing` moved above it.
    browser.fill("#funnel-steps li[data-step='2'] .step-value", "/docs");
    browser.click("#add-step");
    choose(
        &browser,
        "#funnel-steps li[data-step='3'] .step-type",
        "event",
    );
    browser.fill("#funnel-steps li[data-step='3'] .step-value", "Signup");
    browser.click("#add-step");
    browser.fill("#funnel-steps li[data-step='4'] .step-value", "/pricing");
    browser.click("#funnel-steps li[data-step='2'] [data-action=remove]");
    browser.click("#funnel-steps li[data-step='3'] [data-action=up]");
    let focused = browser.eval(
        "return document.activeElement.closest('li').dataset.step + document.activeElement.dataset.action",
    );
    assert_eq!(focused, json!("2up"), "focus follows the moved step");
    choose(&browser, "#funnel-window", "1h");
    browser.click("#show-funnel");
    funnel_numbers(&browser);
    let url = hash(&browser);
    assert!(
        url.contains("steps=page:/,page:/pricing,event:Signup") && url.contains("window=1h"),
        "{url}"
    );
    assert!(url.contains(&format!("site={SITE}")) && url.contains("period=30d"));
    browser.wait_for_text("#funnel-summary", "within 1 hour");

    // The bookmark reloads the same view, form included.
    browser.eval("location.reload(); return null;");
    funnel_numbers(&browser);
    let values = browser.eval(
        "return [...document.querySelectorAll('#funnel-steps li')].map(li => li.querySelector('.step-type').value + ':' + li.querySelector('.step-value').value).concat(document.querySelector('#funnel-window').value)",
    );
    assert_eq!(
        values,
        json!(["page:/", "page:/pricing", "event:Signup", "1h"])
    );

    // A step no visit reaches says so in words (a bookmark from before
    // Mallard's commas, with `;` between the steps, still opens).
    browser.goto(&server.url(&format!(
        "/#/funnel?site={SITE}&period=30d&steps=page:/nowhere;page:/"
    )));
    browser.wait_for_text(
        "#funnel-empty",
        "No visit in this period reached the first step",
    );
}

#[test]
fn the_retention_grid_shows_weekly_cohorts_with_shares_and_counts() {
    let (_home, server) = seeded();
    let cohort = civil(monday(today_day() - 22));
    let next = civil(monday(today_day() - 15));
    let browser = Browser::open_dashboard(
        &server,
        &format!("/#/retention?site={SITE}&period=30d&weeks=8"),
    );
    browser.wait_for_text("h1", "Retention");
    let row = format!("#retention-grid tr[data-cohort='{cohort}']");
    browser.wait_for(&row);
    assert_eq!(browser.text(&format!("{row} .ret-size")), "3");
    assert_eq!(
        browser.text(&format!("{row} td[data-week='1']")),
        "66.7%\n2"
    );
    assert_eq!(
        browser.text(&format!("{row} td[data-week='2']")),
        "33.3%\n1"
    );
    assert_eq!(browser.text(&format!("{row} td[data-week='3']")), "0.0%\n0");
    let later = format!("#retention-grid tr[data-cohort='{next}']");
    assert_eq!(browser.text(&format!("{later} .ret-size")), "1");
    assert_eq!(
        browser.text(&format!("{later} td[data-week='1']")),
        "0.0%\n0"
    );
    // Eight week columns, as the URL asked, and the choice shows it.
    let columns =
        browser.eval("return document.querySelectorAll('#retention-grid thead th').length");
    assert_eq!(columns, json!(10));
    assert_eq!(
        browser.eval("return document.querySelector('#retention-weeks').value"),
        json!("8")
    );
    // Cells are shaded by their share.
    let shade = browser.eval(&format!(
        "return getComputedStyle(document.querySelector(\"{row} td[data-week='1']\")).getPropertyValue('--share').trim()"
    ));
    let share: f64 = shade.as_str().unwrap_or_default().parse().unwrap_or(-1.0);
    assert!((share - 2.0 / 3.0).abs() < 0.001, "{shade}");

    choose(&browser, "#retention-weeks", "4");
    // Six header cells, the sixth the last: the 4-week grid has replaced the 8-week one.
    browser.wait_for("#retention-grid thead th:nth-child(6):last-child");
    browser.wait_for(&format!("{row} td[data-week='4']"));
    assert!(hash(&browser).contains("weeks=4"));
    let columns =
        browser.eval("return document.querySelectorAll('#retention-grid thead th').length");
    assert_eq!(columns, json!(6));
}

#[test]
fn the_flow_shows_where_visits_came_from_and_went_next_around_a_page() {
    let (_home, server) = seeded();
    let browser = Browser::open_dashboard(&server, &format!("/#/flow?site={SITE}&period=30d"));
    browser.wait_for("#flow-hint");
    browser.fill("#flow-page-input", "pricing");
    browser.click("#show-flow");
    browser.wait_for_text("#flow-problem", "starts with “/”");
    browser.fill("#flow-page-input", "/pricing");
    browser.click("#show-flow");
    browser.wait_for_text("#flow-page", "3 visits · 3 views");
    let row =
        |side: &str, value: &str| browser.text(&format!("#flow-{side} tr[data-value='{value}']"));
    assert_eq!(row("previous", "/"), "/ 2 2");
    assert_eq!(row("previous", "(entrance)"), "(entrance) 1 1");
    assert_eq!(row("next", "(exit)"), "(exit) 2 2");
    assert_eq!(row("next", "/docs"), "/docs 1 1");
    assert_eq!(
        browser.eval("return document.querySelectorAll('#flow-result tbody tr').length"),
        json!(4)
    );
    assert!(hash(&browser).contains("page=/pricing"));

    // A page in the flow opens its own flow; a reload keeps it.
    browser.click("#flow-next tr[data-value='/docs'] button");
    browser.wait_for_text("#flow-page", "/docs");
    browser.wait_for_text("#flow-page", "2 visits · 2 views");
    browser.eval("location.reload(); return null;");
    browser.wait_for_text("#flow-page", "2 visits · 2 views");
    assert_eq!(row("previous", "/pricing"), "/pricing 1 1");
    assert_eq!(row("previous", "(entrance)"), "(entrance) 1 1");
    assert_eq!(row("next", "(exit)"), "(exit) 2 2");
}

#[test]
fn sequences_list_common_paths_and_open_one_as_a_funnel() {
    let (_home, server) = seeded();
    let browser = Browser::open_dashboard(
        &server,
        &format!("/#/sequences?site={SITE}&period=30d&length=2"),
    );
    browser.wait_for("#sequences-table");
    let row = |steps: &str| browser.text(&format!("#sequences-table tr[data-steps='{steps}']"));
    assert!(
        row("page:/;page:/pricing").ends_with("2 2 As funnel"),
        "{}",
        row("page:/;page:/pricing")
    );
    assert!(row("page:/pricing;event:Signup").ends_with("1 1 As funnel"));
    assert!(row("page:/pricing;page:/docs").ends_with("1 1 As funnel"));
    assert_eq!(
        browser.eval("return document.querySelectorAll('#sequences-table tbody tr').length"),
        json!(3)
    );
    assert_eq!(
        browser.eval("return document.querySelector('#sequences-table tbody tr').dataset.steps"),
        json!("page:/;page:/pricing"),
        "the most visits first"
    );
    choose(&browser, "#sequence-length", "3");
    browser.wait_for("#sequences-table tr[data-steps='page:/;page:/pricing;event:Signup']");
    assert!(hash(&browser).contains("length=3"));
    browser.click("#sequences-table tbody tr button");
    browser.wait_for_text("#funnel-summary", "5 visits entered, 1 completed");
}

#[test]
fn sessions_are_listed_newest_first_a_page_at_a_time() {
    let (_home, server) = seeded();
    let browser = Browser::open_dashboard(
        &server,
        &format!("/#/sessions?site={SITE}&period=30d&limit=3"),
    );
    browser.wait_for("#sessions-table");
    let today = today_day();
    let rows = || {
        browser.eval(
            "return [...document.querySelectorAll('#sessions-table tbody tr')].map(tr => [...tr.cells].map(td => td.innerText.trim()).join(' | '))",
        )
    };
    let day = |ago: i64| civil(today - ago);
    assert_eq!(
        rows(),
        json!([
            format!(
                "{} 12:00 | 0s | 1 | 1 | / bounce | Direct | – | Chrome | Desktop",
                day(8)
            ),
            format!(
                "{} 14:00 | 1m 0s | 2 | 2 | /pricing → /docs | Direct | – | Chrome | Desktop",
                day(15)
            ),
            format!(
                "{} 13:00 | 0s | 1 | 1 | /docs bounce | Direct | – | Chrome | Desktop",
                day(15)
            ),
        ])
    );
    assert_eq!(browser.text("#sessions-range"), "Visits 1–3");
    assert_eq!(
        browser.eval("return document.querySelector('#sessions-newer').disabled"),
        json!(true)
    );
    browser.click("#sessions-older");
    browser.wait_for_text("#sessions-range", "Visits 4–6");
    assert!(hash(&browser).contains("offset=3") && hash(&browser).contains("limit=3"));
    browser.click("#sessions-older");
    browser.wait_for_text("#sessions-range", "Visits 7–7");
    assert_eq!(
        rows(),
        json!([format!(
            "{} 12:00 | 2m 30s | 2 | 3 | / → /pricing | Direct | – | Chrome | Desktop",
            day(22)
        )])
    );
    assert_eq!(
        browser.eval("return document.querySelector('#sessions-older').disabled"),
        json!(true)
    );
    // The bookmark of the last page reloads it.
    browser.eval("location.reload(); return null;");
    browser.wait_for_text("#sessions-range", "Visits 7–7");
    browser.click("#sessions-newer");
    browser.wait_for_text("#sessions-range", "Visits 4–6");
}

#[test]
fn the_behaviour_link_keeps_the_dashboard_site_period_and_filters() {
    let (_home, server) = seeded();
    let other = client()
        .post(server.url("/api/event"))
        .json(&mallard_e2e::pageview("other.test", "/"))
        .send()
        .unwrap();
    assert_eq!(other.status(), StatusCode::ACCEPTED);
    let browser = Browser::open_dashboard(
        &server,
        &format!("/#/?site={SITE}&period=90d&filters=page%3D%3D%2Fpricing"),
    );
    browser.wait_for("#stat-visitors");
    browser.click("#nav-behaviour");
    browser.wait_for_text("h1", "Funnel");
    let url = hash(&browser);
    assert!(
        url.starts_with("#/funnel?")
            && url.contains(&format!("site={SITE}"))
            && url.contains("period=90d")
            && url.contains("filters=page==/pricing"),
        "{url}"
    );
    assert_eq!(
        browser
            .eval("return document.querySelector('#nav-behaviour').getAttribute('aria-current')"),
        json!("page")
    );
    assert_eq!(
        browser.eval("return document.querySelector('#period').value"),
        json!("90d")
    );
    browser.wait_for_text("#filters", "page is /pricing");
    // Sessions under that filter: the three visits that viewed /pricing.
    browser.click("#tab-sessions");
    browser.wait_for_text("#sessions-range", "Visits 1–3");
    // The filter chip removes the filter and keeps the screen.
    browser.click("#filters button");
    browser.wait_for_text("#sessions-range", "Visits 1–7");
    assert!(hash(&browser).starts_with("#/sessions?"));
}

#[test]
fn every_behaviour_screen_fits_a_390_pixel_window() {
    let (_home, server) = seeded();
    let browser = Browser::open_dashboard(&server, &format!("/#/sessions?site={SITE}&period=30d"));
    browser.resize(390, 844);
    let screens = [
        (
            "funnel",
            "steps=page:/;page:/pricing;event:Signup",
            "#funnel-bars",
        ),
        ("retention", "weeks=8", "#retention-grid"),
        ("flow", "page=/pricing", "#flow-result"),
        ("sequences", "length=3", "#sequences-table"),
        ("sessions", "", "#sessions-table"),
    ];
    for (screen, own, ready) in screens {
        browser.goto(&server.url(&format!("/#/{screen}?site={SITE}&period=30d&{own}")));
        browser.wait_for(ready);
        let width = browser.eval(
            "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]",
        );
        let wide = browser.eval(
            "return [...document.querySelectorAll('main *')].filter(e => !e.closest('.table-wrap') && e.getBoundingClientRect().right > document.documentElement.clientWidth + 1).slice(0, 4).map(e => e.tagName + '.' + e.className + '#' + e.id).concat([...document.querySelectorAll('.table-wrap')].map(w => [w.scrollWidth, w.clientWidth, getComputedStyle(w).overflowX, w.parentElement.clientWidth, w.parentElement.id, w.parentElement.parentElement.clientWidth].join(',')))",
        );
        assert_eq!(
            width[0], width[1],
            "{screen} overflows sideways: {width} {wide}"
        );
        if let Ok(dir) = std::env::var("BEHAVIOUR_SCREENSHOTS") {
            std::fs::write(format!("{dir}/{screen}.png"), browser.screenshot()).unwrap();
        }
    }
}
