//! The database schema and its migrations.
//!
//! Migrations are additive and numbered by SQLite's `user_version`
//! (rusqlite_migration). A file with a higher version than [`SCHEMA_VERSION`] was
//! written by a newer build and is refused untouched.
//!
//! Layout, designed for small rows:
//! - `dims` interns every dimension string (paths, hosts, browsers, ...) once.
//! - `visits` holds one row per visit with the visit-level attributes (source,
//!   UTM, browser, OS, device, screen, country), its first and last page and its
//!   counts, so bounce rate, duration and entry/exit pages need no event scan.
//! - `events` is clustered by `(site_id, ts, id)` (`WITHOUT ROWID`): a time range
//!   of one site is one contiguous B-tree range, with no separate index.

use rusqlite_migration::{M, Migrations};

/// The schema version this build writes and understands.
pub const SCHEMA_VERSION: i64 = 1;

const V1: &str = r#"
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;

CREATE TABLE sites (
    id         INTEGER PRIMARY KEY,
    domain     TEXT NOT NULL UNIQUE,
    timezone   TEXT NOT NULL DEFAULT 'UTC',
    created_at INTEGER NOT NULL
);

CREATE TABLE dims (
    id    INTEGER PRIMARY KEY,
    kind  INTEGER NOT NULL,
    value TEXT NOT NULL
);
CREATE UNIQUE INDEX dims_kind_value ON dims (kind, value);

CREATE TABLE visits (
    id              INTEGER PRIMARY KEY,
    site_id         INTEGER NOT NULL,
    visitor_id      INTEGER NOT NULL,
    start_ts        INTEGER NOT NULL,
    end_ts          INTEGER NOT NULL,
    pageviews       INTEGER NOT NULL,
    events          INTEGER NOT NULL,
    entry_page      INTEGER,
    exit_page       INTEGER,
    referrer_source INTEGER,
    referrer_url    INTEGER,
    utm_source      INTEGER,
    utm_medium      INTEGER,
    utm_campaign    INTEGER,
    utm_term        INTEGER,
    utm_content     INTEGER,
    browser         INTEGER,
    browser_version INTEGER,
    os              INTEGER,
    os_version      INTEGER,
    device          INTEGER NOT NULL,
    screen_width    INTEGER,
    country         INTEGER
);
CREATE INDEX visits_site_start ON visits (site_id, start_ts);

CREATE TABLE events (
    site_id        INTEGER NOT NULL,
    ts             INTEGER NOT NULL,
    id             INTEGER NOT NULL,
    visit_id       INTEGER NOT NULL,
    name           INTEGER NOT NULL,
    hostname       INTEGER NOT NULL,
    pathname       INTEGER NOT NULL,
    revenue_micros INTEGER,
    currency       INTEGER,
    PRIMARY KEY (site_id, ts, id)
) WITHOUT ROWID;

CREATE TABLE event_props (
    site_id  INTEGER NOT NULL,
    ts       INTEGER NOT NULL,
    event_id INTEGER NOT NULL,
    key      INTEGER NOT NULL,
    value    INTEGER NOT NULL,
    PRIMARY KEY (site_id, ts, event_id, key)
) WITHOUT ROWID;
"#;

/// All migrations, oldest first. Only ever append to this list.
pub fn migrations() -> Migrations<'static> {
    Migrations::new(vec![M::up(V1)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid_and_match_the_schema_version() {
        assert!(migrations().validate().is_ok());
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        migrations().to_latest(&mut conn).unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
    }
}
