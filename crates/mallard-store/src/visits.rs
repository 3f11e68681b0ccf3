//! Assignment of events to visits (sessions) at ingest time.
//!
//! A visit is a run of events from one visitor on one site with no gap longer than
//! [`VISIT_TIMEOUT_MS`] (30 minutes, as Plausible and GoatCounter do). The writer
//! keeps the visits that may still grow in memory; everything older is final and
//! lives only in the `visits` table.

use std::collections::{HashMap, VecDeque};

/// A visit ends after this long without events from its visitor.
pub const VISIT_TIMEOUT_MS: i64 = 30 * 60 * 1000;

/// The length of a generation of the visits held in memory, in event time
/// (the newest event's): a visit not touched for two generations whose
/// last event is more than [`VISIT_TIMEOUT_MS`] old is dropped.
const GENERATION_MS: i64 = 60 * 1000;

/// Visits looked at for dropping per event recorded: dropping idle visits
/// costs a little per event instead of a pass over all of them at once
/// (which held a write up for hundreds of milliseconds with a million
/// visitors in the last half hour), and keeps up, since a visit is queued
/// at most once per generation in which it is touched.
const PRUNE_STEPS_PER_EVENT: usize = 4;

/// Visit-level attributes, as interned dimension ids, taken from a visit's first event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VisitAttributes {
    /// Referrer source name.
    pub referrer_source: Option<i64>,
    /// Referrer URL.
    pub referrer_url: Option<i64>,
    /// `utm_source`.
    pub utm_source: Option<i64>,
    /// `utm_medium`.
    pub utm_medium: Option<i64>,
    /// `utm_campaign`.
    pub utm_campaign: Option<i64>,
    /// `utm_term`.
    pub utm_term: Option<i64>,
    /// `utm_content`.
    pub utm_content: Option<i64>,
    /// Browser family.
    pub browser: Option<i64>,
    /// Browser version.
    pub browser_version: Option<i64>,
    /// OS family.
    pub os: Option<i64>,
    /// OS version.
    pub os_version: Option<i64>,
    /// Device class code (see `mallard_core::DeviceClass::code`).
    pub device: i64,
    /// Screen width in CSS pixels.
    pub screen_width: Option<i64>,
    /// Country code.
    pub country: Option<i64>,
    /// Whether the visit's user agent is a bot.
    pub is_bot: bool,
    /// Whether the visit came from an internal IP range.
    pub is_internal: bool,
    /// Region (first subdivision) name.
    pub region: Option<i64>,
    /// City name.
    pub city: Option<i64>,
}

/// One visit as stored in the `visits` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visit {
    /// The visit id (`visits.id`).
    pub id: i64,
    /// The site's id.
    pub site_id: i64,
    /// The visitor id.
    pub visitor_id: i64,
    /// Time of the first event, ms since the epoch.
    pub start_ts: i64,
    /// Time of the last event, ms since the epoch.
    pub end_ts: i64,
    /// How many page views the visit has.
    pub pageviews: i64,
    /// How many events (page views and custom events) the visit has.
    pub events: i64,
    /// The path of the first page view.
    pub entry_page: Option<i64>,
    /// The path of the last page view.
    pub exit_page: Option<i64>,
    /// Visit-level attributes.
    pub attributes: VisitAttributes,
}

/// What recording one event did to its visit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The visit as it is now.
    pub visit: Visit,
    /// Whether the event started a new visit.
    pub is_new: bool,
    /// Whether the event moved an existing visit's start earlier.
    pub start_moved: bool,
    /// The visit as it was before the event (`None` for a new visit): what
    /// its stored row holds, unless the same batch touched it already.
    pub before: Option<Visit>,
}

/// The visits that can still receive events, keyed by site and visitor.
///
/// Each held visit has the generation in which it was last touched, and is
/// queued once per generation it is touched in; idle ones are dropped a few
/// at a time from the front of the queue ([`ActiveVisits::prune_step`]). A
/// visit touched in the last two generations is never dropped, whatever its
/// events' times: the visit of an import or a pull, with times long past,
/// stays whole while its events arrive.
#[derive(Debug, Default)]
pub struct ActiveVisits {
    open: HashMap<(i64, i64), (Visit, i64)>,
    /// Visits to look at, by the generation they were queued in.
    queue: VecDeque<(i64, (i64, i64))>,
    next_id: i64,
    newest_ts: i64,
}

/// One event as the visit tracker sees it.
#[derive(Debug, Clone, Copy)]
pub struct VisitEvent {
    /// The site's id.
    pub site_id: i64,
    /// The visitor id.
    pub visitor_id: i64,
    /// Event time, ms since the epoch.
    pub ts: i64,
    /// The page path id when the event is a page view.
    pub pageview_path: Option<i64>,
}

impl ActiveVisits {
    /// Starts tracking with `next_id` as the first id to hand out and `open` as
    /// the visits reloaded from the database.
    pub fn new(next_id: i64, open: impl IntoIterator<Item = Visit>) -> Self {
        let mut visits = Self {
            next_id,
            ..Self::default()
        };
        let open: Vec<Visit> = open.into_iter().collect();
        for visit in &open {
            visits.newest_ts = visits.newest_ts.max(visit.end_ts);
            visits.next_id = visits.next_id.max(visit.id + 1);
        }
        let generation = visits.generation();
        for visit in open {
            let key = (visit.site_id, visit.visitor_id);
            visits.queue.push_back((generation, key));
            visits.open.insert(key, (visit, generation));
        }
        visits
    }

    /// Adds `event` to its visit, starting a new visit when there is none or the
    /// last one timed out, and returns a copy of the visit as it is now.
    /// `attributes` is called only for a new visit.
    pub fn record<E>(
        &mut self,
        event: VisitEvent,
        attributes: impl FnOnce() -> Result<VisitAttributes, E>,
    ) -> Result<Recorded, E> {
        self.newest_ts = self.newest_ts.max(event.ts);
        self.prune_step(PRUNE_STEPS_PER_EVENT);
        let generation = self.generation();
        let key = (event.site_id, event.visitor_id);
        if let Some((visit, touched)) = self.open.get_mut(&key) {
            let continues = event.ts <= visit.end_ts + VISIT_TIMEOUT_MS
                && event.ts >= visit.start_ts - VISIT_TIMEOUT_MS;
            if continues {
                let start_moved = event.ts < visit.start_ts;
                let before = visit.clone();
                add_event(visit, event);
                if *touched != generation {
                    *touched = generation;
                    self.queue.push_back((generation, key));
                }
                return Ok(Recorded {
                    visit: visit.clone(),
                    is_new: false,
                    start_moved,
                    before: Some(before),
                });
            }
        }
        let mut visit = Visit {
            id: self.next_id,
            site_id: event.site_id,
            visitor_id: event.visitor_id,
            start_ts: event.ts,
            end_ts: event.ts,
            pageviews: 0,
            events: 0,
            entry_page: None,
            exit_page: None,
            attributes: attributes()?,
        };
        self.next_id += 1;
        add_event(&mut visit, event);
        // A straggler older than the open visit gets a visit of its own but must
        // not replace the open one, which later events still continue.
        let replaces = self
            .open
            .get(&key)
            .is_none_or(|(open, _)| event.ts > open.end_ts);
        if replaces {
            self.open.insert(key, (visit.clone(), generation));
            self.queue.push_back((generation, key));
        }
        Ok(Recorded {
            visit,
            is_new: true,
            start_moved: false,
            before: None,
        })
    }

    /// Drops visits that can no longer receive events from memory.
    pub fn prune(&mut self) {
        self.prune_step(usize::MAX);
    }

    /// Looks at up to `steps` queued visits of generations at least two
    /// back: one touched since stays (it was queued again), one whose last
    /// event is older than the visit timeout goes, and another is queued
    /// again to be looked at later.
    fn prune_step(&mut self, steps: usize) {
        let generation = self.generation();
        let cutoff = self.newest_ts - VISIT_TIMEOUT_MS;
        for _ in 0..steps {
            let Some(&(queued, key)) = self.queue.front() else {
                return;
            };
            if queued > generation - 2 {
                return;
            }
            self.queue.pop_front();
            let Some((visit, touched)) = self.open.get_mut(&key) else {
                continue;
            };
            if *touched != queued {
                // Touched later: queued again then.
                continue;
            }
            if visit.end_ts < cutoff {
                self.open.remove(&key);
            } else {
                *touched = generation;
                self.queue.push_back((generation, key));
            }
        }
    }

    /// The current generation, by the newest event's time.
    fn generation(&self) -> i64 {
        self.newest_ts.div_euclid(GENERATION_MS)
    }

    /// How many visits are held in memory.
    pub fn len(&self) -> usize {
        self.open.len()
    }

    /// Whether no visit is held in memory.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// The next visit id that will be handed out.
    pub fn next_id(&self) -> i64 {
        self.next_id
    }
}

fn add_event(visit: &mut Visit, event: VisitEvent) {
    visit.events += 1;
    if let Some(path) = event.pageview_path {
        visit.pageviews += 1;
        if visit.entry_page.is_none() || event.ts < visit.start_ts {
            visit.entry_page = Some(path);
        }
        if visit.exit_page.is_none() || event.ts >= visit.end_ts {
            visit.exit_page = Some(path);
        }
    }
    visit.start_ts = visit.start_ts.min(event.ts);
    visit.end_ts = visit.end_ts.max(event.ts);
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60 * 1000;

    fn pageview(visitor: i64, ts: i64, path: i64) -> VisitEvent {
        VisitEvent {
            site_id: 1,
            visitor_id: visitor,
            ts,
            pageview_path: Some(path),
        }
    }

    fn record(visits: &mut ActiveVisits, event: VisitEvent) -> Visit {
        visits
            .record(event, || Ok::<_, ()>(VisitAttributes::default()))
            .unwrap()
            .visit
    }

    #[test]
    fn recording_reports_new_visits_and_moved_starts() {
        let mut visits = ActiveVisits::new(1, []);
        let attributes = || Ok::<_, ()>(VisitAttributes::default());
        let first = visits
            .record(pageview(1, 10 * MIN, 10), attributes)
            .unwrap();
        assert!(first.is_new && !first.start_moved);
        let later = visits
            .record(pageview(1, 11 * MIN, 10), attributes)
            .unwrap();
        assert!(!later.is_new && !later.start_moved);
        let earlier = visits.record(pageview(1, 9 * MIN, 10), attributes).unwrap();
        assert!(!earlier.is_new && earlier.start_moved);
        assert_eq!(earlier.visit.start_ts, 9 * MIN);
    }

    #[test]
    fn events_within_thirty_minutes_share_a_visit_and_a_gap_starts_a_new_one() {
        let mut visits = ActiveVisits::new(1, []);
        let first = record(&mut visits, pageview(7, 0, 10));
        let second = record(&mut visits, pageview(7, 29 * MIN, 11));
        assert_eq!(first.id, second.id);
        assert_eq!(second.pageviews, 2);
        assert_eq!(second.entry_page, Some(10));
        assert_eq!(second.exit_page, Some(11));
        assert_eq!(second.end_ts - second.start_ts, 29 * MIN);
        let third = record(
            &mut visits,
            pageview(7, 29 * MIN + VISIT_TIMEOUT_MS + 1, 12),
        );
        assert_ne!(third.id, second.id);
        assert_eq!(third.pageviews, 1);
    }

    #[test]
    fn visitors_and_sites_are_kept_apart() {
        let mut visits = ActiveVisits::new(1, []);
        let a = record(&mut visits, pageview(1, 0, 10));
        let b = record(&mut visits, pageview(2, 0, 10));
        let c = record(
            &mut visits,
            VisitEvent {
                site_id: 2,
                ..pageview(1, 0, 10)
            },
        );
        assert_ne!(a.id, b.id);
        assert_ne!(a.id, c.id);
    }

    #[test]
    fn custom_events_count_but_are_not_page_views() {
        let mut visits = ActiveVisits::new(1, []);
        record(&mut visits, pageview(1, 0, 10));
        let visit = record(
            &mut visits,
            VisitEvent {
                site_id: 1,
                visitor_id: 1,
                ts: MIN,
                pageview_path: None,
            },
        );
        assert_eq!((visit.pageviews, visit.events), (1, 2));
        assert_eq!(visit.exit_page, Some(10));
    }

    #[test]
    fn a_late_straggler_does_not_replace_the_open_visit() {
        let mut visits = ActiveVisits::new(1, []);
        let open = record(&mut visits, pageview(1, 10 * 60 * MIN, 10));
        let straggler = record(&mut visits, pageview(1, 0, 10));
        assert_ne!(open.id, straggler.id);
        let next = record(&mut visits, pageview(1, 10 * 60 * MIN + MIN, 11));
        assert_eq!(next.id, open.id);
    }

    #[test]
    fn a_visit_of_past_events_stays_whole_while_live_events_move_time_on() {
        let mut visits = ActiveVisits::new(1, []);
        let now = 100 * VISIT_TIMEOUT_MS;
        record(&mut visits, pageview(1, now, 10));
        // An import's visit from long ago, between live events.
        let imported = record(&mut visits, pageview(7, 1_000, 10));
        for minute in 1..=2 {
            record(
                &mut visits,
                pageview(2, now + minute * GENERATION_MS / 2, 10),
            );
        }
        let next = record(&mut visits, pageview(7, 61_000, 11));
        assert_eq!(next.id, imported.id, "the same visit");
        assert_eq!(next.pageviews, 2);
        // Idle for two generations of live time, it goes.
        for minute in 2..=8 {
            record(&mut visits, pageview(3, now + minute * GENERATION_MS, 10));
        }
        let again = record(&mut visits, pageview(7, 62_000, 11));
        assert_ne!(again.id, imported.id);
    }

    #[test]
    fn idle_visits_are_pruned_from_memory_and_reloaded_visits_continue() {
        let mut visits = ActiveVisits::new(1, []);
        let old = record(&mut visits, pageview(1, 0, 10));
        record(&mut visits, pageview(2, 2 * VISIT_TIMEOUT_MS, 10));
        assert_eq!(visits.len(), 1);
        let reloaded = ActiveVisits::new(1, [old.clone()]);
        assert_eq!(reloaded.next_id(), old.id + 1);
        assert!(!reloaded.is_empty());
    }
}
