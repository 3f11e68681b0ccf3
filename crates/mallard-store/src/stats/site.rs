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
    /// The first and last local day of imported daily aggregates
    /// ([`crate::imported_daily`]), if any.
    pub imported_days: Option<(i64, i64)>,
}

impl SiteInfo {
    /// The site's first day of data, native or imported: where the period
    /// `all` starts.
    pub fn first_day_with_imported(&self) -> Option<i64> {
        match (self.first_day, self.imported_days) {
            (Some(native), Some((imported, _))) => Some(native.min(imported)),
            (native, imported) => native.or(imported.map(|(first, _)| first)),
        }
    }
}

/// Looks a site up by its domain.
pub(crate) fn lookup(conn: &Connection, domain: &str) -> Result<Option<SiteInfo>, StoreError> {
    lookup_where(conn, "s.domain = ?1", &domain)
}

/// Looks a site up by its id.
pub(crate) fn by_id(conn: &Connection, site_id: i64) -> Result<Option<SiteInfo>, StoreError> {
    lookup_where(conn, "s.id = ?1", &site_id)
}

/// Looks up the site that `condition` (on `sites s`, with `key` as `?1`)
/// selects.
fn lookup_where(
    conn: &Connection,
    condition: &str,
    key: &dyn rusqlite::ToSql,
) -> Result<Option<SiteInfo>, StoreError> {
    // The version grows with the rollups', and with every import that
    // finished or was undone: imported aggregates change no rollup, and a
    // site may have nothing else.
    let site = conn
        .prepare_cached(&format!(
            "SELECT s.id, s.timezone, r.version, r.first_day, \
             (SELECT coalesce(sum((i.finished_at IS NOT NULL) + (i.undone_at IS NOT NULL)), 0) \
              FROM imports i WHERE i.site_id = s.id) \
             FROM sites s LEFT JOIN rollup_sites r ON r.site_id = s.id WHERE {condition}",
        ))?
        .query_row([key], |r| {
            let time_zone: String = r.get(1)?;
            let version: Option<i64> = r.get(2)?;
            let imports: i64 = r.get(4)?;
            Ok(SiteInfo {
                id: r.get(0)?,
                time_zone: SiteTimeZone::parse(&time_zone).unwrap_or_default(),
                version: version.unwrap_or(0) + imports,
                first_day: r.get(3)?,
                imported_days: None,
            })
        })
        .optional()?;
    let Some(mut site) = site else {
        return Ok(None);
    };
    let (first, last): (Option<i64>, Option<i64>) = conn
        .prepare_cached(
            "SELECT min(day), max(day) FROM imported_daily WHERE site_id = ?1 AND dimension = 0",
        )?
        .query_row(params![site.id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    site.imported_days = first.zip(last);
    Ok(Some(site))
}
