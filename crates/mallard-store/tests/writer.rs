//! Integration tests of the store through its public API: events written by the
//! writer, visits assigned across batches and restarts, and job isolation.

use mallard_core::{DeviceClass, EventName, NewEvent, SessionAttributes, SiteId, VisitorId};
use mallard_store::{Store, StoreError, StoreOptions};

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn event(visitor: u64, ts: i64, name: &str, path: &str) -> NewEvent {
    NewEvent {
        site: SiteId::parse("store.test").unwrap(),
        timestamp_ms: ts,
        visitor: VisitorId(visitor),
        name: EventName::parse(name).unwrap(),
        hostname: "store.test".into(),
        pathname: path.into(),
        props: vec![("k".into(), "v".into())],
        revenue: None,
        session: SessionAttributes {
            device: DeviceClass::Desktop,
            ..SessionAttributes::default()
        },
        collector: None,
    }
}

#[test]
fn a_visit_continues_across_batches_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let start = now_ms() - 60_000;
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let writer = store.writer();
    writer
        .insert_blocking(vec![
            event(1, start, "pageview", "/a"),
            event(2, start, "pageview", "/a"),
        ])
        .unwrap();
    writer
        .insert_blocking(vec![event(1, start + 1_000, "pageview", "/b")])
        .unwrap();
    drop(writer);
    store.close();

    // Same timestamp as an earlier event: ids after a restart never collide.
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    store
        .writer()
        .insert_blocking(vec![
            event(1, start, "Signup", "/b"),
            event(1, start + 2_000, "pageview", "/c"),
        ])
        .unwrap();
    let reads = store.reads();
    let (events, visits, paths, props) = reads
        .with(|db| {
            Ok((
                db.event_count("store.test")?,
                db.visit_count("store.test")?,
                db.pageview_paths("store.test")?,
                db.event_props("store.test", "Signup")?,
            ))
        })
        .unwrap();
    assert_eq!(events, 5);
    assert_eq!(
        visits, 2,
        "visitor 1 kept one visit over batches and a restart"
    );
    assert_eq!(paths, ["/a", "/a", "/b", "/c"]);
    assert_eq!(props, vec![vec![("k".to_owned(), "v".to_owned())]]);
    assert!(reads.with(|db| db.integrity_problems()).unwrap().is_empty());
    store.close();
}

#[test]
fn a_failing_job_rolls_back_alone() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let writer = store.writer();
    let failed = writer.run_blocking(|conn| {
        conn.execute_batch("INSERT INTO settings (key, value) VALUES ('half', x'00')")?;
        Err::<(), _>(StoreError::Migration("deliberate".into()))
    });
    assert!(failed.is_err());
    writer
        .insert_blocking(vec![event(9, now_ms(), "pageview", "/kept")])
        .unwrap();
    let kept = writer.run_blocking(|conn| {
        Ok(conn.query_row(
            "SELECT count(*) FROM settings WHERE key = 'half'",
            [],
            |r| r.get::<_, i64>(0),
        )?)
    });
    assert_eq!(kept.unwrap(), 0, "the failed job's write was rolled back");
    assert_eq!(
        store
            .reads()
            .with(|db| db.event_count("store.test"))
            .unwrap(),
        1
    );
    drop(writer);
    store.close();
}

#[test]
fn recorded_events_commit_with_their_record_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let writer = store.writer();
    let now = now_ms();
    writer
        .insert_recorded_blocking(vec![event(1, now, "pageview", "/kept")], |conn, _| {
            conn.execute_batch("INSERT INTO settings (key, value) VALUES ('mark', x'01')")?;
            Ok(())
        })
        .unwrap();
    let failed =
        writer.insert_recorded_blocking(vec![event(2, now, "pageview", "/lost")], |conn, _| {
            conn.execute_batch("INSERT INTO settings (key, value) VALUES ('half', x'00')")?;
            Err(StoreError::Migration("deliberate".into()))
        });
    assert!(failed.is_err(), "a failed record fails its events");
    writer
        .insert_blocking(vec![event(3, now, "pageview", "/after")])
        .unwrap();
    let marks = writer
        .run_blocking(|conn| {
            Ok(conn.query_row(
                "SELECT group_concat(key) FROM settings WHERE key IN ('mark', 'half')",
                [],
                |r| r.get::<_, String>(0),
            )?)
        })
        .unwrap();
    assert_eq!(marks, "mark");
    let paths = store
        .reads()
        .with(|db| db.pageview_paths("store.test"))
        .unwrap();
    assert_eq!(paths, ["/kept", "/after"]);
    drop(writer);
    store.close();
}

#[test]
fn writes_after_close_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let writer = store.writer();
    store.close();
    assert!(
        writer
            .insert_blocking(vec![event(1, now_ms(), "pageview", "/")])
            .is_err()
    );
}

#[test]
fn a_time_zone_change_rebuilds_the_rollups_and_keeps_counting() {
    use mallard_core::period::{DayRange, parse_date};
    use mallard_store::sites::{TimeZoneChange, set_time_zone};
    use mallard_store::stats::StatsQuery;

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let writer = store.writer();
    // 20:00 UTC on 2024-03-10 is 05:00 on 2024-03-11 in Tokyo.
    let evening = 1_710_100_800_000;
    writer
        .insert_blocking(vec![event(1, evening, "pageview", "/a")])
        .unwrap();
    let day = |date: &str| {
        let start = parse_date(date).unwrap();
        StatsQuery {
            range: DayRange {
                start,
                end: start + 1,
            },
            filters: Vec::new(),
            with_imported: false,
        }
    };
    let counts = |date: &str| {
        store
            .reads()
            .with(|db| {
                let site = db.stats_site("store.test")?.unwrap();
                let totals = db.stats_main(&site, &day(date))?;
                Ok((totals.pageviews, totals.visitors))
            })
            .unwrap()
    };
    assert_eq!(counts("2024-03-10"), (1, 1));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let change = runtime
        .block_on(writer.run_maintenance(|conn| set_time_zone(conn, "store.test", "Asia/Tokyo")))
        .unwrap();
    assert_eq!(change, TimeZoneChange::Changed);
    assert_eq!(counts("2024-03-10"), (0, 0));
    assert_eq!(counts("2024-03-11"), (1, 1));
    // The writer counts new events in the new zone: 21:00 UTC is Tokyo's 11th too.
    writer
        .insert_blocking(vec![event(2, evening + 3_600_000, "pageview", "/b")])
        .unwrap();
    runtime.block_on(writer.sync_rollups()).unwrap();
    assert_eq!(counts("2024-03-11"), (2, 2));
    drop(writer);
    store.close();
}

#[test]
fn recent_events_are_the_newest_of_one_site_within_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let now = now_ms();
    let mut old = event(1, now - 3_600_000, "pageview", "/old");
    old.session.browser = Some("Firefox".into());
    store
        .writer()
        .insert_blocking(vec![
            old,
            event(1, now - 2_000, "pageview", "/a"),
            event(2, now - 1_000, "Signup", "/b"),
        ])
        .unwrap();
    let recent = store
        .reads()
        .with(|db| db.recent_events("store.test", now - 60_000, 10))
        .unwrap();
    let seen: Vec<(&str, &str)> = recent
        .iter()
        .map(|e| (e.name.as_str(), e.path.as_str()))
        .collect();
    assert_eq!(seen, [("Signup", "/b"), ("pageview", "/a")]);
    assert_eq!(recent[0].ts, now - 1_000);
    let limited = store
        .reads()
        .with(|db| db.recent_events("store.test", 0, 1))
        .unwrap();
    assert_eq!(limited.len(), 1);
    let none = store
        .reads()
        .with(|db| db.recent_events("other.test", 0, 10))
        .unwrap();
    assert!(none.is_empty());
    store.close();
}
