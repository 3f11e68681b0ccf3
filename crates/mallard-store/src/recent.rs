//! The latest events of a site, for the dashboard's realtime view: time, name,
//! page and the visit's source, country and browser. Nothing identifying is
//! stored, so nothing identifying is returned.

use rusqlite::params;

use crate::error::StoreError;
use crate::reader::ReadConn;

/// One recent event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentEvent {
    /// When it happened, ms since the epoch.
    pub ts: i64,
    /// The event name (`pageview` or a custom name).
    pub name: String,
    /// The page path.
    pub path: String,
    /// The visit's referrer source, if any.
    pub source: Option<String>,
    /// The visit's country code, if known.
    pub country: Option<String>,
    /// The visit's browser family, if known.
    pub browser: Option<String>,
}

impl ReadConn<'_> {
    /// The `limit` latest events of site `domain` at or after `since_ms`,
    /// newest first. The events table is clustered by site and time, so this
    /// reads only the rows it returns.
    pub fn recent_events(
        &self,
        domain: &str,
        since_ms: i64,
        limit: u32,
    ) -> Result<Vec<RecentEvent>, StoreError> {
        let mut stmt = self.connection().prepare_cached(
            "SELECT e.ts, n.value, p.value, src.value, c.value, b.value FROM events e \
             JOIN dims n ON n.id = e.name JOIN dims p ON p.id = e.pathname \
             JOIN visits v ON v.id = e.visit_id \
             LEFT JOIN dims src ON src.id = v.referrer_source \
             LEFT JOIN dims c ON c.id = v.country \
             LEFT JOIN dims b ON b.id = v.browser \
             WHERE e.site_id = (SELECT id FROM sites WHERE domain = ?1) AND e.ts >= ?2 \
             ORDER BY e.ts DESC, e.id DESC LIMIT ?3",
        )?;
        let events = stmt
            .query_map(params![domain, since_ms, limit], |row| {
                Ok(RecentEvent {
                    ts: row.get(0)?,
                    name: row.get(1)?,
                    path: row.get(2)?,
                    source: row.get(3)?,
                    country: row.get(4)?,
                    browser: row.get(5)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(events)
    }
}
