//! From the rows of a GoatCounter CSV export (format version 2,
//! `mallard_core::goatcounter`) to events: one per row, a page view or a
//! custom event (GoatCounter names an event by its path), at the row's own
//! time, with the browser, system, screen width, country and source
//! GoatCounter recorded. Rows of one GoatCounter session share a visitor
//! id, keyed by a salt that is random and lives only as long as the import
//! (so the ids are new to this install and cannot be tied to GoatCounter's).
//! Rows GoatCounter flagged as bots are skipped while `filter_bots` is on.

use std::net::{IpAddr, Ipv4Addr};

use mallard_core::access_log::LineError;
use mallard_core::access_log::filter::SkipReason;
use mallard_core::goatcounter::{self, Hit, Origin};
use mallard_core::page::parse_page_url;
use mallard_core::referrer::{classify_referrer, source_from_param};
use mallard_core::visitor::visitor_id;
use mallard_core::{
    DailySalt, DeviceClass, EventName, NewEvent, SessionAttributes, SiteId, UserAgentClassifier,
    Utm,
};

use super::log_events::{LineCounts, LineEvents, NewVisitors, random_salt};

/// Turns the rows of one GoatCounter export into events.
#[derive(Debug)]
pub struct GoatCounterEvents {
    site: SiteId,
    filter_bots: bool,
    classifier: UserAgentClassifier,
    salt: DailySalt,
    counts: LineCounts,
    visitors: NewVisitors,
}

impl GoatCounterEvents {
    /// An importer of GoatCounter rows for `site`.
    pub fn new(site: SiteId, filter_bots: bool) -> Self {
        Self {
            site,
            filter_bots,
            classifier: UserAgentClassifier::new(1_000),
            salt: random_salt(),
            counts: LineCounts::default(),
            visitors: NewVisitors::default(),
        }
    }

    fn event(&mut self, hit: &Hit) -> Result<NewEvent, LineError> {
        let site = self.site.as_str();
        let (name, url) = if hit.event {
            (hit.path.as_str(), format!("https://{site}/"))
        } else if hit.path.starts_with('/') {
            (EventName::PAGEVIEW, format!("https://{site}{}", hit.path))
        } else {
            (EventName::PAGEVIEW, format!("https://{site}/{}", hit.path))
        };
        let name =
            EventName::parse(name).map_err(|err| LineError::field("Path", &err.to_string()))?;
        let page =
            parse_page_url(&url).map_err(|err| LineError::field("Path", &err.to_string()))?;
        // As for live traffic: a campaign without a referrer is its source.
        let (referrer, utm) = match &hit.origin {
            Origin::Direct => (None, Utm::default()),
            Origin::Url(url) => (
                classify_referrer(&format!("https://{url}"), &page.hostname),
                Utm::default(),
            ),
            Origin::Named(name) => (source_from_param(name), Utm::default()),
            Origin::Campaign(campaign) => (
                source_from_param(campaign),
                Utm {
                    source: Some(campaign.clone()),
                    ..Utm::default()
                },
            ),
        };
        // An older export still has the user agent: the device class comes
        // from it when the screen width does not tell.
        let agent = hit
            .user_agent
            .as_deref()
            .map(|ua| self.classifier.classify(ua));
        let device = match (hit.screen_width, &agent) {
            (Some(width), _) => DeviceClass::from_screen_width(width),
            (None, Some(agent)) => DeviceClass::classify(None, agent),
            (None, None) => DeviceClass::Unknown,
        };
        let (browser, browser_version) = match &hit.browser {
            // Major versions, as live traffic records them.
            Some((name, version)) => (
                Some(name.clone()),
                version
                    .as_deref()
                    .map(|v| v.split('.').next().unwrap_or(v).to_owned()),
            ),
            None => (None, None),
        };
        let (os, os_version) = hit
            .system
            .clone()
            .map_or((None, None), |(name, version)| (Some(name), version));
        let session = SessionAttributes {
            referrer,
            utm,
            browser,
            browser_version,
            os,
            os_version,
            device,
            screen_width: hit.screen_width,
            country: hit.country.clone(),
            is_bot: hit.bot,
            ..SessionAttributes::default()
        };
        let visitor = visitor_id(
            &self.salt,
            &self.site,
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            &hit.session,
        );
        Ok(NewEvent {
            site: self.site.clone(),
            timestamp_ms: hit.timestamp_ms,
            visitor,
            name,
            hostname: page.hostname,
            pathname: page.pathname,
            props: Default::default(),
            revenue: None,
            session,
            collector: None,
        })
    }
}

impl LineEvents for GoatCounterEvents {
    fn counts(&self) -> &LineCounts {
        &self.counts
    }

    fn take_new_visitors(&mut self) -> Vec<u64> {
        self.visitors.take()
    }

    fn line(&mut self, line: &str, number: u64, file: &str) -> Result<Option<NewEvent>, String> {
        self.counts.lines += 1;
        if number == 1 {
            // The header: a file in another format is refused whole.
            return goatcounter::check_header(line)
                .map(|()| None)
                .map_err(|err| err.to_string());
        }
        if line.trim().is_empty() {
            return Ok(None);
        }
        let hit = match goatcounter::parse_row(line) {
            Ok(hit) => hit,
            Err(err) => {
                self.counts.unreadable(number, file, &err);
                return Ok(None);
            }
        };
        if hit.bot && self.filter_bots {
            self.counts.skip(SkipReason::Bot);
            return Ok(None);
        }
        match self.event(&hit) {
            Ok(event) => {
                self.counts.imported_at(event.timestamp_ms);
                self.visitors.note(&event);
                Ok(Some(event))
            }
            Err(err) => {
                self.counts.unreadable(number, file, &err);
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "2Path,Title,Event,UserAgent,Browser,System,Session,Bot,Referrer,\
                          Referrer scheme,Screen size,Location,FirstVisit,Date";

    fn importer() -> GoatCounterEvents {
        GoatCounterEvents::new(SiteId::parse("goat.test").unwrap(), true)
    }

    #[test]
    fn rows_become_page_views_and_events_of_their_sessions_visitors() {
        let mut rows = importer();
        assert_eq!(rows.line(HEADER, 1, "export.csv"), Ok(None));
        let view = rows
            .line(
                "/blog/post,Post,0,,Firefox 121.0,Linux,s-1,0,news.ycombinator.com/item,h,\"1920,1080,1\",DE,1,2024-03-10T10:00:00Z",
                2,
                "export.csv",
            )
            .unwrap()
            .expect("a page view");
        assert_eq!(view.name.as_str(), EventName::PAGEVIEW);
        assert_eq!(
            (view.hostname.as_str(), view.pathname.as_str()),
            ("goat.test", "/blog/post")
        );
        assert_eq!(view.timestamp_ms, 1_710_064_800_000);
        let session = &view.session;
        assert_eq!(session.browser.as_deref(), Some("Firefox"));
        assert_eq!(session.browser_version.as_deref(), Some("121"));
        assert_eq!(session.os.as_deref(), Some("Linux"));
        assert_eq!(session.device, DeviceClass::Desktop);
        assert_eq!(session.country.as_deref(), Some("DE"));
        assert_eq!(
            session.referrer.as_ref().map(|r| r.source.as_str()),
            Some("Hacker News")
        );
        let event = rows
            .line(
                "signup-click,,1,,Firefox 121.0,Linux,s-1,0,newsletter,c,,DE,0,2024-03-10T10:01:00Z",
                3,
                "export.csv",
            )
            .unwrap()
            .expect("an event");
        assert_eq!(event.name.as_str(), "signup-click");
        assert_eq!(event.visitor, view.visitor, "one session, one visitor");
        assert_eq!(event.session.utm.source.as_deref(), Some("newsletter"));
        let other = rows
            .line("/,,0,,,,s-2,0,,,,,1,2024-03-10T11:00:00Z", 4, "export.csv")
            .unwrap()
            .unwrap();
        assert_ne!(other.visitor, view.visitor);
        assert_eq!(rows.take_new_visitors().len(), 2);
    }

    #[test]
    fn bots_are_skipped_bad_rows_counted_and_another_format_refused() {
        let mut rows = importer();
        rows.line(HEADER, 1, "export.csv").unwrap();
        assert_eq!(
            rows.line("/,,0,,,,s,7,,,,,1,2024-03-10T11:00:00Z", 2, "export.csv"),
            Ok(None)
        );
        assert_eq!(
            rows.line("/,,0,,,,s,0,,,,,1,not a date", 3, "export.csv"),
            Ok(None)
        );
        assert_eq!(rows.line("", 4, "export.csv"), Ok(None));
        let counts = rows.counts();
        assert_eq!(counts.skipped.get(&SkipReason::Bot), Some(&1));
        assert_eq!(counts.unparsed, 1);
        assert_eq!(counts.first_errors[0].0, 3);
        assert_eq!(counts.imported, 0);

        let refused = importer()
            .line("date,visitors,pageviews", 1, "visitors.csv")
            .unwrap_err();
        assert!(refused.contains("2Path,Title,Event"), "{refused}");
    }
}
