//! Derived parts (code indexes, entry events): a database whose days have
//! none, or have code indexes in their earlier form, answers the same, the
//! writer adds them, `mallard check` finds a wrong one, and a day whose
//! steps are damaged is passed, not retried forever.

use mallard_core::{DayRange, SiteTimeZone};
use rusqlite::{Connection, params};

use super::{differences, fill_blocking, forget_all};
use crate::day_segment::{self, code_visits, part};
use crate::stats::StatsQuery;
use crate::stats::tests::{
    BASES_MS, GenEvent, MATCH_ALL, Reference, SITE, check_all_filtered, spread_events,
    store_generated,
};
use crate::{Store, StoreOptions};

const ZONE: &str = "America/New_York";

/// Twenty days of events from forty visitors, some arriving late: visits
/// of one event, and visits of six events a minute apart that view their
/// pages (and send their custom events) more than once.
fn twenty_days() -> Vec<GenEvent> {
    let mut events = spread_events(500, 131, 20, 40, 11);
    events.extend((0..600i64).map(|i| {
        let visit = i / 6;
        (
            (visit * 211) % (20 * 24 * 60) + i % 6,
            (visit % 40) as u64 + 100,
            (i % 10) as u8,
            ((i % 6) % 3 + visit % 2) as usize,
            (visit % 8) as usize,
            i % 13 == 0,
        )
    }));
    events
}

fn store_twenty_days(dir: &std::path::Path) -> Store {
    store_generated(dir, ZONE, BASES_MS[1], &twenty_days(), &[30, 9, 70])
}

/// Every query with filters on a page, an event name and a page with a
/// visit attribute, and with a filter that always holds (as without
/// filters: the revenue from the entry events), against the events, over
/// the whole data.
fn check_filtered(store: &Store) {
    store
        .reads()
        .with(|db| {
            let reference = Reference::load(db.connection(), SiteTimeZone::parse(ZONE).unwrap());
            let first = db.stats_site(SITE)?.unwrap().first_day.unwrap();
            check_all_filtered(
                db,
                &reference,
                DayRange {
                    start: first - 1,
                    end: first + 21,
                },
                &[
                    MATCH_ALL,
                    "page==/pricing",
                    "event==Signup",
                    "page==/docs;source==Google",
                    "page!=/pricing",
                    // Counts by page or event name over visits chosen by
                    // their attributes alone read the index alone.
                    "source==Google",
                    "source!=Google;browser!=Safari",
                    // Filters on a property find their visits from the
                    // entry events where a day has them.
                    "props.plan==pro",
                    "props.plan==pro;source!=Google",
                ],
            );
            // The export under a filter on a property reads a day with entry
            // events from them, and decodes the others.
            let site = db.stats_site(SITE)?.unwrap();
            for filters in ["props.plan==pro", "props.plan!=(unknown);source!=Google"] {
                let query = StatsQuery {
                    range: DayRange {
                        start: first - 1,
                        end: first + 21,
                    },
                    filters: mallard_core::filter::parse_filters(filters).unwrap(),
                    with_imported: false,
                };
                let (events, _) = reference.select(&query);
                let mut expected: Vec<(i64, i64, String, String)> = events
                    .iter()
                    .map(|e| (e.ts, e.visit_id, e.name.clone(), e.path.clone()))
                    .collect();
                expected.sort();
                let mut exported: Vec<(i64, i64, String, String)> = db
                    .stats_export_events(&site, &query, 10_000, 0)?
                    .into_iter()
                    .map(|e| (e.ts, e.visit_id, e.name, e.pathname))
                    .collect();
                exported.sort();
                assert!(!expected.is_empty(), "{filters}");
                assert_eq!(exported, expected, "{filters}");
            }
            Ok(())
        })
        .unwrap();
}

/// Days as `(site, day)`.
type Days = Vec<(i64, i64)>;

/// `(site, day)` of every day with part `id`.
fn days_with(conn: &Connection, id: i64) -> Days {
    conn.prepare("SELECT site_id, day FROM day_segments WHERE part = ?1 ORDER BY site_id, day")
        .unwrap()
        .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// `(site, day)` of every packed day, of those with a code index, and of
/// those with entry events.
fn packed_and_derived(conn: &Connection) -> (Days, Days, Days) {
    (
        days_with(conn, part::MARKER),
        days_with(conn, part::CODE_VISITS),
        days_with(conn, part::ENTRY_EVENTS),
    )
}

/// Options of a store whose writer packs nothing and adds no index behind.
fn without_write_behind() -> StoreOptions {
    StoreOptions {
        writer: crate::writer::WriterOptions {
            pack_closed_days: false,
            ..Default::default()
        },
        ..Default::default()
    }
}

/// [`packed_and_derived`] of the store's database.
fn days_of(store: &Store) -> (Days, Days, Days) {
    store
        .reads()
        .with(|db| Ok(packed_and_derived(db.connection())))
        .unwrap()
}

fn lines(store: &Store) -> Vec<String> {
    store
        .reads()
        .with(|db| differences(db.connection()))
        .unwrap()
}

#[test]
fn days_without_derived_parts_answer_the_same_and_the_writer_adds_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_twenty_days(dir.path());
    let (packed, indexed, timed) = days_of(&store);
    // Days packed from now on have their index and entry events.
    assert!(packed.len() >= 15, "{packed:?}");
    assert_eq!(indexed, packed);
    assert_eq!(timed, packed);
    assert_eq!(lines(&store), Vec::<String>::new());
    check_filtered(&store);

    // A database from before: no day has an index or entry events (and a
    // writer that does not write behind, which would add them). It answers
    // the same.
    store.close();
    let store = Store::open(dir.path(), without_write_behind()).unwrap();
    let removed = store.writer().run_blocking(forget_all).unwrap();
    assert_eq!(removed, 2 * packed.len());
    assert_eq!(days_of(&store), (packed.clone(), Vec::new(), Vec::new()));
    check_filtered(&store);

    // Days with entry events and days without, alternating, answer the
    // same too.
    store
        .writer()
        .run_blocking(|conn| {
            let mut cursor = None;
            super::fill_step(conn, &mut cursor)?;
            conn.execute(
                "DELETE FROM day_segments WHERE part = ?1 AND day % 2 = 0",
                params![part::ENTRY_EVENTS],
            )?;
            Ok(())
        })
        .unwrap();
    let (_, indexed, timed) = days_of(&store);
    assert!(!timed.is_empty() && timed.len() < packed.len(), "{timed:?}");
    check_filtered(&store);

    // The writer adds every part again, as the other parts give them, a
    // few days per step.
    let lacking = packed
        .iter()
        .filter(|day| !indexed.contains(day) || !timed.contains(day))
        .count();
    let steps = fill_blocking(&store.writer()).unwrap();
    assert!(steps >= lacking.div_ceil(super::DAYS_PER_STEP) as u64);
    assert!(steps <= lacking as u64);
    assert_eq!(fill_blocking(&store.writer()).unwrap(), 0);
    assert_eq!(days_of(&store), (packed.clone(), packed.clone(), packed));
    assert_eq!(lines(&store), Vec::<String>::new());
    check_filtered(&store);
    store.close();
}

#[test]
fn an_index_in_its_earlier_form_is_not_read_and_the_writer_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_twenty_days(dir.path());
    let (packed, _, _) = days_of(&store);
    store.close();
    // A database indexed before the index said how often a visit holds a
    // code: its indexes are under the earlier part, here bytes that would
    // fail any read of them.
    let store = Store::open(dir.path(), without_write_behind()).unwrap();
    store
        .writer()
        .run_blocking(|conn| {
            conn.execute(
                "UPDATE day_segments SET part = ?1, data = x'00010203' WHERE part = ?2",
                params![part::CODE_VISITS_BEFORE_REPEATS, part::CODE_VISITS],
            )?;
            Ok(())
        })
        .unwrap();
    let earlier = |store: &Store| -> Days {
        store
            .reads()
            .with(|db| Ok(days_with(db.connection(), part::CODE_VISITS_BEFORE_REPEATS)))
            .unwrap()
    };
    assert_eq!(earlier(&store), packed);
    assert_eq!(days_of(&store).1, Vec::new());
    check_filtered(&store);
    // The writer builds each day's index again and deletes the earlier one.
    fill_blocking(&store.writer()).unwrap();
    assert_eq!(days_of(&store).1, packed);
    assert_eq!(earlier(&store), Vec::new());
    assert_eq!(lines(&store), Vec::<String>::new());
    check_filtered(&store);
    store.close();
}

#[test]
fn check_finds_a_wrong_or_damaged_derived_part_and_the_writer_rebuilds_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_twenty_days(dir.path());
    let (packed, _, _) = days_of(&store);
    let (site, first, second) = (packed[0].0, packed[0].1, packed[1].1);
    store
        .writer()
        .run_blocking(move |conn| {
            // The first day gets the second day's part (valid, of other
            // visits); the second a flipped byte.
            for id in part::DERIVED {
                conn.execute(
                    "UPDATE day_segments SET data = (SELECT data FROM day_segments \
                     WHERE site_id = ?1 AND day = ?3 AND part = ?4) \
                     WHERE site_id = ?1 AND day = ?2 AND part = ?4",
                    params![site, first, second, id],
                )?;
                conn.execute(
                    "UPDATE day_segments SET data = CAST(x'00' || substr(data, 2) AS BLOB) \
                     WHERE site_id = ?1 AND day = ?2 AND part = ?3",
                    params![site, second, id],
                )?;
            }
            Ok(())
        })
        .unwrap();
    let found = lines(&store);
    assert_eq!(found.len(), 4, "{found:?}");
    assert!(found[0].contains("code index differs"), "{found:?}");
    assert!(
        found[1].contains("code index fails its checksum"),
        "{found:?}"
    );
    assert!(found[2].contains("entry events differ"), "{found:?}");
    assert!(
        found[3].contains("entry events fail their checksum"),
        "{found:?}"
    );
    // A damaged part fails the queries that read it, as any damaged part
    // does, naming its day: the code index under a page filter, the entry
    // events without filters.
    let failed = store
        .reads()
        .with(|db| {
            let site_info = db.stats_site(SITE)?.unwrap();
            let query = |filters: &str| StatsQuery {
                range: DayRange {
                    start: site_info.first_day.unwrap() - 1,
                    end: site_info.first_day.unwrap() + 21,
                },
                filters: mallard_core::filter::parse_filters(filters).unwrap(),
                with_imported: false,
            };
            Ok((
                db.stats_main(&site_info, &query("page==/pricing")),
                db.stats_revenue(&site_info, &query(MATCH_ALL), mallard_core::Interval::Day),
            ))
        })
        .unwrap();
    assert!(
        matches!(
            failed.0,
            Err(crate::error::StoreError::DamagedSegment { day, .. }) if day == second
        ),
        "{failed:?}"
    );
    assert!(
        matches!(
            failed.1,
            Err(crate::error::StoreError::DamagedSegment { day, .. }) if day == second
        ),
        "{failed:?}"
    );
    // The repair deletes every index and the writer builds them again.
    store.writer().run_blocking(forget_all).unwrap();
    fill_blocking(&store.writer()).unwrap();
    assert_eq!(lines(&store), Vec::<String>::new());
    check_filtered(&store);
    store.close();
}

#[test]
fn a_day_whose_steps_are_damaged_is_passed_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_twenty_days(dir.path());
    let (packed, _, _) = days_of(&store);
    let (site, day) = packed[2];
    store.writer().run_blocking(forget_all).unwrap();
    store
        .writer()
        .run_blocking(move |conn| {
            conn.execute(
                "UPDATE day_segments SET data = CAST(x'00' || substr(data, 2) AS BLOB) \
                 WHERE site_id = ?1 AND day = ?2 AND part = ?3",
                params![site, day, part::STEPS],
            )?;
            Ok(())
        })
        .unwrap();
    // Every other day gets its index; that one is left for `mallard check`,
    // which reports its segment as damaged.
    fill_blocking(&store.writer()).unwrap();
    let (_, indexed, timed) = days_of(&store);
    let expected: Vec<_> = packed
        .iter()
        .copied()
        .filter(|d| *d != (site, day))
        .collect();
    assert_eq!(indexed, expected);
    assert_eq!(timed, expected);
    let damaged = store
        .reads()
        .with(|db| crate::segment_fold::damaged_segments(db.connection()))
        .unwrap();
    assert_eq!(damaged, vec![(site, day)]);
    assert_eq!(lines(&store), Vec::<String>::new());
    // The stored indexes are those of their days' steps.
    store
        .reads()
        .with(|db| {
            let conn = db.connection();
            for &(site, day) in &expected {
                let payload = |id: i64| -> Vec<u8> {
                    let stored: Vec<u8> = conn
                        .query_row(
                            "SELECT data FROM day_segments WHERE site_id = ?1 AND day = ?2 \
                             AND part = ?3",
                            params![site, day, id],
                            |r| r.get(0),
                        )
                        .unwrap();
                    day_segment::unseal(&stored).unwrap().to_vec()
                };
                let count = day_segment::visit_count(&payload(part::STARTS)).unwrap();
                assert_eq!(
                    code_visits::build(&payload(part::STEPS), count).unwrap(),
                    payload(part::CODE_VISITS)
                );
            }
            Ok(())
        })
        .unwrap();
    store.close();
}
