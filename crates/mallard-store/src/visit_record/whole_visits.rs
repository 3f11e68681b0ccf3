//! Visits handed over a column at a time: those of one packed day that a
//! gate takes without their events, by their span alone
//! ([`super::VisitGate::takes_by_span`]).
//!
//! Decoding a visit into a [`super::VisitRecord`] and handing it over costs
//! a call chain and a lookup per counter for every visit. When a filtered
//! query selects visits by their attributes alone and counts what their
//! counters say, a day segment instead gathers the columns of all the
//! visits it takes whole into one [`WholeVisits`], and the accumulators
//! count them a column at a time.

use super::Attribute;

/// The dictionary positions of one column for each visit of a
/// [`WholeVisits`], with the dictionary (the column's values as a day
/// segment keeps them: most frequent first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ValueColumn {
    /// Each visit's position in `dictionary`, checked to lie in it.
    pub(crate) positions: Vec<u32>,
    /// The column's distinct values.
    pub(crate) dictionary: Vec<Option<i64>>,
}

impl ValueColumn {
    /// Empties the column, keeping its buffers.
    fn clear(&mut self) {
        self.positions.clear();
        self.dictionary.clear();
    }
}

/// The visits of one day that a gate takes without their events, column
/// by column: each counts as a [`super::VisitRecord`] with the same fields
/// taken with [`super::Take::Visit`] would (the visit's counters say what
/// its events add, and the visit counts where it starts).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct WholeVisits {
    /// Each visit's index among its day's visits (in start order).
    pub(crate) indices: Vec<u32>,
    /// Each visit's visitor, as its hash ([`crate::hll::visitor_hash`]):
    /// what the accumulators count visitors by.
    pub(crate) visitor_hashes: Vec<u32>,
    /// Each visit's start, ms since the epoch (the day's first instant
    /// when the day was read with [`super::Columns::approximate_starts`]).
    pub(crate) starts: Vec<i64>,
    /// Each visit's end minus its start, in ms.
    pub(crate) durations: Vec<i64>,
    /// Each visit's page views.
    pub(crate) pageviews: Vec<i64>,
    /// Each visit's events of any name.
    pub(crate) events: Vec<i64>,
    /// The attribute columns read ([`super::Columns::attributes`]), in the
    /// order of [`Attribute::EVERY`]; the buffers of the first `attributes`
    /// hold this day's (the rest are kept for the next).
    columns: Vec<(Attribute, ValueColumn)>,
    /// How many of `columns` are this day's.
    attributes: usize,
    /// The entry and exit pages, when read ([`super::Columns::pages`]).
    pages: Option<[ValueColumn; 2]>,
}

impl WholeVisits {
    /// How many visits there are.
    pub(crate) fn len(&self) -> usize {
        self.visitor_hashes.len()
    }

    /// Whether there is no visit.
    pub(crate) fn is_empty(&self) -> bool {
        self.visitor_hashes.is_empty()
    }

    /// Empties every column, keeping the buffers for the next day.
    pub(crate) fn clear(&mut self) {
        self.indices.clear();
        self.visitor_hashes.clear();
        self.starts.clear();
        self.durations.clear();
        self.pageviews.clear();
        self.events.clear();
        for (_, column) in &mut self.columns {
            column.clear();
        }
        self.attributes = 0;
        if let Some(pages) = &mut self.pages {
            pages.iter_mut().for_each(ValueColumn::clear);
        }
    }

    /// The column of `attribute`, when it was read.
    pub(crate) fn attribute(&self, attribute: Attribute) -> Option<&ValueColumn> {
        self.columns
            .get(..self.attributes)
            .unwrap_or_default()
            .iter()
            .find(|(read, _)| *read == attribute)
            .map(|(_, column)| column)
    }

    /// The entry pages (`exit` false) or the exit pages, when read.
    pub(crate) fn pages(&self, exit: bool) -> Option<&ValueColumn> {
        self.pages.as_ref().map(|pages| &pages[usize::from(exit)])
    }

    /// A new empty column for `attribute`, to be filled by the day segment
    /// for each visit in turn.
    pub(crate) fn add_attribute(&mut self, attribute: Attribute) -> &mut ValueColumn {
        if self.attributes == self.columns.len() {
            self.columns.push((attribute, ValueColumn::default()));
        }
        let slot = &mut self.columns[self.attributes];
        self.attributes += 1;
        slot.0 = attribute;
        slot.1.clear();
        &mut slot.1
    }

    /// The entry and exit page columns, emptied, to be filled by the day
    /// segment; `None` makes the day's visits have none.
    pub(crate) fn set_pages(&mut self, read: bool) -> Option<&mut [ValueColumn; 2]> {
        if !read {
            self.pages = None;
            return None;
        }
        let pages = self.pages.get_or_insert_with(Default::default);
        pages.iter_mut().for_each(ValueColumn::clear);
        Some(pages)
    }
}
