//! The feed against the site's stored visits and events: every event once,
//! in visit id order, whole visits, and nothing handed over while open.

use super::*;
use crate::stats::tests::{BASES_MS, SITE, arrival_order, store_events, three_days_of_events};
use crate::{Store, StoreOptions};

/// The store with three days of generated traffic (late events among them,
/// so packed days and days kept as rows alternate).
fn three_days(dir: &std::path::Path) -> Store {
    let events = arrival_order(BASES_MS[0], &three_days_of_events());
    store_events(dir, "Europe/Berlin", &events, &[7, 50, 3]);
    Store::open(dir, StoreOptions::default()).unwrap()
}

/// Every page from `after` on, `limit` events at a time, as of `now_ms`.
fn all_pages(store: &Store, limit: usize, now_ms: i64) -> Vec<FeedPage> {
    let mut pages = Vec::new();
    let mut after = 0;
    loop {
        let page = store
            .reads()
            .with(|db| db.event_feed(SITE, after, limit, now_ms))
            .unwrap()
            .expect("the site exists");
        let done = !page.more;
        after = page.next;
        pages.push(page);
        if done {
            return pages;
        }
    }
}

#[test]
fn paging_hands_over_every_stored_event_once_in_visit_id_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = three_days(dir.path());
    let (stored_visits, stored_events) = store
        .reads()
        .with(|db| {
            let conn = db.connection();
            let site = crate::site_records::site_id(conn, SITE)?.unwrap();
            Ok((
                crate::site_records::visits(conn, site)?,
                crate::site_records::events(conn, site)?,
            ))
        })
        .unwrap();
    assert!(
        store
            .reads()
            .with(|db| Ok(db.connection().query_row(
                "SELECT count(*) FROM day_segments",
                [],
                |r| r.get::<_, i64>(0)
            )?))
            .unwrap()
            > 0,
        "some days are packed"
    );
    let far_future = i64::MAX / 4;
    for limit in [1, 7, 100_000] {
        let pages = all_pages(&store, limit, far_future);
        let visits: Vec<&FeedVisit> = pages.iter().flat_map(|p| &p.visits).collect();
        let ids: Vec<i64> = visits.iter().map(|v| v.id).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "by id, each once");
        assert_eq!(ids.len(), stored_visits.len(), "limit {limit}");
        let mut expected_ids: Vec<i64> = stored_visits.iter().map(|v| v.id).collect();
        expected_ids.sort_unstable();
        assert_eq!(ids, expected_ids);
        for (page, next) in pages.iter().zip(pages.iter().skip(1)) {
            assert!(next.visits.first().is_none_or(|v| v.id > page.next));
            // A page stops after the visit that reaches the limit.
            let held: usize = page.visits.iter().map(|v| v.events.len()).sum();
            let without_last = held - page.visits.last().map_or(0, |v| v.events.len());
            assert!(without_last < limit, "{held} events for limit {limit}");
        }
        let handed: usize = visits.iter().map(|v| v.events.len()).sum();
        assert_eq!(handed, stored_events.len());
        // Each visit's events in time order, with its stored counters.
        for visit in &visits {
            assert!(visit.events.windows(2).all(|w| w[0].ts <= w[1].ts));
            let stored = stored_visits.iter().find(|v| v.id == visit.id).unwrap();
            assert_eq!(visit.events.len() as i64, stored.events_count);
            assert_eq!(
                visit.events.iter().filter(|e| e.name == "pageview").count() as i64,
                stored.pageviews
            );
            assert_eq!(visit.events[0].ts, stored.start_ts);
            assert_eq!(visit.visitor_id, stored.visitor_id);
            for event in &visit.events {
                if event.name == "pageview" {
                    assert_eq!(
                        event.hostname,
                        crate::stats::tests::hostname_of(&event.pathname)
                    );
                }
            }
        }
    }
}

#[test]
fn a_visit_that_may_still_grow_holds_back_itself_and_every_later_id() {
    let dir = tempfile::tempdir().unwrap();
    let store = three_days(dir.path());
    let everything = all_pages(&store, 100_000, i64::MAX / 4);
    let visits: Vec<&FeedVisit> = everything.iter().flat_map(|p| &p.visits).collect();
    // As of the end of the middle visit (by id): it and every later id wait.
    let middle = visits[visits.len() / 2];
    let end = middle.events.iter().map(|e| e.ts).max().unwrap();
    let now = end + VISIT_TIMEOUT_MS + SETTLE_MARGIN_MS;
    let page = all_pages(&store, 100_000, now).pop().unwrap();
    assert!(page.waiting_for_open_visit);
    assert!(!page.more);
    assert!(page.visits.iter().all(|v| v.id < middle.id));
    for visit in &page.visits {
        let last = visit.events.iter().map(|e| e.ts).max().unwrap();
        assert!(last + VISIT_TIMEOUT_MS + SETTLE_MARGIN_MS < now);
    }
    // The page after it starts at the waiting visit once it settled.
    let later = store
        .reads()
        .with(|db| db.event_feed(SITE, page.next, 100_000, i64::MAX / 4))
        .unwrap()
        .unwrap();
    assert_eq!(
        page.visits.len() + later.visits.len(),
        visits.len(),
        "nothing skipped"
    );
    assert_eq!(
        store
            .reads()
            .with(|db| db.event_feed("nowhere.example", 0, 10, 0))
            .unwrap(),
        None
    );
}
