//! Goal days answer as the events do, are counted only for closed days,
//! and go when what they count changes.

use std::collections::BTreeMap;

use mallard_core::event::NewEvent;
use mallard_core::{Currency, DayRange, EventName, Revenue};
use proptest::prelude::*;

use super::{decode_revenue, encode_revenue};
use crate::goals::{Goal, GoalDefinition, GoalWrite, add_goal, goals_of};
use crate::stats::tests::{BASES_MS, SITE, arrival_order, store_events, three_days_of_events};
use crate::stats::{GoalConversions, StatsQuery};
use crate::{Store, StoreOptions};

fn definition(
    name: &str,
    event: Option<&str>,
    page: Option<&str>,
    prop: Option<(&str, &str)>,
) -> GoalDefinition {
    GoalDefinition {
        name: name.into(),
        event_name: event.map(Into::into),
        page_path: page.map(Into::into),
        prop: prop.map(|(k, v)| (k.into(), v.into())),
    }
}

/// An event goal, a property goal, a page pattern goal and a revenue goal.
fn definitions() -> Vec<GoalDefinition> {
    vec![
        definition("Signup", Some("Signup"), None, None),
        definition("Pro signups", Some("Signup"), None, Some(("plan", "pro"))),
        definition("Blog", None, Some("/blog/*"), None),
        definition("Purchase", Some("Purchase"), None, None),
    ]
}

/// Purchases with an amount, in two currencies, on each of the three days.
fn purchases() -> Vec<NewEvent> {
    (0..12)
        .map(|i: i64| {
            let mut event = crate::stats::tests::make_event(
                BASES_MS[0],
                (i * 349 % (3 * 24 * 60), 40 + (i % 5) as u64, 8, 1, 2, false),
            );
            event.revenue = Some(Revenue {
                amount_micros: 1_250_000 * (i + 1),
                currency: Currency::parse(["EUR", "USD"][(i % 2) as usize]).unwrap(),
            });
            event
        })
        .collect()
}

/// A store with three days of events (the first ones packed) and the goals.
fn store_with_goals(dir: &std::path::Path) -> (Store, Vec<Goal>) {
    let mut events = arrival_order(BASES_MS[0], &three_days_of_events());
    events.extend(purchases());
    events.sort_by_key(|e| e.timestamp_ms);
    store_events(dir, "Europe/Berlin", &events, &[7, 50, 3]);
    let store = Store::open(dir, StoreOptions::default()).unwrap();
    for goal in definitions() {
        let written = store
            .writer()
            .run_blocking(move |conn| add_goal(conn, SITE, &goal, 0))
            .unwrap();
        assert!(matches!(written, GoalWrite::Stored(_)), "{written:?}");
    }
    let goals = store
        .reads()
        .with(|db| {
            let site = db.stats_site(SITE)?.unwrap();
            goals_of(db.connection(), site.id)
        })
        .unwrap();
    (store, goals)
}

/// The conversions of `goals` over the whole data without filters, or with
/// a filter every visit meets (which the goal days never answer).
fn conversions(store: &Store, goals: &[Goal], filtered: bool) -> Vec<GoalConversions> {
    store
        .reads()
        .with(|db| {
            let site = db.stats_site(SITE)?.unwrap();
            let first = site.first_day.unwrap();
            let query = StatsQuery {
                range: DayRange {
                    start: first - 2,
                    end: first + 6,
                },
                filters: if filtered {
                    mallard_core::filter::parse_filters("source!=Nowhere").unwrap()
                } else {
                    Vec::new()
                },
                with_imported: false,
            };
            db.stats_goal_conversions(&site, &query, goals)
        })
        .unwrap()
}

fn stored_days(store: &Store) -> Vec<(i64, i64, i64)> {
    store
        .reads()
        .with(|db| {
            Ok(db
                .connection()
                .prepare("SELECT goal_id, day, events FROM goal_days ORDER BY goal_id, day")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<Vec<_>, _>>()?)
        })
        .unwrap()
}

#[test]
fn stored_goal_days_answer_as_the_events_do() {
    let dir = tempfile::tempdir().unwrap();
    let (store, goals) = store_with_goals(dir.path());
    let counted = conversions(&store, &goals, true);
    assert!(
        counted.iter().all(|goal| goal.totals.events > 0),
        "{counted:?}"
    );
    assert!(counted[3].revenue.len() == 2, "{:?}", counted[3].revenue);
    super::fill_blocking(&store.writer()).unwrap();
    let stored = stored_days(&store);
    // Each goal has its closed days stored (the last days are still open),
    // some with conversions.
    for goal in &goals {
        let days = stored.iter().filter(|row| row.0 == goal.id).count();
        assert!(days >= 1, "{stored:?}");
    }
    assert!(stored.iter().any(|row| row.2 > 0), "{stored:?}");
    let stored_count = stored.len();
    let differences = |store: &Store| {
        store
            .reads()
            .with(|db| super::differences(db.connection()))
            .unwrap()
    };
    assert_eq!(differences(&store), Vec::<String>::new());
    // Stored days and the days counted live add up to the same numbers.
    assert_eq!(conversions(&store, &goals, false), counted);
    assert_eq!(conversions(&store, &goals, true), counted);
    // Nothing is left to count.
    assert_eq!(super::fill_blocking(&store.writer()).unwrap(), 0);
    assert_eq!(stored_days(&store).len(), stored_count);
    // The stored days are what answers: one made up shows.
    let signup = goals[0].id;
    store
        .writer()
        .run_blocking(move |conn| {
            conn.execute(
                "UPDATE goal_days SET events = events + 1000 WHERE goal_id = ?1 \
                 AND day = (SELECT min(day) FROM goal_days WHERE goal_id = ?1)",
                [signup],
            )?;
            Ok(())
        })
        .unwrap();
    let made_up = conversions(&store, &goals, false);
    assert_eq!(made_up[0].totals.events, counted[0].totals.events + 1000);
    assert_eq!(made_up[1..], counted[1..]);
    // `mallard check` finds it; its repair deletes the goal days, which are
    // counted again.
    let found = differences(&store);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("\"Signup\""), "{found:?}");
    let forgotten = store.writer().run_blocking(super::forget_all).unwrap();
    assert_eq!(forgotten, stored_count);
    // Counted again: by this fill, or by a write-behind that ran between
    // the two (a CI run saw this fill find nothing left).
    super::fill_blocking(&store.writer()).unwrap();
    assert_eq!(stored_days(&store).len(), stored_count);
    assert_eq!(differences(&store), Vec::<String>::new());
    assert_eq!(conversions(&store, &goals, false), counted);
    store.close();
}

#[test]
fn a_late_event_on_a_stored_day_is_counted_and_its_days_again() {
    let dir = tempfile::tempdir().unwrap();
    let (store, goals) = store_with_goals(dir.path());
    super::fill_blocking(&store.writer()).unwrap();
    let first_stored = stored_days(&store).iter().map(|row| row.1).min().unwrap();
    let before = conversions(&store, &goals, false);
    // A signup on the first stored day, from a new visitor, arrives late:
    // its day is restored to rows, and the goal days from there go.
    let site = store
        .reads()
        .with(|db| db.stats_site(SITE))
        .unwrap()
        .unwrap();
    let mut late = crate::stats::tests::make_event(BASES_MS[0], (0, 999, 7, 1, 0, false));
    late.timestamp_ms = site.time_zone.day_start_ms(first_stored) + 12 * 3_600_000;
    late.name = EventName::parse("Signup").unwrap();
    store.writer().insert_blocking(vec![late]).unwrap();
    store.writer().pack_closed_days_blocking().unwrap();
    // (The write-behinds may have counted the days again meanwhile: stale
    // rows would miss the late signup.)
    let after = conversions(&store, &goals, false);
    assert_eq!(after[0].totals.events, before[0].totals.events + 1);
    assert_eq!(after[0].totals.visitors, before[0].totals.visitors + 1);
    // The Pro goal needs `plan=pro`: path 1 sends it.
    assert_eq!(after[1].totals.events, before[1].totals.events + 1);
    assert_eq!(after[2], before[2]);
    // Counted again, the days answer the same.
    super::fill_blocking(&store.writer()).unwrap();
    assert!(stored_days(&store).iter().any(|row| row.1 == first_stored));
    assert_eq!(conversions(&store, &goals, false), after);
    assert_eq!(conversions(&store, &goals, true), after);
    store.close();
}

#[test]
fn a_goal_that_counts_something_else_is_counted_again_and_a_new_name_keeps_its_days() {
    let dir = tempfile::tempdir().unwrap();
    let (store, goals) = store_with_goals(dir.path());
    super::fill_blocking(&store.writer()).unwrap();
    let rows_of = |store: &Store, id: i64| {
        stored_days(store)
            .into_iter()
            .filter(|row| row.0 == id)
            .collect::<Vec<_>>()
    };
    let signup = goals[0].id;
    let kept = rows_of(&store, signup);
    let change = |definition: GoalDefinition| {
        store
            .writer()
            .run_blocking(move |conn| crate::goals::update_goal(conn, signup, &definition))
            .unwrap()
    };
    change(definition("Sign-ups", Some("Signup"), None, None));
    assert_eq!(rows_of(&store, signup), kept);
    change(definition("Sign-ups", None, Some("/docs/**"), None));
    assert!(rows_of(&store, signup).is_empty());
    let goals = store
        .reads()
        .with(|db| goals_of(db.connection(), db.stats_site(SITE)?.unwrap().id))
        .unwrap();
    let counted = conversions(&store, &goals, true);
    super::fill_blocking(&store.writer()).unwrap();
    assert!(!rows_of(&store, signup).is_empty());
    assert_eq!(conversions(&store, &goals, false), counted);
    // A deleted goal's days go with it.
    store
        .writer()
        .run_blocking(move |conn| crate::goals::delete_goal(conn, signup))
        .unwrap();
    assert!(rows_of(&store, signup).is_empty());
    store.close();
}

#[test]
fn days_are_counted_only_once_closed() {
    let dir = tempfile::tempdir().unwrap();
    let (store, goals) = store_with_goals(dir.path());
    super::fill_blocking(&store.writer()).unwrap();
    let site = store
        .reads()
        .with(|db| db.stats_site(SITE))
        .unwrap()
        .unwrap();
    let last_stored = stored_days(&store).iter().map(|row| row.1).max().unwrap();
    // Every instant of a stored day is before the first day kept as rows.
    let unpacked_from: i64 = store
        .reads()
        .with(|db| {
            Ok(db.connection().query_row(
                "SELECT min(day) FROM visit_days WHERE max_end IS NULL",
                [],
                |r| r.get(0),
            )?)
        })
        .unwrap();
    assert!(
        site.time_zone.day_start_ms(last_stored + 1) <= unpacked_from * crate::visit_days::DAY_MS
    );
    assert!(goals.len() == 4);
    store.close();
}

#[test]
fn a_visit_that_goes_on_past_midnight_counts_each_event_on_its_own_day() {
    const DAY: i64 = 86_400_000;
    let midnight = BASES_MS[2] - BASES_MS[2].rem_euclid(DAY) + 10 * DAY;
    let event = |visitor: u64, ts: i64, kind: u8| {
        let mut event = crate::stats::tests::make_event(0, (0, visitor, kind, 1, 0, false));
        event.timestamp_ms = ts;
        event
    };
    // Visitor 1 views a page at 23:50 and signs up at 00:05, one visit;
    // others visit on the days after, so that both days close.
    let mut events = vec![
        event(1, midnight - 10 * 60_000, 1),
        event(1, midnight + 5 * 60_000, 7),
    ];
    events.extend((1..5).map(|day| event(10 + day as u64, midnight + day * DAY + 3_600_000, 1)));
    // And on the days before, so that a count over all the days finds the
    // visit well inside its range (where visits may be read without their
    // events' times).
    events.splice(
        0..0,
        (2..4)
            .rev()
            .map(|day| event(20 + day as u64, midnight - day * DAY + 3_600_000, 1)),
    );
    let dir = tempfile::tempdir().unwrap();
    store_events(dir.path(), "UTC", &events, &[1]);
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let goal = definition("Signup", Some("Signup"), None, None);
    store
        .writer()
        .run_blocking(move |conn| add_goal(conn, SITE, &goal, 0))
        .unwrap();
    super::fill_blocking(&store.writer()).unwrap();
    let today = midnight / DAY;
    assert!(
        stored_days(&store).contains(&(1, today, 1)),
        "{:?}",
        stored_days(&store)
    );
    assert!(stored_days(&store).contains(&(1, today - 1, 0)));
    let on = |day: i64| {
        store
            .reads()
            .with(|db| {
                let site = db.stats_site(SITE)?.unwrap();
                let goals = goals_of(db.connection(), site.id)?;
                let query = StatsQuery {
                    range: DayRange {
                        start: day,
                        end: day + 1,
                    },
                    filters: Vec::new(),
                    with_imported: false,
                };
                db.stats_goal_conversions(&site, &query, &goals)
            })
            .unwrap()[0]
            .totals
            .events
    };
    assert_eq!((on(today - 1), on(today)), (0, 1));
    assert_eq!(
        store
            .reads()
            .with(|db| super::differences(db.connection()))
            .unwrap(),
        Vec::<String>::new()
    );
    store.close();
}

#[test]
fn triggers_drop_the_days_a_change_may_reach() {
    let conn = crate::schema::migrated_in_memory();
    conn.execute_batch(
        "INSERT INTO sites (id, domain, timezone, created_at) VALUES (1, 'a.example', 'UTC', 0), \
         (2, 'b.example', 'UTC', 0); \
         INSERT INTO goals (id, site_id, name, event_name, created_at) VALUES \
         (1, 1, 'Signup', 'Signup', 0), (2, 2, 'Signup', 'Signup', 0);",
    )
    .unwrap();
    let fill = |conn: &rusqlite::Connection| {
        for goal in [1, 2] {
            for day in 10..20 {
                conn.execute(
                    "INSERT OR REPLACE INTO goal_days (goal_id, day, site_id, events, visitors) \
                     VALUES (?1, ?2, ?1, 1, x'00')",
                    [goal, day],
                )
                .unwrap();
            }
        }
    };
    let days_of = |conn: &rusqlite::Connection, goal: i64| -> Vec<i64> {
        conn.prepare("SELECT day FROM goal_days WHERE goal_id = ?1 ORDER BY day")
            .unwrap()
            .query_map([goal], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let marker = crate::day_segment::part::MARKER;
    fill(&conn);
    // A day packed (its marker written) reaches the local days from the
    // day before on; other parts and other sites are not concerned.
    conn.execute(
        "INSERT INTO day_segments (site_id, day, part, data) VALUES (1, 15, ?1, x'00'), \
         (1, 11, 0, x'00')",
        [marker],
    )
    .unwrap();
    assert_eq!(days_of(&conn, 1), (10..14).collect::<Vec<_>>());
    assert_eq!(days_of(&conn, 2).len(), 10);
    fill(&conn);
    // And so does a day restored to rows (its marker deleted).
    conn.execute("DELETE FROM day_segments WHERE day = 15", [])
        .unwrap();
    assert_eq!(days_of(&conn, 1), (10..14).collect::<Vec<_>>());
    fill(&conn);
    // A new day of visits.
    conn.execute(
        "INSERT INTO visit_days (site_id, day, min_id, max_id) VALUES (1, 12, 1, 1)",
        [],
    )
    .unwrap();
    assert_eq!(days_of(&conn, 1), vec![10]);
    fill(&conn);
    // A new name keeps a goal's days, another event does not.
    conn.execute("UPDATE goals SET name = 'Sign-up' WHERE id = 1", [])
        .unwrap();
    assert_eq!(days_of(&conn, 1).len(), 10);
    conn.execute("UPDATE goals SET event_name = 'Join' WHERE id = 1", [])
        .unwrap();
    assert!(days_of(&conn, 1).is_empty());
    fill(&conn);
    // Another time zone, or the goal deleted.
    conn.execute("UPDATE sites SET timezone = 'Asia/Tokyo' WHERE id = 1", [])
        .unwrap();
    assert!(days_of(&conn, 1).is_empty());
    assert_eq!(days_of(&conn, 2).len(), 10);
    conn.execute("DELETE FROM goals WHERE id = 2", []).unwrap();
    assert!(days_of(&conn, 2).is_empty());
}

#[test]
fn revenue_of_a_day_reads_back() {
    let revenue: BTreeMap<i64, (i128, i64)> = [
        (0, (5, 1)),
        (17, (-3_000_000, 2)),
        (i64::MAX, (i128::MAX, i64::MAX)),
    ]
    .into();
    assert_eq!(decode_revenue(&encode_revenue(&revenue)), Some(revenue));
    assert_eq!(decode_revenue(&[]), Some(BTreeMap::new()));
    assert_eq!(decode_revenue(&[4, 1, 2]), None);
}

proptest! {
    #[test]
    fn revenue_decoding_never_panics_and_reads_back_what_was_encoded(
        entries in proptest::collection::btree_map(any::<i64>(), (any::<i128>(), any::<i64>()), 0..6),
        bytes in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        prop_assert_eq!(decode_revenue(&encode_revenue(&entries)), Some(entries));
        let _ = decode_revenue(&bytes);
    }
}
