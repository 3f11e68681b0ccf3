//! Rollup spans answer as their days do, cover a period with the days around
//! them, and lose their mark when a day of theirs changes.

use mallard_core::{DayRange, SiteTimeZone};
use rusqlite::{Connection, params};

use super::{Piece, RollupTable, SPAN_DAYS, cover, differences, fill_blocking, forget_all};
use crate::Store;
use crate::stats::StatsQuery;
use crate::stats::tests::{
    BASES_MS, GenEvent, Reference, SITE, check_all_filtered, make_event, spread_events,
    store_generated,
};

const ZONE: &str = "Europe/Berlin";

/// Fifty days of events from sixty visitors, some arriving late.
fn fifty_days() -> Vec<GenEvent> {
    spread_events(900, 173, 50, 60, 13)
}

fn store_fifty_days(dir: &std::path::Path) -> Store {
    store_generated(dir, ZONE, BASES_MS[2], &fifty_days(), &[40, 7, 90])
}

fn days(start: i64, end: i64) -> DayRange {
    DayRange { start, end }
}

/// Checks every query, without and with a filter each (one that the rollups
/// answer, one that the segments do), on each range against the events.
fn check_ranges(store: &Store, ranges: &[DayRange]) {
    store
        .reads()
        .with(|db| {
            let reference = Reference::load(db.connection(), SiteTimeZone::parse(ZONE).unwrap());
            for &range in ranges {
                check_all_filtered(
                    db,
                    &reference,
                    range,
                    &["", "source==Google", "page==/pricing"],
                );
            }
            Ok(())
        })
        .unwrap();
}

/// The first local day of the data, and the pieces that cover `range` now.
fn first_day_and_cover(store: &Store, range: Option<DayRange>) -> (i64, Vec<Piece>) {
    store
        .reads()
        .with(|db| {
            let site = db.stats_site(SITE)?.unwrap();
            let first = site.first_day.unwrap();
            let range = range.unwrap_or(days(first, first + 50));
            Ok((first, cover(db.connection(), &site, range)?))
        })
        .unwrap()
}

fn spans_read(pieces: &[Piece]) -> i64 {
    pieces
        .iter()
        .filter(|piece| piece.table == RollupTable::Spans)
        .map(|piece| piece.range.days() / SPAN_DAYS)
        .sum()
}

/// The first day of the first span that `pieces` read.
fn first_span_read(pieces: &[Piece]) -> i64 {
    pieces
        .iter()
        .find(|piece| piece.table == RollupTable::Spans)
        .map(|piece| piece.range.start)
        .unwrap()
}

/// A job that adds 1,000 page views to the site totals of the span from
/// `span`.
fn make_up_page_views(
    span: i64,
) -> impl FnOnce(&Connection) -> Result<(), crate::error::StoreError> + Send + 'static {
    move |conn| {
        conn.execute(
            "UPDATE rollup_spans SET pageviews = pageviews + 1000 WHERE kind = 0 AND day = ?1",
            [span],
        )?;
        Ok(())
    }
}

#[test]
fn spans_answer_as_their_days_do_and_check_finds_one_that_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_fifty_days(dir.path());
    fill_blocking(&store.writer()).unwrap();
    assert_eq!(fill_blocking(&store.writer()).unwrap(), 0);
    let (first, pieces) = first_day_and_cover(&store, None);
    // Fifty days hold two whole spans at least, every one of them closed.
    assert!(spans_read(&pieces) >= 2, "{pieces:?}");
    // Whole spans, spans cut at either end, and days between spans.
    let ranges = [
        days(first - 1, first + 51),
        days(first + 5, first + 40),
        days(first + 20, first + 30),
    ];
    check_ranges(&store, &ranges);
    let check = |store: &Store| {
        store
            .reads()
            .with(|db| differences(db.connection()))
            .unwrap()
    };
    assert_eq!(check(&store), Vec::<String>::new());

    // The spans are what answers: a count made up in one shows, and
    // `mallard check` finds it.
    let main = |store: &Store| {
        store
            .reads()
            .with(|db| {
                let site = db.stats_site(SITE)?.unwrap();
                let query = StatsQuery {
                    range: ranges[0],
                    filters: Vec::new(),
                    with_imported: false,
                };
                db.stats_main(&site, &query)
            })
            .unwrap()
    };
    let before = main(&store);
    let span = first_span_read(&pieces);
    store
        .writer()
        .run_blocking(make_up_page_views(span))
        .unwrap();
    assert_eq!(main(&store).pageviews, before.pageviews + 1000);
    let found = check(&store);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("1 rollup row(s) differ"), "{found:?}");
    // The repair forgets every span; the writer builds them again.
    assert!(store.writer().run_blocking(forget_all).unwrap() >= 2);
    assert_eq!(spans_read(&first_day_and_cover(&store, None).1), 0);
    assert_eq!(main(&store), before);
    // (The writer's write-behind may build some of them first.)
    fill_blocking(&store.writer()).unwrap();
    assert!(spans_read(&first_day_and_cover(&store, None).1) >= 2);
    assert_eq!(check(&store), Vec::<String>::new());
    assert_eq!(main(&store), before);
    store.close();
}

#[test]
fn a_late_event_drops_its_span_which_is_built_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_fifty_days(dir.path());
    fill_blocking(&store.writer()).unwrap();
    let (first, pieces) = first_day_and_cover(&store, None);
    let whole = days(first - 1, first + 51);
    // The last span read: every day of it is after the first day.
    let span = pieces
        .iter()
        .rev()
        .find(|piece| piece.table == RollupTable::Spans)
        .map(|piece| piece.range.end - SPAN_DAYS)
        .unwrap();
    // The span is made up, so that only a span built again answers right.
    store
        .writer()
        .run_blocking(make_up_page_views(span))
        .unwrap();
    // An event of a new visitor on a day of the span arrives late: its
    // rollups drop the span's mark, and once its day is packed again the
    // span is built again, with the late event.
    let tz = SiteTimeZone::parse(ZONE).unwrap();
    let mut late = make_event(BASES_MS[2], (0, 999, 1, 1, 1, false));
    late.timestamp_ms = tz.day_start_ms(span + 3) + 12 * 3_600_000;
    store.writer().insert_blocking(vec![late]).unwrap();
    store.writer().pack_closed_days_blocking().unwrap();
    fill_blocking(&store.writer()).unwrap();
    let (_, pieces) = first_day_and_cover(&store, Some(whole));
    assert!(
        pieces.iter().any(|piece| piece.table == RollupTable::Spans
            && piece.range.start <= span
            && span < piece.range.end),
        "{pieces:?}"
    );
    check_ranges(&store, &[whole]);
    store.close();
}

#[test]
fn a_day_row_that_does_not_decode_leaves_its_span_unbuilt_and_fails_no_write() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_fifty_days(dir.path());
    // (Storing the events built the spans already.)
    store.writer().run_blocking(forget_all).unwrap();
    let first = store
        .reads()
        .with(|db| Ok(db.stats_site(SITE)?.unwrap().first_day.unwrap()))
        .unwrap();
    // A visitor sketch of a day of the second span is damaged.
    let damaged = super::span_start(first) + 2 * SPAN_DAYS + 3;
    store
        .writer()
        .run_blocking(move |conn| {
            let changed = conn.execute(
                "UPDATE rollup_days SET visitors = x'09' WHERE kind = 0 AND day = ?1",
                [damaged],
            )?;
            assert_eq!(changed, 1);
            Ok(())
        })
        .unwrap();
    // The spans before it are built (by this fill, or by the writer's
    // write-behind first); it is not, and nothing failed.
    fill_blocking(&store.writer()).unwrap();
    let (_, pieces) = first_day_and_cover(&store, None);
    assert_eq!(spans_read(&pieces), 2, "{pieces:?}");
    assert!(
        pieces
            .iter()
            .all(|piece| piece.table == RollupTable::Days || piece.range.end <= damaged),
        "{pieces:?}"
    );
    store
        .writer()
        .insert_blocking(vec![make_event(BASES_MS[2], (0, 1, 1, 1, 1, false))])
        .unwrap();
    store.close();
}

#[test]
fn a_change_to_a_day_while_its_span_is_added_up_withdraws_the_claim() {
    let dir = tempfile::tempdir().unwrap();
    store_fifty_days(dir.path()).close();
    // The functions the writer runs, on a connection of its own.
    let conn = Connection::open(dir.path().join(crate::DATABASE_FILE)).unwrap();
    forget_all(&conn).unwrap();
    let site = crate::site_records::site_id(&conn, SITE).unwrap().unwrap();
    let mut building = None;
    assert!(super::step(&conn, &mut building).unwrap());
    let span = building
        .as_ref()
        .map(|build: &super::SpanBuild| build.span)
        .unwrap();
    // Claimed, not ready: not read.
    assert_eq!(marks(&conn), vec![(site, span)]);
    let ready = |conn: &Connection| -> i64 {
        conn.query_row(
            "SELECT count(*) FROM rollup_span_marks WHERE ready = 1",
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert_eq!(ready(&conn), 0);
    // Day rows of the span go while it is added up: the claim goes with
    // them, and the build is dropped.
    let gone = conn
        .execute(
            "DELETE FROM rollup_days WHERE site_id = ?1 AND kind = 4 AND day = (SELECT min(day) \
             FROM rollup_days WHERE site_id = ?1 AND kind = 4 AND day >= ?2 AND day < ?2 + 16)",
            params![site, span],
        )
        .unwrap();
    assert!(gone > 0);
    while building.is_some() {
        assert!(super::step(&conn, &mut building).unwrap());
    }
    assert_eq!(ready(&conn), 0);
    // Claimed again and added up whole, without the deleted rows.
    while super::step(&conn, &mut building).unwrap() {
        if building.is_none() {
            break;
        }
    }
    assert_eq!(ready(&conn), 1);
    assert_eq!(differences(&conn).unwrap(), Vec::<String>::new());
}

fn marks(conn: &Connection) -> Vec<(i64, i64)> {
    conn.prepare("SELECT site_id, day FROM rollup_span_marks ORDER BY site_id, day")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn a_day_row_deleted_or_packed_drops_the_mark_of_its_span() {
    let conn = crate::schema::migrated_in_memory();
    let mark_all = |conn: &Connection| {
        for (site, day) in [(1, 0), (1, 16), (1, 32), (1, 48), (2, 16)] {
            conn.execute(
                "INSERT OR REPLACE INTO rollup_span_marks (site_id, day, ready) VALUES (?1, ?2, 1)",
                params![site, day],
            )
            .unwrap();
        }
    };
    for day in [20, 47] {
        conn.execute(
            "INSERT INTO rollup_days (site_id, kind, day, value, pageviews, events, visits, \
             bounces, visit_pageviews, duration_ms, exits) VALUES (1, 4, ?1, 7, 1, 1, 1, 0, 1, 0, 0)",
            [day],
        )
        .unwrap();
    }
    // A deleted row (retention, deletions, rebuilds): its span, of its site.
    mark_all(&conn);
    conn.execute("DELETE FROM rollup_days WHERE day = 20", [])
        .unwrap();
    assert_eq!(marks(&conn), vec![(1, 0), (1, 32), (1, 48), (2, 16)]);
    conn.execute("DELETE FROM rollup_days WHERE day = 47", [])
        .unwrap();
    assert_eq!(marks(&conn), vec![(1, 0), (1, 48), (2, 16)]);
    // A day's pages packed.
    mark_all(&conn);
    crate::packed_pages::repack_day(&conn, 1, 50).unwrap();
    assert_eq!(marks(&conn), vec![(1, 0), (1, 16), (1, 32), (2, 16)]);
    // (Rollups written by the writer: `a_late_event_drops_its_span_which_is_built_again`.)
}

#[test]
fn a_period_is_covered_by_its_whole_marked_spans_and_the_days_around_them() {
    let conn = crate::schema::migrated_in_memory();
    for day in [16, 32, 64, 80] {
        conn.execute(
            "INSERT INTO rollup_span_marks (site_id, day, ready) VALUES (1, ?1, 1)",
            [day],
        )
        .unwrap();
    }
    let piece = |table, start, end| Piece {
        table,
        range: days(start, end),
    };
    let (d, s) = (RollupTable::Days, RollupTable::Spans);
    let cases = [
        // Spans cut by the period's ends are read as days.
        (
            days(20, 100),
            vec![
                piece(d, 20, 32),
                piece(s, 32, 48),
                piece(d, 48, 64),
                piece(s, 64, 96),
                piece(d, 96, 100),
            ],
        ),
        (days(16, 48), vec![piece(s, 16, 48)]),
        (days(17, 47), vec![piece(d, 17, 47)]),
        (days(0, 16), vec![piece(d, 0, 16)]),
        (days(30, 31), vec![piece(d, 30, 31)]),
        (days(40, 40), vec![]),
    ];
    for (range, expected) in cases {
        assert_eq!(
            cover(&conn, &site(1, None), range).unwrap(),
            expected,
            "{range:?}"
        );
        // Another site has no spans.
        let all_days = if range.days() > 0 {
            vec![piece(d, range.start, range.end)]
        } else {
            vec![]
        };
        assert_eq!(
            cover(&conn, &site(2, None), range).unwrap(),
            all_days,
            "{range:?}"
        );
    }
    // A range from the site's first day, or before it, starts with that
    // day's span: there is nothing before the first day.
    assert_eq!(
        cover(&conn, &site(1, Some(20)), days(20, 40)).unwrap(),
        vec![piece(s, 16, 32), piece(d, 32, 40)]
    );
    assert_eq!(
        cover(&conn, &site(1, Some(20)), days(18, 40)).unwrap(),
        vec![piece(s, 16, 32), piece(d, 32, 40)]
    );
    // Not a range from a later day, nor one that ends by the first day.
    assert_eq!(
        cover(&conn, &site(1, Some(20)), days(21, 40)).unwrap(),
        vec![piece(d, 21, 40)]
    );
    assert_eq!(
        cover(&conn, &site(1, Some(20)), days(0, 20)).unwrap(),
        vec![piece(d, 0, 20)]
    );
}

fn site(id: i64, first_day: Option<i64>) -> crate::stats::SiteInfo {
    crate::stats::SiteInfo {
        id,
        time_zone: SiteTimeZone::utc(),
        version: 0,
        first_day,
        imported_days: None,
    }
}
