//! Which sites may receive events, for both API families: the site allowlist
//! (`site_ids`), the per-site rate limit (`rate_limit_per_site`) and the daily
//! cap on sites that events create (`max_new_sites_per_day`).
//!
//! Without the cap, any web page a user visits could post events under
//! thousands of invented site ids, and each would become a stored site that
//! every list, cache and tray refresh carries from then on. Sites added by
//! hand (the Sites screen, `POST /api/sites`) and sites on the allowlist are
//! never refused by the cap. The cap counts per UTC day; at start-up the day's
//! count is seeded with the sites created since midnight UTC (by events or by
//! hand), so a restart does not reset it.
//!
//! The ledger of known sites holds the sites the database holds, so its size
//! follows the number of stored sites, which the cap bounds.

use std::collections::HashSet;
use std::sync::Mutex;

use mallard_core::SiteId;

use crate::limits::SiteRateLimiter;
use crate::state::AppState;

/// Milliseconds in a day.
const DAY_MS: i64 = 86_400_000;

/// Why an event's site was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SiteRefusal {
    /// An allowlist is set and the site is not on it.
    NotAllowed,
    /// The site's rate limit is reached; the next event is accepted in
    /// `retry_after_secs` seconds.
    RateLimited {
        /// Whole seconds until a retry can succeed (at least 1).
        retry_after_secs: u64,
    },
    /// The site is new and events have created `max` sites today already.
    NewSiteLimit {
        /// The `max_new_sites_per_day` in force.
        max: u32,
    },
}

impl SiteRefusal {
    /// The human-readable message for `site`, saying what to do.
    pub fn message(&self, site: &SiteId) -> String {
        match self {
            Self::NotAllowed => format!("Site {site} is not in the allowlist"),
            Self::RateLimited { .. } => "Rate limit exceeded for this site".into(),
            Self::NewSiteLimit { max: 0 } => format!(
                "Site {site} is unknown and events may not create sites \
                 (max_new_sites_per_day is 0). Add the site on the dashboard's Sites \
                 screen (or POST /api/sites), then send again."
            ),
            Self::NewSiteLimit { max } => format!(
                "Site {site} is new and events have already created {max} sites today \
                 (max_new_sites_per_day). Add the site on the dashboard's Sites screen \
                 (or POST /api/sites), or raise max_new_sites_per_day in Settings, \
                 then send again."
            ),
        }
    }
}

/// The allowlist and rate-limit checks of an event for `site`: refused when
/// `allowlist` is not empty and lacks the site, or when `limiter` (the
/// per-site limit in force, if any) has no token left for it.
pub fn check_allowed_and_rate(
    allowlist: &[SiteId],
    limiter: Option<&SiteRateLimiter>,
    site: &SiteId,
) -> Result<(), SiteRefusal> {
    if !allowlist.is_empty() && !allowlist.contains(site) {
        return Err(SiteRefusal::NotAllowed);
    }
    if let Some(limiter) = limiter {
        limiter
            .check(site.as_str())
            .map_err(|retry_after_secs| SiteRefusal::RateLimited { retry_after_secs })?;
    }
    Ok(())
}

/// Admits an event for `site` under the settings in force: the ledger first;
/// a site it refuses is looked up in the store before the refusal stands (a
/// site written by another path, such as an import, is known there).
pub async fn admit(state: &AppState, site: &SiteId) -> Result<Admission, SiteRefusal> {
    let live = state.settings.get();
    let refusal = match state.new_sites.admit(
        site,
        live.site_ids.contains(site),
        live.max_new_sites_per_day,
        crate::clock::now_ms(),
    ) {
        Ok(admission) => return Ok(admission),
        Err(refusal) => refusal,
    };
    let domain = site.as_str().to_owned();
    if state
        .read(move |db| db.site_exists(&domain))
        .await
        .unwrap_or(false)
    {
        state.new_sites.add(site);
        return Ok(Admission::Known);
    }
    Err(refusal)
}

/// How an event's site was admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a new site's admission is released when its write fails"]
pub enum Admission {
    /// The site is stored already, was added by hand, or is on the allowlist.
    Known,
    /// The site is new: its first event takes one of today's new sites.
    New,
}

/// The sites known to exist and the count of sites events created today.
#[derive(Debug)]
pub struct NewSites {
    ledger: Mutex<Ledger>,
}

#[derive(Debug)]
struct Ledger {
    known: HashSet<String>,
    /// The UTC day (days since the epoch) `created` counts.
    day: i64,
    created: u32,
}

/// The UTC day of `now_ms`, in days since the epoch.
pub fn utc_day(now_ms: i64) -> i64 {
    now_ms.div_euclid(DAY_MS)
}

/// The first millisecond of the UTC day of `now_ms`.
pub fn utc_day_start(now_ms: i64) -> i64 {
    utc_day(now_ms) * DAY_MS
}

impl NewSites {
    /// A ledger of the stored sites `known`, of which `created_today` were
    /// created on the UTC day of `now_ms`.
    pub fn new(known: impl IntoIterator<Item = String>, created_today: u64, now_ms: i64) -> Self {
        Self {
            ledger: Mutex::new(Ledger {
                known: known.into_iter().collect(),
                day: utc_day(now_ms),
                created: u32::try_from(created_today).unwrap_or(u32::MAX),
            }),
        }
    }

    /// Admits an event for `site` at `now_ms` under a cap of `max` new sites
    /// per UTC day. A site on the allowlist (`allowlisted`) is admitted as
    /// known. Call [`NewSites::release`] when the write of a `New` admission
    /// fails.
    pub fn admit(
        &self,
        site: &SiteId,
        allowlisted: bool,
        max: u32,
        now_ms: i64,
    ) -> Result<Admission, SiteRefusal> {
        let mut ledger = self.ledger.lock().unwrap_or_else(|p| p.into_inner());
        if ledger.known.contains(site.as_str()) {
            return Ok(Admission::Known);
        }
        if allowlisted {
            ledger.known.insert(site.as_str().to_owned());
            return Ok(Admission::Known);
        }
        let today = utc_day(now_ms);
        if ledger.day != today {
            ledger.day = today;
            ledger.created = 0;
        }
        if ledger.created >= max {
            return Err(SiteRefusal::NewSiteLimit { max });
        }
        ledger.created += 1;
        ledger.known.insert(site.as_str().to_owned());
        Ok(Admission::New)
    }

    /// Gives back the admission of a new `site` whose event was not stored.
    pub fn release(&self, site: &SiteId) {
        let mut ledger = self.ledger.lock().unwrap_or_else(|p| p.into_inner());
        if ledger.known.remove(site.as_str()) {
            ledger.created = ledger.created.saturating_sub(1);
        }
    }

    /// Records a site added by hand: its events are admitted from now on.
    pub fn add(&self, site: &SiteId) {
        let mut ledger = self.ledger.lock().unwrap_or_else(|p| p.into_inner());
        ledger.known.insert(site.as_str().to_owned());
    }

    /// Forgets a deleted site: its next event creates it again, as a new
    /// site under the day's cap.
    pub fn forget(&self, site: &SiteId) {
        let mut ledger = self.ledger.lock().unwrap_or_else(|p| p.into_inner());
        ledger.known.remove(site.as_str());
    }

    /// How many sites the ledger knows.
    pub fn known_sites(&self) -> usize {
        self.ledger
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .known
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOON: i64 = 20_000 * DAY_MS + DAY_MS / 2;

    fn site(id: &str) -> SiteId {
        SiteId::parse(id).unwrap()
    }

    #[test]
    fn new_sites_are_capped_per_utc_day() {
        let sites = NewSites::new(["old.test".to_owned()], 1, NOON);
        assert_eq!(
            sites.admit(&site("old.test"), false, 2, NOON),
            Ok(Admission::Known)
        );
        assert_eq!(
            sites.admit(&site("a.test"), false, 2, NOON),
            Ok(Admission::New)
        );
        assert_eq!(
            sites.admit(&site("a.test"), false, 2, NOON),
            Ok(Admission::Known)
        );
        assert_eq!(
            sites.admit(&site("b.test"), false, 2, NOON),
            Err(SiteRefusal::NewSiteLimit { max: 2 }),
            "one created before the start and one since"
        );
        assert_eq!(
            sites.admit(&site("listed.test"), true, 2, NOON),
            Ok(Admission::Known),
            "the allowlist is not capped"
        );
        sites.add(&site("by-hand.test"));
        assert_eq!(
            sites.admit(&site("by-hand.test"), false, 2, NOON),
            Ok(Admission::Known)
        );
        let tomorrow = NOON + DAY_MS / 2;
        assert_eq!(
            sites.admit(&site("b.test"), false, 2, tomorrow),
            Ok(Admission::New)
        );
        assert_eq!(sites.known_sites(), 5);
    }

    #[test]
    fn a_released_admission_frees_its_place() {
        let sites = NewSites::new(Vec::new(), 0, NOON);
        assert_eq!(
            sites.admit(&site("a.test"), false, 1, NOON),
            Ok(Admission::New)
        );
        sites.release(&site("a.test"));
        assert_eq!(sites.known_sites(), 0);
        assert_eq!(
            sites.admit(&site("b.test"), false, 1, NOON),
            Ok(Admission::New)
        );
        assert!(sites.admit(&site("c.test"), false, 0, NOON).is_err());
    }

    #[test]
    fn the_allowlist_and_the_rate_limit_refuse() {
        let listed = [site("a.test")];
        assert_eq!(check_allowed_and_rate(&[], None, &site("x.test")), Ok(()));
        assert_eq!(
            check_allowed_and_rate(&listed, None, &site("x.test")),
            Err(SiteRefusal::NotAllowed)
        );
        let limiter = SiteRateLimiter::new(1).unwrap();
        assert_eq!(
            check_allowed_and_rate(&listed, Some(&limiter), &site("a.test")),
            Ok(())
        );
        assert!(matches!(
            check_allowed_and_rate(&listed, Some(&limiter), &site("a.test")),
            Err(SiteRefusal::RateLimited { retry_after_secs }) if retry_after_secs >= 1
        ));
        assert!(
            SiteRefusal::NewSiteLimit { max: 50 }
                .message(&site("x.test"))
                .contains("Sites screen")
        );
    }
}
