//! The site a stats query is about: its id, time zone and rollup version.

use mallard_core::SiteTimeZone;
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::StoreError;

/// What the stats queries need to know about a site.
#[derive(Debug, Clone)]
pub struct SiteInfo {
    /// The site's id in the database.
    pub id: i64,
    /// The site's time zone, which defines its days and hours.
    pub time_zone: SiteTimeZone,
    /// Grows with every batch of events stored for the site; answers computed
    /// at one version stay valid until it changes.
    pub version: i64,
    /// The first local day with an event, if any.
    pub first_day: Option<i64>,
}

/// Looks a site up by its domain.
pub(crate) fn lookup(conn: &Connection, domain: &str) -> Result<Option<SiteInfo>, StoreError> {
    let row: Option<(i64, String, Option<i64>, Option<i64>)> = conn
        .prepare_cached(
            "SELECT s.id, s.timezone, r.version, r.first_day FROM sites s \
             LEFT JOIN rollup_sites r ON r.site_id = s.id WHERE s.domain = ?1",
        )?
        .query_row(params![domain], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    Ok(row.map(|(id, tz, version, first_day)| SiteInfo {
        id,
        time_zone: SiteTimeZone::parse(&tz).unwrap_or_default(),
        version: version.unwrap_or(0),
        first_day,
    }))
}
