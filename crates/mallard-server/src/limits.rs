//! The per-site ingestion rate limit (`rate_limit_per_site`), built on governor.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Idle keys are swept after this many checks, so a flood of invented site ids
/// cannot grow memory without bound.
const SWEEP_EVERY: u64 = 4096;

/// A token bucket per site: `rate` events per second with a burst of `rate`.
#[derive(Debug)]
pub struct SiteRateLimiter {
    limiter: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
    checks: AtomicU64,
}

impl SiteRateLimiter {
    /// A limiter of `per_second` events per site; `None` when the limit is 0
    /// (unlimited).
    pub fn new(per_second: u32) -> Option<Self> {
        let rate = NonZeroU32::new(per_second)?;
        Some(Self {
            limiter: RateLimiter::keyed(Quota::per_second(rate)),
            clock: DefaultClock::default(),
            checks: AtomicU64::new(0),
        })
    }

    /// Takes one event from `site`'s bucket, or says in how many whole seconds
    /// (at least 1) the next one will be accepted.
    pub fn check(&self, site: &str) -> Result<(), u64> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        self.limiter
            .check_key(&site.to_owned())
            .map_err(|not_until| {
                crate::observability::rate_limit_rejections().increment(1);
                not_until
                    .wait_time_from(self.clock.now())
                    .as_secs_f64()
                    .ceil()
                    .max(1.0) as u64
            })
    }

    /// How many sites have a bucket in memory.
    pub fn tracked_sites(&self) -> usize {
        self.limiter.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_applies_per_site_and_zero_means_unlimited() {
        assert!(SiteRateLimiter::new(0).is_none());
        let limiter = SiteRateLimiter::new(2).unwrap();
        assert!(limiter.check("a.com").is_ok());
        assert!(limiter.check("a.com").is_ok());
        let retry = limiter.check("a.com").unwrap_err();
        assert!(retry >= 1);
        assert!(limiter.check("b.com").is_ok());
    }
}
