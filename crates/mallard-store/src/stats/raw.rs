//! Filtered stats: the matching events and visits of a range, loaded with
//! parameterized SQL.
//!
//! Filter values never reach the SQL text: each is first resolved to the id of
//! its dimension string (or a device code or screen width) and bound as a
//! parameter; the SQL text is assembled only from fixed fragments chosen by the
//! filter's dimension and operator.

use std::collections::{HashMap, HashSet};

use mallard_core::filter::UNKNOWN_VALUE;
use mallard_core::period::{MAX_OFFSET_MS, MS_PER_DAY};
use mallard_core::{DeviceClass, Dimension, Filter, FilterOp};
use rusqlite::{Connection, params_from_iter};

use super::aggregate::{EventRec, RawData, VisitRec};
use super::labels::dim_id;
use super::{SiteInfo, StatsQuery};
use crate::dims::DimKind;
use crate::error::StoreError;
use crate::visits::VisitAttributes;

/// What a filter value resolves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Target {
    /// The value is missing (`(unknown)`).
    Missing,
    /// A stored id, code or width.
    Id(i64),
    /// A value that was never stored: nothing has it.
    Nothing,
}

/// The column a visit- or event-level filter compares, as fixed SQL.
fn column(dimension: &Dimension) -> Option<(&'static str, Option<DimKind>)> {
    Some(match dimension {
        Dimension::Page => ("e.pathname", Some(DimKind::Pathname)),
        Dimension::EntryPage => ("v.entry_page", Some(DimKind::Pathname)),
        Dimension::ExitPage => ("v.exit_page", Some(DimKind::Pathname)),
        Dimension::Source => ("v.referrer_source", Some(DimKind::ReferrerSource)),
        Dimension::Referrer => ("v.referrer_url", Some(DimKind::ReferrerUrl)),
        Dimension::UtmSource => ("v.utm_source", Some(DimKind::UtmSource)),
        Dimension::UtmMedium => ("v.utm_medium", Some(DimKind::UtmMedium)),
        Dimension::UtmCampaign => ("v.utm_campaign", Some(DimKind::UtmCampaign)),
        Dimension::Browser => ("v.browser", Some(DimKind::Browser)),
        Dimension::Os => ("v.os", Some(DimKind::Os)),
        Dimension::Device => ("v.device", None),
        Dimension::Country => ("v.country", Some(DimKind::Country)),
        Dimension::ScreenSize => ("v.screen_width", None),
        Dimension::Event => ("e.name", Some(DimKind::EventName)),
        Dimension::Prop(_) => return None,
    })
}

/// The id (or device code, or screen width) a filter on a dimension other
/// than a property compares with.
pub(super) fn resolve(conn: &Connection, filter: &Filter) -> Result<Target, StoreError> {
    Ok(match &filter.dimension {
        Dimension::Device => {
            if filter.is_unknown() {
                Target::Id(i64::from(DeviceClass::Unknown.code()))
            } else {
                filter
                    .device_code()
                    .map_or(Target::Nothing, |c| Target::Id(i64::from(c)))
            }
        }
        _ if filter.is_unknown() => Target::Missing,
        Dimension::ScreenSize => filter
            .value
            .parse::<u16>()
            .map_or(Target::Nothing, |w| Target::Id(i64::from(w))),
        dimension => match column(dimension).and_then(|(_, kind)| kind) {
            Some(kind) => dim_id(conn, kind, &filter.value)?.map_or(Target::Nothing, Target::Id),
            None => Target::Nothing,
        },
    })
}

/// SQL conditions for `filters` with their parameters, numbered from `first`.
/// With `visits_only`, only visit-level filters are included (for a query on
/// `visits v` alone).
pub(super) fn conditions(
    conn: &Connection,
    filters: &[Filter],
    visits_only: bool,
    first: usize,
) -> Result<(String, Vec<i64>), StoreError> {
    let mut sql = String::new();
    let mut params: Vec<i64> = Vec::new();
    for filter in filters {
        if visits_only && !filter.dimension.is_visit_level() {
            continue;
        }
        let mut next = |value: i64| {
            params.push(value);
            format!("?{}", first + params.len() - 1)
        };
        let condition = match &filter.dimension {
            Dimension::Prop(key) => {
                let key_id = dim_id(conn, DimKind::PropKey, key)?;
                let value = if filter.value == UNKNOWN_VALUE {
                    Target::Missing
                } else {
                    dim_id(conn, DimKind::PropValue, &filter.value)?
                        .map_or(Target::Nothing, Target::Id)
                };
                let exists = |key: String, value: Option<String>| {
                    let value = value.map_or(String::new(), |v| format!(" AND p.value = {v}"));
                    format!(
                        "EXISTS (SELECT 1 FROM event_props p WHERE p.site_id = e.site_id \
                         AND p.ts = e.ts AND p.event_id = e.id AND p.key = {key}{value})"
                    )
                };
                match (key_id, value, filter.op) {
                    (None, Target::Missing, FilterOp::Is) => "1".to_owned(),
                    (None, _, FilterOp::Is) => "0".to_owned(),
                    (None, Target::Missing, FilterOp::IsNot) => "0".to_owned(),
                    (None, _, FilterOp::IsNot) => "1".to_owned(),
                    (Some(_), Target::Nothing, FilterOp::Is) => "0".to_owned(),
                    (Some(_), Target::Nothing, FilterOp::IsNot) => "1".to_owned(),
                    (Some(k), Target::Missing, op) => {
                        let e = exists(next(k), None);
                        if op == FilterOp::Is {
                            format!("NOT {e}")
                        } else {
                            e
                        }
                    }
                    (Some(k), Target::Id(v), op) => {
                        let key = next(k);
                        let e = exists(key, Some(next(v)));
                        if op == FilterOp::Is {
                            e
                        } else {
                            format!("NOT {e}")
                        }
                    }
                }
            }
            dimension => {
                let Some((col, _)) = column(dimension) else {
                    continue;
                };
                match (resolve(conn, filter)?, filter.op) {
                    (Target::Missing, FilterOp::Is) => format!("{col} IS NULL"),
                    (Target::Missing, FilterOp::IsNot) => format!("{col} IS NOT NULL"),
                    (Target::Id(id), FilterOp::Is) => format!("{col} = {}", next(id)),
                    (Target::Id(id), FilterOp::IsNot) => format!("{col} IS NOT {}", next(id)),
                    (Target::Nothing, FilterOp::Is) => "0".to_owned(),
                    (Target::Nothing, FilterOp::IsNot) => "1".to_owned(),
                }
            }
        };
        sql.push_str(" AND ");
        sql.push_str(&condition);
    }
    Ok((sql, params))
}

const VISIT_COLUMNS: &str = "v.visitor_id, v.start_ts, v.end_ts, v.pageviews, v.entry_page, \
    v.exit_page, v.referrer_source, v.referrer_url, v.utm_source, v.utm_medium, v.utm_campaign, \
    v.browser, v.os, v.device, v.screen_width, v.country";

fn visit_from_row(row: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<VisitRec> {
    Ok(VisitRec {
        visitor_id: row.get(at)?,
        start_ts: row.get(at + 1)?,
        end_ts: row.get(at + 2)?,
        pageviews: row.get(at + 3)?,
        entry_page: row.get(at + 4)?,
        exit_page: row.get(at + 5)?,
        attrs: VisitAttributes {
            referrer_source: row.get(at + 6)?,
            referrer_url: row.get(at + 7)?,
            utm_source: row.get(at + 8)?,
            utm_medium: row.get(at + 9)?,
            utm_campaign: row.get(at + 10)?,
            browser: row.get(at + 11)?,
            os: row.get(at + 12)?,
            device: row.get(at + 13)?,
            screen_width: row.get(at + 14)?,
            country: row.get(at + 15)?,
            ..VisitAttributes::default()
        },
    })
}

/// The id of the `pageview` event name, if any page view was ever stored.
pub(crate) fn pageview_id(conn: &Connection) -> Result<Option<i64>, StoreError> {
    dim_id(conn, DimKind::EventName, mallard_core::EventName::PAGEVIEW)
}

/// Loads the events of the range that meet the filters, and the visits that
/// start in the range, meet the visit-level filters and (when there are
/// event-level filters) hold one of those events. `prop_key` loads the value
/// of that property key for every event.
pub(crate) fn load(
    conn: &Connection,
    site: &SiteInfo,
    query: &StatsQuery,
    prop_key: Option<i64>,
) -> Result<RawData, StoreError> {
    let tz = &site.time_zone;
    let lo = query.range.start * MS_PER_DAY - MAX_OFFSET_MS;
    let hi = query.range.end * MS_PER_DAY + MAX_OFFSET_MS;
    let pageview = pageview_id(conn)?;
    let props: HashMap<i64, i64> = match prop_key {
        Some(key) => {
            let mut stmt = conn.prepare_cached(
                "SELECT event_id, value FROM event_props WHERE site_id = ?1 AND ts >= ?2 \
                 AND ts < ?3 AND key = ?4",
            )?;
            stmt.query_map(rusqlite::params![site.id, lo, hi, key], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect::<Result<_, _>>()?
        }
        None => HashMap::new(),
    };
    let (event_sql, event_params) = conditions(conn, &query.filters, false, 4)?;
    let mut params = vec![site.id, lo, hi];
    params.extend(event_params);
    let mut stmt = conn.prepare(&format!(
        "SELECT e.ts, e.id, e.visit_id, e.name, e.pathname, {VISIT_COLUMNS} FROM events e \
         JOIN visits v ON v.id = e.visit_id WHERE e.site_id = ?1 AND e.ts >= ?2 AND e.ts < ?3\
         {event_sql}"
    ))?;
    let mut rows = stmt.query(params_from_iter(&params))?;
    let mut data = RawData::default();
    let mut event_visits = HashSet::new();
    while let Some(row) = rows.next()? {
        let ts: i64 = row.get(0)?;
        if !query.range.contains(tz.local_day(ts)) {
            continue;
        }
        let id: i64 = row.get(1)?;
        let name: i64 = row.get(3)?;
        let visit = visit_from_row(row, 5)?;
        event_visits.insert(row.get::<_, i64>(2)?);
        data.events.push(EventRec {
            ts,
            visitor_id: visit.visitor_id,
            name,
            pathname: row.get(4)?,
            pageview: Some(name) == pageview,
            prop: prop_key.and_then(|key| props.get(&id).map(|v| (key, *v))),
            attrs: visit.attrs,
        });
    }
    let needs_event_match = query.filters.iter().any(|f| !f.dimension.is_visit_level());
    let Some((low_id, high_id)) = crate::visit_days::id_range(conn, site.id, lo, hi)? else {
        return Ok(data);
    };
    let (visit_sql, visit_params) = conditions(conn, &query.filters, true, 6)?;
    let mut params = vec![site.id, lo, hi, low_id, high_id];
    params.extend(visit_params);
    let mut stmt = conn.prepare(&format!(
        "SELECT v.id, {VISIT_COLUMNS} FROM visits v WHERE v.id BETWEEN ?4 AND ?5 \
         AND v.site_id = ?1 AND v.start_ts >= ?2 AND v.start_ts < ?3{visit_sql}"
    ))?;
    let mut rows = stmt.query(params_from_iter(&params))?;
    while let Some(row) = rows.next()? {
        let id: i64 = row.get(0)?;
        let visit = visit_from_row(row, 1)?;
        if query.range.contains(tz.local_day(visit.start_ts))
            && (!needs_event_match || event_visits.contains(&id))
        {
            data.visits.push(visit);
        }
    }
    Ok(data)
}

/// Distinct visitors with a matching event between two instants (inclusive).
pub(crate) fn visitors_between(
    conn: &Connection,
    site: &SiteInfo,
    from_ms: i64,
    to_ms: i64,
    filters: &[Filter],
) -> Result<u64, StoreError> {
    let (sql, filter_params) = conditions(conn, filters, false, 4)?;
    let mut params = vec![site.id, from_ms, to_ms];
    params.extend(filter_params);
    let count: i64 = conn
        .prepare(&format!(
            "SELECT count(DISTINCT v.visitor_id) FROM events e JOIN visits v ON v.id = e.visit_id \
             WHERE e.site_id = ?1 AND e.ts >= ?2 AND e.ts <= ?3{sql}"
        ))?
        .query_row(params_from_iter(&params), |r| r.get(0))?;
    Ok(count.try_into().unwrap_or(0))
}
