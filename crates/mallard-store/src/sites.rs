//! Sites as the dashboard manages them: the list (sites added by hand and
//! sites seen in events), adding one before its first event, and changing a
//! site's time zone (which rebuilds its rollups).

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::StoreError;
use crate::reader::ReadConn;

/// A site as listed by the dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteRecord {
    /// The site id (usually its domain).
    pub domain: String,
    /// The IANA name of the site's time zone.
    pub time_zone: String,
    /// When the site was added or first seen, ms since the epoch.
    pub created_at_ms: i64,
    /// Whether the site has at least one stored event.
    pub has_events: bool,
    /// The first and last local day of its imported daily aggregates
    /// ([`crate::imported_daily`]), if it has any.
    pub imported_days: Option<(i64, i64)>,
}

impl ReadConn<'_> {
    /// Every site, sorted by domain, with its time zone and whether it has
    /// events.
    pub fn sites(&self) -> Result<Vec<SiteRecord>, StoreError> {
        let mut stmt = self.connection().prepare_cached(
            "SELECT s.domain, s.timezone, s.created_at, \
             (EXISTS (SELECT 1 FROM events e WHERE e.site_id = s.id) \
             OR EXISTS (SELECT 1 FROM day_segments d WHERE d.site_id = s.id)), \
             (SELECT min(day) FROM imported_daily i WHERE i.site_id = s.id AND dimension = 0), \
             (SELECT max(day) FROM imported_daily i WHERE i.site_id = s.id AND dimension = 0) \
             FROM sites s ORDER BY s.domain",
        )?;
        let sites = stmt
            .query_map([], |row| {
                Ok(SiteRecord {
                    domain: row.get(0)?,
                    time_zone: row.get(1)?,
                    created_at_ms: row.get(2)?,
                    has_events: row.get(3)?,
                    imported_days: match (row.get(4)?, row.get(5)?) {
                        (Some(first), Some(last)) => Some((first, last)),
                        _ => None,
                    },
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(sites)
    }

    /// The distinct visitors with an event between `from_ms` and `to_ms`
    /// (inclusive) of every site that has any, by domain, in one query: one
    /// range read of the events table per site. Meant for the last minutes
    /// (the live count): their days are open, so their events are rows.
    pub fn visitors_between_by_site(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        let mut stmt = self.connection().prepare_cached(
            "SELECT s.domain, count(DISTINCT v.visitor_id) FROM sites s \
             JOIN events e ON e.site_id = s.id AND e.ts >= ?1 AND e.ts <= ?2 \
             JOIN visits v ON v.id = e.visit_id \
             GROUP BY s.id ORDER BY s.domain",
        )?;
        let counts = stmt
            .query_map(params![from_ms, to_ms], |row| {
                Ok((
                    row.get(0)?,
                    u64::try_from(row.get::<_, i64>(1)?).unwrap_or(0),
                ))
            })?
            .collect::<Result<_, _>>()?;
        Ok(counts)
    }

    /// Whether site `domain` is stored.
    pub fn site_exists(&self, domain: &str) -> Result<bool, StoreError> {
        Ok(self
            .connection()
            .prepare_cached("SELECT 1 FROM sites WHERE domain = ?1")?
            .query_row(params![domain], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// How many sites were added or first seen at or after `since_ms`.
    pub fn sites_created_since(&self, since_ms: i64) -> Result<u64, StoreError> {
        let count: i64 = self
            .connection()
            .prepare_cached("SELECT count(*) FROM sites WHERE created_at >= ?1")?
            .query_row(params![since_ms], |row| row.get(0))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }
}

/// The id a new site takes: above every live and every deleted site's
/// (migration 017), so that rows of a deleted site still being purged never
/// count for a new one.
pub(crate) const NEXT_SITE_ID: &str = "(SELECT max(coalesce((SELECT max(id) FROM sites), 0), \
     coalesce((SELECT max(site_id) FROM deleted_sites), 0)) + 1)";

/// Adds a site with its time zone (an IANA name the caller validated).
/// Returns false, changing nothing, when the site already exists. Runs on the
/// write connection.
pub fn add_site(
    conn: &Connection,
    domain: &str,
    time_zone: &str,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let added = conn
        .prepare_cached(&format!(
            "INSERT INTO sites (id, domain, timezone, created_at) \
             VALUES ({NEXT_SITE_ID}, ?1, ?2, ?3) ON CONFLICT (domain) DO NOTHING"
        ))?
        .execute(params![domain, time_zone, now_ms])?;
    Ok(added == 1)
}

/// What changing a site's time zone did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeZoneChange {
    /// There is no such site.
    NoSuchSite,
    /// The site already had this time zone.
    Unchanged,
    /// The zone changed; the rollups were rebuilt when the site had events.
    Changed,
}

/// Sets a site's time zone (an IANA name the caller validated) and rebuilds
/// its rollups, whose days and hours follow the zone. Must run through
/// `WriterHandle::run_maintenance`, so the writer drops the time zones and
/// visitor sketches it keeps in memory.
pub fn set_time_zone(
    conn: &Connection,
    domain: &str,
    time_zone: &str,
) -> Result<TimeZoneChange, StoreError> {
    let site: Option<(i64, String, bool)> = conn
        .prepare_cached(
            "SELECT id, timezone, (EXISTS (SELECT 1 FROM events e WHERE e.site_id = sites.id) \
             OR EXISTS (SELECT 1 FROM day_segments d WHERE d.site_id = sites.id)) \
             FROM sites WHERE domain = ?1",
        )?
        .query_row(params![domain], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let Some((id, current, has_events)) = site else {
        return Ok(TimeZoneChange::NoSuchSite);
    };
    if current == time_zone {
        return Ok(TimeZoneChange::Unchanged);
    }
    conn.prepare_cached("UPDATE sites SET timezone = ?2 WHERE id = ?1")?
        .execute(params![id, time_zone])?;
    if has_events {
        crate::rollups::rebuild_site(conn, id)?;
    }
    Ok(TimeZoneChange::Changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        crate::schema::migrated_in_memory()
    }

    #[test]
    fn sites_are_added_once_and_listed_with_their_zone() {
        let conn = db();
        assert!(add_site(&conn, "b.test", "Europe/Berlin", 5).unwrap());
        assert!(!add_site(&conn, "b.test", "UTC", 6).unwrap());
        assert!(add_site(&conn, "a.test", "UTC", 7).unwrap());
        assert_eq!(ReadConn::new(&conn).sites_created_since(6).unwrap(), 1);
        assert_eq!(ReadConn::new(&conn).sites_created_since(0).unwrap(), 2);
        assert!(ReadConn::new(&conn).site_exists("a.test").unwrap());
        assert!(!ReadConn::new(&conn).site_exists("c.test").unwrap());
        let sites = ReadConn::new(&conn).sites().unwrap();
        assert_eq!(
            sites,
            vec![
                SiteRecord {
                    domain: "a.test".into(),
                    time_zone: "UTC".into(),
                    created_at_ms: 7,
                    has_events: false,
                    imported_days: None,
                },
                SiteRecord {
                    domain: "b.test".into(),
                    time_zone: "Europe/Berlin".into(),
                    created_at_ms: 5,
                    has_events: false,
                    imported_days: None,
                },
            ]
        );
    }

    #[test]
    fn live_visitors_of_every_site_come_from_one_query() {
        use mallard_core::{
            DeviceClass, EventName, NewEvent, SessionAttributes, SiteId, VisitorId,
        };

        let dir = tempfile::tempdir().unwrap();
        let store = crate::Store::open(dir.path(), crate::StoreOptions::default()).unwrap();
        let now = 1_800_000_000_000;
        let event = |site: &str, visitor: u64, ts: i64| NewEvent {
            site: SiteId::parse(site).unwrap(),
            timestamp_ms: ts,
            visitor: VisitorId(visitor),
            name: EventName::parse("pageview").unwrap(),
            hostname: site.into(),
            pathname: "/".into(),
            props: Vec::new(),
            revenue: None,
            session: SessionAttributes {
                device: DeviceClass::Desktop,
                ..SessionAttributes::default()
            },
            collector: None,
        };
        store
            .writer()
            .insert_blocking(vec![
                event("a.test", 1, now - 1_000),
                event("a.test", 2, now - 2_000),
                event("a.test", 1, now - 500),
                event("b.test", 3, now - 1_000),
                event("b.test", 4, now - 600_000),
                event("c.test", 5, now - 600_000),
            ])
            .unwrap();
        let counts = store
            .reads()
            .with(|db| db.visitors_between_by_site(now - 300_000, now))
            .unwrap();
        assert_eq!(
            counts,
            vec![("a.test".to_owned(), 2), ("b.test".to_owned(), 1)],
            "visitors outside the window and sites without any are left out"
        );
        store.close();
    }

    #[test]
    fn a_time_zone_change_is_reported() {
        let conn = db();
        assert_eq!(
            set_time_zone(&conn, "x.test", "UTC").unwrap(),
            TimeZoneChange::NoSuchSite
        );
        add_site(&conn, "x.test", "UTC", 1).unwrap();
        assert_eq!(
            set_time_zone(&conn, "x.test", "UTC").unwrap(),
            TimeZoneChange::Unchanged
        );
        assert_eq!(
            set_time_zone(&conn, "x.test", "Asia/Tokyo").unwrap(),
            TimeZoneChange::Changed
        );
        assert_eq!(
            ReadConn::new(&conn).sites().unwrap()[0].time_zone,
            "Asia/Tokyo"
        );
    }
}
