//! Records read from packed days equal the rows they were packed from; old
//! and damaged segments.

use rusqlite::{Connection, params};

use super::*;
use crate::visit_paths::pack_closed_days;
use crate::visit_paths::tests::{SITE, database_with};

const D: i64 = 10 * DAY_MS;

/// Three days of visits (10 and 11 closed, 13 open) with attributes,
/// properties, revenue, another host and a collector consent on day 10.
fn database() -> Connection {
    let conn = database_with(&[
        // Crosses midnight into day 11; a custom event on page 3.
        (
            1,
            D + 5_500,
            -7,
            &[(D + 5_500, 3, true), (D + DAY_MS + 10, 2, false)],
        ),
        // A tie: two page views at the same instant.
        (
            2,
            D + 1_000,
            1 << 40,
            &[(D + 1_000, 4, true), (D + 1_000, 5, true)],
        ),
        (3, D + DAY_MS + 1, 9, &[(D + DAY_MS + 1, 3, true)]),
        (4, D + 3 * DAY_MS, 9, &[(D + 3 * DAY_MS, 3, true)]),
    ]);
    conn.execute_batch(&format!(
        "UPDATE visits SET referrer_source = 20, utm_campaign = 21, browser = 22, \
         country = 23, screen_width = 1280, device = 2, is_bot = 1, entry_page = 3, \
         exit_page = 3, pageviews = 1, events = 2 WHERE id = 1; \
         UPDATE events SET pathname = 3, revenue_micros = -1500000, currency = 24, \
         hostname = 25 WHERE visit_id = 1 AND name = 2; \
         INSERT INTO collector_event_consent (site_id, ts, event_id, consent_id) \
         SELECT site_id, ts, id, 26 FROM events WHERE visit_id = 1 AND name = 2; \
         INSERT INTO event_props (site_id, ts, event_id, key, value) \
         SELECT site_id, ts, id, 31, 41 FROM events WHERE visit_id = 1 AND name = 2; \
         INSERT INTO event_props (site_id, ts, event_id, key, value) \
         SELECT site_id, ts, id, 30, 40 FROM events WHERE visit_id = 1 AND name = 2; \
         INSERT INTO event_props (site_id, ts, event_id, key, value) \
         SELECT site_id, ts, id, 32, 42 FROM events WHERE visit_id = 2 AND ts = {} \
         AND pathname = 5;",
        D + 1_000
    ))
    .unwrap();
    conn
}

/// Every record of `[from, to)` on packed days, sorted by start and id, and
/// where the rows take over.
fn records(conn: &Connection, from: i64, to: i64, columns: Columns) -> (Vec<VisitRecord>, i64) {
    let (folds, rest) = fold_records(
        conn,
        SITE,
        from,
        to,
        columns,
        &|_: &VisitRecord| Take::Events,
        Vec::new,
        |seen, visit| seen.push(visit.clone()),
        crate::segment_fold::no_code_events,
        Ok,
    )
    .unwrap();
    let mut seen: Vec<VisitRecord> = folds.into_iter().flatten().collect();
    seen.sort_by_key(|v| (v.start_ts, v.id));
    (seen, rest)
}

#[test]
fn records_of_packed_days_equal_their_rows() {
    let conn = database();
    let mut rows = crate::visit_paths::tests::rows_of_day(&conn, 10);
    rows.extend(crate::visit_paths::tests::rows_of_day(&conn, 11));
    assert_eq!(
        pack_closed_days(&conn, usize::MAX).unwrap(),
        vec![(SITE, 11), (SITE, 10)]
    );
    assert!(
        crate::visit_paths::tests::rows_of_day(&conn, 10).is_empty(),
        "a packed day's rows are deleted"
    );
    let (seen, rest) = records(&conn, D, D + 4 * DAY_MS, Columns::ALL);
    assert_eq!(rest, D + 3 * DAY_MS, "day 13 is not packed");
    assert_eq!(seen.len(), 3);
    assert_eq!(seen, rows);
    // The crossing visit's custom event has its page, properties sorted by
    // key and revenue.
    let crossing = &seen[1];
    assert_eq!(crossing.attrs.country, Some(23));
    assert!(crossing.attrs.is_bot);
    let custom = crossing.events[1];
    assert_eq!(
        (custom.ts, custom.pageview, custom.code, custom.pathname),
        (D + DAY_MS + 10, false, 2, 3)
    );
    assert_eq!(crossing.props_of(&custom), &[(30, 40), (31, 41)]);
    assert_eq!(
        (custom.revenue_micros, custom.currency),
        (Some(-1_500_000), Some(24))
    );
    assert_eq!((custom.hostname, custom.consent), (25, Some(26)));
    assert_eq!(
        (crossing.events[0].hostname, crossing.events[0].consent),
        (0, None)
    );
    // The tie keeps event id order, and the second page view's property.
    let tie = &seen[0];
    assert_eq!(
        tie.events.iter().map(|e| e.code).collect::<Vec<_>>(),
        vec![4, 5]
    );
    assert_eq!(tie.props_of(&tie.events[1]), &[(32, 42)]);
    // Fewer columns: events without times or paths.
    let columns = Columns {
        events: true,
        ..Columns::default()
    };
    let (few, _) = records(&conn, D, D + DAY_MS, columns);
    assert_eq!(few[1].events[1].ts, D + 5_500);
    assert_eq!(few[1].events[1].pathname, 0);
    assert_eq!(few[1].visitor_id, 0);
    assert!(few[1].props.is_empty());
}

#[test]
fn days_packed_in_the_old_format_read_as_unpacked_until_packed_again() {
    // What migration 012 finds (parts 0 to 2 only), and what this version
    // finds of the days packed before it kept their provenance (parts 0 to
    // 9; their rows were kept).
    for old_parts in [2, part::IDS] {
        days_packed_with_parts_up_to(old_parts);
    }
}

fn days_packed_with_parts_up_to(last_part: i64) {
    let conn = database();
    pack_closed_days(&conn, usize::MAX).unwrap();
    // An old day: its rows, and its segment without the newer parts.
    let old: Vec<(i64, Vec<u8>)> = conn
        .prepare("SELECT part, data FROM day_segments WHERE day = 10 AND part <= ?1")
        .unwrap()
        .query_map(params![last_part], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    crate::visit_paths::unpack_day(&conn, SITE, 10).unwrap();
    for (part, data) in old {
        conn.execute(
            "INSERT INTO day_segments (site_id, day, part, data) VALUES (?1, 10, ?2, ?3)",
            params![SITE, part, data],
        )
        .unwrap();
    }
    let (seen, rest) = records(&conn, D, D + 3 * DAY_MS, Columns::ALL);
    assert!(seen.is_empty());
    assert_eq!(rest, D, "the rows take over from the old day");
    let parts = Parts {
        starts: Starts::All,
        steps: true,
        visitors: true,
        min_steps: 0,
        gate: None,
        screen: &[],
    };
    let (_, rest) = fold(&conn, SITE, D, D + 3 * DAY_MS, parts, || (), |(), _| {}, Ok).unwrap();
    assert_eq!(rest, D);
    // The writer's packing converts it.
    assert_eq!(
        pack_closed_days(&conn, usize::MAX).unwrap(),
        vec![(SITE, 10)]
    );
    let (seen, rest) = records(&conn, D, D + 3 * DAY_MS, Columns::ALL);
    assert_eq!((seen.len(), rest), (3, D + 3 * DAY_MS));
}

#[test]
fn a_damaged_part_fails_the_queries_that_read_it_and_is_listed() {
    let conn = database();
    pack_closed_days(&conn, usize::MAX).unwrap();
    assert!(damaged_segments(&conn).unwrap().is_empty());
    // A byte lost; then a value that is not even a blob.
    conn.execute(
        "UPDATE day_segments SET data = substr(data, 1, length(data) - 1) \
         WHERE day = 11 AND part = ?1",
        params![part::ATTRIBUTES],
    )
    .unwrap();
    let damaged_11 = |conn: &Connection| {
        let outcome = fold_records(
            conn,
            SITE,
            D,
            D + 3 * DAY_MS,
            Columns::ALL,
            &|_: &VisitRecord| Take::Events,
            || (),
            |(), _| {},
            crate::segment_fold::no_code_events,
            Ok,
        );
        matches!(
            outcome,
            Err(StoreError::DamagedSegment {
                site_id: SITE,
                day: 11
            })
        )
    };
    assert!(damaged_11(&conn));
    assert_eq!(damaged_segments(&conn).unwrap(), vec![(SITE, 11)]);
    conn.execute(
        "UPDATE day_segments SET data = 'text' WHERE day = 11 AND part = ?1",
        params![part::ATTRIBUTES],
    )
    .unwrap();
    let outcome = fold_records(
        &conn,
        SITE,
        D,
        D + 3 * DAY_MS,
        Columns::ALL,
        &|_: &VisitRecord| Take::Events,
        || (),
        |(), _| {},
        crate::segment_fold::no_code_events,
        Ok,
    );
    assert!(
        matches!(
            outcome,
            Err(StoreError::DamagedSegment {
                site_id: SITE,
                day: 11
            })
        ),
        "{outcome:?}"
    );
    // Queries without attributes do not read the damaged part.
    let (seen, _) = records(
        &conn,
        D,
        D + 3 * DAY_MS,
        Columns {
            visitors: true,
            events: true,
            ..Columns::default()
        },
    );
    assert_eq!(seen.len(), 3);
    // A behavioural fold reads the attributes only to judge its filters.
    let behavioural = |screen: &[crate::visit_record::AttributeCondition]| {
        let parts = Parts {
            starts: Starts::None,
            steps: true,
            visitors: true,
            min_steps: 0,
            gate: None,
            screen,
        };
        fold(&conn, SITE, D, D + 3 * DAY_MS, parts, || (), |(), _| {}, Ok).map(|_| ())
    };
    assert!(behavioural(&[]).is_ok());
    let from_nowhere = crate::visit_record::AttributeCondition {
        attribute: crate::visit_record::Attribute::Source,
        value: None,
        is: true,
    };
    assert!(matches!(
        behavioural(&[from_nowhere]),
        Err(StoreError::DamagedSegment {
            site_id: SITE,
            day: 11
        })
    ));
    assert_eq!(damaged_segments(&conn).unwrap(), vec![(SITE, 11)]);
    // A missing part of a current day is damaged too.
    conn.execute(
        "DELETE FROM day_segments WHERE day = 10 AND part = ?1",
        params![part::PROPS],
    )
    .unwrap();
    assert_eq!(
        delete_damaged_segments(&conn).unwrap(),
        vec![(SITE, 10), (SITE, 11)]
    );
    assert!(damaged_segments(&conn).unwrap().is_empty());
    // Their visits are gone (a packed day has no rows), and nothing is left
    // to pack.
    assert_eq!(records(&conn, D, D + 3 * DAY_MS, Columns::ALL).0.len(), 0);
    assert!(pack_closed_days(&conn, usize::MAX).unwrap().is_empty());
}

/// How many rows each row table holds.
fn row_counts(conn: &Connection) -> [i64; 4] {
    ["visits", "events", "event_props", "collector_event_consent"].map(|table| {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    })
}

/// Every part of every segment, in key order.
fn segments(conn: &Connection) -> Vec<(i64, i64, Vec<u8>)> {
    conn.prepare("SELECT day, part, data FROM day_segments ORDER BY day, part")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn a_packed_day_is_stored_once_and_restored_to_the_same_rows() {
    let conn = database();
    let rows_before: Vec<VisitRecord> = [10, 11]
        .into_iter()
        .flat_map(|day| crate::visit_paths::tests::rows_of_day(&conn, day))
        .collect();
    assert_eq!(row_counts(&conn), [4, 6, 3, 1]);
    pack_closed_days(&conn, usize::MAX).unwrap();
    // Only day 13's visit and event are left as rows.
    assert_eq!(row_counts(&conn), [1, 1, 0, 0]);
    let packed = segments(&conn);
    let max_end: Vec<Option<i64>> = conn
        .prepare("SELECT max_end FROM visit_days ORDER BY day")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        max_end,
        vec![Some(D + DAY_MS + 10), Some(D + DAY_MS + 1), None]
    );
    // Restored, the rows read back as they were (properties, revenue, host
    // and consent included), and pack to the same bytes.
    for day in [10, 11] {
        crate::visit_paths::unpack_day(&conn, SITE, day).unwrap();
    }
    assert_eq!(row_counts(&conn), [4, 6, 3, 1]);
    assert!(segments(&conn).is_empty());
    let rows_after: Vec<VisitRecord> = [10, 11]
        .into_iter()
        .flat_map(|day| crate::visit_paths::tests::rows_of_day(&conn, day))
        .collect();
    assert_eq!(rows_after, rows_before);
    pack_closed_days(&conn, usize::MAX).unwrap();
    assert_eq!(segments(&conn), packed);
    assert_eq!(row_counts(&conn), [1, 1, 0, 0]);
}

#[test]
fn runs_of_packed_days_and_days_kept_as_rows_alternate() {
    let conn = database_with(&[
        (1, D, 1, &[(D, 3, true)]),
        (2, D + DAY_MS, 2, &[(D + DAY_MS, 3, true)]),
        (3, D + 2 * DAY_MS, 3, &[(D + 2 * DAY_MS, 4, true)]),
        (4, D + 4 * DAY_MS, 4, &[(D + 4 * DAY_MS, 3, true)]),
    ]);
    pack_closed_days(&conn, usize::MAX).unwrap();
    // A late change restores day 11 to rows: days 10 and 12 stay packed.
    crate::visit_paths::unpack_day(&conn, SITE, 11).unwrap();
    assert_eq!(
        next_packed_day(&conn, SITE, D + DAY_MS).unwrap(),
        Some(D + 2 * DAY_MS)
    );
    assert_eq!(next_packed_day(&conn, SITE, D + 2 * DAY_MS).unwrap(), None);
    let (packed, rest) = records(&conn, D, D + 5 * DAY_MS, Columns::ALL);
    assert_eq!(
        (packed.len(), rest),
        (1, D + DAY_MS),
        "the packed run ends at day 11"
    );
    // The period's one source reads every day from wherever it is kept.
    let folds = crate::stats::period_source::fold_starting(
        &conn,
        SITE,
        D,
        D + 5 * DAY_MS,
        Columns::ALL,
        &|_: &VisitRecord| Take::Events,
        Vec::new,
        |seen: &mut Vec<i64>, visit| seen.push(visit.id),
        crate::segment_fold::no_code_events,
    )
    .unwrap();
    let mut ids: Vec<i64> = folds.into_iter().flatten().collect();
    ids.sort_unstable();
    assert_eq!(ids, vec![1, 2, 3, 4]);
}

#[test]
fn packing_step_by_step_changes_no_answer_at_any_step() {
    let conn = database();
    let site_events = |conn: &Connection| crate::site_records::events(conn, SITE).unwrap();
    let site_visits = |conn: &Connection| crate::site_records::visits(conn, SITE).unwrap();
    let period = |conn: &Connection| {
        let folds = crate::stats::period_source::fold_starting(
            conn,
            SITE,
            D,
            D + 4 * DAY_MS,
            Columns::ALL,
            &|_: &VisitRecord| Take::Events,
            Vec::new,
            |seen: &mut Vec<VisitRecord>, visit| seen.push(visit.clone()),
            crate::segment_fold::no_code_events,
        )
        .unwrap();
        let mut seen: Vec<VisitRecord> = folds.into_iter().flatten().collect();
        seen.sort_by_key(|v| (v.start_ts, v.id));
        seen
    };
    let (events, visits, records) = (site_events(&conn), site_visits(&conn), period(&conn));
    assert_eq!((events.len(), visits.len(), records.len()), (6, 4, 4));
    let mut paths = crate::visit_paths::VisitPaths::default();
    let mut steps = Vec::new();
    loop {
        let step = paths.step(&conn).unwrap();
        steps.push(step);
        // Whatever the step left (rows read but not packed, a day packed
        // with its rows still there, rows half deleted), every reader sees
        // each visit and event once.
        assert_eq!(site_events(&conn), events, "after {steps:?}");
        assert_eq!(site_visits(&conn), visits, "after {steps:?}");
        assert_eq!(period(&conn), records, "after {steps:?}");
        if step == crate::visit_paths::Step::Idle {
            break;
        }
        assert!(steps.len() < 100, "{steps:?}");
    }
    use crate::visit_paths::Step;
    assert!(steps.contains(&Step::ReadRows));
    assert!(steps.contains(&Step::Packed(SITE, 11)) && steps.contains(&Step::Packed(SITE, 10)));
    assert!(steps.contains(&Step::DeletedRows));
    // Every replaced row is gone; day 13 is open.
    assert_eq!(row_counts(&conn), [1, 1, 0, 0]);
    let listed: i64 = conn
        .query_row("SELECT count(*) FROM packed_rows", [], |r| r.get(0))
        .unwrap();
    assert_eq!(listed, 0);
}

#[test]
fn a_day_restored_while_its_rows_are_deleted_behind_comes_back_whole() {
    let conn = database();
    let events = crate::site_records::events(&conn, SITE).unwrap();
    let mut paths = crate::visit_paths::VisitPaths::default();
    // Pack day 11, then delete one slice of its replaced rows.
    while paths.step(&conn).unwrap() != crate::visit_paths::Step::Packed(SITE, 11) {}
    assert_eq!(
        paths.step(&conn).unwrap(),
        crate::visit_paths::Step::DeletedRows
    );
    crate::visit_paths::unpack_day(&conn, SITE, 11).unwrap();
    assert_eq!(crate::site_records::events(&conn, SITE).unwrap(), events);
    let listed: i64 = conn
        .query_row("SELECT count(*) FROM packed_rows", [], |r| r.get(0))
        .unwrap();
    assert_eq!(listed, 0);
    assert_eq!(row_counts(&conn), [4, 6, 3, 1]);
}

/// The whole UTC day number `day`, whose visits have the ids `1..=visits`.
fn whole_day(day: i64, visits: i64) -> DayRange {
    DayRange {
        from_ms: day * DAY_MS,
        to_ms: (day + 1) * DAY_MS,
        low_id: 1,
        high_id: visits,
        max_end: None,
    }
}

#[test]
fn a_chunk_ends_at_its_days_or_its_bytes() {
    assert!(!chunk_full(0, 0));
    assert!(!chunk_full(CHUNK_DAYS - 1, CHUNK_BYTES - 1));
    assert!(chunk_full(CHUNK_DAYS, 0));
    // Three days of a very busy site fill a chunk.
    assert!(chunk_full(3, 3 * (11 << 19)));
    assert!(chunk_full(1, CHUNK_BYTES));
    let day = PackedDay {
        site: 1,
        range: whole_day(0, 1),
        starts: Some(vec![0; 3]),
        steps: None,
        min_steps: 0,
        visitors: Some(vec![0; 5]),
        code_visits: None,
        attributes: Some(vec![0; 7]),
    };
    assert_eq!(day.bytes(), 15);
}

/// A day of two visits whose steps part says `lengths`, the first visit
/// holding code 2 and the second code 4, decoded with a gate that hands
/// over the visits holding `code`: their codes, or `Damaged`.
fn decode_gated(lengths: [u8; 2], code: u64) -> Result<Vec<Vec<u64>>, Damaged> {
    let steps = vec![day_segment::STEPS_FORMAT, lengths[0], 2, lengths[1], 4];
    let index = day_segment::code_visits::from_pairs(vec![(2, 0), (4, 1)]);
    let day = PackedDay {
        site: 1,
        range: whole_day(0, 2),
        // Two visits, both at the day's first instant.
        starts: Some(vec![2, 0, 0]),
        steps: Some(steps),
        min_steps: 0,
        visitors: None,
        code_visits: Some(index),
        attributes: None,
    };
    let codes = [code];
    let gate = CodeGate {
        holding: &codes,
        steps_for: &codes,
    };
    let mut handed = Vec::new();
    decode_day(&day, Some(gate), &[], &mut |visit| {
        handed.push(visit.codes.map_or_else(Vec::new, |codes| codes.collect()));
    })?;
    Ok(handed)
}

#[test]
fn a_visit_passed_over_is_not_read_but_its_length_is_checked() {
    assert_eq!(decode_gated([1, 1], 4), Ok(vec![vec![4]]));
    assert_eq!(decode_gated([1, 1], 2), Ok(vec![vec![2]]));
    // The first visit's length runs into the second's, which then reads as
    // a length past the end.
    assert_eq!(decode_gated([3, 1], 4), Err(Damaged));
    // The last visit, passed over, says it runs past the end of the part.
    assert_eq!(decode_gated([1, 2], 2), Err(Damaged));
    assert_eq!(decode_gated([1, 2], 4), Err(Damaged));
}

#[test]
fn start_times_are_read_on_the_days_a_bound_falls_within() {
    let day = |n: i64| whole_day(n, 1);
    // Week starts at a local midnight two hours after UTC's, and at UTC's.
    let bounds = [3 * DAY_MS + 7_200_000, 10 * DAY_MS];
    let across = Starts::Across(&bounds);
    assert!(across.read_on(day(3)));
    // A bound at a day's first instant puts every visit of it on one side.
    assert!(!across.read_on(day(10)) && !across.read_on(day(9)));
    assert!(!across.read_on(day(2)) && !across.read_on(day(4)) && !across.read_on(day(11)));
    assert!(Starts::All.read_on(day(4)) && !Starts::None.read_on(day(3)));
}

/// The work after the loads (the caller's read of the open day's rows)
/// runs on the calling thread while the pool folds the last chunk of
/// packed days, not after it: each day of that chunk waits for it here,
/// and only gives up after a while.
#[test]
fn the_work_after_the_loads_runs_while_the_last_chunk_is_folded() {
    use std::sync::atomic::AtomicBool;
    use std::time::{Duration, Instant};

    struct Loaded(i64);
    impl LoadedDay for Loaded {
        fn bytes(&self) -> usize {
            1
        }
    }
    let ran = AtomicBool::new(false);
    // Two chunks, then a day that is not packed.
    let days = CHUNK_DAYS as i64 + 3;
    let ranges: Vec<DayRange> = (0..days)
        .map(|day| DayRange {
            from_ms: day * DAY_MS,
            to_ms: (day + 1) * DAY_MS,
            low_id: day,
            high_id: day,
            max_end: None,
        })
        .collect();
    let unpacked_from = (days - 1) * DAY_MS;
    let (folds, after) = fold_days(
        ranges,
        days * DAY_MS,
        |range| Ok((range.from_ms < unpacked_from).then_some(Loaded(range.from_ms))),
        (Vec::new, || ()),
        |seen: &mut Vec<bool>, (), &Loaded(from_ms): &Loaded| {
            let last_chunk = from_ms >= CHUNK_DAYS as i64 * DAY_MS;
            let waited = Instant::now();
            while last_chunk && !ran.load(Ordering::SeqCst) {
                if waited.elapsed() > Duration::from_secs(5) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            seen.push(!last_chunk || ran.load(Ordering::SeqCst));
            Ok(())
        },
        |rest| {
            ran.store(true, Ordering::SeqCst);
            Ok(rest)
        },
    )
    .unwrap();
    assert_eq!(after, unpacked_from);
    let seen: Vec<bool> = folds.into_iter().flatten().collect();
    assert_eq!(seen.len(), days as usize - 1);
    assert!(seen.iter().all(|&overlapped| overlapped), "{seen:?}");
}

/// A day of more visits than rows are read at a time, their ids against
/// their starts (late events opened the low ones), is packed in start
/// order and reads back as its rows did, packed at once or by the writer's
/// steps.
#[test]
fn a_day_whose_ids_run_against_its_starts_packs_in_start_order() {
    let events: Vec<[(i64, i64, bool); 1]> = (1..=7)
        .map(|id| [(D + (8 - id) * 60_000, 3 + id, true)])
        .collect();
    let mut listed: Vec<_> = events
        .iter()
        .zip(1..)
        .map(|(events, id)| (id, events[0].0, 100 + id, events.as_slice()))
        .collect();
    // A visit three days later closes day 10.
    let later = [(D + 3 * DAY_MS, 3, true)];
    listed.push((8, later[0].0, 108, &later));
    for by_steps in [false, true] {
        let conn = database_with(&listed);
        let rows = crate::visit_paths::tests::rows_of_day(&conn, 10);
        assert_eq!(
            rows.iter().map(|v| v.id).collect::<Vec<_>>(),
            (1..=7).rev().collect::<Vec<_>>()
        );
        if by_steps {
            let mut paths = crate::visit_paths::VisitPaths::default();
            let mut steps = Vec::new();
            while steps.last() != Some(&crate::visit_paths::Step::Idle) {
                steps.push(paths.step(&conn).unwrap());
                assert!(steps.len() < 100, "{steps:?}");
            }
            assert!(steps.contains(&crate::visit_paths::Step::Packed(SITE, 10)));
        } else {
            let packed = pack_closed_days(&conn, usize::MAX).unwrap();
            assert_eq!(packed, vec![(SITE, 10)]);
        }
        let (seen, _) = records(&conn, D, D + DAY_MS, Columns::ALL);
        assert_eq!(seen, rows, "packed by steps: {by_steps}");
        // The segment holds them in start order (its one day is folded by
        // one thread, in the order it holds).
        let (folds, ()) = fold_records(
            &conn,
            SITE,
            D,
            D + DAY_MS,
            Columns::ALL,
            &|_: &VisitRecord| Take::Visit,
            Vec::new,
            |held: &mut Vec<(i64, i64)>, visit| held.push((visit.start_ts, visit.id)),
            crate::segment_fold::no_code_events,
            |_| Ok(()),
        )
        .unwrap();
        let held: Vec<(i64, i64)> = folds.into_iter().flatten().collect();
        assert!(held.is_sorted(), "packed by steps: {by_steps}: {held:?}");
    }
}
