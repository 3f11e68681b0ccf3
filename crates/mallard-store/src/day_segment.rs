//! The columnar day segment: the byte format of a closed UTC day of a site.
//!
//! A segment holds everything the rows hold for the visits that start on its
//! day and all their events, one column per part (a row of `day_segments`,
//! migration 012), so that a query reads only the columns it asks for
//! ([`Columns`]). The lifecycle (when a day is packed, unpacked, read) is in
//! [`crate::visit_paths`]; this module is the pure format: [`encode`] turns a
//! day's [`VisitRecord`]s (in start order, ties by id) into parts and
//! [`decode`] reads them back. Every part ends with the CRC-32 of the bytes
//! before it (4 bytes, little-endian, [`seal`]); a part that fails it or does
//! not decode is [`Damaged`], never a panic.
//!
//! The parts, for `n` visits in start order:
//!
//! - [`part::STARTS`]: `varint(n)`, then each visit's start in ms as
//!   `varint(start - previous start)` (the first from the day's start);
//! - [`part::STEPS`]: the format byte [`STEPS_FORMAT`], then per visit
//!   `varint(byte length)` and one `varint(code)` per event in time order
//!   (ties by event id): `path id << 1` for a page view, `event name id << 1
//!   | 1` otherwise;
//! - [`part::VISITORS`]: a width byte `w` (6 or 8), then each visitor id in
//!   `w` little-endian bytes;
//! - [`part::VISIT`]: per visit `varint(end - start)`, then four dictionary
//!   columns: page views, events, entry page, exit page;
//! - [`part::ATTRIBUTES`]: seventeen dictionary columns, each prefixed by
//!   its byte length: referrer source, referrer URL, the five UTM fields,
//!   browser, browser version, OS, OS version, device, screen width,
//!   country, the flags (bit 0 bot, bit 1 internal), region and city. A
//!   segment packed before region and city existed (migration 016) ends
//!   after the flags: its visits read them as unknown
//!   ([`Attribute::ADDED_LATER`]);
//! - [`part::EVENT_TIMES`]: per event `varint(time - previous time)` in ms
//!   (the visit's first event from the visit's start), exact;
//! - [`part::EVENT_PATHS`]: per custom event `varint(page path id)` (a page
//!   view's path is its code);
//! - [`part::PROPS`]: `varint(entries)`, then per event with properties
//!   `varint(gap)` (its index among the day's events, counted from the one
//!   after the previous entry's), `varint(pairs)` and per pair, sorted by
//!   key, `varint(key - previous key)` and `zigzag(value)`;
//! - [`part::REVENUE`]: `varint(entries)`, then per event with revenue
//!   `varint(gap)`, a tag byte (bit 0 amount, bit 1 currency),
//!   `zigzag(micros)` and `zigzag(currency id)` when present;
//! - [`part::IDS`]: each visit's row id as `zigzag(id - previous id)` (the
//!   first from 0): the sessions list and the exports name visits by it, and
//!   it orders visits that start at the same instant;
//! - [`part::PROVENANCE`]: `varint(entries)`, then per event sent from
//!   another host than the site's own or with a collector consent
//!   `varint(gap)`, a tag byte (bit 0 host, bit 1 consent), `zigzag(host
//!   name id)` and `zigzag(consent id)` when present;
//! - [`part::CODE_VISITS`]: for each event code of the day, the visits
//!   whose events hold it and how often ([`code_visits`]), which filters on
//!   a page or an event name read instead of searching every visit's codes,
//!   and which counts by page or event name over visits chosen by their
//!   attributes read alone. It is derived from the steps alone and
//!   optional: a day packed before it existed is read without it (part 11,
//!   [`part::CODE_VISITS_BEFORE_REPEATS`], is an earlier form of it that is
//!   no longer read);
//! - [`part::ENTRY_EVENTS`]: the day's number of visits, then each event
//!   that carries revenue or properties with its index, visit, code and
//!   time ([`entry_events`]), which the revenue of a period without filters
//!   (or with filters on visit attributes only) reads beside the revenue
//!   part instead of the steps and times, and a count by code beside the
//!   code index instead of the steps. Derived and optional too.
//!
//! A dictionary column is the day's distinct values, most frequent first:
//! `varint(count)`, `varint(0, or 1 + the position of None)`, each other
//! value as `zigzag`, then every visit's position in the dictionary packed in
//! the fewest bits that hold the largest (none when the day has one value),
//! low bits first. Low-cardinality columns (device, browser, a day without
//! UTM tags) then take a few bits a visit or nothing.

mod code_entries;
pub(crate) mod code_visits;
pub(crate) use code_entries::{VISITS_WITH_PROPS_PARTS, visits_with_props};
pub(crate) mod entry_events;
mod whole_visits;

use rustc_hash::FxHashMap;

use crate::varint::{get_varint, put_varint, unzigzag, zigzag};
use crate::visit_record::{
    Attribute, AttributeCondition, AttributeSet, CodeCount, CodeEntry, CodeEvents, Columns,
    EntryNeed, EventRecord, PropNeed, StepNeed, Take, VisitGate, VisitRecord, WholeVisits,
};
use crate::visits::VisitAttributes;
use whole_visits::{Spans, gather_whole};

/// The parts of a day segment (`day_segments.part`).
pub(crate) mod part {
    /// Start times.
    pub(crate) const STARTS: i64 = 0;
    /// Event codes per visit.
    pub(crate) const STEPS: i64 = 1;
    /// Visitor ids.
    pub(crate) const VISITORS: i64 = 2;
    /// End, counts, entry and exit pages.
    pub(crate) const VISIT: i64 = 3;
    /// Source, referrer, UTM, browser, OS, device, screen, country, flags.
    pub(crate) const ATTRIBUTES: i64 = 4;
    /// Event times.
    pub(crate) const EVENT_TIMES: i64 = 5;
    /// The page paths of custom events.
    pub(crate) const EVENT_PATHS: i64 = 6;
    /// Custom properties.
    pub(crate) const PROPS: i64 = 7;
    /// Revenue.
    pub(crate) const REVENUE: i64 = 8;
    /// Visit ids.
    pub(crate) const IDS: i64 = 9;
    /// Each event's host name and collector consent, where they are not the
    /// defaults.
    pub(crate) const PROVENANCE: i64 = 10;
    /// The code index as it was before it said how often a visit holds a
    /// code: no longer read, and replaced by [`CODE_VISITS`] as the writer
    /// rebuilds it ([`crate::derived_parts`]).
    pub(crate) const CODE_VISITS_BEFORE_REPEATS: i64 = 11;
    /// For each event code, the visits that hold it and how often
    /// ([`super::code_visits`]); optional, derived from the steps.
    pub(crate) const CODE_VISITS: i64 = 12;
    /// The events that carry revenue or properties, with their visits,
    /// codes and times ([`super::entry_events`]); optional, derived from
    /// the visits.
    pub(crate) const ENTRY_EVENTS: i64 = 13;
    /// How many parts a segment has (with the one no longer read).
    pub(crate) const COUNT: usize = 14;
    /// The part whose presence says a day is in this format: days packed
    /// before it (parts 0 to 2 only before migration 012, parts 0 to 9
    /// before the rows of packed days were deleted) still have their rows,
    /// and are read from them until the writer packs them again.
    pub(crate) const MARKER: i64 = PROVENANCE;
    /// The largest part id.
    pub(crate) const LAST: i64 = ENTRY_EVENTS;
    /// The parts derived from the others, which days packed before they
    /// existed lack until the writer adds them ([`crate::derived_parts`]).
    pub(crate) const DERIVED: [i64; 2] = [CODE_VISITS, ENTRY_EVENTS];

    /// Whether a segment in the current format may lack part `id`: a
    /// derived part, which days packed before it existed do not have.
    pub(crate) const fn is_optional(id: i64) -> bool {
        id == CODE_VISITS || id == CODE_VISITS_BEFORE_REPEATS || id == ENTRY_EVENTS
    }
}

/// The first byte of a steps part. Format 2 (before migration 012) had start
/// seconds and no checksums; format 1 had a dictionary.
pub(crate) const STEPS_FORMAT: u8 = 3;

/// A part that fails its checksum or cannot be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Damaged;

/// How many bytes a checksum takes at the end of every part.
const CHECKSUM_BYTES: usize = 4;

/// Appends the CRC-32 of `payload` to it.
pub(crate) fn seal(mut payload: Vec<u8>) -> Vec<u8> {
    let crc = crc32fast::hash(&payload);
    payload.extend_from_slice(&crc.to_le_bytes());
    payload
}

/// The payload of a sealed part, once its checksum matches.
pub(crate) fn unseal(part: &[u8]) -> Result<&[u8], Damaged> {
    let split = part.len().checked_sub(CHECKSUM_BYTES).ok_or(Damaged)?;
    let (payload, crc) = part.split_at(split);
    let crc = u32::from_le_bytes(<[u8; CHECKSUM_BYTES]>::try_from(crc).map_err(|_| Damaged)?);
    if crc32fast::hash(payload) == crc {
        Ok(payload)
    } else {
        Err(Damaged)
    }
}

/// The code of a page view of path `id` (`pageview`), else of a custom event
/// of name `id`.
pub(crate) fn step_code(id: i64, pageview: bool) -> u64 {
    ((id as u64) << 1) | u64::from(!pageview)
}

/// The step code of a recorded event.
fn event_step_code(event: &EventRecord) -> u64 {
    step_code(event.code, event.pageview)
}

/// Encodes the visits of the day starting at `day_start_ms`, in start order
/// (ties by id), as sealed parts `(part id, bytes)`.
pub(crate) fn encode(day_start_ms: i64, visits: &[VisitRecord]) -> Vec<(i64, Vec<u8>)> {
    let events: usize = visits.iter().map(|v| v.events.len()).sum();
    let mut starts = Vec::with_capacity(4 + visits.len() * 3);
    put_varint(&mut starts, visits.len() as u64);
    let mut previous = day_start_ms;
    for visit in visits {
        put_varint(&mut starts, visit.start_ts.wrapping_sub(previous) as u64);
        previous = visit.start_ts;
    }
    let mut ids = Vec::with_capacity(visits.len() * 2);
    let mut previous_id = 0i64;
    for visit in visits {
        put_varint(&mut ids, zigzag(visit.id.wrapping_sub(previous_id)));
        previous_id = visit.id;
    }

    let mut steps = Vec::with_capacity(1 + visits.len() + events * 2);
    steps.push(STEPS_FORMAT);
    let mut codes = Vec::new();
    let mut times = Vec::with_capacity(events * 3);
    let mut paths = Vec::new();
    let mut props = Vec::new();
    let mut props_entries = 0u64;
    let mut revenue = Vec::new();
    let mut revenue_entries = 0u64;
    let mut provenance = Vec::new();
    let mut provenance_entries = 0u64;
    // The day's index of the event after the previous entry of each list.
    let (mut props_next, mut revenue_next, mut provenance_next) = (0u64, 0u64, 0u64);
    let mut index = 0u64;
    // Each event's code with its visit's index, for the code index.
    let mut code_pairs: Vec<(u64, u32)> = Vec::with_capacity(events);
    for (visit_index, visit) in visits.iter().enumerate() {
        codes.clear();
        let mut time = visit.start_ts;
        for event in &visit.events {
            put_varint(&mut codes, event_step_code(event));
            code_pairs.push((event_step_code(event), visit_index as u32));
            put_varint(&mut times, event.ts.wrapping_sub(time) as u64);
            time = event.ts;
            if !event.pageview {
                put_varint(&mut paths, event.pathname as u64);
            }
            let pairs = visit.props_of(event);
            if !pairs.is_empty() {
                props_entries += 1;
                put_varint(&mut props, index - props_next);
                put_varint(&mut props, pairs.len() as u64);
                let mut key = 0i64;
                for &(k, value) in pairs {
                    put_varint(&mut props, k.wrapping_sub(key) as u64);
                    put_varint(&mut props, zigzag(value));
                    key = k;
                }
                props_next = index + 1;
            }
            if event.revenue_micros.is_some() || event.currency.is_some() {
                revenue_entries += 1;
                put_varint(&mut revenue, index - revenue_next);
                let tag = u8::from(event.revenue_micros.is_some())
                    | u8::from(event.currency.is_some()) << 1;
                revenue.push(tag);
                if let Some(micros) = event.revenue_micros {
                    put_varint(&mut revenue, zigzag(micros));
                }
                if let Some(currency) = event.currency {
                    put_varint(&mut revenue, zigzag(currency));
                }
                revenue_next = index + 1;
            }
            let foreign_host = event.hostname != crate::insert::SITE_HOSTNAME;
            if foreign_host || event.consent.is_some() {
                provenance_entries += 1;
                put_varint(&mut provenance, index - provenance_next);
                provenance.push(u8::from(foreign_host) | u8::from(event.consent.is_some()) << 1);
                if foreign_host {
                    put_varint(&mut provenance, zigzag(event.hostname));
                }
                if let Some(consent) = event.consent {
                    put_varint(&mut provenance, zigzag(consent));
                }
                provenance_next = index + 1;
            }
            index += 1;
        }
        put_varint(&mut steps, codes.len() as u64);
        steps.extend_from_slice(&codes);
    }
    let mut props_part = Vec::with_capacity(props.len() + 4);
    put_varint(&mut props_part, props_entries);
    props_part.extend_from_slice(&props);
    let mut revenue_part = Vec::with_capacity(revenue.len() + 4);
    put_varint(&mut revenue_part, revenue_entries);
    revenue_part.extend_from_slice(&revenue);
    let mut provenance_part = Vec::with_capacity(provenance.len() + 4);
    put_varint(&mut provenance_part, provenance_entries);
    provenance_part.extend_from_slice(&provenance);

    let width: usize = if visits.iter().all(|v| (0..1 << 48).contains(&v.visitor_id)) {
        6
    } else {
        8
    };
    let mut visitors = Vec::with_capacity(1 + visits.len() * width);
    visitors.push(width as u8);
    for visit in visits {
        visitors.extend_from_slice(&visit.visitor_id.to_le_bytes()[..width]);
    }

    let mut visit_part = Vec::with_capacity(visits.len() * 3);
    for visit in visits {
        put_varint(
            &mut visit_part,
            visit.end_ts.wrapping_sub(visit.start_ts) as u64,
        );
    }
    let column = |get: &dyn Fn(&VisitRecord) -> Option<i64>| -> Vec<Option<i64>> {
        visits.iter().map(get).collect()
    };
    put_dict(&mut visit_part, &column(&|v| Some(v.pageviews)));
    put_dict(&mut visit_part, &column(&|v| Some(v.events_count)));
    put_dict(&mut visit_part, &column(&|v| v.entry_page));
    put_dict(&mut visit_part, &column(&|v| v.exit_page));

    let mut attributes = Vec::with_capacity(visits.len() * 4);
    let mut one = Vec::new();
    for attribute in Attribute::EVERY {
        one.clear();
        put_dict(&mut one, &column(&|v| attribute.get(&v.attrs)));
        put_varint(&mut attributes, one.len() as u64);
        attributes.extend_from_slice(&one);
    }

    [
        (part::STARTS, starts),
        (part::STEPS, steps),
        (part::VISITORS, visitors),
        (part::VISIT, visit_part),
        (part::ATTRIBUTES, attributes),
        (part::EVENT_TIMES, times),
        (part::EVENT_PATHS, paths),
        (part::PROPS, props_part),
        (part::REVENUE, revenue_part),
        (part::IDS, ids),
        (part::PROVENANCE, provenance_part),
        (part::CODE_VISITS, code_visits::from_pairs(code_pairs)),
        (
            part::ENTRY_EVENTS,
            entry_events::encode(day_start_ms, visits.len(), &entry_events::of_visits(visits)),
        ),
    ]
    .into_iter()
    .map(|(id, payload)| (id, seal(payload)))
    .collect()
}

/// The number of bits that hold every position below `count`.
fn bits_for(count: usize) -> u32 {
    usize::BITS - count.saturating_sub(1).leading_zeros()
}

/// Appends `values` as a dictionary column (see the module documentation).
fn put_dict(out: &mut Vec<u8>, values: &[Option<i64>]) {
    let mut counts: FxHashMap<Option<i64>, usize> = FxHashMap::default();
    for &value in values {
        *counts.entry(value).or_default() += 1;
    }
    let mut dictionary: Vec<(Option<i64>, usize)> = counts.into_iter().collect();
    dictionary.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    put_varint(out, dictionary.len() as u64);
    let none_at = dictionary.iter().position(|(value, _)| value.is_none());
    put_varint(out, none_at.map_or(0, |at| at as u64 + 1));
    for &(value, _) in &dictionary {
        if let Some(value) = value {
            put_varint(out, zigzag(value));
        }
    }
    let position: FxHashMap<Option<i64>, u64> = dictionary
        .iter()
        .enumerate()
        .map(|(at, &(value, _))| (value, at as u64))
        .collect();
    let width = bits_for(dictionary.len());
    if width == 0 {
        return;
    }
    let (mut buffer, mut filled) = (0u64, 0u32);
    for value in values {
        buffer |= position[value] << filled;
        filled += width;
        while filled >= 8 {
            out.push(buffer as u8);
            buffer >>= 8;
            filled -= 8;
        }
    }
    if filled > 0 {
        out.push(buffer as u8);
    }
}

/// A dictionary column being read.
#[derive(Debug)]
struct DictColumn<'a> {
    values: Vec<Option<i64>>,
    width: u32,
    packed: &'a [u8],
}

impl<'a> DictColumn<'a> {
    /// A column whose every value is missing, for a column a segment was
    /// packed without.
    fn unknown() -> Self {
        Self {
            values: vec![None],
            width: 0,
            packed: &[],
        }
    }

    /// Reads a column of `count` values at `*at`, moving `*at` past it.
    fn read(bytes: &'a [u8], at: &mut usize, count: usize) -> Result<Self, Damaged> {
        let (len, none_at) = Self::header(bytes, at, count)?;
        let mut values = Vec::with_capacity(len);
        for position in 0..len {
            if none_at == position as u64 + 1 {
                values.push(None);
            } else {
                values.push(Some(unzigzag(get_varint(bytes, at).ok_or(Damaged)?)));
            }
        }
        let (width, packed) = Self::positions(bytes, at, count, len)?;
        Ok(Self {
            values,
            width,
            packed,
        })
    }

    /// Moves `*at` past a column of `count` values without decoding its
    /// dictionary, checking its shape as [`DictColumn::read`] does.
    fn skip(bytes: &[u8], at: &mut usize, count: usize) -> Result<(), Damaged> {
        let (len, none_at) = Self::header(bytes, at, count)?;
        skip_varints(bytes, at, len as u64 - u64::from(none_at != 0))?;
        Self::positions(bytes, at, count, len).map(|_| ())
    }

    /// Reads the dictionary's length and `0, or 1 + the position of None`
    /// at `*at`, checked against the bytes there are.
    fn header(bytes: &[u8], at: &mut usize, count: usize) -> Result<(usize, u64), Damaged> {
        let len = get_varint(bytes, at).ok_or(Damaged)?;
        let none_at = get_varint(bytes, at).ok_or(Damaged)?;
        // Every value but None takes a byte at least.
        if len > bytes.len() as u64 + 1 || none_at > len || (len == 0 && count > 0) {
            return Err(Damaged);
        }
        Ok((len as usize, none_at))
    }

    /// The bit width and the bytes of the packed positions of `count`
    /// values in a dictionary of `len`, at `*at`, moving `*at` past them.
    fn positions<'b>(
        bytes: &'b [u8],
        at: &mut usize,
        count: usize,
        len: usize,
    ) -> Result<(u32, &'b [u8]), Damaged> {
        let width = bits_for(len);
        let packed_len = (count as u64 * u64::from(width)).div_ceil(8);
        let end = at.checked_add(usize::try_from(packed_len).map_err(|_| Damaged)?);
        let packed = end.and_then(|end| bytes.get(*at..end)).ok_or(Damaged)?;
        *at += packed.len();
        Ok((width, packed))
    }

    /// The value of visit `index`.
    #[inline]
    fn get(&self, index: usize) -> Result<Option<i64>, Damaged> {
        self.values
            .get(self.position(index)?)
            .copied()
            .ok_or(Damaged)
    }

    /// Ands into each of `selected` (one per visit, from the first)
    /// whether its visit's dictionary position is marked in `passing`, a
    /// visit at a time without a branch on the answer (which visits pass is
    /// as good as random).
    fn and_passing(&self, passing: &[bool], selected: &mut [bool]) -> Result<(), Damaged> {
        // (A day without visits may have an empty dictionary.)
        if selected.is_empty() {
            return Ok(());
        }
        if self.width == 0 {
            let first = passing.first().copied().ok_or(Damaged)?;
            selected.iter_mut().for_each(|s| *s &= first);
            return Ok(());
        }
        let width = u64::from(self.width);
        let mask = (1u64 << self.width) - 1;
        // The visits whose eight bytes from their first lie in the column
        // are read with one load each; the last few as `position` reads
        // them.
        let whole = ((self.packed.len() as u64).saturating_sub(8) * 8 / width) as usize;
        let whole = whole.min(selected.len());
        let mut outside = false;
        for (index, selected) in selected[..whole].iter_mut().enumerate() {
            let bit = index as u64 * width;
            let byte = (bit / 8) as usize;
            let eight = self.packed.get(byte..byte + 8).ok_or(Damaged)?;
            let raw = u64::from_le_bytes(<[u8; 8]>::try_from(eight).map_err(|_| Damaged)?);
            let position = ((raw >> (bit % 8)) & mask) as usize;
            let passes = passing.get(position);
            outside |= passes.is_none();
            *selected &= passes.copied().unwrap_or(false);
        }
        for (index, selected) in selected.iter_mut().enumerate().skip(whole) {
            *selected &= passing.get(self.position(index)?).copied().ok_or(Damaged)?;
        }
        if outside {
            return Err(Damaged);
        }
        Ok(())
    }

    /// The dictionary position of visit `index`'s value: one 8-byte load,
    /// except for the last bytes of the column.
    #[inline]
    fn position(&self, index: usize) -> Result<usize, Damaged> {
        if self.width == 0 {
            return Ok(0);
        }
        let bit = index as u64 * u64::from(self.width);
        let byte = (bit / 8) as usize;
        let raw = match self.packed.get(byte..byte.wrapping_add(8)) {
            Some(eight) => u64::from_le_bytes(<[u8; 8]>::try_from(eight).map_err(|_| Damaged)?),
            None => {
                let mut raw = [0u8; 8];
                let available = self.packed.get(byte..).ok_or(Damaged)?;
                let take = available.len().min(8);
                raw[..take].copy_from_slice(&available[..take]);
                u64::from_le_bytes(raw)
            }
        };
        Ok(((raw >> (bit % 8)) & ((1u64 << self.width) - 1)) as usize)
    }
}

/// The visits of one day that may meet a gate's attribute conditions
/// ([`VisitGate::attribute_conditions`]): each condition is judged once
/// per value of its column's dictionary, and a visit by its values'
/// positions alone.
#[derive(Debug, Default)]
pub(crate) struct DayScreen<'a> {
    /// The columns the conditions compare.
    columns: AttributeColumns<'a>,
    /// Per condition, its column in `columns` and whether each dictionary
    /// position meets it.
    tests: Vec<(usize, Vec<bool>)>,
}

impl<'a> DayScreen<'a> {
    /// The screen of `conditions` over the (unsealed) attributes part of a
    /// day of `count` visits. Without the part, or without conditions,
    /// every visit passes.
    pub(crate) fn new(
        attributes: Option<&'a [u8]>,
        count: usize,
        conditions: &[AttributeCondition],
    ) -> Result<Self, Damaged> {
        let Some(bytes) = attributes.filter(|_| !conditions.is_empty()) else {
            return Ok(Self::default());
        };
        let asked = conditions
            .iter()
            .fold(AttributeSet::NONE, |set, condition| {
                set.with(AttributeSet::of(condition.attribute))
            });
        let columns = read_attributes(bytes, asked, count)?;
        let mut tests = Vec::with_capacity(conditions.len());
        for condition in conditions {
            let Some(at) = columns
                .iter()
                .position(|(attribute, _)| *attribute == condition.attribute)
            else {
                return Err(Damaged);
            };
            let passing = columns[at]
                .1
                .values
                .iter()
                .map(|&value| condition.holds(value))
                .collect();
            tests.push((at, passing));
        }
        Ok(Self { columns, tests })
    }

    /// Whether no visit of the day meets the conditions: some condition
    /// holds for no value of its column.
    pub(crate) fn rejects_every_visit(&self) -> bool {
        self.tests
            .iter()
            .any(|(_, passing)| !passing.contains(&true))
    }

    /// Whether visit `index` meets every condition.
    pub(crate) fn passes(&self, index: usize) -> Result<bool, Damaged> {
        for (at, passing) in &self.tests {
            let column = &self.columns.get(*at).ok_or(Damaged)?.1;
            if !passing
                .get(column.position(index)?)
                .copied()
                .ok_or(Damaged)?
            {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Whether, judged from every sixteenth of the day's `count` visits, at
    /// least an eighth of them meet every condition (always without a
    /// condition).
    pub(crate) fn passes_often(&self, count: usize) -> Result<bool, Damaged> {
        if self.tests.is_empty() {
            return Ok(true);
        }
        let (mut sampled, mut passing) = (0usize, 0usize);
        for index in (0..count).step_by(16) {
            sampled += 1;
            passing += usize::from(self.passes(index)?);
        }
        Ok(passing * 8 >= sampled)
    }

    /// Whether each of the day's `count` visits meets every condition,
    /// judged a column at a time; `None` when there is no condition (every
    /// visit does).
    pub(crate) fn selection(&self, count: usize) -> Result<Option<Vec<bool>>, Damaged> {
        if self.tests.is_empty() {
            return Ok(None);
        }
        let mut selected = vec![true; count];
        for (at, passing) in &self.tests {
            let column = &self.columns.get(*at).ok_or(Damaged)?.1;
            column.and_passing(passing, &mut selected)?;
        }
        Ok(Some(selected))
    }
}

/// How many visits the (unsealed) starts part of a day holds.
pub(crate) fn visit_count(starts: &[u8]) -> Result<usize, Damaged> {
    let count = get_varint(starts, &mut 0).ok_or(Damaged)?;
    // Every visit takes a byte of starts at least.
    if count > starts.len() as u64 {
        return Err(Damaged);
    }
    Ok(count as usize)
}

/// The visitor id of `width` bytes (6 or 8) at `at`: one 8-byte load,
/// masked, except for the last ids of a day.
#[inline]
pub(crate) fn visitor_at(bytes: &[u8], at: usize, width: usize) -> Option<i64> {
    let mask = u64::MAX >> (64 - 8 * width);
    let raw = match bytes.get(at..at.checked_add(8)?) {
        Some(eight) => u64::from_le_bytes(<[u8; 8]>::try_from(eight).ok()?),
        None => {
            let mut raw = [0u8; 8];
            raw[..width].copy_from_slice(bytes.get(at..at.checked_add(width)?)?);
            u64::from_le_bytes(raw)
        }
    };
    let value = raw & mask;
    // Six-byte ids are the non-negative ids below 2^48.
    Some(value as i64)
}

/// The width of a visitors part holding `count` ids, checked.
pub(crate) fn visitor_width(bytes: &[u8], count: usize) -> Result<usize, Damaged> {
    let width = match bytes.first() {
        Some(&w @ (6 | 8)) => usize::from(w),
        _ => return Err(Damaged),
    };
    if count.checked_mul(width).and_then(|b| b.checked_add(1)) != Some(bytes.len()) {
        return Err(Damaged);
    }
    Ok(width)
}

/// The unsealed parts of one day a query reads (`None`: not read).
pub(crate) type DayParts<'a> = [Option<&'a [u8]>; part::COUNT];

/// The parts of one day as loaded (see [`crate::segment_fold::load_parts`]),
/// borrowed as [`decode`] reads them.
pub(crate) fn borrow_parts(loaded: &[Option<Vec<u8>>; part::COUNT]) -> DayParts<'_> {
    let mut parts: DayParts<'_> = [None; part::COUNT];
    for (slot, bytes) in parts.iter_mut().zip(loaded) {
        *slot = bytes.as_deref();
    }
    parts
}

/// The parts [`decode`] reads for `columns`.
pub(crate) fn parts_for(columns: Columns) -> [bool; part::COUNT] {
    let mut wanted = [false; part::COUNT];
    let events = columns.events;
    for (id, asked) in [
        (part::STARTS, true),
        (part::STEPS, events),
        (part::VISITORS, columns.visitors),
        (part::VISIT, columns.visit),
        (part::ATTRIBUTES, !columns.attributes.is_empty()),
        (part::EVENT_TIMES, events && columns.event_times),
        (part::EVENT_PATHS, events && columns.event_paths),
        (part::PROPS, events && columns.props),
        (part::REVENUE, events && columns.revenue),
        (part::IDS, columns.ids),
        (part::PROVENANCE, events && columns.provenance),
        (part::CODE_VISITS, events && columns.code_visits),
        (
            part::ENTRY_EVENTS,
            events && columns.props && columns.entry_events,
        ),
    ] {
        wanted[id as usize] = asked;
    }
    wanted
}

/// A list of `(event index, ...)` entries being read in event order.
#[derive(Debug)]
struct Entries<'a> {
    bytes: &'a [u8],
    at: usize,
    left: u64,
    /// The day's index of the next entry's event (`u64::MAX` when none).
    next: u64,
}

impl<'a> Entries<'a> {
    fn new(bytes: &'a [u8]) -> Result<Self, Damaged> {
        let mut at = 0;
        let left = get_varint(bytes, &mut at).ok_or(Damaged)?;
        let mut entries = Self {
            bytes,
            at,
            left,
            next: 0,
        };
        entries.advance(0)?;
        Ok(entries)
    }

    /// Reads the next entry's index, counted from `from`.
    fn advance(&mut self, from: u64) -> Result<(), Damaged> {
        if self.left == 0 {
            self.next = u64::MAX;
            return Ok(());
        }
        self.left -= 1;
        let gap = get_varint(self.bytes, &mut self.at).ok_or(Damaged)?;
        self.next = from.checked_add(gap).ok_or(Damaged)?;
        Ok(())
    }

    fn varint(&mut self) -> Result<u64, Damaged> {
        get_varint(self.bytes, &mut self.at).ok_or(Damaged)
    }

    fn finished(&self) -> bool {
        self.next == u64::MAX && self.at == self.bytes.len()
    }
}

/// The start of the first visit (in start order) of the day starting at
/// `day_start_ms` that starts in `[from_ms, to_ms)`, passes `screen` and
/// has a start and end for which `holds` holds, reading only the starts and
/// visit parts (and the screen's columns).
pub(crate) fn first_visit(
    day_start_ms: i64,
    starts: &[u8],
    visit: &[u8],
    (from_ms, to_ms): (i64, i64),
    screen: &DayScreen<'_>,
    holds: impl Fn(i64, i64) -> bool,
) -> Result<Option<i64>, Damaged> {
    let (mut at_start, mut at_visit) = (0, 0);
    let count = get_varint(starts, &mut at_start).ok_or(Damaged)?;
    let mut start = day_start_ms;
    for index in 0..count as usize {
        start = start.wrapping_add(get_varint(starts, &mut at_start).ok_or(Damaged)? as i64);
        let duration = get_varint(visit, &mut at_visit).ok_or(Damaged)?;
        if (from_ms..to_ms).contains(&start)
            && holds(start, start.wrapping_add(duration as i64))
            && screen.passes(index)?
        {
            return Ok(Some(start));
        }
    }
    Ok(None)
}

/// How many of the event codes `codes` of one visit are custom events':
/// a code's lowest bit is in the first byte of its varint.
#[inline]
fn custom_events(codes: &[u8]) -> u64 {
    let mut custom = 0;
    let mut first = true;
    for &byte in codes {
        custom += u64::from(first && byte & 1 == 1);
        first = byte < 0x80;
    }
    custom
}

/// The step needs `needs` on a day whose custom events' page paths are
/// `paths` (the unsealed event paths part, when it was read): a need for a
/// page view of a path or a custom event on it is a need for a page view of
/// the path on a day none of whose custom events is on it, which is most
/// days for most pages, so that its visits with custom events elsewhere are
/// neither selected nor searched.
fn day_step_needs(needs: &[StepNeed], paths: Option<&[u8]>) -> Vec<StepNeed> {
    let mut pattern = Vec::new();
    needs
        .iter()
        .map(|&need| match (need, paths) {
            (StepNeed::PathOrCustom(path), Some(paths)) => {
                pattern.clear();
                put_varint(&mut pattern, path as u64);
                if has_code(paths, &pattern) {
                    need
                } else {
                    StepNeed::PageViewOf(path)
                }
            }
            _ => need,
        })
        .collect()
}

/// A step need with the bytes of the code it looks for (the varint of a
/// page view's or a custom event's code; none for any page view).
type StepPattern = (StepNeed, Vec<u8>);

/// The patterns [`has_steps`] looks for to meet `needs`.
fn step_patterns(needs: &[StepNeed]) -> Vec<StepPattern> {
    needs
        .iter()
        .map(|&need| {
            let mut pattern = Vec::new();
            match need {
                StepNeed::PathOrCustom(path) | StepNeed::PageViewOf(path) => {
                    put_varint(&mut pattern, step_code(path, true));
                }
                StepNeed::Name(name) => put_varint(&mut pattern, step_code(name, false)),
                StepNeed::PageView => {}
            }
            (need, pattern)
        })
        .collect()
}

/// Whether the event codes `codes` of one visit meet every need of
/// `patterns`, told from their bytes without decoding them.
#[inline]
fn has_steps(codes: &[u8], patterns: &[StepPattern]) -> bool {
    patterns.iter().all(|(need, pattern)| match need {
        StepNeed::PathOrCustom(_) => custom_events(codes) > 0 || has_code(codes, pattern),
        StepNeed::PageViewOf(_) | StepNeed::Name(_) => has_code(codes, pattern),
        // A page view's code is even: the first byte of its varint too.
        StepNeed::PageView => {
            let mut first = true;
            codes.iter().any(|&byte| {
                let even = first && byte & 1 == 0;
                first = byte < 0x80;
                even
            })
        }
    })
}

/// Whether the event codes `codes` of one visit hold the code whose varint
/// is `pattern`, starting where a varint starts.
#[inline]
fn has_code(codes: &[u8], pattern: &[u8]) -> bool {
    let Some(&lead) = pattern.first() else {
        return false;
    };
    let mut first = true;
    for (at, &byte) in codes.iter().enumerate() {
        if first && byte == lead && codes.get(at..at + pattern.len()) == Some(pattern) {
            return true;
        }
        first = byte < 0x80;
    }
    false
}

/// Moves `*at` past `count` varints of `bytes`.
#[inline]
fn skip_varints(bytes: &[u8], at: &mut usize, count: u64) -> Result<(), Damaged> {
    let mut left = count;
    let rest = bytes.get(*at..).ok_or(Damaged)?;
    if left == 0 {
        return Ok(());
    }
    // Eight bytes at a time while more varints end after them than are
    // left to skip: each byte without the high bit ends one.
    let mut whole = 0;
    for chunk in rest.chunks_exact(8) {
        let word = u64::from_le_bytes(<[u8; 8]>::try_from(chunk).map_err(|_| Damaged)?);
        let ends = u64::from((!word & 0x8080_8080_8080_8080).count_ones());
        if ends >= left {
            break;
        }
        left -= ends;
        whole += 8;
    }
    for (offset, &byte) in rest.get(whole..).unwrap_or_default().iter().enumerate() {
        if byte < 0x80 {
            left -= 1;
            if left == 0 {
                *at += whole + offset + 1;
                return Ok(());
            }
        }
    }
    Err(Damaged)
}

impl Entries<'_> {
    /// Reads the property pairs of the entry at hand, handing each to `pair`,
    /// and moves to the next entry (`index` is the entry's event).
    fn props(&mut self, index: u64, mut pair: impl FnMut(i64, i64)) -> Result<(), Damaged> {
        let pairs = self.varint()?;
        if pairs == 0 || pairs > self.bytes.len() as u64 {
            return Err(Damaged);
        }
        let mut key = 0i64;
        for _ in 0..pairs {
            key = key.wrapping_add(self.varint()? as i64);
            pair(key, unzigzag(self.varint()?));
        }
        self.advance(index + 1)
    }

    /// Reads the tagged pair of the entry at hand (the revenue `(micros,
    /// currency)`, or the provenance `(host name, consent)`) and moves to the
    /// next entry (`index` is the entry's event).
    fn pair(&mut self, index: u64) -> Result<(Option<i64>, Option<i64>), Damaged> {
        let tag = *self.bytes.get(self.at).ok_or(Damaged)?;
        self.at += 1;
        if tag == 0 || tag > 3 {
            return Err(Damaged);
        }
        let micros = if tag & 1 != 0 {
            Some(unzigzag(self.varint()?))
        } else {
            None
        };
        let currency = if tag & 2 != 0 {
            Some(unzigzag(self.varint()?))
        } else {
            None
        };
        self.advance(index + 1)?;
        Ok((micros, currency))
    }
}

/// The attribute columns of a day that a query reads, with their attributes.
type AttributeColumns<'a> = Vec<(Attribute, DictColumn<'a>)>;

/// Reads the attributes part's columns that `asked` holds; the others are
/// skipped by their length.
fn read_attributes<'a>(
    bytes: &'a [u8],
    asked: AttributeSet,
    count: usize,
) -> Result<AttributeColumns<'a>, Damaged> {
    let mut columns = Vec::new();
    let mut at = 0;
    for attribute in Attribute::EVERY {
        if at == bytes.len() && Attribute::ADDED_LATER.contains(&attribute) {
            // Packed before the column existed: unknown for every visit.
            if asked.contains(attribute) {
                columns.push((attribute, DictColumn::unknown()));
            }
            continue;
        }
        let len = get_varint(bytes, &mut at).ok_or(Damaged)?;
        let end = at
            .checked_add(usize::try_from(len).map_err(|_| Damaged)?)
            .ok_or(Damaged)?;
        let one = bytes.get(at..end).ok_or(Damaged)?;
        if asked.contains(attribute) {
            let mut inner = 0;
            columns.push((attribute, DictColumn::read(one, &mut inner, count)?));
            if inner != one.len() {
                return Err(Damaged);
            }
        }
        at = end;
    }
    if at != bytes.len() {
        return Err(Damaged);
    }
    Ok(columns)
}

/// Fills the attributes of `record` that `columns` holds for visit `index`
/// (the others are never written, so they keep their defaults).
#[inline]
fn fill_attributes(
    columns: &AttributeColumns<'_>,
    index: usize,
    attrs: &mut VisitAttributes,
) -> Result<(), Damaged> {
    for (attribute, column) in columns {
        if !attribute.set(attrs, column.get(index)?) {
            return Err(Damaged);
        }
    }
    Ok(())
}

/// Where the event parts of a day stand while its visits are decoded: the
/// day's index of the next event, and the events passed over whose times
/// and (custom events') page paths are still to be skipped (the parts move
/// past them in one go when the next visit's events are read, and at the
/// end).
struct EventCursor<'a> {
    index: u64,
    pending_times: u64,
    pending_paths: u64,
    with_paths: bool,
    props: Option<Entries<'a>>,
    revenue: Option<Entries<'a>>,
    provenance: Option<Entries<'a>>,
}

impl EventCursor<'_> {
    /// Moves past the events of a visit passed over (whose event codes are
    /// `codes`) without decoding them.
    #[inline]
    fn pass_over(&mut self, codes: &[u8]) -> Result<(), Damaged> {
        let events = codes.iter().filter(|&&byte| byte < 0x80).count() as u64;
        if codes.last().is_some_and(|&last| last >= 0x80) {
            return Err(Damaged);
        }
        if self.with_paths {
            self.pending_paths += custom_events(codes);
        }
        self.advance(events)
    }

    /// Moves past the events of `run` visits passed over one after the
    /// other, whose lengths and codes follow each other in `steps` from
    /// `*at`, moving `*at` past them, counted over the run's bytes at once
    /// ([`run_events`]); so are their custom events, whose page paths are
    /// passed over too.
    fn pass_over_run(&mut self, steps: &[u8], at: &mut usize, run: usize) -> Result<(), Damaged> {
        let (events, custom) = run_events(steps, at, run, self.with_paths)?;
        self.pending_paths += custom;
        self.advance(events)
    }

    /// Moves past `events` events: their times later, their entries now.
    #[inline]
    fn advance(&mut self, events: u64) -> Result<(), Damaged> {
        self.pending_times += events;
        let next = self.index + events;
        if let Some(entries) = &mut self.props {
            while entries.next < next {
                let at = entries.next;
                entries.props(at, |_, _| {})?;
            }
        }
        if let Some(entries) = &mut self.revenue {
            while entries.next < next {
                let at = entries.next;
                entries.pair(at)?;
            }
        }
        if let Some(entries) = &mut self.provenance {
            while entries.next < next {
                let at = entries.next;
                entries.pair(at)?;
            }
        }
        self.index = next;
        Ok(())
    }
}

/// How many events, and how many of them custom events, the `run` visits
/// whose lengths and codes follow each other in `steps` from `*at` hold,
/// moving `*at` past them. They are counted over the run's bytes at once:
/// every byte without the high bit ends a varint, one length per visit and
/// the rest codes; the custom events' codes are the varints whose first
/// byte is odd, but for the lengths' (counted only when `with_custom`,
/// else 0).
fn run_events(
    steps: &[u8],
    at: &mut usize,
    run: usize,
    with_custom: bool,
) -> Result<(u64, u64), Damaged> {
    let start = *at;
    let mut odd_lengths = 0u64;
    for _ in 0..run {
        odd_lengths += u64::from(steps.get(*at).is_some_and(|&byte| byte & 1 == 1));
        let codes = next_codes(steps, at)?;
        if codes.last().is_some_and(|&last| last >= 0x80) {
            return Err(Damaged);
        }
    }
    let bytes = steps.get(start..*at).ok_or(Damaged)?;
    let events = varint_ends(bytes).checked_sub(run as u64).ok_or(Damaged)?;
    let custom = if with_custom {
        odd_varints(bytes).checked_sub(odd_lengths).ok_or(Damaged)?
    } else {
        0
    };
    Ok((events, custom))
}

/// How many events the visit whose length and codes start at `*at` of the
/// steps part `steps` has (how many varints its codes hold), moving `*at`
/// past them. Codes of up to eight bytes, nearly every visit's, are counted
/// in one load of eight bytes.
#[inline]
fn events_at(steps: &[u8], at: &mut usize) -> Result<u64, Damaged> {
    let length = usize::try_from(get_varint(steps, at).ok_or(Damaged)?).map_err(|_| Damaged)?;
    let start = *at;
    let end = start.checked_add(length).ok_or(Damaged)?;
    let events = match steps.get(start..start.saturating_add(8)) {
        Some(eight) if length <= 8 => {
            let word = u64::from_le_bytes(<[u8; 8]>::try_from(eight).map_err(|_| Damaged)?);
            // Only the visit's own bytes count.
            let own = match length {
                0 => 0,
                8 => u64::MAX,
                n => (1u64 << (8 * n)) - 1,
            };
            u64::from((!word & 0x8080_8080_8080_8080 & own).count_ones())
        }
        _ => varint_ends(steps.get(start..end).ok_or(Damaged)?),
    };
    if end > steps.len() {
        return Err(Damaged);
    }
    *at = end;
    Ok(events)
}

/// How many varints end in `bytes` (the bytes without the high bit), eight
/// bytes at a time.
fn varint_ends(bytes: &[u8]) -> u64 {
    let chunks = bytes.chunks_exact(8);
    let rest = chunks.remainder();
    let whole: u64 = chunks
        .map(|chunk| {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            u64::from((!u64::from_le_bytes(word) & 0x8080_8080_8080_8080).count_ones())
        })
        .sum();
    whole + rest.iter().filter(|&&byte| byte < 0x80).count() as u64
}

/// How many varints of `bytes` (which starts where a varint starts) begin
/// with an odd byte, eight bytes at a time: a byte begins a varint when the
/// one before it has no high bit.
fn odd_varints(bytes: &[u8]) -> u64 {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const LOW: u64 = 0x0101_0101_0101_0101;
    let chunks = bytes.chunks_exact(8);
    let rest = chunks.remainder();
    // The high bit of the byte before the word's first, in its own place.
    let mut carry = 0u64;
    let mut odd = 0u64;
    for chunk in chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_le_bytes(word);
        let continued = ((word & HIGH) << 8) | carry;
        let starts_odd = !continued & ((word & LOW) << 7) & HIGH;
        odd += u64::from(starts_odd.count_ones());
        carry = (word >> 56) & 0x80;
    }
    let mut first = carry == 0;
    for &byte in rest {
        odd += u64::from(first && byte & 1 == 1);
        first = byte < 0x80;
    }
    odd
}

/// The event codes of the next visit of a steps part, moving `*at` past
/// them.
#[inline]
fn next_codes<'a>(steps: &'a [u8], at: &mut usize) -> Result<&'a [u8], Damaged> {
    let length = get_varint(steps, at).ok_or(Damaged)?;
    let end = at
        .checked_add(usize::try_from(length).map_err(|_| Damaged)?)
        .ok_or(Damaged)?;
    let codes = steps.get(*at..end).ok_or(Damaged)?;
    *at = end;
    Ok(codes)
}

/// Narrows `selection` (of a day of `count` visits; `None` selects every
/// one) to the visits `held` marks. Whether any visit is left.
fn narrow(
    selection: &mut Option<Vec<bool>>,
    count: usize,
    held: impl IntoIterator<Item = bool>,
) -> bool {
    let selected: Vec<bool> = match selection.take() {
        Some(selected) => selected
            .into_iter()
            .zip(held)
            .map(|(selected, held)| selected && held)
            .collect(),
        None => held.into_iter().take(count).collect(),
    };
    let any = selected.contains(&true);
    *selection = Some(selected);
    any
}

/// Per visit of a day of `count` visits, whether one of its events carries
/// what `need` asks for, from the (unsealed) steps part, whose codes tell
/// each visit's events, and the part that holds it (`entries`: revenue or
/// properties, whose entries name their events by the day's index).
pub(crate) fn entry_holders(
    steps: &[u8],
    count: usize,
    entries: &[u8],
    need: EntryNeed,
) -> Result<Vec<bool>, Damaged> {
    if steps.first() != Some(&STEPS_FORMAT) {
        return Err(Damaged);
    }
    let mut held = vec![false; count];
    let mut entries = Entries::new(entries)?;
    let (mut at, mut first_event) = (1, 0u64);
    for visit in &mut held {
        if entries.next == u64::MAX {
            break;
        }
        let end = first_event + events_at(steps, &mut at)?;
        while entries.next < end {
            let index = entries.next;
            *visit |= match need {
                EntryNeed::Revenue => entries.pair(index)?.0.is_some(),
                EntryNeed::Props { key: None } => {
                    entries.props(index, |_, _| {})?;
                    true
                }
                EntryNeed::Props { key: Some(wanted) } => {
                    let mut has = false;
                    entries.props(index, |key, _| has |= key == wanted)?;
                    has
                }
            };
        }
        first_event = end;
    }
    Ok(held)
}

/// Decodes the visits of the day starting at `day_start_ms` from `parts`
/// (unsealed; those of [`parts_for`]`(columns)` must be present) into
/// `record`, filling only `columns`, and calls `each` with those that start
/// in `[from_ms, to_ms)` and that `gate` takes. The gate sees a visit with
/// every column asked for but its events; the events of a visit it skips or
/// takes without them ([`Take::Visit`]) are skipped undecoded. With
/// [`Columns::approximate_starts`] (for a whole day in `[from_ms, to_ms)`)
/// every visit starts at `day_start_ms`, its end and its events' times
/// moved with it, and the start deltas are not read. Every other part read
/// must be consumed exactly. Given `whole` (empty), a gate that
/// [`VisitGate::takes_by_span`] has the visits it takes without their
/// events gathered there a column at a time instead of handed to `each`
/// (without visit ids: only when they are not read).
#[allow(clippy::too_many_arguments)]
pub(crate) fn decode(
    day_start_ms: i64,
    parts: &DayParts<'_>,
    columns: Columns,
    (from_ms, to_ms): (i64, i64),
    record: &mut VisitRecord,
    gate: &impl VisitGate,
    whole: Option<&mut WholeVisits>,
    mut each: impl FnMut(&VisitRecord),
) -> Result<(), Damaged> {
    if let Some(whole) = whole.as_deref() {
        debug_assert!(
            whole.is_empty(),
            "the whole visits of a day are handed over"
        );
    }
    let wanted = parts_for(columns);
    let get = |id: i64| -> Result<Option<&[u8]>, Damaged> {
        if wanted[id as usize] {
            parts[id as usize].map(Some).ok_or(Damaged)
        } else {
            Ok(None)
        }
    };
    let starts = get(part::STARTS)?.ok_or(Damaged)?;
    let count = visit_count(starts)?;
    let mut at_start = 0;
    get_varint(starts, &mut at_start).ok_or(Damaged)?;
    // The visits that fail the gate's attribute conditions are passed over
    // undecoded; a day none of whose values passes is not walked.
    let screen = DayScreen::new(get(part::ATTRIBUTES)?, count, gate.attribute_conditions())?;
    if screen.rejects_every_visit() {
        return Ok(());
    }
    // The visits with an event that carries each property the gate needs,
    // from the day's entry events when it has them and they were asked for:
    // a filter on a property rules out most visits of a day, and the few
    // hundred events with properties say which without a walk of every
    // visit's steps. The screen then judges those few alone, not every
    // visit of the day.
    let prop_holders = match (parts[part::ENTRY_EVENTS as usize], get(part::PROPS)?) {
        (Some(events), Some(props))
            if !gate.prop_needs().is_empty() && wanted[part::ENTRY_EVENTS as usize] =>
        {
            Some(entry_events::prop_holders(
                day_start_ms,
                (events, props),
                count,
                gate.prop_needs(),
            )?)
        }
        _ => None,
    };
    let mut selection = match prop_holders {
        Some(mut held) => {
            for (index, held) in held.iter_mut().enumerate() {
                if *held {
                    *held = screen.passes(index)?;
                }
            }
            if !held.contains(&true) {
                return Ok(());
            }
            Some(held)
        }
        None => screen.selection(count)?,
    };
    let (times, mut at_time) = (get(part::EVENT_TIMES)?, 0);
    let (paths, mut at_path) = (get(part::EVENT_PATHS)?, 0);
    let day_needs = day_step_needs(gate.step_needs(), paths);
    // The visits whose codes may meet the gate's step needs, from the day's
    // code index when it has one and it was asked for: the others are
    // passed over like those the screen rules out, and their codes never
    // searched.
    let code_index = if wanted[part::CODE_VISITS as usize] {
        parts[part::CODE_VISITS as usize]
    } else {
        None
    };
    // Whether the code index selected the visits with the steps the gate
    // needs: then their codes are not searched again.
    let mut needs_met = false;
    if let Some(index) = code_index
        && let Some(by_codes) = code_visits::selection(index, count, &day_needs)?
    {
        needs_met = true;
        if !narrow(&mut selection, count, by_codes) {
            return Ok(());
        }
    }
    // The visits holding a code the gate may count, likewise: the others
    // are passed over, and the codes of those selected not screened again.
    let mut codes_screened = false;
    if let Some(index) = code_index
        && gate.screens_codes()
    {
        codes_screened = true;
        let counted =
            code_visits::holders(index, count, |code| u8::from(gate.may_count_code(code)))?;
        if !narrow(&mut selection, count, counted.iter().map(|c| *c != 0)) {
            return Ok(());
        }
    }
    let steps = get(part::STEPS)?;
    // The visits whose events carry what the gate needs, likewise, unless
    // few visits are left: finding them walks every visit's steps, which
    // costs more than decoding the few.
    if let Some(need) = gate.entry_need()
        && selection
            .as_ref()
            .is_none_or(|selected| selected.iter().filter(|s| **s).count() * 8 >= count)
    {
        let entries = match need {
            EntryNeed::Revenue => get(part::REVENUE)?,
            EntryNeed::Props { .. } => get(part::PROPS)?,
        };
        if let (Some(steps), Some(entries)) = (steps, entries) {
            let held = entry_holders(steps, count, entries, need)?;
            if !narrow(&mut selection, count, held) {
                return Ok(());
            }
        }
    }
    let mut at_step = 1;
    if let Some(steps) = steps
        && steps.first() != Some(&STEPS_FORMAT)
    {
        return Err(Damaged);
    }
    let visitors = match get(part::VISITORS)? {
        Some(bytes) => Some((bytes, visitor_width(bytes, count)?)),
        None => None,
    };
    let mut at_visit = 0;
    let visit = match get(part::VISIT)? {
        Some(bytes) => {
            // Durations come first; the columns follow them.
            let mut at = 0;
            skip_varints(bytes, &mut at, count as u64)?;
            let durations_end = at;
            let pageviews = DictColumn::read(bytes, &mut at, count)?;
            let events = DictColumn::read(bytes, &mut at, count)?;
            // Entry and exit pages, unless the query needs neither: their
            // dictionaries (a day's distinct pages) are skipped undecoded.
            let pages = if columns.pages {
                Some([
                    DictColumn::read(bytes, &mut at, count)?,
                    DictColumn::read(bytes, &mut at, count)?,
                ])
            } else {
                DictColumn::skip(bytes, &mut at, count)?;
                DictColumn::skip(bytes, &mut at, count)?;
                None
            };
            if at != bytes.len() {
                return Err(Damaged);
            }
            Some((bytes, durations_end, [pageviews, events], pages))
        }
        None => None,
    };
    let attributes = match get(part::ATTRIBUTES)? {
        Some(bytes) => Some(read_attributes(bytes, columns.attributes, count)?),
        None => None,
    };
    let mut cursor = EventCursor {
        index: 0,
        pending_times: 0,
        pending_paths: 0,
        with_paths: paths.is_some(),
        props: get(part::PROPS)?.map(Entries::new).transpose()?,
        revenue: get(part::REVENUE)?.map(Entries::new).transpose()?,
        provenance: get(part::PROVENANCE)?.map(Entries::new).transpose()?,
    };

    let (ids, mut at_id, mut id) = (get(part::IDS)?, 0, 0i64);
    let mut start = day_start_ms;
    // The fields not asked for keep these defaults; every visit overwrites
    // those asked for (the visitor and counters of a visit the gate skips
    // may be left from the one before: nothing reads them).
    record.clear();
    // Reads the visitor and the visit's counters and pages of visit `at`.
    let fill_counters = |record: &mut VisitRecord, at: usize| -> Result<(), Damaged> {
        if let Some((bytes, width)) = visitors {
            record.visitor_id = visitor_at(bytes, 1 + at * width, width).ok_or(Damaged)?;
        }
        if let Some((_, _, [pageviews, events], pages)) = &visit {
            record.pageviews = pageviews.get(at)?.ok_or(Damaged)?;
            record.events_count = events.get(at)?.ok_or(Damaged)?;
            if let Some([entry, exit]) = pages {
                record.entry_page = entry.get(at)?;
                record.exit_page = exit.get(at)?;
            }
        }
        Ok(())
    };
    let gate_reads_counters = gate.reads_counters();
    let step_needs = if needs_met {
        Vec::new()
    } else {
        step_patterns(&day_needs)
    };
    // The visits the gate takes whole by their span are gathered a column
    // at a time, and passed over below; the walk then takes the spans of
    // the visits left from this first pass ([`Spans::take_whole`]) instead
    // of reading the starts and durations again.
    let mut spans_read = None;
    if let Some(whole) = whole
        && gate.takes_by_span()
        && day_needs.is_empty()
        && !codes_screened
        && gate.entry_need().is_none()
        && !gate_reads_counters
        && ids.is_none()
        && let (Some((bytes, _, counters, pages)), Some(visitors)) = (&visit, visitors)
    {
        let selected = selection.get_or_insert_with(|| vec![true; count]);
        let spans = Spans {
            day_start_ms,
            starts: (!columns.approximate_starts).then_some(starts),
            durations: bytes,
        };
        let mut left = Vec::new();
        spans.take_whole(count, (from_ms, to_ms), gate, selected, whole, &mut left)?;
        gather_whole(
            whole,
            visitors,
            counters,
            attributes.as_ref(),
            pages.as_ref(),
        )?;
        spans_read = Some(left.into_iter());
    }
    let mut visit_index = 0;
    while visit_index < count {
        // A run of visits the screen passes over: their starts (and ids)
        // summed in a tight loop, their durations skipped in one go, their
        // events passed over; nothing else of them is read.
        let run = selection.as_ref().map_or(0, |selected| {
            selected
                .get(visit_index..)
                .unwrap_or_default()
                .iter()
                .take_while(|selected| !**selected)
                .count()
        });
        if run > 0 {
            if !columns.approximate_starts && spans_read.is_none() {
                for _ in 0..run {
                    start = start
                        .wrapping_add(get_varint(starts, &mut at_start).ok_or(Damaged)? as i64);
                }
            }
            if let Some(ids) = ids {
                for _ in 0..run {
                    id = id.wrapping_add(unzigzag(get_varint(ids, &mut at_id).ok_or(Damaged)?));
                }
            }
            if let Some((bytes, ..)) = &visit
                && spans_read.is_none()
            {
                skip_varints(bytes, &mut at_visit, run as u64)?;
            }
            if let Some(steps) = steps {
                cursor.pass_over_run(steps, &mut at_step, run)?;
            }
            visit_index += run;
            continue;
        }
        let duration = if let Some(left) = &mut spans_read {
            let (read_start, duration) = left.next().ok_or(Damaged)?;
            start = read_start;
            duration
        } else {
            if !columns.approximate_starts {
                start =
                    start.wrapping_add(get_varint(starts, &mut at_start).ok_or(Damaged)? as i64);
            }
            match &visit {
                Some((bytes, ..)) => get_varint(bytes, &mut at_visit).ok_or(Damaged)?,
                None => 0,
            }
        };
        if let Some(ids) = ids {
            id = id.wrapping_add(unzigzag(get_varint(ids, &mut at_id).ok_or(Damaged)?));
        }
        // The visit's event codes.
        let codes = match steps {
            Some(steps) => Some(next_codes(steps, &mut at_step)?),
            None => None,
        };
        // A gate that needs steps takes no visit without them.
        let shown = (from_ms..to_ms).contains(&start)
            && selection
                .as_ref()
                .is_none_or(|selected| selected.get(visit_index) == Some(&true))
            && match codes {
                Some(codes) => {
                    (step_needs.is_empty() || has_steps(codes, &step_needs))
                        && (codes_screened || gate.may_count_codes(codes))
                }
                None => true,
            };
        let take = if shown {
            record.events.clear();
            record.props.clear();
            record.events_read = false;
            record.id = id;
            record.start_ts = start;
            if visit.is_some() {
                record.end_ts = start.wrapping_add(duration as i64);
            }
            if let Some(columns) = &attributes {
                fill_attributes(columns, visit_index, &mut record.attrs)?;
            }
            if gate_reads_counters {
                fill_counters(record, visit_index)?;
                gate.take(record)
            } else {
                let take = gate.take(record);
                if take != Take::Skip {
                    fill_counters(record, visit_index)?;
                }
                take
            }
        } else {
            Take::Skip
        };
        if let Some(codes) = codes {
            if take != Take::Events {
                // Passed over: each part's position moves past the visit's
                // events (times and paths later, in one go).
                cursor.pass_over(codes)?;
                if take == Take::Visit {
                    each(record);
                }
                visit_index += 1;
                continue;
            }
            if let Some(times) = times {
                skip_varints(
                    times,
                    &mut at_time,
                    std::mem::take(&mut cursor.pending_times),
                )?;
            }
            if let Some(paths) = paths {
                skip_varints(
                    paths,
                    &mut at_path,
                    std::mem::take(&mut cursor.pending_paths),
                )?;
            }
            record.events_read = true;
            let mut at_code = 0;
            let mut time = start;
            while at_code < codes.len() {
                let code = get_varint(codes, &mut at_code).ok_or(Damaged)?;
                let pageview = code & 1 == 0;
                let id = (code >> 1) as i64;
                if let Some(times) = times {
                    time =
                        time.wrapping_add(get_varint(times, &mut at_time).ok_or(Damaged)? as i64);
                }
                let pathname = if pageview {
                    id
                } else if let Some(paths) = paths {
                    get_varint(paths, &mut at_path).ok_or(Damaged)? as i64
                } else {
                    0
                };
                let mut event = EventRecord {
                    ts: time,
                    pageview,
                    code: id,
                    pathname,
                    ..EventRecord::default()
                };
                let index = cursor.index;
                if let Some(entries) = &mut cursor.props
                    && entries.next == index
                {
                    let first = record.props.len() as u32;
                    entries.props(index, |key, value| record.props.push((key, value)))?;
                    event.props = (first, record.props.len() as u32);
                }
                if let Some(entries) = &mut cursor.revenue
                    && entries.next == index
                {
                    (event.revenue_micros, event.currency) = entries.pair(index)?;
                }
                if let Some(entries) = &mut cursor.provenance
                    && entries.next == index
                {
                    let (hostname, consent) = entries.pair(index)?;
                    // A host name is stored only when it is not the site's.
                    if hostname == Some(crate::insert::SITE_HOSTNAME) {
                        return Err(Damaged);
                    }
                    event.hostname = hostname.unwrap_or(crate::insert::SITE_HOSTNAME);
                    event.consent = consent;
                }
                record.events.push(event);
                cursor.index += 1;
            }
        }
        if take != Take::Skip {
            each(record);
        }
        visit_index += 1;
    }
    if let Some(times) = times {
        skip_varints(times, &mut at_time, cursor.pending_times)?;
    }
    if let Some(paths) = paths {
        skip_varints(paths, &mut at_path, cursor.pending_paths)?;
    }
    let consumed = |bytes: Option<&[u8]>, at: usize| bytes.is_none_or(|b| b.len() == at);
    // Approximate starts read none of the deltas.
    // The first pass over the spans read the starts and durations whole.
    let spans_walked = spans_read.is_none();
    if (spans_walked && !columns.approximate_starts && at_start != starts.len())
        || !consumed(ids, at_id)
        || !consumed(steps, at_step)
        || (spans_walked && visit.as_ref().is_some_and(|v| v.1 != at_visit))
        || !consumed(times, at_time)
        || !consumed(paths, at_path)
        || !cursor.props.as_ref().is_none_or(Entries::finished)
        || !cursor.revenue.as_ref().is_none_or(Entries::finished)
        || !cursor.provenance.as_ref().is_none_or(Entries::finished)
    {
        return Err(Damaged);
    }
    Ok(())
}

/// The parts [`codes_worth_reading`] reads: the starts (for the visit
/// count) and the attributes when the gate has conditions on them.
pub(crate) fn parts_to_judge_codes(gate: &impl VisitGate) -> [bool; part::COUNT] {
    let mut wanted = [false; part::COUNT];
    wanted[part::STARTS as usize] = true;
    wanted[part::ATTRIBUTES as usize] = !gate.attribute_conditions().is_empty();
    wanted
}

/// The parts [`fold_codes`] reads: those of [`parts_to_judge_codes`], the
/// visitors and the code index; and the entry events with the entries the
/// gate counts beside the codes ([`VisitGate::entries_beside_codes`]). A
/// day without its entry events needs [`steps_for_entries`] too.
pub(crate) fn parts_for_codes(gate: &impl VisitGate) -> [bool; part::COUNT] {
    let mut wanted = parts_to_judge_codes(gate);
    wanted[part::VISITORS as usize] = true;
    wanted[part::CODE_VISITS as usize] = true;
    let entries = gate.entries_beside_codes();
    wanted[part::ENTRY_EVENTS as usize] = entries.any();
    wanted[part::REVENUE as usize] = entries.revenue;
    wanted[part::PROPS as usize] = entries.props;
    wanted
}

/// The part [`fold_codes`] reads beside [`parts_for_codes`] on a day
/// without its entry events (packed before they existed): the steps,
/// through which the entries the gate counts find their visits and codes.
pub(crate) fn steps_for_entries(gate: &impl VisitGate) -> [bool; part::COUNT] {
    let mut wanted = [false; part::COUNT];
    wanted[part::STEPS as usize] = gate.entries_beside_codes().any();
    wanted
}

/// Whether a day would be counted faster from its code index
/// ([`fold_codes`]) than by decoding its visits, from the parts of
/// [`parts_to_judge_codes`]: when at least an eighth of its visits meet
/// the gate's attribute conditions. The index lists the codes of every
/// visit, so reading it costs the same however few visits are counted,
/// while decoding passes over the others in runs.
pub(crate) fn codes_worth_reading(
    parts: &DayParts<'_>,
    gate: &impl VisitGate,
) -> Result<bool, Damaged> {
    let count = visit_count(parts[part::STARTS as usize].ok_or(Damaged)?)?;
    DayScreen::new(
        parts[part::ATTRIBUTES as usize],
        count,
        gate.attribute_conditions(),
    )?
    .passes_often(count)
}

/// Counts a day whose visits all fall wholly in a query's range for a gate
/// that [`VisitGate::counts_codes_alone`], from its code index alone: hands
/// `each`, code by code, every visit that meets the gate's attribute
/// conditions and holds a code the gate may count, with how often it holds
/// it ([`CodeCount::Events`]); then each event of those visits with such a
/// code that carries the entries the gate counts beside
/// ([`CodeCount::Entry`]); and the visitors of every visit that meets the
/// conditions when the gate counts them ([`CodeCount::Visitors`]). `parts`
/// holds those of [`parts_for_codes`], the code index included.
pub(crate) fn fold_codes(
    parts: &DayParts<'_>,
    gate: &impl VisitGate,
    mut each: impl FnMut(CodeCount),
) -> Result<(), Damaged> {
    let index = parts[part::CODE_VISITS as usize].ok_or(Damaged)?;
    let count = visit_count(parts[part::STARTS as usize].ok_or(Damaged)?)?;
    let visitors = parts[part::VISITORS as usize].ok_or(Damaged)?;
    let width = visitor_width(visitors, count)?;
    let visitor_of = |visit: usize| visitor_at(visitors, 1 + visit * width, width);
    let conditions = gate.attribute_conditions();
    let attributes = if conditions.is_empty() {
        None
    } else {
        Some(parts[part::ATTRIBUTES as usize].ok_or(Damaged)?)
    };
    let screen = DayScreen::new(attributes, count, conditions)?;
    if screen.rejects_every_visit() {
        return Ok(());
    }
    let selection = screen.selection(count)?;
    let mut visits: Vec<(i64, u64)> = Vec::new();
    let mut damaged = false;
    code_visits::tally(
        index,
        count,
        selection.as_deref(),
        |code| gate.may_count_code(code),
        |code, holders| {
            visits.clear();
            for &(visit, times) in holders {
                match visitor_of(visit) {
                    Some(visitor_id) => visits.push((visitor_id, times)),
                    None => damaged = true,
                }
            }
            each(CodeCount::Events(CodeEvents {
                code,
                visits: &visits,
            }));
        },
    )?;
    if gate.visitors_beside_codes() {
        let mut ids = Vec::with_capacity(count);
        for visit in 0..count {
            if selection
                .as_ref()
                .is_none_or(|selected| selected.get(visit) == Some(&true))
            {
                ids.push(visitor_of(visit).ok_or(Damaged)?);
            }
        }
        each(CodeCount::Visitors(&ids));
    }
    let entries = gate.entries_beside_codes();
    if entries.any() {
        // A part asked for must be there.
        let get = |wanted: bool, id: i64| {
            wanted
                .then_some(parts[id as usize])
                .map(|part| part.ok_or(Damaged))
                .transpose()
        };
        let read = (
            get(entries.revenue, part::REVENUE)?,
            get(entries.props, part::PROPS)?,
        );
        let counted = |event: code_entries::EntryEvent<'_>| {
            if !gate.may_count_code(event.code) {
                return;
            }
            match visitor_of(event.visit) {
                Some(visitor_id) => each(CodeCount::Entry(CodeEntry {
                    code: event.code,
                    visitor_id,
                    revenue: event.revenue,
                    props: event.props,
                })),
                None => damaged = true,
            }
        };
        match parts[part::ENTRY_EVENTS as usize] {
            Some(events) => {
                code_entries::walk_indexed(events, count, read, selection.as_deref(), counted)?;
            }
            None => code_entries::walk(
                parts[part::STEPS as usize].ok_or(Damaged)?,
                count,
                read,
                selection.as_deref(),
                counted,
            )?,
        }
    }
    if damaged {
        return Err(Damaged);
    }
    Ok(())
}

/// A small day of three visits with every column used, for the fuzz target
/// and the tests.
pub(crate) fn sample_day(day_start_ms: i64) -> Vec<VisitRecord> {
    let event = |ts: i64, pageview: bool, code: i64, pathname: i64| EventRecord {
        ts,
        pageview,
        code,
        pathname,
        ..EventRecord::default()
    };
    let d = day_start_ms;
    let mut first = VisitRecord {
        events_read: true,
        id: -1,
        visitor_id: 1 << 40,
        start_ts: d + 1_500,
        end_ts: d + 61_500,
        pageviews: 2,
        events_count: 3,
        entry_page: Some(4),
        exit_page: Some(5),
        attrs: VisitAttributes {
            referrer_source: Some(7),
            utm_source: Some(8),
            browser: Some(9),
            device: 1,
            country: Some(10),
            is_bot: true,
            ..VisitAttributes::default()
        },
        events: vec![
            event(d + 1_500, true, 4, 4),
            event(d + 1_500, false, 11, 4),
            event(d + 61_500, true, 5, 5),
        ],
        props: vec![(12, 13), (14, -15)],
    };
    first.events[1].props = (0, 2);
    first.events[1].revenue_micros = Some(-2_500_000);
    first.events[1].currency = Some(16);
    first.events[1].hostname = 17;
    first.events[2].consent = Some(18);
    let second = VisitRecord {
        events_read: true,
        id: -2,
        visitor_id: 3,
        start_ts: d + 1_500,
        end_ts: d + 1_500,
        pageviews: 1,
        events_count: 1,
        entry_page: Some(4),
        exit_page: Some(4),
        attrs: VisitAttributes {
            device: 2,
            screen_width: Some(1280),
            ..VisitAttributes::default()
        },
        events: vec![event(d + 1_500, true, 4, 4)],
        props: Vec::new(),
    };
    // Crosses midnight.
    let third = VisitRecord {
        events_read: true,
        id: -3,
        visitor_id: 3,
        start_ts: d + 86_000_000,
        end_ts: d + 87_000_000,
        pageviews: 1,
        events_count: 2,
        entry_page: Some(300),
        exit_page: Some(300),
        attrs: VisitAttributes::default(),
        events: vec![
            event(d + 86_000_000, true, 300, 300),
            EventRecord {
                revenue_micros: Some(1),
                hostname: 17,
                consent: Some(1),
                ..event(d + 87_000_000, false, 11, 300)
            },
        ],
        props: Vec::new(),
    };
    vec![first, second, third]
}

/// Decodes `data` as a part of a day segment and returns how many visits
/// decoded (`None`: damaged), for the fuzz target and its property test. It
/// must never panic. The first byte picks the part of a valid segment
/// ([`sample_day`]) that the rest replaces (bits 0 to 3, modulo the part
/// count), whether the rest is sealed first so that the decoding itself is
/// reached (bit 7 clear) or taken as stored bytes, and the columns read
/// (bits 4 to 6: all, events only, visits only, all with a third of the
/// visits skipped and a third taken without their events, or all through a
/// gate with an attribute condition, a step need and a property need,
/// [`FuzzGate`]).
#[doc(hidden)]
pub fn fuzz_decode(data: &[u8]) -> Option<usize> {
    let (&selector, rest) = data.split_first()?;
    let mut parts = encode(0, &sample_day(0));
    let replaced = usize::from(selector & 0x0F) % parts.len();
    parts[replaced].1 = if selector & 0x80 == 0 {
        seal(rest.to_vec())
    } else {
        rest.to_vec()
    };
    let columns = match (selector >> 4) & 0x07 {
        0..=2 => Columns::ALL,
        3 | 4 => Columns {
            events: true,
            event_times: true,
            ..Columns::default()
        },
        5 => Columns {
            visitors: true,
            visit: true,
            attributes: AttributeSet::ALL,
            ..Columns::default()
        },
        // A gate skips a third of the visits and takes a third without
        // their events, so their events are skipped.
        _ => Columns::ALL,
    };
    let mut unsealed: DayParts<'_> = [None; part::COUNT];
    for (id, bytes) in &parts {
        unsealed[*id as usize] = Some(unseal(bytes).ok()?);
    }
    let mut record = VisitRecord::default();
    let mut seen = 0;
    let mode = (selector >> 4) & 0x07;
    let gated = std::sync::atomic::AtomicUsize::new(0);
    let scripted = |_: &VisitRecord| {
        let at = gated.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        match at % 3 {
            _ if mode != 6 => Take::Events,
            0 => Take::Skip,
            1 => Take::Visit,
            _ => Take::Events,
        }
    };
    let range = (i64::MIN, i64::MAX);
    let outcome = if mode == 7 {
        decode(
            0,
            &unsealed,
            columns,
            range,
            &mut record,
            &FuzzGate::new(),
            None,
            |_| {
                seen += 1;
            },
        )
        .and_then(|()| {
            // And the visits a gate takes by their span, gathered whole.
            let mut whole = WholeVisits::default();
            // (Without visit ids, which visits gathered whole lack.)
            decode(
                0,
                &unsealed,
                Columns {
                    ids: false,
                    ..columns
                },
                range,
                &mut record,
                &SpanGate {
                    conditions: &FuzzGate::new().conditions,
                    rule: SpanGate::FUZZ_RULE,
                },
                Some(&mut whole),
                |_| seen += 1,
            )?;
            seen += whole.len();
            Ok(())
        })
    } else {
        decode(
            0,
            &unsealed,
            columns,
            range,
            &mut record,
            &scripted,
            None,
            |_| {
                seen += 1;
            },
        )
    };
    outcome.ok()?;
    // The code index is read alone too, as a count by code reads it.
    if let Some(index) = unsealed[part::CODE_VISITS as usize] {
        let count = visit_count(unsealed[part::STARTS as usize]?).ok()?;
        code_visits::tally(index, count, None, |_| true, |_, _| {}).ok()?;
    }
    // So are the entries of a count by code that also counts revenue and
    // properties.
    if let (Some(steps), Some(starts)) = (
        unsealed[part::STEPS as usize],
        unsealed[part::STARTS as usize],
    ) {
        let count = visit_count(starts).ok()?;
        let entries = (
            unsealed[part::REVENUE as usize],
            unsealed[part::PROPS as usize],
        );
        code_entries::walk(steps, count, entries, None, |_| {}).ok()?;
        // From the entry events too, as a day that has them is walked.
        if let Some(events) = unsealed[part::ENTRY_EVENTS as usize] {
            code_entries::walk_indexed(events, count, entries, None, |_| {}).ok()?;
        }
    }
    // And the entry events, as the revenue without filters reads them.
    if let (Some(events), Some(revenue)) = (
        unsealed[part::ENTRY_EVENTS as usize],
        unsealed[part::REVENUE as usize],
    ) {
        entry_events::amounts(0, (events, revenue), None, |_| {}).ok()?;
    }
    // And the visits with properties, as the export under a filter on a
    // property reads them from the entry events.
    if VISITS_WITH_PROPS_PARTS
        .iter()
        .zip(&unsealed)
        .all(|(wanted, part)| !wanted || part.is_some())
    {
        visits_with_props(0, &unsealed, &FuzzGate::new(), &mut record, |_| {}).ok()?;
    }
    Some(seen)
}

/// The gate of [`fuzz_decode`]'s last mode: visits whose source is the
/// sample day's first, that have a page view of its first path, or a
/// custom event, and an event with its first visit's first property, so
/// that the screen of the attributes part, the search of the event codes
/// and that of the entry events read damaged bytes too.
struct FuzzGate {
    conditions: [AttributeCondition; 1],
    needs: [StepNeed; 1],
    props: [PropNeed; 1],
}

impl FuzzGate {
    fn new() -> Self {
        let sample = sample_day(0);
        let first = sample.first();
        Self {
            conditions: [AttributeCondition {
                attribute: Attribute::Source,
                value: first.and_then(|visit| visit.attrs.referrer_source),
                is: true,
            }],
            needs: [StepNeed::PathOrCustom(
                first
                    .and_then(|visit| visit.events.first())
                    .map_or(0, |event| event.pathname),
            )],
            // The first property of the first visit's events, so that the
            // entry events and the properties are searched too.
            props: [first.and_then(|visit| visit.props.first()).map_or(
                PropNeed {
                    key: 0,
                    value: None,
                },
                |&(key, value)| PropNeed {
                    key,
                    value: Some(value),
                },
            )],
        }
    }
}

impl VisitGate for FuzzGate {
    fn take(&self, _: &VisitRecord) -> Take {
        Take::Events
    }

    fn attribute_conditions(&self) -> &[AttributeCondition] {
        &self.conditions
    }

    fn step_needs(&self) -> &[StepNeed] {
        &self.needs
    }

    fn prop_needs(&self) -> &[PropNeed] {
        &self.props
    }
}

/// A gate that takes the visits that meet its attribute conditions by
/// their span alone, by a [`SpanRule`] (the fuzz target's last mode and
/// the tests of [`WholeVisits`]).
pub(crate) struct SpanGate<'a> {
    /// The conditions.
    pub(crate) conditions: &'a [AttributeCondition],
    /// What it takes of a visit by its span.
    pub(crate) rule: SpanRule,
}

impl SpanGate<'_> {
    /// The rule of the fuzz target's last mode: visits that end in the
    /// sample day's first ten seconds are skipped, those that start after
    /// them and end before the day after next taken whole, the rest with
    /// their events (the sample day has one of each).
    const FUZZ_RULE: SpanRule = SpanRule {
        skip_before: 10_000,
        whole_until: 2 * 86_400_000,
    };
}

/// A monotone rule of what a gate takes of a visit by its span (see
/// [`VisitGate::take_span`]): skipped when it ends before `skip_before`,
/// whole when it lies within `[skip_before, whole_until]`, else with its
/// events.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SpanRule {
    /// Visits that end before this are skipped.
    pub(crate) skip_before: i64,
    /// Visits from `skip_before` that end by this are taken whole.
    pub(crate) whole_until: i64,
}

impl SpanRule {
    /// What the rule takes of a visit from `start_ms` to `end_ms`.
    pub(crate) fn take(self, start_ms: i64, end_ms: i64) -> Take {
        if end_ms < self.skip_before {
            Take::Skip
        } else if start_ms >= self.skip_before && end_ms <= self.whole_until {
            Take::Visit
        } else {
            Take::Events
        }
    }
}

impl VisitGate for SpanGate<'_> {
    fn take(&self, visit: &VisitRecord) -> Take {
        self.take_span(visit.start_ts, visit.end_ts)
    }

    fn reads_counters(&self) -> bool {
        false
    }

    fn attribute_conditions(&self) -> &[AttributeCondition] {
        self.conditions
    }

    fn takes_by_span(&self) -> bool {
        true
    }

    fn take_span(&self, start_ms: i64, end_ms: i64) -> Take {
        self.rule.take(start_ms, end_ms)
    }
}

#[cfg(test)]
mod tests;
