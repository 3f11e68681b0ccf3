//! Loading a site's history straight into day segments.
//!
//! `mallard seed` writes a year of events, oldest first, for a site with no
//! stored events. Through the ordinary path each event becomes rows that
//! the writer soon reads back, packs into a day segment and deletes. In a
//! bulk load ([`crate::WriterOptions::bulk_load`]) the writer still turns
//! each event into its visit the ordinary way ([`crate::visits`]), but keeps
//! the visits of such a site in memory ([`BulkLoad`]) instead of writing
//! rows; once a UTC day is settled (the site's newest visit starts a day's
//! pack delay after it ends, and every visit of the day ended a visit
//! timeout before that, as [`crate::visit_paths`] decides for rows), its
//! visits are written as the day's segment, its `visit_days` range and
//! their rollup contributions, in the batch's transaction. What is not
//! settled when the load ends (a maintenance job or shutdown) becomes rows,
//! as if it had been ingested, so that ingestion goes on from there.
//!
//! A crash loses the visits held in memory and nothing else: rollups are
//! only ever contributed for visits that are written. A caller that keeps
//! its own record of what it sent (an import's ledger) asks
//! [`BulkLoad::held_from`] which events are still only in memory. An event
//! for a day already written (a log read out of order, or two servers' logs
//! of the same days) ends the load before it is recorded, and it and every
//! later event take the ordinary path, which unpacks the day. A collector
//! event ends the batch with an error (it carries a dedupe key and a
//! consent, which the ordinary path keeps). A batch that fails leaves the
//! load as the last committed batch left it ([`BulkLoad::roll_back`]), and
//! the writer then writes what it holds as rows and ends the load, so no
//! acknowledged event is lost.

use rusqlite::{Connection, params};
use rustc_hash::FxHashMap;

use crate::error::StoreError;
use crate::rollups::{RollupEvent, RollupWriter};
use crate::visit_days::{DAY_MS, utc_day};
use crate::visit_record::{EventRecord, VisitRecord};
use crate::visits::{Recorded, VISIT_TIMEOUT_MS, Visit};

/// One event held in memory: its rollup contribution and what only the
/// segment keeps.
#[derive(Debug, Clone)]
pub(crate) struct HeldEvent {
    /// The event as the rollups see it (its visit, name, path, properties).
    pub(crate) rollup: RollupEvent,
    /// Revenue in millionths of `currency`.
    pub(crate) revenue_micros: Option<i64>,
    /// The interned currency code.
    pub(crate) currency: Option<i64>,
    /// The interned host name, 0 for the site's own.
    pub(crate) hostname: i64,
}

/// A visit held in memory with its events in arrival order.
#[derive(Debug, Clone)]
struct HeldVisit {
    visit: Visit,
    events: Vec<HeldEvent>,
}

/// The visits of bulk-loaded sites that are not written yet.
#[derive(Debug, Default)]
pub(crate) struct BulkLoad {
    /// Per site: whether it is loaded in bulk (it had no stored visit when
    /// first seen).
    sites: FxHashMap<i64, bool>,
    visits: FxHashMap<i64, HeldVisit>,
    /// Per site: the start of its newest visit.
    newest_start: FxHashMap<i64, i64>,
    /// Per site: the last UTC day written.
    written_through: FxHashMap<i64, i64>,
    /// Per site: the earliest UTC day a held visit starts on, so that a
    /// batch after which no day can be settled costs no look at the held
    /// visits.
    earliest: FxHashMap<i64, i64>,
    /// Whether the load ended in the batch at hand (it goes once the batch
    /// commits).
    ended: bool,
    /// What the batch at hand changed, to undo it if the batch fails: each
    /// visit it touched as it was before (`None`: new), the visits it
    /// wrote, and the per-site marks as they were.
    undo: Vec<(i64, Option<HeldVisit>)>,
    touched: rustc_hash::FxHashSet<i64>,
    written: Vec<HeldVisit>,
    saved_marks: [FxHashMap<i64, i64>; 3],
}

impl BulkLoad {
    /// Whether `site`'s events are loaded in bulk: only a site without any
    /// stored visit is (so no day of it can be written over).
    pub(crate) fn takes(&mut self, conn: &Connection, site: i64) -> Result<bool, StoreError> {
        if let Some(&bulk) = self.sites.get(&site) {
            return Ok(bulk);
        }
        let stored: bool = conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM visit_days WHERE site_id = ?1) \
                 OR EXISTS (SELECT 1 FROM visits WHERE site_id = ?1)",
            )?
            .query_row(params![site], |r| r.get(0))?;
        self.sites.insert(site, !stored);
        Ok(!stored)
    }

    /// Whether the load ended (in the batch at hand): events then take the
    /// ordinary path.
    pub(crate) fn ended(&self) -> bool {
        self.ended
    }

    /// Starts a batch: what it changes can be undone until it commits.
    pub(crate) fn begin_batch(&mut self) {
        self.undo.clear();
        self.touched.clear();
        self.written.clear();
        self.saved_marks = [
            self.newest_start.clone(),
            self.written_through.clone(),
            self.earliest.clone(),
        ];
    }

    /// The batch committed: its changes stay.
    pub(crate) fn committed(&mut self) {
        self.undo.clear();
        self.touched.clear();
        self.written.clear();
    }

    /// The batch failed: the load goes back to what the last committed
    /// batch left, and has not ended.
    pub(crate) fn roll_back(&mut self) {
        for held in self.written.drain(..) {
            self.visits.insert(held.visit.id, held);
        }
        for (id, before) in self.undo.drain(..).rev() {
            match before {
                Some(held) => self.visits.insert(id, held),
                None => self.visits.remove(&id),
            };
        }
        self.touched.clear();
        [self.newest_start, self.written_through, self.earliest] =
            std::mem::take(&mut self.saved_marks);
        self.ended = false;
    }

    /// Whether an event of `site` at `ts` falls on a day already written:
    /// the load cannot take it.
    pub(crate) fn refuses(&self, site: i64, ts: i64) -> bool {
        self.written_through
            .get(&site)
            .is_some_and(|&day| utc_day(ts) <= day)
    }

    /// The start (ms) of the earliest UTC day on which a visit of `site`
    /// held in memory starts: every event of `site` before it is written.
    /// `None` when nothing of `site` is held.
    pub(crate) fn held_from(&self, site: i64) -> Option<i64> {
        if self.ended {
            return None;
        }
        self.earliest.get(&site).map(|day| day * DAY_MS)
    }

    /// Holds `event` of the visit as `recorded` left it.
    pub(crate) fn hold(&mut self, recorded: &Recorded, event: HeldEvent) -> Result<(), StoreError> {
        let visit = &recorded.visit;
        if self
            .written_through
            .get(&visit.site_id)
            .is_some_and(|&day| utc_day(visit.start_ts) <= day)
        {
            return Err(StoreError::InvalidData(format!(
                "bulk load: an event at {} ms for a day already written",
                event.rollup.ts
            )));
        }
        if self.touched.insert(visit.id) {
            self.undo
                .push((visit.id, self.visits.get(&visit.id).cloned()));
        }
        let newest = self.newest_start.entry(visit.site_id).or_insert(i64::MIN);
        *newest = (*newest).max(visit.start_ts);
        let earliest = self
            .earliest
            .entry(visit.site_id)
            .or_insert(utc_day(visit.start_ts));
        *earliest = (*earliest).min(utc_day(visit.start_ts));
        let held = self.visits.entry(visit.id).or_insert_with(|| HeldVisit {
            visit: visit.clone(),
            events: Vec::new(),
        });
        held.visit = visit.clone();
        held.events.push(event);
        Ok(())
    }

    /// Writes every settled day (see the module docs) as its segment, its
    /// `visit_days` range and its visits' rollup contributions, in the
    /// caller's transaction; returns how many days it wrote.
    pub(crate) fn write_settled(
        &mut self,
        conn: &Connection,
        rollups: &mut RollupWriter,
    ) -> Result<usize, StoreError> {
        let newest = |site: &i64| self.newest_start.get(site).copied().unwrap_or(i64::MIN);
        let settles = |site: &i64, day: i64| {
            (day + 1) * DAY_MS + crate::visit_paths::PACK_AFTER_MS <= newest(site)
        };
        if !self.earliest.iter().any(|(site, day)| settles(site, *day)) {
            return Ok(0);
        }
        let mut days: FxHashMap<(i64, i64), Vec<i64>> = FxHashMap::default();
        for (id, held) in &self.visits {
            days.entry((held.visit.site_id, utc_day(held.visit.start_ts)))
                .or_default()
                .push(*id);
        }
        let mut settled: Vec<((i64, i64), Vec<i64>)> = days
            .into_iter()
            .filter(|((site, day), ids)| {
                settles(site, *day)
                    && ids.iter().all(|id| {
                        self.visits
                            .get(id)
                            .is_some_and(|held| held.visit.end_ts + VISIT_TIMEOUT_MS < newest(site))
                    })
            })
            .collect();
        settled.sort_unstable_by_key(|(day, _)| *day);
        for ((site, day), ids) in &settled {
            let held: Vec<HeldVisit> = ids.iter().filter_map(|id| self.visits.remove(id)).collect();
            let held = write_day(conn, rollups, *site, *day, held)?;
            self.written.extend(held);
            let through = self.written_through.entry(*site).or_insert(*day);
            *through = (*through).max(*day);
        }
        self.earliest.clear();
        for held in self.visits.values() {
            let day = utc_day(held.visit.start_ts);
            let earliest = self.earliest.entry(held.visit.site_id).or_insert(day);
            *earliest = (*earliest).min(day);
        }
        Ok(settled.len())
    }

    /// Ends the load: writes the settled days, and hands back the visits
    /// that are not settled, with their events, to be written as rows.
    pub(crate) fn finish(
        &mut self,
        conn: &Connection,
        rollups: &mut RollupWriter,
    ) -> Result<Vec<(Visit, Vec<HeldEvent>)>, StoreError> {
        self.write_settled(conn, rollups)?;
        let mut left: Vec<(Visit, Vec<HeldEvent>)> = self
            .visits
            .values()
            .map(|held| (held.visit.clone(), held.events.clone()))
            .collect();
        left.sort_unstable_by_key(|(visit, _)| visit.id);
        self.written
            .extend(self.visits.drain().map(|(_, held)| held));
        self.ended = true;
        Ok(left)
    }
}

/// Writes the visits of `site` that start on UTC `day`: the segment, the
/// day's range of visit ids with the latest end, and the rollup
/// contributions of the visits and their events.
fn write_day(
    conn: &Connection,
    rollups: &mut RollupWriter,
    site: i64,
    day: i64,
    mut held: Vec<HeldVisit>,
) -> Result<Vec<HeldVisit>, StoreError> {
    held.sort_unstable_by_key(|h| (h.visit.start_ts, h.visit.id));
    let records: Vec<VisitRecord> = held.iter().map(record_of).collect();
    let (min_id, max_id) = held.iter().fold((i64::MAX, i64::MIN), |(low, high), h| {
        (low.min(h.visit.id), high.max(h.visit.id))
    });
    // The range first: writing the segment records the latest end in it.
    conn.prepare_cached(
        "INSERT INTO visit_days (site_id, day, min_id, max_id) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![site, day, min_id, max_id])?;
    crate::visit_paths::write_segment(conn, site, day, &records)?;
    contribute(conn, rollups, &held)?;
    Ok(held)
}

/// Adds the rollup contributions of whole visits with all their events
/// (each as a new visit).
fn contribute(
    conn: &Connection,
    rollups: &mut RollupWriter,
    held: &[HeldVisit],
) -> Result<(), StoreError> {
    let mut visits = std::collections::HashMap::with_capacity(held.len());
    let mut events = Vec::new();
    for h in held {
        events.extend(h.events.iter().map(|e| e.rollup.clone()));
        visits.insert(
            h.visit.id,
            Recorded {
                visit: h.visit.clone(),
                is_new: true,
                start_moved: false,
                before: None,
            },
        );
    }
    rollups.apply(conn, &events, &visits)
}

/// Adds the rollup contributions of `visit` and its `events` (a visit
/// written as rows when the load ends).
pub(crate) fn contribute_one(
    conn: &Connection,
    rollups: &mut RollupWriter,
    visit: Visit,
    events: Vec<HeldEvent>,
) -> Result<(), StoreError> {
    contribute(conn, rollups, &[HeldVisit { visit, events }])
}

/// A held visit as a segment stores it: its events in time order (ties in
/// arrival order, as event ids order them), each one's properties sorted by
/// key.
fn record_of(held: &HeldVisit) -> VisitRecord {
    let visit = &held.visit;
    let mut events: Vec<&HeldEvent> = held.events.iter().collect();
    events.sort_by_key(|e| e.rollup.ts);
    let mut record = VisitRecord {
        id: visit.id,
        visitor_id: visit.visitor_id,
        start_ts: visit.start_ts,
        end_ts: visit.end_ts,
        pageviews: visit.pageviews,
        events_count: visit.events,
        entry_page: visit.entry_page,
        exit_page: visit.exit_page,
        attrs: visit.attributes,
        events_read: true,
        ..VisitRecord::default()
    };
    for event in events {
        let rollup = &event.rollup;
        let first = record.props.len() as u32;
        let mut pairs = rollup.props.clone();
        pairs.sort_unstable_by_key(|&(key, _)| key);
        record.props.extend(pairs);
        let last = record.props.len() as u32;
        record.events.push(EventRecord {
            ts: rollup.ts,
            pageview: rollup.pageview,
            code: if rollup.pageview {
                rollup.pathname
            } else {
                rollup.name
            },
            pathname: rollup.pathname,
            props: if last > first { (first, last) } else { (0, 0) },
            revenue_micros: event.revenue_micros,
            currency: event.currency,
            hostname: event.hostname,
            consent: None,
        });
    }
    record
}
