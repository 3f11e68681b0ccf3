//! Enrichment: from a validated event and the request's IP and user agent to the
//! [`NewEvent`] the store keeps. The IP and the raw user agent end here.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use mallard_core::device;
use mallard_core::referrer::{classify_referrer, source_from_param};
use mallard_core::user_agent::UserAgentInfo;
use mallard_core::visitor::visitor_id;
use mallard_core::{DailySalt, NewEvent, PageUrl, SessionAttributes, UserAgentClassifier};
use mallard_geo::Location;

use crate::geo_source::GeoSource;

use super::payload::ValidatedEvent;

/// What enrichment decided about an event.
#[derive(Debug)]
pub enum Enriched {
    /// A human's event, ready for the store.
    Event(Box<NewEvent>),
    /// A bot's event, to be dropped and counted.
    Bot,
}

/// Turns validated events into stored events; shared by all requests.
#[derive(Debug)]
pub struct Enricher {
    classifier: UserAgentClassifier,
    filter_bots: AtomicBool,
    geo: Arc<GeoSource>,
}

impl Enricher {
    /// An enricher that drops bots when `filter_bots` is set and places
    /// visitors with the database in force in `geo`.
    pub fn new(filter_bots: bool, geo: Arc<GeoSource>) -> Self {
        Self {
            classifier: UserAgentClassifier::new(10_000),
            filter_bots: AtomicBool::new(filter_bots),
            geo,
        }
    }

    /// Turns the bot filter on or off (a setting changed in the dashboard).
    pub fn set_filter_bots(&self, filter_bots: bool) {
        self.filter_bots.store(filter_bots, Ordering::Relaxed);
    }

    /// Enriches `event`, seen at `now_ms` from `ip` with `user_agent`; `salt` is
    /// the visitor-id salt of the UTC day of `now_ms`.
    pub fn enrich(
        &self,
        event: ValidatedEvent,
        ip: IpAddr,
        user_agent: &str,
        now_ms: i64,
        salt: &DailySalt,
    ) -> Enriched {
        let agent = self.classifier.classify(user_agent);
        if self.filter_bots.load(Ordering::Relaxed) && agent.is_bot {
            return Enriched::Bot;
        }
        let mut page = event.page;
        let session = session_attributes(
            &mut page,
            event.referrer.as_deref(),
            &agent,
            event.screen_width,
            self.geo.locate(ip),
        );
        let visitor = visitor_id(salt, &event.site, ip, user_agent);
        Enriched::Event(Box::new(NewEvent {
            site: event.site,
            timestamp_ms: now_ms,
            visitor,
            name: event.name,
            hostname: page.hostname,
            pathname: page.pathname,
            props: event.props,
            revenue: event.revenue,
            session,
            collector: None,
        }))
    }
}

/// The visit attributes of a page view of `page` (whose UTM fields it
/// takes) coming from `referrer`, seen with `agent` on a screen
/// `screen_width` pixels wide, from `location`: one rule for live events
/// and imported log lines alike. The source is the referrer's, else the
/// page's `ref` (or `source`) parameter, else its `utm_source`.
pub fn session_attributes(
    page: &mut PageUrl,
    referrer: Option<&str>,
    agent: &UserAgentInfo,
    screen_width: Option<u16>,
    location: Location,
) -> SessionAttributes {
    let referrer = referrer
        .and_then(|raw| classify_referrer(raw, &page.hostname))
        .or_else(|| page.ref_param.as_deref().and_then(source_from_param))
        .or_else(|| page.utm.source.as_deref().and_then(source_from_param));
    SessionAttributes {
        referrer,
        utm: std::mem::take(&mut page.utm),
        browser: agent.browser.clone(),
        browser_version: agent.browser_version.clone(),
        os: agent.os.clone(),
        os_version: agent.os_version.clone(),
        device: device::classify(screen_width, agent),
        screen_width,
        country: location.country.map(|code| code.as_str().to_owned()),
        region: location.region,
        city: location.city,
        is_bot: agent.is_bot,
        is_internal: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::payload::parse_json;

    const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
        (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";

    fn enricher(filter_bots: bool) -> Enricher {
        Enricher::new(filter_bots, Arc::new(GeoSource::open(None).unwrap()))
    }

    fn event(body: &str) -> ValidatedEvent {
        parse_json(body.as_bytes()).unwrap().validate().unwrap()
    }

    fn enrich(enricher: &Enricher, body: &str, ua: &str, ip: &str) -> Enriched {
        enricher.enrich(
            event(body),
            ip.parse().unwrap(),
            ua,
            1_700_000_000_000,
            &DailySalt::from_bytes([7; 32]),
        )
    }

    #[test]
    fn a_browser_event_is_enriched_and_keeps_no_ip() {
        let enricher = enricher(true);
        let body = r#"{"d":"a.com","n":"pageview","u":"https://a.com/x?utm_campaign=launch","r":"https://www.google.com/","w":1920}"#;
        let Enriched::Event(stored) = enrich(&enricher, body, CHROME, "203.0.113.9") else {
            panic!("a browser is not a bot")
        };
        assert_eq!(stored.pathname, "/x");
        assert_eq!(stored.session.browser.as_deref(), Some("Chrome"));
        assert_eq!(
            stored.session.referrer.as_ref().map(|r| r.source.as_str()),
            Some("Google")
        );
        assert_eq!(stored.session.utm.campaign.as_deref(), Some("launch"));
        assert!(!format!("{stored:?}").contains("203.0.113.9"));
    }

    #[test]
    fn bots_are_dropped_only_when_filtering_is_on() {
        let body = r#"{"d":"a.com","n":"pageview","u":"https://a.com/"}"#;
        let bot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
        let filtering = enricher(true);
        assert!(matches!(
            enrich(&filtering, body, bot, "1.2.3.4"),
            Enriched::Bot
        ));
        let open = enricher(false);
        assert!(matches!(
            enrich(&open, body, bot, "1.2.3.4"),
            Enriched::Event(_)
        ));
    }

    #[test]
    fn the_visitor_id_depends_on_ip_and_user_agent() {
        let enricher = enricher(true);
        let body = r#"{"d":"a.com","n":"pageview","u":"https://a.com/"}"#;
        let visitor = |ua: &str, ip: &str| match enrich(&enricher, body, ua, ip) {
            Enriched::Event(e) => e.visitor,
            Enriched::Bot => panic!("not a bot"),
        };
        assert_eq!(visitor(CHROME, "1.1.1.1"), visitor(CHROME, "1.1.1.1"));
        assert_ne!(visitor(CHROME, "1.1.1.1"), visitor(CHROME, "1.1.1.2"));
    }

    #[test]
    fn the_country_comes_from_the_address_and_private_addresses_stay_unknown() {
        let enricher = enricher(true);
        let body = r#"{"d":"a.com","n":"pageview","u":"https://a.com/"}"#;
        let country = |ip: &str| match enrich(&enricher, body, CHROME, ip) {
            Enriched::Event(e) => e.session.country,
            Enriched::Bot => panic!("not a bot"),
        };
        assert_eq!(country("8.8.8.8").as_deref(), Some("US"));
        assert_eq!(country("193.99.144.80").as_deref(), Some("DE"));
        assert_eq!(country("192.168.1.20"), None);
        assert_eq!(country("::1"), None);
    }
}
