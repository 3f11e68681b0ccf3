//! One visit with its events, as every query path sees it.
//!
//! A closed UTC day of a site is kept as a columnar day segment
//! ([`crate::visit_paths`]); the open days are rows. Both are read into the
//! same [`VisitRecord`], one visit at a time into a buffer that is reused, so
//! that a query is written once, against this type, whatever holds its days,
//! and never materialises a period's rows. A query says which columns it
//! needs ([`Columns`]); the others are left at their defaults and cost
//! nothing to read.

use mallard_core::Dimension;

use crate::visits::VisitAttributes;

mod whole_visits;

pub(crate) use whole_visits::{ValueColumn, WholeVisits};

/// One event of a [`VisitRecord`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct EventRecord {
    /// The event's time, ms since the epoch (with [`Columns::event_times`];
    /// otherwise the visit's start).
    pub(crate) ts: i64,
    /// Whether the event is a page view.
    pub(crate) pageview: bool,
    /// The interned id of the path for a page view, of the event name for
    /// any other event.
    pub(crate) code: i64,
    /// The interned id of the page path of the event, custom events included
    /// (with [`Columns::event_paths`]; otherwise the same as `code` for page
    /// views and 0 for custom events).
    pub(crate) pathname: i64,
    /// Where this event's properties start and end in the visit's
    /// [`VisitRecord::props`] (with [`Columns::props`]).
    pub(crate) props: (u32, u32),
    /// Revenue in millionths of `currency` (with [`Columns::revenue`]).
    pub(crate) revenue_micros: Option<i64>,
    /// The interned id of the revenue's currency code.
    pub(crate) currency: Option<i64>,
    /// The interned id of the host name the event was sent from, 0 for the
    /// site's own ([`crate::insert::SITE_HOSTNAME`]) (with
    /// [`Columns::provenance`]).
    pub(crate) hostname: i64,
    /// The id of the collector consent the event was sent with
    /// (`collector_consents.id`, with [`Columns::provenance`]).
    pub(crate) consent: Option<i64>,
}

/// One visit with its events in time order (ties by event id).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct VisitRecord {
    /// The visit's id (`visits.id`), from rows and day segments alike.
    pub(crate) id: i64,
    /// The visitor id (with [`Columns::visitors`]).
    pub(crate) visitor_id: i64,
    /// The visit's first event, ms since the epoch.
    pub(crate) start_ts: i64,
    /// The visit's last event, ms since the epoch (with [`Columns::visit`]).
    pub(crate) end_ts: i64,
    /// Page views in the visit (with [`Columns::visit`]).
    pub(crate) pageviews: i64,
    /// Events of any name in the visit (with [`Columns::visit`]).
    pub(crate) events_count: i64,
    /// The first page (with [`Columns::visit`]).
    pub(crate) entry_page: Option<i64>,
    /// The last page (with [`Columns::visit`]).
    pub(crate) exit_page: Option<i64>,
    /// Source, referrer, UTM fields, browser, OS, device, screen, country
    /// (with [`Columns::attributes`]).
    pub(crate) attrs: VisitAttributes,
    /// The visit's events (with [`Columns::events`], when
    /// [`VisitRecord::events_read`]).
    pub(crate) events: Vec<EventRecord>,
    /// Whether `events` were read. A query that can count a visit from its
    /// counters when all its events fall in the period says so (see
    /// [`Take::Visit`]), and a day segment then skips its events.
    pub(crate) events_read: bool,
    /// Every event's custom properties as `(key id, value id)`, each event's
    /// pairs sorted by key; [`EventRecord::props`] says whose they are.
    pub(crate) props: Vec<(i64, i64)>,
}

impl VisitRecord {
    /// Empties the record for the next visit, keeping its buffers.
    pub(crate) fn clear(&mut self) {
        let mut events = std::mem::take(&mut self.events);
        let mut props = std::mem::take(&mut self.props);
        events.clear();
        props.clear();
        *self = Self {
            events,
            props,
            ..Self::default()
        };
    }

    /// The properties of `event`.
    pub(crate) fn props_of(&self, event: &EventRecord) -> &[(i64, i64)] {
        self.props
            .get(event.props.0 as usize..event.props.1 as usize)
            .unwrap_or_default()
    }
}

/// What a query takes of one visit, once it has seen its visit-level
/// columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Take {
    /// Nothing: the visit is not handed over.
    Skip,
    /// The visit without its events (`events_read` is false).
    Visit,
    /// The visit with its events.
    Events,
}

/// What a query takes of each visit it reads, decided from the visit-level
/// columns before any event is read.
pub(crate) trait VisitGate: Sync {
    /// What the query takes of `visit` (its visit-level columns filled;
    /// without [`VisitGate::reads_counters`], all but the visitor id and the
    /// [`Columns::visit`] counters and pages, which are read only for the
    /// visits it takes).
    fn take(&self, visit: &VisitRecord) -> Take;

    /// Whether a visit from `start_ms` to `end_ms` taken with its events may
    /// need their times: a day none of whose visits may is read without them
    /// (each event then has its visit's start as its time). It must be
    /// monotone, as [`VisitGate::may_need_events`] is.
    fn may_need_event_times(&self, start_ms: i64, end_ms: i64) -> bool {
        let _ = (start_ms, end_ms);
        true
    }

    /// Whether [`VisitGate::take`] reads the visitor id, the counters or
    /// the entry and exit pages.
    fn reads_counters(&self) -> bool {
        true
    }

    /// Whether a visit from `start_ms` to `end_ms` may be taken with its
    /// events: a day none of whose visits may is read without its events.
    ///
    /// It must be monotone: when it is false for a span, it is false for
    /// every span within it, so that a day whose first possible start and
    /// latest end need no events has no visit that needs them.
    fn may_need_events(&self, start_ms: i64, end_ms: i64) -> bool {
        let _ = (start_ms, end_ms);
        true
    }

    /// Conditions on attributes that every visit the gate takes meets. A
    /// day segment tests them on each column's dictionary once: a day none
    /// of whose values passes is not walked, and the visits whose values
    /// fail are passed over without being decoded or shown to
    /// [`VisitGate::take`]. Their attributes must be among the columns read.
    fn attribute_conditions(&self) -> &[AttributeCondition] {
        &[]
    }

    /// What every visit the gate takes must have among its events: when
    /// the events are read, a day segment looks for each in a visit's event
    /// codes before decoding anything else of it, and passes over a visit
    /// that lacks one as if the gate had skipped it.
    fn step_needs(&self) -> &[StepNeed] {
        &[]
    }

    /// What every visit the gate takes must have among its events'
    /// properties: when the properties are read, a day segment with entry
    /// events finds the visits with an event that carries each from them,
    /// and passes over the others as if the gate had skipped them.
    fn prop_needs(&self) -> &[PropNeed] {
        &[]
    }

    /// Whether a visit that starts at `start_ms` and ends at `end_ms` may
    /// need its exact start and end, beyond telling that it is in the
    /// period. By default it may. A gate that counts nothing by the instants
    /// of a visit surely inside its period and one of its buckets (no
    /// order) says no for such visits; a day segment all of whose visits
    /// are so then reads their starts as the day's first instant, their
    /// durations exact ([`Columns::approximate_starts`]). Like
    /// [`VisitGate::may_need_events`], a visit within the instants of one
    /// that needs none needs none.
    fn may_need_starts(&self, start_ms: i64, end_ms: i64) -> bool {
        let _ = (start_ms, end_ms);
        true
    }

    /// Whether a visit whose event codes are `codes` (the varints of a
    /// day segment's steps part) may hold an event the query counts. A day
    /// segment asks before decoding anything else of a visit, and passes
    /// over one it rules out as if the gate had skipped it; so the query
    /// must count nothing of such a visit. By default every visit may.
    fn may_count_codes(&self, codes: &[u8]) -> bool {
        let _ = codes;
        true
    }

    /// Whether [`Self::may_count_codes`] rules visits out code by code: it
    /// holds exactly when one of the codes meets [`Self::may_count_code`].
    /// A day segment with a code index then finds the visits that may
    /// count from the index, and passes over the others in runs.
    fn screens_codes(&self) -> bool {
        false
    }

    /// Whether an event of code `code` may be one the query counts (see
    /// [`Self::screens_codes`]).
    fn may_count_code(&self, code: u64) -> bool {
        let _ = code;
        true
    }

    /// What one of a visit's events must carry for the query to count
    /// anything of the visit: a day segment finds the visits whose events
    /// carry it from the part that holds it (revenue or properties, when
    /// read) and passes over the others as if the gate had skipped them.
    fn entry_need(&self) -> Option<EntryNeed> {
        None
    }

    /// Whether the query counts nothing but, for each event code that
    /// [`Self::may_count_code`] counts, how many events of that code the
    /// visits it takes hold and their visitors; and takes every visit that
    /// meets [`Self::attribute_conditions`] with its events, and no other.
    /// Then a day segment with a code index whose visits all fall wholly in
    /// the query's range (no visit needs its event times, see
    /// [`Self::may_need_event_times`]) is counted from the index alone
    /// ([`CodeEvents`]): none of its visits' codes are decoded.
    fn counts_codes_alone(&self) -> bool {
        false
    }

    /// For a gate that [`Self::counts_codes_alone`], whether what it
    /// counts from a day's code index of a visit from `start_ms` to
    /// `end_ms` may depend on its events' times: a day whose visits none
    /// may is counted from the index. By default, as
    /// [`Self::may_need_event_times`]; a gate whose index counts ignore
    /// the buckets the rest of its count needs says only whether the
    /// visit may cross the range's edges. Monotone likewise.
    fn codes_need_event_times(&self, start_ms: i64, end_ms: i64) -> bool {
        self.may_need_event_times(start_ms, end_ms)
    }

    /// For a gate that [`Self::counts_codes_alone`], what it also counts of
    /// the events that carry revenue or properties, which the code index
    /// does not hold: a day counted from the index then hands over each
    /// such event of a code the gate may count, with its code, visitor and
    /// entries ([`CodeEntry`]), found through the steps part without
    /// decoding any visit.
    fn entries_beside_codes(&self) -> EntryParts {
        EntryParts::default()
    }

    /// For a gate that [`Self::counts_codes_alone`], whether it also
    /// counts the visitor of every visit that meets its attribute
    /// conditions, whatever its codes: a day counted from the index then
    /// hands them over too ([`CodeCount::Visitors`]), and
    /// [`Self::may_count_codes`] rules out no visit of a day decoded.
    fn visitors_beside_codes(&self) -> bool {
        false
    }

    /// Whether the gate takes every visit that meets its
    /// [`Self::attribute_conditions`] by its span alone
    /// ([`Self::take_span`]), and has no [`Self::step_needs`], screens no
    /// codes and needs no entries: a day segment then hands the visits it
    /// takes without their events over a column at a time
    /// ([`CodeCount::WholeVisits`]) instead of one by one, when its fold
    /// asks for that. By default it does not.
    fn takes_by_span(&self) -> bool {
        false
    }

    /// For a gate that [`Self::takes_by_span`], what it takes of a visit
    /// from `start_ms` to `end_ms` that meets its attribute conditions:
    /// the same as [`Self::take`] answers for it. It must be monotone: a
    /// visit within the span of one it takes whole it takes whole too, so
    /// that a day segment asks once for the visits that end on their day.
    fn take_span(&self, start_ms: i64, end_ms: i64) -> Take {
        let _ = (start_ms, end_ms);
        Take::Events
    }

    /// For a gate that [`Self::counts_codes_alone`] only for part of what
    /// it counts (a view's page and event breakdowns), the gate through
    /// which the visits of a day counted from its code index are decoded
    /// for the rest: the fold hands them over between
    /// [`CodeCount::VisitsBesideCodes`] `(true)` and `(false)`, and the
    /// tally counts nothing of them that the index told. `None` (the
    /// default): the index tells all the gate counts.
    fn beside_codes(&self) -> Option<Self>
    where
        Self: Sized,
    {
        None
    }
}

/// The parts of a day's event entries that a query reads beside its code
/// index ([`VisitGate::entries_beside_codes`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct EntryParts {
    /// The revenue of the events that carry an amount or a currency.
    pub(crate) revenue: bool,
    /// The custom properties of the events that carry some.
    pub(crate) props: bool,
}

impl EntryParts {
    /// Whether any part is read.
    pub(crate) fn any(self) -> bool {
        self.revenue || self.props
    }
}

/// What a day hands its fold besides visits one by one: what its code
/// index alone tells (see [`VisitGate::counts_codes_alone`]), and the
/// visits it takes whole a column at a time ([`VisitGate::takes_by_span`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CodeCount<'a> {
    /// The visits that hold one code, with how often.
    Events(CodeEvents<'a>),
    /// One event that carries what [`VisitGate::entries_beside_codes`]
    /// asks for.
    Entry(CodeEntry<'a>),
    /// The visitor ids of the day's visits that meet the attribute
    /// conditions, for a gate that [`VisitGate::visitors_beside_codes`].
    Visitors(&'a [i64]),
    /// The day's visits follow (`true`), decoded through the gate of
    /// [`VisitGate::beside_codes`] for what the index does not tell, or
    /// have all been handed over (`false`).
    VisitsBesideCodes(bool),
    /// The visits of a day that a gate which [`VisitGate::takes_by_span`]
    /// takes without their events, a column at a time: counted as each
    /// would be, handed over one by one.
    WholeVisits(&'a WholeVisits),
}

/// One event with revenue or properties of a day counted from its code
/// index, as the day's entries tell it ([`VisitGate::entries_beside_codes`]).
/// The same event is also among the [`CodeEvents`] of its code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CodeEntry<'a> {
    /// The event code ([`crate::day_segment::step_code`]).
    pub(crate) code: u64,
    /// The visitor id of its visit.
    pub(crate) visitor_id: i64,
    /// Its amount in millionths and currency id, as
    /// [`EventRecord::revenue_micros`] and [`EventRecord::currency`] hold
    /// them (both `None` unless revenue is read and it carries some).
    pub(crate) revenue: (Option<i64>, Option<i64>),
    /// Its property pairs `(key id, value id)` sorted by key (empty unless
    /// properties are read and it carries some).
    pub(crate) props: &'a [(i64, i64)],
}

/// The visits that hold one event code, as a day's code index tells them
/// (see [`VisitGate::counts_codes_alone`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CodeEvents<'a> {
    /// The event code ([`crate::day_segment::step_code`]).
    pub(crate) code: u64,
    /// Each visit's visitor id and how many of its events have the code
    /// (at least one).
    pub(crate) visits: &'a [(i64, u64)],
}

/// Something a visit must have among its events ([`VisitGate::step_needs`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StepNeed {
    /// A page view of this path id, or a custom event (whose page path may
    /// be it).
    PathOrCustom(i64),
    /// A page view of this path id: what [`StepNeed::PathOrCustom`] comes
    /// to on a day none of whose custom events is on the path
    /// ([`crate::day_segment`] narrows the needs day by day).
    PageViewOf(i64),
    /// A custom event of this name id.
    Name(i64),
    /// A page view.
    PageView,
}

/// A property that one of a visit's events must carry
/// ([`VisitGate::prop_needs`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PropNeed {
    /// The key id.
    pub(crate) key: i64,
    /// The value id it must have, if any.
    pub(crate) value: Option<i64>,
}

/// What one of a visit's events must carry for a query to count anything
/// of the visit ([`VisitGate::entry_need`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EntryNeed {
    /// An amount of revenue.
    Revenue,
    /// Custom properties: one of key id `key`, or any without a key.
    Props {
        /// The key id a property must have, if any.
        key: Option<i64>,
    },
}

/// A condition on one attribute of a visit: it equals `value` (`None`: it
/// is missing), or with `is == false` differs from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AttributeCondition {
    /// The attribute compared.
    pub(crate) attribute: Attribute,
    /// The value compared with.
    pub(crate) value: Option<i64>,
    /// Whether the attribute must equal the value (else differ from it).
    pub(crate) is: bool,
}

impl AttributeCondition {
    /// Whether an attribute of `value` meets the condition.
    #[inline]
    pub(crate) fn holds(self, value: Option<i64>) -> bool {
        (value == self.value) == self.is
    }
}

impl<F: Fn(&VisitRecord) -> Take + Sync> VisitGate for F {
    fn take(&self, visit: &VisitRecord) -> Take {
        self(visit)
    }
}

/// Which columns a query reads. What is not asked for keeps its default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Columns {
    /// Visit ids, which only the sessions list, the exports and the
    /// readers of whole visits need (without them each visit's id is 0).
    pub(crate) ids: bool,
    /// Visitor ids.
    pub(crate) visitors: bool,
    /// End, page view and event counts.
    pub(crate) visit: bool,
    /// With the visit: its entry and exit pages (their dictionaries are the
    /// largest of the visit part: a query that needs neither skips them).
    pub(crate) pages: bool,
    /// The visit attributes read (each one a column of its own in a day
    /// segment, so a query decodes only those it compares or counts by).
    pub(crate) attributes: AttributeSet,
    /// The events (codes and page views).
    pub(crate) events: bool,
    /// With events: their times.
    pub(crate) event_times: bool,
    /// With events: the page path of custom events too.
    pub(crate) event_paths: bool,
    /// With events: their custom properties.
    pub(crate) props: bool,
    /// With events: their revenue.
    pub(crate) revenue: bool,
    /// With events: where each came from (its host name and collector
    /// consent), which only the export and a restore of rows read.
    pub(crate) provenance: bool,
    /// With events: the day's code index, for a gate with step needs to
    /// select the visits that hold a code without searching every visit's
    /// codes (read where the day has one).
    pub(crate) code_visits: bool,
    /// With events and properties: the day's entry events, for a gate with
    /// property needs to select the visits with an event that carries one
    /// without walking every visit's steps ([`VisitGate::prop_needs`]; read
    /// where the day has them).
    pub(crate) entry_events: bool,
    /// Whether the visits' starts may read as their day's first instant
    /// (and their ends as that plus their exact durations): set by a day
    /// segment's reader for a whole UTC day none of whose visits the gate
    /// needs the instants of ([`VisitGate::may_need_starts`]), so that the
    /// start deltas of the visits it passes over are not summed. Never
    /// asked for by a query: the union of two sets keeps it only when both
    /// have it.
    pub(crate) approximate_starts: bool,
}

impl Columns {
    /// Every column.
    pub(crate) const ALL: Self = Self {
        ids: true,
        visitors: true,
        visit: true,
        pages: true,
        attributes: AttributeSet::ALL,
        events: true,
        event_times: true,
        event_paths: true,
        props: true,
        revenue: true,
        provenance: true,
        code_visits: true,
        entry_events: true,
        approximate_starts: false,
    };

    /// These columns without the events and what comes with them.
    pub(crate) fn without_events(self) -> Self {
        Self {
            events: false,
            event_times: false,
            event_paths: false,
            props: false,
            revenue: false,
            provenance: false,
            code_visits: false,
            entry_events: false,
            ..self
        }
    }

    /// The union of two sets of columns.
    pub(crate) fn with(self, other: Self) -> Self {
        Self {
            ids: self.ids || other.ids,
            pages: self.pages || other.pages,
            visitors: self.visitors || other.visitors,
            visit: self.visit || other.visit,
            attributes: self.attributes.with(other.attributes),
            events: self.events || other.events,
            event_times: self.event_times || other.event_times,
            event_paths: self.event_paths || other.event_paths,
            props: self.props || other.props,
            revenue: self.revenue || other.revenue,
            provenance: self.provenance || other.provenance,
            code_visits: self.code_visits || other.code_visits,
            entry_events: self.entry_events || other.entry_events,
            approximate_starts: self.approximate_starts && other.approximate_starts,
        }
    }
}

/// A set of visit attributes ([`VisitAttributes`] fields), by their column
/// in a day segment's attributes part.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub(crate) struct AttributeSet(u32);

impl AttributeSet {
    /// No attribute.
    pub(crate) const NONE: Self = Self(0);
    /// Every attribute.
    pub(crate) const ALL: Self = Self((1 << Attribute::COUNT) - 1);

    /// The set of one attribute.
    pub(crate) const fn of(attribute: Attribute) -> Self {
        Self(1 << attribute as u32)
    }

    /// Whether the set holds `attribute`.
    #[inline]
    pub(crate) const fn contains(self, attribute: Attribute) -> bool {
        self.0 & (1 << attribute as u32) != 0
    }

    /// Whether the set is empty.
    pub(crate) const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The union of two sets.
    pub(crate) const fn with(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

/// A visit attribute, numbered as the columns of a day segment's attributes
/// part are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub(crate) enum Attribute {
    /// The referrer source.
    Source = 0,
    /// The referrer URL.
    Referrer,
    /// `utm_source`.
    UtmSource,
    /// `utm_medium`.
    UtmMedium,
    /// `utm_campaign`.
    UtmCampaign,
    /// `utm_term`.
    UtmTerm,
    /// `utm_content`.
    UtmContent,
    /// The browser.
    Browser,
    /// The browser version.
    BrowserVersion,
    /// The operating system.
    Os,
    /// The operating system version.
    OsVersion,
    /// The device class.
    Device,
    /// The screen width.
    Screen,
    /// The country.
    Country,
    /// The bot and internal flags.
    Flags,
    /// The region (first subdivision). This column and the next were added
    /// after the others (migration 016): segments packed before lack them.
    Region,
    /// The city.
    City,
}

impl Attribute {
    /// How many attributes there are.
    pub(crate) const COUNT: usize = 17;

    /// The attributes a segment's attributes part may lack at its end
    /// (packed before they existed): they read as unknown for every visit.
    pub(crate) const ADDED_LATER: [Self; 2] = [Self::Region, Self::City];

    /// The attribute a filter on `dimension` compares, for the visit
    /// dimensions that are attributes (not entry and exit pages, pages,
    /// events or properties).
    pub(crate) fn of(dimension: &Dimension) -> Option<Self> {
        Some(match dimension {
            Dimension::Source => Self::Source,
            Dimension::Referrer => Self::Referrer,
            Dimension::UtmSource => Self::UtmSource,
            Dimension::UtmMedium => Self::UtmMedium,
            Dimension::UtmCampaign => Self::UtmCampaign,
            Dimension::UtmTerm => Self::UtmTerm,
            Dimension::UtmContent => Self::UtmContent,
            Dimension::Browser => Self::Browser,
            Dimension::Os => Self::Os,
            Dimension::Device => Self::Device,
            Dimension::Country => Self::Country,
            Dimension::Region => Self::Region,
            Dimension::City => Self::City,
            Dimension::ScreenSize => Self::Screen,
            _ => return None,
        })
    }

    /// The attribute's value in `attrs`, as its segment column keeps it
    /// (the device class always has one; the flags are bit 0 bot, bit 1
    /// internal).
    #[inline]
    pub(crate) fn get(self, attrs: &VisitAttributes) -> Option<i64> {
        match self {
            Self::Source => attrs.referrer_source,
            Self::Referrer => attrs.referrer_url,
            Self::UtmSource => attrs.utm_source,
            Self::UtmMedium => attrs.utm_medium,
            Self::UtmCampaign => attrs.utm_campaign,
            Self::UtmTerm => attrs.utm_term,
            Self::UtmContent => attrs.utm_content,
            Self::Browser => attrs.browser,
            Self::BrowserVersion => attrs.browser_version,
            Self::Os => attrs.os,
            Self::OsVersion => attrs.os_version,
            Self::Device => Some(attrs.device),
            Self::Screen => attrs.screen_width,
            Self::Country => attrs.country,
            Self::Flags => Some(i64::from(attrs.is_bot) | i64::from(attrs.is_internal) << 1),
            Self::Region => attrs.region,
            Self::City => attrs.city,
        }
    }

    /// The SQL expression of the attribute over a `visits` row, giving the
    /// value [`Attribute::get`] gives (SQLite's `|` and `<<` bind alike,
    /// left to right: the shift needs its parentheses).
    pub(crate) fn visits_column(self) -> &'static str {
        match self {
            Self::Source => "referrer_source",
            Self::Referrer => "referrer_url",
            Self::UtmSource => "utm_source",
            Self::UtmMedium => "utm_medium",
            Self::UtmCampaign => "utm_campaign",
            Self::UtmTerm => "utm_term",
            Self::UtmContent => "utm_content",
            Self::Browser => "browser",
            Self::BrowserVersion => "browser_version",
            Self::Os => "os",
            Self::OsVersion => "os_version",
            Self::Device => "device",
            Self::Screen => "screen_width",
            Self::Country => "country",
            Self::Flags => "(is_bot != 0) | ((is_internal != 0) << 1)",
            Self::Region => "region",
            Self::City => "city",
        }
    }

    /// Sets the attribute in `attrs` from a value [`Attribute::get`] gave;
    /// `false` when the device class or the flags have none.
    #[inline]
    pub(crate) fn set(self, attrs: &mut VisitAttributes, value: Option<i64>) -> bool {
        match self {
            Self::Source => attrs.referrer_source = value,
            Self::Referrer => attrs.referrer_url = value,
            Self::UtmSource => attrs.utm_source = value,
            Self::UtmMedium => attrs.utm_medium = value,
            Self::UtmCampaign => attrs.utm_campaign = value,
            Self::UtmTerm => attrs.utm_term = value,
            Self::UtmContent => attrs.utm_content = value,
            Self::Browser => attrs.browser = value,
            Self::BrowserVersion => attrs.browser_version = value,
            Self::Os => attrs.os = value,
            Self::OsVersion => attrs.os_version = value,
            Self::Device => match value {
                Some(device) => attrs.device = device,
                None => return false,
            },
            Self::Screen => attrs.screen_width = value,
            Self::Country => attrs.country = value,
            Self::Flags => match value {
                Some(flags) => {
                    attrs.is_bot = flags & 1 != 0;
                    attrs.is_internal = flags & 2 != 0;
                }
                None => return false,
            },
            Self::Region => attrs.region = value,
            Self::City => attrs.city = value,
        }
        true
    }

    /// Every attribute, in column order.
    pub(crate) const EVERY: [Self; Self::COUNT] = [
        Self::Source,
        Self::Referrer,
        Self::UtmSource,
        Self::UtmMedium,
        Self::UtmCampaign,
        Self::UtmTerm,
        Self::UtmContent,
        Self::Browser,
        Self::BrowserVersion,
        Self::Os,
        Self::OsVersion,
        Self::Device,
        Self::Screen,
        Self::Country,
        Self::Flags,
        Self::Region,
        Self::City,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clearing_keeps_buffers_and_forgets_values() {
        let mut record = VisitRecord {
            id: 7,
            visitor_id: 9,
            events: vec![EventRecord {
                props: (0, 1),
                ..EventRecord::default()
            }],
            props: vec![(1, 2)],
            ..VisitRecord::default()
        };
        assert_eq!(record.props_of(&record.events[0]), &[(1, 2)]);
        let capacity = record.events.capacity();
        record.clear();
        assert_eq!(record, VisitRecord::default());
        assert_eq!(record.events.capacity(), capacity);
    }

    #[test]
    fn columns_union_asks_for_what_either_asks() {
        let a = Columns {
            visitors: true,
            ..Columns::default()
        };
        let b = Columns {
            events: true,
            props: true,
            ..Columns::default()
        };
        let both = a.with(b);
        assert!(both.visitors && both.events && both.props && !both.visit);
        assert_eq!(Columns::default().with(Columns::ALL), Columns::ALL);
    }

    #[test]
    fn attribute_sets_hold_what_was_put_in() {
        let source = AttributeSet::of(Attribute::Source);
        let country = AttributeSet::of(Attribute::Country);
        let both = source.with(country);
        assert!(both.contains(Attribute::Source) && both.contains(Attribute::Country));
        assert!(!both.contains(Attribute::Browser));
        assert!(AttributeSet::NONE.is_empty() && !source.is_empty());
        for (at, attribute) in Attribute::EVERY.into_iter().enumerate() {
            assert_eq!(attribute as usize, at);
            assert!(AttributeSet::ALL.contains(attribute));
        }
        assert_eq!(AttributeSet::ALL.0.count_ones() as usize, Attribute::COUNT);
    }
}
