//! Brute-force protection of secrets guessed over HTTP: the login password and,
//! in a table of their own, the admin and metrics tokens.
//!
//! After `max_attempts` consecutive failures from one address, that address is
//! locked out for `lockout`. Failures older than the lockout window are
//! forgotten. An address is an IPv4 address, or the /64 network of an IPv6
//! address (one host usually owns a whole /64, so keying on the full address
//! would give an attacker 2^64 fresh counts).
//!
//! Logins reserve their attempt before the slow Argon2 check with
//! [`LoginLockout::reserve`]: the reservation counts as a failure until it is
//! settled, and an address has at most one attempt in flight (queued for or
//! inside Argon2). A parallel flood from one address therefore reaches Argon2 at
//! most `max_attempts` times, and never holds more than one hashing permit, even
//! when the lockout is disabled (`max_attempts` = 0).
//!
//! Memory stays bounded under a flood of distinct addresses: entries are
//! forgotten once their window has passed, and the table is capped.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The most addresses tracked at once (entries with an attempt in flight are
/// kept beyond it until they settle).
const MAX_TRACKED: usize = 50_000;

/// The wait suggested to a second attempt while one is in flight, in seconds.
const BUSY_RETRY_SECS: u64 = 1;

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    in_flight: bool,
    last: Instant,
    locked_until: Option<Instant>,
}

impl Entry {
    fn new(now: Instant) -> Self {
        Self {
            failures: 0,
            in_flight: false,
            last: now,
            locked_until: None,
        }
    }
}

/// Why an attempt was refused before its secret was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The address is locked out for this many more seconds (at least 1).
    Locked(u64),
    /// Another attempt from the address is in flight.
    Busy,
}

impl Refusal {
    /// The seconds for the `Retry-After` header.
    pub fn retry_after_secs(self) -> u64 {
        match self {
            Self::Locked(secs) => secs,
            Self::Busy => BUSY_RETRY_SECS,
        }
    }
}

/// Failed-attempt counts per client address.
#[derive(Debug)]
pub struct LoginLockout {
    max_attempts: u32,
    lockout: Duration,
    entries: Mutex<HashMap<IpAddr, Entry>>,
}

/// The address a lockout counts against: IPv4 addresses (also when mapped into
/// IPv6) as they are, IPv6 addresses by their /64 network.
pub fn lockout_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let network = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(network))
        }
    }
}

/// Whole seconds (at least 1) from `now` until `until`.
fn secs_until(until: Instant, now: Instant) -> u64 {
    let secs = (until - now).as_secs() + u64::from((until - now).subsec_nanos() > 0);
    secs.max(1)
}

impl LoginLockout {
    /// `max_attempts` = 0 disables the lockout (the one-attempt-in-flight rule
    /// of [`LoginLockout::reserve`] still holds).
    pub fn new(max_attempts: u32, lockout: Duration) -> Self {
        Self {
            max_attempts,
            lockout,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn entries(&self) -> MutexGuard<'_, HashMap<IpAddr, Entry>> {
        // The map stays consistent even if a holder panicked: every update is
        // a plain field store.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The entry of `key`, made current: an expired lockout or failures older
    /// than the window are forgotten.
    fn current<'m>(
        &self,
        entries: &'m mut HashMap<IpAddr, Entry>,
        key: IpAddr,
        now: Instant,
    ) -> &'m mut Entry {
        if entries.len() >= MAX_TRACKED && !entries.contains_key(&key) {
            self.evict(entries, now);
        }
        let entry = entries.entry(key).or_insert_with(|| Entry::new(now));
        let expired = match entry.locked_until {
            Some(until) => until <= now,
            None => now.duration_since(entry.last) >= self.lockout,
        };
        if expired {
            entry.failures = 0;
            entry.locked_until = None;
        }
        entry
    }

    fn evict(&self, entries: &mut HashMap<IpAddr, Entry>, now: Instant) {
        let window = self.lockout;
        entries.retain(|_, e| {
            e.in_flight
                || e.locked_until.is_some_and(|u| u > now)
                || now.duration_since(e.last) < window
        });
        if entries.len() >= MAX_TRACKED {
            // Still full of fresh entries: forget the oldest half of those
            // without an attempt in flight.
            let mut by_age: Vec<_> = entries
                .iter()
                .filter(|(_, e)| !e.in_flight)
                .map(|(ip, e)| (e.last, *ip))
                .collect();
            by_age.sort_unstable();
            for (_, old) in by_age.into_iter().take(MAX_TRACKED / 2) {
                entries.remove(&old);
            }
        }
    }

    /// If `ip` is locked out, the whole seconds (at least 1) until it is not.
    pub fn locked_for(&self, ip: IpAddr) -> Option<u64> {
        let now = Instant::now();
        let entries = self.entries();
        let until = entries.get(&lockout_key(ip))?.locked_until?;
        (until > now).then(|| secs_until(until, now))
    }

    /// Reserves an attempt for `ip` before its secret is checked. The
    /// reservation counts as a failure until it is settled; it is refused when
    /// `ip` is locked out or already has an attempt in flight.
    pub fn reserve(&self, ip: IpAddr) -> Result<Attempt<'_>, Refusal> {
        let key = lockout_key(ip);
        let now = Instant::now();
        let mut entries = self.entries();
        let entry = self.current(&mut entries, key, now);
        if let Some(until) = entry.locked_until {
            return Err(Refusal::Locked(secs_until(until, now)));
        }
        if entry.in_flight {
            return Err(Refusal::Busy);
        }
        // Failures plus this reservation must stay within the limit; a count
        // at the limit without a lockout cannot happen, but is refused anyway.
        if self.max_attempts > 0 && entry.failures >= self.max_attempts {
            entry.locked_until = Some(now + self.lockout);
            return Err(Refusal::Locked(secs_until(now + self.lockout, now)));
        }
        entry.in_flight = true;
        entry.last = now;
        Ok(Attempt {
            lockout: self,
            key,
            settled: false,
        })
    }

    /// Records a failure of `ip` outside a reservation (token checks); returns
    /// the lockout in seconds if this failure started one.
    pub fn record_failure(&self, ip: IpAddr) -> Option<u64> {
        if self.max_attempts == 0 {
            return None;
        }
        let key = lockout_key(ip);
        let now = Instant::now();
        let mut entries = self.entries();
        let entry = self.current(&mut entries, key, now);
        self.count_failure(entry, now)
    }

    fn count_failure(&self, entry: &mut Entry, now: Instant) -> Option<u64> {
        entry.failures = entry.failures.saturating_add(1);
        entry.last = now;
        if entry.failures >= self.max_attempts && entry.locked_until.is_none() {
            entry.locked_until = Some(now + self.lockout);
            return Some(self.lockout.as_secs().max(1));
        }
        None
    }

    /// A success clears the count of `ip`.
    pub fn record_success(&self, ip: IpAddr) {
        self.entries().remove(&lockout_key(ip));
    }

    /// How many addresses are tracked.
    pub fn tracked(&self) -> usize {
        self.entries().len()
    }

    fn settle(&self, key: IpAddr, failed: bool) -> Option<u64> {
        let now = Instant::now();
        let mut entries = self.entries();
        let entry = entries.get_mut(&key)?;
        entry.in_flight = false;
        if !failed {
            entries.remove(&key);
            return None;
        }
        if self.max_attempts == 0 {
            entries.remove(&key);
            return None;
        }
        self.count_failure(entry, now)
    }
}

/// An attempt reserved by [`LoginLockout::reserve`]. Settle it with
/// [`Attempt::succeeded`] or [`Attempt::failed`]; dropped unsettled (the check
/// itself could not run), it is released without counting.
#[derive(Debug)]
#[must_use = "an attempt must be settled"]
pub struct Attempt<'a> {
    lockout: &'a LoginLockout,
    key: IpAddr,
    settled: bool,
}

impl Attempt<'_> {
    /// Checks again, after waiting for the hashing permit, that the address
    /// has not been locked out meanwhile.
    pub fn still_allowed(&self) -> Result<(), Refusal> {
        let now = Instant::now();
        let entries = self.lockout.entries();
        match entries.get(&self.key).and_then(|e| e.locked_until) {
            Some(until) if until > now => Err(Refusal::Locked(secs_until(until, now))),
            _ => Ok(()),
        }
    }

    /// The secret was right: the count of the address is cleared.
    pub fn succeeded(mut self) {
        self.settled = true;
        self.lockout.settle(self.key, false);
    }

    /// The secret was wrong; returns the lockout in seconds if this failure
    /// started one.
    pub fn failed(mut self) -> Option<u64> {
        self.settled = true;
        self.lockout.settle(self.key, true)
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.settled
            && let Some(entry) = self.lockout.entries().get_mut(&self.key)
        {
            entry.in_flight = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u32) -> IpAddr {
        IpAddr::from(n.to_be_bytes())
    }

    fn v6(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_fifth_failure_locks_out_and_success_clears() {
        let lockout = LoginLockout::new(5, Duration::from_secs(300));
        for _ in 0..4 {
            assert_eq!(lockout.reserve(ip(1)).unwrap().failed(), None);
        }
        assert_eq!(lockout.locked_for(ip(1)), None);
        assert_eq!(lockout.reserve(ip(1)).unwrap().failed(), Some(300));
        assert!(
            lockout
                .locked_for(ip(1))
                .is_some_and(|s| (299..=300).contains(&s))
        );
        assert!(matches!(lockout.reserve(ip(1)), Err(Refusal::Locked(_))));
        assert_eq!(lockout.locked_for(ip(2)), None);
        assert_eq!(lockout.reserve(ip(3)).unwrap().failed(), None);
        lockout.reserve(ip(3)).unwrap().succeeded();
        for _ in 0..4 {
            assert_eq!(lockout.reserve(ip(3)).unwrap().failed(), None);
        }
    }

    #[test]
    fn one_attempt_per_address_is_in_flight_and_counts_as_a_failure() {
        let lockout = LoginLockout::new(2, Duration::from_secs(300));
        let first = lockout.reserve(ip(1)).unwrap();
        assert_eq!(lockout.reserve(ip(1)).unwrap_err(), Refusal::Busy);
        assert_eq!(Refusal::Busy.retry_after_secs(), 1);
        let other = lockout.reserve(ip(2)).unwrap();
        assert_eq!(first.failed(), None);
        let second = lockout.reserve(ip(1)).unwrap();
        assert_eq!(second.failed(), Some(300));
        assert!(matches!(lockout.reserve(ip(1)), Err(Refusal::Locked(_))));
        drop(other);
        // Dropped unsettled: released, not counted.
        assert_eq!(lockout.reserve(ip(2)).unwrap().failed(), None);
    }

    #[test]
    fn a_lockout_that_starts_while_queued_is_seen_after_the_permit() {
        let lockout = LoginLockout::new(1, Duration::from_secs(300));
        let queued = lockout.reserve(ip(1)).unwrap();
        assert!(queued.still_allowed().is_ok());
        // A token failure path locks the same address meanwhile.
        assert_eq!(lockout.record_failure(ip(1)), Some(300));
        assert!(matches!(queued.still_allowed(), Err(Refusal::Locked(_))));
    }

    #[test]
    fn zero_attempts_disables_the_lockout_but_not_the_in_flight_rule() {
        let lockout = LoginLockout::new(0, Duration::from_secs(300));
        for _ in 0..100 {
            assert_eq!(lockout.record_failure(ip(1)), None);
            assert_eq!(lockout.reserve(ip(1)).unwrap().failed(), None);
        }
        assert_eq!(lockout.locked_for(ip(1)), None);
        let held = lockout.reserve(ip(1)).unwrap();
        assert_eq!(lockout.reserve(ip(1)).unwrap_err(), Refusal::Busy);
        held.succeeded();
        assert_eq!(lockout.tracked(), 0);
    }

    #[test]
    fn ipv6_addresses_share_a_lockout_per_64_and_mapped_ipv4_is_ipv4() {
        assert_eq!(
            lockout_key(v6("2001:db8:1:2:aaaa::1")),
            v6("2001:db8:1:2::")
        );
        assert_eq!(lockout_key(v6("::ffff:192.0.2.1")), v6("192.0.2.1"));
        let lockout = LoginLockout::new(2, Duration::from_secs(300));
        lockout.record_failure(v6("2001:db8:1:2::1"));
        lockout.record_failure(v6("2001:db8:1:2:ffff::9"));
        assert!(lockout.locked_for(v6("2001:db8:1:2::77")).is_some());
        assert!(lockout.locked_for(v6("2001:db8:1:3::1")).is_none());
        assert_eq!(
            lockout.reserve(v6("2001:db8:1:3::1")).unwrap().failed(),
            None
        );
    }

    #[test]
    fn failures_older_than_the_window_are_forgotten() {
        let lockout = LoginLockout::new(2, Duration::from_millis(20));
        lockout.record_failure(ip(1));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(lockout.record_failure(ip(1)), None);
        assert!(lockout.record_failure(ip(1)).is_some());
    }

    #[test]
    fn a_flood_of_distinct_addresses_stays_bounded() {
        let lockout = LoginLockout::new(5, Duration::from_secs(300));
        for n in 0..(MAX_TRACKED as u32 * 3) {
            lockout.record_failure(ip(n));
        }
        assert!(lockout.tracked() <= MAX_TRACKED);
        let held = lockout.reserve(ip(u32::MAX)).unwrap();
        for n in 0..(MAX_TRACKED as u32) {
            lockout.record_failure(ip(n + 1_000_000));
        }
        assert_eq!(
            lockout.reserve(ip(u32::MAX)).unwrap_err(),
            Refusal::Busy,
            "an entry in flight is never evicted"
        );
        drop(held);
    }
}
