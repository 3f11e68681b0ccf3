//! `mallard seed`: deterministic synthetic traffic with a realistic shape.
//!
//! Pages follow a Zipf distribution over about 10,000 paths; visits have a
//! geometric number of page views separated by less than the 30-minute visit
//! timeout; sources, UTM tags, browsers, operating systems, devices and
//! places (country, region, city) follow weighted mixes; traffic has a daily and weekly rhythm; a few
//! visits send custom events with properties and revenue. The same `--seed`
//! gives the same data. Events go through the store's writer, the same path as
//! live ingestion, in large batches; for a site without events the writer
//! loads them in bulk, writing each settled day straight into its day
//! segment instead of rows (`WriterOptions::bulk_load`).

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Args;
use mallard_core::{
    Currency, DeviceClass, EventName, NewEvent, Referrer, Revenue, SessionAttributes, SiteId, Utm,
    VisitorId,
};
use mallard_store::{Store, StoreOptions};
use rand::distr::{Distribution, weighted::WeightedIndex};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Exp, Zipf};

use crate::CommonArgs;

/// Flags of `mallard seed`.
#[derive(Debug, Args)]
pub struct SeedArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// The site id to write events for.
    #[arg(long, default_value = "demo.example")]
    site: String,
    /// How many events to write.
    #[arg(long, default_value_t = 100_000)]
    events: u64,
    /// Over how many days, ending now.
    #[arg(long, default_value_t = 30)]
    days: u32,
    /// The random seed; the same seed gives the same data.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Leaves every day as rows instead of packing closed days into day
    /// segments, as a database written before day segments holds them (for
    /// tests of the upgrade).
    #[arg(long, hide = true)]
    rows_only: bool,
}

/// Events handed to the writer per transaction.
const CHUNK: usize = 20_000;
/// How many distinct pages the site has.
const PAGES: u64 = 10_000;

/// Writes the synthetic events and reports the rate.
pub fn run(args: SeedArgs) -> anyhow::Result<()> {
    let config = args.common.load(None, None)?;
    let site = SiteId::parse(&args.site).context("invalid --site")?;
    anyhow::ensure!(args.days > 0, "--days must be at least 1");
    let mut options = StoreOptions::default();
    options.writer.pack_closed_days = !args.rows_only;
    // A site without events is written straight into day segments as its
    // days settle; one with events gets rows, packed as they close.
    options.writer.bulk_load = !args.rows_only;
    let store = Store::open(&config.data_dir, options)
        .with_context(|| format!("cannot open {}", config.data_dir.display()))?;
    let had_events = store.reads().with(|db| {
        Ok(db
            .sites()?
            .iter()
            .any(|s| s.domain == args.site && s.has_events))
    })?;
    let writer = store.writer();
    let started = Instant::now();
    let mut written = 0u64;
    let generator = Generator::new(site, args.seed)?;
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
    let mut chunk = Vec::with_capacity(CHUNK);
    for day in generator.days(args.events, args.days, now_ms) {
        for event in day {
            chunk.push(event);
            if chunk.len() == CHUNK {
                written += chunk.len() as u64;
                writer.insert_blocking(std::mem::take(&mut chunk))?;
                // Days that closed are packed at once, so that the pages
                // their rows free are filled by the next days' rows (a
                // bulk load writes none; packing now would end it).
                if !args.rows_only && had_events {
                    writer.pack_closed_days_blocking()?;
                }
            }
        }
    }
    written += chunk.len() as u64;
    writer.insert_blocking(chunk)?;
    // A running app packs closed days a few at a time; the seeded database
    // gets them all now, as it would have after running that long (this
    // ends a bulk load: what is not settled becomes rows first).
    if !args.rows_only {
        writer.pack_closed_days_blocking()?;
    }
    drop(writer);
    let (before, after) = store
        .close_compacted()
        .context("compacting the seeded database failed")?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "seeded {written} events for {} over {} days in {secs:.1} s ({:.0} events/s); \
         the file takes {:.1} MB ({:.1} MB before compacting, {:.1} bytes per event)",
        args.site,
        args.days,
        written as f64 / secs.max(1e-9),
        after as f64 / 1e6,
        before as f64 / 1e6,
        after as f64 / written.max(1) as f64
    );
    Ok(())
}

/// A weighted choice among fixed values.
struct Mix<T: 'static> {
    values: &'static [(T, u32)],
    index: WeightedIndex<u32>,
}

impl<T> Mix<T> {
    fn new(values: &'static [(T, u32)]) -> anyhow::Result<Self> {
        Ok(Self {
            values,
            index: WeightedIndex::new(values.iter().map(|(_, w)| *w))?,
        })
    }

    fn pick(&self, rng: &mut ChaCha8Rng) -> &'static T {
        &self.values[self.index.sample(rng)].0
    }
}

/// (browser, version, os, os version, device, screen width)
type Agent = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    DeviceClass,
    u16,
);

const AGENTS: &[(Agent, u32)] = &[
    (
        ("Chrome", "131", "Windows", "10", DeviceClass::Desktop, 1920),
        30,
    ),
    (
        ("Chrome", "131", "macOS", "14", DeviceClass::Laptop, 1440),
        12,
    ),
    (("Safari", "18", "iOS", "18", DeviceClass::Mobile, 390), 16),
    (
        ("Chrome", "131", "Android", "14", DeviceClass::Mobile, 412),
        14,
    ),
    (
        ("Safari", "18", "macOS", "14", DeviceClass::Laptop, 1512),
        8,
    ),
    (
        (
            "Firefox",
            "133",
            "Windows",
            "10",
            DeviceClass::Desktop,
            1920,
        ),
        5,
    ),
    (
        ("Firefox", "133", "Linux", "", DeviceClass::Desktop, 2560),
        3,
    ),
    (
        ("Edge", "131", "Windows", "11", DeviceClass::Laptop, 1366),
        6,
    ),
    (("Safari", "18", "iOS", "17", DeviceClass::Tablet, 820), 3),
    (
        (
            "Samsung Internet",
            "26",
            "Android",
            "13",
            DeviceClass::Mobile,
            360,
        ),
        2,
    ),
    (
        ("Opera", "114", "Windows", "10", DeviceClass::Desktop, 1600),
        1,
    ),
];

/// (source, referrer URL); an empty source is direct traffic.
const SOURCES: &[((&str, &str), u32)] = &[
    (("", ""), 40),
    (("Google", "www.google.com/"), 25),
    (("Bing", "www.bing.com/"), 4),
    (("DuckDuckGo", "duckduckgo.com/"), 4),
    (("Twitter", "t.co/"), 5),
    (("Reddit", "www.reddit.com/r/programming"), 4),
    (("Hacker News", "news.ycombinator.com/item"), 3),
    (("GitHub", "github.com/"), 3),
    (("LinkedIn", "www.linkedin.com/"), 2),
    (("Facebook", "l.facebook.com/"), 2),
    (("blog.example.org", "blog.example.org/posts/analytics"), 4),
    (
        ("newsletter.example.net", "newsletter.example.net/issue-42"),
        2,
    ),
    (("ChatGPT", "chatgpt.com/"), 2),
];

/// (utm_source, utm_medium, utm_campaign) of tagged visits.
const CAMPAIGNS: &[((&str, &str, &str), u32)] = &[
    (("newsletter", "email", "november-update"), 4),
    (("twitter", "social", "launch"), 3),
    (("google", "cpc", "brand"), 3),
    (("producthunt", "referral", "launch"), 1),
];

/// Where visitors are: (country, region, city) with their weights, as a
/// city database (`geoip_database`) places them; the country's weight is
/// the sum of its places', and a place without region or city is one a
/// city database cannot narrow down.
const PLACES: &[((&str, &str, &str), u32)] = &[
    (("US", "California", "San Francisco"), 7),
    (("US", "California", "Los Angeles"), 5),
    (("US", "New York", "New York"), 8),
    (("US", "Texas", "Austin"), 4),
    (("US", "Washington", "Seattle"), 4),
    (("US", "", ""), 2),
    (("DE", "Berlin", "Berlin"), 4),
    (("DE", "Bavaria", "Munich"), 3),
    (("DE", "Hamburg", "Hamburg"), 2),
    (("GB", "England", "London"), 6),
    (("GB", "Scotland", "Edinburgh"), 2),
    (("IN", "Karnataka", "Bengaluru"), 4),
    (("IN", "Maharashtra", "Mumbai"), 3),
    (("FR", "Île-de-France", "Paris"), 4),
    (("FR", "Auvergne-Rhône-Alpes", "Lyon"), 1),
    (("CA", "Ontario", "Toronto"), 3),
    (("CA", "British Columbia", "Vancouver"), 1),
    (("NL", "North Holland", "Amsterdam"), 3),
    (("BR", "São Paulo", "São Paulo"), 3),
    (("JP", "Tokyo", "Tokyo"), 3),
    (("ES", "Madrid", "Madrid"), 2),
    (("IT", "Lombardy", "Milan"), 2),
    (("SE", "Stockholm", "Stockholm"), 2),
    (("PL", "Mazovia", "Warsaw"), 2),
    (("AU", "New South Wales", "Sydney"), 2),
    (("CH", "Zurich", "Zurich"), 1),
    (("AT", "Vienna", "Vienna"), 1),
    (("NO", "Oslo", "Oslo"), 1),
    (("DK", "Capital Region", "Copenhagen"), 1),
    (("FI", "Uusimaa", "Helsinki"), 1),
    (("MX", "Mexico City", "Mexico City"), 1),
    (("KR", "Seoul", "Seoul"), 1),
    (("SG", "", "Singapore"), 1),
    (("ZA", "Western Cape", "Cape Town"), 1),
    (("NG", "Lagos", "Lagos"), 1),
];

/// Relative traffic per hour of the day (UTC).
const HOURLY: [u32; 24] = [
    3, 2, 2, 2, 2, 3, 4, 6, 8, 9, 10, 10, 10, 10, 10, 9, 9, 8, 8, 7, 6, 5, 4, 3,
];

struct Generator {
    site: SiteId,
    seed: u64,
    agents: Mix<Agent>,
    sources: Mix<(&'static str, &'static str)>,
    campaigns: Mix<(&'static str, &'static str, &'static str)>,
    places: Mix<(&'static str, &'static str, &'static str)>,
    hours: WeightedIndex<u32>,
    pages: Zipf<f64>,
    gap: Exp<f64>,
    pageview: EventName,
    signup: EventName,
    purchase: EventName,
    outbound: EventName,
    usd: Currency,
}

impl Generator {
    fn new(site: SiteId, seed: u64) -> anyhow::Result<Self> {
        Ok(Self {
            site,
            seed,
            agents: Mix::new(AGENTS)?,
            sources: Mix::new(SOURCES)?,
            campaigns: Mix::new(CAMPAIGNS)?,
            places: Mix::new(PLACES)?,
            hours: WeightedIndex::new(HOURLY)?,
            pages: Zipf::new(PAGES as f64, 1.1)?,
            gap: Exp::new(1.0 / 70.0)?,
            pageview: EventName::parse(EventName::PAGEVIEW)?,
            signup: EventName::parse("Signup")?,
            purchase: EventName::parse("Purchase")?,
            outbound: EventName::parse("Outbound Link: Click")?,
            usd: Currency::parse("USD")?,
        })
    }

    /// The events of each day, oldest day first, each day sorted by time. The
    /// last day ends at `now_ms`.
    fn days(&self, total: u64, days: u32, now_ms: i64) -> impl Iterator<Item = Vec<NewEvent>> + '_ {
        const DAY_MS: i64 = 86_400_000;
        let first_day_start = now_ms - i64::from(days) * DAY_MS;
        // Weekends get less traffic and the site grows over the period.
        let weights: Vec<f64> = (0..days)
            .map(|d| {
                let weekday = (first_day_start / DAY_MS + i64::from(d) + 4) % 7;
                let weekend = if weekday >= 5 { 0.7 } else { 1.0 };
                weekend * (1.0 + f64::from(d) / f64::from(days))
            })
            .collect();
        let sum: f64 = weights.iter().sum();
        let mut assigned = 0u64;
        (0..days).map(move |d| {
            let quota = if d + 1 == days {
                total - assigned
            } else {
                ((total as f64) * weights[d as usize] / sum) as u64
            };
            assigned += quota;
            let start = first_day_start + i64::from(d) * DAY_MS;
            self.day(d, start, quota, (total / 4).max(1), now_ms)
        })
    }

    /// One day's events; visitors are drawn from `visitor_pool` ids shared by all
    /// days, so some come back.
    fn day(
        &self,
        day: u32,
        start_ms: i64,
        quota: u64,
        visitor_pool: u64,
        now_ms: i64,
    ) -> Vec<NewEvent> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ (u64::from(day) << 32));
        let mut events = Vec::with_capacity(quota as usize + 16);
        while (events.len() as u64) < quota {
            let visitor = splitmix(self.seed ^ rng.random_range(0..visitor_pool));
            let hour = self.hours.sample(&mut rng) as i64;
            let mut ts = start_ms + hour * 3_600_000 + rng.random_range(0..3_600_000);
            let session = self.session(&mut rng);
            let views = 1 + (rng.random::<f64>().ln() / 0.55f64.ln()).floor().min(30.0) as u32;
            for view in 0..views {
                if view > 0 {
                    ts += (self.gap.sample(&mut rng) * 1000.0).min(25.0 * 60_000.0) as i64 + 1000;
                }
                let path = if view == 0 && rng.random_bool(0.3) {
                    1
                } else {
                    self.pages.sample(&mut rng) as u64
                };
                events.push(self.event(
                    ts,
                    visitor,
                    &self.pageview,
                    page_path(path),
                    Vec::new(),
                    None,
                    &session,
                ));
            }
            if rng.random_bool(0.06) {
                ts += 5_000;
                let (name, props, revenue) = match rng.random_range(0..3) {
                    0 => (
                        &self.signup,
                        vec![(
                            "plan".to_owned(),
                            ["free", "pro", "team"][rng.random_range(0..3)].to_owned(),
                        )],
                        None,
                    ),
                    1 => (
                        &self.purchase,
                        vec![(
                            "product".to_owned(),
                            format!("sku-{}", rng.random_range(1..40)),
                        )],
                        Some(Revenue {
                            amount_micros: rng.random_range(5..300) * 1_000_000,
                            currency: self.usd,
                        }),
                    ),
                    _ => (
                        &self.outbound,
                        vec![(
                            "url".to_owned(),
                            format!("https://partner{}.example/", rng.random_range(1..20)),
                        )],
                        None,
                    ),
                };
                events.push(self.event(
                    ts,
                    visitor,
                    name,
                    "/".to_owned(),
                    props,
                    revenue,
                    &session,
                ));
            }
        }
        events.truncate(quota as usize);
        // The last visits of the last day may run past now; they end at now
        // instead of being dropped, so exactly `--events` events are written.
        for event in &mut events {
            event.timestamp_ms = event.timestamp_ms.min(now_ms);
        }
        events.sort_by_key(|e| e.timestamp_ms);
        events
    }

    fn session(&self, rng: &mut ChaCha8Rng) -> SessionAttributes {
        let (browser, version, os, os_version, device, width) = *self.agents.pick(rng);
        let (source, url) = *self.sources.pick(rng);
        let utm = if rng.random_bool(0.1) {
            let (s, m, c) = *self.campaigns.pick(rng);
            Utm {
                source: Some(s.into()),
                medium: Some(m.into()),
                campaign: Some(c.into()),
                term: None,
                content: None,
            }
        } else {
            Utm::default()
        };
        let (country, region, city) = *self.places.pick(rng);
        SessionAttributes {
            referrer: (!source.is_empty()).then(|| Referrer {
                source: source.into(),
                url: Some(url.into()),
            }),
            utm,
            browser: Some(browser.into()),
            browser_version: Some(version.into()),
            os: Some(os.into()),
            os_version: (!os_version.is_empty()).then(|| os_version.into()),
            device,
            screen_width: Some(width),
            country: Some(country.into()),
            region: (!region.is_empty()).then(|| region.into()),
            city: (!city.is_empty()).then(|| city.into()),
            is_bot: false,
            is_internal: false,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn event(
        &self,
        ts: i64,
        visitor: u64,
        name: &EventName,
        pathname: String,
        props: Vec<(String, String)>,
        revenue: Option<Revenue>,
        session: &SessionAttributes,
    ) -> NewEvent {
        NewEvent {
            site: self.site.clone(),
            timestamp_ms: ts,
            visitor: VisitorId(visitor),
            name: name.clone(),
            hostname: self.site.as_str().to_owned(),
            pathname,
            props,
            revenue,
            session: session.clone(),
            collector: None,
        }
    }
}

/// A stable path for page number `n` (1 is the home page).
fn page_path(n: u64) -> String {
    match n {
        1 => "/".to_owned(),
        2 => "/pricing".to_owned(),
        3 => "/docs".to_owned(),
        4 => "/blog".to_owned(),
        5 => "/about".to_owned(),
        n if n % 3 == 0 => format!("/blog/post-{n}"),
        n if n % 3 == 1 => format!("/docs/section-{}/page-{n}", n % 17),
        n => format!("/products/item-{n}"),
    }
}

/// A 64-bit mix, so visitor ids look like the hashed ids of live traffic.
fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}
