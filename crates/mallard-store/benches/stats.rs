//! Stats query latency: every endpoint's store query over the last 30 days and
//! the last 12 months, uncached. The `filtered_*` groups measure filtered
//! stats queries (one pass over the period's visits); the `behaviour_*` groups
//! measure the behavioural queries (sessions, funnel with and without a
//! window, retention, sequences, flow, export), unfiltered and with
//! `source==Google` (a visit-level filter) or `page==/pricing` (an
//! event-level one): suffixes `_google`, `_page`.
//!
//! `MALLARD_BENCH_DATA_DIR` names a data directory written by `mallard seed`
//! (for example `mallard seed --site bench.example --events 10000000 --days 365
//! --data-dir /work/bench-data/10m`); `MALLARD_BENCH_SITE` names its site
//! (default `bench.example`). Without the variable the bench seeds a small
//! data set of its own (200,000 events over 365 days) in a temporary directory
//! and says so.

// criterion's macros generate public functions without documentation.
#![allow(missing_docs)]

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use mallard_core::filter::parse_filters;
use mallard_core::{
    DayRange, DeviceClass, Dimension, EventName, Interval, NewEvent, Referrer, SessionAttributes,
    SiteId, Step, VisitorId,
};
use mallard_store::stats::{SiteInfo, StatsQuery};
use mallard_store::{DATABASE_FILE, ReadPool, Store, StoreOptions};

const DAY_MS: i64 = 86_400_000;

/// Seeds a small data set: 200,000 events over 365 days ending now.
fn seed_small(dir: &Path, site: &str) {
    let store = Store::open(dir, StoreOptions::default()).unwrap();
    let writer = store.writer();
    let site_id = SiteId::parse(site).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let start = now - 365 * DAY_MS;
    let total = 200_000i64;
    let pageview = EventName::parse("pageview").unwrap();
    let signup = EventName::parse("Signup").unwrap();
    let sources = ["Google", "Twitter", "GitHub", "Bing"];
    let countries = ["US", "DE", "GB", "FR", "IN"];
    let mut batch = Vec::new();
    for i in 0..total {
        let visitor = (i / 3) % 50_000;
        let ts = start + i * (365 * DAY_MS / total);
        let custom = i % 17 == 0;
        batch.push(NewEvent {
            site: site_id.clone(),
            timestamp_ms: ts,
            visitor: VisitorId((visitor as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            name: if custom {
                signup.clone()
            } else {
                pageview.clone()
            },
            hostname: site.into(),
            pathname: format!("/page/{}", (i * 7919) % 2_000),
            props: if custom {
                vec![("plan".into(), ["free", "pro"][(i % 2) as usize].into())]
            } else {
                Vec::new()
            },
            revenue: None,
            session: SessionAttributes {
                referrer: (visitor % 3 != 0).then(|| Referrer {
                    source: sources[(visitor % 4) as usize].into(),
                    url: None,
                }),
                browser: Some(["Chrome", "Safari", "Firefox"][(visitor % 3) as usize].into()),
                os: Some(["Windows", "macOS", "iOS", "Android"][(visitor % 4) as usize].into()),
                device: DeviceClass::Desktop,
                screen_width: Some(1920),
                country: Some(countries[(visitor % 5) as usize].into()),
                ..SessionAttributes::default()
            },
            collector: None,
        });
        if batch.len() == 10_000 {
            writer.insert_blocking(std::mem::take(&mut batch)).unwrap();
        }
    }
    writer.insert_blocking(batch).unwrap();
    drop(writer);
    store.close();
}

fn data_dir() -> (PathBuf, Option<tempfile::TempDir>, String) {
    let site = std::env::var("MALLARD_BENCH_SITE").unwrap_or_else(|_| "bench.example".into());
    match std::env::var("MALLARD_BENCH_DATA_DIR") {
        Ok(dir) => {
            let dir = PathBuf::from(dir);
            assert!(
                dir.join(DATABASE_FILE).exists(),
                "MALLARD_BENCH_DATA_DIR={} holds no {DATABASE_FILE}",
                dir.display()
            );
            eprintln!("stats bench: data set {}", dir.display());
            (dir, None, site)
        }
        Err(_) => {
            let temp = tempfile::tempdir().unwrap();
            eprintln!(
                "stats bench: MALLARD_BENCH_DATA_DIR is not set; seeding 200,000 events in {}",
                temp.path().display()
            );
            seed_small(temp.path(), &site);
            (temp.path().to_owned(), Some(temp), site)
        }
    }
}

fn stats_queries(c: &mut Criterion) {
    let (dir, _temp, domain) = data_dir();
    let pool = ReadPool::new(&dir.join(DATABASE_FILE));
    let (site, last_day, events): (SiteInfo, i64, i64) = pool
        .with(|db| {
            let site = db.stats_site(&domain)?.expect("the site has events");
            let last_day: i64 = db.connection().query_row(
                "SELECT max(day) FROM rollup_days WHERE site_id = ?1 AND kind = 0",
                [site.id],
                |r| r.get(0),
            )?;
            let events = db.event_count(&domain)? as i64;
            Ok((site, last_day, events))
        })
        .unwrap();
    eprintln!("stats bench: site {domain}, {events} events, last day {last_day}");
    let dimensions = [
        ("pages", Dimension::Page),
        ("entry_pages", Dimension::EntryPage),
        ("exit_pages", Dimension::ExitPage),
        ("sources", Dimension::Source),
        ("referrers", Dimension::Referrer),
        ("utm_source", Dimension::UtmSource),
        ("browsers", Dimension::Browser),
        ("os", Dimension::Os),
        ("devices", Dimension::Device),
        ("countries", Dimension::Country),
        ("screen_sizes", Dimension::ScreenSize),
        ("events", Dimension::Event),
        ("props_plan", Dimension::Prop("plan".into())),
    ];
    for (label, query) in periods(last_day) {
        let mut group = c.benchmark_group(format!("stats_{label}"));
        group.sample_size(20);
        group.warm_up_time(Duration::from_millis(500));
        group.measurement_time(Duration::from_secs(2));
        group.bench_function("main", |b| {
            b.iter(|| {
                pool.with(|db| db.stats_main(&site, black_box(&query)))
                    .unwrap()
            })
        });
        group.bench_function("timeseries_day", |b| {
            b.iter(|| {
                pool.with(|db| db.stats_timeseries(&site, black_box(&query), Interval::Day))
                    .unwrap()
            })
        });
        for (name, dimension) in &dimensions {
            group.bench_function(format!("breakdown_{name}"), |b| {
                b.iter(|| {
                    pool.with(|db| db.stats_breakdown(&site, black_box(&query), dimension, 10))
                        .unwrap()
                })
            });
        }
        group.finish();
    }
    let mut group = c.benchmark_group("stats_1d");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(2));
    let day = StatsQuery {
        range: DayRange {
            start: last_day,
            end: last_day + 1,
        },
        filters: Vec::new(),
        with_imported: false,
    };
    group.bench_function("timeseries_hour", |b| {
        b.iter(|| {
            pool.with(|db| db.stats_timeseries(&site, black_box(&day), Interval::Hour))
                .unwrap()
        })
    });
    let last_ms = (last_day + 1) * DAY_MS;
    group.bench_function("realtime", |b| {
        b.iter(|| {
            pool.with(|db| db.stats_visitors_between(&site, last_ms - 300_000, last_ms, &[]))
                .unwrap()
        })
    });
    group.finish();
}

/// The most viewed of `/pricing` (seeded by `mallard seed`) and `/page/0`
/// (by the small data set of this bench).
fn a_known_page(pool: &ReadPool) -> String {
    pool.with(|db| {
        let found: Option<String> = db
            .connection()
            .query_row(
                "SELECT value FROM dims WHERE kind = 3 AND value IN ('/pricing', '/page/0') \
                 ORDER BY value DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .ok();
        Ok(found.unwrap_or_else(|| "/".to_owned()))
    })
    .unwrap()
}

fn filtered_queries(c: &mut Criterion) {
    let (dir, _temp, domain) = data_dir();
    let pool = ReadPool::new(&dir.join(DATABASE_FILE));
    let (site, last_day, events) = open_site(&pool, &domain);
    let page = a_known_page(&pool);
    eprintln!("filtered bench: site {domain}, {events} events, last day {last_day}, page {page}");
    let by_source = parse_filters("source==Google").unwrap();
    let by_page = parse_filters(&format!("page=={page}")).unwrap();
    for (label, unfiltered) in periods(last_day) {
        let with = |filters: &[mallard_core::Filter]| StatsQuery {
            filters: filters.to_vec(),
            ..unfiltered.clone()
        };
        let (source_query, page_query) = (with(&by_source), with(&by_page));
        let mut group = c.benchmark_group(format!("filtered_{label}"));
        group.sample_size(10);
        group.warm_up_time(Duration::from_millis(500));
        group.measurement_time(Duration::from_secs(3));
        group.bench_function("main_source", |b| {
            b.iter(|| {
                pool.with(|db| db.stats_main(&site, black_box(&source_query)))
                    .unwrap()
            })
        });
        group.bench_function("breakdown_pages_source", |b| {
            b.iter(|| {
                pool.with(|db| {
                    db.stats_breakdown(&site, black_box(&source_query), &Dimension::Page, 10)
                })
                .unwrap()
            })
        });
        group.bench_function("breakdown_sources_page", |b| {
            b.iter(|| {
                pool.with(|db| {
                    db.stats_breakdown(&site, black_box(&page_query), &Dimension::Source, 10)
                })
                .unwrap()
            })
        });
        group.bench_function("timeseries_day_page", |b| {
            b.iter(|| {
                pool.with(|db| db.stats_timeseries(&site, black_box(&page_query), Interval::Day))
                    .unwrap()
            })
        });
        group.finish();
    }
}

/// The site, its last local day, and its event count.
fn open_site(pool: &ReadPool, domain: &str) -> (SiteInfo, i64, i64) {
    pool.with(|db| {
        let site = db.stats_site(domain)?.expect("the site has events");
        let last_day: i64 = db.connection().query_row(
            "SELECT max(day) FROM rollup_days WHERE site_id = ?1 AND kind = 0",
            [site.id],
            |r| r.get(0),
        )?;
        let events = db.event_count(domain)? as i64;
        Ok((site, last_day, events))
    })
    .unwrap()
}

fn behaviour_queries(c: &mut Criterion) {
    let (dir, _temp, domain) = data_dir();
    let pool = ReadPool::new(&dir.join(DATABASE_FILE));
    let (site, last_day, events) = open_site(&pool, &domain);
    eprintln!("behaviour bench: site {domain}, {events} events, last day {last_day}");
    // The most viewed pages of `mallard seed` are `/` and `/pricing`; the
    // small data set of this bench has `/page/0` and `/page/1919`.
    let (first, second) = pool
        .with(|db| {
            let mut stmt = db.connection().prepare(
                "SELECT value FROM dims WHERE kind = 3 AND value IN ('/', '/pricing') ORDER BY value",
            )?;
            let found: Vec<String> = stmt
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            Ok(if found.len() == 2 {
                ("/".to_owned(), "/pricing".to_owned())
            } else {
                ("/page/0".to_owned(), "/page/1919".to_owned())
            })
        })
        .unwrap();
    let steps = [
        Step::Page(first.clone()),
        Step::Page(second.clone()),
        Step::Event("Signup".into()),
    ];
    // Each query unfiltered, with a visit-level filter and with an
    // event-level one (the most viewed page after the first).
    let filters = [
        ("", String::new()),
        ("_google", "source==Google".to_owned()),
        ("_page", format!("page=={second}")),
    ];
    for (label, period) in periods(last_day) {
        let mut group = c.benchmark_group(format!("behaviour_{label}"));
        group.sample_size(10);
        group.warm_up_time(Duration::from_millis(500));
        group.measurement_time(Duration::from_secs(3));
        for (suffix, text) in &filters {
            let query = StatsQuery {
                range: period.range,
                filters: mallard_core::filter::parse_filters(text).unwrap(),
                with_imported: false,
            };
            group.bench_function(format!("sessions{suffix}"), |b| {
                b.iter(|| {
                    pool.with(|db| db.stats_sessions(&site, black_box(&query), 11, 0, false))
                        .unwrap()
                })
            });
            group.bench_function(format!("funnel{suffix}"), |b| {
                b.iter(|| {
                    pool.with(|db| db.stats_funnel(&site, black_box(&query), &steps, None))
                        .unwrap()
                })
            });
            group.bench_function(format!("funnel_window{suffix}"), |b| {
                b.iter(|| {
                    pool.with(|db| {
                        db.stats_funnel(&site, black_box(&query), &steps, Some(1_800_000))
                    })
                    .unwrap()
                })
            });
            group.bench_function(format!("retention{suffix}"), |b| {
                b.iter(|| {
                    pool.with(|db| db.stats_retention(&site, black_box(&query), 4))
                        .unwrap()
                })
            });
            group.bench_function(format!("sequences{suffix}"), |b| {
                b.iter(|| {
                    pool.with(|db| db.stats_sequences(&site, black_box(&query), 3, 10))
                        .unwrap()
                })
            });
            group.bench_function(format!("flow{suffix}"), |b| {
                b.iter(|| {
                    pool.with(|db| db.stats_flow(&site, black_box(&query), &first, 10))
                        .unwrap()
                })
            });
        }
        group.bench_function("export_1000", |b| {
            b.iter(|| {
                pool.with(|db| db.stats_export_events(&site, black_box(&period), 1_000, 0))
                    .unwrap()
            })
        });
        group.finish();
    }
}

/// The last 30 and 365 days up to `last_day`, unfiltered, with their labels.
fn periods(last_day: i64) -> [(&'static str, StatsQuery); 2] {
    [("30d", 30), ("12mo", 365)].map(|(label, days)| {
        let range = DayRange {
            start: last_day + 1 - days,
            end: last_day + 1,
        };
        (
            label,
            StatsQuery {
                range,
                filters: Vec::new(),
                with_imported: false,
            },
        )
    })
}

criterion_group!(benches, stats_queries, filtered_queries, behaviour_queries);
criterion_main!(benches);
