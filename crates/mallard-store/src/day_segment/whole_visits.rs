//! Gathering the visits a gate takes whole by their span, a column at a
//! time ([`WholeVisits`], [`VisitGate::takes_by_span`]).
//!
//! [`super::decode`] first walks the day's starts and durations alone to
//! tell which of the selected visits the gate takes without their events
//! ([`Spans::take_whole`]), and passes them over in its walk of the
//! visits; then each column they need is read for them in one loop
//! ([`gather_whole`]): their visitors, counters, attributes and pages.

use super::{AttributeColumns, Damaged, DictColumn, visitor_at};
use crate::hll::visitor_hash;
use crate::varint::{get_mixed_varint, get_varint};
use crate::visit_record::{Take, ValueColumn, VisitGate, WholeVisits};
use crate::visits::VisitAttributes;

/// Where a day's visits start and how long they last.
pub(super) struct Spans<'a> {
    /// The day's first instant.
    pub(super) day_start_ms: i64,
    /// The starts part; `None` when every start is read as the day's first
    /// instant ([`crate::visit_record::Columns::approximate_starts`]).
    pub(super) starts: Option<&'a [u8]>,
    /// The visit part, which begins with each visit's duration.
    pub(super) durations: &'a [u8],
}

impl Spans<'_> {
    /// Asks `gate` what it takes of each of the day's `count` visits that
    /// is `selected`: those it takes whole are added to `whole` with their
    /// start and duration, and those it takes with their events to `left`
    /// (their start and duration, in order); only the latter stay
    /// `selected`. A visit that starts outside `[from_ms, to_ms)` is
    /// skipped.
    ///
    /// Which visits are selected is as good as random, and so is whether a
    /// duration takes one byte: every visit is read the same way, and added
    /// to `whole` by moving its end, without a branch on either. When the
    /// gate takes a visit that lasts all of `[from_ms, to_ms)` whole, it
    /// takes whole every visit within it ([`VisitGate::take_span`]), and is
    /// asked only about the others (those that run past its end).
    pub(super) fn take_whole(
        &self,
        count: usize,
        (from_ms, to_ms): (i64, i64),
        gate: &impl VisitGate,
        selected: &mut [bool],
        whole: &mut WholeVisits,
        left: &mut Vec<(i64, u64)>,
    ) -> Result<(), Damaged> {
        let mut at_start = 0;
        if let Some(starts) = self.starts {
            get_varint(starts, &mut at_start).ok_or(Damaged)?;
        }
        let (mut at_duration, mut start) = (0, self.day_start_ms);
        if selected.len() != count {
            return Err(Damaged);
        }
        // Each visit is written at the end, which moves past it only when
        // it is taken whole: the columns hold one more than the selected
        // visits.
        let first = whole.len();
        let room = first + selected.iter().filter(|s| **s).count() + 1;
        whole.indices.resize(room, 0);
        whole.starts.resize(room, 0);
        whole.durations.resize(room, 0);
        let mut end = first;
        let whole_within = (to_ms > from_ms && gate.take_span(from_ms, to_ms - 1) == Take::Visit)
            .then_some(to_ms - 1);
        for (index, selected) in selected.iter_mut().enumerate() {
            if let Some(starts) = self.starts {
                start = start
                    .wrapping_add(get_mixed_varint(starts, &mut at_start).ok_or(Damaged)? as i64);
            }
            let duration = get_mixed_varint(self.durations, &mut at_duration).ok_or(Damaged)?;
            // (`&`, not `&&`: whether a visit is selected is as good as
            // random, and a branch on it would often be guessed wrong.)
            let chosen = *selected & (start >= from_ms) & (start < to_ms);
            let last = start.wrapping_add(duration as i64);
            let take = match whole_within {
                Some(within) if last <= within && last >= start => Take::Visit,
                _ => gate.take_span(start, last),
            };
            // (`end` counts only selected visits, so it stays in the room.)
            whole.indices[end] = index as u32;
            whole.starts[end] = start;
            whole.durations[end] = duration as i64;
            end += usize::from(chosen & (take == Take::Visit));
            let with_events = chosen & (take == Take::Events);
            if with_events {
                left.push((start, duration));
            }
            *selected = with_events;
        }
        whole.indices.truncate(end);
        whole.starts.truncate(end);
        whole.durations.truncate(end);
        if self.starts.is_some_and(|starts| at_start != starts.len()) {
            return Err(Damaged);
        }
        Ok(())
    }
}

/// Reads for each visit of `whole` (those [`Spans::take_whole`] added)
/// its visitor's hash from `visitors` (the part and its width), its page
/// views and events from the two counter columns, its position in each of
/// `attributes` and, when read, in the entry and exit `pages`.
pub(super) fn gather_whole(
    whole: &mut WholeVisits,
    (visitors, width): (&[u8], usize),
    [pageviews, events]: &[DictColumn<'_>; 2],
    attributes: Option<&AttributeColumns<'_>>,
    pages: Option<&[DictColumn<'_>; 2]>,
) -> Result<(), Damaged> {
    let indices = std::mem::take(&mut whole.indices);
    let gathered = gather_columns(
        whole,
        &indices,
        (visitors, width),
        [pageviews, events],
        attributes,
        pages,
    );
    whole.indices = indices;
    gathered
}

/// [`gather_whole`] for the visits of `indices`.
fn gather_columns(
    whole: &mut WholeVisits,
    indices: &[u32],
    (visitors, width): (&[u8], usize),
    [pageviews, events]: [&DictColumn<'_>; 2],
    attributes: Option<&AttributeColumns<'_>>,
    pages: Option<&[DictColumn<'_>; 2]>,
) -> Result<(), Damaged> {
    for &index in indices {
        let index = index as usize;
        whole.visitor_hashes.push(visitor_hash(
            visitor_at(visitors, 1 + index * width, width).ok_or(Damaged)?,
        ));
        whole.pageviews.push(pageviews.get(index)?.ok_or(Damaged)?);
        whole.events.push(events.get(index)?.ok_or(Damaged)?);
    }
    for (attribute, column) in attributes.into_iter().flatten() {
        // A value the record could not hold (a device or flags missing) is
        // damaged wherever a visit has it, as it is for a visit decoded.
        let holdable: Vec<bool> = column
            .values
            .iter()
            .map(|&value| attribute.set(&mut VisitAttributes::default(), value))
            .collect();
        gather_column(whole.add_attribute(*attribute), column, indices, &holdable)?;
    }
    if let Some(read) = whole.set_pages(pages.is_some())
        && let Some(pages) = pages
    {
        for (gathered, column) in read.iter_mut().zip(pages) {
            gather_column(gathered, column, indices, &[])?;
        }
    }
    Ok(())
}

/// Fills `gathered` with `column`'s dictionary and the position of each
/// visit of `indices` in it; a position outside it, or at a value not
/// `holdable` (when given), is damaged.
fn gather_column(
    gathered: &mut ValueColumn,
    column: &DictColumn<'_>,
    indices: &[u32],
    holdable: &[bool],
) -> Result<(), Damaged> {
    gathered.dictionary.extend_from_slice(&column.values);
    let len = column.values.len();
    for &index in indices {
        let position = column.position(index as usize)?;
        if position >= len || holdable.get(position) == Some(&false) {
            return Err(Damaged);
        }
        gathered.positions.push(position as u32);
    }
    Ok(())
}
