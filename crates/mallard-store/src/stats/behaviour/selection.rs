//! The visits a behavioural query looks at: those that start in the period's
//! local days and meet the filters.
//!
//! Visit-level filters are SQL conditions on the visit row. Event-level
//! filters (`page`, `event`, `props.*`) select the visits holding at least one
//! event in the period that meets all filters, as every other stats query
//! does; those visits are found first by a scan of the period's events.
//! Every value is bound as a parameter (see [`super::super::raw::conditions`]).

use std::collections::HashSet;

use rusqlite::{Connection, params_from_iter};

use super::super::raw::conditions;
use super::super::{SiteInfo, StatsQuery};
use crate::error::StoreError;

/// The instants `[from, to)` of a query's local days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bounds {
    /// The first instant of the first day (ms since the epoch).
    pub(crate) from: i64,
    /// The first instant after the last day.
    pub(crate) to: i64,
}

impl Bounds {
    /// The bounds of the query's range in the site's time zone.
    pub(crate) fn of(site: &SiteInfo, query: &StatsQuery) -> Self {
        Self {
            from: site.time_zone.day_start_ms(query.range.start),
            to: site.time_zone.day_start_ms(query.range.end),
        }
    }
}

/// The ids of the visits holding an event of the period that meets every
/// filter, or `None` when no filter is about events (then no such check is
/// needed).
pub(crate) fn event_matched_visits(
    conn: &Connection,
    site: &SiteInfo,
    query: &StatsQuery,
    bounds: Bounds,
) -> Result<Option<HashSet<i64>>, StoreError> {
    if query.filters.iter().all(|f| f.dimension.is_visit_level()) {
        return Ok(None);
    }
    let (sql, filter_params) = conditions(conn, &query.filters, false, 4)?;
    let mut params = vec![site.id, bounds.from, bounds.to];
    params.extend(filter_params);
    let mut stmt = conn.prepare(&format!(
        "SELECT DISTINCT e.visit_id FROM events e JOIN visits v ON v.id = e.visit_id \
         WHERE e.site_id = ?1 AND e.ts >= ?2 AND e.ts < ?3{sql}"
    ))?;
    let ids = stmt
        .query_map(params_from_iter(&params), |r| r.get(0))?
        .collect::<Result<HashSet<i64>, _>>()?;
    Ok(Some(ids))
}

/// A query of the visits that start within `bounds` and meet the visit-level
/// filters, with its parameters; `None` when no visit starts in them.
///
/// Visit ids grow with creation, so the visits of a period fill one compact
/// range of ids, which `visit_days` records ([`crate::visit_days`]); the rows
/// are read by a sequential scan of that range. Rows of the range that belong
/// to other sites or times are skipped by the other conditions.
pub(crate) fn visits_query(
    conn: &Connection,
    site: &SiteInfo,
    query: &StatsQuery,
    bounds: Bounds,
    columns: &str,
) -> Result<Option<(String, Vec<i64>)>, StoreError> {
    let Some((low, high)) = crate::visit_days::id_range(conn, site.id, bounds.from, bounds.to)?
    else {
        return Ok(None);
    };
    let (sql, filter_params) = conditions(conn, &query.filters, true, 6)?;
    let mut params = vec![site.id, bounds.from, bounds.to, low, high];
    params.extend(filter_params);
    Ok(Some((
        format!(
            "SELECT {columns} FROM visits v WHERE v.id BETWEEN ?4 AND ?5 AND +v.site_id = ?1 \
             AND +v.start_ts >= ?2 AND +v.start_ts < ?3{sql}"
        ),
        params,
    )))
}

/// SQL conditions (on `visits v`) for the visit-level filters, with their
/// parameters numbered from `first`.
pub(crate) fn visit_conditions(
    conn: &Connection,
    query: &StatsQuery,
    first: usize,
) -> Result<(String, Vec<i64>), StoreError> {
    conditions(conn, &query.filters, true, first)
}

/// One selected visit as the event walk needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Member {
    /// An instant at or after the visit's last event (whole seconds).
    pub(crate) end_ts: i64,
    /// The visitor id (0 unless the set was loaded with visitors).
    pub(crate) visitor_id: i64,
}

/// The selected visits, looked up by id while walking events.
///
/// Visit ids grow as visits are created, so the ids of a period are mostly
/// one dense run: they are kept in arrays indexed by `id - base` (4 bytes a
/// visit, 12 with visitors). When the run turns out sparse (a small site
/// among busy ones) a hash map is used instead.
#[derive(Debug)]
pub(crate) struct VisitSet {
    /// `bounds.from`: ends are kept as seconds after it, plus one (0: absent).
    origin: i64,
    base: i64,
    ends: Vec<u32>,
    visitors: Option<Vec<i64>>,
    sparse: Option<super::super::rollup::IdMap<(u32, i64)>>,
    /// How many visits are selected.
    pub(crate) len: usize,
    /// The earliest start among them.
    pub(crate) min_start: i64,
    /// The latest end among them.
    pub(crate) max_end: i64,
}

/// Beyond this many unused slots per visit, the set turns into a hash map.
const MAX_SLOTS_PER_VISIT: usize = 4;
/// Unused slots always allowed.
const FREE_SLOTS: usize = 65_536;

impl VisitSet {
    fn empty(origin: i64, with_visitors: bool) -> Self {
        Self {
            origin,
            base: 0,
            ends: Vec::new(),
            visitors: with_visitors.then(Vec::new),
            sparse: None,
            len: 0,
            min_start: i64::MAX,
            max_end: i64::MIN,
        }
    }

    /// The selected visit with this id.
    pub(crate) fn get(&self, id: i64) -> Option<Member> {
        let (secs, visitor_id) = match &self.sparse {
            Some(map) => *map.get(&id)?,
            None => {
                let at = usize::try_from(id - self.base).ok()?;
                let secs = *self.ends.get(at)?;
                let visitor = self.visitors.as_ref().map_or(0, |v| v[at]);
                (secs, visitor)
            }
        };
        (secs > 0).then(|| Member {
            end_ts: self.origin + i64::from(secs) * 1000,
            visitor_id,
        })
    }

    fn insert(&mut self, id: i64, start: i64, end: i64, visitor: i64) {
        self.len += 1;
        self.min_start = self.min_start.min(start);
        self.max_end = self.max_end.max(end);
        // Seconds after the origin, rounded up, plus one so that 0 means absent.
        let secs = u32::try_from((end - self.origin).max(0) / 1000 + 2).unwrap_or(u32::MAX);
        if let Some(map) = &mut self.sparse {
            map.insert(id, (secs, visitor));
            return;
        }
        if self.ends.is_empty() {
            self.base = id;
        }
        let low = self.base.min(id);
        let high = (self.base + self.ends.len() as i64 - 1).max(id);
        let span = usize::try_from(high - low + 1).unwrap_or(usize::MAX);
        if span
            > self
                .len
                .saturating_mul(MAX_SLOTS_PER_VISIT)
                .saturating_add(FREE_SLOTS)
        {
            self.make_sparse();
            if let Some(map) = &mut self.sparse {
                map.insert(id, (secs, visitor));
            }
            return;
        }
        if id < self.base {
            let grow = (self.base - id) as usize;
            self.ends.splice(0..0, std::iter::repeat_n(0, grow));
            if let Some(v) = &mut self.visitors {
                v.splice(0..0, std::iter::repeat_n(0, grow));
            }
            self.base = id;
        }
        let at = (id - self.base) as usize;
        if at >= self.ends.len() {
            self.ends.resize(at + 1, 0);
            if let Some(v) = &mut self.visitors {
                v.resize(at + 1, 0);
            }
        }
        self.ends[at] = secs;
        if let Some(v) = &mut self.visitors {
            v[at] = visitor;
        }
    }

    fn make_sparse(&mut self) {
        let mut map = super::super::rollup::IdMap::default();
        for (at, &secs) in self.ends.iter().enumerate() {
            if secs > 0 {
                let visitor = self.visitors.as_ref().map_or(0, |v| v[at]);
                map.insert(self.base + at as i64, (secs, visitor));
            }
        }
        self.ends = Vec::new();
        self.visitors = None;
        self.sparse = Some(map);
    }

    /// Selects the visits of `query` that start within `bounds` (the query's
    /// own or a part of them); `with_visitors` keeps their visitor ids.
    pub(crate) fn load(
        conn: &Connection,
        site: &SiteInfo,
        query: &StatsQuery,
        bounds: Bounds,
        with_visitors: bool,
    ) -> Result<Self, StoreError> {
        let matched = event_matched_visits(conn, site, query, bounds)?;
        let columns = if with_visitors {
            "v.id, v.start_ts, v.end_ts, v.visitor_id"
        } else {
            "v.id, v.start_ts, v.end_ts"
        };
        let Some((sql, params)) = visits_query(conn, site, query, bounds, columns)? else {
            return Ok(Self::empty(bounds.from, with_visitors));
        };
        let mut stmt = conn.prepare(&sql)?;
        let mut rows = stmt.query(params_from_iter(&params))?;
        let mut set = Self::empty(bounds.from, with_visitors);
        while let Some(row) = rows.next()? {
            let id: i64 = row.get(0)?;
            if matched.as_ref().is_some_and(|ids| !ids.contains(&id)) {
                continue;
            }
            let visitor = if with_visitors { row.get(3)? } else { 0 };
            set.insert(id, row.get(1)?, row.get(2)?, visitor);
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_of(ids: &[i64]) -> VisitSet {
        let mut set = VisitSet::empty(0, true);
        for &id in ids {
            set.insert(id, 0, id * 1000, id + 100);
        }
        set
    }

    #[test]
    fn dense_and_sparse_sets_answer_the_same() {
        for (ids, sparse) in [(vec![10, 12, 7], false), (vec![1, 10_000_000, 5], true)] {
            let set = set_of(&ids);
            assert_eq!(set.sparse.is_some(), sparse, "{ids:?}");
            assert_eq!(set.len, 3);
            for &id in &ids {
                let member = set.get(id).unwrap();
                assert!(member.end_ts >= id * 1000 && member.end_ts <= id * 1000 + 2000);
                assert_eq!(member.visitor_id, id + 100);
            }
            for absent in [0, 6, 8, 11, 13, 9_999_999] {
                assert_eq!(set.get(absent), None, "{absent}");
            }
        }
        assert_eq!(VisitSet::empty(0, false).get(0), None);
    }
}
