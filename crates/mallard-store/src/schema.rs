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
pub const SCHEMA_VERSION: i64 = 24;

/// All migrations, oldest first, one SQL file each under `migrations/`. Only
/// ever append to this list; a shipped migration never changes.
pub fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(include_str!("migrations/001_initial.sql")),
        M::up(include_str!("migrations/002_auth.sql")),
        M::up(include_str!("migrations/003_collector.sql")),
        M::up(include_str!("migrations/004_stats.sql")),
        M::up(include_str!("migrations/005_dedupe_days.sql")),
        M::up(include_str!("migrations/006_write_behind.sql")),
        M::up(include_str!("migrations/007_visit_growth.sql")),
        M::up(include_str!("migrations/008_visit_days.sql")),
        M::up(include_str!("migrations/009_visit_paths.sql")),
        M::up(include_str!("migrations/010_open_access_keys.sql")),
        M::up(include_str!("migrations/011_visitor_salts.sql")),
        M::up(include_str!("migrations/012_day_segments.sql")),
        M::up(include_str!("migrations/013_packed_days_stored_once.sql")),
        M::up(include_str!("migrations/014_imports.sql")),
        M::up(include_str!("migrations/015_import_holding.sql")),
        M::up(include_str!("migrations/016_region_city.sql")),
        M::up(include_str!("migrations/017_site_deletion.sql")),
        M::up(include_str!("migrations/018_goals.sql")),
        M::up(include_str!("migrations/019_remotes.sql")),
        M::up(include_str!("migrations/020_annotations.sql")),
        M::up(include_str!("migrations/021_imported_daily.sql")),
        M::up(include_str!("migrations/022_pageview_props.sql")),
        M::up(include_str!("migrations/023_goal_days.sql")),
        M::up(include_str!("migrations/024_rollup_spans.sql")),
    ])
}

/// A fresh in-memory database with every migration applied, for unit tests.
#[cfg(test)]
pub(crate) fn migrated_in_memory() -> rusqlite::Connection {
    let mut conn = rusqlite::Connection::open_in_memory().expect("in-memory database");
    migrations()
        .to_latest(&mut conn)
        .expect("migrations apply to an empty database");
    conn
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

    #[test]
    fn only_databases_without_visits_get_47_bit_visitor_ids() {
        let bits = |conn: &rusqlite::Connection| -> Option<i64> {
            crate::settings::get_i64(conn, crate::settings::VISITOR_ID_BITS).unwrap()
        };
        assert_eq!(bits(&migrated_in_memory()), Some(47));
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        migrations().to_version(&mut conn, 5).unwrap();
        conn.execute(
            "INSERT INTO visits (id, site_id, visitor_id, start_ts, end_ts, pageviews, events, \
             device) VALUES (1, 1, -5, 0, 0, 1, 1, 0)",
            [],
        )
        .unwrap();
        migrations().to_latest(&mut conn).unwrap();
        assert_eq!(bits(&conn), None);
    }

    #[test]
    fn migration_8_records_the_day_ranges_of_stored_visits_and_drops_the_start_index() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        migrations().to_version(&mut conn, 7).unwrap();
        let day = 86_400_000;
        for (id, site, start) in [
            (1, 1, day + 5),
            (2, 2, day),
            (3, 1, 2 * day),
            (4, 1, day + 9),
        ] {
            conn.execute(
                "INSERT INTO visits (id, site_id, visitor_id, start_ts, end_ts, pageviews, \
                 events, device) VALUES (?1, ?2, 1, ?3, ?3, 1, 1, 0)",
                rusqlite::params![id, site, start],
            )
            .unwrap();
        }
        migrations().to_latest(&mut conn).unwrap();
        let ranges: Vec<(i64, i64, i64, i64)> = conn
            .prepare("SELECT site_id, day, min_id, max_id FROM visit_days ORDER BY site_id, day")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(ranges, vec![(1, 1, 1, 4), (1, 2, 3, 3), (2, 1, 2, 2)]);
        let index: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'visits_site_start'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(index, 0);
    }

    #[test]
    fn dedupe_keys_stored_before_migration_5_count_from_its_day() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        migrations().to_version(&mut conn, 4).unwrap();
        conn.execute("INSERT INTO collector_event_ids (key) VALUES (x'01')", [])
            .unwrap();
        migrations().to_version(&mut conn, 5).unwrap();
        let day: i64 = conn
            .query_row("SELECT day FROM collector_event_ids", [], |r| r.get(0))
            .unwrap();
        let today = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
            / 86_400;
        assert!((today - 1..=today).contains(&day), "{day} vs {today}");
    }
}
