//! The entry events of a day segment ([`super::part::ENTRY_EVENTS`]): each
//! event that carries an entry of the revenue or properties part, with its
//! visit, its code and its time.
//!
//! The revenue and properties parts name their events by the day's event
//! index; which visit and code an index stands for, and when it happened,
//! only the steps, the start times and the event times tell, read from the
//! day's first visit on. This part says it for the few events that carry
//! entries (a few hundred of a day's tens of thousands of events), so that
//! the revenue without filters, or with filters on visit attributes only,
//! reads it beside the revenue part (and the attributes) alone
//! ([`amounts`]), and a count by code that also counts revenue and
//! properties (the Goals card) walks it instead of the steps
//! ([`super::code_entries::walk_indexed`]).
//!
//! Derived from the visits, as the code index is: [`super::encode`] writes
//! it with the segment, and the writer builds it for days packed before it
//! existed ([`build`], from [`crate::derived_parts`]); a day without it is
//! read from its steps.
//!
//! The format: `varint(visits)` (the day's, so that a reader needs no other
//! part to know them), `varint(events)`, then per event that carries an
//! entry, in event order, `varint(gap)` (its index among the day's events, counted
//! from the one after the previous entry event's), `varint(visit - the
//! previous entry event's visit)` (in start order; the first from 0), its
//! step code as a varint and `zigzag(time - the day's start)` in ms.

use super::{Damaged, DayParts, Entries, decode, event_step_code};
use crate::varint::{get_varint, put_varint, unzigzag, zigzag};
use crate::visit_record::{Columns, EventRecord, PropNeed, Take, VisitRecord};

/// One event that carries an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Event {
    /// Its index among the day's events.
    pub(crate) index: u64,
    /// Its visit's position in the day (in start order).
    pub(crate) visit: usize,
    /// Its step code ([`super::step_code`]).
    pub(crate) code: u64,
    /// Its time, in ms since the epoch.
    pub(crate) ts: i64,
}

/// One amount of an event, at the event's time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimedAmount {
    /// The event's time, in ms since the epoch.
    pub(crate) ts: i64,
    /// The amount in millionths of the currency unit.
    pub(crate) micros: i64,
    /// The currency's id (0: none given).
    pub(crate) currency: i64,
}

/// Whether `event` of `visit` carries an entry of the revenue or the
/// properties part (as [`super::encode`] writes them).
fn carries_entry(visit: &VisitRecord, event: &EventRecord) -> bool {
    event.revenue_micros.is_some() || event.currency.is_some() || !visit.props_of(event).is_empty()
}

/// The entry events of `visits` (the day's, in start order, with their
/// events, properties and revenue).
pub(crate) fn of_visits(visits: &[VisitRecord]) -> Vec<Event> {
    let mut found = Vec::new();
    let mut index = 0u64;
    for (position, visit) in visits.iter().enumerate() {
        add_visit(&mut found, &mut index, position, visit);
    }
    found
}

/// Adds the entry events of `visit`, at `position` in its day, whose first
/// event is the day's `*index`-th, and moves `*index` past its events.
fn add_visit(found: &mut Vec<Event>, index: &mut u64, position: usize, visit: &VisitRecord) {
    for event in &visit.events {
        if carries_entry(visit, event) {
            found.push(Event {
                index: *index,
                visit: position,
                code: event_step_code(event),
                ts: event.ts,
            });
        }
        *index += 1;
    }
}

/// The (unsealed) part of the day starting at `day_start_ms`, of `visits`
/// visits, that holds `events`, in event order.
pub(crate) fn encode(day_start_ms: i64, visits: usize, events: &[Event]) -> Vec<u8> {
    let mut part = Vec::with_capacity(8 + events.len() * 8);
    put_varint(&mut part, visits as u64);
    put_varint(&mut part, events.len() as u64);
    let (mut next, mut visit) = (0u64, 0usize);
    for event in events {
        put_varint(&mut part, event.index.wrapping_sub(next));
        put_varint(&mut part, event.visit.wrapping_sub(visit) as u64);
        put_varint(&mut part, event.code);
        put_varint(&mut part, zigzag(event.ts.wrapping_sub(day_start_ms)));
        next = event.index + 1;
        visit = event.visit;
    }
    part
}

/// How many visits the day of the (unsealed) part holds.
pub(crate) fn visits(part: &[u8]) -> Result<usize, Damaged> {
    usize::try_from(get_varint(part, &mut 0).ok_or(Damaged)?).map_err(|_| Damaged)
}

/// Hands `each` every event of the (unsealed) part of the day starting at
/// `day_start_ms`, in order. A part that ends early, holds more than its
/// events, or names an index, a visit or a time out of range is
/// [`Damaged`]; so is whatever `each` finds damaged.
pub(crate) fn read(
    day_start_ms: i64,
    part: &[u8],
    mut each: impl FnMut(Event) -> Result<(), Damaged>,
) -> Result<(), Damaged> {
    let mut at = 0;
    let mut next = || get_varint(part, &mut at).ok_or(Damaged);
    let visits = next()?;
    let count = next()?;
    let (mut index, mut visit) = (0u64, 0usize);
    for _ in 0..count {
        index = index.checked_add(next()?).ok_or(Damaged)?;
        let gap = usize::try_from(next()?).map_err(|_| Damaged)?;
        visit = visit.checked_add(gap).ok_or(Damaged)?;
        if visit as u64 >= visits {
            return Err(Damaged);
        }
        let code = next()?;
        let ts = day_start_ms.checked_add(unzigzag(next()?)).ok_or(Damaged)?;
        each(Event {
            index,
            visit,
            code,
            ts,
        })?;
        index = index.checked_add(1).ok_or(Damaged)?;
    }
    if at == part.len() {
        Ok(())
    } else {
        Err(Damaged)
    }
}

/// Hands `each` every entry of `list` (the day's revenue or properties
/// part, unsealed) with its event from the (unsealed) entry events part
/// `events` of the day starting at `day_start_ms`, and whether `selected`
/// selects its visit (`None`: every visit, else one flag per visit); `each`
/// reads the entry from the list. An entry whose event the entry events do
/// not name makes the day [`Damaged`].
fn with_entries(
    day_start_ms: i64,
    (events, list): (&[u8], &[u8]),
    selected: Option<&[bool]>,
    mut each: impl FnMut(&mut Entries<'_>, Event, bool) -> Result<(), Damaged>,
) -> Result<(), Damaged> {
    if selected.is_some_and(|selected| Ok(selected.len()) != visits(events)) {
        return Err(Damaged);
    }
    let mut entries = Entries::new(list)?;
    read(day_start_ms, events, |event| {
        if entries.next == event.index {
            // The visit is below the day's count, which `selected` has.
            let taken = selected.is_none_or(|selected| selected[event.visit]);
            each(&mut entries, event, taken)
        } else if entries.next < event.index {
            Err(Damaged)
        } else {
            Ok(())
        }
    })?;
    if entries.finished() {
        Ok(())
    } else {
        Err(Damaged)
    }
}

/// Hands `each` every amount of the visits of the day starting at
/// `day_start_ms` that `selected` selects (see [`with_entries`]), at its
/// event's time, from the (unsealed) entry events part `events` and revenue
/// part `revenue`.
pub(crate) fn amounts(
    day_start_ms: i64,
    (events, revenue): (&[u8], &[u8]),
    selected: Option<&[bool]>,
    mut each: impl FnMut(TimedAmount),
) -> Result<(), Damaged> {
    with_entries(
        day_start_ms,
        (events, revenue),
        selected,
        |entries, event, taken| {
            let (micros, currency) = entries.pair(event.index)?;
            if let Some(micros) = micros.filter(|_| taken) {
                each(TimedAmount {
                    ts: event.ts,
                    micros,
                    currency: currency.unwrap_or(0),
                });
            }
            Ok(())
        },
    )
}

/// Hands `each` every event with properties of the visits of the day
/// starting at `day_start_ms` that `selected` selects (see
/// [`with_entries`]), with its property pairs `(key id, value id)` sorted
/// by key, from the (unsealed) entry events part `events` and properties
/// part `props`; so is whatever `each` finds [`Damaged`].
pub(crate) fn props(
    day_start_ms: i64,
    (events, props): (&[u8], &[u8]),
    selected: Option<&[bool]>,
    mut each: impl FnMut(Event, &[(i64, i64)]) -> Result<(), Damaged>,
) -> Result<(), Damaged> {
    let mut pairs = Vec::new();
    with_entries(
        day_start_ms,
        (events, props),
        selected,
        |entries, event, taken| {
            pairs.clear();
            entries.props(event.index, |key, value| pairs.push((key, value)))?;
            if taken { each(event, &pairs) } else { Ok(()) }
        },
    )
}

/// A gate's property needs ([`crate::visit_record::VisitGate::prop_needs`])
/// as bits: which of them the property pairs of one event meet. (A query
/// has a need per property filter: beyond eight, the first eight select,
/// which every visit that meets all of them meets too.)
#[derive(Debug, Clone, Copy)]
pub(crate) struct NeedBits<'a> {
    needs: &'a [PropNeed],
}

impl<'a> NeedBits<'a> {
    pub(crate) fn new(needs: &'a [PropNeed]) -> Self {
        Self {
            needs: &needs[..needs.len().min(8)],
        }
    }

    /// The bits of a visit that meets every need.
    pub(crate) fn all(self) -> u8 {
        ((1u16 << self.needs.len()) - 1) as u8
    }

    /// The needs that an event with the property pairs `pairs` meets.
    pub(crate) fn met(self, pairs: &[(i64, i64)]) -> u8 {
        self.needs.iter().enumerate().fold(0, |met, (bit, need)| {
            let carried = pairs
                .iter()
                .any(|&(key, value)| key == need.key && need.value.is_none_or(|v| v == value));
            met | u8::from(carried) << bit
        })
    }
}

/// Per visit of the day starting at `day_start_ms`, of `count` visits,
/// whether its events carry every one of `needs` (each on some event of
/// it, see [`NeedBits`]), from the (unsealed) entry events part `events`
/// and properties part `props`. A part that holds another number of
/// visits makes the day [`Damaged`].
pub(crate) fn prop_holders(
    day_start_ms: i64,
    (events, props): (&[u8], &[u8]),
    count: usize,
    needs: &[PropNeed],
) -> Result<Vec<bool>, Damaged> {
    if visits(events)? != count {
        return Err(Damaged);
    }
    let needs = NeedBits::new(needs);
    // Per visit, the needs its events met so far.
    let mut met = vec![0u8; count];
    self::props(day_start_ms, (events, props), None, |event, pairs| {
        met[event.visit] |= needs.met(pairs);
        Ok(())
    })?;
    Ok(met.into_iter().map(|bits| bits == needs.all()).collect())
}

/// The columns [`build`] decodes.
pub(crate) fn build_columns() -> Columns {
    Columns {
        events: true,
        event_times: true,
        props: true,
        revenue: true,
        ..Columns::default()
    }
}

/// The part of the day starting at `day_start_ms` built from its other
/// (unsealed) parts, those of [`build_columns`]: for a day packed before
/// the part existed, and for `mallard check` to compare a stored one with.
pub(crate) fn build(day_start_ms: i64, parts: &DayParts<'_>) -> Result<Vec<u8>, Damaged> {
    let (mut found, mut index, mut visits) = (Vec::new(), 0u64, 0usize);
    let mut record = VisitRecord::default();
    decode(
        day_start_ms,
        parts,
        build_columns(),
        (i64::MIN, i64::MAX),
        &mut record,
        &|_: &VisitRecord| Take::Events,
        None,
        |visit| {
            add_visit(&mut found, &mut index, visits, visit);
            visits += 1;
        },
    )?;
    Ok(encode(day_start_ms, visits, &found))
}
