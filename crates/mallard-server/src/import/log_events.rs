//! From access-log lines to the events the store keeps, with the same
//! enrichment as live events: page URL and UTM tags, referrer source, user
//! agent (browser, OS, device; bots dropped while `filter_bots` is on),
//! country of the client address, and a visitor id. The id is keyed by a
//! salt per UTC day of the log that is random and lives only as long as the
//! import, so that, as for live traffic, nobody can later tie an id to an
//! address. The address itself is used here and dropped.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use mallard_core::access_log::filter::SkipReason;
use mallard_core::access_log::{LineError, LogFilter, LogFormat, LogRecord, Verdict};
use mallard_core::page::parse_page_url;
use mallard_core::visitor::visitor_id;
use mallard_core::{DailySalt, EventName, NewEvent, SiteId, UserAgentClassifier};
use mallard_geo::Geolocator;

use crate::ingest::enrich::session_attributes;

/// A day in milliseconds.
const DAY_MS: i64 = 86_400_000;

/// How many unreadable lines are kept to show.
pub const SHOWN_LINE_ERRORS: usize = 5;

/// What an import counted so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineCounts {
    /// Lines read (blank and comment lines included).
    pub lines: u64,
    /// Page views written.
    pub imported: u64,
    /// Lines that are not page views, by reason.
    pub skipped: BTreeMap<SkipReason, u64>,
    /// Lines no parser could read.
    pub unparsed: u64,
    /// The first unreadable lines: `(line number in its file, file, why)`.
    pub first_errors: Vec<(u64, String, String)>,
    /// The earliest and latest page view written, in ms.
    pub first_ts: Option<i64>,
    /// See `first_ts`.
    pub last_ts: Option<i64>,
}

impl LineCounts {
    /// Counts an unreadable line (`number` of `file`), keeping the first
    /// few with why.
    pub fn unreadable(&mut self, number: u64, file: &str, err: &LineError) {
        self.unparsed += 1;
        if self.first_errors.len() < SHOWN_LINE_ERRORS {
            self.first_errors
                .push((number, file.to_owned(), err.to_string()));
        }
    }

    /// Counts an event written at `ts` (ms).
    pub fn imported_at(&mut self, ts: i64) {
        self.imported += 1;
        self.first_ts = Some(self.first_ts.map_or(ts, |t| t.min(ts)));
        self.last_ts = Some(self.last_ts.map_or(ts, |t| t.max(ts)));
    }

    /// Counts a line skipped for `reason`.
    pub fn skip(&mut self, reason: SkipReason) {
        *self.skipped.entry(reason).or_default() += 1;
    }

    /// The lines skipped, all reasons together.
    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }

    /// The counts as the import ledger keeps them.
    pub fn ledger(&self) -> mallard_store::imports::ImportCounts {
        mallard_store::imports::ImportCounts {
            lines: self.lines,
            imported: self.imported,
            unparsed: self.unparsed,
            skipped_json: self.skipped_json(),
            first_ts: self.first_ts,
            last_ts: self.last_ts,
        }
    }

    /// The skipped counts as a JSON object keyed by reason name.
    pub fn skipped_json(&self) -> String {
        let map: serde_json::Map<String, serde_json::Value> = self
            .skipped
            .iter()
            .map(|(reason, count)| (reason.name().to_owned(), (*count).into()))
            .collect();
        serde_json::Value::Object(map).to_string()
    }
}

/// What turns the lines of an import's files into events: access logs
/// ([`LogEvents`]) or a GoatCounter export
/// ([`super::goatcounter_events::GoatCounterEvents`]).
pub trait LineEvents: Send {
    /// Reads line `number` (from 1) of `file`: an event comes back as
    /// itself; anything else is counted. `Err` refuses the whole file (it
    /// is not in the format), saying why.
    fn line(&mut self, line: &str, number: u64, file: &str) -> Result<Option<NewEvent>, String>;

    /// The counts so far.
    fn counts(&self) -> &LineCounts;

    /// The visitor ids first seen since the last call (for the ledger).
    fn take_new_visitors(&mut self) -> Vec<u64>;
}

impl LineEvents for LogEvents {
    fn line(&mut self, line: &str, number: u64, file: &str) -> Result<Option<NewEvent>, String> {
        Ok(LogEvents::line(self, line, number, file))
    }

    fn counts(&self) -> &LineCounts {
        LogEvents::counts(self)
    }

    fn take_new_visitors(&mut self) -> Vec<u64> {
        LogEvents::take_new_visitors(self)
    }
}

/// Turns the lines of one import into events.
#[derive(Debug)]
pub struct LogEvents {
    site: SiteId,
    format: LogFormat,
    filter: LogFilter,
    filter_bots: bool,
    classifier: UserAgentClassifier,
    geolocator: Arc<Geolocator>,
    salts: HashMap<i64, DailySalt>,
    counts: LineCounts,
    visitors: NewVisitors,
}

/// The visitor ids an import created, to hand to its ledger as they come.
#[derive(Debug, Default)]
pub struct NewVisitors {
    new: Vec<u64>,
    seen: HashSet<u64>,
}

impl NewVisitors {
    /// Notes the visitor of `event`.
    pub fn note(&mut self, event: &NewEvent) {
        if self.seen.insert(event.visitor.0) {
            self.new.push(event.visitor.0);
        }
    }

    /// The ids first seen since the last call.
    pub fn take(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.new)
    }
}

impl LogEvents {
    /// An importer of `format` lines for `site`.
    pub fn new(
        site: SiteId,
        format: LogFormat,
        filter: LogFilter,
        filter_bots: bool,
        geolocator: Arc<Geolocator>,
    ) -> Self {
        Self {
            site,
            format,
            filter,
            filter_bots,
            classifier: UserAgentClassifier::new(10_000),
            geolocator,
            salts: HashMap::new(),
            counts: LineCounts::default(),
            visitors: NewVisitors::default(),
        }
    }

    /// The counts so far.
    pub fn counts(&self) -> &LineCounts {
        &self.counts
    }

    /// The visitor ids first seen since the last call (for the ledger).
    pub fn take_new_visitors(&mut self) -> Vec<u64> {
        self.visitors.take()
    }

    /// Reads line `number` of `file`: a page view comes back as its event;
    /// anything else is counted.
    pub fn line(&mut self, line: &str, number: u64, file: &str) -> Option<NewEvent> {
        self.counts.lines += 1;
        let record = match self.format.parse(line) {
            Ok(Some(record)) => record,
            Ok(None) => return None,
            Err(err) => {
                self.counts.unreadable(number, file, &err);
                return None;
            }
        };
        match self.filter.verdict(&record) {
            Verdict::PageView => {}
            Verdict::Skip(reason) => {
                self.counts.skip(reason);
                return None;
            }
        }
        match self.event(&record) {
            Ok(Some(event)) => {
                self.counts.imported_at(event.timestamp_ms);
                self.visitors.note(&event);
                Some(event)
            }
            Ok(None) => {
                self.counts.skip(SkipReason::Bot);
                None
            }
            Err(err) => {
                self.counts.unreadable(number, file, &err);
                None
            }
        }
    }

    /// The event of a page view, or `None` for a bot that is filtered.
    fn event(&mut self, record: &LogRecord<'_>) -> Result<Option<NewEvent>, LineError> {
        let user_agent = record.user_agent.as_deref().unwrap_or("");
        let agent = self.classifier.classify(user_agent);
        if self.filter_bots && agent.is_bot {
            return Ok(None);
        }
        let host = record
            .host
            .as_deref()
            .filter(|host| !host.is_empty())
            .unwrap_or(self.site.as_str());
        let target = if record.target.starts_with('/') {
            record.target.to_string()
        } else {
            format!("/{}", record.target)
        };
        let mut page = parse_page_url(&format!("https://{host}{target}"))
            .map_err(|err| LineError::field("request target", &err.to_string()))?;
        let session = session_attributes(
            &mut page,
            record.referrer.as_deref(),
            &agent,
            None,
            record
                .ip
                .map(|ip| self.geolocator.locate(ip))
                .unwrap_or_default(),
        );
        let ip = record.ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let salt = self
            .salts
            .entry(record.timestamp_ms.div_euclid(DAY_MS))
            .or_insert_with(random_salt);
        let visitor = visitor_id(salt, &self.site, ip, user_agent);
        Ok(Some(NewEvent {
            site: self.site.clone(),
            timestamp_ms: record.timestamp_ms,
            visitor,
            name: EventName::parse(EventName::PAGEVIEW)
                .map_err(|err| LineError::field("event", &err.to_string()))?,
            hostname: page.hostname,
            pathname: page.pathname,
            props: Default::default(),
            revenue: None,
            session,
            collector: None,
        }))
    }
}

/// A fresh random salt; the OS generator failing is not worth stopping an
/// import for, so the fallback mixes the time and the process id (still
/// never stored).
pub(super) fn random_salt() -> DailySalt {
    let mut bytes = [0u8; 32];
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let seed = nanos ^ (u128::from(std::process::id()) << 64);
        bytes[..16].copy_from_slice(&seed.to_le_bytes());
    }
    DailySalt::from_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mallard_core::access_log::ExcludePattern;

    const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

    fn importer(filter: LogFilter) -> LogEvents {
        LogEvents::new(
            SiteId::parse("logs.test").unwrap(),
            LogFormat::Combined,
            filter,
            true,
            Arc::new(Geolocator::bundled().unwrap()),
        )
    }

    #[test]
    fn a_city_database_gives_imported_lines_their_region_and_city() {
        let city = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../mallard-geo/tests/data/city-test.mmdb");
        let mut logs = LogEvents::new(
            SiteId::parse("logs.test").unwrap(),
            LogFormat::Combined,
            LogFilter::default(),
            true,
            Arc::new(Geolocator::open(&city).unwrap()),
        );
        let london = line(
            "81.2.69.142",
            "10/Mar/2024:10:00:00 +0000",
            "GET / HTTP/1.1",
            200,
            "-",
            FIREFOX,
        );
        let event = logs.line(&london, 1, "access.log").expect("a page view");
        let session = &event.session;
        assert_eq!(
            (
                session.country.as_deref(),
                session.region.as_deref(),
                session.city.as_deref()
            ),
            (Some("GB"), Some("England"), Some("London"))
        );
    }

    fn line(
        ip: &str,
        time: &str,
        request: &str,
        status: u16,
        referrer: &str,
        agent: &str,
    ) -> String {
        format!(r#"{ip} - - [{time}] "{request}" {status} 100 "{referrer}" "{agent}""#)
    }

    #[test]
    fn page_views_become_enriched_events_and_the_rest_is_counted() {
        let mut logs = importer(LogFilter::new(
            false,
            vec![ExcludePattern::parse("/admin/**").unwrap()],
        ));
        let lines = [
            line(
                "8.8.8.8",
                "10/Mar/2024:10:00:00 +0000",
                "GET /blog?utm_source=news HTTP/1.1",
                200,
                "https://www.google.com/",
                FIREFOX,
            ),
            line(
                "8.8.8.8",
                "10/Mar/2024:10:00:01 +0000",
                "GET /style.css HTTP/1.1",
                200,
                "-",
                FIREFOX,
            ),
            line(
                "8.8.8.8",
                "10/Mar/2024:10:00:02 +0000",
                "POST /form HTTP/1.1",
                200,
                "-",
                FIREFOX,
            ),
            line(
                "8.8.8.8",
                "10/Mar/2024:10:00:03 +0000",
                "GET /old HTTP/1.1",
                301,
                "-",
                FIREFOX,
            ),
            line(
                "8.8.8.8",
                "10/Mar/2024:10:00:04 +0000",
                "GET /nope HTTP/1.1",
                404,
                "-",
                FIREFOX,
            ),
            line(
                "8.8.8.8",
                "10/Mar/2024:10:00:05 +0000",
                "GET /admin/x HTTP/1.1",
                200,
                "-",
                FIREFOX,
            ),
            line(
                "66.249.66.1",
                "10/Mar/2024:10:00:06 +0000",
                "GET / HTTP/1.1",
                200,
                "-",
                "Googlebot/2.1 (+http://www.google.com/bot.html)",
            ),
            "not a log line".to_owned(),
            line(
                "193.99.144.80",
                "10/Mar/2024:10:00:07 +0000",
                "GET / HTTP/1.1",
                200,
                "-",
                FIREFOX,
            ),
        ];
        let events: Vec<NewEvent> = lines
            .iter()
            .enumerate()
            .filter_map(|(i, l)| logs.line(l, i as u64 + 1, "access.log"))
            .collect();
        assert_eq!(events.len(), 2);
        let first = &events[0];
        assert_eq!(first.timestamp_ms, 1_710_064_800_000);
        assert_eq!(first.pathname, "/blog");
        assert_eq!(first.hostname, "logs.test");
        assert_eq!(first.session.utm.source.as_deref(), Some("news"));
        assert_eq!(
            first.session.referrer.as_ref().map(|r| r.source.as_str()),
            Some("Google")
        );
        assert_eq!(first.session.browser.as_deref(), Some("Firefox"));
        assert_eq!(first.session.country.as_deref(), Some("US"));
        assert_eq!(events[1].session.country.as_deref(), Some("DE"));
        assert!(
            !format!("{first:?}").contains("8.8.8.8"),
            "the address is not kept"
        );
        let counts = logs.counts();
        assert_eq!(counts.lines, 9);
        assert_eq!(counts.imported, 2);
        assert_eq!(counts.unparsed, 1);
        assert_eq!(counts.first_errors[0].0, 8);
        assert_eq!(counts.skipped[&SkipReason::Static], 1);
        assert_eq!(counts.skipped[&SkipReason::Method], 1);
        assert_eq!(counts.skipped[&SkipReason::Redirect], 1);
        assert_eq!(counts.skipped[&SkipReason::Error], 1);
        assert_eq!(counts.skipped[&SkipReason::Excluded], 1);
        assert_eq!(counts.skipped[&SkipReason::Bot], 1);
        assert_eq!(counts.skipped_total(), 6);
        assert_eq!(logs.take_new_visitors().len(), 2);
        assert!(logs.take_new_visitors().is_empty());
    }

    #[test]
    fn a_visitor_keeps_one_id_within_a_log_day_and_not_across_days() {
        let mut logs = importer(LogFilter::default());
        let mut visitor = |time: &str, ip: &str| {
            logs.line(&line(ip, time, "GET / HTTP/1.1", 200, "-", FIREFOX), 1, "f")
                .unwrap()
                .visitor
        };
        let morning = visitor("10/Mar/2024:08:00:00 +0000", "8.8.8.8");
        let evening = visitor("10/Mar/2024:20:00:00 +0000", "8.8.8.8");
        let other = visitor("10/Mar/2024:20:00:00 +0000", "8.8.4.4");
        let next_day = visitor("11/Mar/2024:08:00:00 +0000", "8.8.8.8");
        assert_eq!(morning, evening);
        assert_ne!(morning, other);
        assert_ne!(morning, next_day);
        // Another import salts afresh: the same person gets another id.
        let mut again = importer(LogFilter::default());
        let replay = again
            .line(
                &line(
                    "8.8.8.8",
                    "10/Mar/2024:08:00:00 +0000",
                    "GET / HTTP/1.1",
                    200,
                    "-",
                    FIREFOX,
                ),
                1,
                "f",
            )
            .unwrap();
        assert_ne!(replay.visitor, morning);
    }
}
