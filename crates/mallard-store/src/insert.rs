//! Turning a batch of [`NewEvent`]s into rows, inside the writer's transaction.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use mallard_core::NewEvent;
use rusqlite::{Connection, params};

use crate::bulk_load::{BulkLoad, HeldEvent};
use crate::dedupe_keys::DedupeKeys;
use crate::dims::{DimCache, DimKind};
use crate::error::StoreError;
use crate::rollups::{RollupEvent, RollupWriter};
use crate::settings;
use crate::visit_days::VisitDays;
use crate::visit_growth::VisitGrowth;
use crate::visit_paths::VisitPaths;
use crate::visits::{ActiveVisits, Recorded, Visit, VisitAttributes, VisitEvent};

/// The `hostname` of an event on the site's own host name.
pub(crate) const SITE_HOSTNAME: i64 = 0;

/// Inserts an event row.
const INSERT_EVENT: &str = "INSERT INTO events (site_id, ts, id, visit_id, name, hostname, \
     pathname, revenue_micros, currency) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

/// Inserts an event's property (a repeated key replaces the earlier value).
const INSERT_PROP: &str = "INSERT OR REPLACE INTO event_props (site_id, ts, event_id, key, \
     value) VALUES (?1, ?2, ?3, ?4, ?5)";

/// Event ids are reserved in blocks: the high-water mark in `settings` moves
/// once per block instead of on every commit, which would dirty one more page
/// per transaction. Ids of a block left unused by a restart are skipped.
const EVENT_ID_BLOCK: i64 = 1 << 20;

/// Everything the writer remembers between batches.
#[derive(Debug)]
pub(crate) struct WriterState {
    pub(crate) dims: DimCache,
    pub(crate) visits: ActiveVisits,
    sites: HashMap<String, i64>,
    next_event_id: i64,
    /// The first id not yet reserved in `settings`.
    reserved_until: i64,
    rollups: RollupWriter,
    dedupe_keys: DedupeKeys,
    visit_growth: VisitGrowth,
    visit_days: VisitDays,
    visit_paths: VisitPaths,
    /// The bits of a visitor id this database stores (see migration 006).
    visitor_mask: i64,
    /// The visits of sites loaded in bulk that are not written yet (see
    /// [`crate::bulk_load`]), while a bulk load runs.
    bulk: Option<BulkLoad>,
}

impl WriterState {
    /// Loads the writer's state from the database.
    pub(crate) fn load(conn: &Connection, now_ms: i64) -> Result<Self, StoreError> {
        // Visits created after the day ranges were last written get theirs
        // first (by id, so before any start moves below), then visit rows
        // that lag behind their logged growth are brought up to date: the
        // rollups below are rebuilt from them.
        crate::visit_days::recover(conn)?;
        crate::visit_growth::apply_logged(conn)?;
        // Rollups that were only in memory when the last run stopped (a crash,
        // or a batch rolled back just now) are rebuilt from the stored events.
        crate::rollup_rebuild::recover(conn)?;
        // So are the dedupe keys claimed since the last move.
        let tx = conn.unchecked_transaction()?;
        crate::dedupe_keys::move_recent_keys(&tx)?;
        tx.commit()?;
        // Everything below the stored high-water mark may have been handed out.
        let next_event_id = settings::get_i64(conn, settings::NEXT_EVENT_ID)?.unwrap_or(1);
        // Packed visits have no rows: their days' ranges still hold their
        // ids, which a restore brings back, so no new visit may take them.
        let next_visit_id: i64 = conn.query_row(
            "SELECT max(coalesce((SELECT max(id) FROM visits), 0), \
             coalesce((SELECT max(max_id) FROM visit_days), 0)) + 1",
            [],
            |r| r.get(0),
        )?;
        let open = load_open_visits(conn, now_ms)?;
        Ok(Self {
            dims: DimCache::default(),
            visits: ActiveVisits::new(next_visit_id, open),
            sites: HashMap::new(),
            next_event_id,
            reserved_until: next_event_id,
            rollups: RollupWriter::default(),
            dedupe_keys: DedupeKeys::default(),
            visit_growth: VisitGrowth::default(),
            visit_days: VisitDays::default(),
            visit_paths: VisitPaths::loaded(conn)?,
            visitor_mask: visitor_mask(conn)?,
            bulk: None,
        })
    }

    /// Inserts `events` and the visits they touch. Runs inside the caller's
    /// transaction; on error the caller rolls back and reloads this state.
    pub(crate) fn insert(
        &mut self,
        conn: &Connection,
        events: &[NewEvent],
    ) -> Result<(), StoreError> {
        let mut touched: HashMap<i64, Recorded> = HashMap::new();
        let mut usage: HashMap<&str, i64> = HashMap::new();
        let mut rollup_events = Vec::with_capacity(events.len());
        {
            let mut insert_event = conn.prepare_cached(INSERT_EVENT)?;
            let mut insert_prop = conn.prepare_cached(INSERT_PROP)?;
            for event in events {
                if let Some(extra) = &event.collector
                    && !self.dedupe_keys.claim(
                        conn,
                        &extra.dedupe_key,
                        event.timestamp_ms.div_euclid(86_400_000),
                    )?
                {
                    continue;
                }
                let site_id = self.site_id(conn, event.site.as_str())?;
                let mut bulk = match &mut self.bulk {
                    Some(load) if !load.ended() => load.takes(conn, site_id)?,
                    _ => false,
                };
                if bulk
                    && self
                        .bulk
                        .as_ref()
                        .is_some_and(|load| load.refuses(site_id, event.timestamp_ms))
                {
                    // A day already written: the load ends here, and this
                    // event and the ones after it take the ordinary path.
                    self.end_bulk_load(conn)?;
                    bulk = false;
                }
                if bulk && event.collector.is_some() {
                    return Err(StoreError::InvalidData(
                        "bulk load: a collector event".to_owned(),
                    ));
                }
                let name = self
                    .dims
                    .intern(conn, DimKind::EventName, event.name.as_str())?;
                // The site's own host name, the usual case, is stored as
                // `SITE_HOSTNAME` (0, which SQLite stores in no bytes and no
                // host name's dim id is); readers put the domain back.
                let hostname = if event.hostname == event.site.as_str() {
                    SITE_HOSTNAME
                } else {
                    self.dims.intern(conn, DimKind::Hostname, &event.hostname)?
                };
                let pathname = self.dims.intern(conn, DimKind::Pathname, &event.pathname)?;
                let visit_event = VisitEvent {
                    site_id,
                    visitor_id: event.visitor.as_i64() & self.visitor_mask,
                    ts: event.timestamp_ms,
                    pageview_path: event.name.is_pageview().then_some(pathname),
                };
                let dims = &mut self.dims;
                let recorded = self
                    .visits
                    .record(visit_event, || visit_attributes(dims, conn, event))?;
                let visit_id = recorded.visit.id;
                if bulk {
                    let held = self.held_event(conn, event, &recorded, name, hostname, pathname)?;
                    if let Some(load) = &mut self.bulk {
                        load.hold(&recorded, held)?;
                    }
                    continue;
                }
                self.visit_paths
                    .touch(conn, &recorded.visit, recorded.start_moved)?;
                let event_id = self.next_event_id;
                self.next_event_id += 1;
                let (revenue, currency) = match &event.revenue {
                    Some(revenue) => (
                        Some(revenue.amount_micros),
                        Some(self.dims.intern(
                            conn,
                            DimKind::Currency,
                            revenue.currency.as_str(),
                        )?),
                    ),
                    None => (None, None),
                };
                insert_event.execute(params![
                    site_id,
                    event.timestamp_ms,
                    event_id,
                    visit_id,
                    name,
                    hostname,
                    pathname,
                    revenue,
                    currency
                ])?;
                let mut props = Vec::with_capacity(event.props.len());
                for (key, value) in &event.props {
                    let key = self.dims.intern(conn, DimKind::PropKey, key)?;
                    let value = self.dims.intern(conn, DimKind::PropValue, value)?;
                    insert_prop.execute(params![
                        site_id,
                        event.timestamp_ms,
                        event_id,
                        key,
                        value
                    ])?;
                    // A repeated key replaces the earlier value, as in event_props.
                    props.retain(|(k, _)| *k != key);
                    props.push((key, value));
                }
                if let Some(extra) = &event.collector {
                    if let Some(token) = &extra.consent {
                        crate::collector::record_consent(
                            conn,
                            site_id,
                            event.timestamp_ms,
                            event_id,
                            token,
                        )?;
                    }
                    if let Some(workspace) = &extra.workspace {
                        *usage.entry(workspace.as_str()).or_default() += 1;
                    }
                }
                rollup_events.push(RollupEvent {
                    site_id,
                    ts: event.timestamp_ms,
                    visit_id,
                    name,
                    pageview: event.name.is_pageview(),
                    pathname,
                    props,
                });
                match touched.entry(visit_id) {
                    Entry::Occupied(mut seen) => {
                        let seen = seen.get_mut();
                        seen.start_moved |= recorded.start_moved;
                        seen.visit = recorded.visit;
                    }
                    Entry::Vacant(slot) => {
                        slot.insert(recorded);
                    }
                }
            }
        }
        self.rollups.apply(conn, &rollup_events, &touched)?;
        if let Some(load) = &mut self.bulk
            && load.write_settled(conn, &mut self.rollups)? > 0
        {
            // The latest packed days moved.
            self.visit_paths.forget();
        }
        write_visits(
            conn,
            &mut self.visit_growth,
            &mut self.visit_days,
            touched.values(),
        )?;
        if self.rollups.write_due() {
            self.write_behind(conn)?;
        }
        crate::collector::add_usage(conn, &usage)?;
        self.reserve_event_ids(conn)
    }

    /// Moves the stored high-water mark of event ids past the next one when
    /// it is not already.
    fn reserve_event_ids(&mut self, conn: &Connection) -> Result<(), StoreError> {
        if self.next_event_id > self.reserved_until {
            // Reserve through the end of the block that holds the next id.
            let reserved = (self.next_event_id / EVENT_ID_BLOCK + 1) * EVENT_ID_BLOCK;
            settings::set_i64(conn, settings::NEXT_EVENT_ID, reserved)?;
            self.reserved_until = reserved;
        }
        Ok(())
    }

    /// What a bulk load holds of `event` (see [`crate::bulk_load`]): its
    /// properties and currency interned as the rows would have them.
    fn held_event(
        &mut self,
        conn: &Connection,
        event: &NewEvent,
        recorded: &Recorded,
        name: i64,
        hostname: i64,
        pathname: i64,
    ) -> Result<HeldEvent, StoreError> {
        let mut props: Vec<(i64, i64)> = Vec::with_capacity(event.props.len());
        for (key, value) in &event.props {
            let key = self.dims.intern(conn, DimKind::PropKey, key)?;
            let value = self.dims.intern(conn, DimKind::PropValue, value)?;
            // A repeated key replaces the earlier value, as in event_props.
            props.retain(|(k, _)| *k != key);
            props.push((key, value));
        }
        let (revenue_micros, currency) = match &event.revenue {
            Some(revenue) => (
                Some(revenue.amount_micros),
                Some(
                    self.dims
                        .intern(conn, DimKind::Currency, revenue.currency.as_str())?,
                ),
            ),
            None => (None, None),
        };
        Ok(HeldEvent {
            rollup: RollupEvent {
                site_id: recorded.visit.site_id,
                ts: event.timestamp_ms,
                visit_id: recorded.visit.id,
                name,
                pageview: event.name.is_pageview(),
                pathname,
                props,
            },
            revenue_micros,
            currency,
            hostname,
        })
    }

    /// The start of the earliest day with events of `site` that a bulk load
    /// holds in memory (see [`crate::bulk_load::BulkLoad::held_from`]).
    pub(crate) fn held_from(&self, site: i64) -> Option<i64> {
        self.bulk.as_ref().and_then(|load| load.held_from(site))
    }

    /// Starts a bulk load (see [`crate::bulk_load`]) when `enabled`.
    pub(crate) fn set_bulk_load(&mut self, enabled: bool) {
        self.bulk = enabled.then(BulkLoad::default);
    }

    /// A writer transaction begins: what it changes of a bulk load can be
    /// undone until it commits.
    pub(crate) fn begin_batch(&mut self) {
        if let Some(load) = &mut self.bulk {
            load.begin_batch();
        }
    }

    /// The writer transaction committed; a bulk load it ended is gone.
    pub(crate) fn batch_committed(&mut self) {
        if let Some(load) = &mut self.bulk {
            load.committed();
            if load.ended() {
                self.bulk = None;
            }
        }
    }

    /// The bulk load, if one runs, as the last committed transaction left
    /// it (the writer transaction at hand failed).
    pub(crate) fn take_bulk_load(&mut self) -> Option<BulkLoad> {
        let mut load = self.bulk.take()?;
        load.roll_back();
        Some(load)
    }

    /// Ends `load` (taken from a state whose transaction failed) in the
    /// caller's transaction: its settled days as segments, the rest as rows.
    pub(crate) fn end_adopted_bulk_load(
        &mut self,
        conn: &Connection,
        load: BulkLoad,
    ) -> Result<(), StoreError> {
        self.bulk = Some(load);
        self.end_bulk_load(conn)
    }

    /// Ends a bulk load, if one runs: its settled days are written as
    /// segments, and the visits that are not settled as rows (with their
    /// events, properties and rollup contributions), in the caller's
    /// transaction.
    pub(crate) fn end_bulk_load(&mut self, conn: &Connection) -> Result<(), StoreError> {
        let left = match &mut self.bulk {
            Some(load) if !load.ended() => load.finish(conn, &mut self.rollups)?,
            _ => return Ok(()),
        };
        {
            let mut insert_event = conn.prepare_cached(INSERT_EVENT)?;
            let mut insert_prop = conn.prepare_cached(INSERT_PROP)?;
            for (visit, events) in left {
                crate::visit_rows::insert_visit(conn, &visit)?;
                self.visit_days
                    .note(visit.site_id, visit.start_ts, visit.id);
                for held in &events {
                    let event = &held.rollup;
                    let event_id = self.next_event_id;
                    self.next_event_id += 1;
                    insert_event.execute(params![
                        event.site_id,
                        event.ts,
                        event_id,
                        event.visit_id,
                        event.name,
                        held.hostname,
                        event.pathname,
                        held.revenue_micros,
                        held.currency
                    ])?;
                    for (key, value) in &event.props {
                        insert_prop.execute(params![
                            event.site_id,
                            event.ts,
                            event_id,
                            key,
                            value
                        ])?;
                    }
                }
                crate::bulk_load::contribute_one(conn, &mut self.rollups, visit, events)?;
            }
        }
        self.visit_paths.forget();
        self.reserve_event_ids(conn)
    }

    fn site_id(&mut self, conn: &Connection, domain: &str) -> Result<i64, StoreError> {
        if let Some(&id) = self.sites.get(domain) {
            return Ok(id);
        }
        conn.prepare_cached(&format!(
            "INSERT INTO sites (id, domain, created_at) \
             VALUES ({}, ?1, unixepoch('now') * 1000) ON CONFLICT (domain) DO NOTHING",
            crate::sites::NEXT_SITE_ID
        ))?
        .execute(params![domain])?;
        let id: i64 = conn
            .prepare_cached("SELECT id FROM sites WHERE domain = ?1")?
            .query_row(params![domain], |row| row.get(0))?;
        self.sites.insert(domain.to_owned(), id);
        Ok(id)
    }

    /// Writes what the writer holds behind its events (rollup contributions,
    /// visitor sketches, visit growth, visit day ranges, recent dedupe keys)
    /// and packs a few closed days' visit paths, in the caller's transaction:
    /// every few seconds, when a reader asks for current numbers, before a
    /// maintenance job and at shutdown.
    pub(crate) fn write_behind(&mut self, conn: &Connection) -> Result<(), StoreError> {
        self.rollups.write_all(conn)?;
        self.visit_growth.write_all(conn)?;
        self.visit_days.write_all(conn)?;
        // Closed days are packed from the rows just brought up to date.
        self.visit_paths
            .pack_closed(conn, crate::visit_paths::DAYS_PER_WRITE)?;
        self.dedupe_keys.move_recent(conn)
    }

    /// Drops what was read of the day being packed: a job is about to run
    /// that may change its rows.
    pub(crate) fn restart_packing(&mut self) {
        self.visit_paths.restart();
    }

    /// Whether the write-behind packs closed days (see
    /// [`crate::writer::WriterOptions::pack_closed_days`]).
    pub(crate) fn set_packing(&mut self, enabled: bool) {
        self.visit_paths.set_packing(enabled);
    }

    /// Whether some rollup contribution, visitor sketch, visit growth or visit
    /// day range is only in memory (readers of stats then ask for it to be
    /// written).
    pub(crate) fn rollups_pending(&self) -> bool {
        self.rollups.anything_pending()
            || !self.visit_growth.is_empty()
            || !self.visit_days.is_empty()
    }

    /// Whether closed days may be waiting to be packed (see
    /// [`VisitPaths::backlog`]).
    pub(crate) fn packing_backlog(&self) -> std::sync::Arc<std::sync::atomic::AtomicBool> {
        self.visit_paths.backlog()
    }

    /// Takes over the backlog flag of the state this one replaces.
    pub(crate) fn adopt_packing_backlog(
        &mut self,
        backlog: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) {
        self.visit_paths.adopt_backlog(backlog);
    }

    /// Writes what is only in memory at shutdown.
    pub(crate) fn close(&mut self, conn: &Connection) -> Result<(), StoreError> {
        let tx = conn.unchecked_transaction()?;
        self.begin_batch();
        self.end_bulk_load(&tx)?;
        self.write_behind(&tx)?;
        tx.commit()?;
        self.batch_committed();
        Ok(())
    }

    /// Forgets cached ids, time zones and unwritten rollups (after a rollback
    /// or a maintenance job).
    pub(crate) fn forget_caches(&mut self) {
        self.dims.clear();
        self.sites.clear();
        self.rollups.forget();
        self.visit_paths.forget();
    }
}

/// The mask of the visitor id bits stored: the low 47 in databases created
/// since migration 006 (SQLite stores such ids in 6 bytes), all 64 before.
/// Ids are keyed hashes, so 47 bits keep collisions negligible: among a
/// million visitors, two share an id with a probability of about 0.4%.
fn visitor_mask(conn: &Connection) -> Result<i64, StoreError> {
    Ok(match settings::get_i64(conn, settings::VISITOR_ID_BITS)? {
        Some(bits @ 1..=63) => (1i64 << bits) - 1,
        _ => -1,
    })
}

fn visit_attributes(
    dims: &mut DimCache,
    conn: &Connection,
    event: &NewEvent,
) -> Result<VisitAttributes, StoreError> {
    let session = &event.session;
    let referrer = session.referrer.as_ref();
    Ok(VisitAttributes {
        referrer_source: dims.intern_opt(
            conn,
            DimKind::ReferrerSource,
            referrer.map(|r| r.source.as_str()),
        )?,
        referrer_url: dims.intern_opt(
            conn,
            DimKind::ReferrerUrl,
            referrer.and_then(|r| r.url.as_deref()),
        )?,
        utm_source: dims.intern_opt(conn, DimKind::UtmSource, session.utm.source.as_deref())?,
        utm_medium: dims.intern_opt(conn, DimKind::UtmMedium, session.utm.medium.as_deref())?,
        utm_campaign: dims.intern_opt(
            conn,
            DimKind::UtmCampaign,
            session.utm.campaign.as_deref(),
        )?,
        utm_term: dims.intern_opt(conn, DimKind::UtmTerm, session.utm.term.as_deref())?,
        utm_content: dims.intern_opt(conn, DimKind::UtmContent, session.utm.content.as_deref())?,
        browser: dims.intern_opt(conn, DimKind::Browser, session.browser.as_deref())?,
        browser_version: dims.intern_opt(
            conn,
            DimKind::BrowserVersion,
            session.browser_version.as_deref(),
        )?,
        os: dims.intern_opt(conn, DimKind::Os, session.os.as_deref())?,
        os_version: dims.intern_opt(conn, DimKind::OsVersion, session.os_version.as_deref())?,
        device: i64::from(session.device.code()),
        screen_width: session.screen_width.map(i64::from),
        country: dims.intern_opt(conn, DimKind::Country, session.country.as_deref())?,
        is_bot: session.is_bot,
        is_internal: session.is_internal,
        region: dims.intern_opt(conn, DimKind::Region, session.region.as_deref())?,
        city: dims.intern_opt(conn, DimKind::City, session.city.as_deref())?,
    })
}

/// Writes the visits a batch touched: new ones are inserted whole (their day
/// ranges are written behind, [`VisitDays`]); the growth of existing ones is
/// logged and written behind ([`VisitGrowth`]).
fn write_visits<'a>(
    conn: &Connection,
    growth: &mut VisitGrowth,
    days: &mut VisitDays,
    visits: impl Iterator<Item = &'a Recorded>,
) -> Result<(), StoreError> {
    for recorded in visits {
        let visit = &recorded.visit;
        if recorded.is_new {
            crate::visit_rows::insert_visit(conn, visit)?;
            days.note(visit.site_id, visit.start_ts, visit.id);
            continue;
        }
        growth.note(conn, visit, recorded.start_moved)?;
    }
    Ok(())
}

/// Visits that ended less than the visit timeout before `now_ms` and may still
/// grow. The scan reads the visits from the first one of the UTC day twelve
/// hours before the cut-off ([`crate::visit_days`]) and keeps those that
/// started since then; a visit with twelve hours of uninterrupted activity
/// before a restart continues as a new visit.
fn load_open_visits(conn: &Connection, now_ms: i64) -> Result<Vec<Visit>, StoreError> {
    let cutoff = now_ms - crate::visits::VISIT_TIMEOUT_MS;
    let scan_floor = cutoff - 12 * 60 * 60 * 1000;
    let mut stmt = conn.prepare(&format!(
        "SELECT id, site_id, visitor_id, start_ts, end_ts, pageviews, events, entry_page, \
         exit_page, {} FROM visits WHERE id >= ?3 \
         AND site_id IN (SELECT id FROM sites) AND start_ts >= ?1 AND end_ts >= ?2",
        crate::visit_rows::ATTRIBUTE_COLUMNS
    ))?;
    let Some(first_id) = crate::visit_days::first_id_since(conn, scan_floor)? else {
        return Ok(Vec::new());
    };
    let mut rows = stmt.query(params![scan_floor, cutoff, first_id])?;
    let mut open = Vec::new();
    while let Some(row) = rows.next()? {
        let visit = Visit {
            id: row.get(0)?,
            site_id: row.get(1)?,
            visitor_id: row.get(2)?,
            start_ts: row.get(3)?,
            end_ts: row.get(4)?,
            pageviews: row.get(5)?,
            events: row.get(6)?,
            entry_page: row.get(7)?,
            exit_page: row.get(8)?,
            attributes: crate::visit_rows::attributes_at(row, 9)?,
        };
        open.push(visit);
    }
    Ok(open)
}
