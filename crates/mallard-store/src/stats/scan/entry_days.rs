//! Counts of the events that carry revenue or properties, read from the
//! packed days' entry events ([`crate::day_segment::entry_events`]) instead
//! of their visits, for a query without filters or with filters on visit
//! attributes only: the revenue, the property keys and a property
//! breakdown.
//!
//! A packed day with entry events hands over its entry events, the entries
//! part the query counts (revenue or properties), the visits its attribute
//! conditions select (screened from the attributes part, as a gate screens
//! them) and, when asked, its visitor ids: a few hundred events and a few
//! columns instead of the day's steps, times and visits. Its events are
//! those of the visits that start on it, so the visits that start on the
//! other days (kept as rows, or packed before the part existed) are counted
//! from their events ([`Visits::Starting`]).

use mallard_core::DayRange;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, params};

use super::{Tally, Visits, Window};
use crate::day_segment::{self, Damaged, DayScreen, entry_events, part};
use crate::error::StoreError;
use crate::stats::SiteInfo;
use crate::stats::period_source::reach_back;
use crate::stats::predicate::Predicate;
use crate::visit_days::DAY_MS;
use crate::visit_record::CodeEntry;

/// What one packed day with entry events hands over.
pub(super) struct EntryDay<'a> {
    /// The day's first instant.
    pub(super) start_ms: i64,
    /// Its entry events part and the entries part asked for (unsealed).
    pub(super) parts: (&'a [u8], &'a [u8]),
    /// The visits the attribute conditions select, one flag per visit
    /// (`None`: every visit).
    pub(super) selected: Option<&'a [bool]>,
    /// Its visitor ids part (unsealed) and the width of an id, if asked for.
    visitors: Option<(&'a [u8], usize)>,
}

impl EntryDay<'_> {
    /// The visitor id of the visit at `visit` in the day (the visitor ids
    /// must have been asked for).
    fn visitor(&self, visit: usize) -> Result<i64, Damaged> {
        let (ids, width) = self.visitors.ok_or(Damaged)?;
        day_segment::visitor_at(ids, 1 + visit * width, width).ok_or(Damaged)
    }
}

/// The part of entries a count reads, and whether it needs visitor ids.
#[derive(Debug, Clone, Copy)]
pub(super) struct EntriesAsked {
    /// [`part::REVENUE`] or [`part::PROPS`].
    pub(super) part: i64,
    pub(super) visitors: bool,
}

/// Counts into `tally` what `range` holds under `predicate` (without
/// conditions, or with conditions on visit attributes only): each packed day
/// with entry events by `day`, which gets the range's window to keep the
/// events in it; the visits that start on the other days by `from_visits`.
pub(super) fn fold_entry_days<T: Tally>(
    conn: &Connection,
    site: &SiteInfo,
    (range, predicate): (DayRange, &Predicate),
    asked: EntriesAsked,
    mut tally: T,
    from_visits: impl Fn(Visits) -> Result<Option<T>, StoreError>,
    mut day: impl FnMut(&mut T, &Window<'_>, &EntryDay<'_>) -> Result<(), Damaged>,
) -> Result<T, StoreError> {
    // No condition, or conditions on visit attributes only (and so a
    // predicate that may match something).
    debug_assert!(predicate.attributes_only());
    if range.days() <= 0 {
        return Ok(tally);
    }
    let window = Window::new(&site.time_zone, range);
    let to_ms = window.end_ms();
    // The visits that start before this are counted.
    let mut counted_to = reach_back(conn, site.id, window.from_ms)?;
    let count_starting = |tally: &mut T, from_ms: i64, to_ms: i64| {
        if let Some(counted) = from_visits(Visits::Starting(from_ms, to_ms))? {
            tally.merge(counted);
        }
        Ok::<_, StoreError>(())
    };
    // Each day with entry events, with its entries part (every packed day
    // has one) and, when needed, its attributes and visitor ids.
    let conditions = predicate.attribute_conditions();
    let mut stmt = conn.prepare_cached(
        "SELECT e.day, e.data, l.data, CASE WHEN ?6 THEN a.data END, \
         CASE WHEN ?8 THEN v.data END FROM day_segments e \
         JOIN day_segments l ON l.site_id = e.site_id AND l.day = e.day AND l.part = ?3 \
         JOIN day_segments a ON a.site_id = e.site_id AND a.day = e.day AND a.part = ?7 \
         JOIN day_segments v ON v.site_id = e.site_id AND v.day = e.day AND v.part = ?9 \
         WHERE e.site_id = ?1 AND e.part = ?2 AND e.day >= ?4 AND e.day < ?5 ORDER BY e.day",
    )?;
    let mut days = stmt.query(params![
        site.id,
        part::ENTRY_EVENTS,
        asked.part,
        counted_to.div_euclid(DAY_MS),
        to_ms.div_euclid(DAY_MS) + 1,
        !conditions.is_empty(),
        part::ATTRIBUTES,
        asked.visitors,
        part::VISITORS,
    ])?;
    while let Some(row) = days.next()? {
        crate::cancel::check(conn)?;
        let day_number: i64 = row.get(0)?;
        let start_ms = day_number * DAY_MS;
        if counted_to < start_ms {
            count_starting(&mut tally, counted_to, start_ms)?;
        }
        let damaged = || StoreError::DamagedSegment {
            site_id: site.id,
            day: day_number,
        };
        let unsealed = |at: usize| match row.get_ref(at)? {
            ValueRef::Blob(sealed) => day_segment::unseal(sealed).map_err(|Damaged| damaged()),
            _ => Err(damaged()),
        };
        let (events, entries) = (unsealed(1)?, unsealed(2)?);
        let attributes = (!conditions.is_empty()).then(|| unsealed(3)).transpose()?;
        let visitor_ids = asked.visitors.then(|| unsealed(4)).transpose()?;
        let count = entry_events::visits(events).map_err(|Damaged| damaged())?;
        let selected = DayScreen::new(attributes, count, conditions)
            .and_then(|screen| screen.selection(count))
            .map_err(|Damaged| damaged())?;
        let visitors = visitor_ids
            .map(|ids| day_segment::visitor_width(ids, count).map(|width| (ids, width)))
            .transpose()
            .map_err(|Damaged| damaged())?;
        let entry_day = EntryDay {
            start_ms,
            parts: (events, entries),
            selected: selected.as_deref(),
            visitors,
        };
        day(&mut tally, &window, &entry_day).map_err(|Damaged| damaged())?;
        counted_to = counted_to.max(start_ms + DAY_MS);
    }
    if counted_to < to_ms {
        count_starting(&mut tally, counted_to, to_ms)?;
    }
    Ok(tally)
}

/// Hands `tally` each event of `day` in `window` with properties, as a
/// [`CodeEntry`] with its code, visitor and property pairs (the property
/// keys and a property breakdown count them so).
fn props_as_entries<T: Tally>(
    tally: &mut T,
    window: &Window<'_>,
    day: &EntryDay<'_>,
) -> Result<(), Damaged> {
    entry_events::props(day.start_ms, day.parts, day.selected, |event, pairs| {
        if window.contains(event.ts) {
            tally.code_entry(CodeEntry {
                code: event.code,
                visitor_id: day.visitor(event.visit)?,
                revenue: (None, None),
                props: pairs,
            });
        }
        Ok(())
    })
}

/// Counts the events with properties of `range` under `predicate` into
/// `tally` (the property keys, a property breakdown): from the packed days'
/// entry events ([`props_as_entries`]) under filters on visit attributes
/// only, from the visits (`from_visits`) otherwise.
pub(super) fn count_props<T: Tally>(
    conn: &Connection,
    site: &SiteInfo,
    (range, predicate): (DayRange, &Predicate),
    tally: T,
    from_visits: impl Fn(Visits) -> Result<Option<T>, StoreError>,
) -> Result<Option<T>, StoreError> {
    if !predicate.attributes_only() {
        return from_visits(Visits::OfRange);
    }
    let asked = EntriesAsked {
        part: part::PROPS,
        visitors: true,
    };
    fold_entry_days(
        conn,
        site,
        (range, predicate),
        asked,
        tally,
        from_visits,
        props_as_entries,
    )
    .map(Some)
}
