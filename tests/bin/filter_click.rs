//! Filtering the dashboard by a click, measured in a real browser on a large
//! database: the time from clicking a row of the sources breakdown ("Google")
//! on the 12-month dashboard until every panel (top stats, chart, every
//! breakdown card) shows the filtered data; then switching the filtered view
//! between 30 days and 12 months; then opening Behaviour → Funnel right after
//! another filter click, with any error text the screen shows. The dashboard
//! stamps each panel with `data-drawn-at` (`performance.now()`) when it shows
//! its data or its error; the revenue tile, which the dashboard asks for
//! after them, is timed on its own. A benchmark program run on demand, not
//! a test; the server runs uncached (`MALLARD_CACHE_TTL=0`). See
//! docs/benchmarks.md:
//!
//! ```sh
//! cargo build --release -p mallard-cli
//! target/release/mallard seed --data-dir /work/bench-data/1m \
//!     --site bench.example --events 1000000 --days 365
//! MALLARD_BIN=$PWD/target/release/mallard MALLARD_FILTER_CLICK_DATA_DIR=/work/bench-data/1m \
//!     MALLARD_FILTER_CLICK_SITE=bench.example cargo run -p mallard-e2e --bin filter_click
//! ```
//!
//! `MALLARD_FILTER_CLICK_PATIENCE` (seconds, default 120) bounds each wait;
//! `MALLARD_FILTER_CLICK_RUNS` (default 3) sets how many filter clicks are timed.

use std::time::{Duration, Instant};

use mallard_e2e::browser::Browser;
use mallard_e2e::{Server, TestHome};

/// Panels of the dashboard: top stats, chart, five breakdown cards.
const PANELS: usize = 7;

/// How long to wait for the revenue tile once the panels are drawn, at most.
const REVENUE_PATIENCE: Duration = Duration::from_secs(10);

/// Where the panels stand after an action taken at `since` (page time, ms).
#[derive(Debug)]
struct Drawn {
    /// Milliseconds from the action until the last panel was drawn, when all were.
    all_ms: Option<f64>,
    /// Per panel: its name and when it was drawn after the action, or where it stands.
    panels: Vec<String>,
    /// Error texts shown on the page.
    errors: Vec<String>,
}

/// Reads the panels' stamps: those drawn after `since` count.
fn drawn_since(browser: &Browser, since: f64) -> Drawn {
    let value = browser.eval(&format!(
        r#"const since = {since};
        const main = document.getElementById('main');
        const panels = [...main.querySelectorAll('.stats, #chart, .breakdown-body')].map((panel) => {{
          const name = panel.id || panel.querySelector('table')?.dataset.dimension
            || panel.closest('.breakdown-card')?.getAttribute('aria-label') || panel.className;
          const at = Number(panel.dataset.drawnAt ?? NaN);
          const error = panel.querySelector('.error-box .error')?.innerText.trim();
          return {{ name: error ? `${{name}} (error: ${{error}})` : name, after: at >= since ? at - since : null,
                    state: panel.querySelector('.loading') ? 'loading' : 'not drawn' }};
        }});
        // Errors of the view itself (the top stats failed, no panel shows).
        const errors = [...main.querySelectorAll('.error-box .error')]
          .filter((e) => !e.closest('.stats, #chart, .breakdown-body')).map((e) => e.innerText.trim()).filter(Boolean);
        return {{ panels, errors }};"#
    ));
    let panels = value["panels"].as_array().cloned().unwrap_or_default();
    let afters: Vec<Option<f64>> = panels.iter().map(|p| p["after"].as_f64()).collect();
    let all_ms = (panels.len() == PANELS && afters.iter().all(Option::is_some))
        .then(|| afters.iter().flatten().fold(0.0, |a: f64, b| a.max(*b)));
    Drawn {
        all_ms,
        panels: panels
            .iter()
            .map(|p| {
                let name = p["name"].as_str().unwrap_or("?");
                match p["after"].as_f64() {
                    Some(ms) => format!("{name} {ms:.0} ms"),
                    None => format!("{name} {}", p["state"].as_str().unwrap_or("?")),
                }
            })
            .collect(),
        errors: value["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e.as_str().map(str::to_owned))
            .collect(),
    }
}

/// Waits until every panel was drawn after `since`, the view shows an error
/// instead of its panels, or `patience` runs out; returns the last reading.
fn wait_drawn(browser: &Browser, since: f64, patience: Duration) -> Drawn {
    let deadline = Instant::now() + patience;
    loop {
        let drawn = drawn_since(browser, since);
        // The top stats failed: no panel will come.
        let failed = drawn.panels.is_empty() && !drawn.errors.is_empty();
        if drawn.all_ms.is_some() || failed || Instant::now() > deadline {
            return drawn;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// How long after `since` the revenue tile was drawn, waiting up to
/// `patience` for it (the dashboard asks for revenue after the panels; a
/// site without revenue shows no tile).
fn revenue_after(browser: &Browser, since: f64, patience: Duration) -> Option<f64> {
    let deadline = Instant::now() + patience;
    loop {
        let at = browser
            .eval(&format!(
                r#"const at = Number(document.getElementById('stat-revenue')?.dataset.drawnAt ?? NaN);
                return at >= {since} ? at - {since} : null;"#
            ))
            .as_f64();
        if at.is_some() || Instant::now() > deadline {
            return at;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Prints when the revenue tile was drawn after `since`.
fn report_revenue(browser: &Browser, since: f64, patience: Duration) {
    match revenue_after(browser, since, patience) {
        Some(ms) => println!("    revenue tile {ms:.0} ms"),
        None => println!("    revenue tile not shown within {patience:?}"),
    }
}

/// Clicks the row `value` of the breakdown `dimension` and returns the page
/// time of the click.
fn click_row(browser: &Browser, dimension: &str, value: &str) -> f64 {
    let at = browser.eval(&format!(
        r#"const button = [...document.querySelectorAll('table.breakdown[data-dimension="{dimension}"] button.row-filter')]
            .find((b) => b.textContent === {value:?});
        if (!button) return null;
        const at = performance.now();
        button.click();
        return at;"#
    ));
    at.as_f64()
        .unwrap_or_else(|| panic!("no row {value:?} in the {dimension} breakdown"))
}

/// Chooses `period` in the period picker and returns the page time of the change.
fn choose_period(browser: &Browser, period: &str) -> f64 {
    browser
        .eval(&format!(
            r#"const select = document.getElementById('period');
            const at = performance.now();
            select.value = {period:?};
            select.dispatchEvent(new Event('change'));
            return at;"#
        ))
        .as_f64()
        .expect("a period picker")
}

fn report(label: &str, drawn: &Drawn) {
    match drawn.all_ms {
        Some(ms) => println!("{label}: every panel drawn after {ms:.0} ms"),
        None => println!("{label}: NOT every panel drawn within the patience"),
    }
    println!("    {}", drawn.panels.join(", "));
    if !drawn.errors.is_empty() {
        println!("    errors shown instead of the panels: {:?}", drawn.errors);
    }
}

/// The server's peak resident set size so far, in MiB.
fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

fn main() {
    let data_dir =
        std::env::var("MALLARD_FILTER_CLICK_DATA_DIR").expect("MALLARD_FILTER_CLICK_DATA_DIR");
    let site =
        std::env::var("MALLARD_FILTER_CLICK_SITE").unwrap_or_else(|_| "bench.example".into());
    let patience = Duration::from_secs(
        std::env::var("MALLARD_FILTER_CLICK_PATIENCE")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(120),
    );
    let runs: usize = std::env::var("MALLARD_FILTER_CLICK_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let home = TestHome::new();
    std::os::unix::fs::symlink(&data_dir, home.data_dir()).unwrap();
    let server = Server::start(&home, &[("MALLARD_CACHE_TTL", "0")]);
    let base = server.base.clone();
    let browser = Browser::start();
    browser.goto(&format!("{base}/"));
    browser.wait_for("#open-access, #login-password, h1");
    browser.remember_open_access();
    println!("filter_click: {site} in {data_dir}, patience {patience:?}");

    for run in 1..=runs {
        // A new document on the unfiltered 12-month view, every panel drawn.
        browser.goto(&format!("{base}/?run={run}#/?site={site}&period=12mo"));
        let loaded = wait_drawn(&browser, 0.0, patience);
        report(
            &format!("run {run}: unfiltered 12 months, first load"),
            &loaded,
        );
        report_revenue(&browser, 0.0, patience.min(REVENUE_PATIENCE));
        let clicked = click_row(&browser, "sources", "Google");
        let filtered = wait_drawn(&browser, clicked, patience);
        report(&format!("run {run}: click Google (12 months)"), &filtered);
        report_revenue(&browser, clicked, patience.min(REVENUE_PATIENCE));
    }

    // The filtered view: 30 days, then back to 12 months.
    for period in ["30d", "12mo"] {
        let changed = choose_period(&browser, period);
        let drawn = wait_drawn(&browser, changed, patience);
        report(&format!("period -> {period} (filtered by Google)"), &drawn);
    }

    // Behaviour → Funnel right after a filter click on the unfiltered view: the
    // dashboard's queries are still running when the funnel asks.
    browser.goto(&format!("{base}/?funnel=1#/?site={site}&period=12mo"));
    report(
        "unfiltered 12 months before the funnel",
        &wait_drawn(&browser, 0.0, patience),
    );
    click_row(&browser, "sources", "Google");
    let opened = browser
        .eval(&format!(
            r#"const at = performance.now();
            location.hash = '#/funnel?site={site}&period=12mo&filters=source%3D%3DGoogle&steps=page%3A%2F%2Cpage%3A%2Fpricing%2Cevent%3ASignup';
            return at;"#
        ))
        .as_f64()
        .expect("a page time");
    let deadline = Instant::now() + patience;
    loop {
        let state = browser.eval(&format!(
            r#"const out = document.getElementById('funnel-out');
            const error = out?.querySelector('.error-box .error');
            const result = out?.querySelector('#funnel-result');
            return {{ after: performance.now() - {opened}, error: error ? error.innerText.trim() : null, done: !!result }};"#
        ));
        let after = state["after"].as_f64().unwrap_or(f64::NAN);
        if let Some(error) = state["error"].as_str() {
            println!("funnel after a filter click: error after {after:.0} ms: {error:?}");
            break;
        }
        if state["done"].as_bool() == Some(true) {
            println!("funnel after a filter click: result after {after:.0} ms, no error");
            break;
        }
        if Instant::now() > deadline {
            println!("funnel after a filter click: nothing within {patience:?}");
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    println!("server peak RSS: {:.1} MiB", peak_rss_mib(server.pid()));
    drop(browser);
    let (status, _) = server.terminate();
    assert!(status.success());
}
