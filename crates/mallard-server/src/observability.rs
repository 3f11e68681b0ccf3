//! Prometheus metrics: the process-wide recorder and the names this server uses.
//!
//! The `metrics` facade has one global recorder per process. It is installed once
//! and shared by every server in the process (tests start several).

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The Prometheus handle, installing the global recorder on first use. `None`
/// when another recorder was installed first.
pub fn prometheus() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let seconds = [
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ];
            let sizes = [
                1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 4096.0,
            ];
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &seconds)
                .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_events".into()), &sizes));
            match builder.and_then(PrometheusBuilder::install_recorder) {
                Ok(handle) => Some(handle),
                Err(err) => {
                    tracing::warn!(error = %err, "metrics recorder not installed");
                    None
                }
            }
        })
        .clone()
}

/// The counter of events stored for API `family` (`mallard` or `collector`),
/// registered once: it is bumped for every event. (The recorder is installed
/// with the application state, before the first event arrives.)
pub fn events_ingested(family: Family) -> &'static metrics::Counter {
    static MALLARD: std::sync::LazyLock<metrics::Counter> = std::sync::LazyLock::new(
        || metrics::counter!("mallard_events_ingested_total", "family" => "mallard"),
    );
    static COLLECTOR: std::sync::LazyLock<metrics::Counter> = std::sync::LazyLock::new(
        || metrics::counter!("mallard_events_ingested_total", "family" => "collector"),
    );
    match family {
        Family::Mallard => &MALLARD,
        Family::Collector => &COLLECTOR,
    }
}

/// The counter of stats queries stopped because their client went away
/// (the connection closed before the answer). Looked up at each use, which
/// is rare, so it always counts in the recorder installed by then.
pub fn stats_queries_cancelled() -> metrics::Counter {
    metrics::counter!("mallard_stats_queries_cancelled_total")
}

/// The two API families, as metric labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// The Mallard Metrics API (`/api/event`).
    Mallard,
    /// The event collector API (`/events`, `/s2s/events`).
    Collector,
}
