//! What `cargo xtask bench-queries` asks: the queries (every stats and
//! behaviour endpoint with fixed parameters), the filter sets, the periods and
//! the number of runs, chosen from the command line.

use clap::ValueEnum;

/// One endpoint with the parameters it is always asked with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query {
    /// Its name in the table and in `--only`.
    pub name: &'static str,
    /// The request path.
    pub path: &'static str,
    /// Further query parameters, already URL-encoded (may be empty).
    pub extra: &'static str,
}

/// Every stats endpoint (main, timeseries, each breakdown, one property
/// key, the property keys, revenue) and every behaviour endpoint, with the parameters of docs/benchmarks.md.
/// The behaviour queries keep their names from before Mallard's shapes
/// (`sessions` is the visits list, `sequences` the top paths, `flow` the
/// flow around a page, `export` the raw events), so figures compare across
/// the change.
pub const QUERIES: &[Query] = &[
    Query {
        name: "main",
        path: "/api/stats/main",
        extra: "",
    },
    Query {
        name: "timeseries",
        path: "/api/stats/timeseries",
        extra: "",
    },
    Query {
        name: "goals",
        path: "/api/stats/goals",
        extra: "",
    },
    Query {
        name: "pages",
        path: "/api/stats/breakdown/pages",
        extra: "limit=10",
    },
    Query {
        name: "entry_pages",
        path: "/api/stats/breakdown/entry_pages",
        extra: "limit=10",
    },
    Query {
        name: "exit_pages",
        path: "/api/stats/breakdown/exit_pages",
        extra: "limit=10",
    },
    Query {
        name: "sources",
        path: "/api/stats/breakdown/sources",
        extra: "limit=10",
    },
    Query {
        name: "referrers",
        path: "/api/stats/breakdown/referrers",
        extra: "limit=10",
    },
    Query {
        name: "utm_source",
        path: "/api/stats/breakdown/utm_source",
        extra: "limit=10",
    },
    Query {
        name: "browsers",
        path: "/api/stats/breakdown/browsers",
        extra: "limit=10",
    },
    Query {
        name: "os",
        path: "/api/stats/breakdown/os",
        extra: "limit=10",
    },
    Query {
        name: "devices",
        path: "/api/stats/breakdown/devices",
        extra: "limit=10",
    },
    Query {
        name: "countries",
        path: "/api/stats/breakdown/countries",
        extra: "limit=10",
    },
    Query {
        name: "screen_sizes",
        path: "/api/stats/breakdown/screen_sizes",
        extra: "limit=10",
    },
    Query {
        name: "events",
        path: "/api/stats/breakdown/events",
        extra: "limit=10",
    },
    Query {
        name: "props/plan",
        path: "/api/stats/breakdown/props/plan",
        extra: "limit=10",
    },
    Query {
        name: "prop_keys",
        path: "/api/stats/props",
        extra: "limit=10",
    },
    Query {
        name: "revenue",
        path: "/api/stats/revenue",
        extra: "",
    },
    Query {
        name: "view",
        path: "/api/stats/view",
        extra: "limit=10&breakdowns=pages%2Csources%2Ccountries%2Cbrowsers%2Cevents\
                &chart=svg&width=1100&height=320",
    },
    Query {
        name: "sessions",
        path: "/api/stats/visits",
        extra: "limit=10",
    },
    Query {
        name: "funnel",
        path: "/api/stats/funnel",
        extra: "steps=page%3A%2F%2Cpage%3A%2Fpricing%2Cevent%3ASignup",
    },
    Query {
        name: "retention",
        path: "/api/stats/retention",
        extra: "weeks=4",
    },
    Query {
        name: "sequences",
        path: "/api/stats/paths",
        extra: "length=3",
    },
    Query {
        name: "flow",
        path: "/api/stats/flow/around",
        extra: "page=%2F",
    },
    Query {
        name: "export",
        path: "/api/stats/export/events",
        extra: "limit=1000",
    },
];

/// The queries of `--quick`.
const QUICK_QUERIES: &[&str] = &[
    "main",
    "timeseries",
    "goals",
    "pages",
    "sources",
    "countries",
    "view",
    "funnel",
    "sequences",
    "export",
];

/// A filter set: the `filters` parameter and how many conditions it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterSet {
    /// The `filters` value, unencoded; empty for none.
    pub filters: &'static str,
    /// Its number of conditions.
    pub count: usize,
}

/// The filter sets: none, then one to three conditions on varied
/// dimensions (visit-level: source, country, utm_source, browser; event-level:
/// page, event, a property), with at most one event-level condition each, so
/// that none is empty by construction. Values exist in `mallard seed` data.
pub const FILTER_SETS: &[FilterSet] = &[
    FilterSet {
        filters: "",
        count: 0,
    },
    FilterSet {
        filters: "source==Google",
        count: 1,
    },
    FilterSet {
        filters: "page==/pricing;country==US",
        count: 2,
    },
    FilterSet {
        filters: "utm_source==newsletter;browser==Chrome;props.plan==pro",
        count: 3,
    },
    FilterSet {
        filters: "source==Google;country==DE;event==Signup",
        count: 3,
    },
    // Two values most visits have (a click on a browser, then on a device):
    // the filters select nearly half the visits, which a narrow set hides.
    FilterSet {
        filters: "browser==Chrome;device==Desktop",
        count: 2,
    },
];

/// A period of the stats API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Period {
    /// The last 30 days.
    #[value(name = "30d")]
    Days30,
    /// The last 12 months.
    #[value(name = "12mo")]
    Months12,
}

impl Period {
    /// The `period` parameter.
    pub fn param(self) -> &'static str {
        match self {
            Self::Days30 => "30d",
            Self::Months12 => "12mo",
        }
    }
}

/// Everything one run measures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The queries, in table order.
    pub queries: Vec<Query>,
    /// The filter sets, the unfiltered one first when present.
    pub filter_sets: Vec<FilterSet>,
    /// The periods.
    pub periods: Vec<Period>,
    /// Timed runs per query (after one warm-up).
    pub runs: usize,
}

impl Plan {
    /// The plan for the flags: `only` names queries, `filter_counts` selects
    /// filter sets by their number of conditions; empty lists mean all (or
    /// the quick selection with `quick`).
    pub fn new(
        only: &[String],
        filter_counts: &[usize],
        periods: &[Period],
        runs: Option<usize>,
        quick: bool,
    ) -> anyhow::Result<Self> {
        for name in only {
            anyhow::ensure!(
                QUERIES.iter().any(|q| q.name == name),
                "unknown query {name:?}; known: {}",
                QUERIES
                    .iter()
                    .map(|q| q.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        for count in filter_counts {
            anyhow::ensure!(
                *count <= 3,
                "filter sets have 0 to 3 conditions, not {count}"
            );
        }
        let queries: Vec<Query> = QUERIES
            .iter()
            .filter(|q| {
                if !only.is_empty() {
                    only.iter().any(|name| name == q.name)
                } else {
                    !quick || QUICK_QUERIES.contains(&q.name)
                }
            })
            .copied()
            .collect();
        let mut filter_sets: Vec<FilterSet> = if !filter_counts.is_empty() {
            FILTER_SETS
                .iter()
                .filter(|set| filter_counts.contains(&set.count))
                .copied()
                .collect()
        } else if quick {
            // None, one, and the first set of three.
            FILTER_SETS[..2]
                .iter()
                .chain(&FILTER_SETS[3..4])
                .copied()
                .collect()
        } else {
            FILTER_SETS.to_vec()
        };
        // Ratios need the unfiltered twin: it is always measured.
        if filter_sets.first().is_none_or(|set| set.count != 0) {
            filter_sets.insert(0, FILTER_SETS[0]);
        }
        let periods = if periods.is_empty() {
            vec![Period::Days30, Period::Months12]
        } else {
            periods.to_vec()
        };
        let runs = runs.unwrap_or(if quick { 3 } else { 5 });
        anyhow::ensure!(runs >= 1, "--runs must be at least 1");
        Ok(Self {
            queries,
            filter_sets,
            periods,
            runs,
        })
    }
}

/// The path and query string of `query` for `site`, `period` and `filters`.
pub fn request_path(query: &Query, site: &str, period: Period, filters: &str) -> String {
    let mut target = format!(
        "{}?site_id={}&period={}",
        query.path,
        encode(site),
        period.param()
    );
    if !filters.is_empty() {
        target.push_str("&filters=");
        target.push_str(&encode(filters));
    }
    if !query.extra.is_empty() {
        target.push('&');
        target.push_str(query.extra);
    }
    target
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_full_plan_has_every_query_filter_set_and_both_periods() {
        let plan = Plan::new(&[], &[], &[], None, false).unwrap();
        assert_eq!(plan.queries.len(), QUERIES.len());
        assert_eq!(plan.filter_sets, FILTER_SETS);
        assert_eq!(plan.periods, [Period::Days30, Period::Months12]);
        assert_eq!(plan.runs, 5);
    }

    #[test]
    fn quick_takes_fewer_queries_sets_and_runs() {
        let plan = Plan::new(&[], &[], &[], None, true).unwrap();
        let names: Vec<_> = plan.queries.iter().map(|q| q.name).collect();
        assert_eq!(names, QUICK_QUERIES);
        let counts: Vec<_> = plan.filter_sets.iter().map(|s| s.count).collect();
        assert_eq!(counts, [0, 1, 3]);
        assert_eq!(plan.runs, 3);
    }

    #[test]
    fn the_unfiltered_twin_is_always_measured() {
        let plan = Plan::new(
            &["funnel".into()],
            &[2],
            &[Period::Months12],
            Some(2),
            false,
        )
        .unwrap();
        let counts: Vec<_> = plan.filter_sets.iter().map(|s| s.count).collect();
        // Both sets of two, a narrow and a broad one.
        assert_eq!(counts, [0, 2, 2]);
        assert_eq!(plan.queries.len(), 1);
        assert_eq!(plan.queries[0].name, "funnel");
        assert_eq!(plan.periods, [Period::Months12]);
        assert_eq!(plan.runs, 2);
    }

    #[test]
    fn unknown_queries_and_filter_counts_are_refused() {
        assert!(Plan::new(&["nope".into()], &[], &[], None, false).is_err());
        assert!(Plan::new(&[], &[4], &[], None, false).is_err());
        assert!(Plan::new(&[], &[], &[], Some(0), false).is_err());
    }

    #[test]
    fn every_filter_set_of_one_to_three_covers_the_issue_dimensions() {
        let all: String = FILTER_SETS
            .iter()
            .map(|s| s.filters)
            .collect::<Vec<_>>()
            .join(";");
        for name in [
            "source",
            "page",
            "country",
            "utm_source",
            "browser",
            "event",
            "props.plan",
            "device",
        ] {
            assert!(
                all.split(';').any(|f| f.starts_with(&format!("{name}=="))),
                "{name}"
            );
        }
        for set in FILTER_SETS {
            let conditions = set.filters.split(';').filter(|f| !f.is_empty()).count();
            assert_eq!(conditions, set.count, "{}", set.filters);
        }
    }

    #[test]
    fn request_paths_encode_site_and_filters() {
        let main = &QUERIES[0];
        assert_eq!(
            request_path(
                main,
                "bench.example",
                Period::Months12,
                "page==/pricing;country==US"
            ),
            "/api/stats/main?site_id=bench.example&period=12mo&filters=page%3D%3D%2Fpricing%3Bcountry%3D%3DUS"
        );
        let funnel = QUERIES.iter().find(|q| q.name == "funnel").unwrap();
        assert_eq!(
            request_path(funnel, "a:b", Period::Days30, ""),
            "/api/stats/funnel?site_id=a%3Ab&period=30d&steps=page%3A%2F%2Cpage%3A%2Fpricing%2Cevent%3ASignup"
        );
    }
}
