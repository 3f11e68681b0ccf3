//! Write failures in the middle of a stream of batches: a database that may
//! not grow (`PRAGMA max_page_count`, a full disk as SQLite sees it) or that
//! refuses every change of a row (TEMP triggers that abort, like a read-only
//! file), injected on the writer's own connection through a job. After any failed batch, and
//! whatever the writer could or could not reload, every acknowledged event is
//! stored exactly once (collector retries of the same ids included) and the
//! rollups equal a recomputation from the stored rows.

use std::collections::HashSet;

use mallard_core::{
    CollectorEventData, DeviceClass, EventName, NewEvent, SessionAttributes, SiteId, VisitorId,
};
use mallard_store::offline_check::open_read_only;
use mallard_store::rollup_check::rollup_differences;
use mallard_store::{Store, StoreOptions, WriterHandle};
use proptest::prelude::*;

const SITE: &str = "faults.test";

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// One event of a test batch: its visitor, its collector id (if it is a
/// collector event), whether it is a pageview, and its time offset.
#[derive(Debug, Clone, Copy)]
struct Spec {
    visitor: u64,
    collector_id: Option<u8>,
    pageview: bool,
    offset_ms: i64,
}

fn event(base_ms: i64, spec: Spec) -> NewEvent {
    NewEvent {
        site: SiteId::parse(SITE).unwrap(),
        timestamp_ms: base_ms + spec.offset_ms,
        visitor: VisitorId(spec.visitor),
        name: EventName::parse(if spec.pageview { "pageview" } else { "Signup" }).unwrap(),
        hostname: SITE.into(),
        pathname: format!("/page/{}", spec.offset_ms % 7),
        // A long property value makes every batch need fresh pages.
        props: vec![(
            "note".into(),
            format!("{}-{}", spec.offset_ms, "x".repeat(600)),
        )],
        revenue: None,
        session: SessionAttributes {
            device: DeviceClass::Desktop,
            ..SessionAttributes::default()
        },
        collector: spec.collector_id.map(|id| {
            Box::new(CollectorEventData {
                dedupe_key: [id; 16],
                consent: None,
                workspace: None,
            })
        }),
    }
}

/// How a write is made to fail.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// The database may not grow beyond its current size.
    PageLimit,
    /// Every change of a row is refused.
    Refused,
}

fn inject(writer: &WriterHandle, fault: Fault) {
    writer
        .run_blocking(move |conn| {
            match fault {
                Fault::PageLimit => {
                    let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
                    let _: i64 =
                        conn.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |r| {
                            r.get(0)
                        })?;
                }
                Fault::Refused => {
                    let tables: Vec<String> = conn
                        .prepare(
                            "SELECT name FROM main.sqlite_schema WHERE type = 'table' \
                             AND name NOT LIKE 'sqlite_%'",
                        )?
                        .query_map([], |r| r.get(0))?
                        .collect::<Result<_, _>>()?;
                    for table in tables {
                        for op in ["INSERT", "UPDATE", "DELETE"] {
                            conn.execute_batch(&format!(
                                "CREATE TEMP TRIGGER refuse_{op}_{table} BEFORE {op} \
                                 ON main.{table} BEGIN SELECT RAISE(ABORT, 'injected'); END;"
                            ))?;
                        }
                    }
                }
            }
            Ok(())
        })
        .expect("a job that writes nothing runs even while writes fail");
}

fn heal(writer: &WriterHandle) {
    writer
        .run_blocking(|conn| {
            let _: i64 = conn.query_row("PRAGMA max_page_count = 1073741823", [], |r| r.get(0))?;
            let triggers: Vec<String> = conn
                .prepare("SELECT name FROM temp.sqlite_schema WHERE type = 'trigger'")?
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            for trigger in triggers {
                conn.execute_batch(&format!("DROP TRIGGER temp.{trigger}"))?;
            }
            Ok(())
        })
        .expect("healing runs even while the writer state is stale");
}

/// What the test expects to be stored.
#[derive(Debug, Default)]
struct Model {
    stored_ids: HashSet<u8>,
    events: u64,
    pageviews: u64,
}

impl Model {
    fn acknowledged(&mut self, batch: &[Spec]) {
        for spec in batch {
            if let Some(id) = spec.collector_id
                && !self.stored_ids.insert(id)
            {
                continue;
            }
            self.events += 1;
            self.pageviews += u64::from(spec.pageview);
        }
    }
}

/// Writes everything the writer holds behind, then checks the stored rows
/// against the model and the rollups against their recomputation.
fn verify(store: &Store, model: &Model) -> Result<(), TestCaseError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime
        .block_on(store.writer().sync_rollups())
        .map_err(|e| TestCaseError::fail(format!("sync after healing: {e}")))?;
    let (events, visit_pageviews, visit_events, pageviews): (u64, i64, i64, i64) = store
        .reads()
        .with(|db| {
            let conn = db.connection();
            let (visit_pageviews, visit_events) = conn.query_row(
                "SELECT coalesce(sum(pageviews), 0), coalesce(sum(events), 0) FROM visits",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let pageviews = conn.query_row(
                "SELECT count(*) FROM events WHERE name = \
                 (SELECT id FROM dims WHERE kind = 1 AND value = 'pageview')",
                [],
                |r| r.get(0),
            )?;
            Ok((
                db.event_count(SITE)?,
                visit_pageviews,
                visit_events,
                pageviews,
            ))
        })
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(events, model.events, "every acknowledged event, once");
    prop_assert_eq!(
        visit_events,
        events as i64,
        "visit rows count stored events"
    );
    prop_assert_eq!(
        visit_pageviews,
        pageviews,
        "visit rows count stored pageviews"
    );
    let conn = open_read_only(store.path()).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let comparison = rollup_differences(&conn).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(comparison.pending_days, 0, "everything was written behind");
    prop_assert!(
        comparison.differences.is_empty(),
        "rollups differ from the rows: {:#?}",
        comparison.differences
    );
    Ok(())
}

#[test]
fn a_retry_after_a_failed_batch_and_a_failed_reload_is_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let writer = store.writer();
    let base = now_ms() - 60_000;
    let spec = |visitor, id, offset_ms| Spec {
        visitor,
        collector_id: Some(id),
        pageview: true,
        offset_ms,
    };
    let mut model = Model::default();
    // The first batch is written behind at once; the second leaves rollup
    // contributions and dedupe keys in memory, so reloading must write.
    for batch in [
        vec![spec(1, 1, 0)],
        vec![spec(1, 2, 1_000), spec(2, 3, 1_000)],
    ] {
        writer
            .insert_blocking(batch.iter().map(|s| event(base, *s)).collect())
            .unwrap();
        model.acknowledged(&batch);
    }
    inject(&writer, Fault::Refused);
    let retried = vec![spec(1, 4, 2_000), spec(2, 5, 2_000), spec(3, 6, 2_000)];
    let events = || retried.iter().map(|s| event(base, *s)).collect::<Vec<_>>();
    assert!(writer.insert_blocking(events()).is_err());
    // The reload failed too: writes are refused, not half-done.
    let refused = writer.insert_blocking(events()).unwrap_err();
    assert!(
        matches!(refused, mallard_store::error::WriteFailure::Unavailable(_)),
        "{refused:?}"
    );
    heal(&writer);
    writer.insert_blocking(events()).unwrap();
    model.acknowledged(&retried);
    // The same ids again: duplicates now, accepted and not stored.
    writer.insert_blocking(events()).unwrap();
    verify(&store, &model).unwrap();
    store.close();
}

#[test]
fn a_failed_write_behind_loses_and_doubles_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let writer = store.writer();
    let base = now_ms() - 60_000;
    let mut model = Model::default();
    let batch: Vec<Spec> = (0..40)
        .map(|i| Spec {
            visitor: i % 5,
            collector_id: Some(i as u8),
            pageview: i % 3 != 0,
            offset_ms: i as i64 * 100,
        })
        .collect();
    for part in batch.chunks(10) {
        writer
            .insert_blocking(part.iter().map(|s| event(base, *s)).collect())
            .unwrap();
        model.acknowledged(part);
    }
    // Writing behind (what a stats query asks for) fails and rolls back.
    inject(&writer, Fault::Refused);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert!(runtime.block_on(writer.sync_rollups()).is_err());
    heal(&writer);
    verify(&store, &model).unwrap();
    store.close();
}

fn spec_strategy() -> impl Strategy<Value = Spec> {
    (
        0u64..4,
        prop::option::weighted(0.7, 0u8..24),
        any::<bool>(),
        0i64..600_000,
    )
        .prop_map(|(visitor, collector_id, pageview, offset_ms)| Spec {
            visitor,
            collector_id,
            pageview,
            offset_ms,
        })
}

/// One step of a stream: a batch, maybe under a fault, maybe retried once
/// the fault is gone; or a request for current rollups under a fault.
#[derive(Debug, Clone)]
enum Step {
    Batch {
        events: Vec<Spec>,
        fault: Option<Fault>,
        retry: bool,
    },
    SyncUnder(Fault),
}

fn fault_strategy() -> impl Strategy<Value = Fault> {
    prop_oneof![Just(Fault::PageLimit), Just(Fault::Refused)]
}

fn step_strategy() -> impl Strategy<Value = Step> {
    prop_oneof![
        5 => (
            prop::collection::vec(spec_strategy(), 1..12),
            prop::option::of(fault_strategy()),
            any::<bool>()
        )
            .prop_map(|(events, fault, retry)| Step::Batch { events, fault, retry }),
        1 => fault_strategy().prop_map(Step::SyncUnder),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn stats_equal_a_recomputation_after_injected_write_failures(
        steps in prop::collection::vec(step_strategy(), 1..14)
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        let writer = store.writer();
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let base = now_ms() - 15 * 60_000;
        let mut model = Model::default();
        for step in steps {
            match step {
                Step::Batch { events, fault, retry } => {
                    let batch = || events.iter().map(|s| event(base, *s)).collect::<Vec<_>>();
                    if let Some(fault) = fault {
                        inject(&writer, fault);
                    }
                    let first = writer.insert_blocking(batch());
                    if fault.is_some() {
                        heal(&writer);
                    }
                    if first.is_ok() {
                        model.acknowledged(&events);
                    }
                    if retry {
                        // A collector retry of the same ids (and a plain
                        // resend of the rest), after the disk has room again.
                        writer.insert_blocking(batch()).map_err(|e| {
                            TestCaseError::fail(format!("retry after healing: {e}"))
                        })?;
                        model.acknowledged(&events);
                    }
                }
                Step::SyncUnder(fault) => {
                    inject(&writer, fault);
                    let _ = runtime.block_on(writer.sync_rollups());
                    heal(&writer);
                }
            }
        }
        verify(&store, &model)?;
        // A restart keeps the same answer.
        drop(writer);
        store.close();
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        verify(&store, &model)?;
        store.close();
    }
}
