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

/// The counter of events refused by the per-site rate limit (Mallard's
/// `mallard_rate_limit_rejections_total`).
pub fn rate_limit_rejections() -> metrics::Counter {
    metrics::counter!("mallard_rate_limit_rejections_total")
}

/// The counter of writes of events that failed (Mallard's
/// `mallard_flush_failures_total`: its buffer flushes are this server's
/// writer commits).
pub fn flush_failures() -> metrics::Counter {
    metrics::counter!("mallard_flush_failures_total")
}

/// The counter of stats answers found in the cache (`hit`) or computed
/// because they were not (Mallard's `mallard_cache_hits_total` and
/// `mallard_cache_misses_total`).
pub fn cache_lookups(hit: bool) -> metrics::Counter {
    if hit {
        metrics::counter!("mallard_cache_hits_total")
    } else {
        metrics::counter!("mallard_cache_misses_total")
    }
}

/// Registers Mallard's counters at 0, so `/metrics` lists them before
/// anything is counted.
pub fn register_mallard_counters() {
    rate_limit_rejections().increment(0);
    flush_failures().increment(0);
    cache_lookups(true).increment(0);
    cache_lookups(false).increment(0);
    metrics::counter!("mallard_login_failures_total").increment(0);
}

/// Sets the gauges Mallard documents from the state of the server being
/// scraped: events waiting to be written, cached answers, and whether a
/// password is set, a geolocation database is loaded, bots are filtered and
/// the behavioural queries are available (always: they are built in).
pub fn set_mallard_gauges(gauges: &MallardGauges) {
    metrics::gauge!("mallard_buffered_events").set(gauges.buffered_events as f64);
    metrics::gauge!("mallard_cache_entries").set(gauges.cache_entries as f64);
    metrics::gauge!("mallard_auth_configured").set(f64::from(u8::from(gauges.auth_configured)));
    metrics::gauge!("mallard_geoip_loaded").set(1.0);
    metrics::gauge!("mallard_filter_bots").set(f64::from(u8::from(gauges.filter_bots)));
    metrics::gauge!("mallard_behavioral_extension").set(1.0);
}

/// The values of Mallard's gauges at a scrape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MallardGauges {
    /// Events accepted but not yet written.
    pub buffered_events: usize,
    /// Stats answers in the cache.
    pub cache_entries: usize,
    /// Whether an admin password is set.
    pub auth_configured: bool,
    /// Whether bots are filtered at ingestion.
    pub filter_bots: bool,
}

/// The two API families, as metric labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// The Mallard Metrics API (`/api/event`).
    Mallard,
    /// The event collector API (`/events`, `/s2s/events`).
    Collector,
}
