//! The collector's abuse and billing gates, built on governor token buckets.
//!
//! - Per client IP (`RATE_LIMIT_IP_RPS` / `_BURST`, default 100/200), checked
//!   before authentication.
//! - Per credential (`RATE_LIMIT_KEY_RPS` / `_BURST`, default 1000/2000): the
//!   api key's id, or the site id of a legacy bearer; checked after auth.
//! - Per workspace: an optional sustained rate and an optional monthly quota
//!   (both unlimited by default).
//!
//! Memory bound: an entry whose bucket has refilled is indistinguishable from a
//! fresh one and is dropped by a sweep. A background thread sweeps every
//! [`SWEEP_INTERVAL`] and the hot path sweeps inline every [`SWEEP_EVERY`]
//! checks, so an entry idle for five minutes is always gone and a flood of
//! distinct IPs cannot grow memory without bound.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::num::{NonZeroU32, NonZeroU64};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use super::settings::CollectorConfig;

/// How often the background thread sweeps idle entries.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// The hot path sweeps inline once per this many checks.
pub const SWEEP_EVERY: u64 = 8192;

/// A keyed token bucket with sweeping of idle entries.
pub struct KeyedGate<K: Hash + Eq + Clone, C: Clock = DefaultClock> {
    limiter: RateLimiter<K, DefaultKeyedStateStore<K>, C, NoOpMiddleware<C::Instant>>,
    checks: AtomicU64,
}

impl<K: Hash + Eq + Clone, C: Clock> std::fmt::Debug for KeyedGate<K, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedGate")
            .field("entries", &self.limiter.len())
            .finish()
    }
}

impl<K: Hash + Eq + Clone> KeyedGate<K> {
    /// A gate of `rps` requests per second per key with a burst of `burst`.
    pub fn new(rps: NonZeroU32, burst: NonZeroU32) -> Self {
        Self::with_clock(rps, burst, DefaultClock::default())
    }
}

impl<K: Hash + Eq + Clone, C: Clock> KeyedGate<K, C> {
    /// Like [`KeyedGate::new`] on a given clock (tests use a fake one).
    pub fn with_clock(rps: NonZeroU32, burst: NonZeroU32, clock: C) -> Self {
        let quota = Quota::per_second(rps).allow_burst(burst);
        Self {
            limiter: RateLimiter::new(quota, DefaultKeyedStateStore::default(), clock),
            checks: AtomicU64::new(0),
        }
    }

    /// Takes one request from `key`'s bucket; false when it is empty.
    pub fn check(&self, key: &K) -> bool {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.sweep();
        }
        self.limiter.check_key(key).is_ok()
    }

    /// Drops every entry whose bucket has refilled.
    pub fn sweep(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    /// How many keys have an entry in memory.
    pub fn len(&self) -> usize {
        self.limiter.len()
    }

    /// Whether no key has an entry.
    pub fn is_empty(&self) -> bool {
        self.limiter.is_empty()
    }
}

/// The three rate gates of the collector.
#[derive(Debug)]
pub struct Gates {
    /// Per client IP.
    pub ip: KeyedGate<IpAddr>,
    /// Per credential (api key id or legacy site id).
    pub credential: KeyedGate<String>,
    /// Per workspace, when a workspace rate is configured.
    pub workspace: Option<KeyedGate<String>>,
}

impl Gates {
    /// The gates configured by `config`, with their sweeping thread.
    pub fn start(config: &CollectorConfig) -> Arc<Self> {
        let gates = Arc::new(Self {
            ip: KeyedGate::new(config.ip_rps, config.ip_burst),
            credential: KeyedGate::new(config.key_rps, config.key_burst),
            workspace: config.workspace_rps.map(|rps| {
                let burst = config
                    .workspace_burst
                    .unwrap_or(rps.saturating_mul(NonZeroU32::new(2).unwrap_or(NonZeroU32::MIN)));
                KeyedGate::new(rps, burst)
            }),
        });
        spawn_sweeper(Arc::downgrade(&gates));
        gates
    }

    /// Sweeps every gate and publishes the entry counts as gauges.
    pub fn sweep(&self) {
        self.ip.sweep();
        self.credential.sweep();
        if let Some(workspace) = &self.workspace {
            workspace.sweep();
        }
        metrics::gauge!("mallard_collector_limiter_entries", "gate" => "ip")
            .set(self.ip.len() as f64);
        metrics::gauge!("mallard_collector_limiter_entries", "gate" => "api_key")
            .set(self.credential.len() as f64);
    }
}

/// Sweeps the gates every [`SWEEP_INTERVAL`] until they are dropped. A plain
/// thread, so it runs whether or not the embedder has an async runtime.
fn spawn_sweeper(gates: Weak<Gates>) {
    let spawned = std::thread::Builder::new()
        .name("collector-limiter-sweep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(SWEEP_INTERVAL);
                match gates.upgrade() {
                    Some(gates) => gates.sweep(),
                    None => break,
                }
            }
        });
    if let Err(err) = spawned {
        // The inline sweep still bounds memory.
        tracing::warn!(error = %err, "cannot start the limiter sweep thread");
    }
}

/// The calendar month (UTC) of `now`, as `YYYY-MM`.
pub fn current_month() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!("{:04}-{:02}", now.year(), u8::from(now.month()))
}

/// Monthly event quotas per workspace, counted in memory and seeded from the
/// store's usage table on first use each month.
#[derive(Debug, Default)]
pub struct QuotaTracker {
    used: Mutex<HashMap<String, (String, u64)>>,
}

impl QuotaTracker {
    /// Whether `workspace` has a count for `month` in memory.
    pub fn knows(&self, workspace: &str, month: &str) -> bool {
        self.used
            .lock()
            .map(|used| used.get(workspace).is_some_and(|(m, _)| m == month))
            .unwrap_or(false)
    }

    /// Seeds `workspace`'s count for `month` with `stored` events (the larger
    /// of the stored and the in-memory count wins).
    pub fn seed(&self, workspace: &str, month: &str, stored: u64) {
        if let Ok(mut used) = self.used.lock() {
            let entry = used
                .entry(workspace.to_owned())
                .or_insert_with(|| (month.to_owned(), 0));
            if entry.0 != month {
                *entry = (month.to_owned(), 0);
            }
            entry.1 = entry.1.max(stored);
        }
    }

    /// Reserves one event of `quota` for `workspace` in `month`; false when the
    /// quota is used up.
    pub fn reserve(&self, workspace: &str, month: &str, quota: NonZeroU64) -> bool {
        let Ok(mut used) = self.used.lock() else {
            return false;
        };
        let entry = used
            .entry(workspace.to_owned())
            .or_insert_with(|| (month.to_owned(), 0));
        if entry.0 != month {
            *entry = (month.to_owned(), 0);
        }
        if entry.1 >= quota.get() {
            return false;
        }
        entry.1 += 1;
        true
    }

    /// Gives back a reservation whose event was not stored.
    pub fn release(&self, workspace: &str, month: &str) {
        if let Ok(mut used) = self.used.lock()
            && let Some(entry) = used.get_mut(workspace)
            && entry.0 == month
        {
            entry.1 = entry.1.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;

    fn nz(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap()
    }

    #[test]
    fn a_key_gets_its_burst_then_its_rate() {
        let clock = FakeRelativeClock::default();
        let gate = KeyedGate::with_clock(nz(1), nz(3), clock.clone());
        let key = "k".to_owned();
        assert!((0..3).all(|_| gate.check(&key)));
        assert!(!gate.check(&key));
        assert!(gate.check(&"other".to_owned()), "keys are independent");
        clock.advance(Duration::from_secs(1));
        assert!(gate.check(&key));
        assert!(!gate.check(&key));
    }

    #[test]
    fn idle_entries_are_pruned_so_memory_stays_bounded() {
        let clock = FakeRelativeClock::default();
        let gate = KeyedGate::with_clock(nz(100), nz(200), clock.clone());
        for i in 0..10_000u32 {
            assert!(gate.check(&IpAddr::from(i.to_be_bytes())));
        }
        assert_eq!(gate.len(), 10_000);
        gate.sweep();
        assert_eq!(gate.len(), 10_000, "entries in use are kept");
        clock.advance(Duration::from_secs(5 * 60));
        gate.sweep();
        assert_eq!(gate.len(), 0, "entries idle for five minutes are gone");
    }

    #[test]
    fn the_hot_path_sweeps_inline() {
        let clock = FakeRelativeClock::default();
        let gate = KeyedGate::with_clock(nz(100), nz(200), clock.clone());
        for i in 0..1000u32 {
            gate.check(&IpAddr::from(i.to_be_bytes()));
        }
        clock.advance(Duration::from_secs(5 * 60));
        // A flood of distinct addresses, with no background sweep: the inline
        // sweep keeps the map far below the number of addresses seen.
        let flood = 3 * SWEEP_EVERY as u32;
        for i in 0..flood {
            gate.check(&IpAddr::from((1_000_000 + i).to_be_bytes()));
            clock.advance(Duration::from_millis(100));
        }
        assert!(gate.len() < SWEEP_EVERY as usize, "{} entries", gate.len());
    }

    #[test]
    fn the_monthly_quota_counts_per_workspace_and_month() {
        let quota = QuotaTracker::default();
        let two = NonZeroU64::new(2).unwrap();
        assert!(!quota.knows("ws", "2026-01"));
        quota.seed("ws", "2026-01", 1);
        assert!(quota.knows("ws", "2026-01"));
        assert!(quota.reserve("ws", "2026-01", two));
        assert!(!quota.reserve("ws", "2026-01", two));
        quota.release("ws", "2026-01");
        assert!(quota.reserve("ws", "2026-01", two));
        assert!(quota.reserve("other", "2026-01", two));
        assert!(
            quota.reserve("ws", "2026-02", two),
            "a new month starts at 0"
        );
    }
}
