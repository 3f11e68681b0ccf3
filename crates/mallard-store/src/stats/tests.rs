//! The stats queries against a naive recomputation from the raw rows.
//!
//! Random event sets (visits crossing midnight and daylight-saving changes,
//! events arriving late and out of order, custom events with properties,
//! several time zones) are written through the real writer in random batches,
//! so visits grow across batches and the rollups apply deltas. Every query —
//! unfiltered (rollups) and filtered (one to three filters of any dimension,
//! counted in one pass over the period's visits), and the realtime visitor
//! count — is then compared with a
//! plain recomputation over all stored events and visits, read back with their
//! dimension strings, that shares no code with the queries.

use std::collections::{BTreeMap, HashMap, HashSet};

use mallard_core::filter::UNKNOWN_VALUE;
use mallard_core::{
    DayRange, DeviceClass, Dimension, EventName, Filter, FilterOp, Interval, NewEvent, Referrer,
    SessionAttributes, SiteId, SiteTimeZone, Utm, VisitorId,
};
use proptest::prelude::*;
use rusqlite::{Connection, params};

use super::{Breakdown, StatsQuery, Totals};
use crate::{ReadConn, Store, StoreOptions};

pub(crate) const SITE: &str = "prop.example";
pub(super) const ZONES: &[&str] = &[
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
];
/// Starts of the generated traffic: just before the Berlin and New York
/// daylight-saving changes, and an ordinary evening.
pub(crate) const BASES_MS: &[i64] = &[1_711_818_000_000, 1_730_570_400_000, 1_700_000_000_000];
pub(crate) const PATHS: &[&str] = &["/", "/pricing", "/docs", "/blog/a", "/blog/b", "/about"];

fn session(index: usize) -> SessionAttributes {
    let referrer = |source: &str, url: &str| {
        Some(Referrer {
            source: source.into(),
            url: Some(url.into()),
        })
    };
    let s = |v: &str| Some(v.to_owned());
    match index % 8 {
        0 => SessionAttributes {
            browser: s("Chrome"),
            os: s("Windows"),
            device: DeviceClass::Desktop,
            screen_width: Some(1920),
            country: s("DE"),
            ..SessionAttributes::default()
        },
        1 => SessionAttributes {
            referrer: referrer("Google", "www.google.com/"),
            browser: s("Safari"),
            os: s("iOS"),
            device: DeviceClass::Mobile,
            screen_width: Some(390),
            country: s("US"),
            region: s("California"),
            city: s("San Francisco"),
            ..SessionAttributes::default()
        },
        2 => SessionAttributes {
            referrer: referrer("Twitter", "t.co/"),
            utm: Utm {
                source: s("twitter"),
                medium: s("social"),
                campaign: s("launch"),
                term: s("analytics"),
                content: s("banner"),
            },
            browser: s("Firefox"),
            os: s("Linux"),
            device: DeviceClass::Laptop,
            ..SessionAttributes::default()
        },
        3 => SessionAttributes::default(),
        4 => SessionAttributes {
            utm: Utm {
                source: s("newsletter"),
                medium: s("email"),
                campaign: s("nov"),
                term: None,
                content: s("banner"),
            },
            browser: s("Chrome"),
            os: s("Android"),
            device: DeviceClass::Tablet,
            screen_width: Some(820),
            country: s("GB"),
            ..SessionAttributes::default()
        },
        5 => SessionAttributes {
            referrer: referrer("Google", "www.google.com/"),
            browser: s("Chrome"),
            os: s("macOS"),
            device: DeviceClass::Laptop,
            screen_width: Some(1440),
            country: s("DE"),
            region: s("Berlin"),
            city: s("Berlin"),
            ..SessionAttributes::default()
        },
        6 => SessionAttributes {
            referrer: referrer("blog.example.org", "blog.example.org/post"),
            browser: s("Edge"),
            os: s("Windows"),
            device: DeviceClass::Desktop,
            screen_width: Some(1920),
            country: s("US"),
            region: s("California"),
            city: s("Los Angeles"),
            ..SessionAttributes::default()
        },
        _ => SessionAttributes {
            browser: s("Firefox"),
            os: s("Windows"),
            device: DeviceClass::Desktop,
            country: s("FR"),
            ..SessionAttributes::default()
        },
    }
}

/// (minute offset, visitor, event kind, path, session, arrives late)
pub(crate) type GenEvent = (i64, u64, u8, usize, usize, bool);

pub(crate) fn make_event(
    base_ms: i64,
    (minute, visitor, kind, path, sess, _): GenEvent,
) -> NewEvent {
    let (name, props) = match kind {
        // Some page views carry a property too.
        0 => (
            EventName::PAGEVIEW,
            vec![("plan".to_owned(), ["free", "team"][path % 2].to_owned())],
        ),
        1..=6 => (EventName::PAGEVIEW, vec![]),
        7 => (
            "Signup",
            vec![("plan".to_owned(), ["free", "pro"][path % 2].to_owned())],
        ),
        8 => (
            "Purchase",
            vec![
                ("product".to_owned(), format!("sku-{}", path % 3)),
                ("plan".to_owned(), "pro".to_owned()),
            ],
        ),
        _ => ("Outbound Link: Click", vec![]),
    };
    NewEvent {
        site: SiteId::parse(SITE).unwrap(),
        timestamp_ms: base_ms + minute * 60_000 + (path as i64) * 1_000,
        visitor: VisitorId(visitor * 7_919 + 1),
        name: EventName::parse(name).unwrap(),
        hostname: hostname_of(PATHS[path]),
        pathname: PATHS[path].into(),
        props,
        // Purchases carry an amount, in one of two currencies.
        revenue: (kind == 8).then(|| mallard_core::revenue::Revenue {
            amount_micros: (path as i64 + 1) * 1_250_000,
            currency: mallard_core::revenue::Currency::parse(["EUR", "USD"][visitor as usize % 2])
                .unwrap(),
        }),
        session: session(sess),
        collector: None,
    }
}

/// The host name of the generated events of `path`: the site's own, except
/// for `/about` on a `www.` host.
pub(crate) fn hostname_of(path: &str) -> String {
    if path == "/about" {
        format!("www.{SITE}")
    } else {
        SITE.to_owned()
    }
}

/// Filters the generator picks from: known values, `(unknown)`, and values
/// that were never stored.
pub(super) fn filter_pool() -> Vec<(&'static str, &'static str)> {
    vec![
        ("page", "/pricing"),
        ("page", "/"),
        ("page", "/nowhere"),
        ("page", "/blog/*"),
        ("page", "/d*"),
        ("page", "/**"),
        ("entry_page", "/docs"),
        ("exit_page", "/"),
        ("source", "Google"),
        ("source", UNKNOWN_VALUE),
        ("referrer", "t.co/"),
        ("utm_source", "twitter"),
        ("utm_medium", UNKNOWN_VALUE),
        ("utm_campaign", "nov"),
        ("utm_term", "analytics"),
        ("utm_term", UNKNOWN_VALUE),
        ("utm_content", "banner"),
        ("browser", "Chrome"),
        ("os", "Windows"),
        ("device", "Desktop"),
        ("device", "Mobile"),
        ("country", "DE"),
        ("country", UNKNOWN_VALUE),
        ("region", "California"),
        ("region", UNKNOWN_VALUE),
        ("city", "Berlin"),
        ("city", "Nowhere"),
        ("screen_size", "1920"),
        ("screen_size", UNKNOWN_VALUE),
        ("event", "Signup"),
        ("event", "pageview"),
        ("props.plan", "pro"),
        ("props.plan", UNKNOWN_VALUE),
        ("props.nokey", "x"),
    ]
}

// ---------------------------------------------------------------------------
// The naive reference.

#[derive(Debug, Clone)]
pub(crate) struct RefEvent {
    pub(crate) ts: i64,
    pub(crate) id: i64,
    pub(crate) visit_id: i64,
    pub(crate) name: String,
    pub(crate) path: String,
    pub(crate) props: Vec<(String, String)>,
    /// The amount in millionths and the currency, if it has an amount.
    pub(crate) revenue: Option<(i64, String)>,
}

#[derive(Debug, Clone)]
pub(crate) struct RefVisit {
    pub(crate) visitor: i64,
    pub(crate) start: i64,
    pub(crate) end: i64,
    pub(crate) pageviews: i64,
    pub(crate) entry: Option<String>,
    pub(crate) exit: Option<String>,
    pub(crate) attrs: HashMap<&'static str, Option<String>>,
}

pub(crate) struct Reference {
    pub(super) tz: SiteTimeZone,
    pub(super) events: Vec<RefEvent>,
    pub(super) visits: HashMap<i64, RefVisit>,
}

impl Reference {
    /// Every event and visit of [`SITE`], from the rows of open days and the
    /// day segments of packed ones alike ([`crate::site_records`]; packed
    /// days have no rows, and the segments' round trip is tested on its
    /// own), with their strings looked up.
    pub(crate) fn load(conn: &Connection, tz: SiteTimeZone) -> Self {
        let site = crate::site_records::site_id(conn, SITE).unwrap().unwrap();
        let text = |id: Option<i64>| -> Option<String> {
            id.map(|id| {
                conn.query_row("SELECT value FROM dims WHERE id = ?1", [id], |r| r.get(0))
                    .unwrap()
            })
        };
        let events = crate::site_records::events(conn, site)
            .unwrap()
            .into_iter()
            .enumerate()
            .map(|(at, e)| RefEvent {
                ts: e.ts,
                // The list is in time order, ties by visit and then in the
                // visit's order: its position orders ties as event ids do.
                id: at as i64,
                visit_id: e.visit_id,
                name: text(e.name).unwrap(),
                path: text(Some(e.pathname)).unwrap(),
                props: e
                    .props
                    .iter()
                    .map(|&(k, v)| (text(Some(k)).unwrap(), text(Some(v)).unwrap()))
                    .collect(),
                revenue: e.revenue.0.map(|micros| {
                    let currency = text(e.revenue.1);
                    (micros, currency.unwrap_or_else(|| UNKNOWN_VALUE.to_owned()))
                }),
            })
            .collect();
        let mut visits = HashMap::new();
        for v in crate::site_records::visits(conn, site).unwrap() {
            let a = &v.attrs;
            let mut attrs: HashMap<&'static str, Option<String>> = HashMap::new();
            for (name, id) in [
                ("source", a.referrer_source),
                ("referrer", a.referrer_url),
                ("utm_source", a.utm_source),
                ("utm_medium", a.utm_medium),
                ("utm_campaign", a.utm_campaign),
                ("utm_term", a.utm_term),
                ("utm_content", a.utm_content),
                ("browser", a.browser),
                ("os", a.os),
                ("country", a.country),
                ("region", a.region),
                ("city", a.city),
            ] {
                attrs.insert(name, text(id));
            }
            attrs.insert(
                "device",
                Some(
                    DeviceClass::from_code(a.device as u8)
                        .unwrap()
                        .as_str()
                        .to_owned(),
                ),
            );
            attrs.insert("screen_size", a.screen_width.map(|w| w.to_string()));
            visits.insert(
                v.id,
                RefVisit {
                    visitor: v.visitor_id,
                    start: v.start_ts,
                    end: v.end_ts,
                    pageviews: v.pageviews,
                    entry: text(v.entry_page),
                    exit: text(v.exit_page),
                    attrs,
                },
            );
        }
        Self { tz, events, visits }
    }

    fn visit_value(visit: &RefVisit, dimension: &Dimension) -> Option<String> {
        match dimension {
            Dimension::EntryPage => visit.entry.clone(),
            Dimension::ExitPage => visit.exit.clone(),
            d => visit.attrs[filter_name(d)].clone(),
        }
    }

    fn matches_value(value: Option<&str>, filter: &Filter) -> bool {
        let wanted = if filter.value == UNKNOWN_VALUE {
            None
        } else {
            Some(filter.value.as_str())
        };
        let equal = match (&filter.dimension, value, wanted) {
            (Dimension::Device, Some(v), None) => v == "Unknown",
            (_, v, w) => v == w,
        };
        equal == (filter.op == FilterOp::Is)
    }

    fn visit_matches(visit: &RefVisit, filters: &[Filter]) -> bool {
        filters
            .iter()
            .filter(|f| f.dimension.is_visit_level())
            .all(|f| Self::matches_value(Self::visit_value(visit, &f.dimension).as_deref(), f))
    }

    fn event_matches(&self, event: &RefEvent, filters: &[Filter]) -> bool {
        let visit = &self.visits[&event.visit_id];
        filters.iter().all(|f| match &f.dimension {
            // A pattern: `**` any characters, `*` any but `/`.
            Dimension::Page if f.value.contains('*') => {
                let regex = format!(
                    "^{}$",
                    regex::escape(&f.value)
                        .replace(r"\*\*", ".*")
                        .replace(r"\*", "[^/]*")
                );
                regex::Regex::new(&regex).unwrap().is_match(&event.path) == (f.op == FilterOp::Is)
            }
            Dimension::Page => Self::matches_value(Some(&event.path), f),
            Dimension::Event => Self::matches_value(Some(&event.name), f),
            Dimension::Prop(key) => {
                let value = event.props.iter().find(|(k, _)| k == key).map(|(_, v)| v);
                Self::matches_value(value.map(String::as_str), f)
            }
            _ => Self::visit_matches(visit, std::slice::from_ref(f)),
        })
    }

    /// The matching events and visits of a query.
    pub(crate) fn select(&self, query: &StatsQuery) -> (Vec<&RefEvent>, Vec<(i64, &RefVisit)>) {
        let events: Vec<&RefEvent> = self
            .events
            .iter()
            .filter(|e| query.range.contains(self.tz.local_day(e.ts)))
            .filter(|e| self.event_matches(e, &query.filters))
            .collect();
        let with_event: HashSet<i64> = events.iter().map(|e| e.visit_id).collect();
        let event_filters = query.filters.iter().any(|f| !f.dimension.is_visit_level());
        let visits = self
            .visits
            .iter()
            .filter(|(_, v)| query.range.contains(self.tz.local_day(v.start)))
            .filter(|(_, v)| Self::visit_matches(v, &query.filters))
            .filter(|(id, _)| !event_filters || with_event.contains(id))
            .map(|(id, v)| (*id, v))
            .collect();
        (events, visits)
    }

    fn totals<'a>(
        &self,
        events: impl IntoIterator<Item = &'a RefEvent>,
        visits: impl IntoIterator<Item = &'a RefVisit>,
    ) -> Totals {
        let mut t = Totals::default();
        let mut visitors = HashSet::new();
        for e in events {
            t.events += 1;
            t.pageviews += i64::from(e.name == EventName::PAGEVIEW);
            visitors.insert(self.visits[&e.visit_id].visitor);
        }
        for v in visits {
            t.visits += 1;
            t.bounces += i64::from(v.pageviews == 1);
            t.visit_pageviews += v.pageviews;
            t.duration_ms += v.end - v.start;
        }
        t.visitors = visitors.len() as u64;
        t
    }

    /// Distinct visitors with an event between two instants (inclusive)
    /// that meets every filter.
    fn visitors_between(&self, from_ms: i64, to_ms: i64, filters: &[Filter]) -> u64 {
        self.events
            .iter()
            .filter(|e| (from_ms..=to_ms).contains(&e.ts) && self.event_matches(e, filters))
            .map(|e| self.visits[&e.visit_id].visitor)
            .collect::<HashSet<_>>()
            .len() as u64
    }

    fn main(&self, query: &StatsQuery) -> Totals {
        let (events, visits) = self.select(query);
        self.totals(events, visits.into_iter().map(|(_, v)| v))
    }

    fn series(&self, query: &StatsQuery, interval: Interval) -> Vec<(i64, Totals)> {
        let (events, visits) = self.select(query);
        let bucket = |ts: i64| match interval {
            Interval::Hour => self.tz.local_hour(ts),
            _ => interval.bucket_start_day(self.tz.local_day(ts)),
        };
        interval
            .buckets(query.range)
            .unwrap()
            .into_iter()
            .map(|key| {
                let t = self.totals(
                    events.iter().copied().filter(|e| bucket(e.ts) == key),
                    visits
                        .iter()
                        .map(|(_, v)| *v)
                        .filter(|v| bucket(v.start) == key),
                );
                (key, t)
            })
            .collect()
    }

    /// The revenue of a query per currency and bucket of `interval`: the
    /// sum of the amounts of the counted events, and how many there are.
    fn revenue(
        &self,
        query: &StatsQuery,
        interval: Interval,
    ) -> BTreeMap<(String, i64), (i128, i64)> {
        let (events, _) = self.select(query);
        let mut sums = BTreeMap::new();
        for event in events {
            if let Some((micros, currency)) = &event.revenue {
                let key = match interval {
                    Interval::Hour => self.tz.local_hour(event.ts),
                    _ => interval.bucket_start_day(self.tz.local_day(event.ts)),
                };
                let (total, count) = sums.entry((currency.clone(), key)).or_insert((0i128, 0i64));
                *total += i128::from(*micros);
                *count += 1;
            }
        }
        sums
    }

    /// The property keys of a query's events, each with the events that
    /// carry it (page views and custom events) and their visitors.
    fn prop_keys(&self, query: &StatsQuery) -> BTreeMap<String, (i64, u64)> {
        let (events, _) = self.select(query);
        let mut keys: BTreeMap<String, (i64, HashSet<i64>)> = BTreeMap::new();
        for event in events {
            for (key, _) in &event.props {
                let (count, visitors) = keys.entry(key.clone()).or_default();
                *count += 1;
                visitors.insert(self.visits[&event.visit_id].visitor);
            }
        }
        keys.into_iter()
            .map(|(key, (count, visitors))| (key, (count, visitors.len() as u64)))
            .collect()
    }

    /// What each of `goals` converted under `query`: the matching events,
    /// their distinct visitors, and per currency the sum and number of the
    /// amounts they carry.
    fn goal_conversions(
        &self,
        query: &StatsQuery,
        goals: &[crate::goals::Goal],
    ) -> Vec<ConversionCounts> {
        let (events, _) = self.select(query);
        goals
            .iter()
            .map(|goal| {
                let definition = &goal.definition;
                // As page filters read a pattern: `**` any characters, `*`
                // any but `/`.
                let pattern = definition.page_path.as_deref().map(|path| {
                    let regex = format!(
                        "^{}$",
                        regex::escape(path)
                            .replace(r"\*\*", ".*")
                            .replace(r"\*", "[^/]*")
                    );
                    regex::Regex::new(&regex).unwrap()
                });
                let converting: Vec<&&RefEvent> = events
                    .iter()
                    .filter(|e| {
                        let pageview = e.name == EventName::PAGEVIEW;
                        let kind = match (&pattern, &definition.event_name) {
                            (Some(pattern), _) => pageview && pattern.is_match(&e.path),
                            (None, Some(name)) => !pageview && &e.name == name,
                            (None, None) => false,
                        };
                        kind && definition.prop.as_ref().is_none_or(|(key, value)| {
                            e.props.iter().any(|(k, v)| k == key && v == value)
                        })
                    })
                    .collect();
                let mut revenue = BTreeMap::new();
                for e in &converting {
                    if let Some((micros, currency)) = &e.revenue {
                        let (sum, count) = revenue.entry(currency.clone()).or_insert((0i128, 0i64));
                        *sum += i128::from(*micros);
                        *count += 1;
                    }
                }
                let visitors: HashSet<i64> = converting
                    .iter()
                    .map(|e| self.visits[&e.visit_id].visitor)
                    .collect();
                (converting.len() as i64, visitors.len() as u64, revenue)
            })
            .collect()
    }

    fn breakdown(&self, query: &StatsQuery, dimension: &Dimension) -> BTreeMap<String, Totals> {
        let (events, visits) = self.select(query);
        let label = |v: Option<String>| v.unwrap_or_else(|| UNKNOWN_VALUE.to_owned());
        let mut event_groups: BTreeMap<String, Vec<&RefEvent>> = BTreeMap::new();
        let mut visit_groups: BTreeMap<String, Vec<&RefVisit>> = BTreeMap::new();
        for e in &events {
            let key = match dimension {
                Dimension::Page => (e.name == EventName::PAGEVIEW).then(|| e.path.clone()),
                Dimension::Event => (e.name != EventName::PAGEVIEW).then(|| e.name.clone()),
                Dimension::Prop(key) => e
                    .props
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| v.clone()),
                Dimension::EntryPage | Dimension::ExitPage => None,
                d => Some(label(Self::visit_value(&self.visits[&e.visit_id], d))),
            };
            if let Some(key) = key {
                event_groups.entry(key).or_default().push(e);
            }
        }
        if dimension.is_visit_level() {
            for (_, v) in &visits {
                visit_groups
                    .entry(label(Self::visit_value(v, dimension)))
                    .or_default()
                    .push(v);
            }
        }
        let keys: HashSet<String> = event_groups
            .keys()
            .chain(visit_groups.keys())
            .cloned()
            .collect();
        let order = Breakdown::of(dimension);
        keys.into_iter()
            .map(|key| {
                let mut t = self.totals(
                    event_groups.get(&key).into_iter().flatten().copied(),
                    visit_groups.get(&key).into_iter().flatten().copied(),
                );
                if !Breakdown::counts_visitors(dimension) {
                    t.visitors = 0;
                }
                if *dimension == Dimension::ExitPage {
                    t = Totals {
                        visits: t.visits,
                        ..Totals::default()
                    };
                }
                (key, t)
            })
            .filter(|(_, t)| order.metric(t) > 0)
            .collect()
    }
}

fn filter_name(dimension: &Dimension) -> &'static str {
    match dimension {
        Dimension::Source => "source",
        Dimension::Referrer => "referrer",
        Dimension::UtmSource => "utm_source",
        Dimension::UtmMedium => "utm_medium",
        Dimension::UtmCampaign => "utm_campaign",
        Dimension::UtmTerm => "utm_term",
        Dimension::UtmContent => "utm_content",
        Dimension::Browser => "browser",
        Dimension::Os => "os",
        Dimension::Device => "device",
        Dimension::Country => "country",
        Dimension::Region => "region",
        Dimension::City => "city",
        Dimension::ScreenSize => "screen_size",
        _ => unreachable!("not a visit attribute: {dimension:?}"),
    }
}

fn all_dimensions() -> Vec<Dimension> {
    vec![
        Dimension::Page,
        Dimension::EntryPage,
        Dimension::ExitPage,
        Dimension::Source,
        Dimension::Referrer,
        Dimension::UtmSource,
        Dimension::UtmMedium,
        Dimension::UtmCampaign,
        Dimension::UtmTerm,
        Dimension::UtmContent,
        Dimension::Browser,
        Dimension::Os,
        Dimension::Device,
        Dimension::Country,
        Dimension::Region,
        Dimension::City,
        Dimension::ScreenSize,
        Dimension::Event,
        Dimension::Prop("plan".into()),
        Dimension::Prop("product".into()),
        Dimension::Prop("missing".into()),
    ]
}

// ---------------------------------------------------------------------------
// Writing the generated events.

pub(crate) fn store_events(
    dir: &std::path::Path,
    zone: &str,
    events: &[NewEvent],
    batches: &[usize],
) {
    let store = Store::open(dir, StoreOptions::default()).unwrap();
    let writer = store.writer();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let zone = zone.to_owned();
    runtime
        .block_on(writer.run(move |conn| {
            conn.execute(
                "INSERT INTO sites (domain, timezone, created_at) VALUES (?1, ?2, 0)",
                params![SITE, zone],
            )?;
            Ok(())
        }))
        .unwrap();
    let mut rest = events;
    let mut sizes = batches.iter().cycle();
    while !rest.is_empty() {
        let n = (*sizes.next().unwrap()).min(rest.len());
        writer.insert_blocking(rest[..n].to_vec()).unwrap();
        rest = &rest[n..];
        // Closed days get packed as time moves on, and late events unpack
        // them again: the behavioural queries read both kinds of days.
        writer.pack_closed_days_blocking().unwrap();
    }
    drop(writer);
    store.close();
}

/// Orders events by time, except that late ones arrive after all others.
pub(crate) fn arrival_order(base_ms: i64, generated: &[GenEvent]) -> Vec<NewEvent> {
    let mut on_time: Vec<NewEvent> = Vec::new();
    let mut late: Vec<NewEvent> = Vec::new();
    for g in generated {
        let event = make_event(base_ms, *g);
        if g.5 {
            late.push(event)
        } else {
            on_time.push(event)
        }
    }
    on_time.sort_by_key(|e| e.timestamp_ms);
    on_time.extend(late);
    on_time
}

/// The queries a case checks: `range` and `whole`, each without and with the
/// picked filters.
pub(super) fn queries_over(
    range: DayRange,
    whole: DayRange,
    picked_filters: &[(usize, bool)],
) -> [StatsQuery; 4] {
    let filters = parse_filters(picked_filters);
    [
        (range, vec![]),
        (whole, vec![]),
        (range, filters.clone()),
        (whole, filters),
    ]
    .map(|(range, filters)| StatsQuery {
        range,
        filters,
        with_imported: false,
    })
}

pub(super) fn parse_filters(picked: &[(usize, bool)]) -> Vec<Filter> {
    let pool = filter_pool();
    let text: Vec<String> = picked
        .iter()
        .map(|(i, negate)| {
            let (name, value) = pool[i % pool.len()];
            format!("{name}{}{value}", if *negate { "!=" } else { "==" })
        })
        .collect();
    mallard_core::filter::parse_filters(&text.join(";")).unwrap()
}

/// A store in `dir` (a site in `zone`) holding `events` from `base_ms`,
/// sent in their arrival order in batches of the sizes of `batches`.
pub(crate) fn store_generated(
    dir: &std::path::Path,
    zone: &str,
    base_ms: i64,
    events: &[GenEvent],
    batches: &[usize],
) -> Store {
    store_events(dir, zone, &arrival_order(base_ms, events), batches);
    Store::open(dir, StoreOptions::default()).unwrap()
}

/// Checks every query on `range` under each of `filters` (written as the
/// `filters` parameter is) against `reference`.
pub(crate) fn check_all_filtered(
    db: &ReadConn<'_>,
    reference: &Reference,
    range: DayRange,
    filters: &[&str],
) {
    for filters in filters {
        let query = StatsQuery {
            range,
            filters: mallard_core::filter::parse_filters(filters).unwrap(),
            with_imported: false,
        };
        check_all(db, reference, &query);
    }
}

/// Checks every query on `query`'s range and filters against `reference`.
pub(crate) fn check_all(db: &ReadConn<'_>, reference: &Reference, query: &StatsQuery) {
    let site = db.stats_site(SITE).unwrap().unwrap();
    // Realtime windows: around the range's first midnight, within its first
    // day, and the whole range.
    let start = reference.tz.day_start_ms(query.range.start);
    let end = reference.tz.day_start_ms(query.range.end);
    for (from, to) in [
        (start - 3_600_000, start + 1_800_000),
        (start + 7 * 3_600_000, start + 7 * 3_600_000 + 300_000),
        (start, end - 1),
    ] {
        assert_eq!(
            db.stats_visitors_between(&site, from, to, &query.filters)
                .unwrap(),
            reference.visitors_between(from, to, &query.filters),
            "visitors between {from} and {to}, {query:?}"
        );
    }
    assert_eq!(
        db.stats_main(&site, query).unwrap(),
        reference.main(query),
        "main {query:?}"
    );
    for interval in [
        Interval::Hour,
        Interval::Day,
        Interval::Week,
        Interval::Month,
    ] {
        let got: Vec<(i64, Totals)> = db
            .stats_timeseries(&site, query, interval)
            .unwrap()
            .into_iter()
            .map(|p| (p.key, p.totals))
            .collect();
        assert_eq!(
            got,
            reference.series(query, interval),
            "{interval:?} {query:?}"
        );
    }
    // Revenue per currency and bucket, counted at each event's own time.
    for interval in [Interval::Hour, Interval::Day] {
        let got: BTreeMap<(String, i64), (i128, i64)> = db
            .stats_revenue(&site, query, interval)
            .unwrap()
            .into_iter()
            .flat_map(|currency| {
                currency
                    .points
                    .into_iter()
                    .map(move |p| ((currency.currency.clone(), p.key), (p.micros, p.events)))
            })
            .collect();
        assert_eq!(
            got,
            reference.revenue(query, interval),
            "revenue {interval:?} {query:?}"
        );
    }
    // The property keys: from the rollups without filters, from the
    // visits with them.
    let keys = db.stats_prop_keys(&site, query, 1000).unwrap();
    assert!(
        keys.windows(2)
            .all(|w| w[0].totals.events >= w[1].totals.events),
        "property keys out of order {query:?}"
    );
    assert_eq!(
        keys.iter()
            .map(|r| (r.value.clone(), (r.totals.events, r.totals.visitors)))
            .collect::<BTreeMap<_, _>>(),
        reference.prop_keys(query),
        "property keys {query:?}"
    );
    assert_eq!(
        db.stats_prop_keys(&site, query, 1).unwrap(),
        keys.into_iter().take(1).collect::<Vec<_>>(),
        "the first property key {query:?}"
    );
    for dimension in all_dimensions() {
        let rows = db.stats_breakdown(&site, query, &dimension, 1000).unwrap();
        let got: BTreeMap<String, Totals> =
            rows.iter().map(|r| (r.value.clone(), r.totals)).collect();
        assert_eq!(got.len(), rows.len(), "duplicate labels in {dimension:?}");
        assert_eq!(
            got,
            reference.breakdown(query, &dimension),
            "{dimension:?} {query:?}"
        );
        let order = Breakdown::of(&dimension);
        assert!(
            rows.windows(2)
                .all(|w| order.metric(&w[0].totals) >= order.metric(&w[1].totals))
        );
        let top = db.stats_breakdown(&site, query, &dimension, 2).unwrap();
        assert_eq!(top, rows.iter().take(2).cloned().collect::<Vec<_>>());
    }
    // Goals counted with the range's visitors equal the goals and the
    // totals on their own (in one pass under filters the rollups cannot
    // answer).
    let goals = test_goals();
    let conversions = db.stats_goal_conversions(&site, query, &goals).unwrap();
    assert_eq!(
        conversions
            .iter()
            .map(conversion_counts)
            .collect::<Vec<_>>(),
        reference.goal_conversions(query, &goals),
        "goals {query:?}"
    );
    assert_eq!(
        db.stats_goal_conversions_and_visitors(&site, query, &goals)
            .unwrap(),
        (
            db.stats_goal_conversions(&site, query, &goals).unwrap(),
            db.stats_main(&site, query).unwrap().visitors
        ),
        "goals {query:?}"
    );
    // The whole view in one pass equals each query on its own: with every
    // dimension (page breakdowns read every event), and with visit-level
    // ones only (events read at the range's edges and across buckets).
    let visit_level = vec![Dimension::Source, Dimension::Country, Dimension::EntryPage];
    // The dashboard's: by page and event name (from the days' code index
    // under visit attribute filters the rollups answer the rest of), and
    // by visit values.
    let dashboard = vec![
        Dimension::Page,
        Dimension::Source,
        Dimension::Country,
        Dimension::Browser,
        Dimension::Event,
    ];
    // By page and event name alone, and by event name alone: under one
    // visit filter with rollup rows nothing is counted beside the code
    // index.
    let by_code = vec![Dimension::Page, Dimension::Event];
    for (dimensions, interval) in [
        (by_code, Interval::Day),
        (vec![Dimension::Event], Interval::Month),
        (all_dimensions(), Interval::Hour),
        (all_dimensions(), Interval::Month),
        (visit_level.clone(), Interval::Day),
        (visit_level, Interval::Hour),
        (dashboard, Interval::Day),
    ] {
        let view = db
            .stats_view(&site, query, interval, &dimensions, 3)
            .unwrap();
        assert_eq!(
            view.main,
            db.stats_main(&site, query).unwrap(),
            "view main {query:?}"
        );
        assert_eq!(
            view.series,
            db.stats_timeseries(&site, query, interval).unwrap(),
            "view {interval:?} {query:?}"
        );
        assert_eq!(view.breakdowns.len(), dimensions.len());
        for (dimension, rows) in dimensions.iter().zip(&view.breakdowns) {
            assert_eq!(
                rows,
                &db.stats_breakdown(&site, query, dimension, 3).unwrap(),
                "view {dimension:?} {query:?}"
            );
        }
    }
}

/// A goal's converting events, their visitors, and per currency the sum
/// and number of their amounts.
type ConversionCounts = (i64, u64, BTreeMap<String, (i128, i64)>);

/// [`ConversionCounts`] of what a goal converted.
fn conversion_counts(conversions: &crate::stats::GoalConversions) -> ConversionCounts {
    (
        conversions.totals.events,
        conversions.totals.visitors,
        conversions
            .revenue
            .iter()
            .map(|r| (r.currency.clone(), (r.micros, r.events)))
            .collect(),
    )
}

/// Page goals, event goals and property goals of the generated events, with
/// revenue (purchases) and without, the properties on custom events and on
/// page views.
fn test_goals() -> Vec<crate::goals::Goal> {
    let goal = |name: &str, event: Option<&str>, page: Option<&str>, prop: Option<(&str, &str)>| {
        crate::goals::GoalDefinition {
            name: name.into(),
            event_name: event.map(Into::into),
            page_path: page.map(Into::into),
            prop: prop.map(|(key, value)| (key.into(), value.into())),
        }
    };
    [
        goal("Blog", None, Some("/blog/*"), None),
        goal("Signup", Some("Signup"), None, None),
        goal("Pro signup", Some("Signup"), None, Some(("plan", "pro"))),
        goal("Purchase", Some("Purchase"), None, None),
        goal(
            "Pro purchase",
            Some("Purchase"),
            None,
            Some(("plan", "pro")),
        ),
        goal("Team pages", None, Some("/**"), Some(("plan", "team"))),
    ]
    .into_iter()
    .zip(1..)
    .map(|(definition, id)| crate::goals::Goal {
        id,
        definition,
        created_at_ms: 0,
    })
    .collect()
}

fn run_case(
    zone_index: usize,
    base_index: usize,
    generated: &[GenEvent],
    batches: &[usize],
    picked_filters: &[(usize, bool)],
    range_offset: i64,
    range_days: i64,
) {
    let zone = ZONES[zone_index];
    let base_ms = BASES_MS[base_index];
    let dir = tempfile::tempdir().unwrap();
    let events = arrival_order(base_ms, generated);
    store_events(dir.path(), zone, &events, batches);
    let tz = SiteTimeZone::parse(zone).unwrap();
    let first_day = tz.local_day(base_ms);
    let range = DayRange {
        start: first_day - 1 + range_offset,
        end: first_day - 1 + range_offset + range_days,
    };
    let whole = DayRange {
        start: first_day - 1,
        end: first_day + 5,
    };
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    store
        .reads()
        .with(|db| {
            let reference = Reference::load(db.connection(), tz.clone());
            for query in queries_over(range, whole, picked_filters) {
                check_all(db, &reference, &query);
            }
            Ok(())
        })
        .unwrap();
    store.close();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn every_query_matches_a_naive_recomputation(
        zone_index in 0..ZONES.len(),
        base_index in 0..BASES_MS.len(),
        generated in prop::collection::vec(
            (0i64..3 * 24 * 60, 0u64..12, 0u8..10, 0usize..PATHS.len(), 0usize..8, prop::bool::weighted(0.15)),
            1..120,
        ),
        batches in prop::collection::vec(1usize..30, 1..6),
        picked_filters in prop::collection::vec((0usize..64, any::<bool>()), 1..4),
        range_offset in 0i64..4,
        range_days in 1i64..4,
    ) {
        run_case(zone_index, base_index, &generated, &batches, &picked_filters, range_offset, range_days);
    }
}

/// Filters that hold for every event and visit, for tests that check the
/// filtered path over everything.
pub(crate) const MATCH_ALL: &str = "page!=/nowhere";

#[test]
fn events_of_visits_that_started_days_before_the_range_are_counted() {
    // Visitor 1 keeps one visit going for 40 hours, a page view every 20
    // minutes and a Signup every two hours; others come and go around it.
    let mut generated: Vec<GenEvent> = (0..120)
        .map(|i| {
            (
                i * 20,
                1,
                if i % 6 == 5 { 7 } else { 0 },
                (i % 6) as usize,
                1,
                false,
            )
        })
        .collect();
    generated.extend((0..60).map(|i| {
        (
            i * 47 % 2_400,
            2 + (i % 9) as u64,
            (i % 10) as u8,
            (i % 6) as usize,
            (i % 8) as usize,
            i % 7 == 0,
        )
    }));
    for zone in ["UTC", "America/New_York"] {
        let dir = tempfile::tempdir().unwrap();
        let events = arrival_order(BASES_MS[2], &generated);
        store_events(dir.path(), zone, &events, &[13, 40]);
        let tz = SiteTimeZone::parse(zone).unwrap();
        let first_day = tz.local_day(BASES_MS[2]);
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        store
            .reads()
            .with(|db| {
                let reference = Reference::load(db.connection(), tz.clone());
                let longest = reference.visits.values().map(|v| v.end - v.start).max();
                assert!(
                    longest > Some(mallard_core::period::MS_PER_DAY),
                    "{longest:?}"
                );
                for day in first_day..first_day + 3 {
                    check_all_filtered(
                        db,
                        &reference,
                        DayRange {
                            start: day,
                            end: day + 1,
                        },
                        &[
                            MATCH_ALL,
                            "page==/pricing",
                            "source==Google",
                            "event==Signup",
                        ],
                    );
                }
                Ok(())
            })
            .unwrap();
        store.close();
    }
}

#[test]
fn a_filter_on_a_value_never_stored_answers_empty_without_reading_visits() {
    let generated: Vec<GenEvent> = (0..40)
        .map(|i| (i * 5, (i % 4) as u64, 0, 1, 1, false))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    store_events(
        dir.path(),
        "UTC",
        &arrival_order(BASES_MS[2], &generated),
        &[40],
    );
    let conn = Connection::open(dir.path().join(crate::DATABASE_FILE)).unwrap();
    let site = super::site::lookup(&conn, SITE).unwrap().unwrap();
    let first = site.first_day.unwrap();
    let query = |filters: &str| StatsQuery {
        range: DayRange {
            start: first,
            end: first + 2,
        },
        filters: mallard_core::filter::parse_filters(filters).unwrap(),
        with_imported: false,
    };
    let predicate =
        |query: &StatsQuery| super::predicate::Predicate::compile(&conn, &query.filters).unwrap();
    let known = query("source==Google");
    assert!(
        super::scan::main(&conn, &site, known.range, &predicate(&known))
            .unwrap()
            .pageviews
            > 0
    );
    // Without the visits and events, a query that reads them fails; one
    // whose filter names a value never stored still answers, empty.
    conn.execute_batch(
        "ALTER TABLE visits RENAME TO visits_gone; ALTER TABLE events RENAME TO events_gone;",
    )
    .unwrap();
    assert!(super::scan::main(&conn, &site, known.range, &predicate(&known)).is_err());
    for filters in [
        "source==Nowhere",
        "page==/nowhere;country==DE",
        "props.nokey==x",
    ] {
        let q = query(filters);
        let p = predicate(&q);
        assert!(p.matches_nothing(), "{filters}");
        assert_eq!(
            super::scan::main(&conn, &site, q.range, &p).unwrap(),
            Totals::default()
        );
        let keys = Interval::Day.buckets(q.range).unwrap();
        let series =
            super::scan::timeseries(&conn, &site, q.range, &p, Interval::Day, &keys).unwrap();
        assert!(series.len() == 2 && series.iter().all(|s| s.totals == Totals::default()));
        let spec = super::scan::BreakdownSpec {
            row_kind: crate::rollups::kind::SOURCE,
            prop_key: None,
            order: Breakdown::ByVisits,
            with_visitors: true,
            limit: 10,
        };
        let rows = super::scan::breakdown(&conn, &site, q.range, &p, spec).unwrap();
        assert!(rows.is_empty());
        let parts = super::scan::ViewParts {
            main: true,
            series: true,
        };
        let view = super::scan::view(
            &conn,
            &site,
            q.range,
            &p,
            Interval::Day,
            &keys,
            &[spec],
            parts,
        )
        .unwrap();
        assert_eq!(view.main, Some(Totals::default()));
        assert_eq!(view.series, Some(series));
        assert_eq!(view.breakdowns, vec![Vec::new()]);
        assert_eq!(
            super::scan::visitors_between(&conn, &site, 0, i64::MAX - 1, &p).unwrap(),
            0
        );
    }
}

/// Every unfiltered answer over the week around the site's first day.
pub(crate) fn all_answers(db: &ReadConn<'_>) -> Vec<String> {
    let site = db.stats_site(SITE).unwrap().unwrap();
    let first = site.first_day.unwrap();
    let query = StatsQuery {
        range: DayRange {
            start: first - 1,
            end: first + 6,
        },
        filters: vec![],
        with_imported: false,
    };
    let mut out = vec![format!("{:?}", db.stats_main(&site, &query).unwrap())];
    for interval in [Interval::Hour, Interval::Day] {
        out.push(format!(
            "{:?}",
            db.stats_timeseries(&site, &query, interval).unwrap()
        ));
    }
    for dimension in all_dimensions() {
        out.push(format!(
            "{:?}",
            db.stats_breakdown(&site, &query, &dimension, 1000).unwrap()
        ));
    }
    // The visits themselves, found through their days' id ranges.
    for oldest_first in [true, false] {
        out.push(format!(
            "{:?}",
            db.stats_sessions(&site, &query, 10_000, 0, oldest_first)
                .unwrap()
        ));
    }
    out
}

/// Recomputes every rollup of the test site from its stored rows.
pub(crate) fn rebuild_whole_site(store: &Store) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime
        .block_on(store.writer().run(|conn| {
            let site: i64 =
                conn.query_row("SELECT id FROM sites WHERE domain = ?1", [SITE], |r| {
                    r.get(0)
                })?;
            crate::rollups::rebuild_site(conn, site)
        }))
        .unwrap();
}

/// `count` events `step` minutes apart, wrapped around `days` days, from
/// `visitors` visitors, with every kind of event, path and session in turn;
/// every `late_every`th arrives late.
pub(crate) fn spread_events(
    count: i64,
    step: i64,
    days: i64,
    visitors: i64,
    late_every: i64,
) -> Vec<GenEvent> {
    (0..count)
        .map(|i| {
            (
                (i * step) % (days * 24 * 60),
                (i % visitors) as u64,
                (i % 10) as u8,
                (i % 6) as usize,
                (i % 8) as usize,
                i % late_every == 0,
            )
        })
        .collect()
}

/// Events spread over three days, some late, with both kinds of events.
pub(crate) fn three_days_of_events() -> Vec<GenEvent> {
    spread_events(300, 37, 3, 17, 11)
}

/// Visits of three events each, seven minutes apart (so every visit grows
/// after its row was inserted), over three days; some events arrive late.
fn visits_of_three_events() -> Vec<GenEvent> {
    (0..240)
        .map(|i| {
            let group = i / 3;
            (
                (group * 43) % (3 * 24 * 60) + (i % 3) * 7,
                (group % 17) as u64 + 100,
                (i % 10) as u8,
                (i % 6) as usize,
                (i % 8) as usize,
                i % 13 == 0,
            )
        })
        .collect()
}

#[test]
fn a_rebuild_gives_the_same_answers_as_the_incremental_rollups() {
    let generated = three_days_of_events();
    let dir = tempfile::tempdir().unwrap();
    let events = arrival_order(BASES_MS[0], &generated);
    store_events(dir.path(), "Europe/Berlin", &events, &[7, 50, 3]);
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let before = store.reads().with(|db| Ok(all_answers(db))).unwrap();
    let packed: i64 = store
        .reads()
        .with(|db| {
            Ok(db.connection().query_row(
                "SELECT count(*) FROM rollup_days WHERE kind = ?1",
                [crate::rollups::kind::PAGE_PACK],
                |r| r.get(0),
            )?)
        })
        .unwrap();
    assert!(packed > 0, "closed days were packed");
    rebuild_whole_site(&store);
    let after = store.reads().with(|db| Ok(all_answers(db))).unwrap();
    assert_eq!(before, after);
    store.close();
}

#[test]
fn rollups_and_visit_growth_only_in_memory_at_a_crash_are_recovered_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut generated = three_days_of_events();
    generated.extend(visits_of_three_events());
    let events = arrival_order(BASES_MS[1], &generated);
    // The site and its time zone, through a store that closes cleanly.
    store_events(dir.path(), "America/New_York", &[], &[1]);
    let path = dir.path().join(crate::DATABASE_FILE);
    {
        // Commit the events as the writer does, then stop without writing
        // what the rollups hold in memory, as a killed process would.
        let mut conn = Connection::open(&path).unwrap();
        let mut state = crate::insert::WriterState::load(&conn, BASES_MS[1]).unwrap();
        for batch in events.chunks(20) {
            let tx = conn.transaction().unwrap();
            state.insert(&tx, batch).unwrap();
            tx.commit().unwrap();
        }
        assert!(state.rollups_pending());
    }
    let (listed, counted): (i64, i64) = Connection::open(&path)
        .unwrap()
        .query_row(
            "SELECT (SELECT count(*) FROM rollup_dirty_days), \
             (SELECT coalesce(sum(events), 0) FROM rollup_days WHERE kind = 0)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(listed >= 3, "the days written behind are listed: {listed}");
    assert!(
        counted < events.len() as i64,
        "the crash lost rollups ({counted} of {} events counted)",
        events.len()
    );
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let recovered = store.reads().with(|db| Ok(all_answers(db))).unwrap();
    let (listed, counted): (i64, i64) = store
        .reads()
        .with(|db| {
            Ok(db.connection().query_row(
                "SELECT (SELECT count(*) FROM rollup_dirty_days), \
                 (SELECT sum(events) FROM rollup_days WHERE kind = 0)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?)
        })
        .unwrap();
    assert_eq!(listed, 0);
    assert_eq!(counted, events.len() as i64);
    rebuild_whole_site(&store);
    let rebuilt = store.reads().with(|db| Ok(all_answers(db))).unwrap();
    assert_eq!(recovered, rebuilt);
    // The visits grown after their rows were written got their growth from
    // the log: rows and answers equal those of a store that stopped cleanly.
    let clean_dir = tempfile::tempdir().unwrap();
    store_events(clean_dir.path(), "America/New_York", &events, &[20]);
    let clean = Store::open(clean_dir.path(), StoreOptions::default()).unwrap();
    let rows = |store: &Store| store.reads().with(|db| Ok(visit_rows(db))).unwrap();
    assert_eq!(rows(&store), rows(&clean));
    assert_eq!(
        recovered,
        clean.reads().with(|db| Ok(all_answers(db))).unwrap()
    );
    clean.close();
    store.close();
}

/// Every stored visit's id, times, counts and pages, in id order, whether
/// its day is kept as rows or packed.
fn visit_rows(db: &ReadConn<'_>) -> Vec<[Option<i64>; 7]> {
    let conn = db.connection();
    let site = crate::site_records::site_id(conn, SITE).unwrap().unwrap();
    let mut visits: Vec<[Option<i64>; 7]> = crate::site_records::visits(conn, site)
        .unwrap()
        .into_iter()
        .map(|v| {
            [
                Some(v.id),
                Some(v.start_ts),
                Some(v.end_ts),
                Some(v.pageviews),
                Some(v.events_count),
                v.entry_page,
                v.exit_page,
            ]
        })
        .collect();
    visits.sort_unstable();
    visits
}

#[test]
fn new_databases_have_8_kb_pages_and_47_bit_visitor_ids_and_older_ones_whole_ids() {
    let mut event = make_event(BASES_MS[2], (0, 1, 0, 0, 0, false));
    event.visitor = VisitorId(0xFEDC_BA98_7654_3210);
    let dir = tempfile::tempdir().unwrap();
    store_events(dir.path(), "UTC", std::slice::from_ref(&event), &[1]);
    let path = dir.path().join(crate::DATABASE_FILE);
    let stored = |ts: i64| -> i64 {
        Connection::open(&path)
            .unwrap()
            .query_row(
                "SELECT visitor_id FROM visits WHERE start_ts = ?1",
                [ts],
                |r| r.get(0),
            )
            .unwrap()
    };
    assert_eq!(
        stored(event.timestamp_ms),
        0xFEDC_BA98_7654_3210_u64 as i64 & ((1 << 47) - 1)
    );
    let page_size: i64 = Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .unwrap();
    assert_eq!(page_size, 8192, "new databases have 8 KB pages");
    // A database that held visits before migration 006 has no such setting
    // and keeps storing whole ids.
    Connection::open(&path)
        .unwrap()
        .execute("DELETE FROM settings WHERE key = 'visitor_id_bits'", [])
        .unwrap();
    let mut later = event.clone();
    later.timestamp_ms += 2 * 86_400_000;
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    store.writer().insert_blocking(vec![later.clone()]).unwrap();
    store.close();
    assert_eq!(stored(later.timestamp_ms), 0xFEDC_BA98_7654_3210_u64 as i64);
}

#[test]
fn a_database_without_rollups_gets_them_when_opened() {
    let generated: Vec<GenEvent> = (0..40)
        .map(|i| (i * 5, (i % 4) as u64, 0, 1, 2, false))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    store_events(
        dir.path(),
        "UTC",
        &arrival_order(BASES_MS[2], &generated),
        &[40],
    );
    {
        let conn = Connection::open(dir.path().join(crate::DATABASE_FILE)).unwrap();
        conn.execute_batch(
            "DELETE FROM rollup_days; DELETE FROM rollup_hours; DELETE FROM rollup_sites;",
        )
        .unwrap();
    }
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let totals = store
        .reads()
        .with(|db| {
            let site = db.stats_site(SITE)?.unwrap();
            db.stats_main(
                &site,
                &StatsQuery {
                    range: DayRange {
                        start: site.first_day.unwrap(),
                        end: site.first_day.unwrap() + 2,
                    },
                    filters: vec![],
                    with_imported: false,
                },
            )
        })
        .unwrap();
    assert_eq!(totals.pageviews, 40);
    assert_eq!(totals.visitors, 4);
    store.close();
}

#[test]
fn retention_removes_the_rollups_of_old_days() {
    use mallard_core::period::MS_PER_DAY;
    let generated: Vec<GenEvent> = (0..60)
        .map(|i| (i * 60, (i % 5) as u64, 0, 1, 2, false))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    store_events(
        dir.path(),
        "UTC",
        &arrival_order(BASES_MS[2], &generated),
        &[60],
    );
    let conn = Connection::open(dir.path().join(crate::DATABASE_FILE)).unwrap();
    let days = |conn: &Connection| -> Vec<i64> {
        conn.prepare("SELECT DISTINCT day FROM rollup_days ORDER BY day")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let before = days(&conn);
    assert_eq!(before.len(), 4, "60 hours from 22:13 touch four days");
    // Only days that end before the cut-off in every time zone go.
    let cutoff = (before[0] + 2) * MS_PER_DAY + 26 * 3_600_000;
    while crate::retention::delete_oldest_chunk(&conn, cutoff).unwrap() > 0 {}
    assert_eq!(days(&conn), before[2..].to_vec());
}

/// Five days of on-time events with every kind of event, visits across
/// midnight among them.
fn five_days_in_order() -> Vec<GenEvent> {
    (0..900)
        .map(|i| {
            (
                (i * 8) % (5 * 24 * 60),
                (i % 23) as u64,
                (i % 10) as u8,
                (i * 7 % PATHS.len() as i64) as usize,
                (i % 8) as usize,
                false,
            )
        })
        .collect()
}

#[test]
fn a_bulk_load_gives_the_same_answers_as_rows_packed_as_they_close() {
    let base_ms = BASES_MS[2];
    let events = arrival_order(base_ms, &five_days_in_order());
    let rows = tempfile::tempdir().unwrap();
    store_events(rows.path(), "UTC", &events, &[97]);

    let bulk = tempfile::tempdir().unwrap();
    let mut options = StoreOptions::default();
    options.writer.bulk_load = true;
    let store = Store::open(bulk.path(), options).unwrap();
    let writer = store.writer();
    for chunk in events.chunks(97) {
        writer.insert_blocking(chunk.to_vec()).unwrap();
    }
    // While the load runs, no event of the site is a row: its settled days
    // are segments, the rest is in memory.
    let (event_rows, segment_days): (i64, i64) = store
        .reads()
        .with(|db| {
            Ok(db.connection().query_row(
                "SELECT (SELECT count(*) FROM events), \
                 (SELECT count(DISTINCT day) FROM day_segments)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?)
        })
        .unwrap();
    assert_eq!(event_rows, 0);
    assert!(segment_days >= 3, "{segment_days} days written");
    // Packing ends the load: what is not settled becomes rows, then closed
    // rows days are packed as in the other store.
    writer.pack_closed_days_blocking().unwrap();
    drop(writer);
    store.close();

    let answers = |dir: &std::path::Path| {
        let store = Store::open(dir, StoreOptions::default()).unwrap();
        let answers = store
            .reads()
            .with(|db| {
                let site = db.stats_site(SITE)?.unwrap();
                let first = site.first_day.unwrap();
                let mut out = all_answers(db);
                for filters in ["source==Google", "page==/pricing", "props.plan==pro"] {
                    let query = StatsQuery {
                        range: DayRange {
                            start: first - 1,
                            end: first + 6,
                        },
                        filters: mallard_core::filter::parse_filters(filters).unwrap(),
                        with_imported: false,
                    };
                    out.push(format!("{:?}", db.stats_main(&site, &query)?));
                    out.push(format!(
                        "{:?}",
                        db.stats_export_events(&site, &query, 100_000, 0)?
                    ));
                }
                Ok(out)
            })
            .unwrap();
        store.close();
        // The rollups are those of the stored visits and events.
        let conn = Connection::open(dir.join("mallard.db")).unwrap();
        let check = crate::rollup_check::rollup_differences(&conn).unwrap();
        assert_eq!(check.differences, Vec::<String>::new());
        answers
    };
    assert_eq!(answers(bulk.path()), answers(rows.path()));
}

#[test]
fn a_bulk_load_keeps_every_event_and_one_for_a_written_day_ends_it() {
    let base_ms = BASES_MS[2];
    let events = arrival_order(base_ms, &five_days_in_order());
    let dir = tempfile::tempdir().unwrap();
    let mut options = StoreOptions::default();
    options.writer.bulk_load = true;
    let store = Store::open(dir.path(), options).unwrap();
    let writer = store.writer();
    let site_id = || {
        writer
            .run_blocking(|conn| {
                Ok(
                    conn.query_row("SELECT id FROM sites WHERE domain = ?1", [SITE], |r| {
                        r.get::<_, i64>(0)
                    })?,
                )
            })
            .unwrap()
    };
    // What a recorded insert learns of the events held in memory.
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut site = None;
    for chunk in events.chunks(200) {
        let seen = std::sync::Arc::clone(&seen);
        let id = site.unwrap_or(0);
        writer
            .insert_recorded_blocking(chunk.to_vec(), move |_, held| {
                seen.lock().unwrap().push(held.held_from(id));
                Ok(())
            })
            .unwrap();
        site = Some(site_id());
    }
    let held: Vec<Option<i64>> = seen.lock().unwrap().clone();
    let days: Vec<i64> = held.iter().skip(1).flatten().copied().collect();
    assert!(!days.is_empty(), "the newest days are held: {held:?}");
    assert!(days.iter().all(|ms| ms % 86_400_000 == 0), "{days:?}");
    assert!(days.windows(2).all(|w| w[0] <= w[1]), "{days:?}");
    assert!(
        days.last() > days.first(),
        "days are written as they settle: {days:?}"
    );
    // The first day is written: an event for it ends the load, and it and
    // what the load held are stored the ordinary way.
    let late = events.first().cloned().unwrap();
    let id = site.unwrap();
    let after = std::sync::Arc::new(std::sync::Mutex::new(None));
    let seen_after = std::sync::Arc::clone(&after);
    writer
        .insert_recorded_blocking(vec![late], move |_, held| {
            *seen_after.lock().unwrap() = Some(held.held_from(id));
            Ok(())
        })
        .unwrap();
    assert_eq!(
        *after.lock().unwrap(),
        Some(None),
        "nothing is held any more"
    );
    drop(writer);
    store.close();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let stored = store.reads().with(|db| db.event_count(SITE)).unwrap();
    assert_eq!(stored, events.len() as u64 + 1);
    store.close();
}
