//! A feed page back into events: each visit's events with their own times,
//! the visit's attributes and its visitor id, so that the writer forms the
//! same visits as the remote did. What a remote sends is checked as any
//! input is: an event that does not make sense (a name or path that is not
//! one, a time outside the plausible window, an unreadable visitor id) is
//! skipped and counted, never stored half-way.

use std::collections::BTreeMap;

use mallard_core::referrer::Referrer;
use mallard_core::revenue::{Currency, Revenue};
use mallard_core::{DeviceClass, EventName, NewEvent, SessionAttributes, SiteId, Utm, VisitorId};

use crate::routes::feed::{FeedEventBody, FeedVisitBody};

/// The earliest event time taken: 2000-01-01.
const EARLIEST_MS: i64 = 946_684_800_000;
/// How far past this machine's clock an event may be (clocks differ).
const FUTURE_SLACK_MS: i64 = 24 * 60 * 60 * 1000;
/// The longest text taken in any field.
const MAX_TEXT: usize = 2_048;

/// Why events of a page were skipped, with counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Skipped(pub BTreeMap<&'static str, u64>);

impl Skipped {
    fn note(&mut self, reason: &'static str, count: usize) {
        *self.0.entry(reason).or_default() += count as u64;
    }

    /// Adds `other`'s counts.
    pub fn add(&mut self, other: &Skipped) {
        for (reason, count) in &other.0 {
            *self.0.entry(reason).or_default() += count;
        }
    }

    /// How many were skipped in all.
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }
}

/// The events of one page, ready for the writer.
#[derive(Debug, Default)]
pub struct FeedEvents {
    /// In the page's order (visit by visit, each oldest first).
    pub events: Vec<NewEvent>,
    /// The visits they belong to.
    pub visits: u64,
    /// Their visitor ids (for the import's undo).
    pub visitors: Vec<u64>,
    /// Their earliest and latest time.
    pub span: Option<(i64, i64)>,
    /// What was skipped.
    pub skipped: Skipped,
}

impl FeedEvents {
    /// The events of a page's `visits` for local site `site`, as of `now_ms`.
    pub fn of(site: &SiteId, visits: &[FeedVisitBody], now_ms: i64) -> Self {
        let mut out = Self::default();
        for visit in visits {
            let Some(visitor) = u64::from_str_radix(&visit.visitor, 16).ok() else {
                out.skipped
                    .note("unreadable visitor id", visit.events.len());
                continue;
            };
            let session = session_of(visit);
            let before = out.events.len();
            for event in &visit.events {
                match event_of(site, event, visitor, &session, now_ms) {
                    Ok(new) => {
                        let ts = new.timestamp_ms;
                        out.span = Some(out.span.map_or((ts, ts), |(a, b)| (a.min(ts), b.max(ts))));
                        out.events.push(new);
                    }
                    Err(reason) => out.skipped.note(reason, 1),
                }
            }
            if out.events.len() > before {
                out.visits += 1;
                out.visitors.push(visitor);
            }
        }
        out
    }
}

/// Text longer than any field takes is dropped (`None`).
fn text(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .filter(|v| !v.is_empty() && v.len() <= MAX_TEXT)
        .map(str::to_owned)
}

fn session_of(visit: &FeedVisitBody) -> SessionAttributes {
    SessionAttributes {
        referrer: text(&visit.source).map(|source| Referrer {
            source,
            url: text(&visit.referrer),
        }),
        utm: Utm {
            source: text(&visit.utm_source),
            medium: text(&visit.utm_medium),
            campaign: text(&visit.utm_campaign),
            term: text(&visit.utm_term),
            content: text(&visit.utm_content),
        },
        browser: text(&visit.browser),
        browser_version: text(&visit.browser_version),
        os: text(&visit.os),
        os_version: text(&visit.os_version),
        device: DeviceClass::ALL
            .into_iter()
            .find(|class| class.as_str().eq_ignore_ascii_case(&visit.device))
            .unwrap_or(DeviceClass::Unknown),
        screen_width: visit.screen_width.and_then(|w| u16::try_from(w).ok()),
        country: text(&visit.country).filter(|c| c.len() == 2),
        region: text(&visit.region),
        city: text(&visit.city),
        is_bot: visit.is_bot,
        is_internal: visit.is_internal,
    }
}

fn event_of(
    site: &SiteId,
    event: &FeedEventBody,
    visitor: u64,
    session: &SessionAttributes,
    now_ms: i64,
) -> Result<NewEvent, &'static str> {
    if !(EARLIEST_MS..=now_ms + FUTURE_SLACK_MS).contains(&event.ts) {
        return Err("time out of range");
    }
    let name = EventName::parse(&event.name).map_err(|_| "invalid event name")?;
    if event.hostname.len() > MAX_TEXT
        || event.pathname.len() > MAX_TEXT
        || !event.pathname.starts_with('/')
    {
        return Err("invalid page");
    }
    if event
        .props
        .iter()
        .any(|(key, value)| key.is_empty() || key.len() > MAX_TEXT || value.len() > MAX_TEXT)
    {
        return Err("invalid property");
    }
    let revenue = match (event.revenue_micros, &event.currency) {
        (Some(amount_micros), Some(currency)) => Some(Revenue {
            amount_micros,
            currency: Currency::parse(currency).map_err(|_| "invalid revenue")?,
        }),
        (None, None) => None,
        _ => return Err("invalid revenue"),
    };
    Ok(NewEvent {
        site: site.clone(),
        timestamp_ms: event.ts,
        visitor: VisitorId(visitor),
        name,
        hostname: event.hostname.clone(),
        pathname: event.pathname.clone(),
        props: event
            .props
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        revenue,
        session: session.clone(),
        collector: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::feed::FeedBody;

    fn visit(events: Vec<FeedEventBody>) -> FeedVisitBody {
        FeedVisitBody {
            id: 7,
            visitor: "00001a2b3c4d5e6f".into(),
            source: Some("Google".into()),
            referrer: Some("www.google.com".into()),
            utm_source: None,
            utm_medium: None,
            utm_campaign: Some("spring".into()),
            utm_term: None,
            utm_content: None,
            browser: Some("Firefox".into()),
            browser_version: Some("121".into()),
            os: Some("Linux".into()),
            os_version: None,
            device: "Desktop".into(),
            screen_width: Some(1920),
            country: Some("DE".into()),
            region: None,
            city: None,
            is_bot: false,
            is_internal: false,
            events,
        }
    }

    fn event(ts: i64, name: &str, path: &str) -> FeedEventBody {
        FeedEventBody {
            origin_id: "7-0".into(),
            ts,
            name: name.into(),
            hostname: "a.test".into(),
            pathname: path.into(),
            props: BTreeMap::from([("plan".into(), "pro".into())]),
            revenue_micros: None,
            currency: None,
        }
    }

    fn page(visits: Vec<FeedVisitBody>) -> FeedBody {
        FeedBody {
            site_id: "a.test".into(),
            visits,
            next: "7".into(),
            more: false,
            waiting_for_open_visit: false,
        }
    }

    const NOW: i64 = 1_750_000_000_000;

    #[test]
    fn a_visit_comes_back_as_its_events_with_its_attributes() {
        let mut paid = event(NOW - 50_000, "Purchase", "/checkout");
        paid.revenue_micros = Some(12_500_000);
        paid.currency = Some("eur".into());
        let body = page(vec![visit(vec![
            event(NOW - 60_000, "pageview", "/"),
            paid,
        ])]);
        let site = SiteId::parse("a.test").unwrap();
        let out = FeedEvents::of(&site, &body.visits, NOW);
        assert_eq!(out.events.len(), 2);
        assert_eq!(
            (out.visits, out.visitors.as_slice()),
            (1, &[0x1a2b3c4d5e6f][..])
        );
        assert_eq!(out.span, Some((NOW - 60_000, NOW - 50_000)));
        let first = &out.events[0];
        assert_eq!(first.visitor, VisitorId(0x1a2b3c4d5e6f));
        assert_eq!(first.name.as_str(), "pageview");
        assert_eq!(first.session.device, DeviceClass::Desktop);
        assert_eq!(first.session.utm.campaign.as_deref(), Some("spring"));
        assert_eq!(
            first.session.referrer.as_ref().map(|r| r.source.as_str()),
            Some("Google")
        );
        assert_eq!(first.props, vec![("plan".to_owned(), "pro".to_owned())]);
        let revenue = out.events[1].revenue.as_ref().unwrap();
        assert_eq!(
            (revenue.amount_micros, revenue.currency.as_str()),
            (12_500_000, "EUR")
        );
    }

    #[test]
    fn nonsense_from_a_remote_is_skipped_and_counted() {
        let mut bad_revenue = event(NOW - 1_000, "Buy", "/");
        bad_revenue.revenue_micros = Some(5);
        let mut unreadable = visit(vec![event(NOW - 1_000, "pageview", "/")]);
        unreadable.visitor = "not hex".into();
        let body = page(vec![
            visit(vec![
                event(NOW - 1_000, "pageview", "/fine"),
                event(0, "pageview", "/ancient"),
                event(NOW + 10 * FUTURE_SLACK_MS, "pageview", "/future"),
                event(NOW - 1_000, "", "/"),
                event(NOW - 1_000, "pageview", "no-slash"),
                bad_revenue,
            ]),
            unreadable,
        ]);
        let out = FeedEvents::of(&SiteId::parse("a.test").unwrap(), &body.visits, NOW);
        assert_eq!(out.events.len(), 1);
        assert_eq!(out.skipped.total(), 6);
        assert_eq!(out.skipped.0.get("time out of range"), Some(&2));
        assert_eq!(out.skipped.0.get("unreadable visitor id"), Some(&1));
    }
}
