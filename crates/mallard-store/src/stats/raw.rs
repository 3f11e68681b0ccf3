//! Filters as SQL conditions, for the behavioural queries that still select
//! visits and events with SQL, and the resolution of filter values to ids
//! that the compiled predicates ([`super::predicate`]) share.
//!
//! Filter values never reach the SQL text: each is first resolved to the id of
//! its dimension string (or a device code or screen width) and bound as a
//! parameter; the SQL text is assembled only from fixed fragments chosen by the
//! filter's dimension and operator.

use mallard_core::filter::UNKNOWN_VALUE;
use mallard_core::{DeviceClass, Dimension, Filter, FilterOp};
use rusqlite::Connection;

use super::labels::dim_id;
use crate::dims::DimKind;
use crate::error::StoreError;

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

/// The id of the `pageview` event name, if any page view was ever stored.
pub(crate) fn pageview_id(conn: &Connection) -> Result<Option<i64>, StoreError> {
    dim_id(conn, DimKind::EventName, mallard_core::EventName::PAGEVIEW)
}
