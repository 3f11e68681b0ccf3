//! The dashboard's first load on a large database, measured in a real browser:
//! the time from navigation start until the top stats are on screen (the
//! dashboard stamps `data-stats-shown-at` with `performance.now()` when it
//! shows them). A benchmark program run on demand; see docs/benchmarks.md:
//!
//! ```sh
//! cargo run --release -p mallard-cli -- seed --data-dir /tmp/mm10m \
//!     --site bench.example --events 10000000 --days 365
//! MALLARD_BIN=target/release/mallard MALLARD_FIRST_LOAD_DATA_DIR=/tmp/mm10m \
//!     MALLARD_FIRST_LOAD_SITE=bench.example cargo run -p mallard-e2e --bin first_load
//! ```

use std::time::Duration;

use mallard_e2e::browser::Browser;
use mallard_e2e::{Server, TestHome};

fn stats_shown_at(browser: &Browser) -> f64 {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let value = browser.eval(
            "const v = document.documentElement.dataset.statsShownAt; return v ? Number(v) : null;",
        );
        if let Some(ms) = value.as_f64() {
            return ms;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the stats never showed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn main() {
    let data_dir =
        std::env::var("MALLARD_FIRST_LOAD_DATA_DIR").expect("MALLARD_FIRST_LOAD_DATA_DIR");
    let site = std::env::var("MALLARD_FIRST_LOAD_SITE").unwrap_or_else(|_| "bench.example".into());
    let home = TestHome::new();
    std::os::unix::fs::symlink(&data_dir, home.data_dir()).unwrap();
    let server = Server::start(&home, &[]);
    let base = server.base.clone();
    let browser = Browser::start();
    browser.goto(&format!("{base}/"));
    browser.wait_for("#open-access, #login-password, h1");
    browser.remember_open_access();
    for period in ["30d", "12mo"] {
        let mut times = Vec::new();
        for _ in 0..5 {
            // A new document each time: everything is fetched again.
            browser.goto(&format!(
                "{base}/?load={}#/?site={site}&period={period}",
                times.len()
            ));
            times.push(stats_shown_at(&browser));
        }
        println!(
            "period {period}: first load {:.0} ms, then {:?} ms",
            times[0],
            &times[1..]
        );
        assert!(
            times[0] <= 1000.0,
            "{period}: numbers showed after {} ms",
            times[0]
        );
    }
    drop(browser);
    let (status, _) = server.terminate();
    assert!(status.success());
}
