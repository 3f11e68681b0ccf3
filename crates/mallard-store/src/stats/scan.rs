//! Filtered stats: one pass over the period's visits ([`period_source`]),
//! counting what the compiled filters ([`Predicate`]) select.
//!
//! What a filtered query counts, for a range of local days:
//! - the *events* whose own time falls on a day of the range, whose visit
//!   meets the visit-level filters and which meet the event-level filters
//!   themselves (wherever their visit started);
//! - the *visits* that start on a day of the range and meet the visit-level
//!   filters, and, when there are event-level filters, hold at least one of
//!   those events.
//!
//! Each thread of the fold counts into an accumulator of its own ([`Tally`]),
//! merged at the end. Accumulators hold counters per bucket or dimension
//! value and visitor counters ([`Counter`]: exact while small, a HyperLogLog
//! beyond), so their memory depends on the number of distinct values, never
//! on the number of events read.

use mallard_core::{DayRange, Interval, SiteTimeZone};
use rusqlite::Connection;

use super::period_source::{fold_period, fold_starting};
use super::predicate::Predicate;
use super::rollup::IdMap;
use super::{SeriesPoint, SiteInfo, Totals};
use crate::error::StoreError;
use crate::hll::{Counter, DIM_PRECISION, MERGE_EXACT_LIMIT, SITE_PRECISION, visitor_hash};
use crate::visit_record::{
    AttributeCondition, AttributeSet, CodeCount, CodeEntry, CodeEvents, Columns, EntryNeed,
    EntryParts, EventRecord, PropNeed, StepNeed, Take, VisitGate, VisitRecord, WholeVisits,
};

/// Milliseconds in a day of a zone with one offset.
const DAY_MS: i64 = mallard_core::period::MS_PER_DAY;

/// Visitors of a dimension value or an hour stay exact up to this many.
const DIM_EXACT_LIMIT: usize = 512;
/// Visitors of a day, week or month stay exact up to this many.
const DAY_EXACT_LIMIT: usize = 2_048;

/// How long after the first instant of a local day the day before may still
/// be shown by the site's clock, at most (see [`Window`]).
pub(crate) const CLOCK_SET_BACK_MARGIN_MS: i64 = 3 * mallard_core::period::MS_PER_HOUR;

/// The columns every filtered stats query reads: visitors, the visit's
/// counters, and the events with their times (no visit ids).
const BASE_COLUMNS: Columns = Columns {
    ids: false,
    visitors: true,
    visit: true,
    pages: false,
    attributes: AttributeSet::NONE,
    events: true,
    event_times: true,
    event_paths: false,
    props: false,
    revenue: false,
    provenance: false,
    code_visits: false,
    entry_events: false,
    approximate_starts: false,
};

/// An accumulator of a filtered query.
pub(super) trait Tally: Send {
    /// Counts a selected event of `visit` (`hash` is the visitor's hash).
    fn event(&mut self, visit: &VisitRecord, event: &EventRecord, hash: u32);
    /// Ends the events of a visit read with its events (after its
    /// [`Tally::event`]s, before its [`Tally::visit`]); `counted` says
    /// whether any of them was.
    fn end_visit(&mut self, visit: &VisitRecord, hash: u32, counted: bool) {
        let _ = (visit, hash, counted);
    }
    /// Counts every event of a selected visit from its counters (page
    /// views, events): the visit was read without its events because all of
    /// them fall in the range, and in one bucket (see [`EventNeed`]).
    fn whole_visit(&mut self, visit: &VisitRecord, hash: u32);
    /// Counts a selected visit.
    fn visit(&mut self, visit: &VisitRecord);
    /// Counts the events of one code of the selected visits that hold it,
    /// as a day's code index tells them, for a tally that counts codes
    /// alone ([`Screen::codes_alone`]): the same as a [`Tally::event`] for
    /// each of them.
    fn code_events(&mut self, events: CodeEvents<'_>) {
        let _ = events;
    }
    /// Counts the entries of one event of a selected visit that carries
    /// what the tally counts beside codes ([`Screen::entries_beside_codes`]),
    /// as a day counted from its code index tells it. The event is among
    /// the [`Tally::code_events`] of its code too.
    fn code_entry(&mut self, entry: CodeEntry<'_>) {
        let _ = entry;
    }
    /// Counts the visitors of the selected visits of a day counted from
    /// its code index, for a tally that counts them beside codes
    /// ([`Screen::visitors_beside_codes`]).
    fn code_visitors(&mut self, visitor_ids: &[i64]) {
        let _ = visitor_ids;
    }
    /// Says that the visits of a day counted from its code index follow
    /// (`true`), for what the index does not tell, or have been handed
    /// over (`false`): between the two, the tally counts nothing of them
    /// that it counted from the index ([`Screen::beside_codes`]).
    fn visits_beside_codes(&mut self, following: bool) {
        let _ = following;
    }
    /// Whether the tally counts [`Tally::whole_visits`]: then the visits
    /// a day takes without their events are handed over a column at a time
    /// when the filters are all on visit attributes
    /// ([`VisitGate::takes_by_span`]), instead of one by one.
    const COUNTS_WHOLE_VISITS: bool = false;
    /// Counts visits taken without their events, a day's columns at a
    /// time: the same as
    /// [`Tally::whole_visit`] then [`Tally::visit`] for each. Only a tally
    /// that [`Tally::COUNTS_WHOLE_VISITS`] is handed any.
    fn whole_visits(&mut self, visits: &WholeVisits) {
        let _ = visits;
    }
    /// Adds another thread's accumulator.
    fn merge(&mut self, other: Self);
}

/// Two accumulators fed the same visits, for answers counted together in
/// one pass (the Goals card's conversions and visitors).
impl<A: Tally, B: Tally> Tally for (A, B) {
    fn event(&mut self, visit: &VisitRecord, event: &EventRecord, hash: u32) {
        self.0.event(visit, event, hash);
        self.1.event(visit, event, hash);
    }

    fn end_visit(&mut self, visit: &VisitRecord, hash: u32, counted: bool) {
        self.0.end_visit(visit, hash, counted);
        self.1.end_visit(visit, hash, counted);
    }

    fn whole_visit(&mut self, visit: &VisitRecord, hash: u32) {
        self.0.whole_visit(visit, hash);
        self.1.whole_visit(visit, hash);
    }

    fn visit(&mut self, visit: &VisitRecord) {
        self.0.visit(visit);
        self.1.visit(visit);
    }

    fn code_events(&mut self, events: CodeEvents<'_>) {
        self.0.code_events(events);
        self.1.code_events(events);
    }

    fn code_entry(&mut self, entry: CodeEntry<'_>) {
        self.0.code_entry(entry);
        self.1.code_entry(entry);
    }

    fn code_visitors(&mut self, visitor_ids: &[i64]) {
        self.0.code_visitors(visitor_ids);
        self.1.code_visitors(visitor_ids);
    }

    fn visits_beside_codes(&mut self, following: bool) {
        self.0.visits_beside_codes(following);
        self.1.visits_beside_codes(following);
    }

    const COUNTS_WHOLE_VISITS: bool = A::COUNTS_WHOLE_VISITS && B::COUNTS_WHOLE_VISITS;

    fn whole_visits(&mut self, visits: &WholeVisits) {
        self.0.whole_visits(visits);
        self.1.whole_visits(visits);
    }

    fn merge(&mut self, other: Self) {
        self.0.merge(other.0);
        self.1.merge(other.1);
    }
}

/// An accumulator that a pass may leave out (a part of a view the rollups
/// answer): `None` counts nothing.
impl<T: Tally> Tally for Option<T> {
    fn event(&mut self, visit: &VisitRecord, event: &EventRecord, hash: u32) {
        if let Some(tally) = self {
            tally.event(visit, event, hash);
        }
    }

    fn end_visit(&mut self, visit: &VisitRecord, hash: u32, counted: bool) {
        if let Some(tally) = self {
            tally.end_visit(visit, hash, counted);
        }
    }

    fn whole_visit(&mut self, visit: &VisitRecord, hash: u32) {
        if let Some(tally) = self {
            tally.whole_visit(visit, hash);
        }
    }

    fn visit(&mut self, visit: &VisitRecord) {
        if let Some(tally) = self {
            tally.visit(visit);
        }
    }

    fn code_events(&mut self, events: CodeEvents<'_>) {
        if let Some(tally) = self {
            tally.code_events(events);
        }
    }

    fn code_entry(&mut self, entry: CodeEntry<'_>) {
        if let Some(tally) = self {
            tally.code_entry(entry);
        }
    }

    fn code_visitors(&mut self, visitor_ids: &[i64]) {
        if let Some(tally) = self {
            tally.code_visitors(visitor_ids);
        }
    }

    fn visits_beside_codes(&mut self, following: bool) {
        if let Some(tally) = self {
            tally.visits_beside_codes(following);
        }
    }

    const COUNTS_WHOLE_VISITS: bool = T::COUNTS_WHOLE_VISITS;

    fn whole_visits(&mut self, visits: &WholeVisits) {
        if let Some(tally) = self {
            tally.whole_visits(visits);
        }
    }

    fn merge(&mut self, other: Self) {
        match (self.as_mut(), other) {
            (Some(tally), Some(theirs)) => tally.merge(theirs),
            (None, theirs) => *self = theirs,
            (Some(_), None) => {}
        }
    }
}

/// The instants of a range of local days, told apart without asking the
/// time zone for most of them.
///
/// The first instant of a local day is the first that shows it: none before
/// it is on a later day. A clock set back across midnight shows the day
/// before again for as long as it went back (an hour, at most two and a half
/// in the time zone database), so within [`CLOCK_SET_BACK_MARGIN_MS`] after
/// the first instant of the range's first day, or of the day after it, the
/// time zone decides; between those margins every instant is in the range,
/// and outside them none is.
#[derive(Debug, Clone, Copy)]
struct Window<'a> {
    tz: &'a SiteTimeZone,
    range: DayRange,
    /// The first instant of the range's first day.
    from_ms: i64,
    /// From here on, up to `to_ms`, every instant is in the range.
    surely_from_ms: i64,
    /// The first instant of the day after the range.
    to_ms: i64,
}

impl<'a> Window<'a> {
    fn new(tz: &'a SiteTimeZone, range: DayRange) -> Self {
        let from_ms = tz.day_start_ms(range.start);
        Self {
            tz,
            range,
            from_ms,
            surely_from_ms: from_ms + CLOCK_SET_BACK_MARGIN_MS,
            to_ms: tz.day_start_ms(range.end),
        }
    }

    /// The first instant after every instant of the range.
    fn end_ms(&self) -> i64 {
        self.to_ms + CLOCK_SET_BACK_MARGIN_MS
    }

    /// Whether every instant from `start_ms` to `end_ms` is surely on a
    /// local day of the range, without asking the time zone.
    #[inline]
    fn surely_holds(&self, start_ms: i64, end_ms: i64) -> bool {
        start_ms >= self.surely_from_ms && end_ms < self.to_ms
    }

    /// Whether the instant `ts` is on a local day of the range.
    #[inline]
    fn contains(&self, ts: i64) -> bool {
        if ts >= self.surely_from_ms && ts < self.to_ms {
            true
        } else if ts < self.from_ms || ts >= self.end_ms() {
            false
        } else {
            self.range.contains(self.tz.local_day(ts))
        }
    }
}

/// When a query needs the events of a visit it counts, one by one.
#[derive(Debug, Clone, Copy)]
enum EventNeed<'a> {
    /// Always: it counts by something of each event (its page, name or
    /// properties).
    Always,
    /// Unless the whole visit surely falls in the range: then its counters
    /// say what its events add ([`Tally::whole_visit`]).
    AtEdges,
    /// Unless the whole visit surely falls in the range and in one bucket
    /// of the interval.
    AtEdgesOrAcrossBuckets(Interval, &'a SiteTimeZone),
    /// Always, with their times unless the whole visit surely falls in the
    /// range and in one bucket of the interval (a view with a time series
    /// and a page, event or property breakdown).
    AlwaysTimedAcrossBuckets(Interval, &'a SiteTimeZone),
}

/// What a filtered query takes of each visit: those that meet the
/// visit-level filters and may have an event in the range, with their events
/// only when it needs them ([`EventNeed`]; always with event-level filters).
struct ScanGate<'a> {
    window: Window<'a>,
    predicate: &'a Predicate,
    need: EventNeed<'a>,
    /// The events the tally counts, when it counts only some.
    screen: Screen<'a>,
    /// Whether the tally counts visits taken whole a column at a time
    /// ([`Tally::COUNTS_WHOLE_VISITS`]).
    whole_visits: bool,
}

/// The events a tally counts, when it counts only some: day segments pass
/// over the visits without any undecoded.
#[derive(Debug, Clone, Copy, Default)]
struct Screen<'a> {
    /// Events of some codes (goals, custom events).
    codes: Option<&'a CodeScreen>,
    /// Events that carry revenue or properties.
    entries: Option<EntryNeed>,
    /// Whether the tally counts nothing but events by their code with
    /// their visitors ([`Tally::code_events`]): a day whose visits all fall
    /// wholly in the range is then counted from its code index alone when
    /// the filters are all on visit attributes
    /// ([`VisitGate::counts_codes_alone`]).
    codes_alone: bool,
    /// What a tally that counts codes alone also counts of the events
    /// that carry revenue or properties ([`Tally::code_entry`]).
    entries_beside_codes: EntryParts,
    /// Whether a tally that counts codes alone also counts the visitors of
    /// every visit the filters select ([`Tally::code_visitors`]): then
    /// `codes` says which codes a code index hands over, but rules no
    /// visit out.
    visitors_beside_codes: bool,
    /// For a tally that counts codes alone only in part (a view's page and
    /// event breakdowns), the need for events of the rest: the visits of a
    /// day counted from its code index are decoded with it for the rest
    /// ([`VisitGate::beside_codes`]).
    beside_codes: Option<EventNeed<'a>>,
}

impl VisitGate for ScanGate<'_> {
    #[inline]
    fn take(&self, visit: &VisitRecord) -> Take {
        if self.predicate.visit_matches(visit) {
            self.take_span(visit.start_ts, visit.end_ts)
        } else {
            Take::Skip
        }
    }

    fn takes_by_span(&self) -> bool {
        // The visits the attribute conditions select are those the filters
        // do; a query that reads every event takes none whole.
        self.whole_visits
            && self.predicate.attributes_only()
            && matches!(
                self.need,
                EventNeed::AtEdges | EventNeed::AtEdgesOrAcrossBuckets(..)
            )
            && self.screen.codes.is_none()
            && self.screen.entries.is_none()
            && !self.screen.codes_alone
    }

    #[inline]
    fn take_span(&self, start_ms: i64, end_ms: i64) -> Take {
        // A visit that ended before the range has nothing in it.
        if end_ms < self.window.from_ms {
            Take::Skip
        } else if self.may_need_events(start_ms, end_ms) {
            Take::Events
        } else {
            Take::Visit
        }
    }

    #[inline]
    fn may_need_event_times(&self, start_ms: i64, end_ms: i64) -> bool {
        // Every event of a visit surely in the range (and in one bucket) is
        // counted where the visit starts.
        !self.window.surely_holds(start_ms, end_ms)
            || match self.need {
                EventNeed::AtEdgesOrAcrossBuckets(interval, tz)
                | EventNeed::AlwaysTimedAcrossBuckets(interval, tz) => {
                    !same_bucket(interval, tz, start_ms, end_ms)
                }
                EventNeed::Always | EventNeed::AtEdges => false,
            }
    }

    #[inline]
    fn may_need_starts(&self, start_ms: i64, end_ms: i64) -> bool {
        // A visit surely in the range (and in one bucket) is counted
        // wherever in it its start and events fall: what its event times
        // tell, its start tells.
        self.may_need_event_times(start_ms, end_ms)
    }

    fn reads_counters(&self) -> bool {
        // Entry and exit page filters compare the visit's pages.
        self.predicate.columns().visit
    }

    fn attribute_conditions(&self) -> &[AttributeCondition] {
        self.predicate.attribute_conditions()
    }

    fn step_needs(&self) -> &[StepNeed] {
        // A visit none of whose events meets the event-level conditions
        // adds nothing to any tally ([`select`]).
        self.predicate.step_needs()
    }

    fn prop_needs(&self) -> &[PropNeed] {
        // Likewise for the properties the event-level conditions need.
        self.predicate.prop_needs()
    }

    #[inline]
    fn may_count_codes(&self, codes: &[u8]) -> bool {
        !self.screens_codes()
            || self
                .screen
                .codes
                .is_none_or(|screen| screen.holds_any(codes))
    }

    fn screens_codes(&self) -> bool {
        // A tally that counts every selected visit's visitor counts
        // something of a visit whatever its codes.
        self.screen.codes.is_some() && !self.screen.visitors_beside_codes
    }

    fn may_count_code(&self, code: u64) -> bool {
        self.screen.codes.is_none_or(|screen| screen.counts(code))
    }

    fn entry_need(&self) -> Option<EntryNeed> {
        self.screen.entries
    }

    fn counts_codes_alone(&self) -> bool {
        // Every visit meeting the attribute conditions is taken with its
        // events when the tally counts by code ([`EventNeed::Always`]), or
        // by code in part, the rest decoded beside.
        self.screen.codes_alone
            && self.predicate.attributes_only()
            && (matches!(self.need, EventNeed::Always) || self.screen.beside_codes.is_some())
    }

    fn codes_need_event_times(&self, start_ms: i64, end_ms: i64) -> bool {
        // What the index tells is counted over the range, in no bucket.
        !self.window.surely_holds(start_ms, end_ms)
    }

    fn entries_beside_codes(&self) -> EntryParts {
        self.screen.entries_beside_codes
    }

    fn visitors_beside_codes(&self) -> bool {
        self.screen.visitors_beside_codes
    }

    fn beside_codes(&self) -> Option<Self> {
        // The rest counts every visit the filters select, whatever its
        // codes.
        self.screen.beside_codes.map(|need| ScanGate {
            need,
            screen: Screen::default(),
            ..*self
        })
    }

    #[inline]
    fn may_need_events(&self, start_ms: i64, end_ms: i64) -> bool {
        if self.predicate.has_event_conditions() {
            return true;
        }
        match self.need {
            EventNeed::Always | EventNeed::AlwaysTimedAcrossBuckets(..) => true,
            EventNeed::AtEdges => !self.window.surely_holds(start_ms, end_ms),
            EventNeed::AtEdgesOrAcrossBuckets(interval, tz) => {
                !self.window.surely_holds(start_ms, end_ms)
                    || !same_bucket(interval, tz, start_ms, end_ms)
            }
        }
    }
}

/// Whether the instants `a` and `b` fall in one bucket of `interval`: on
/// one local day first (a bucket holds whole days unless it is an hour).
#[inline]
fn same_bucket(interval: Interval, tz: &SiteTimeZone, a: i64, b: i64) -> bool {
    match interval {
        Interval::Hour => tz.local_hour(a) == tz.local_hour(b),
        // One offset: the local days without a lookup.
        _ if tz.fixed_offset_ms().is_some_and(|offset| {
            (a + offset).div_euclid(DAY_MS) == (b + offset).div_euclid(DAY_MS)
        }) =>
        {
            true
        }
        other => {
            let (day_a, day_b) = (tz.local_day(a), tz.local_day(b));
            day_a == day_b || other.bucket_start_day(day_a) == other.bucket_start_day(day_b)
        }
    }
}

/// The key of the bucket of `interval` that holds the instant `ts`.
#[inline]
fn bucket_key(interval: Interval, tz: &SiteTimeZone, ts: i64) -> i64 {
    match interval {
        Interval::Hour => tz.local_hour(ts),
        other => other.bucket_start_day(tz.local_day(ts)),
    }
}

/// Folds the visits of the range into tallies made by `new`, and merges them.
fn run<T: Tally>(
    conn: &Connection,
    site: &SiteInfo,
    range: DayRange,
    predicate: &Predicate,
    read: (Columns, EventNeed<'_>),
    new: impl Fn() -> T + Sync,
) -> Result<Option<T>, StoreError> {
    run_screened(conn, site, range, predicate, read, Screen::default(), new)
}

/// Which visits a run folds.
#[derive(Debug, Clone, Copy)]
enum Visits {
    /// Every visit with an event in the range.
    OfRange,
    /// Only those that start in `[from_ms, to_ms)` (their events still
    /// counted only in the range).
    Starting(i64, i64),
}

/// [`run`] for a tally that counts only the events `screen` screens for
/// (and nothing of a visit without one): day segments pass over the other
/// visits undecoded.
fn run_screened<T: Tally>(
    conn: &Connection,
    site: &SiteInfo,
    range: DayRange,
    predicate: &Predicate,
    columns_and_need: (Columns, EventNeed<'_>),
    screen: Screen<'_>,
    new: impl Fn() -> T + Sync,
) -> Result<Option<T>, StoreError> {
    run_screened_over(
        conn,
        site,
        (range, Visits::OfRange),
        predicate,
        columns_and_need,
        screen,
        new,
    )
}

/// [`run_screened`] over `visits` only.
fn run_screened_over<T: Tally>(
    conn: &Connection,
    site: &SiteInfo,
    (range, visits): (DayRange, Visits),
    predicate: &Predicate,
    (columns, need): (Columns, EventNeed<'_>),
    screen: Screen<'_>,
    new: impl Fn() -> T + Sync,
) -> Result<Option<T>, StoreError> {
    if predicate.matches_nothing() || range.days() <= 0 {
        return Ok(None);
    }
    let window = Window::new(&site.time_zone, range);
    let mut columns = BASE_COLUMNS.with(columns).with(predicate.columns());
    // The visits holding a screened code are found in the days' code index.
    columns.code_visits |= screen.codes.is_some() && !screen.visitors_beside_codes;
    let gate = ScanGate {
        window,
        predicate,
        need,
        screen,
        whole_visits: T::COUNTS_WHOLE_VISITS,
    };
    let each = |tally: &mut T, visit: &VisitRecord| select(tally, visit, &window, predicate);
    let codes = |tally: &mut T, counted: CodeCount<'_>| match counted {
        CodeCount::Events(events) => tally.code_events(events),
        CodeCount::Entry(entry) => tally.code_entry(entry),
        CodeCount::Visitors(visitor_ids) => tally.code_visitors(visitor_ids),
        CodeCount::VisitsBesideCodes(following) => tally.visits_beside_codes(following),
        CodeCount::WholeVisits(visits) => tally.whole_visits(visits),
    };
    let tallies = match visits {
        Visits::OfRange => fold_period(
            conn,
            site.id,
            window.from_ms,
            window.end_ms(),
            columns,
            &gate,
            new,
            each,
            codes,
        )?,
        Visits::Starting(from_ms, to_ms) => fold_starting(
            conn, site.id, from_ms, to_ms, columns, &gate, new, each, codes,
        )?,
    };
    Ok(tallies.into_iter().reduce(|mut a, b| {
        a.merge(b);
        a
    }))
}

/// Counts what one visit contributes to `tally`.
#[inline]
fn select<T: Tally>(
    tally: &mut T,
    visit: &VisitRecord,
    window: &Window<'_>,
    predicate: &Predicate,
) {
    if !predicate.visit_matches(visit) {
        return;
    }
    let hash = visitor_hash(visit.visitor_id);
    if !visit.events_read {
        // Taken without its events ([`ScanGate`]): there are no event-level
        // filters, and all its events fall in the range (and in one bucket).
        tally.whole_visit(visit, hash);
        tally.visit(visit);
        return;
    }
    let mut matched = false;
    for event in &visit.events {
        if window.contains(event.ts) && predicate.event_matches(visit, event) {
            matched = true;
            tally.event(visit, event, hash);
        }
    }
    tally.end_visit(visit, hash, matched);
    if window.contains(visit.start_ts) && (matched || !predicate.has_event_conditions()) {
        tally.visit(visit);
    }
}

/// Adds an event to counters.
#[inline]
fn add_event(totals: &mut Totals, event: &EventRecord) {
    totals.pageviews += i64::from(event.pageview);
    totals.events += 1;
}

/// Adds every event of a visit to counters, from its counters.
#[inline]
fn add_whole_visit(totals: &mut Totals, visit: &VisitRecord) {
    totals.pageviews += visit.pageviews;
    totals.events += visit.events_count;
}

/// Adds a visit to counters.
#[inline]
fn add_visit(totals: &mut Totals, visit: &VisitRecord) {
    totals.visits += 1;
    totals.bounces += i64::from(visit.pageviews == 1);
    totals.visit_pageviews += visit.pageviews;
    totals.duration_ms += visit.end_ts - visit.start_ts;
}

/// Adds the visits of `visits` at `indices`, taken whole, to counters: as
/// [`add_whole_visit`] then [`add_visit`] add each.
#[inline]
fn add_whole_visits(totals: &mut Totals, visits: &WholeVisits, indices: std::ops::Range<usize>) {
    for (&pageviews, (&events, &duration)) in visits.pageviews[indices.clone()].iter().zip(
        visits.events[indices.clone()]
            .iter()
            .zip(&visits.durations[indices]),
    ) {
        totals.pageviews += pageviews;
        totals.events += events;
        totals.visits += 1;
        totals.bounces += i64::from(pageviews == 1);
        totals.visit_pageviews += pageviews;
        totals.duration_ms += duration;
    }
}

/// Counters with their visitors.
#[derive(Debug, Clone)]
struct Counted {
    totals: Totals,
    visitors: Counter,
}

impl Counted {
    fn new(p: u8, exact_limit: usize) -> Self {
        Self {
            totals: Totals::default(),
            visitors: Counter::new(p, exact_limit),
        }
    }

    fn merge(&mut self, other: Self) {
        self.totals.add_counters(&other.totals);
        self.visitors.merge(other.visitors);
    }

    fn finish(mut self) -> Totals {
        Totals {
            visitors: self.visitors.estimate(),
            ..self.totals
        }
    }
}

/// Adds the counts of `other` to those of `into`, value by value.
fn merge_counts(into: &mut IdMap<Counted>, other: IdMap<Counted>) {
    for (value, counted) in other {
        match into.entry(value) {
            std::collections::hash_map::Entry::Occupied(mut mine) => mine.get_mut().merge(counted),
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(counted);
            }
        }
    }
}

/// The totals of the whole range.
struct MainTally(Counted);

impl Tally for MainTally {
    fn event(&mut self, _: &VisitRecord, event: &EventRecord, _: u32) {
        add_event(&mut self.0.totals, event);
    }

    fn end_visit(&mut self, _: &VisitRecord, hash: u32, counted: bool) {
        // The visitor once per visit with a counted event.
        if counted {
            self.0.visitors.insert(hash);
        }
    }

    fn whole_visit(&mut self, visit: &VisitRecord, hash: u32) {
        add_whole_visit(&mut self.0.totals, visit);
        self.0.visitors.insert(hash);
    }

    fn visit(&mut self, visit: &VisitRecord) {
        add_visit(&mut self.0.totals, visit);
    }

    const COUNTS_WHOLE_VISITS: bool = true;

    fn whole_visits(&mut self, visits: &WholeVisits) {
        add_whole_visits(&mut self.0.totals, visits, 0..visits.len());
        for &hash in &visits.visitor_hashes {
            self.0.visitors.insert(hash);
        }
    }

    fn merge(&mut self, other: Self) {
        self.0.merge(other.0);
    }
}

/// The totals of the range.
pub(super) fn main(
    conn: &Connection,
    site: &SiteInfo,
    range: DayRange,
    predicate: &Predicate,
) -> Result<Totals, StoreError> {
    let need = (Columns::default(), EventNeed::AtEdges);
    let tally = run(conn, site, range, predicate, need, || {
        MainTally(Counted::new(SITE_PRECISION, MERGE_EXACT_LIMIT))
    })?;
    Ok(tally.map_or_else(Totals::default, |t| t.0.finish()))
}

/// The totals per bucket of a time series.
struct SeriesTally<'a> {
    interval: Interval,
    tz: &'a SiteTimeZone,
    buckets: IdMap<Counted>,
    /// The bucket of the visit's last counted event, with the page views
    /// and events counted there since: added when the bucket changes or the
    /// visit ends, so a visit's events in one bucket cost one lookup.
    pending: Option<(i64, i64, i64)>,
}

impl SeriesTally<'_> {
    fn bucket(&mut self, ts: i64) -> &mut Counted {
        let key = bucket_key(self.interval, self.tz, ts);
        self.bucket_of(key)
    }

    fn bucket_of(&mut self, key: i64) -> &mut Counted {
        let (p, limit) = match self.interval {
            Interval::Hour => (DIM_PRECISION, DIM_EXACT_LIMIT),
            _ => (SITE_PRECISION, DAY_EXACT_LIMIT),
        };
        self.buckets
            .entry(key)
            .or_insert_with(|| Counted::new(p, limit))
    }

    /// Adds the pending events to their bucket.
    fn flush(&mut self, hash: u32) {
        if let Some((key, pageviews, events)) = self.pending.take() {
            let bucket = self.bucket_of(key);
            bucket.totals.pageviews += pageviews;
            bucket.totals.events += events;
            bucket.visitors.insert(hash);
        }
    }
}

impl Tally for SeriesTally<'_> {
    fn event(&mut self, _: &VisitRecord, event: &EventRecord, hash: u32) {
        let key = bucket_key(self.interval, self.tz, event.ts);
        if self.pending.is_some_and(|(pending, _, _)| pending != key) {
            self.flush(hash);
        }
        let (_, pageviews, events) = self.pending.get_or_insert((key, 0, 0));
        *pageviews += i64::from(event.pageview);
        *events += 1;
    }

    fn end_visit(&mut self, _: &VisitRecord, hash: u32, _: bool) {
        self.flush(hash);
    }

    fn whole_visit(&mut self, visit: &VisitRecord, hash: u32) {
        let bucket = self.bucket(visit.start_ts);
        add_whole_visit(&mut bucket.totals, visit);
        bucket.visitors.insert(hash);
    }

    fn visit(&mut self, visit: &VisitRecord) {
        add_visit(&mut self.bucket(visit.start_ts).totals, visit);
    }

    const COUNTS_WHOLE_VISITS: bool = true;

    fn whole_visits(&mut self, visits: &WholeVisits) {
        // The visits are in start order: those of one bucket follow each
        // other, and each run costs one lookup.
        let starts = &visits.starts;
        let mut from = 0;
        while let Some(&first) = starts.get(from) {
            let run = starts[from..]
                .iter()
                .take_while(|&&start| {
                    start == first || same_bucket(self.interval, self.tz, first, start)
                })
                .count();
            let bucket = self.bucket(first);
            add_whole_visits(&mut bucket.totals, visits, from..from + run);
            for &hash in &visits.visitor_hashes[from..from + run] {
                bucket.visitors.insert(hash);
            }
            from += run;
        }
    }

    fn merge(&mut self, other: Self) {
        merge_counts(&mut self.buckets, other.buckets);
    }
}

/// The totals of every bucket of `keys`, zeros included.
pub(super) fn timeseries(
    conn: &Connection,
    site: &SiteInfo,
    range: DayRange,
    predicate: &Predicate,
    interval: Interval,
    keys: &[i64],
) -> Result<Vec<SeriesPoint>, StoreError> {
    let tz = &site.time_zone;
    let need = (
        Columns::default(),
        EventNeed::AtEdgesOrAcrossBuckets(interval, tz),
    );
    let tally = run(conn, site, range, predicate, need, || SeriesTally {
        interval,
        tz,
        buckets: IdMap::default(),
        pending: None,
    })?;
    Ok(finish_series(
        tally.map(|t| t.buckets).unwrap_or_default(),
        keys,
    ))
}

/// The totals of every bucket of `keys`, zeros included.
fn finish_series(mut buckets: IdMap<Counted>, keys: &[i64]) -> Vec<SeriesPoint> {
    keys.iter()
        .map(|&key| SeriesPoint {
            key,
            totals: buckets
                .remove(&key)
                .map_or_else(Totals::default, Counted::finish),
        })
        .collect()
}

/// Counts the visitors of visits with a selected event between two instants.
struct VisitorsTally(Counter);

/// Distinct visitors with an event between `from_ms` and `to_ms` (inclusive)
/// that meets `predicate`.
pub(super) fn visitors_between(
    conn: &Connection,
    site: &SiteInfo,
    from_ms: i64,
    to_ms: i64,
    predicate: &Predicate,
) -> Result<u64, StoreError> {
    if predicate.matches_nothing() || to_ms < from_ms {
        return Ok(0);
    }
    let columns = BASE_COLUMNS.with(predicate.columns());
    let tallies = fold_period(
        conn,
        site.id,
        from_ms,
        to_ms.saturating_add(1),
        columns,
        &|visit: &VisitRecord| {
            if visit.end_ts >= from_ms && predicate.visit_matches(visit) {
                Take::Events
            } else {
                Take::Skip
            }
        },
        || VisitorsTally(Counter::new(SITE_PRECISION, MERGE_EXACT_LIMIT)),
        |tally, visit| {
            if predicate.visit_matches(visit)
                && visit
                    .events
                    .iter()
                    .any(|e| (from_ms..=to_ms).contains(&e.ts) && predicate.event_matches(visit, e))
            {
                tally.0.insert(visitor_hash(visit.visitor_id));
            }
        },
        crate::segment_fold::no_code_events,
    )?;
    let mut all = Counter::new(SITE_PRECISION, MERGE_EXACT_LIMIT);
    for tally in tallies {
        all.merge(tally.0);
    }
    Ok(all.estimate())
}

mod breakdown;
mod code_screen;
mod entry_days;
mod goals;
mod prop_keys;
mod revenue;
mod value_table;
mod view;

use breakdown::BreakdownTally;
pub(super) use breakdown::{BreakdownSpec, breakdown};
use code_screen::CodeScreen;
use value_table::ValueTable;

pub(crate) use goals::{
    GoalCount, GoalCounter, GoalMatcher, goal_conversions, goal_conversions_and_visitors,
    goal_counters, goal_counters_by_day, visitors_at_most_conversions,
};
pub(super) use prop_keys::prop_keys;
pub(super) use revenue::revenue;

pub(super) use view::{ViewParts, view};

#[cfg(test)]
mod tests {
    use super::*;

    /// The window agrees with the time zone minute by minute around clock
    /// changes: Santiago sets its clocks back from midnight to 23:00 (the
    /// day before gets a second last hour) and forward from midnight to
    /// 01:00 (its day starts an hour late); Lord Howe changes by half an
    /// hour; Berlin at night.
    #[test]
    fn windows_agree_with_the_time_zone_around_clock_changes() {
        let cases = [
            ("America/Santiago", 1_712_458_800_000_i64),
            ("America/Santiago", 1_725_764_400_000),
            ("Australia/Lord_Howe", 1_712_415_600_000),
            ("Europe/Berlin", 1_711_846_800_000),
            ("UTC", 1_700_000_000_000),
        ];
        for (zone, change_ms) in cases {
            let tz = SiteTimeZone::parse(zone).unwrap();
            let day = tz.local_day(change_ms);
            for start in day - 2..=day + 1 {
                for days in 1..=3 {
                    let range = DayRange {
                        start,
                        end: start + days,
                    };
                    let window = Window::new(&tz, range);
                    let mut ts = change_ms - 5 * 86_400_000;
                    while ts < change_ms + 5 * 86_400_000 {
                        assert_eq!(
                            window.contains(ts),
                            range.contains(tz.local_day(ts)),
                            "{zone} {range:?} at {ts}"
                        );
                        assert!(ts >= window.from_ms || !window.contains(ts));
                        assert!(ts < window.end_ms() || !window.contains(ts));
                        ts += 60_000;
                    }
                }
            }
        }
    }
}
