//! Desktop cold start, measured: from launching `mallard-desktop` (through
//! tauri-driver and WebKitWebDriver under Xvfb, as the window tests do) until
//! its window shows the top stats of a large database, then the app's
//! resident memory after it has sat idle. A benchmark program run on demand;
//! see docs/benchmarks.md:
//!
//! ```sh
//! cargo build --release -p mallard-desktop
//! MALLARD_DESKTOP_BIN=target/release/mallard-desktop \
//!     MALLARD_COLD_START_DATA_DIR=/tmp/mm10m cargo run -p mallard-e2e --bin desktop_cold_start
//! ```
//!
//! The time includes starting WebKitWebDriver, so it is an upper bound of
//! what a person launching the app waits.

use std::time::{Duration, Instant};

use mallard_e2e::TestHome;
use mallard_e2e::desktop::DesktopApp;

fn main() {
    let data_dir = std::env::var("MALLARD_COLD_START_DATA_DIR")
        .expect("set MALLARD_COLD_START_DATA_DIR to a seeded data directory");
    let runs: usize = std::env::var("MALLARD_COLD_START_RUNS")
        .ok()
        .and_then(|runs| runs.parse().ok())
        .unwrap_or(3);
    for run in 1..=runs {
        let home = TestHome::new();
        let started = Instant::now();
        let app = DesktopApp::launch(
            &home,
            &[
                ("MALLARD_DATA_DIR", data_dir.as_str()),
                ("MALLARD_ADMIN_PASSWORD", "correct horse battery"),
                ("RUST_LOG", "warn"),
            ],
        );
        let window_ms = started.elapsed().as_millis();
        app.window.wait_for("#stat-visitors");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !app
            .window
            .text("#stat-visitors")
            .chars()
            .any(|c| c.is_ascii_digit())
        {
            assert!(Instant::now() < deadline, "the stats never showed");
            std::thread::sleep(Duration::from_millis(10));
        }
        let data_ms = started.elapsed().as_millis();
        std::thread::sleep(Duration::from_secs(10));
        let rss = app_rss_mib(&data_dir);
        println!(
            "run {run}: window {window_ms} ms, data shown {data_ms} ms, idle RSS after 10 s {}",
            rss.map_or_else(|| "unknown".to_owned(), |mib| format!("{mib:.1} MiB"))
        );
    }
}

/// The resident memory of the app serving `data_dir` (its pid is in the
/// `server.json` it publishes there), in MiB.
fn app_rss_mib(data_dir: &str) -> Option<f64> {
    let info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("{data_dir}/server.json")).ok()?).ok()?;
    let pid = info["pid"].as_u64()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}
