//! Pre-aggregated rollups, kept up to date by the writer in the same transaction
//! as the events they count.
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

use std::collections::HashMap;

use mallard_core::SiteTimeZone;
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::StoreError;
use crate::hll::{self, Sketch};
use crate::sketch_cache::{ALL_WRITTEN, SKETCH_MARK, SketchCache, SketchRow};
use crate::visits::{Recorded, Visit, VisitAttributes};

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
}

/// The visit-level kinds and the value a visit has for each.
pub(crate) fn visit_dims(a: &VisitAttributes) -> [(i64, i64); 10] {
    [
        (kind::SOURCE, a.referrer_source.unwrap_or(0)),
        (kind::REFERRER, a.referrer_url.unwrap_or(0)),
        (kind::UTM_SOURCE, a.utm_source.unwrap_or(0)),
        (kind::UTM_MEDIUM, a.utm_medium.unwrap_or(0)),
        (kind::UTM_CAMPAIGN, a.utm_campaign.unwrap_or(0)),
        (kind::BROWSER, a.browser.unwrap_or(0)),
        (kind::OS, a.os.unwrap_or(0)),
        (kind::DEVICE, a.device + 1),
        (kind::COUNTRY, a.country.unwrap_or(0)),
        (kind::SCREEN, a.screen_width.map_or(0, |w| w + 1)),
    ]
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
struct Pending {
    hours: HashMap<(i64, i64), Acc>,
    days: HashMap<(i64, i64, i64, i64), Acc>,
    first_days: HashMap<i64, i64>,
    newest_days: HashMap<i64, i64>,
    /// Collect visitors only, no counts (replaying sketches).
    hashes_only: bool,
}

impl Pending {
    fn add_event(
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
        let (pv, one) = if self.hashes_only {
            (0, 0)
        } else {
            (i64::from(event.pageview), 1)
        };
        let bump = |acc: &mut Acc| {
            acc.counts[PAGEVIEWS] += pv;
            acc.counts[EVENTS] += one;
            acc.hashes.push(hash);
        };
        bump(self.hours.entry((site, hour)).or_default());
        bump(self.days.entry((site, kind::SITE, day, 0)).or_default());
        for (k, value) in visit_dims(attrs) {
            bump(self.days.entry((site, k, day, value)).or_default());
        }
        if event.pageview {
            bump(
                self.days
                    .entry((site, kind::PAGE, day, event.pathname))
                    .or_default(),
            );
        } else {
            bump(
                self.days
                    .entry((site, kind::EVENT, day, event.name))
                    .or_default(),
            );
            for &(key, value) in &event.props {
                bump(
                    self.days
                        .entry((site, kind::PROP, day, prop_value(key, value)))
                        .or_default(),
                );
            }
        }
    }

    fn add_visit(
        &mut self,
        tz: &SiteTimeZone,
        site: i64,
        shape: &VisitShape,
        attrs: &VisitAttributes,
        sign: i64,
    ) {
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

    /// Writes the collected contributions. With a `cache`, visitor hashes go to
    /// the write-behind sketches; without, each sketch is merged and stored now.
    fn flush(
        &mut self,
        conn: &Connection,
        mut cache: Option<&mut SketchCache>,
    ) -> Result<(), StoreError> {
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
                // The row must exist before the cache writes its sketch back.
                upsert_hour.execute(params![site, hour, 0, 0, 0, 0, 0, 0, None::<Vec<u8>>])?;
                cache.add(
                    conn,
                    SketchRow::Hour { site, hour },
                    &acc.hashes,
                    hll::DIM_PRECISION,
                )?;
                None
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
             bounces, visit_pageviews, duration_ms, exits, visitors) VALUES (?1, ?2, ?3, ?4, ?5, \
             ?6, ?7, ?8, ?9, ?10, ?11, ?12) ON CONFLICT (site_id, kind, day, value) DO UPDATE SET \
             pageviews = pageviews + excluded.pageviews, events = events + excluded.events, \
             visits = visits + excluded.visits, bounces = bounces + excluded.bounces, \
             visit_pageviews = visit_pageviews + excluded.visit_pageviews, \
             duration_ms = duration_ms + excluded.duration_ms, exits = exits + excluded.exits, \
             visitors = coalesce(excluded.visitors, visitors)",
        )?;
        for ((site, k, day, value), acc) in self.days.drain() {
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
                cache.add(conn, row, &acc.hashes, precision)?;
                None
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
            upsert_day.execute(params![
                site, k, day, value, c[0], c[1], c[2], c[3], c[4], c[5], c[6], sketch
            ])?;
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
            if let Some(cache) = cache.as_deref_mut() {
                // Packing reads the stored sketches of closed days.
                let limit = newest_day - crate::packed_pages::PACK_LAG_DAYS;
                cache.write_days_before(conn, site, limit)?;
            }
            crate::packed_pages::pack_closed_days(conn, site, newest_day)?;
        }
        Ok(())
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

/// The writer's rollup state: the time zones of the sites it has seen and the
/// write-behind visitor sketches.
#[derive(Debug, Default)]
pub(crate) struct RollupWriter {
    zones: HashMap<i64, SiteTimeZone>,
    sketches: SketchCache,
}

impl RollupWriter {
    /// Adds the contributions of one batch: `events` (just inserted) and the
    /// visits they touched (`visits`, keyed by id, as they are after the batch;
    /// their stored rows still hold the state before it).
    pub(crate) fn apply(
        &mut self,
        conn: &Connection,
        events: &[RollupEvent],
        visits: &HashMap<i64, Recorded>,
        event_ids: std::ops::Range<i64>,
    ) -> Result<(), StoreError> {
        self.sketches.begin_batch(conn, event_ids.start)?;
        let mut pending = Pending::default();
        let mut old_shape = conn.prepare_cached(
            "SELECT start_ts, end_ts, pageviews, entry_page, exit_page FROM visits WHERE id = ?1",
        )?;
        for visit in visits.values().map(|recorded| &recorded.visit) {
            let tz = self.zone(conn, visit.site_id)?.clone();
            let old = old_shape
                .query_row(params![visit.id], |r| {
                    Ok(VisitShape {
                        start_ts: r.get(0)?,
                        end_ts: r.get(1)?,
                        pageviews: r.get(2)?,
                        entry_page: r.get(3)?,
                        exit_page: r.get(4)?,
                    })
                })
                .optional()?;
            let new = VisitShape::from(visit);
            if old == Some(new) {
                continue;
            }
            if let Some(old) = old {
                pending.add_visit(&tz, visit.site_id, &old, &visit.attributes, -1);
            }
            pending.add_visit(&tz, visit.site_id, &new, &visit.attributes, 1);
        }
        for event in events {
            let Some(visit) = visits.get(&event.visit_id).map(|recorded| &recorded.visit) else {
                return Err(StoreError::InvalidData(format!(
                    "event of visit {} without its visit",
                    event.visit_id
                )));
            };
            let tz = self.zone(conn, event.site_id)?;
            pending.add_event(tz, event, visit.visitor_id, &visit.attributes);
        }
        pending.flush(conn, Some(&mut self.sketches))?;
        self.sketches.write_if_due(conn, event_ids.end)
    }

    /// Writes every pending sketch back; every event below `next_event_id` is
    /// then reflected.
    pub(crate) fn write_all_sketches_upto(
        &mut self,
        conn: &Connection,
        next_event_id: i64,
    ) -> Result<(), StoreError> {
        self.sketches.write_all(conn, next_event_id)
    }

    /// Whether some visitor sketch is only in memory.
    pub(crate) fn sketches_dirty(&self) -> bool {
        self.sketches.any_dirty()
    }

    /// Writes every pending sketch back (at shutdown): all events are reflected.
    pub(crate) fn write_all_sketches(&mut self, conn: &Connection) -> Result<(), StoreError> {
        self.sketches.write_all(conn, ALL_WRITTEN)
    }

    fn zone(&mut self, conn: &Connection, site_id: i64) -> Result<&SiteTimeZone, StoreError> {
        if let std::collections::hash_map::Entry::Vacant(slot) = self.zones.entry(site_id) {
            slot.insert(site_zone(conn, site_id)?);
        }
        Ok(&self.zones[&site_id])
    }

    /// Forgets the cached time zones and sketches (after a rollback or a time
    /// zone change).
    pub(crate) fn forget(&mut self) {
        self.zones.clear();
        self.sketches.forget();
    }
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
        .execute(params![safe.div_euclid(MS_PER_DAY)])?;
    let hours = conn
        .prepare_cached("DELETE FROM rollup_hours WHERE hour < ?1")?
        .execute(params![safe.div_euclid(MS_PER_HOUR)])?;
    Ok((days + hours) as u64)
}

/// How many rows a rebuild reads between two flushes.
const REBUILD_CHUNK: usize = 200_000;

/// Recomputes every rollup of one site from its stored visits and events; used
/// for databases written before the rollups existed and after a site's time
/// zone changed. Runs inside the caller's transaction.
pub fn rebuild_site(conn: &Connection, site_id: i64) -> Result<(), StoreError> {
    for table in ["rollup_hours", "rollup_days", "rollup_sites"] {
        conn.execute(
            &format!("DELETE FROM {table} WHERE site_id = ?1"),
            params![site_id],
        )?;
    }
    let tz = site_zone(conn, site_id)?;
    let mut pending = Pending::default();
    let mut seen = 0usize;
    {
        let mut stmt = conn.prepare(&format!(
            "SELECT start_ts, end_ts, pageviews, entry_page, exit_page, {VISIT_ATTRS} \
             FROM visits WHERE site_id = ?1"
        ))?;
        let mut rows = stmt.query(params![site_id])?;
        while let Some(row) = rows.next()? {
            let shape = VisitShape {
                start_ts: row.get(0)?,
                end_ts: row.get(1)?,
                pageviews: row.get(2)?,
                entry_page: row.get(3)?,
                exit_page: row.get(4)?,
            };
            let attrs = attrs_from_row(row, 5)?;
            pending.add_visit(&tz, site_id, &shape, &attrs, 1);
            seen += 1;
            if seen.is_multiple_of(REBUILD_CHUNK) {
                pending.flush(conn, None)?;
            }
        }
    }
    let pageview_id: Option<i64> = conn
        .query_row(
            "SELECT id FROM dims WHERE kind = ?1 AND value = 'pageview'",
            params![crate::dims::DimKind::EventName as u8],
            |r| r.get(0),
        )
        .optional()?;
    let mut stmt = conn.prepare(&format!(
        "SELECT e.ts, e.id, e.visit_id, e.name, e.pathname, v.visitor_id, {VISIT_ATTRS_V}, \
         p.key, p.value FROM events e JOIN visits v ON v.id = e.visit_id \
         LEFT JOIN event_props p ON p.site_id = e.site_id AND p.ts = e.ts AND p.event_id = e.id \
         WHERE e.site_id = ?1 ORDER BY e.ts, e.id"
    ))?;
    let mut rows = stmt.query(params![site_id])?;
    let mut current: Option<(RollupEvent, i64, i64, VisitAttributes)> = None;
    let finish = |pending: &mut Pending, item: (RollupEvent, i64, i64, VisitAttributes)| {
        let (event, _, visitor, attrs) = item;
        pending.add_event(&tz, &event, visitor, &attrs);
    };
    while let Some(row) = rows.next()? {
        let event_id: i64 = row.get(1)?;
        let prop: Option<(i64, i64)> = match (row.get::<_, Option<i64>>(22)?, row.get(23)?) {
            (Some(k), Some(v)) => Some((k, v)),
            _ => None,
        };
        if let Some((event, id, _, _)) = &mut current
            && *id == event_id
        {
            event.props.extend(prop);
            continue;
        }
        if let Some(done) = current.take() {
            finish(&mut pending, done);
            seen += 1;
            if seen.is_multiple_of(REBUILD_CHUNK) {
                pending.flush(conn, None)?;
            }
        }
        let name: i64 = row.get(3)?;
        current = Some((
            RollupEvent {
                site_id,
                ts: row.get(0)?,
                visit_id: row.get(2)?,
                name,
                pageview: Some(name) == pageview_id,
                pathname: row.get(4)?,
                props: prop.into_iter().collect(),
            },
            event_id,
            row.get(5)?,
            attrs_from_row(row, 6)?,
        ));
    }
    if let Some(done) = current.take() {
        finish(&mut pending, done);
    }
    pending.flush(conn, None)?;
    // A site without events still gets its row, so it is not rebuilt again.
    conn.execute(
        "INSERT INTO rollup_sites (site_id, version, first_day) VALUES (?1, 1, ?2) \
         ON CONFLICT (site_id) DO UPDATE SET version = version + 1",
        params![site_id, 0],
    )?;
    Ok(())
}

/// Rebuilds the rollups of every site that has none yet (databases written
/// before the rollups existed). Runs when the store opens.
pub(crate) fn rebuild_missing(conn: &Connection) -> Result<(), StoreError> {
    let missing: Vec<i64> = conn
        .prepare(
            "SELECT id FROM sites WHERE id NOT IN (SELECT site_id FROM rollup_sites) \
             AND EXISTS (SELECT 1 FROM events WHERE events.site_id = sites.id)",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    if missing.is_empty() {
        return Ok(());
    }
    let tx = conn.unchecked_transaction()?;
    for site in missing {
        tracing::info!(site_id = site, "building stats rollups from stored events");
        rebuild_site(&tx, site)?;
    }
    tx.commit()?;
    Ok(())
}

const VISIT_ATTRS: &str = "referrer_source, referrer_url, utm_source, utm_medium, utm_campaign, \
    utm_term, utm_content, browser, browser_version, os, os_version, device, screen_width, country, \
    is_bot, is_internal";
const VISIT_ATTRS_V: &str = "v.referrer_source, v.referrer_url, v.utm_source, v.utm_medium, \
    v.utm_campaign, v.utm_term, v.utm_content, v.browser, v.browser_version, v.os, v.os_version, \
    v.device, v.screen_width, v.country, v.is_bot, v.is_internal";

fn attrs_from_row(row: &rusqlite::Row<'_>, at: usize) -> Result<VisitAttributes, StoreError> {
    Ok(VisitAttributes {
        referrer_source: row.get(at)?,
        referrer_url: row.get(at + 1)?,
        utm_source: row.get(at + 2)?,
        utm_medium: row.get(at + 3)?,
        utm_campaign: row.get(at + 4)?,
        utm_term: row.get(at + 5)?,
        utm_content: row.get(at + 6)?,
        browser: row.get(at + 7)?,
        browser_version: row.get(at + 8)?,
        os: row.get(at + 9)?,
        os_version: row.get(at + 10)?,
        device: row.get(at + 11)?,
        screen_width: row.get(at + 12)?,
        country: row.get(at + 13)?,
        is_bot: row.get(at + 14)?,
        is_internal: row.get(at + 15)?,
    })
}

/// Brings the stored visitor sketches up to date after an unclean stop: adds
/// the visitors of every event at or above the mark (see `sketch_cache`), then
/// records that everything is written. Counters are untouched: they are written
/// with their events.
pub(crate) fn replay_sketches(conn: &Connection) -> Result<(), StoreError> {
    let Some(mark) = crate::settings::get_i64(conn, SKETCH_MARK)? else {
        return Ok(());
    };
    if mark == ALL_WRITTEN {
        return Ok(());
    }
    let tx = conn.unchecked_transaction()?;
    let pageview_id: Option<i64> = tx
        .query_row(
            "SELECT id FROM dims WHERE kind = ?1 AND value = 'pageview'",
            params![crate::dims::DimKind::EventName as u8],
            |r| r.get(0),
        )
        .optional()?;
    let mut pending = Pending {
        hashes_only: true,
        ..Pending::default()
    };
    let mut zones: HashMap<i64, SiteTimeZone> = HashMap::new();
    let mut replayed = 0u64;
    {
        let mut stmt = tx.prepare(&format!(
            "SELECT e.site_id, e.ts, e.visit_id, e.name, e.pathname, v.visitor_id, {VISIT_ATTRS_V}, \
             e.id FROM events e JOIN visits v ON v.id = e.visit_id WHERE e.id >= ?1"
        ))?;
        let mut rows = stmt.query(params![mark])?;
        while let Some(row) = rows.next()? {
            let site_id: i64 = row.get(0)?;
            let name: i64 = row.get(3)?;
            let event_id: i64 = row.get(22)?;
            let props: Vec<(i64, i64)> = tx
                .prepare_cached(
                    "SELECT key, value FROM event_props WHERE site_id = ?1 AND ts = ?2 AND event_id = ?3",
                )?
                .query_map(params![site_id, row.get::<_, i64>(1)?, event_id], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            let event = RollupEvent {
                site_id,
                ts: row.get(1)?,
                visit_id: row.get(2)?,
                name,
                pageview: Some(name) == pageview_id,
                pathname: row.get(4)?,
                props,
            };
            if let std::collections::hash_map::Entry::Vacant(slot) = zones.entry(site_id) {
                slot.insert(site_zone(&tx, site_id)?);
            }
            pending.add_event(
                &zones[&site_id],
                &event,
                row.get(5)?,
                &attrs_from_row(row, 6)?,
            );
            replayed += 1;
        }
    }
    pending.flush(&tx, None)?;
    crate::settings::set_i64(&tx, SKETCH_MARK, ALL_WRITTEN)?;
    tx.commit()?;
    tracing::info!(
        events = replayed,
        "visitor sketches brought up to date after an unclean stop"
    );
    Ok(())
}
