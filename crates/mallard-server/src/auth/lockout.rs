//! Brute-force protection of the login: after `max_attempts` consecutive
//! failures from one IP, that IP is locked out for `lockout`. A success clears
//! the count. Memory stays bounded under a flood of distinct addresses: entries
//! are forgotten once their lockout window has passed, and the table is capped.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The most addresses tracked at once.
const MAX_TRACKED: usize = 50_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    locked_until: Option<Instant>,
}

/// Failed-login counts per client IP.
#[derive(Debug)]
pub struct LoginLockout {
    max_attempts: u32,
    lockout: Duration,
    failures: Mutex<HashMap<IpAddr, Failures>>,
}

impl LoginLockout {
    /// `max_attempts` = 0 disables the protection.
    pub fn new(max_attempts: u32, lockout: Duration) -> Self {
        Self {
            max_attempts,
            lockout,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// If `ip` is locked out, the whole seconds (at least 1) until it is not.
    pub fn locked_for(&self, ip: IpAddr) -> Option<u64> {
        let now = Instant::now();
        let failures = self.failures.lock().ok()?;
        let until = failures.get(&ip)?.locked_until?;
        (until > now).then(|| (until - now).as_secs_f64().ceil().max(1.0) as u64)
    }

    /// Records a failed login; returns the lockout in seconds if this failure
    /// started one.
    pub fn record_failure(&self, ip: IpAddr) -> Option<u64> {
        if self.max_attempts == 0 {
            return None;
        }
        let now = Instant::now();
        let mut failures = self.failures.lock().ok()?;
        if failures.len() >= MAX_TRACKED {
            let window = self.lockout;
            failures
                .retain(|_, f| f.locked_until.is_some_and(|u| u > now) || now - f.last < window);
            if failures.len() >= MAX_TRACKED {
                // Still full of fresh entries: forget the oldest half.
                let mut by_age: Vec<_> = failures.iter().map(|(ip, f)| (f.last, *ip)).collect();
                by_age.sort_unstable();
                for (_, old) in by_age.into_iter().take(MAX_TRACKED / 2) {
                    failures.remove(&old);
                }
            }
        }
        let entry = failures.entry(ip).or_insert(Failures {
            count: 0,
            last: now,
            locked_until: None,
        });
        if entry.locked_until.is_some_and(|until| until <= now) {
            *entry = Failures {
                count: 0,
                last: now,
                locked_until: None,
            };
        }
        entry.count += 1;
        entry.last = now;
        if entry.count >= self.max_attempts {
            entry.locked_until = Some(now + self.lockout);
            return Some(self.lockout.as_secs().max(1));
        }
        None
    }

    /// A successful login clears the count of `ip`.
    pub fn record_success(&self, ip: IpAddr) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.remove(&ip);
        }
    }

    /// How many addresses are tracked.
    pub fn tracked(&self) -> usize {
        self.failures.lock().map_or(0, |f| f.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u32) -> IpAddr {
        IpAddr::from(n.to_be_bytes())
    }

    #[test]
    fn the_fifth_failure_locks_out_and_success_clears() {
        let lockout = LoginLockout::new(5, Duration::from_secs(300));
        for _ in 0..4 {
            assert_eq!(lockout.record_failure(ip(1)), None);
        }
        assert_eq!(lockout.locked_for(ip(1)), None);
        assert_eq!(lockout.record_failure(ip(1)), Some(300));
        assert!(
            lockout
                .locked_for(ip(1))
                .is_some_and(|s| (299..=300).contains(&s))
        );
        assert_eq!(lockout.locked_for(ip(2)), None);
        lockout.record_failure(ip(3));
        lockout.record_success(ip(3));
        for _ in 0..4 {
            assert_eq!(lockout.record_failure(ip(3)), None);
        }
    }

    #[test]
    fn zero_attempts_disables_the_lockout() {
        let lockout = LoginLockout::new(0, Duration::from_secs(300));
        for _ in 0..100 {
            assert_eq!(lockout.record_failure(ip(1)), None);
        }
        assert_eq!(lockout.locked_for(ip(1)), None);
    }

    #[test]
    fn a_flood_of_distinct_addresses_stays_bounded() {
        let lockout = LoginLockout::new(5, Duration::from_secs(300));
        for n in 0..(MAX_TRACKED as u32 * 3) {
            lockout.record_failure(ip(n));
        }
        assert!(lockout.tracked() <= MAX_TRACKED);
    }
}
