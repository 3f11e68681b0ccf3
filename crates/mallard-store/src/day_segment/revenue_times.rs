//! The revenue times of a day segment ([`super::part::REVENUE_TIMES`]):
//! every amount the day's visits carry, with its event's time and currency,
//! so that the revenue of a period without filters reads one small part a
//! day instead of finding each amount's event among the day's visits, their
//! codes and their event times.
//!
//! Derived from the visits, as the code index is: [`super::encode`] writes
//! it with the segment, and the writer builds it for days packed before it
//! existed ([`build`], from [`crate::derived_parts`]); a day without it is
//! read from its visits.
//!
//! The format: `varint(amounts)`, then per event with an amount, in the
//! segment's event order, `zigzag(time - the day's start)` in ms,
//! `zigzag(micros)` and `zigzag(currency id)` (0: none given).

use super::{Damaged, DayParts, decode};
use crate::varint::{get_varint, put_varint, unzigzag, zigzag};
use crate::visit_record::{Columns, Take, VisitRecord};

/// One amount of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimedAmount {
    /// The event's time, in ms since the epoch.
    pub(crate) ts: i64,
    /// The amount in millionths of the currency unit.
    pub(crate) micros: i64,
    /// The currency's id (0: none given).
    pub(crate) currency: i64,
}

/// The amounts of `visits`' events, in their order.
pub(crate) fn amounts<'a>(visits: &'a [VisitRecord]) -> impl Iterator<Item = TimedAmount> + 'a {
    visits.iter().flat_map(|visit| {
        visit.events.iter().filter_map(|event| {
            Some(TimedAmount {
                ts: event.ts,
                micros: event.revenue_micros?,
                currency: event.currency.unwrap_or(0),
            })
        })
    })
}

/// The (unsealed) part of the day starting at `day_start_ms` that holds
/// `amounts`.
pub(crate) fn encode(day_start_ms: i64, amounts: impl Iterator<Item = TimedAmount>) -> Vec<u8> {
    let mut entries = Vec::new();
    let mut count = 0u64;
    for amount in amounts {
        count += 1;
        put_varint(&mut entries, zigzag(amount.ts.wrapping_sub(day_start_ms)));
        put_varint(&mut entries, zigzag(amount.micros));
        put_varint(&mut entries, zigzag(amount.currency));
    }
    let mut part = Vec::with_capacity(entries.len() + 4);
    put_varint(&mut part, count);
    part.extend_from_slice(&entries);
    part
}

/// Hands `each` every amount of the (unsealed) part of the day starting at
/// `day_start_ms`, in order. A part that ends early, holds more than its
/// amounts or names a time out of range is [`Damaged`].
pub(crate) fn read(
    day_start_ms: i64,
    part: &[u8],
    mut each: impl FnMut(TimedAmount),
) -> Result<(), Damaged> {
    let mut at = 0;
    let mut next = || get_varint(part, &mut at).ok_or(Damaged);
    let count = next()?;
    for _ in 0..count {
        let ts = day_start_ms.checked_add(unzigzag(next()?)).ok_or(Damaged)?;
        let micros = unzigzag(next()?);
        let currency = unzigzag(next()?);
        each(TimedAmount {
            ts,
            micros,
            currency,
        });
    }
    if at == part.len() {
        Ok(())
    } else {
        Err(Damaged)
    }
}

/// The columns [`build`] decodes.
pub(crate) fn build_columns() -> Columns {
    Columns {
        events: true,
        event_times: true,
        revenue: true,
        ..Columns::default()
    }
}

/// The part of the day starting at `day_start_ms` built from its other
/// (unsealed) parts, those of [`build_columns`]: for a day packed before
/// the part existed, and for `mallard check` to compare a stored one with.
pub(crate) fn build(day_start_ms: i64, parts: &DayParts<'_>) -> Result<Vec<u8>, Damaged> {
    let mut found = Vec::new();
    let mut record = VisitRecord::default();
    decode(
        day_start_ms,
        parts,
        build_columns(),
        (i64::MIN, i64::MAX),
        &mut record,
        &|_: &VisitRecord| Take::Events,
        None,
        |visit| found.extend(amounts(std::slice::from_ref(visit))),
    )?;
    Ok(encode(day_start_ms, found.into_iter()))
}
