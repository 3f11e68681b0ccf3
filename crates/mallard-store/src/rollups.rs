//! Pre-aggregated rollups, kept up to date by the writer a few seconds behind
//! the events they count.
//!
//! Two tables (migration `004_stats.sql`): `rollup_hours` holds a site's totals
//! per local hour, `rollup_days` holds a site's totals (kind [`kind::SITE`]) and
//! every breakdown dimension (the other kinds) per local day. Each row has
//! counters and a visitor sketch ([`crate::hll`]).
//!
//! Two kinds of contribution feed them:
//! - An *event* is immutable: it adds one to `events` (and `pageviews` for a
//!   page view) and its visitor to the sketch, in the bucket of its own time,
//!   for the site, its page (page views), its name and properties (custom
//!   events) and every visit-level dimension of its visit.
//! - A *visit* grows while events arrive: its start, end, page views, entry and
//!   exit page change. Its contribution (`visits`, `bounces`, `visit_pageviews`,
//!   `duration_ms`, in the bucket of its start, for the site, its visit-level
//!   dimensions and its entry and exit page) is applied as a delta: the writer
//!   subtracts what the stored visit row contributed before the batch and adds
//!   what the visit contributes after it.
//!
//! Entry and exit pages share the row of their path with its page views
//! (`visits`.. count visits entering there, `exits` visits leaving from it),
//! which saves a row per path and day. Sketches only ever grow, so visitors
//! are counted per event, never per visit; entry and exit pages (which change
//! as a visit grows) have no visitor count.
//!
//! Write-behind: the writer adds each batch's contributions to `Pending` in
//! memory and lists the local days they touch in `rollup_dirty_days` in the
//! batch's transaction; `RollupWriter::write_all` writes the sums (every two
//! seconds, when a reader asks, before maintenance and at shutdown) and clears
//! the list. Days still listed when the store opens are rebuilt from the
//! stored rows (`rollup_rebuild::recover`).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use mallard_core::SiteTimeZone;
use rusqlite::{Connection, OptionalExtension, params};
// Pending contributions are looked up about 15 times per event; their keys are
// integers chosen by the writer, so a fast non-keyed hash is safe here.
use rustc_hash::{FxHashMap, FxHashSet};

use crate::error::StoreError;
use crate::hll::{self, Sketch};
use crate::sketch_cache::{SketchCache, SketchRow};
use crate::visits::{Recorded, Visit, VisitAttributes};

pub use crate::rollup_rebuild::rebuild_site;

/// The kinds of rows in `rollup_days`.
pub mod kind {
    /// Site totals (value 0).
    pub const SITE: i64 = 0;
    /// Per path (value: pathname dim id, 0 for visits without page views):
    /// `pageviews` and `visitors` of the page views of the path; `visits`,
    /// `bounces`, `visit_pageviews` and `duration_ms` of the visits that
    /// entered on it; `exits` of the visits that left from it.
    pub const PAGE: i64 = 1;
    /// Packed page rows of a closed day (see `packed_pages`).
    pub const PAGE_PACK: i64 = 16;
    /// Entry pages: not stored, answered from [`PAGE`] rows.
    pub const ENTRY_PAGE: i64 = 2;
    /// Exit pages: not stored, answered from [`PAGE`] rows.
    pub const EXIT_PAGE: i64 = 3;
    /// Per referrer source dim id (0 for direct).
    pub const SOURCE: i64 = 4;
    /// Per referrer URL dim id.
    pub const REFERRER: i64 = 5;
    /// Per `utm_source` dim id.
    pub const UTM_SOURCE: i64 = 6;
    /// Per `utm_medium` dim id.
    pub const UTM_MEDIUM: i64 = 7;
    /// Per `utm_campaign` dim id.
    pub const UTM_CAMPAIGN: i64 = 8;
    /// Per browser dim id.
    pub const BROWSER: i64 = 9;
    /// Per OS dim id.
    pub const OS: i64 = 10;
    /// Per device class (value: code + 1).
    pub const DEVICE: i64 = 11;
    /// Per country dim id.
    pub const COUNTRY: i64 = 12;
    /// Per screen width (value: width + 1, 0 when unknown).
    pub const SCREEN: i64 = 13;
    /// Per custom event name dim id.
    pub const EVENT: i64 = 14;
    /// Per custom property (value: key dim id << 32 | value dim id).
    pub const PROP: i64 = 15;
    /// Per region dim id: not stored, answered from the visits
    /// ([`is_stored`]).
    pub const REGION: i64 = 17;
    /// Per city dim id: not stored, answered from the visits.
    pub const CITY: i64 = 18;
    /// Per `utm_term` dim id: not stored, answered from the visits.
    pub const UTM_TERM: i64 = 19;
    /// Per `utm_content` dim id: not stored, answered from the visits.
    pub const UTM_CONTENT: i64 = 20;

    /// Whether `rollup_days` holds rows of the breakdown kind `row_kind`
    /// (entry and exit pages count as stored: the page rows answer them).
    /// Region and city are known only with a city database, and
    /// `utm_term` and `utm_content` only for the few campaigns that set
    /// them; most sites have none of them, and their many values would take
    /// more room than the visits: their breakdowns read the day segments,
    /// filtered or not.
    pub const fn is_stored(row_kind: i64) -> bool {
        !matches!(row_kind, REGION | CITY | UTM_TERM | UTM_CONTENT)
    }
}

/// The visit-level kinds and the value a visit has for each.
pub(crate) fn visit_dims(a: &VisitAttributes) -> [(i64, i64); 10] {
    VISIT_KINDS.map(|k| (k, visit_dim(a, k).unwrap_or(0)))
}

/// The visit-level kinds, in the order of [`visit_dims`].
const VISIT_KINDS: [i64; 10] = [
    kind::SOURCE,
    kind::REFERRER,
    kind::UTM_SOURCE,
    kind::UTM_MEDIUM,
    kind::UTM_CAMPAIGN,
    kind::BROWSER,
    kind::OS,
    kind::DEVICE,
    kind::COUNTRY,
    kind::SCREEN,
];

/// The value a visit has for the visit-level `row_kind`; `None` for the
/// other kinds.
#[inline]
pub(crate) fn visit_dim(a: &VisitAttributes, row_kind: i64) -> Option<i64> {
    Some(match row_kind {
        kind::SOURCE => a.referrer_source.unwrap_or(0),
        kind::REFERRER => a.referrer_url.unwrap_or(0),
        kind::UTM_SOURCE => a.utm_source.unwrap_or(0),
        kind::UTM_MEDIUM => a.utm_medium.unwrap_or(0),
        kind::UTM_CAMPAIGN => a.utm_campaign.unwrap_or(0),
        kind::BROWSER => a.browser.unwrap_or(0),
        kind::OS => a.os.unwrap_or(0),
        kind::DEVICE => a.device + 1,
        kind::COUNTRY => a.country.unwrap_or(0),
        kind::SCREEN => a.screen_width.map_or(0, |w| w + 1),
        kind::REGION => a.region.unwrap_or(0),
        kind::UTM_TERM => a.utm_term.unwrap_or(0),
        kind::UTM_CONTENT => a.utm_content.unwrap_or(0),
        kind::CITY => a.city.unwrap_or(0),
        _ => return None,
    })
}

/// The value of a custom property in `rollup_days`.
pub(crate) fn prop_value(key: i64, value: i64) -> i64 {
    (key << 32) | (value & 0xFFFF_FFFF)
}

/// One stored event as the rollups see it.
#[derive(Debug, Clone)]
pub(crate) struct RollupEvent {
    pub(crate) site_id: i64,
    pub(crate) ts: i64,
    pub(crate) visit_id: i64,
    pub(crate) name: i64,
    pub(crate) pageview: bool,
    pub(crate) pathname: i64,
    pub(crate) props: Vec<(i64, i64)>,
}

/// The parts of a visit its contribution depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct VisitShape {
    pub(crate) start_ts: i64,
    pub(crate) end_ts: i64,
    pub(crate) pageviews: i64,
    pub(crate) entry_page: Option<i64>,
    pub(crate) exit_page: Option<i64>,
}

impl From<&Visit> for VisitShape {
    fn from(v: &Visit) -> Self {
        Self {
            start_ts: v.start_ts,
            end_ts: v.end_ts,
            pageviews: v.pageviews,
            entry_page: v.entry_page,
            exit_page: v.exit_page,
        }
    }
}

const PAGEVIEWS: usize = 0;
const EVENTS: usize = 1;
const VISITS: usize = 2;
const BOUNCES: usize = 3;
const VISIT_PAGEVIEWS: usize = 4;
const DURATION: usize = 5;
const EXITS: usize = 6;

#[derive(Debug, Default)]
struct Acc {
    counts: [i64; 7],
    hashes: Vec<u32>,
}

/// Contributions collected for one flush.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    hours: FxHashMap<(i64, i64), Acc>,
    days: FxHashMap<(i64, i64, i64, i64), Acc>,
    first_days: FxHashMap<i64, i64>,
    newest_days: FxHashMap<i64, i64>,
    /// How many visitor hashes are collected.
    hashes: usize,
    /// Whether only the property rows are collected (a recount of them:
    /// [`crate::rollup_rebuild::rebuild_props`]).
    props_only: bool,
}

impl Pending {
    /// Contributions to the property rows alone.
    pub(crate) fn props_only() -> Self {
        Self {
            props_only: true,
            ..Self::default()
        }
    }

    /// Whether nothing is collected.
    pub(crate) fn is_empty(&self) -> bool {
        self.hours.is_empty() && self.days.is_empty() && self.first_days.is_empty()
    }

    /// Adds one stored event of the visitor `visitor_id`, whose visit has `attrs`.
    pub(crate) fn add_event(
        &mut self,
        tz: &SiteTimeZone,
        event: &RollupEvent,
        visitor_id: i64,
        attrs: &VisitAttributes,
    ) {
        let site = event.site_id;
        let hash = hll::visitor_hash(visitor_id);
        let day = tz.local_day(event.ts);
        let hour = tz.local_hour(event.ts);
        let first = self.first_days.entry(site).or_insert(day);
        *first = (*first).min(day);
        let newest = self.newest_days.entry(site).or_insert(day);
        *newest = (*newest).max(day);
        let pageviews = i64::from(event.pageview);
        let mut hashes = 0;
        let mut bump = |acc: &mut Acc| {
            acc.counts[PAGEVIEWS] += pageviews;
            acc.counts[EVENTS] += 1;
            acc.hashes.push(hash);
            hashes += 1;
        };
        if !self.props_only {
            bump(self.hours.entry((site, hour)).or_default());
            bump(self.days.entry((site, kind::SITE, day, 0)).or_default());
            for (k, value) in visit_dims(attrs) {
                bump(self.days.entry((site, k, day, value)).or_default());
            }
            let (row_kind, value) = if event.pageview {
                (kind::PAGE, event.pathname)
            } else {
                (kind::EVENT, event.name)
            };
            bump(self.days.entry((site, row_kind, day, value)).or_default());
        }
        // Properties count on every event that carries them, page views
        // included, as Plausible counts them.
        for &(key, value) in &event.props {
            bump(
                self.days
                    .entry((site, kind::PROP, day, prop_value(key, value)))
                    .or_default(),
            );
        }
        self.hashes += hashes;
    }

    /// Adds (`sign` 1) or takes away (`sign` -1) the contribution of a visit.
    pub(crate) fn add_visit(
        &mut self,
        tz: &SiteTimeZone,
        site: i64,
        shape: &VisitShape,
        attrs: &VisitAttributes,
        sign: i64,
    ) {
        if self.props_only {
            return;
        }
        let day = tz.local_day(shape.start_ts);
        let hour = tz.local_hour(shape.start_ts);
        let apply = |acc: &mut Acc| {
            acc.counts[VISITS] += sign;
            acc.counts[BOUNCES] += sign * i64::from(shape.pageviews == 1);
            acc.counts[VISIT_PAGEVIEWS] += sign * shape.pageviews;
            acc.counts[DURATION] += sign * (shape.end_ts - shape.start_ts);
        };
        apply(self.hours.entry((site, hour)).or_default());
        apply(self.days.entry((site, kind::SITE, day, 0)).or_default());
        for (k, value) in visit_dims(attrs) {
            apply(self.days.entry((site, k, day, value)).or_default());
        }
        let entry = shape.entry_page.unwrap_or(0);
        let exit = shape.exit_page.unwrap_or(0);
        apply(self.days.entry((site, kind::PAGE, day, entry)).or_default());
        self.days
            .entry((site, kind::PAGE, day, exit))
            .or_default()
            .counts[EXITS] += sign;
    }

    /// Writes the collected contributions and forgets them. Each row's visitor
    /// sketch is written with its counters (a row that grows after its insert
    /// splits its page): with a `cache`, the sketch is kept decoded there for
    /// the next write; without, the stored one is decoded and merged.
    pub(crate) fn flush(
        &mut self,
        conn: &Connection,
        mut cache: Option<&mut SketchCache>,
    ) -> Result<(), StoreError> {
        self.hashes = 0;
        let mut select_hour = conn
            .prepare_cached("SELECT visitors FROM rollup_hours WHERE site_id = ?1 AND hour = ?2")?;
        let mut upsert_hour = conn.prepare_cached(
            "INSERT INTO rollup_hours (site_id, hour, pageviews, events, visits, bounces, \
             visit_pageviews, duration_ms, visitors) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
             ON CONFLICT (site_id, hour) DO UPDATE SET pageviews = pageviews + excluded.pageviews, \
             events = events + excluded.events, visits = visits + excluded.visits, \
             bounces = bounces + excluded.bounces, \
             visit_pageviews = visit_pageviews + excluded.visit_pageviews, \
             duration_ms = duration_ms + excluded.duration_ms, \
             visitors = coalesce(excluded.visitors, visitors)",
        )?;
        for ((site, hour), acc) in self.hours.drain() {
            let sketch = if acc.hashes.is_empty() {
                None
            } else if let Some(cache) = cache.as_deref_mut() {
                Some(cache.add_encoded(
                    conn,
                    SketchRow::Hour { site, hour },
                    &acc.hashes,
                    hll::DIM_PRECISION,
                )?)
            } else {
                let stored: Option<Option<Vec<u8>>> = select_hour
                    .query_row(params![site, hour], |r| r.get(0))
                    .optional()?;
                Some(merged(stored.flatten(), &acc.hashes, hll::DIM_PRECISION)?)
            };
            let c = acc.counts;
            upsert_hour.execute(params![
                site, hour, c[0], c[1], c[2], c[3], c[4], c[5], sketch
            ])?;
        }
        let mut select_day = conn.prepare_cached(
            "SELECT visitors FROM rollup_days WHERE site_id = ?1 AND kind = ?2 AND day = ?3 \
             AND value = ?4",
        )?;
        let mut upsert_day = conn.prepare_cached(
            "INSERT INTO rollup_days (site_id, kind, day, value, pageviews, events, visits, \
             bounces, visit_pageviews, duration_ms, exits, visitors, rowid) VALUES (?1, ?2, ?3, \
             ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) \
             ON CONFLICT (site_id, kind, day, value) DO UPDATE SET \
             pageviews = pageviews + excluded.pageviews, events = events + excluded.events, \
             visits = visits + excluded.visits, bounces = bounces + excluded.bounces, \
             visit_pageviews = visit_pageviews + excluded.visit_pageviews, \
             duration_ms = duration_ms + excluded.duration_ms, exits = exits + excluded.exits, \
             visitors = coalesce(excluded.visitors, visitors)",
        )?;
        let mut rowids = DayRowids::load(conn)?;
        // The spans of the days written are dropped once each, below.
        let mut spans = FxHashSet::default();
        for ((site, k, day, value), acc) in self.days.drain() {
            spans.insert((site, crate::rollup_spans::span_start(day)));
            let precision = if k == kind::SITE {
                hll::SITE_PRECISION
            } else {
                hll::DIM_PRECISION
            };
            let sketch = if acc.hashes.is_empty() {
                None
            } else if let Some(cache) = cache.as_deref_mut() {
                let row = SketchRow::Day {
                    site,
                    kind: k,
                    day,
                    value,
                };
                Some(cache.add_encoded(conn, row, &acc.hashes, precision)?)
            } else {
                let stored: Option<Option<Vec<u8>>> = select_day
                    .query_row(params![site, k, day, value], |r| r.get(0))
                    .optional()?;
                let p = if k == kind::SITE {
                    hll::SITE_PRECISION
                } else {
                    hll::DIM_PRECISION
                };
                Some(merged(stored.flatten(), &acc.hashes, p)?)
            };
            let c = acc.counts;
            // A row that exists already keeps its rowid; this one goes unused.
            let rowid = rowids.next(k == kind::PAGE);
            upsert_day.execute(params![
                site, k, day, value, c[0], c[1], c[2], c[3], c[4], c[5], c[6], sketch, rowid
            ])?;
        }
        for (site, span) in spans {
            crate::rollup_spans::drop_mark(conn, site, span)?;
        }
        let mut bump_site = conn.prepare_cached(
            "INSERT INTO rollup_sites (site_id, version, first_day) VALUES (?1, 1, ?2) \
             ON CONFLICT (site_id) DO UPDATE SET version = version + 1, \
             first_day = min(first_day, excluded.first_day)",
        )?;
        for (site, first_day) in self.first_days.drain() {
            bump_site.execute(params![site, first_day])?;
        }
        for (site, newest_day) in self.newest_days.drain() {
            crate::packed_pages::pack_closed_days(conn, site, newest_day)?;
        }
        Ok(())
    }
}

/// Page rows (kind [`kind::PAGE`]) of `rollup_days` take rowids from here up,
/// every other row below. Page rows are deleted when their day is packed; in a
/// rowid range of their own they fill pages of their own, so packing frees
/// whole pages for reuse instead of leaving each page of the day half empty.
const PAGE_ROWIDS: i64 = 1 << 62;

/// The next free rowids of `rollup_days`, for page rows and for the others.
pub(crate) struct DayRowids {
    page: i64,
    other: i64,
}

impl DayRowids {
    /// Reads the largest rowid in use in each range.
    pub(crate) fn load(conn: &Connection) -> Result<Self, StoreError> {
        let last = |sql: &str| -> Result<Option<i64>, StoreError> {
            Ok(conn
                .prepare_cached(sql)?
                .query_row(params![PAGE_ROWIDS], |r| r.get(0))
                .optional()?)
        };
        let page =
            last("SELECT rowid FROM rollup_days WHERE rowid >= ?1 ORDER BY rowid DESC LIMIT 1")?;
        let other =
            last("SELECT rowid FROM rollup_days WHERE rowid < ?1 ORDER BY rowid DESC LIMIT 1")?;
        Ok(Self {
            page: page.map_or(PAGE_ROWIDS, |r| r + 1),
            other: other.map_or(1, |r| r + 1),
        })
    }

    /// A rowid for a new page row (`page`) or another row.
    pub(crate) fn next(&mut self, page: bool) -> i64 {
        let slot = if page {
            &mut self.page
        } else {
            &mut self.other
        };
        *slot += 1;
        *slot - 1
    }
}

/// Adds `hashes` to the stored sketch (or a new one) and encodes the result.
fn merged(stored: Option<Vec<u8>>, hashes: &[u32], p: u8) -> Result<Vec<u8>, StoreError> {
    let mut sketch = match stored {
        Some(bytes) => Sketch::decode(&bytes).ok_or_else(|| {
            StoreError::InvalidData("a stored visitor sketch cannot be decoded".into())
        })?,
        None => Sketch::default(),
    };
    sketch.insert_all(hashes, p);
    Ok(sketch.encode())
}

/// How long contributions wait in memory before they are written.
pub(crate) const WRITE_EVERY: Duration = Duration::from_secs(2);
/// The most visitor hashes kept in memory; beyond, they are written early.
const MAX_PENDING_HASHES: usize = 4_000_000;

/// The writer's rollup state: the time zones of the sites it has seen, the
/// contributions not written yet, and the write-behind visitor sketches.
#[derive(Debug, Default)]
pub(crate) struct RollupWriter {
    zones: HashMap<i64, SiteTimeZone>,
    pending: Pending,
    dirty: DirtyDays,
    sketches: SketchCache,
    last_write: Option<Instant>,
}

impl RollupWriter {
    /// Adds the contributions of one batch: `events` (just inserted) and the
    /// visits they touched (`visits`, keyed by id, as they are after the batch
    /// and as they were before it). The days they touch
    /// are listed as dirty in the batch's transaction; the caller writes
    /// everything collected when [`RollupWriter::write_due`] says so.
    pub(crate) fn apply(
        &mut self,
        conn: &Connection,
        events: &[RollupEvent],
        visits: &HashMap<i64, Recorded>,
    ) -> Result<(), StoreError> {
        for recorded in visits.values() {
            let visit = &recorded.visit;
            let tz = zone(&mut self.zones, conn, visit.site_id)?;
            // The shape its stored row holds: the writer's open visits mirror
            // the rows, and `before` is the state ahead of the batch.
            let old = recorded.before.as_ref().map(VisitShape::from);
            let new = VisitShape::from(visit);
            if old == Some(new) {
                continue;
            }
            if let Some(old) = old {
                self.dirty.note(visit.site_id, tz.local_day(old.start_ts));
                self.pending
                    .add_visit(tz, visit.site_id, &old, &visit.attributes, -1);
            }
            self.dirty.note(visit.site_id, tz.local_day(new.start_ts));
            self.pending
                .add_visit(tz, visit.site_id, &new, &visit.attributes, 1);
        }
        for event in events {
            let Some(visit) = visits.get(&event.visit_id).map(|recorded| &recorded.visit) else {
                return Err(StoreError::InvalidData(format!(
                    "event of visit {} without its visit",
                    event.visit_id
                )));
            };
            let tz = zone(&mut self.zones, conn, event.site_id)?;
            self.dirty.note(event.site_id, tz.local_day(event.ts));
            self.pending
                .add_event(tz, event, visit.visitor_id, &visit.attributes);
        }
        self.dirty.record(conn)?;
        Ok(())
    }

    /// Whether the collected contributions should be written now: the first
    /// time in a run, after [`WRITE_EVERY`], or when memory fills up.
    pub(crate) fn write_due(&self) -> bool {
        self.last_write.is_none_or(|at| at.elapsed() >= WRITE_EVERY)
            || self.pending.hashes >= MAX_PENDING_HASHES
    }

    /// Writes every collected contribution and every changed sketch, in the
    /// caller's transaction; then no day is dirty any more.
    pub(crate) fn write_all(&mut self, conn: &Connection) -> Result<(), StoreError> {
        self.pending.flush(conn, Some(&mut self.sketches))?;
        self.sketches.trim();
        self.dirty.clear(conn)?;
        self.last_write = Some(Instant::now());
        Ok(())
    }

    /// Whether some contribution is only in memory.
    pub(crate) fn anything_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Forgets the cached time zones, sketches and unwritten contributions
    /// (after a rollback or a time zone change). Whatever was committed but not
    /// written is still listed as dirty and rebuilt by the next
    /// [`crate::rollup_rebuild::recover`].
    pub(crate) fn forget(&mut self) {
        *self = Self::default();
    }
}

/// The time zone of `site_id`, read once into `zones`.
pub(crate) fn zone<'a>(
    zones: &'a mut HashMap<i64, SiteTimeZone>,
    conn: &Connection,
    site_id: i64,
) -> Result<&'a SiteTimeZone, StoreError> {
    if let std::collections::hash_map::Entry::Vacant(slot) = zones.entry(site_id) {
        slot.insert(site_zone(conn, site_id)?);
    }
    Ok(&zones[&site_id])
}

/// The local days whose rollups lack something committed, as listed in
/// `rollup_dirty_days`.
#[derive(Debug, Default)]
struct DirtyDays {
    listed: HashSet<(i64, i64)>,
    unrecorded: Vec<(i64, i64)>,
}

impl DirtyDays {
    fn note(&mut self, site: i64, day: i64) {
        if self.listed.insert((site, day)) {
            self.unrecorded.push((site, day));
        }
    }

    /// Lists the newly noted days, in the caller's transaction.
    fn record(&mut self, conn: &Connection) -> Result<(), StoreError> {
        if self.unrecorded.is_empty() {
            return Ok(());
        }
        let mut insert = conn.prepare_cached(
            "INSERT OR IGNORE INTO rollup_dirty_days (site_id, day) VALUES (?1, ?2)",
        )?;
        for (site, day) in self.unrecorded.drain(..) {
            insert.execute(params![site, day])?;
        }
        Ok(())
    }

    /// Takes every day off the list (everything in memory was just written).
    fn clear(&mut self, conn: &Connection) -> Result<(), StoreError> {
        if !self.listed.is_empty() {
            conn.prepare_cached("DELETE FROM rollup_dirty_days")?
                .execute([])?;
        }
        self.listed.clear();
        self.unrecorded.clear();
        Ok(())
    }
}

/// Marks the cached answers of site `site_id` stale (its version is part of
/// every stats cache key): after a change the rollups do not show, such as
/// an undone import or a new annotation.
pub(crate) fn bump_site_version(conn: &Connection, site_id: i64) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE rollup_sites SET version = version + 1 WHERE site_id = ?1")?
        .execute(rusqlite::params![site_id])?;
    Ok(())
}

/// The time zone of a site; an unknown name falls back to UTC with a warning.
pub(crate) fn site_zone(conn: &Connection, site_id: i64) -> Result<SiteTimeZone, StoreError> {
    let name: Option<String> = conn
        .prepare_cached("SELECT timezone FROM sites WHERE id = ?1")?
        .query_row(params![site_id], |r| r.get(0))
        .optional()?;
    Ok(match name {
        Some(name) => SiteTimeZone::parse(&name).unwrap_or_else(|_| {
            tracing::warn!(site_id, timezone = %name, "unknown site time zone, using UTC");
            SiteTimeZone::utc()
        }),
        None => SiteTimeZone::utc(),
    })
}

/// Deletes the rollups of days and hours that end before `cutoff_ms` in every
/// time zone (data retention); returns how many rows went.
pub fn delete_before(conn: &Connection, cutoff_ms: i64) -> Result<u64, StoreError> {
    use mallard_core::period::{MAX_OFFSET_MS, MS_PER_DAY, MS_PER_HOUR};
    let safe = cutoff_ms - MAX_OFFSET_MS;
    let days = conn
        .prepare_cached("DELETE FROM rollup_days WHERE day < ?1")?
        .execute(params![safe.div_euclid(MS_PER_DAY)])?
        + crate::rollup_spans::delete_before(conn, safe.div_euclid(MS_PER_DAY))?;
    let hours = conn
        .prepare_cached("DELETE FROM rollup_hours WHERE hour < ?1")?
        .execute(params![safe.div_euclid(MS_PER_HOUR)])?;
    Ok((days + hours) as u64)
}
