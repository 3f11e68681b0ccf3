//! Behavioural queries: sessions, funnels, retention, sequences, flows and
//! the raw export.
//!
//! They answer questions about the order of events within visits, which no
//! rollup keeps, so they read the visits that start in the period, a day at
//! a time, each with its events in time order ([`source`]), and fold those
//! that meet the filters. The cost is proportional to the traffic of the
//! period; memory to one day and the answer's own state. Everything is exact.
//! The export still streams its events from the rows with SQL.
//!
//! A visit counts with all of its events, also those after the period's end
//! (a visit that starts at 23:50 on the last day is followed to its end).

mod by_visitor;
mod export;
mod funnel;
mod partition;
mod paths;
mod retention;
mod sessions;
mod source;
mod step;

#[cfg(test)]
mod tests;

use mallard_core::{DeviceClass, Step};
use rusqlite::Connection;

use super::labels::{DimTexts, dim_id};
use super::{SiteInfo, StatsQuery};
use crate::dims::DimKind;
use crate::error::StoreError;
use crate::reader::ReadConn;
use crate::visit_record::{EventRecord, VisitRecord};
use step::StepId;

/// One step of a funnel with the visits that reached it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunnelStep {
    /// The step.
    pub step: Step,
    /// Visits that went through this step and every one before it, in order.
    pub visits: u64,
    /// Distinct visitors of those visits: exact up to 50,000, estimated
    /// beyond (never above `visits`).
    pub visitors: u64,
}

/// One weekly cohort of a retention query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cohort {
    /// The local day number of the cohort week's Monday.
    pub week_start: i64,
    /// Visitors whose first visit of the period was in this week.
    pub visitors: u64,
    /// For `k` = 1..N, how many of them visited again `k` weeks later; `None`
    /// when that week lies after the period.
    pub returning: Vec<Option<u64>>,
}

/// A run of consecutive steps and how often visits took it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequence {
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// Visits that took this run at least once.
    pub visits: u64,
    /// How many times it was taken, in all.
    pub occurrences: u64,
}

/// What came before or after a page in a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Neighbour<T> {
    /// A page view of another page.
    Step(T),
    /// Nothing before: the visit started on the page.
    Entrance,
    /// Nothing after: the visit ended on the page.
    Exit,
}

/// One row of a flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRow {
    /// The page before or after.
    pub page: Neighbour<Step>,
    /// Visits with at least one such transition.
    pub visits: u64,
    /// Distinct visitors of those visits: exact up to 512, estimated beyond
    /// (never above `visits`).
    pub visitors: u64,
    /// How many such transitions there were.
    pub transitions: u64,
}

/// The pages before and after one page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flow {
    /// Visits that viewed the page.
    pub visits: u64,
    /// Views of the page (consecutive repeats counted once).
    pub views: u64,
    /// The pages viewed next, most visits first.
    pub next: Vec<FlowRow>,
    /// The pages viewed before, most visits first.
    pub previous: Vec<FlowRow>,
}

/// A visit's attributes as text, as the sessions list and the export show
/// them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VisitLabels {
    /// Referrer source.
    pub source: Option<String>,
    /// Referrer URL.
    pub referrer: Option<String>,
    /// `utm_source`.
    pub utm_source: Option<String>,
    /// `utm_medium`.
    pub utm_medium: Option<String>,
    /// `utm_campaign`.
    pub utm_campaign: Option<String>,
    /// `utm_term`.
    pub utm_term: Option<String>,
    /// `utm_content`.
    pub utm_content: Option<String>,
    /// Browser family.
    pub browser: Option<String>,
    /// Operating system family.
    pub os: Option<String>,
    /// Device class.
    pub device: DeviceClass,
    /// Screen width in CSS pixels.
    pub screen_width: Option<i64>,
    /// Country code.
    pub country: Option<String>,
    /// Region name (with a city database).
    pub region: Option<String>,
    /// City name (with a city database).
    pub city: Option<String>,
    /// Whether the visit's user agent is a known bot.
    pub is_bot: bool,
}

impl VisitLabels {
    /// The labels of a visit's attributes.
    fn of(
        conn: &Connection,
        attrs: &crate::visits::VisitAttributes,
        texts: &mut DimTexts,
    ) -> Result<Self, StoreError> {
        Ok(Self {
            source: texts.get(conn, attrs.referrer_source)?,
            referrer: texts.get(conn, attrs.referrer_url)?,
            utm_source: texts.get(conn, attrs.utm_source)?,
            utm_medium: texts.get(conn, attrs.utm_medium)?,
            utm_campaign: texts.get(conn, attrs.utm_campaign)?,
            utm_term: texts.get(conn, attrs.utm_term)?,
            utm_content: texts.get(conn, attrs.utm_content)?,
            browser: texts.get(conn, attrs.browser)?,
            os: texts.get(conn, attrs.os)?,
            device: u8::try_from(attrs.device)
                .ok()
                .and_then(DeviceClass::from_code)
                .unwrap_or(DeviceClass::Unknown),
            screen_width: attrs.screen_width,
            country: texts.get(conn, attrs.country)?,
            region: texts.get(conn, attrs.region)?,
            city: texts.get(conn, attrs.city)?,
            is_bot: attrs.is_bot,
        })
    }
}

/// One visit, as the sessions list shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionRow {
    /// The visit's id.
    pub visit_id: i64,
    /// The first event's time (ms since the epoch).
    pub start_ts: i64,
    /// The last event's time.
    pub end_ts: i64,
    /// Page views.
    pub pageviews: i64,
    /// Events, page views included.
    pub events: i64,
    /// The first page.
    pub entry_page: Option<String>,
    /// The last page.
    pub exit_page: Option<String>,
    /// The visit's attributes.
    pub visit: VisitLabels,
}

/// One exported event with its visit's attributes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportEvent {
    /// Time (ms since the epoch).
    pub ts: i64,
    /// The visit's id.
    pub visit_id: i64,
    /// Event name (`pageview` or a custom name).
    pub name: String,
    /// Page host.
    pub hostname: String,
    /// Page path.
    pub pathname: String,
    /// Revenue in millionths of the currency unit.
    pub revenue_micros: Option<i64>,
    /// Revenue currency.
    pub currency: Option<String>,
    /// Custom properties, sorted by key.
    pub props: Vec<(String, String)>,
    /// The attributes of the event's visit.
    pub visit: VisitLabels,
}

/// The texts of one stored event, as the export and the event feed hand
/// it over.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct EventLabels {
    /// Event name (`pageview` or a custom name).
    pub(crate) name: String,
    /// Page host (the site's domain for its own host).
    pub(crate) hostname: String,
    /// Page path.
    pub(crate) pathname: String,
    /// Custom properties, sorted by key.
    pub(crate) props: Vec<(String, String)>,
    /// Revenue currency.
    pub(crate) currency: Option<String>,
}

/// Turns the stored ids of one site's events and visits into their texts,
/// each id looked up once.
pub(crate) struct EventLabeller<'c> {
    conn: &'c Connection,
    domain: String,
    pageview: Option<i64>,
    texts: DimTexts,
}

impl<'c> EventLabeller<'c> {
    /// A labeller for the site `domain`.
    pub(crate) fn new(conn: &'c Connection, domain: String) -> Result<Self, StoreError> {
        Ok(Self {
            conn,
            domain,
            pageview: super::raw::pageview_id(conn)?,
            texts: DimTexts::default(),
        })
    }

    /// The texts of `event` of `visit`.
    pub(crate) fn event(
        &mut self,
        visit: &VisitRecord,
        event: &EventRecord,
    ) -> Result<EventLabels, StoreError> {
        let (conn, texts) = (self.conn, &mut self.texts);
        let mut props = Vec::new();
        for &(key, value) in visit.props_of(event) {
            props.push((
                texts.get(conn, Some(key))?.unwrap_or_default(),
                texts.get(conn, Some(value))?.unwrap_or_default(),
            ));
        }
        props.sort_unstable();
        let name = if event.pageview {
            self.pageview
        } else {
            Some(event.code)
        };
        Ok(EventLabels {
            name: texts.get(conn, name)?.unwrap_or_default(),
            // `SITE_HOSTNAME` stands for the site's own host name (see
            // `insert.rs`).
            hostname: if event.hostname == crate::insert::SITE_HOSTNAME {
                self.domain.clone()
            } else {
                texts.get(conn, Some(event.hostname))?.unwrap_or_default()
            },
            pathname: texts.get(conn, Some(event.pathname))?.unwrap_or_default(),
            props,
            currency: texts.get(conn, event.currency)?,
        })
    }

    /// The labels of a visit's attributes.
    pub(crate) fn visit(
        &mut self,
        attrs: &crate::visits::VisitAttributes,
    ) -> Result<VisitLabels, StoreError> {
        VisitLabels::of(self.conn, attrs, &mut self.texts)
    }

    /// The text of the dimension id `id` (`None` stays `None`).
    pub(crate) fn text(&mut self, id: Option<i64>) -> Result<Option<String>, StoreError> {
        self.texts.get(self.conn, id)
    }
}

/// A read transaction for the rest of a query, unless one is open: every
/// read of the query then sees the same database.
pub(crate) fn snapshot(conn: &Connection) -> Result<Option<rusqlite::Transaction<'_>>, StoreError> {
    Ok(conn
        .is_autocommit()
        .then(|| conn.unchecked_transaction())
        .transpose()?)
}

/// The largest dimension id (0 without any): every step code of the
/// database is at most `StepId::event` of it.
fn max_dim_id(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn
        .query_row("SELECT max(id) FROM dims", [], |r| {
            r.get::<_, Option<i64>>(0)
        })?
        .unwrap_or(0)
        .max(0))
}

/// The stored id of a step, `None` when its path or name was never stored.
fn resolve_step(conn: &Connection, step: &Step) -> Result<Option<StepId>, StoreError> {
    Ok(match step {
        Step::Page(path) => dim_id(conn, DimKind::Pathname, path)?.map(StepId::page),
        Step::Event(name) => dim_id(conn, DimKind::EventName, name)?.map(StepId::event),
        // A goal is resolved with its site ([`funnel`]).
        Step::Goal(_) => None,
    })
}

/// The step a stored id stands for.
fn label_step(conn: &Connection, step: StepId) -> Result<Step, StoreError> {
    let text = super::labels::DimTexts::default()
        .get(conn, Some(step.dim_id()))?
        .unwrap_or_default();
    Ok(if step.is_page() {
        Step::Page(text)
    } else {
        Step::Event(text)
    })
}

impl ReadConn<'_> {
    /// Visits of the period, newest first (or oldest first), paginated.
    pub fn stats_sessions(
        &self,
        site: &SiteInfo,
        query: &StatsQuery,
        limit: usize,
        offset: usize,
        oldest_first: bool,
    ) -> Result<Vec<SessionRow>, StoreError> {
        sessions::list(self.connection(), site, query, limit, offset, oldest_first)
    }

    /// Like [`ReadConn::stats_sessions`], handing each visit to `visit` as it
    /// is read (memory does not grow with the rows); `visit` may stop early.
    /// Returns how many visits were handed over.
    pub fn stats_sessions_each(
        &self,
        site: &SiteInfo,
        query: &StatsQuery,
        limit: usize,
        offset: usize,
        oldest_first: bool,
        visit: &mut dyn FnMut(SessionRow) -> std::ops::ControlFlow<()>,
    ) -> Result<usize, StoreError> {
        sessions::each(
            self.connection(),
            site,
            query,
            limit,
            offset,
            oldest_first,
            visit,
        )
    }

    /// A funnel of `steps` over the visits of the period; with `window_ms`,
    /// each step must follow the first within that many milliseconds.
    pub fn stats_funnel(
        &self,
        site: &SiteInfo,
        query: &StatsQuery,
        steps: &[Step],
        window_ms: Option<i64>,
    ) -> Result<Vec<FunnelStep>, StoreError> {
        funnel::run(self.connection(), site, query, steps, window_ms)
    }

    /// Weekly retention cohorts with `weeks` return counts each.
    pub fn stats_retention(
        &self,
        site: &SiteInfo,
        query: &StatsQuery,
        weeks: usize,
    ) -> Result<Vec<Cohort>, StoreError> {
        retention::run(self.connection(), site, query, weeks)
    }

    /// The `limit` most common runs of `length` consecutive steps.
    pub fn stats_sequences(
        &self,
        site: &SiteInfo,
        query: &StatsQuery,
        length: usize,
        limit: usize,
    ) -> Result<Vec<Sequence>, StoreError> {
        paths::sequences(self.connection(), site, query, length, limit)
    }

    /// The `limit` most common pages before and after `page`.
    pub fn stats_flow(
        &self,
        site: &SiteInfo,
        query: &StatsQuery,
        page: &str,
        limit: usize,
    ) -> Result<Flow, StoreError> {
        paths::flow(self.connection(), site, query, page, limit)
    }

    /// The events of the period with their visits' attributes, oldest first.
    pub fn stats_export_events(
        &self,
        site: &SiteInfo,
        query: &StatsQuery,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<ExportEvent>, StoreError> {
        export::events(self.connection(), site, query, limit, offset)
    }

    /// Like [`ReadConn::stats_export_events`], handing each event to `visit`
    /// as it is read (memory does not grow with the rows); `visit` may stop
    /// early. Returns how many events were handed over.
    pub fn stats_export_events_each(
        &self,
        site: &SiteInfo,
        query: &StatsQuery,
        limit: usize,
        offset: usize,
        visit: &mut dyn FnMut(ExportEvent) -> std::ops::ControlFlow<()>,
    ) -> Result<usize, StoreError> {
        export::each(self.connection(), site, query, limit, offset, visit)
    }
}
