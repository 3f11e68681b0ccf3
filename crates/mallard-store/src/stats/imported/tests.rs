//! Imported daily aggregates added to native answers: exact sums, the
//! overlap rule, what never counts them, and undo.

use mallard_core::plausible_export::{ImportedDimension, ImportedMetrics, ImportedRecord};
use mallard_core::{DayRange, Dimension, Interval, filter::parse_filters};

use super::super::tests::{BASES_MS, SITE, arrival_order, store_events, three_days_of_events};
use super::super::{BreakdownRow, StatsQuery, Totals};
use crate::{ReadConn, Store, StoreOptions};

fn record(day: i64, dimension: ImportedDimension, value: &str, n: u64) -> ImportedRecord {
    ImportedRecord {
        day,
        dimension,
        value: value.to_owned(),
        metrics: ImportedMetrics {
            visitors: n,
            visits: n + 1,
            pageviews: 3 * n,
            bounces: 1,
            visit_duration_secs: 60 * n,
            events: 3 * n,
        },
    }
}

fn query(range: DayRange, with_imported: bool, filters: &str) -> StatsQuery {
    StatsQuery {
        range,
        filters: parse_filters(filters).unwrap(),
        with_imported,
    }
}

fn sum(a: &Totals, b: &Totals) -> Totals {
    let mut total = *a;
    super::add(&mut total, b);
    total
}

/// The totals that imported `metrics` stand for.
fn totals_of(metrics: &ImportedMetrics) -> Totals {
    Totals {
        visitors: metrics.visitors,
        visits: metrics.visits as i64,
        pageviews: metrics.pageviews as i64,
        events: metrics.events as i64,
        bounces: metrics.bounces as i64,
        visit_pageviews: metrics.pageviews as i64,
        duration_ms: metrics.visit_duration_secs as i64 * 1000,
    }
}

/// The totals of one imported day of [`record`] with `n`.
fn imported_totals(n: u64) -> Totals {
    totals_of(&record(0, ImportedDimension::Totals, "", n).metrics)
}

/// A store with three days of native events (UTC), and its first day.
fn native_store(dir: &std::path::Path) -> (Store, i64) {
    let events = arrival_order(BASES_MS[2], &three_days_of_events());
    store_events(dir, "UTC", &events, &[50]);
    let store = Store::open(dir, StoreOptions::default()).unwrap();
    let first = store
        .reads()
        .with(|db| Ok(db.stats_site(SITE)?.unwrap().first_day.unwrap()))
        .unwrap();
    (store, first)
}

/// Imports `records` as a finished Plausible import; returns its id.
fn import(store: &Store, records: Vec<ImportedRecord>) -> i64 {
    store
        .writer()
        .run_blocking(move |conn| {
            let (import_id, site_id) =
                crate::imports::begin_import(conn, SITE, "plausible", "plausible-csv", 1)?;
            crate::imported_daily::store_records(conn, import_id, site_id, &records)?;
            crate::imports::finish_import(conn, import_id, 2)?;
            Ok(import_id)
        })
        .unwrap()
}

#[test]
fn imported_days_add_to_native_answers_before_the_first_native_day() {
    let dir = tempfile::tempdir().unwrap();
    let (store, first) = native_store(dir.path());
    // Five imported days before the native ones, and two that overlap them
    // (the overlap rule leaves those out).
    let mut records = Vec::new();
    for day in first - 5..first + 2 {
        records.push(record(day, ImportedDimension::Totals, "", 10));
        records.push(record(day, ImportedDimension::Page, "/", 4));
        records.push(record(day, ImportedDimension::Page, "/imported-only", 100));
        records.push(record(day, ImportedDimension::Event, "Signup", 2));
    }
    let import_id = import(&store, records);
    let range = DayRange {
        start: first - 7,
        end: first + 3,
    };
    let check = |db: &ReadConn<'_>| -> Result<(), crate::StoreError> {
        let site = db.stats_site(SITE)?.unwrap();
        assert_eq!(site.imported_days, Some((first - 5, first + 1)));
        assert_eq!(site.first_day_with_imported(), Some(first - 5));
        let native = db.stats_main(&site, &query(range, false, ""))?;
        let merged = db.stats_main(&site, &query(range, true, ""))?;
        // Five days of totals, and the custom events among the events.
        let mut expected = sum(
            &native,
            &Totals {
                visitors: 50,
                visits: 55,
                pageviews: 150,
                events: 150 + 5 * 6,
                bounces: 5,
                visit_pageviews: 150,
                duration_ms: 3_000_000,
            },
        );
        expected.events = native.events + 150 + 30;
        assert_eq!(merged, expected);

        // The daily series: imported days alone, native days untouched.
        let native_series = db.stats_timeseries(&site, &query(range, false, ""), Interval::Day)?;
        let series = db.stats_timeseries(&site, &query(range, true, ""), Interval::Day)?;
        for (plain, point) in native_series.iter().zip(&series) {
            if (first - 5..first).contains(&point.key) {
                let mut day = imported_totals(10);
                day.events += 6;
                assert_eq!(point.totals, sum(&plain.totals, &day), "day {}", point.key);
            } else {
                assert_eq!(point, plain, "day {}", point.key);
            }
        }
        // Monthly buckets hold the same sums.
        let monthly = db.stats_timeseries(&site, &query(range, true, ""), Interval::Month)?;
        let total_events: i64 = monthly.iter().map(|p| p.totals.events).sum();
        assert_eq!(total_events, merged.events);
        // Hourly series have no imported counts.
        assert_eq!(
            db.stats_timeseries(&site, &query(range, true, ""), Interval::Hour)?,
            db.stats_timeseries(&site, &query(range, false, ""), Interval::Hour)?,
        );

        // Pages: merged by value, ordered by page views, cut to the limit.
        let native_pages =
            db.stats_breakdown(&site, &query(range, false, ""), &Dimension::Page, 100)?;
        let pages = db.stats_breakdown(&site, &query(range, true, ""), &Dimension::Page, 2)?;
        assert_eq!(pages.len(), 2);
        assert_eq!(pages[0].value, "/imported-only");
        assert_eq!(pages[0].totals, {
            let mut t = imported_totals(100);
            t.visitors = 500;
            t.visits = 505;
            t.pageviews = 1500;
            t.events = 1500;
            t.bounces = 5;
            t.visit_pageviews = 1500;
            t.duration_ms = 30_000_000;
            t
        });
        let home_native = native_pages.iter().find(|r| r.value == "/").unwrap();
        let all = db.stats_breakdown(&site, &query(range, true, ""), &Dimension::Page, 100)?;
        let home = all.iter().find(|r| r.value == "/").unwrap();
        assert_eq!(home.totals.pageviews, home_native.totals.pageviews + 5 * 12);
        assert_eq!(all.len(), native_pages.len() + 1);
        let events = db.stats_breakdown(&site, &query(range, true, ""), &Dimension::Event, 100)?;
        let native_events =
            db.stats_breakdown(&site, &query(range, false, ""), &Dimension::Event, 100)?;
        let signups = |rows: &[BreakdownRow]| {
            rows.iter()
                .find(|r| r.value == "Signup")
                .map_or(0, |r| r.totals.events)
        };
        assert_eq!(signups(&events), signups(&native_events) + 30);

        // Filters, and dimensions without imported counts, answer natively.
        for filters in ["page==/", "source==Google"] {
            assert_eq!(
                db.stats_main(&site, &query(range, true, filters))?,
                db.stats_main(&site, &query(range, false, filters))?,
            );
        }
        assert_eq!(
            db.stats_breakdown(&site, &query(range, true, ""), &Dimension::City, 10)?,
            db.stats_breakdown(&site, &query(range, false, ""), &Dimension::City, 10)?,
        );
        // A range of imported days alone.
        let before = DayRange {
            start: first - 3,
            end: first - 1,
        };
        let alone = db.stats_main(&site, &query(before, true, ""))?;
        assert_eq!(alone.pageviews, 60);
        Ok(())
    };
    store.reads().with(check).unwrap();

    // Undone, the import counts no more, and the site's version moved.
    let version = store
        .reads()
        .with(|db| Ok(db.stats_site(SITE)?.unwrap().version))
        .unwrap();
    store
        .writer()
        .run_blocking(move |conn| crate::imports::undo_import(conn, import_id, 3))
        .unwrap();
    store
        .reads()
        .with(|db| {
            let site = db.stats_site(SITE)?.unwrap();
            assert_ne!(site.version, version);
            assert_eq!(site.imported_days, None);
            assert_eq!(
                db.stats_main(&site, &query(range, true, ""))?,
                db.stats_main(&site, &query(range, false, ""))?,
            );
            Ok(())
        })
        .unwrap();
    store.close();
}

#[test]
fn merged_breakdowns_equal_a_plain_merge_of_every_value() {
    let dir = tempfile::tempdir().unwrap();
    let (store, first) = native_store(dir.path());
    // Seventy days before the native ones, over three calendar months:
    // values the native data has too, and values of their own, with counts
    // that put some of each at the top.
    let mut records = Vec::new();
    for day in first - 70..first {
        let n = (day - first + 71) as u64;
        records.push(record(day, ImportedDimension::Totals, "", n));
        for (value, weight) in [("/", 1), ("/pricing", 3), ("/docs", 0), ("/about", 2)] {
            if weight > 0 {
                records.push(record(
                    day,
                    ImportedDimension::Page,
                    value,
                    weight * (n % 5),
                ));
            }
        }
        for k in 0..12u64 {
            records.push(record(
                day,
                ImportedDimension::Page,
                &format!("/imported-{k}"),
                (k * 7 + n) % 13,
            ));
        }
        records.push(record(day, ImportedDimension::Browser, "Safari", n % 3));
        records.push(record(day, ImportedDimension::Browser, "Lynx", 1));
        records.push(record(day, ImportedDimension::Device, "Unknown", 1));
        records.push(record(day, ImportedDimension::Device, "Mobile", n % 2));
        records.push(record(day, ImportedDimension::Source, "(unknown)", 2));
    }
    records.retain(|r| r.metrics.visitors > 0);
    import(&store, records.clone());
    let dimensions = [
        (Dimension::Page, ImportedDimension::Page),
        (Dimension::Browser, ImportedDimension::Browser),
        (Dimension::Device, ImportedDimension::Device),
        (Dimension::Source, ImportedDimension::Source),
        (Dimension::EntryPage, ImportedDimension::EntryPage),
    ];
    store
        .reads()
        .with(|db| {
            let site = db.stats_site(SITE)?.unwrap();
            for (start, end) in [
                (first - 70, first + 3),
                (first - 45, first + 3),
                (first - 31, first - 2),
                (first - 10, first + 1),
                (first - 3, first + 2),
            ] {
                let range = DayRange { start, end };
                let window = super::window(&site, &query(range, true, "")).unwrap();
                for (dimension, imported) in &dimensions {
                    let order = super::Breakdown::of(dimension);
                    // Every native value, and the imported days summed
                    // one by one.
                    let native =
                        db.stats_breakdown(&site, &query(range, false, ""), dimension, 1000)?;
                    let mut sums: std::collections::BTreeMap<String, Totals> = Default::default();
                    for r in records.iter().filter(|r| {
                        r.dimension == *imported && (window.start..window.end).contains(&r.day)
                    }) {
                        let one = totals_of(&r.metrics);
                        super::add(sums.entry(r.value.clone()).or_default(), &one);
                    }
                    for limit in [1, 2, 3, 5, 10, 100] {
                        // Without imported values the native order stands
                        // (ties by internal id); merged, ties go by value.
                        let plain = if sums.is_empty() {
                            native.iter().take(limit).cloned().collect()
                        } else {
                            super::merge_rows(
                                native.clone(),
                                sums.clone().into_iter().collect(),
                                order,
                                limit,
                            )
                        };
                        let merged =
                            db.stats_breakdown(&site, &query(range, true, ""), dimension, limit)?;
                        assert_eq!(merged, plain, "{dimension:?} {start}..{end} limit {limit}");
                    }
                }
            }
            Ok(())
        })
        .unwrap();
    store.close();
}
