//! Running stats queries: the concurrency limits and the answer cache.
//!
//! The cache is bounded by bytes, not by a count of answers: each answer
//! weighs the length of its JSON text (and its key), and the least recently
//! useful answers are evicted (quick_cache's CLOCK-Pro) once
//! [`MAX_CACHED_BYTES`] are held, so a few huge breakdowns cannot hold
//! hundreds of megabytes. Chart rendering has its own small limit
//! ([`MAX_CHART_RENDERS`]); beyond it a chart is answered 503 with
//! `Retry-After`. A query whose client goes away is cancelled and frees its
//! slot at once (see [`super::abandon`]).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mallard_core::{DayRange, Period, SiteId, SiteTimeZone};
use mallard_store::StoreError;
use mallard_store::stats::SiteInfo;
use mallard_store::stats::StatsQuery;
use mallard_store::{QueryCancel, ReadConn};
use serde_json::Value;
use tokio::sync::Semaphore;

use super::abandon::Abandon;
use crate::config::Config;
use crate::error::ApiError;
use crate::state::AppState;

/// The most bytes of answers (their JSON text) the cache holds.
pub(crate) const MAX_CACHED_BYTES: u64 = 32 * 1024 * 1024;
/// The number of answers the cache is sized for (it may hold more small ones).
const EXPECTED_ANSWERS: usize = 2_000;
/// The most charts rendered at once (each holds a bitmap while it renders).
pub(crate) const MAX_CHART_RENDERS: usize = 2;
/// The most behavioural queries (funnels, sequences, ...) running at once.
/// Each reads the raw rows of its period and may hold about 100 MB for a
/// year of a busy site, so they get a smaller limit than other queries.
pub(crate) const MAX_HEAVY_QUERIES: usize = 2;

/// One cached answer.
#[derive(Debug, Clone)]
struct Cached {
    version: i64,
    stored: Instant,
    value: Arc<Value>,
    /// The length of the answer's JSON text and its key.
    bytes: u64,
}

/// Weighs a cached answer by its bytes.
#[derive(Debug, Clone, Copy)]
struct ByBytes;

impl quick_cache::Weighter<String, Cached> for ByBytes {
    fn weight(&self, _key: &String, value: &Cached) -> u64 {
        value.bytes.max(1)
    }
}

/// The answer cache.
type AnswerCache = quick_cache::sync::Cache<String, Cached, ByBytes>;

/// Counts the bytes written to it.
#[derive(Debug, Default)]
struct ByteCount(u64);

impl std::io::Write for ByteCount {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The length of `value`'s JSON text.
fn json_bytes(value: &Value) -> u64 {
    let mut count = ByteCount::default();
    // Writing a `Value` into a counter cannot fail.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// The stats cache and the limit on concurrent queries.
#[derive(Debug)]
pub struct StatsRuntime {
    ttl: Duration,
    permits: Arc<Semaphore>,
    heavy: Arc<Semaphore>,
    charts: Arc<Semaphore>,
    cache: Arc<AnswerCache>,
}

/// What a query needs besides the connection: the site and its days.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    /// The site (an empty one, in UTC, when it has no events yet).
    pub(crate) site: SiteInfo,
    /// The range of the requested period in the site's days.
    pub(crate) range: DayRange,
    /// Now, in ms since the epoch.
    pub(crate) now_ms: i64,
    /// Whether imported daily aggregates count (`with_imported=true`).
    pub(crate) with_imported: bool,
}

impl Resolved {
    /// The stats query of the resolved range under `filters`.
    pub(crate) fn query(&self, filters: Vec<mallard_core::Filter>) -> StatsQuery {
        StatsQuery {
            range: self.range,
            filters,
            with_imported: self.with_imported,
        }
    }

    /// [`Resolved::query`] for a time series over `interval`; a 400 when the
    /// range has too many of its buckets (known only once the site is).
    pub(crate) fn series_query(
        &self,
        interval: mallard_core::Interval,
        filters: Vec<mallard_core::Filter>,
    ) -> Result<StatsQuery, ApiError> {
        interval
            .buckets(self.range)
            .map_err(|err| ApiError::BadRequest(err.to_string()))?;
        Ok(self.query(filters))
    }
}

/// A query's answer, or a 400 found only once the site is known (too many
/// buckets for the period `all`).
pub(crate) type Answer = Result<Value, ApiError>;

impl StatsRuntime {
    /// A runtime with the configured TTL and concurrency limit.
    pub fn new(config: &Config) -> Self {
        // Registered now, so `/metrics` shows it (at 0) before any cancellation.
        crate::observability::stats_queries_cancelled().increment(0);
        Self {
            ttl: Duration::from_secs(config.cache_ttl_secs),
            permits: Arc::new(Semaphore::new(config.max_concurrent_queries as usize)),
            heavy: Arc::new(Semaphore::new(MAX_HEAVY_QUERIES)),
            charts: Arc::new(Semaphore::new(MAX_CHART_RENDERS)),
            cache: Arc::new(AnswerCache::with_weighter(
                EXPECTED_ANSWERS,
                MAX_CACHED_BYTES,
                ByBytes,
            )),
        }
    }

    /// A permit to render one chart, held until it is dropped; 503 with
    /// `Retry-After` when [`MAX_CHART_RENDERS`] already render.
    pub(crate) fn chart_permit(&self) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
        Arc::clone(&self.charts)
            .try_acquire_owned()
            .map_err(|_| ApiError::Busy {
                message: "Too many charts are being drawn; retry shortly".into(),
                retry_after_secs: 1,
            })
    }

    /// How many answers the cache holds now.
    pub fn cached_answers(&self) -> usize {
        self.cache.len()
    }

    /// The bytes of answers the cache holds now.
    pub fn cached_bytes(&self) -> u64 {
        self.cache.weight()
    }

    /// A permit to run one behavioural query, held until it is dropped; 429
    /// when [`MAX_HEAVY_QUERIES`] already run.
    pub(crate) fn heavy_permit(&self) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
        Arc::clone(&self.heavy)
            .try_acquire_owned()
            .map_err(|_| ApiError::TooManyRequests {
                message: "Too many concurrent behavioural stats queries; retry shortly".into(),
                retry_after_secs: 1,
            })
    }

    /// Runs `compute` for `site` and `period` on a blocking thread, unless an
    /// answer for the same `key` was computed at the site's current version
    /// within the TTL (`None` never caches). Answers 429 when the concurrency
    /// limit is reached. When the returned future is dropped before the
    /// answer (the client went away), the query is cancelled (see
    /// [`super::abandon`]): its slot is free at once, the read stops at its
    /// next check, and its answer is not cached.
    pub(crate) async fn run<F>(
        &self,
        state: &AppState,
        site: &SiteId,
        period: Period,
        key: Option<String>,
        compute: F,
    ) -> Result<Value, ApiError>
    where
        F: FnOnce(&ReadConn<'_>, &Resolved) -> Result<Answer, StoreError> + Send + 'static,
    {
        // The slot is held by this future, not by the blocking read, so it is
        // released as soon as the future is dropped.
        let _permit = Arc::clone(&self.permits).try_acquire_owned().map_err(|_| {
            ApiError::TooManyRequests {
                message: "Too many concurrent stats queries; retry shortly".into(),
                retry_after_secs: 1,
            }
        })?;
        let cancel = QueryCancel::new();
        let abandon = Abandon::new(cancel.clone());
        let outcome = self
            .run_admitted(state, site, period, key, &cancel, compute)
            .await;
        abandon.finished();
        outcome
    }

    /// [`StatsRuntime::run`] once the query has its slot.
    async fn run_admitted<F>(
        &self,
        state: &AppState,
        site: &SiteId,
        period: Period,
        key: Option<String>,
        cancel: &QueryCancel,
        compute: F,
    ) -> Result<Value, ApiError>
    where
        F: FnOnce(&ReadConn<'_>, &Resolved) -> Result<Answer, StoreError> + Send + 'static,
    {
        // Visitor sketches are written back lazily by the writer; make sure the
        // events committed so far are counted before reading.
        state.writer.sync_rollups().await?;
        let cache = Arc::clone(&self.cache);
        let ttl = self.ttl;
        let domain = site.as_str().to_owned();
        let cancelled = cancel.clone();
        state
            .read_cancellable(cancel, move |db| {
                let site = db.stats_site(&domain)?.unwrap_or_else(|| SiteInfo {
                    id: -1,
                    time_zone: SiteTimeZone::utc(),
                    version: 0,
                    first_day: None,
                    imported_days: None,
                });
                let now_ms = now_ms();
                let today = site.time_zone.local_day(now_ms);
                let range = period.resolve(today, site.first_day_with_imported());
                // The site's id is in the key: a site deleted and created
                // again under its domain starts its versions over.
                let key = key.map(|key| {
                    format!("{domain}#{}|{}..{}|{key}", site.id, range.start, range.end)
                });
                if !ttl.is_zero()
                    && let Some(key) = &key
                {
                    if let Some(hit) = cache.get(key.as_str())
                        && hit.version == site.version
                        && hit.stored.elapsed() < ttl
                    {
                        crate::observability::cache_lookups(true).increment(1);
                        return Ok(Ok(Value::clone(&hit.value)));
                    }
                    crate::observability::cache_lookups(false).increment(1);
                }
                let version = site.version;
                let answer = compute(
                    db,
                    &Resolved {
                        site,
                        range,
                        now_ms,
                        with_imported: false,
                    },
                )?;
                // A cancelled query's answer is never cached: nobody asked
                // for it any more, and it may have been cut short.
                if !ttl.is_zero()
                    && !cancelled.is_cancelled()
                    && let Some(key) = key
                    && let Ok(value) = &answer
                {
                    let bytes = json_bytes(value) + key.len() as u64;
                    cache.insert(
                        key,
                        Cached {
                            version,
                            stored: Instant::now(),
                            value: Arc::new(value.clone()),
                            bytes,
                        },
                    );
                }
                Ok(answer)
            })
            .await?
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use mallard_core::{DeviceClass, EventName, NewEvent, SessionAttributes, VisitorId};
    use mallard_store::{Store, StoreOptions};

    use super::*;

    fn event(site: &SiteId) -> NewEvent {
        NewEvent {
            site: site.clone(),
            timestamp_ms: now_ms(),
            visitor: VisitorId(7),
            name: EventName::parse("pageview").unwrap(),
            hostname: site.as_str().into(),
            pathname: "/".into(),
            props: Vec::new(),
            revenue: None,
            session: SessionAttributes {
                device: DeviceClass::Desktop,
                ..SessionAttributes::default()
            },
            collector: None,
        }
    }

    async fn counted(state: &AppState, site: &SiteId, calls: &Arc<AtomicUsize>) -> Value {
        let calls = Arc::clone(calls);
        state
            .stats
            .run(
                state,
                site,
                Period::LastDays(7),
                Some("test".into()),
                move |db, r| {
                    calls.fetch_add(1, Ordering::SeqCst);
                    let totals = db.stats_main(
                        &r.site,
                        &mallard_store::stats::StatsQuery {
                            range: r.range,
                            filters: vec![],
                            with_imported: false,
                        },
                    )?;
                    Ok(Ok(Value::from(totals.pageviews)))
                },
            )
            .await
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn answers_are_cached_until_the_site_gets_an_event() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        let mut config = Config::with_data_dir(dir.path());
        config.cache_ttl_secs = 3600;
        let state = AppState::new(config, &store).unwrap();
        let site = SiteId::parse("cache.test").unwrap();
        let calls = Arc::new(AtomicUsize::new(0));
        store.writer().insert(vec![event(&site)]).await.unwrap();
        assert_eq!(counted(&state, &site, &calls).await, Value::from(1));
        assert_eq!(counted(&state, &site, &calls).await, Value::from(1));
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "the second answer is cached"
        );
        store.writer().insert(vec![event(&site)]).await.unwrap();
        assert_eq!(counted(&state, &site, &calls).await, Value::from(2));
        assert_eq!(calls.load(Ordering::SeqCst), 2, "a new event invalidates");

        let mut config = Config::with_data_dir(dir.path());
        config.cache_ttl_secs = 0;
        let uncached = AppState::new(config, &store).unwrap();
        counted(&uncached, &site, &calls).await;
        counted(&uncached, &site, &calls).await;
        assert_eq!(
            calls.load(Ordering::SeqCst),
            4,
            "a TTL of 0 disables the cache"
        );
        drop((state, uncached));
        store.close();
    }

    #[test]
    fn the_cache_is_bounded_by_bytes() {
        let cache = AnswerCache::with_weighter(16, 1024 * 1024, ByBytes);
        let big = Value::String("x".repeat(100 * 1024));
        for i in 0..50 {
            cache.insert(
                format!("k{i}"),
                Cached {
                    version: 0,
                    stored: Instant::now(),
                    bytes: json_bytes(&big),
                    value: Arc::new(big.clone()),
                },
            );
        }
        assert!(cache.weight() <= 1024 * 1024, "{}", cache.weight());
        assert!(cache.len() < 11, "{}", cache.len());
        assert_eq!(json_bytes(&serde_json::json!({"a": [1, 2]})), 11);
    }

    #[test]
    fn chart_rendering_has_a_limit_answered_with_503() {
        let dir = tempfile::tempdir().unwrap();
        let runtime = StatsRuntime::new(&Config::with_data_dir(dir.path()));
        let held: Vec<_> = (0..MAX_CHART_RENDERS)
            .map(|_| runtime.chart_permit().unwrap())
            .collect();
        let refused = runtime.chart_permit().unwrap_err();
        assert_eq!(refused.status().as_u16(), 503);
        drop(held);
        assert!(runtime.chart_permit().is_ok());
    }

    #[test]
    fn behavioural_queries_have_their_own_smaller_limit() {
        let dir = tempfile::tempdir().unwrap();
        let runtime = StatsRuntime::new(&Config::with_data_dir(dir.path()));
        let held: Vec<_> = (0..MAX_HEAVY_QUERIES)
            .map(|_| runtime.heavy_permit().unwrap())
            .collect();
        let refused = runtime.heavy_permit().unwrap_err();
        assert_eq!(refused.status().as_u16(), 429);
        drop(held);
        assert!(runtime.heavy_permit().is_ok());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queries_beyond_the_limit_get_429_with_retry_after() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        let mut config = Config::with_data_dir(dir.path());
        config.max_concurrent_queries = 1;
        let state = AppState::new(config, &store).unwrap();
        let held = Arc::clone(&state.stats.permits)
            .try_acquire_owned()
            .unwrap();
        let site = SiteId::parse("busy.test").unwrap();
        let err = state
            .stats
            .run(&state, &site, Period::Today, None, |_, _| {
                Ok(Ok(Value::Null))
            })
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            ApiError::TooManyRequests {
                retry_after_secs: 1,
                ..
            }
        ));
        drop(held);
        let ok = state
            .stats
            .run(&state, &site, Period::Today, None, |_, _| {
                Ok(Ok(Value::Null))
            })
            .await;
        assert_eq!(ok, Ok(Value::Null));
        drop(state);
        store.close();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_query_frees_its_slot_at_once_and_stops_uncached() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        let mut config = Config::with_data_dir(dir.path());
        config.max_concurrent_queries = 1;
        config.cache_ttl_secs = 3600;
        let state = AppState::new(config, &store).unwrap();
        let site = SiteId::parse("cancel.test").unwrap();
        let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
        let (stopped_tx, stopped_rx) = std::sync::mpsc::channel::<bool>();
        let running = {
            let state = state.clone();
            let site = site.clone();
            tokio::spawn(async move {
                state
                    .stats
                    .run(
                        &state,
                        &site,
                        Period::Today,
                        Some("slow".into()),
                        move |db, _| {
                            let _ = started_tx.send(());
                            // A minute of work in chunks of 10 ms, unless cancelled.
                            for _ in 0..6_000 {
                                if db.check_cancelled().is_err() {
                                    let _ = stopped_tx.send(true);
                                    // An answer complete just as the client
                                    // left: still not to be cached.
                                    return Ok(Ok(Value::from("late")));
                                }
                                std::thread::sleep(Duration::from_millis(10));
                            }
                            let _ = stopped_tx.send(false);
                            Ok(Ok(Value::from("slow")))
                        },
                    )
                    .await
            })
        };
        started_rx.await.unwrap();
        // The client goes away: hyper drops the handler's future.
        running.abort();
        assert!(running.await.unwrap_err().is_cancelled());
        // The slot is free at once, while the read may still be stopping.
        let next = state
            .stats
            .run(&state, &site, Period::Today, None, |_, _| {
                Ok(Ok(Value::Null))
            })
            .await;
        assert_eq!(next, Ok(Value::Null));
        let stopped =
            tokio::task::spawn_blocking(move || stopped_rx.recv_timeout(Duration::from_secs(30)))
                .await
                .unwrap();
        assert_eq!(stopped, Ok(true), "the read stopped at its next check");
        // Its answer was not cached: the same query computes again.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let again = state
            .stats
            .run(&state, &site, Period::Today, Some("slow".into()), |_, _| {
                Ok(Ok(Value::from("fresh")))
            })
            .await;
        assert_eq!(again, Ok(Value::from("fresh")));
        if let Some(metrics) = &state.metrics {
            let text = metrics.render();
            let count = text
                .lines()
                .find_map(|line| line.strip_prefix("mallard_stats_queries_cancelled_total "))
                .and_then(|value| value.trim().parse::<f64>().ok());
            assert!(count.is_some_and(|count| count >= 1.0), "{text}");
        }
        drop(state);
        store.close();
    }
}
