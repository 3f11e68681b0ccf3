//! Deleting a site and a date range, through the real writer, against what
//! was stored before.

use mallard_core::SiteTimeZone;
use rusqlite::{Connection, params};

use super::*;
use crate::stats::StatsQuery;
use crate::stats::tests::{
    BASES_MS, SITE, all_answers, arrival_order, rebuild_whole_site, store_events,
    three_days_of_events,
};
use crate::{Store, StoreOptions};
use mallard_core::DayRange;

/// Every visit of the test site over a wide range, as comparable tuples
/// (start, end, page views, events, entry, exit), sorted.
/// A visit as compared: start, end, page views, events, entry and exit page.
type VisitShape = (i64, i64, i64, i64, Option<String>, Option<String>);

fn visits(store: &Store) -> Vec<VisitShape> {
    store
        .reads()
        .with(|db| {
            let site = db.stats_site(SITE)?.expect("the site exists");
            let first = site.first_day.unwrap_or(0);
            let query = StatsQuery {
                range: DayRange {
                    start: first - 2,
                    end: first + 8,
                },
                filters: vec![],
                with_imported: false,
            };
            let mut rows: Vec<_> = db
                .stats_sessions(&site, &query, 100_000, 0, true)?
                .into_iter()
                .map(|v| {
                    (
                        v.start_ts,
                        v.end_ts,
                        v.pageviews,
                        v.events,
                        v.entry_page,
                        v.exit_page,
                    )
                })
                .collect();
            rows.sort();
            Ok(rows)
        })
        .unwrap()
}

/// A store at `dir` with three days of the generated traffic in `zone`, its
/// closed days packed.
fn three_days(dir: &std::path::Path, zone: &str) -> Store {
    let events = arrival_order(BASES_MS[0], &three_days_of_events());
    store_events(dir, zone, &events, &[7, 50, 3]);
    Store::open(dir, StoreOptions::default()).unwrap()
}

fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

fn packed_days(store: &Store) -> i64 {
    store
        .reads()
        .with(|db| {
            Ok(count(
                db.connection(),
                "SELECT count(DISTINCT day) FROM day_segments",
            ))
        })
        .unwrap()
}

#[test]
fn a_date_range_loses_exactly_the_visits_that_start_in_it_and_the_rollups_follow() {
    for (zone, first_local_day, local_days) in
        [("Europe/Berlin", 1, 1), ("UTC", 1, 1), ("UTC", 0, 2)]
    {
        let dir = tempfile::tempdir().unwrap();
        let store = three_days(dir.path(), zone);
        assert!(packed_days(&store) > 0, "closed days were packed");
        let tz = SiteTimeZone::parse(zone).unwrap();
        let first = tz.local_day(BASES_MS[0]) + first_local_day;
        let range = (tz.day_start_ms(first), tz.day_start_ms(first + local_days));
        let before = visits(&store);
        let expected: Vec<_> = before
            .iter()
            .filter(|v| !(range.0..range.1).contains(&v.0))
            .cloned()
            .collect();
        let gone = (before.len() - expected.len()) as u64;
        assert!(
            gone > 0 && !expected.is_empty(),
            "{zone}: the range holds some visits"
        );
        let gone_events: i64 = before
            .iter()
            .filter(|v| (range.0..range.1).contains(&v.0))
            .map(|v| v.3)
            .sum();

        let deleted = delete_range_blocking(&store.writer(), SITE, range, BASES_MS[0])
            .unwrap()
            .expect("the site exists");
        assert_eq!(deleted.visits, gone, "{zone}");
        assert_eq!(deleted.events as i64, gone_events, "{zone}");
        assert_eq!(
            visits(&store),
            expected,
            "{zone}: the other visits stay whole"
        );

        // The rollups equal those rebuilt from what is left.
        let answers = store.reads().with(|db| Ok(all_answers(db))).unwrap();
        rebuild_whole_site(&store);
        let rebuilt = store.reads().with(|db| Ok(all_answers(db))).unwrap();
        assert_same_answers(&answers, &rebuilt, zone);

        // Deleting it again finds nothing.
        let again = delete_range_blocking(&store.writer(), SITE, range, BASES_MS[0])
            .unwrap()
            .unwrap();
        assert_eq!((again.visits, again.events), (0, 0));
        store.close();

        // Packing later finds the days restored to rows and packs them.
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        store.writer().pack_closed_days_blocking().unwrap();
        assert_eq!(visits(&store), expected, "{zone}: after packing again");
        store.close();
    }
}

/// Fails on the first answer that differs, showing where.
fn assert_same_answers(got: &[String], want: &[String], context: &str) {
    assert_eq!(got.len(), want.len(), "{context}");
    for (index, (got, want)) in got.iter().zip(want).enumerate() {
        if got != want {
            let at = got
                .bytes()
                .zip(want.bytes())
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            let excerpt = |s: &str| {
                s.get(at.saturating_sub(200)..(at + 200).min(s.len()))
                    .unwrap_or("")
                    .to_owned()
            };
            panic!(
                "{context}: answer {index} differs at byte {at}:\n got  ...{}\n want ...{}",
                excerpt(got),
                excerpt(want)
            );
        }
    }
}

/// The tables that hold a `site_id` column.
fn site_tables(conn: &Connection) -> Vec<String> {
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    tables
        .into_iter()
        .filter(|table| {
            conn.prepare(&format!("SELECT site_id FROM {table} LIMIT 0"))
                .is_ok()
                && table != "deleted_sites"
        })
        .collect()
}

#[test]
fn a_deleted_site_is_gone_at_once_and_its_data_chunk_by_chunk_and_its_id_never_returns() {
    let dir = tempfile::tempdir().unwrap();
    let store = three_days(dir.path(), "Europe/Berlin");
    let writer = store.writer();
    // A second site whose answers must not change.
    writer
        .run_blocking(|conn| {
            crate::sites::add_site(conn, "other.example", "UTC", 0)?;
            Ok(())
        })
        .unwrap();
    let other = mallard_core::NewEvent {
        site: mallard_core::SiteId::parse("other.example").unwrap(),
        ..crate::stats::tests::make_event(BASES_MS[0], (5, 1, 0, 0, 0, false))
    };
    writer.insert_blocking(vec![other]).unwrap();
    let other_before = store
        .reads()
        .with(|db| db.event_count("other.example"))
        .unwrap();
    assert_eq!(other_before, 1);

    let id = delete_site_blocking(&writer, SITE, 1)
        .unwrap()
        .expect("deleted");
    assert_eq!(delete_site_blocking(&writer, SITE, 1).unwrap(), None);
    // Gone from every list and query at once.
    store
        .reads()
        .with(|db| {
            assert!(db.stats_site(SITE)?.is_none());
            assert!(!db.site_exists(SITE)?);
            assert_eq!(
                pending_purges(db.connection())?,
                vec![(id, SITE.to_owned())]
            );
            Ok(())
        })
        .unwrap();

    // The purge goes a few days at a time, then finishes.
    let mut steps = Vec::new();
    let finished = purge_blocking(&writer, |step| steps.push(step)).unwrap();
    assert_eq!(finished, 1);
    assert!(steps.len() > 2, "{steps:?}");
    assert!(
        steps.contains(&PurgeStep::Emptied { site_id: id }),
        "{steps:?}"
    );
    assert_eq!(steps.last(), Some(&PurgeStep::Idle));
    store
        .reads()
        .with(|db| {
            let conn = db.connection();
            for table in site_tables(conn) {
                let left: i64 = conn.query_row(
                    &format!("SELECT count(*) FROM {table} WHERE site_id = ?1"),
                    params![id],
                    |r| r.get(0),
                )?;
                assert_eq!(left, 0, "{table} keeps rows of the deleted site");
            }
            assert!(pending_purges(conn)?.is_empty());
            assert_eq!(db.event_count("other.example")?, 1);
            Ok(())
        })
        .unwrap();

    // An event for the domain creates the site again, under a new id.
    let again = crate::stats::tests::make_event(BASES_MS[0], (1, 1, 0, 0, 0, false));
    writer.insert_blocking(vec![again]).unwrap();
    let new_id = writer
        .run_blocking(|conn| crate::imports::site_id_of(conn, SITE))
        .unwrap()
        .unwrap();
    assert!(new_id > id, "{new_id} > {id}");
    let events = store.reads().with(|db| db.event_count(SITE)).unwrap();
    assert_eq!(events, 1, "the new site starts empty");
    drop(writer);
    store.close();
}

#[test]
fn a_purge_cut_short_carries_on_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = three_days(dir.path(), "UTC");
    let id = delete_site_blocking(&store.writer(), SITE, 1)
        .unwrap()
        .unwrap();
    // One step only, as if the process stopped after it.
    let step = store
        .writer()
        .run_maintenance_blocking(purge_chunk)
        .unwrap();
    assert!(matches!(step, PurgeStep::Deleted { site_id, .. } if site_id == id));
    store.close();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let pending = store
        .reads()
        .with(|db| pending_purges(db.connection()))
        .unwrap();
    assert_eq!(pending, vec![(id, SITE.to_owned())]);
    assert_eq!(purge_blocking(&store.writer(), |_| {}).unwrap(), 1);
    store.close();
}

#[test]
fn new_databases_give_freed_pages_back_to_the_file_system() {
    let dir = tempfile::tempdir().unwrap();
    let store = three_days(dir.path(), "UTC");
    let (mode, pages_before) = store
        .reads()
        .with(|db| {
            let conn = db.connection();
            Ok((
                count(conn, "PRAGMA auto_vacuum"),
                count(conn, "PRAGMA page_count"),
            ))
        })
        .unwrap();
    assert_eq!(mode, 2, "incremental auto-vacuum");
    delete_site_blocking(&store.writer(), SITE, 1).unwrap();
    purge_blocking(&store.writer(), |_| {}).unwrap();
    let (free, pages_after) = store
        .reads()
        .with(|db| {
            let conn = db.connection();
            Ok((
                count(conn, "PRAGMA freelist_count"),
                count(conn, "PRAGMA page_count"),
            ))
        })
        .unwrap();
    assert_eq!(free, 0);
    assert!(pages_after < pages_before, "{pages_after} < {pages_before}");
    store.close();
}

#[test]
fn a_deleted_sites_id_is_never_handed_out_again() {
    let conn = crate::schema::migrated_in_memory();
    conn.execute_batch(
        "INSERT INTO sites (id, domain, created_at) VALUES (1, 'a.test', 0), (7, 'b.test', 0); \
         INSERT INTO imports (id, site_id, kind, format, started_at) VALUES (1, 7, 'log', 'combined', 0); \
         INSERT INTO import_visitors (import_id, seq, visitors) VALUES (1, 0, x'00'); \
         INSERT INTO import_files (site_id, prefix_hash, prefix_len, name, bytes_read, lines_read, import_id) \
         VALUES (7, x'00', 1, 'access.log', 1, 1, 1);",
    )
    .unwrap();
    assert_eq!(forget_site(&conn, "b.test", 5).unwrap(), Some(7));
    assert_eq!(forget_site(&conn, "b.test", 5).unwrap(), None);
    for table in ["imports", "import_visitors", "import_files"] {
        assert_eq!(
            count(&conn, &format!("SELECT count(*) FROM {table}")),
            0,
            "{table}"
        );
    }
    crate::sites::add_site(&conn, "c.test", "UTC", 6).unwrap();
    assert_eq!(
        count(&conn, "SELECT id FROM sites WHERE domain = 'c.test'"),
        8,
        "the deleted site's id 7 is not handed out again"
    );
    // Even once purged.
    assert_eq!(
        purge_chunk(&conn).unwrap(),
        PurgeStep::Emptied { site_id: 7 }
    );
    mark_purged(&conn, 7, 7).unwrap();
    assert_eq!(purge_chunk(&conn).unwrap(), PurgeStep::Idle);
    assert_eq!(forget_site(&conn, "c.test", 8).unwrap(), Some(8));
    crate::imports::begin_import(&conn, "b.test", "log", "combined", 9).unwrap();
    assert_eq!(
        count(&conn, "SELECT id FROM sites WHERE domain = 'b.test'"),
        9
    );
}

#[test]
fn deleting_overwrites_the_deleted_content_and_puts_the_connections_mode_back() {
    let conn = crate::schema::migrated_in_memory();
    let mode = |conn: &Connection| count(conn, "PRAGMA secure_delete");
    let before = mode(&conn);
    {
        let _secure = SecureDelete::on(&conn).unwrap();
        assert_eq!(mode(&conn), 2, "FAST while deleting");
    }
    assert_eq!(mode(&conn), before);
}
