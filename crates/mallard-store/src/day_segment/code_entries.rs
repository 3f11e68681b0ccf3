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

use super::{Damaged, Entries, STEPS_FORMAT, entry_events, events_at, next_codes};
use crate::varint::get_varint;

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
