//! The events of a day that carry revenue or properties, each with its code
//! and visit, found without decoding any visit: what a day counted from its
//! code index alone ([`super::fold_codes`]) reads beside the index for a
//! query that counts those entries too (the Goals card's revenue and its
//! property goals, see [`crate::visit_record::VisitGate::entries_beside_codes`]).
//!
//! The revenue and properties parts name their events by the day's event
//! index. The steps part tells each visit's events: the number of its codes,
//! counted eight bytes at a time ([`super::events_at`]), says where its
//! events end. Only a visit that holds an entry has its codes read, up to
//! that entry's event. A day with its entry events part
//! ([`super::entry_events`]) reads each entry's visit and code there
//! instead, without the steps ([`walk_indexed`]).
//!
//! A reader that keeps only the events that carry properties (the export
//! under a filter on a property, all of whose events carry one) reads a
//! day's visits from the entry events too ([`visits_with_props`]): the
//! properties, revenue and provenance entries by the events' indexes, the
//! attributes and visit ids by the visits' positions, and the steps only to
//! count the custom events before one, whose page path the event paths
//! part holds in custom event order. The start times, the event times, the
//! visitor ids and the visit part are not read.

use super::{
    Damaged, DayParts, DayScreen, Entries, STEPS_FORMAT, entry_events, events_at, fill_attributes,
    next_codes, part, read_attributes, run_events, skip_varints,
};
use crate::varint::{get_varint, unzigzag};
use crate::visit_record::{AttributeSet, EventRecord, Take, VisitGate, VisitRecord};

/// One event that carries an entry: its visit's position in the day, its
/// code, its revenue `(micros, currency)` and its property pairs.
pub(super) struct EntryEvent<'a> {
    pub(super) visit: usize,
    pub(super) code: u64,
    pub(super) revenue: (Option<i64>, Option<i64>),
    pub(super) props: &'a [(i64, i64)],
}

/// The revenue and properties entries of a day being read in event order
/// (either list `None` when not read).
struct DayEntries<'a> {
    revenue: Option<Entries<'a>>,
    props: Option<Entries<'a>>,
    /// The property pairs of the entry taken last.
    pairs: Vec<(i64, i64)>,
}

impl<'a> DayEntries<'a> {
    fn new((revenue, props): (Option<&'a [u8]>, Option<&'a [u8]>)) -> Result<Self, Damaged> {
        Ok(Self {
            revenue: revenue.map(Entries::new).transpose()?,
            props: props.map(Entries::new).transpose()?,
            pairs: Vec::new(),
        })
    }

    /// The day's index of the next event with an entry (`u64::MAX` when
    /// none is left).
    fn upcoming(&self) -> u64 {
        let next = |entries: &Option<Entries<'_>>| entries.as_ref().map_or(u64::MAX, |e| e.next);
        next(&self.revenue).min(next(&self.props))
    }

    /// Takes the entries of the event of `index` (the upcoming one): its
    /// revenue `(micros, currency)`, and its property pairs into
    /// [`Self::pairs`].
    fn take(&mut self, index: u64) -> Result<(Option<i64>, Option<i64>), Damaged> {
        let mut amount = (None, None);
        if let Some(entries) = self.revenue.as_mut()
            && entries.next == index
        {
            amount = entries.pair(index)?;
        }
        self.pairs.clear();
        if let Some(entries) = self.props.as_mut()
            && entries.next == index
        {
            let pairs = &mut self.pairs;
            entries.props(index, |key, value| pairs.push((key, value)))?;
        }
        Ok(amount)
    }

    /// Whether every entry was taken and the lists hold nothing more.
    fn finished(&self) -> bool {
        self.revenue.as_ref().is_none_or(Entries::finished)
            && self.props.as_ref().is_none_or(Entries::finished)
    }
}

/// Hands `each` every event of a day of `count` visits that carries an
/// entry of `revenue` or `props` (unsealed parts; `None`: not read), in
/// event order, if its visit is in `selected` (`None`: every visit), from
/// the (unsealed) steps part `steps`. Entries that name no event of the day
/// make it [`Damaged`].
pub(super) fn walk(
    steps: &[u8],
    count: usize,
    parts: (Option<&[u8]>, Option<&[u8]>),
    selected: Option<&[bool]>,
    mut each: impl FnMut(EntryEvent<'_>),
) -> Result<(), Damaged> {
    if steps.first() != Some(&STEPS_FORMAT) {
        return Err(Damaged);
    }
    let mut entries = DayEntries::new(parts)?;
    let (mut at, mut first_event) = (1, 0u64);
    for visit in 0..count {
        let mut upcoming = entries.upcoming();
        if upcoming == u64::MAX {
            break;
        }
        let codes_at = at;
        let end = first_event
            .checked_add(events_at(steps, &mut at)?)
            .ok_or(Damaged)?;
        if upcoming >= end {
            first_event = end;
            continue;
        }
        let taken = selected.is_none_or(|selected| selected.get(visit) == Some(&true));
        let mut codes_start = codes_at;
        let codes = next_codes(steps, &mut codes_start)?;
        // The position in `codes` of the event after `code`'s.
        let (mut code_at, mut after, mut code) = (0, first_event, 0);
        while upcoming < end {
            let index = upcoming;
            while after <= index {
                code = get_varint(codes, &mut code_at).ok_or(Damaged)?;
                after += 1;
            }
            let amount = entries.take(index)?;
            if taken {
                each(EntryEvent {
                    visit,
                    code,
                    revenue: amount,
                    props: &entries.pairs,
                });
            }
            upcoming = entries.upcoming();
        }
        first_event = end;
    }
    if entries.finished() {
        Ok(())
    } else {
        Err(Damaged)
    }
}

/// [`walk`] from the day's (unsealed) entry events part `events`
/// ([`entry_events`]) instead of its steps: each entry's visit and code are
/// read there. An entry event that no entry names, or an entry that no
/// entry event names, makes the day [`Damaged`].
pub(super) fn walk_indexed(
    events: &[u8],
    count: usize,
    parts: (Option<&[u8]>, Option<&[u8]>),
    selected: Option<&[bool]>,
    mut each: impl FnMut(EntryEvent<'_>),
) -> Result<(), Damaged> {
    if entry_events::visits(events)? != count {
        return Err(Damaged);
    }
    let mut entries = DayEntries::new(parts)?;
    // The entry events name the events of both parts; a query that reads
    // one of them passes over the others.
    entry_events::read(0, events, |event| {
        let upcoming = entries.upcoming();
        if upcoming < event.index {
            return Err(Damaged);
        }
        if upcoming > event.index {
            return Ok(());
        }
        let amount = entries.take(event.index)?;
        if selected.is_none_or(|selected| selected.get(event.visit) == Some(&true)) {
            each(EntryEvent {
                visit: event.visit,
                code: event.code,
                revenue: amount,
                props: &entries.pairs,
            });
        }
        Ok(())
    })?;
    if entries.finished() {
        Ok(())
    } else {
        Err(Damaged)
    }
}

/// The parts [`visits_with_props`] reads.
pub(crate) const VISITS_WITH_PROPS_PARTS: [bool; part::COUNT] = {
    let mut wanted = [false; part::COUNT];
    let read = [
        part::STEPS,
        part::ATTRIBUTES,
        part::EVENT_PATHS,
        part::PROPS,
        part::REVENUE,
        part::IDS,
        part::PROVENANCE,
        part::ENTRY_EVENTS,
    ];
    let mut at = 0;
    while at < read.len() {
        wanted[read[at] as usize] = true;
        at += 1;
    }
    wanted
};

/// A walk over a day's steps part that counts the custom events before an
/// event: the visit whose codes come next, and the events and custom
/// events of the visits before it.
struct CustomCount<'a> {
    steps: &'a [u8],
    at: usize,
    visit: usize,
    events: u64,
    custom: u64,
}

impl CustomCount<'_> {
    /// The day's number of custom events before the event of day index
    /// `index`, of the visit at position `visit` (never before one asked
    /// for earlier).
    fn before(&mut self, visit: usize, index: u64) -> Result<u64, Damaged> {
        let run = visit.checked_sub(self.visit).ok_or(Damaged)?;
        if run > 0 {
            let (events, custom) = run_events(self.steps, &mut self.at, run, true)?;
            self.events += events;
            self.custom += custom;
            self.visit = visit;
        }
        let mut at = self.at;
        let codes = next_codes(self.steps, &mut at)?;
        let mut code_at = 0;
        let mut custom = self.custom;
        for _ in 0..index.checked_sub(self.events).ok_or(Damaged)? {
            custom += get_varint(codes, &mut code_at).ok_or(Damaged)? & 1;
        }
        Ok(custom)
    }
}

/// Hands `each` (in `record`) every visit of the day starting at
/// `day_start_ms` that meets `gate`'s attribute conditions and property
/// needs ([`VisitGate::prop_needs`]) and that the gate takes, with only its
/// events that carry properties, in order, each with its time, code, page
/// path, properties, revenue, host name and consent; with its id and every
/// attribute. Its start and end read as `day_start_ms`; its visitor and
/// counters are not read. `parts` (unsealed) must hold
/// [`VISITS_WITH_PROPS_PARTS`]; parts that disagree make the day
/// [`Damaged`]. One walk over the entry events gathers each visit's events
/// with properties and which needs they meet; a visit that meets them all
/// and passes the attribute screen then has its id, attributes and custom
/// events' paths read.
pub(crate) fn visits_with_props(
    day_start_ms: i64,
    parts: &DayParts<'_>,
    gate: &impl VisitGate,
    record: &mut VisitRecord,
    mut each: impl FnMut(&VisitRecord),
) -> Result<(), Damaged> {
    let part = |id: i64| parts[id as usize].ok_or(Damaged);
    let (events, attributes, steps) = (
        part(part::ENTRY_EVENTS)?,
        part(part::ATTRIBUTES)?,
        part(part::STEPS)?,
    );
    if steps.first() != Some(&STEPS_FORMAT) {
        return Err(Damaged);
    }
    let count = entry_events::visits(events)?;
    let screen = DayScreen::new(Some(attributes), count, gate.attribute_conditions())?;
    if screen.rejects_every_visit() {
        return Ok(());
    }
    let mut day = DayWithProps {
        screen,
        columns: read_attributes(attributes, AttributeSet::ALL, count)?,
        needs: entry_events::NeedBits::new(gate.prop_needs()),
        custom: CustomCount {
            steps,
            at: 1,
            visit: 0,
            events: 0,
            custom: 0,
        },
        paths: (part(part::EVENT_PATHS)?, 0, 0),
        ids: (part(part::IDS)?, 0, 0, 0),
        indexes: Vec::new(),
        met: 0,
    };
    let mut entries = DayEntries::new((Some(part(part::REVENUE)?), Some(part(part::PROPS)?)))?;
    let mut provenance = Entries::new(part(part::PROVENANCE)?)?;
    // The visit whose events `record` gathers.
    let mut current: Option<usize> = None;
    record.clear();
    entry_events::read(day_start_ms, events, |event| {
        // Every entry event carries a revenue or properties entry.
        if entries.upcoming() != event.index {
            return Err(Damaged);
        }
        let (revenue_micros, currency) = entries.take(event.index)?;
        while provenance.next < event.index {
            let passed = provenance.next;
            provenance.pair(passed)?;
        }
        let (hostname, consent) = if provenance.next == event.index {
            provenance.pair(event.index)?
        } else {
            (None, None)
        };
        // A host name is stored only when it is not the site's.
        if hostname == Some(crate::insert::SITE_HOSTNAME) {
            return Err(Damaged);
        }
        if entries.pairs.is_empty() {
            return Ok(());
        }
        if current != Some(event.visit) {
            if let Some(visit) = current {
                day.hand_over(visit, day_start_ms, gate, record, &mut each)?;
            }
            current = Some(event.visit);
            record.events.clear();
            record.props.clear();
            day.indexes.clear();
            day.met = 0;
        }
        day.met |= day.needs.met(&entries.pairs);
        let first = record.props.len() as u32;
        record.props.extend_from_slice(&entries.pairs);
        record.events.push(EventRecord {
            ts: event.ts,
            pageview: event.code & 1 == 0,
            code: (event.code >> 1) as i64,
            pathname: 0,
            props: (first, record.props.len() as u32),
            revenue_micros,
            currency,
            hostname: hostname.unwrap_or(crate::insert::SITE_HOSTNAME),
            consent,
        });
        day.indexes.push(event.index);
        Ok(())
    })?;
    if let Some(visit) = current {
        day.hand_over(visit, day_start_ms, gate, record, &mut each)?;
    }
    if entries.finished() {
        Ok(())
    } else {
        Err(Damaged)
    }
}

/// What [`visits_with_props`] reads of a day beside its entries.
struct DayWithProps<'a> {
    screen: DayScreen<'a>,
    columns: super::AttributeColumns<'a>,
    /// The gate's property needs.
    needs: entry_events::NeedBits<'a>,
    custom: CustomCount<'a>,
    /// The event paths part, the position in it, and the custom event
    /// whose path is there.
    paths: (&'a [u8], usize, u64),
    /// The visit ids part, the position in it, the visit whose id is there
    /// and the id before it.
    ids: (&'a [u8], usize, usize, i64),
    /// The day's indexes of the events gathered in the record.
    indexes: Vec<u64>,
    /// The needs the events gathered meet, a bit each.
    met: u8,
}

impl DayWithProps<'_> {
    /// Hands `record` (the events with properties of the visit at position
    /// `visit`) to `each` when the visit meets every need, passes the
    /// screen and the gate takes it, with its id, attributes and custom
    /// events' paths read first.
    fn hand_over(
        &mut self,
        visit: usize,
        day_start_ms: i64,
        gate: &impl VisitGate,
        record: &mut VisitRecord,
        each: &mut impl FnMut(&VisitRecord),
    ) -> Result<(), Damaged> {
        if self.met != self.needs.all() || !self.screen.passes(visit)? {
            return Ok(());
        }
        let (ids, at_id, next_visit, id) = &mut self.ids;
        while *next_visit <= visit {
            *id = id.wrapping_add(unzigzag(get_varint(ids, at_id).ok_or(Damaged)?));
            *next_visit += 1;
        }
        record.id = *id;
        record.events_read = true;
        record.start_ts = day_start_ms;
        record.end_ts = day_start_ms;
        fill_attributes(&self.columns, visit, &mut record.attrs)?;
        if gate.take(record) == Take::Skip {
            return Ok(());
        }
        for (event, &index) in record.events.iter_mut().zip(&self.indexes) {
            event.pathname = if event.pageview {
                event.code
            } else {
                // The custom events' paths are in custom event order.
                let ordinal = self.custom.before(visit, index)?;
                let (paths, at_path, next_path) = &mut self.paths;
                skip_varints(
                    paths,
                    at_path,
                    ordinal.checked_sub(*next_path).ok_or(Damaged)?,
                )?;
                *next_path = ordinal + 1;
                get_varint(paths, at_path).ok_or(Damaged)? as i64
            };
        }
        each(record);
        Ok(())
    }
}
