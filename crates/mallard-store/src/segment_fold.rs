//! Queries over day segments: the packed days of a period read a chunk at a
//! time and folded on rayon's pool.
//!
//! [`fold_records`] hands each visit over as a [`VisitRecord`] with the
//! columns asked for; [`fold`] is its special case for the behavioural
//! queries, which need only start times, visitor ids and event codes, handed
//! over undecoded ([`PackedCodes`]). Both read a day only when it is in the
//! current format (it has the part [`part::MARKER`]): a day packed in an
//! earlier format, or not packed, ends the run of packed days, and the
//! caller reads rows from there up to the next packed day ([`rows_after`],
//! [`next_packed_day`]), on the calling thread while the pool folds the
//! run's last chunk. A part that fails its checksum or does not decode
//! answers [`StoreError::DamagedSegment`].

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use rusqlite::{Connection, params};

use crate::day_segment::{self, Damaged, DayScreen, STEPS_FORMAT, part};
use crate::error::StoreError;
use crate::varint::get_varint;
use crate::visit_days::{DAY_MS, DayRange, day_ranges, utc_day};
use crate::visit_record::{
    AttributeCondition, CodeCount, Columns, Take, VisitGate, VisitRecord, WholeVisits,
};

/// Packed days read before they are folded, at most. Eight, not sixteen:
/// eight concurrent filtered year-long queries peaked 70-100 MiB lower
/// (each holds two chunks, and what it decodes of them), at a few per cent
/// of a single query's time (docs/benchmarks.md, seventeenth session).
const CHUNK_DAYS: usize = 8;

/// The bytes of packed days read before they are folded, about: a chunk
/// ends with the day that reaches them. Two chunks are held at a time (one
/// folded while the next is read); a day of a site with 100 million events
/// a year is 5.5 MB, so a chunk of those ends after three days, and the
/// two held take about 33 MB.
const CHUNK_BYTES: usize = 16 << 20;

/// Whether a chunk of `days` days of `bytes` bytes is full.
fn chunk_full(days: usize, bytes: usize) -> bool {
    days >= CHUNK_DAYS || bytes >= CHUNK_BYTES
}

/// A day as loaded, before it is folded.
trait LoadedDay: Sync {
    /// The bytes of its parts.
    fn bytes(&self) -> usize;
}

/// The bytes of the parts loaded.
fn parts_bytes<'a>(parts: impl IntoIterator<Item = &'a Option<Vec<u8>>>) -> usize {
    parts.into_iter().flatten().map(Vec::len).sum()
}

/// The error of a damaged part of `site`'s segment of UTC `day`.
fn damaged(site_id: i64, day: i64) -> StoreError {
    StoreError::DamagedSegment { site_id, day }
}

/// The payloads of the parts of `site`'s segment of `day` marked in
/// `wanted`, their checksums verified; `None` when the day has no segment
/// in the current format.
pub(crate) fn load_parts(
    conn: &Connection,
    site: i64,
    day: i64,
    wanted: [bool; part::COUNT],
) -> Result<Option<[Option<Vec<u8>>; part::COUNT]>, StoreError> {
    // The bytes of the parts not asked for are not even read: SQLite
    // would load a selected blob's overflow pages at each step.
    let mask = wanted
        .iter()
        .enumerate()
        .filter(|(_, wanted)| **wanted)
        .fold(0i64, |mask, (id, _)| mask | 1 << id);
    let mut stmt = conn.prepare_cached(
        "SELECT part, CASE WHEN (?4 >> part) & 1 THEN data END FROM day_segments \
         WHERE site_id = ?1 AND day = ?2 AND part BETWEEN 0 AND ?3",
    )?;
    let mut rows = stmt.query(params![site, day, part::LAST, mask])?;
    let mut parts: [Option<Vec<u8>>; part::COUNT] = Default::default();
    let mut current = false;
    while let Some(row) = rows.next()? {
        let id: i64 = row.get(0)?;
        current |= id == part::MARKER;
        // Only the parts asked for are read: the others' bytes stay on disk.
        if wanted[id as usize] {
            // A value that is not a blob is damaged too.
            let rusqlite::types::ValueRef::Blob(stored) = row.get_ref(1)? else {
                return Err(damaged(site, day));
            };
            let payload = day_segment::unseal(stored).map_err(|Damaged| damaged(site, day))?;
            parts[id as usize] = Some(payload.to_vec());
        }
    }
    if !current {
        return Ok(None);
    }
    // Every part asked for is there, but those a day may lack.
    let missing = wanted
        .iter()
        .zip(&parts)
        .enumerate()
        .any(|(id, (w, p))| *w && p.is_none() && !part::is_optional(id as i64));
    if missing {
        return Err(damaged(site, day));
    }
    Ok(Some(parts))
}

/// Folds days on rayon's pool: the calling thread reads the days of
/// `ranges` a chunk at a time ([`CHUNK_DAYS`], [`CHUNK_BYTES`]) with `load`
/// (which answers `None` for a day that is not packed, ending the fold)
/// while the pool folds the previous chunk, then helps; each thread takes
/// the chunk's days one at a time and folds them with `fold_day` into an
/// accumulator of its own (made by `new`) with a scratch of its own (made
/// by `scratch`), both kept from chunk to chunk. The pool's threads live
/// on, so the allocator reuses their memory from query to query, and its
/// tasks never wait for each other, so queries running at once cannot block
/// the pool.
///
/// Once every packed day is read, the calling thread runs `after_loads`
/// (once) with the first instant not folded (`to_ms` when every day was)
/// while the pool folds the last chunk, and only then helps: the caller's
/// work on the same connection (reading the open day's rows) overlaps the
/// fold instead of following it. Returns the accumulators and what
/// `after_loads` answered.
fn fold_days<D: LoadedDay, A: Send, S: Send, T>(
    ranges: Vec<DayRange>,
    to_ms: i64,
    mut load: impl FnMut(DayRange) -> Result<Option<D>, StoreError>,
    (new, scratch): (impl Fn() -> A + Sync, impl Fn() -> S + Sync),
    fold_day: impl Fn(&mut A, &mut S, &D) -> Result<(), StoreError> + Sync,
    mut after_loads: impl FnMut(i64) -> Result<T, StoreError>,
) -> Result<(Vec<A>, T), StoreError> {
    // One accumulator per pool thread, and one for the calling thread, each
    // with its scratch, kept from chunk to chunk (buffers the allocator
    // would otherwise hand out and take back a chunk at a time, in as many
    // threads).
    let workers = rayon::current_num_threads().clamp(1, 4);
    let mut folds: Vec<(A, S)> = (0..=workers).map(|_| (new(), scratch())).collect();
    let rest = Cell::new(to_ms);
    let mut ranges = ranges.into_iter();
    let mut done = false;
    // The next chunk of packed days, empty once they are all read.
    let mut read_chunk = || -> Result<Vec<D>, StoreError> {
        let mut chunk = Vec::with_capacity(CHUNK_DAYS);
        let mut bytes = 0;
        while !done && !chunk_full(chunk.len(), bytes) {
            let Some(range) = ranges.next() else {
                done = true;
                break;
            };
            match load(range)? {
                Some(day) => {
                    bytes += day.bytes();
                    chunk.push(day);
                }
                None => {
                    rest.set(range.from_ms);
                    done = true;
                }
            }
        }
        Ok(chunk)
    };
    let mut after = None;
    let mut chunk = read_chunk()?;
    if chunk.is_empty() {
        after = Some(after_loads(rest.get()));
    }
    while !chunk.is_empty() {
        // Days are taken one at a time by whoever is free.
        let taken = AtomicUsize::new(0);
        let fold_chunk = |(fold, scratch): &mut (A, S)| -> Result<(), StoreError> {
            loop {
                let Some(day) = chunk.get(taken.fetch_add(1, Ordering::Relaxed)) else {
                    return Ok(());
                };
                fold_day(fold, scratch, day)?;
            }
        };
        let (pool_folds, own_fold) = folds.split_at_mut(workers);
        let mut outcomes: Vec<Result<(), StoreError>> = (0..workers).map(|_| Ok(())).collect();
        let mut next = Ok(Vec::new());
        let mut own = Ok(());
        rayon::in_place_scope(|scope| {
            for (fold, outcome) in pool_folds.iter_mut().zip(outcomes.iter_mut()) {
                let fold_chunk = &fold_chunk;
                scope.spawn(move |_| *outcome = fold_chunk(fold));
            }
            // The next chunk is read meanwhile; when none is left, the
            // work after the loads runs; then this thread helps.
            next = read_chunk();
            if next.as_ref().is_ok_and(Vec::is_empty) {
                after = Some(after_loads(rest.get()));
            }
            own = fold_chunk(&mut own_fold[0]);
        });
        outcomes
            .into_iter()
            .chain([own])
            .collect::<Result<(), StoreError>>()?;
        chunk = next?;
    }
    // The last read, the empty one, ran it.
    let after = match after {
        Some(after) => after?,
        None => after_loads(rest.get())?,
    };
    Ok((folds.into_iter().map(|(fold, _)| fold).collect(), after))
}

/// The parts of one segment day a records query reads.
struct RecordDay {
    site: i64,
    range: DayRange,
    /// The columns read: the query's, or without the events when no visit
    /// of the day may need them.
    columns: Columns,
    parts: [Option<Vec<u8>>; part::COUNT],
    /// Whether the day is counted from its code index alone
    /// ([`day_segment::fold_codes`]): `parts` are those it reads.
    by_codes: bool,
}

impl LoadedDay for RecordDay {
    fn bytes(&self) -> usize {
        parts_bytes(&self.parts)
    }
}

/// Reads the parts of `site`'s segment of the day of `range` that a records
/// query with `columns` needs: the visit-level parts first, then the events'
/// only when some visit of the day may be taken with them
/// ([`VisitGate::may_need_events`]), as judged from the day's envelope (its
/// first instant in the range to the latest end of its visits) and the
/// dictionaries of the gate's attribute conditions. `None` when the day is
/// not packed in the current format.
///
/// The day's visits are not walked to tell more precisely: this runs on the
/// one thread that reads the chunk's days while the pool folds the chunk
/// before, and a walk there (two varints and a call per visit) cost more
/// than the reading of the events parts it saved (a filtered daily time
/// series, whose days nearly all hold a visit across midnight, spent half
/// its time in it); the fold itself passes over the events of the visits
/// taken without them.
fn load_record_day(
    conn: &Connection,
    site: i64,
    range: DayRange,
    columns: Columns,
    gate: &impl VisitGate,
) -> Result<Option<RecordDay>, StoreError> {
    let day = utc_day(range.from_ms);
    let mut parts: [Option<Vec<u8>>; part::COUNT] = Default::default();
    // A whole day none of whose visits needs its event times, for a gate
    // that counts codes alone, is counted from its code index when that is
    // faster ([`day_segment::codes_worth_reading`]).
    if gate.counts_codes_alone()
        && whole_utc_day(range)
        && !envelope_may(range, &|start, end| gate.codes_need_event_times(start, end))
    {
        // The index and the visitors are read only for a day counted from
        // them.
        let judged = day_segment::parts_to_judge_codes(gate);
        if !load_more(conn, site, day, &mut parts, judged)? {
            return Ok(None);
        }
        let borrowed = day_segment::borrow_parts(&parts);
        if day_segment::codes_worth_reading(&borrowed, gate)
            .map_err(|Damaged| damaged(site, day))?
        {
            if !load_more(
                conn,
                site,
                day,
                &mut parts,
                day_segment::parts_for_codes(gate),
            )? {
                return Ok(None);
            }
            if parts[part::ENTRY_EVENTS as usize].is_none()
                && !load_more(
                    conn,
                    site,
                    day,
                    &mut parts,
                    day_segment::steps_for_entries(gate),
                )?
            {
                return Ok(None);
            }
            if parts[part::CODE_VISITS as usize].is_some() {
                // What the index does not tell is decoded through the
                // gate beside it, with the parts that gate needs.
                let Some(beside) = gate.beside_codes() else {
                    return Ok(Some(RecordDay {
                        site,
                        range,
                        columns,
                        parts,
                        by_codes: true,
                    }));
                };
                return Ok(
                    load_decoded(conn, (site, range), columns, &beside, parts)?.map(|day| {
                        RecordDay {
                            by_codes: true,
                            ..day
                        }
                    }),
                );
            }
        }
    }
    load_decoded(conn, (site, range), columns, gate, parts)
}

/// Reads the parts of the day of `range` that decoding its visits for
/// `gate` with `columns` needs, beyond those in `parts` already (see
/// [`load_record_day`]).
fn load_decoded(
    conn: &Connection,
    (site, range): (i64, DayRange),
    columns: Columns,
    gate: &impl VisitGate,
    mut parts: [Option<Vec<u8>>; part::COUNT],
) -> Result<Option<RecordDay>, StoreError> {
    let day = utc_day(range.from_ms);
    let envelope = |holds: &dyn Fn(i64, i64) -> bool| envelope_may(range, holds);
    let visit_level = columns.without_events();
    if !load_more(
        conn,
        site,
        day,
        &mut parts,
        day_segment::parts_for(visit_level),
    )? {
        return Ok(None);
    }
    // Whether some value of the day meets the gate's attribute conditions.
    let screened = || -> Result<bool, StoreError> {
        let Some(starts) = &parts[part::STARTS as usize] else {
            return Ok(true);
        };
        let screen = |starts: &[u8]| -> Result<bool, Damaged> {
            let screen = DayScreen::new(
                parts[part::ATTRIBUTES as usize].as_deref(),
                day_segment::visit_count(starts)?,
                gate.attribute_conditions(),
            )?;
            Ok(!screen.rejects_every_visit())
        };
        screen(starts).map_err(|Damaged| damaged(site, day))
    };
    // A whole UTC day none of whose visits the gate needs the instants of
    // reads its starts as the day's first instant.
    let approximate_starts =
        whole_utc_day(range) && !envelope(&|start, end| gate.may_need_starts(start, end));
    let with_events =
        columns.events && envelope(&|start, end| gate.may_need_events(start, end)) && screened()?;
    if !with_events {
        return Ok(Some(RecordDay {
            site,
            range,
            columns: Columns {
                approximate_starts,
                ..visit_level
            },
            parts,
            by_codes: false,
        }));
    }
    // Event times only when some visit of the day may need them (the
    // screen passed above).
    let times_needed = columns.event_times
        && envelope(&|start, end| {
            gate.may_need_events(start, end) && gate.may_need_event_times(start, end)
        });
    let columns = Columns {
        event_times: times_needed,
        approximate_starts,
        ..columns
    };
    // Every read is one read transaction ([`crate::reader::ReadPool`]), so
    // the day is still packed; were it not, its rows would answer for it.
    if !load_more(conn, site, day, &mut parts, day_segment::parts_for(columns))? {
        return Ok(None);
    }
    Ok(Some(RecordDay {
        site,
        range,
        columns,
        parts,
        by_codes: false,
    }))
}

/// Whether the envelope of the day of `range` (its first instant in the
/// range to the latest end of its visits) may hold for `holds`, which is
/// monotone as [`VisitGate::may_need_events`] is: when it does not, no
/// visit of the day does.
fn envelope_may(range: DayRange, holds: &dyn Fn(i64, i64) -> bool) -> bool {
    range
        .max_end
        .is_none_or(|max_end| holds(range.from_ms, max_end))
}

/// Whether `range` is the whole of its UTC day.
fn whole_utc_day(range: DayRange) -> bool {
    let day = utc_day(range.from_ms);
    range.from_ms == day * DAY_MS && range.to_ms == (day + 1) * DAY_MS
}

/// Adds to `parts` those of `wanted` that it lacks, read as
/// [`load_parts`] reads them; `false` when the day has no segment in the
/// current format.
fn load_more(
    conn: &Connection,
    site: i64,
    day: i64,
    parts: &mut [Option<Vec<u8>>; part::COUNT],
    mut wanted: [bool; part::COUNT],
) -> Result<bool, StoreError> {
    for (wanted, read) in wanted.iter_mut().zip(parts.iter()) {
        *wanted &= read.is_none();
    }
    let Some(more) = load_parts(conn, site, day, wanted)? else {
        return Ok(false);
    };
    for (slot, read) in parts.iter_mut().zip(more) {
        if read.is_some() {
            *slot = read;
        }
    }
    Ok(true)
}

/// Folds the visits of `site` that start in `[from_ms, to_ms)` on packed
/// days, up to the first day with visits that is not packed, in parallel on
/// rayon's pool a chunk of days at a time (see [`fold_days`]). Each visit is
/// decoded into a reused [`VisitRecord`] with only `columns` filled (and its
/// id); `gate` sees it before its events are decoded and says what is taken
/// of it ([`Take`]): the events of a visit skipped or taken without them are
/// skipped undecoded, and a day none of whose visits may need its events is
/// read without them. A day that a gate which
/// [`VisitGate::counts_codes_alone`] counts from its code index alone hands
/// `codes` what the index tells instead of handing its visits to `each`.
/// Returns the per-thread accumulators, to be merged by the caller, and
/// what `after_loads` answered for the instant from which the visits are
/// not packed (`to_ms` when all are): it runs on this thread while the
/// pool folds the last chunk ([`fold_days`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn fold_records<A: Send, T>(
    conn: &Connection,
    site: i64,
    from_ms: i64,
    to_ms: i64,
    columns: Columns,
    gate: &impl VisitGate,
    new: impl Fn() -> A + Sync,
    each: impl Fn(&mut A, &VisitRecord) + Sync,
    codes: impl Fn(&mut A, CodeCount<'_>) + Sync,
    after_loads: impl FnMut(i64) -> Result<T, StoreError>,
) -> Result<(Vec<A>, T), StoreError> {
    fold_days(
        day_ranges(conn, site, from_ms, to_ms)?,
        to_ms,
        |range| {
            crate::cancel::check(conn)?;
            load_record_day(conn, site, range, columns, gate)
        },
        (new, <(VisitRecord, WholeVisits)>::default),
        |fold, (record, whole), day| {
            let parts = day_segment::borrow_parts(&day.parts);
            let day_number = utc_day(day.range.from_ms);
            // Decodes the day's visits through `through`: those taken one by
            // one go to `each`, those gathered whole to `codes`.
            let mut decode_through = |fold: &mut A, through| {
                let decoded = day_segment::decode(
                    day_number * DAY_MS,
                    &parts,
                    day.columns,
                    (day.range.from_ms, day.range.to_ms),
                    record,
                    through,
                    Some(&mut *whole),
                    |visit| each(fold, visit),
                );
                if decoded.is_ok() && !whole.is_empty() {
                    codes(fold, CodeCount::WholeVisits(whole));
                }
                whole.clear();
                decoded.map_err(|Damaged| damaged(day.site, day_number))
            };
            if !day.by_codes {
                return decode_through(fold, gate);
            }
            // Only a day with a code index is read this way.
            day_segment::fold_codes(&parts, gate, |events| codes(fold, events))
                .map_err(|Damaged| damaged(day.site, day_number))?;
            let Some(beside) = gate.beside_codes() else {
                return Ok(());
            };
            codes(fold, CodeCount::VisitsBesideCodes(true));
            let decoded = decode_through(fold, &beside);
            codes(fold, CodeCount::VisitsBesideCodes(false));
            decoded
        },
        after_loads,
    )
}

/// The `codes` of a fold whose gate never
/// [`VisitGate::counts_codes_alone`] (see [`fold_records`]): nothing is
/// handed to it.
pub(crate) fn no_code_events<A>(_: &mut A, _: CodeCount<'_>) {}

/// One packed visit as a behavioural query sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PackedVisit<'a> {
    /// The start (ms since the epoch); without start times (see
    /// [`Parts::starts`]) the day's first instant.
    pub(crate) start_ts: i64,
    /// The visitor id (0 unless visitors were asked for).
    pub(crate) visitor_id: i64,
    /// The event codes in time order ([`day_segment::step_code`]), when
    /// steps were asked for; `None` for a visit the gate hands over without
    /// them ([`CodeGate::steps_for`]).
    pub(crate) codes: Option<PackedCodes<'a>>,
}

/// The event codes of one packed visit, decoded as they are iterated.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PackedCodes<'a>(pub(crate) &'a [u8]);

/// Decodes the code at the start of `bytes` and returns it with the bytes
/// after it. Codes of one and two bytes (paths and names up to id 8,191)
/// mix in any order, so they decode without a branch between them: a
/// mispredicted branch per code cost more than the decoding.
#[inline(always)]
fn split_code(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let &first = bytes.first()?;
    let second = bytes.get(1).copied().unwrap_or(0);
    let long = first >> 7;
    if long & second >> 7 == 1 {
        // Three bytes or more: rare.
        let mut at = 0;
        // The last byte of a visit's codes ends a varint (checked when the
        // visit is handed over), so a code never runs past them.
        let code = get_varint(bytes, &mut at)?;
        return Some((code, &bytes[at..]));
    }
    let code =
        u64::from(first & 0x7F) | (u64::from(second) << 7) & 0u64.wrapping_sub(u64::from(long));
    Some((code, bytes.get(1 + usize::from(long)..).unwrap_or_default()))
}

impl Iterator for PackedCodes<'_> {
    type Item = u64;

    #[inline]
    fn next(&mut self) -> Option<u64> {
        let (code, rest) = split_code(self.0)?;
        self.0 = rest;
        Some(code)
    }

    /// Folds every code, keeping the position in a local (a loop of `next`
    /// stored it back on every code).
    #[inline(always)]
    fn fold<B, G: FnMut(B, u64) -> B>(self, init: B, mut each: G) -> B {
        let (mut bytes, mut acc) = (self.0, init);
        while let Some((code, rest)) = split_code(bytes) {
            acc = each(acc, code);
            bytes = rest;
        }
        acc
    }
}

/// Which parts of packed days a behavioural query reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Parts<'a> {
    /// Which days are read with their start times; on the others a visit's
    /// `start_ts` is its day's first instant (days the period's bounds cut
    /// are always read with them).
    pub(crate) starts: Starts<'a>,
    /// The event codes.
    pub(crate) steps: bool,
    /// The visitor ids.
    pub(crate) visitors: bool,
    /// With steps: visits with fewer steps are skipped (each step takes at
    /// least one byte, so fewer bytes mean fewer steps).
    pub(crate) min_steps: usize,
    /// With steps: which visits matter by the codes they hold, read from
    /// the days' code index.
    pub(crate) gate: Option<CodeGate<'a>>,
    /// Conditions on visit attributes that a visit must meet to be handed
    /// over (none: every visit), judged on the days' attribute columns
    /// ([`DayScreen`]) without decoding a visit.
    pub(crate) screen: &'a [AttributeCondition],
}

/// Which packed days a fold reads the start times of ([`Parts::starts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Starts<'a> {
    /// None.
    None,
    /// Every day's (for tests that read visits back whole).
    #[cfg(test)]
    All,
    /// Those of the days within which one of these instants (ascending)
    /// falls, for a query that needs only to know on which side of them a
    /// visit starts (retention's week starts): on another day every visit
    /// is on the same side as the day's first instant.
    Across(&'a [i64]),
}

impl Starts<'_> {
    /// Whether the visits of `range` (within one UTC day) are read with
    /// their start times.
    fn read_on(self, range: DayRange) -> bool {
        match self {
            Self::None => false,
            #[cfg(test)]
            Self::All => true,
            Self::Across(bounds) => {
                let next = bounds.partition_point(|&bound| bound <= range.from_ms);
                bounds.get(next).is_some_and(|&bound| bound < range.to_ms)
            }
        }
    }
}

/// Which visits of packed days a behavioural query wants, by the codes
/// they hold ([`day_segment::code_visits::holders`]): on a day with a code
/// index the visits that hold none of `holding` are passed over, and those
/// that hold none of `steps_for` are handed over without their codes, so
/// neither has its codes decoded. A day without the index (packed before
/// it existed) hands every visit over with its codes, so a query must give
/// the same answer either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CodeGate<'a> {
    /// A visit that holds none of these codes (in ascending order) adds
    /// nothing.
    pub(crate) holding: &'a [u64],
    /// A visit that holds one of `holding` but none of these (in ascending
    /// order) adds the same whatever its other codes are.
    pub(crate) steps_for: &'a [u64],
}

impl CodeGate<'_> {
    /// Bit 0 when `code` is one of `holding`, bit 1 one of `steps_for`
    /// (a step of a page pattern may have thousands of codes).
    fn marks(&self, code: u64) -> u8 {
        u8::from(self.holding.binary_search(&code).is_ok())
            | u8::from(self.steps_for.binary_search(&code).is_ok()) << 1
    }
}

/// The parts of one packed day that a behavioural query reads.
struct PackedDay {
    site: i64,
    /// The part of the query's period on this day.
    range: DayRange,
    /// `None` when start times were neither asked for nor needed to cut the
    /// day at the period's bounds.
    starts: Option<Vec<u8>>,
    /// `None` unless steps were asked for.
    steps: Option<Vec<u8>>,
    /// Visits with fewer bytes of codes are skipped.
    min_steps: usize,
    visitors: Option<Vec<u8>>,
    /// The code index, when the query has a gate and the day an index.
    code_visits: Option<Vec<u8>>,
    /// The attributes, when the query has a screen.
    attributes: Option<Vec<u8>>,
}

impl LoadedDay for PackedDay {
    fn bytes(&self) -> usize {
        parts_bytes([
            &self.starts,
            &self.steps,
            &self.visitors,
            &self.code_visits,
            &self.attributes,
        ])
    }
}

/// Reads the parts of the day of `range`; `None` when the day is not packed
/// in the current format.
fn load_day(
    conn: &Connection,
    site: i64,
    range: DayRange,
    parts: Parts<'_>,
) -> Result<Option<PackedDay>, StoreError> {
    let day = utc_day(range.from_ms);
    let whole_day = range.from_ms == day * DAY_MS && range.to_ms == (day + 1) * DAY_MS;
    // Start times are read when asked for, and to cut a day at the period's
    // bounds; otherwise the visitor ids count the visits (for a screen to
    // judge), or the steps tell them apart.
    let screened = !parts.screen.is_empty();
    let starts =
        parts.starts.read_on(range) || !whole_day || !parts.visitors && (screened || !parts.steps);
    let mut wanted = [false; part::COUNT];
    wanted[part::STARTS as usize] = starts;
    wanted[part::STEPS as usize] = parts.steps;
    wanted[part::VISITORS as usize] = parts.visitors;
    wanted[part::CODE_VISITS as usize] = parts.steps && parts.gate.is_some();
    wanted[part::ATTRIBUTES as usize] = screened;
    let Some(mut loaded) = load_parts(conn, site, day, wanted)? else {
        return Ok(None);
    };
    let mut take = |id: i64| loaded[id as usize].take();
    Ok(Some(PackedDay {
        site,
        range,
        starts: take(part::STARTS),
        steps: take(part::STEPS),
        min_steps: if parts.steps { parts.min_steps } else { 0 },
        visitors: take(part::VISITORS),
        code_visits: take(part::CODE_VISITS),
        attributes: take(part::ATTRIBUTES),
    }))
}

/// Calls `each` with every visit of `day` that starts within its range,
/// that `gate` (on a day with a code index) lets through and that meets the
/// conditions of `screen`.
fn decode_day(
    day: &PackedDay,
    gate: Option<CodeGate<'_>>,
    screen: &[AttributeCondition],
    each: &mut impl FnMut(PackedVisit<'_>),
) -> Result<(), Damaged> {
    let day_start = utc_day(day.range.from_ms) * DAY_MS;
    // Where the visits' codes start.
    let mut at_step = match &day.steps {
        Some(steps) if steps.first() == Some(&STEPS_FORMAT) => 1,
        Some(_) => return Err(Damaged),
        None => 0,
    };
    // Without start times every visit of the day is in the range, and the
    // steps end where the visits do (or, without steps, the visitor ids tell
    // how many there are).
    let (starts, mut at_start) = (day.starts.as_deref().unwrap_or_default(), 0);
    let mut count = match &day.starts {
        Some(_) => get_varint(starts, &mut at_start).ok_or(Damaged)?,
        None => u64::MAX,
    };
    let width = match &day.visitors {
        Some(bytes) if day.starts.is_some() => {
            day_segment::visitor_width(bytes, usize::try_from(count).map_err(|_| Damaged)?)?
        }
        Some(bytes) => match bytes.first() {
            Some(&w @ (6 | 8)) => usize::from(w),
            _ => return Err(Damaged),
        },
        None => 0,
    };
    // Without start times, the visitor ids count the visits.
    if let (None, Some(visitors)) = (&day.starts, &day.visitors) {
        let ids = visitors.len() - 1;
        if ids % width != 0 {
            return Err(Damaged);
        }
        count = (ids / width) as u64;
    }
    if count == u64::MAX && day.steps.is_none() {
        return Err(Damaged);
    }
    // Per visit, bit 0 when it holds a code of the gate's `holding`, bit 1
    // one of its `steps_for`.
    let held = match (gate, &day.code_visits) {
        (Some(gate), Some(index)) => {
            // The visitor ids tell the count when the start times do not;
            // a damaged count allocates no more than the index has bytes
            // (each visit is in the list of one code at least).
            let count_hint = match (&day.visitors, count) {
                (_, known) if known != u64::MAX => usize::try_from(known).unwrap_or(0),
                (Some(bytes), _) if width > 0 => bytes.len().saturating_sub(1) / width,
                _ => 0,
            };
            Some(day_segment::code_visits::holders(
                index,
                count_hint.min(index.len()),
                |code| gate.marks(code),
            )?)
        }
        _ => None,
    };
    // Per visit, whether it meets the screen's conditions (`None`: every
    // visit does); the day's start times or visitor ids count its visits (a
    // screened day is loaded with one of them, [`load_day`]).
    let selected = if screen.is_empty() {
        None
    } else {
        let (Some(attributes), true) = (&day.attributes, count != u64::MAX) else {
            return Err(Damaged);
        };
        let count = usize::try_from(count).map_err(|_| Damaged)?;
        let day_screen = DayScreen::new(Some(attributes), count, screen)?;
        if day_screen.rejects_every_visit() {
            return Ok(());
        }
        day_screen.selection(count)?
    };
    let held = held.as_deref();
    let mut hand = |span| hand_over(day, (held, width, day_start), span, each);
    let at = (&mut at_start, &mut at_step);
    let picks = (held, selected.as_deref());
    if picks == (None, None) && day.min_steps == 0 {
        // Every visit of the range is taken: each is handed over as it is
        // found.
        return visit_spans(day, at, count, picks, |span, take| {
            if take { hand(span) } else { Ok(()) }
        });
    }
    // The visits, at most: each takes a byte of start times or of steps at
    // least (a damaged count allocates no more).
    let bound = usize::try_from(count)
        .unwrap_or(usize::MAX)
        .min(match (&day.starts, &day.steps) {
            (Some(starts), _) => starts.len(),
            (None, Some(steps)) => steps.len(),
            (None, None) => usize::MAX,
        });
    TAKEN.with_borrow_mut(|taken| {
        if taken.len() < bound {
            taken.resize(bound, [0; 4]);
        }
        // Each thread keeps a day of a busy site's, not of the busiest.
        if taken.len() > KEPT_TAKEN && bound <= KEPT_TAKEN {
            taken.truncate(KEPT_TAKEN);
            taken.shrink_to_fit();
        }
        // The visits a gate or a screen takes are as good as random: a
        // branch on each mispredicted often enough to cost more than finding
        // them. So every visit is written, and the count moves on only for
        // those taken; then those are handed over.
        let mut n = 0;
        visit_spans(day, at, count, picks, |span, take| {
            *taken.get_mut(n).ok_or(Damaged)? = span;
            n += usize::from(take);
            Ok(())
        })?;
        taken[..n].iter().try_for_each(|&span| hand(span))
    })
}

/// Hands the visit of `span` over to `each`: with its codes unless `held`
/// (per visit, the gate's bits) says it is wanted without them, and with
/// its visitor id (of `width` bytes) when the day was read with them.
#[inline(always)]
fn hand_over(
    day: &PackedDay,
    (held, width, day_start): (Option<&[u8]>, usize, i64),
    [at, begin, end, offset]: VisitSpan,
    each: &mut impl FnMut(PackedVisit<'_>),
) -> Result<(), Damaged> {
    let at = at as usize;
    // A visit taken holds a code of the gate's, so its bits are there.
    let codes = match held.map(|held| held.get(at).copied().unwrap_or(0)) {
        Some(held) if held & 2 == 0 => None,
        _ => {
            let steps = day.steps.as_deref().unwrap_or_default();
            let codes = steps.get(begin as usize..end as usize).ok_or(Damaged)?;
            if codes.last().is_some_and(|&last| last >= 0x80) {
                return Err(Damaged);
            }
            Some(PackedCodes(codes))
        }
    };
    let visitor_id = match &day.visitors {
        Some(bytes) => day_segment::visitor_at(bytes, 1 + at * width, width).ok_or(Damaged)?,
        None => 0,
    };
    each(PackedVisit {
        start_ts: day_start + i64::from(offset),
        visitor_id,
        codes,
    });
    Ok(())
}

/// One visit of a packed day as [`visit_spans`] finds it: its number in
/// the day, the first byte of its codes in the steps part and the end of
/// them, and its start less the day's first instant.
type VisitSpan = [u32; 4];

/// Entries of [`TAKEN`] a thread keeps between days (1 MB).
const KEPT_TAKEN: usize = 1 << 16;

thread_local! {
    /// The visits of a day that a gate or a screen takes, reused from day
    /// to day.
    static TAKEN: std::cell::RefCell<Vec<VisitSpan>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Calls `sink` with every visit of `day` (reading its start times from
/// `at_start` on, and its steps' lengths from `at_step` on) and whether it
/// is taken:
/// whether it starts within the day's range, has `min_steps` bytes of codes,
/// holds a code of the gate's `holding` by `held`, and meets the screen by
/// `selected`.
fn visit_spans(
    day: &PackedDay,
    (at_start, at_step): (&mut usize, &mut usize),
    count: u64,
    (held, selected): (Option<&[u8]>, Option<&[bool]>),
    mut sink: impl FnMut(VisitSpan, bool) -> Result<(), Damaged>,
) -> Result<(), Damaged> {
    let day_start = utc_day(day.range.from_ms) * DAY_MS;
    let starts = day.starts.as_deref().unwrap_or_default();
    let steps = day.steps.as_deref().unwrap_or_default();
    // The part's length fits a `u32`, so the codes of a visit taken end
    // within it (checked as it is handed over) do too.
    if u32::try_from(steps.len()).is_err() {
        return Err(Damaged);
    }
    let (from, to) = (day.range.from_ms - day_start, day.range.to_ms - day_start);
    let mut offset = 0i64;
    let mut visit = 0usize;
    while (visit as u64) < count {
        if day.starts.is_some() {
            offset = offset.wrapping_add(get_varint(starts, at_start).ok_or(Damaged)? as i64);
        } else if day.steps.is_some() && *at_step == steps.len() {
            break;
        }
        // Where the visit's codes are; checked only for a visit handed over
        // with them (a visit passed over moves on by its length alone, and
        // a length past the end fails on the next one, or after the last).
        let (begin, length) = if day.steps.is_some() {
            let length = get_varint(steps, at_step).ok_or(Damaged)? as usize;
            let begin = *at_step;
            *at_step = at_step.saturating_add(length);
            (begin, length)
        } else {
            (0, 0)
        };
        let take = (from <= offset)
            & (offset < to)
            & (length >= day.min_steps)
            & held.is_none_or(|held| held.get(visit).is_some_and(|&held| held & 1 == 1))
            & selected.is_none_or(|selected| selected.get(visit) == Some(&true));
        // A visit taken starts within the day.
        sink(
            [
                visit as u32,
                begin as u32,
                begin.saturating_add(length).min(u32::MAX as usize) as u32,
                offset.clamp(0, i64::from(u32::MAX)) as u32,
            ],
            take,
        )?;
        visit += 1;
    }
    // The visits passed over moved on by their lengths unchecked.
    if *at_step > steps.len() {
        return Err(Damaged);
    }
    Ok(())
}

/// Folds the visits of `site` that start in `[from_ms, to_ms)` on packed
/// days, up to the first day with visits that is not packed, in parallel (see
/// [`fold_days`]), handing over start times, visitor ids and undecoded event
/// codes. Steps are read only with `parts.steps`, visitor ids only with
/// `parts.visitors`; with `parts.gate`, the days' code index picks the
/// visits handed over, and which of them come with their codes. Returns
/// the accumulators, to be merged by the caller, and what `after_loads`
/// answered for the instant from which the visits are not packed (`to_ms`
/// when all are), as [`fold_records`] does.
#[allow(clippy::too_many_arguments)]
pub(crate) fn fold<A: Send, T>(
    conn: &Connection,
    site: i64,
    from_ms: i64,
    to_ms: i64,
    parts: Parts<'_>,
    new: impl Fn() -> A + Sync,
    each: impl Fn(&mut A, PackedVisit<'_>) + Sync,
    after_loads: impl FnMut(i64) -> Result<T, StoreError>,
) -> Result<(Vec<A>, T), StoreError> {
    fold_days(
        day_ranges(conn, site, from_ms, to_ms)?,
        to_ms,
        |range| {
            crate::cancel::check(conn)?;
            load_day(conn, site, range, parts)
        },
        (new, || ()),
        |fold, (), day| {
            decode_day(day, parts.gate, parts.screen, &mut |visit| {
                each(fold, visit);
            })
            .map_err(|Damaged| damaged(day.site, utc_day(day.range.from_ms)))
        },
        after_loads,
    )
}

/// The first instant of the first day after the one holding `after_ms` that
/// `site` has packed in the current format, if any: where the rows that
/// answer from `after_ms` on end.
pub(crate) fn next_packed_day(
    conn: &Connection,
    site: i64,
    after_ms: i64,
) -> Result<Option<i64>, StoreError> {
    let day: Option<i64> = conn
        .prepare_cached(
            "SELECT min(day) FROM day_segments WHERE site_id = ?1 AND day > ?2 AND part = ?3",
        )?
        .query_row(params![site, utc_day(after_ms), part::MARKER], |r| r.get(0))?;
    Ok(day.map(|day| day.saturating_mul(DAY_MS)))
}

/// The run of days kept as rows from `rest` (where a run of packed days
/// ended) up to the next packed day or `to_ms`, folded by `fold` given its
/// end, with that end; `None` when the packed days reached `to_ms`. The
/// callers of [`fold_records`] and [`fold`] run it as their `after_loads`.
pub(crate) fn rows_after<T>(
    conn: &Connection,
    site: i64,
    (rest, to_ms): (i64, i64),
    fold: impl FnOnce(i64) -> Result<T, StoreError>,
) -> Result<Option<(T, i64)>, StoreError> {
    if rest >= to_ms {
        return Ok(None);
    }
    let rows_end = next_packed_day(conn, site, rest)?.map_or(to_ms, |next| next.min(to_ms));
    Ok(Some((fold(rows_end)?, rows_end)))
}

/// The `(site, day)` of every day segment that fails a checksum or does not
/// decode, in site and day order: every part of every segment in the current
/// format is read and decoded (for `mallard check`).
pub(crate) fn damaged_segments(conn: &Connection) -> Result<Vec<(i64, i64)>, StoreError> {
    let days: Vec<(i64, i64)> = conn
        .prepare("SELECT site_id, day FROM day_segments WHERE part = ?1 ORDER BY site_id, day")?
        .query_map(params![part::MARKER], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    // The derived parts (the code index, the entry events) are checked by
    // [`crate::derived_parts`], and a bad one is rebuilt, not a reason to
    // drop the day.
    let columns = Columns {
        code_visits: false,
        entry_events: false,
        ..Columns::ALL
    };
    let wanted = day_segment::parts_for(columns);
    let mut damaged = Vec::new();
    let mut record = VisitRecord::default();
    for (site, day) in days {
        let decoded = match load_parts(conn, site, day, wanted) {
            Ok(Some(parts)) => day_segment::decode(
                day * DAY_MS,
                &day_segment::borrow_parts(&parts),
                columns,
                (i64::MIN, i64::MAX),
                &mut record,
                &|_: &VisitRecord| Take::Events,
                None,
                |_| {},
            )
            .is_ok(),
            Ok(None) => true,
            Err(StoreError::DamagedSegment { .. }) => false,
            Err(other) => return Err(other),
        };
        if !decoded {
            damaged.push((site, day));
        }
    }
    Ok(damaged)
}

/// Deletes the damaged day segments (see [`damaged_segments`]) with their
/// days' ranges, and returns them. A packed day has no rows: its visits go
/// with the segment, which cannot be read back.
pub(crate) fn delete_damaged_segments(conn: &Connection) -> Result<Vec<(i64, i64)>, StoreError> {
    let damaged = damaged_segments(conn)?;
    for &(site, day) in &damaged {
        crate::visit_paths::discard_day(conn, site, day)?;
    }
    Ok(damaged)
}

#[cfg(test)]
mod tests;
