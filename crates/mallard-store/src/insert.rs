//! Turning a batch of [`NewEvent`]s into rows, inside the writer's transaction.

use std::collections::HashMap;

use mallard_core::NewEvent;
use rusqlite::{Connection, params};

use crate::dims::{DimCache, DimKind};
use crate::error::StoreError;
use crate::rollups::{RollupEvent, RollupWriter};
use crate::settings;
use crate::visits::{ActiveVisits, Visit, VisitAttributes, VisitEvent};

/// Everything the writer remembers between batches.
#[derive(Debug)]
pub(crate) struct WriterState {
    pub(crate) dims: DimCache,
    pub(crate) visits: ActiveVisits,
    sites: HashMap<String, i64>,
    next_event_id: i64,
    rollups: RollupWriter,
}

impl WriterState {
    /// Loads the writer's state from the database.
    pub(crate) fn load(conn: &Connection, now_ms: i64) -> Result<Self, StoreError> {
        let next_event_id = settings::get_i64(conn, settings::NEXT_EVENT_ID)?.unwrap_or(1);
        let next_visit_id: i64 =
            conn.query_row("SELECT coalesce(max(id), 0) + 1 FROM visits", [], |r| {
                r.get(0)
            })?;
        let open = load_open_visits(conn, now_ms)?;
        Ok(Self {
            dims: DimCache::default(),
            visits: ActiveVisits::new(next_visit_id, open),
            sites: HashMap::new(),
            next_event_id,
            rollups: RollupWriter::default(),
        })
    }

    /// Inserts `events` and the visits they touch. Runs inside the caller's
    /// transaction; on error the caller rolls back and reloads this state.
    pub(crate) fn insert(
        &mut self,
        conn: &Connection,
        events: &[NewEvent],
    ) -> Result<(), StoreError> {
        let mut touched: HashMap<i64, Visit> = HashMap::new();
        let mut rollup_events = Vec::with_capacity(events.len());
        {
            let mut insert_event = conn.prepare_cached(
                "INSERT INTO events (site_id, ts, id, visit_id, name, hostname, pathname, \
                 revenue_micros, currency) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            let mut insert_prop = conn.prepare_cached(
                "INSERT OR REPLACE INTO event_props (site_id, ts, event_id, key, value) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for event in events {
                let site_id = self.site_id(conn, event.site.as_str())?;
                let name = self
                    .dims
                    .intern(conn, DimKind::EventName, event.name.as_str())?;
                let hostname = self.dims.intern(conn, DimKind::Hostname, &event.hostname)?;
                let pathname = self.dims.intern(conn, DimKind::Pathname, &event.pathname)?;
                let visit_event = VisitEvent {
                    site_id,
                    visitor_id: event.visitor.as_i64(),
                    ts: event.timestamp_ms,
                    pageview_path: event.name.is_pageview().then_some(pathname),
                };
                let dims = &mut self.dims;
                let visit = self
                    .visits
                    .record(visit_event, || visit_attributes(dims, conn, event))?;
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
                    visit.id,
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
                rollup_events.push(RollupEvent {
                    site_id,
                    ts: event.timestamp_ms,
                    visit_id: visit.id,
                    name,
                    pageview: event.name.is_pageview(),
                    pathname,
                    props,
                });
                touched.insert(visit.id, visit);
            }
        }
        self.rollups.apply(conn, &rollup_events, &touched)?;
        upsert_visits(conn, touched.values())?;
        settings::set_i64(conn, settings::NEXT_EVENT_ID, self.next_event_id)?;
        Ok(())
    }

    fn site_id(&mut self, conn: &Connection, domain: &str) -> Result<i64, StoreError> {
        if let Some(&id) = self.sites.get(domain) {
            return Ok(id);
        }
        conn.prepare_cached(
            "INSERT INTO sites (domain, created_at) VALUES (?1, unixepoch('now') * 1000) \
             ON CONFLICT (domain) DO NOTHING",
        )?
        .execute(params![domain])?;
        let id: i64 = conn
            .prepare_cached("SELECT id FROM sites WHERE domain = ?1")?
            .query_row(params![domain], |row| row.get(0))?;
        self.sites.insert(domain.to_owned(), id);
        Ok(id)
    }

    /// Forgets cached ids after a rollback.
    pub(crate) fn forget_caches(&mut self) {
        self.dims.clear();
        self.sites.clear();
        self.rollups.forget();
    }
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
    })
}

fn upsert_visits<'a>(
    conn: &Connection,
    visits: impl Iterator<Item = &'a Visit>,
) -> Result<(), StoreError> {
    let mut upsert = conn.prepare_cached(
        "INSERT INTO visits (id, site_id, visitor_id, start_ts, end_ts, pageviews, events, \
         entry_page, exit_page, referrer_source, referrer_url, utm_source, utm_medium, \
         utm_campaign, utm_term, utm_content, browser, browser_version, os, os_version, device, \
         screen_width, country) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, \
         ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23) \
         ON CONFLICT (id) DO UPDATE SET start_ts = excluded.start_ts, end_ts = excluded.end_ts, \
         pageviews = excluded.pageviews, events = excluded.events, \
         entry_page = excluded.entry_page, exit_page = excluded.exit_page",
    )?;
    for visit in visits {
        let a = &visit.attributes;
        upsert.execute(params![
            visit.id,
            visit.site_id,
            visit.visitor_id,
            visit.start_ts,
            visit.end_ts,
            visit.pageviews,
            visit.events,
            visit.entry_page,
            visit.exit_page,
            a.referrer_source,
            a.referrer_url,
            a.utm_source,
            a.utm_medium,
            a.utm_campaign,
            a.utm_term,
            a.utm_content,
            a.browser,
            a.browser_version,
            a.os,
            a.os_version,
            a.device,
            a.screen_width,
            a.country
        ])?;
    }
    Ok(())
}

/// Visits that ended less than the visit timeout before `now_ms` and may still
/// grow. The scan uses the `(site_id, start_ts)` index and looks at visits that
/// started at most twelve hours before the cut-off; a visit with twelve hours of
/// uninterrupted activity before a restart continues as a new visit.
fn load_open_visits(conn: &Connection, now_ms: i64) -> Result<Vec<Visit>, StoreError> {
    let cutoff = now_ms - crate::visits::VISIT_TIMEOUT_MS;
    let scan_floor = cutoff - 12 * 60 * 60 * 1000;
    let mut stmt = conn.prepare(
        "SELECT id, site_id, visitor_id, start_ts, end_ts, pageviews, events, entry_page, \
         exit_page, referrer_source, referrer_url, utm_source, utm_medium, utm_campaign, \
         utm_term, utm_content, browser, browser_version, os, os_version, device, screen_width, \
         country FROM visits WHERE site_id IN (SELECT id FROM sites) AND start_ts >= ?1 \
         AND end_ts >= ?2",
    )?;
    let mut rows = stmt.query(params![scan_floor, cutoff])?;
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
            attributes: VisitAttributes {
                referrer_source: row.get(9)?,
                referrer_url: row.get(10)?,
                utm_source: row.get(11)?,
                utm_medium: row.get(12)?,
                utm_campaign: row.get(13)?,
                utm_term: row.get(14)?,
                utm_content: row.get(15)?,
                browser: row.get(16)?,
                browser_version: row.get(17)?,
                os: row.get(18)?,
                os_version: row.get(19)?,
                device: row.get(20)?,
                screen_width: row.get(21)?,
                country: row.get(22)?,
            },
        };
        open.push(visit);
    }
    Ok(open)
}
