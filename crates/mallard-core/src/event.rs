//! The typed, validated and enriched event that the store persists.

use std::fmt;

use crate::device::DeviceClass;
use crate::error::CoreError;
use crate::page::Utm;
use crate::referrer::Referrer;
use crate::revenue::Revenue;
use crate::site::SiteId;
use crate::visitor::VisitorId;

/// The longest event name accepted, in characters.
pub const MAX_EVENT_NAME_LEN: usize = 120;

/// The name of an event: `pageview` or a custom goal such as `signup`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventName(String);

impl EventName {
    /// The name of page views, the event every tracker sends on page load.
    pub const PAGEVIEW: &'static str = "pageview";

    /// Validates an event name: non-empty after trimming, at most 120 characters,
    /// no control characters. Mallard's tracker sends `pageview` for page views;
    /// collector SDKs may send other spellings of it, which callers normalise first.
    pub fn parse(raw: &str) -> Result<Self, CoreError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(CoreError::InvalidEventName(
                "event name must not be empty".into(),
            ));
        }
        if trimmed.chars().count() > MAX_EVENT_NAME_LEN {
            return Err(CoreError::InvalidEventName(format!(
                "event name must be at most {MAX_EVENT_NAME_LEN} characters"
            )));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(CoreError::InvalidEventName(
                "event name must not contain control characters".into(),
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The event name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is a page view rather than a custom event.
    pub fn is_pageview(&self) -> bool {
        self.0 == Self::PAGEVIEW
    }
}

impl fmt::Display for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Attributes that describe a visit rather than a single event.
///
/// They are taken from the first event of a visit (where the visitor came from,
/// with which browser, on which device) and stored once per visit, which keeps an
/// event row down to a handful of integers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionAttributes {
    /// The external referrer, if the visit came from another site.
    pub referrer: Option<Referrer>,
    /// UTM campaign parameters of the landing URL.
    pub utm: Utm,
    /// Browser family, for example `Chrome`.
    pub browser: Option<String>,
    /// Browser major version, for example `120`.
    pub browser_version: Option<String>,
    /// Operating system family, for example `macOS`.
    pub os: Option<String>,
    /// Operating system version, for example `10.15`.
    pub os_version: Option<String>,
    /// Device class, from the screen width or else the user agent.
    pub device: DeviceClass,
    /// Screen width in CSS pixels, as reported by the tracker.
    pub screen_width: Option<u16>,
    /// ISO 3166-1 alpha-2 country code, when a geo lookup was possible.
    pub country: Option<String>,
    /// The region (first subdivision: state, province) by its English name,
    /// when a city database placed the address.
    pub region: Option<String>,
    /// The city by its English name, when a city database placed the
    /// address.
    pub city: Option<String>,
    /// Whether the user agent is a bot (kept only when bot filtering is off).
    pub is_bot: bool,
    /// Whether the request came from a configured internal IP range.
    pub is_internal: bool,
}

/// A validated, enriched event on its way to the store.
///
/// It holds no IP address and no raw user agent: those are consumed in memory to
/// compute [`VisitorId`] and the [`SessionAttributes`] and never leave the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// The site the event belongs to.
    pub site: SiteId,
    /// When the event happened, in milliseconds since the Unix epoch (UTC).
    pub timestamp_ms: i64,
    /// The anonymous, daily-rotating visitor id.
    pub visitor: VisitorId,
    /// `pageview` or a custom event name.
    pub name: EventName,
    /// The host name of the page, for example `example.com`.
    pub hostname: String,
    /// The path of the page without query string or fragment, for example `/pricing`.
    pub pathname: String,
    /// Custom properties as key/value pairs, in the order they were sent.
    pub props: Vec<(String, String)>,
    /// Revenue attached to a custom event, if any.
    pub revenue: Option<Revenue>,
    /// Visit-level attributes; the store keeps those of a visit's first event.
    pub session: SessionAttributes,
    /// What the event collector family adds (dedupe key, consent, workspace);
    /// `None` for Mallard-family events.
    pub collector: Option<Box<CollectorEventData>>,
}

/// Per-event data that only collector-family events carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectorEventData {
    /// A 16-byte digest of the site and the SDK's event `id`: an event whose key
    /// was already stored is accepted but stored once.
    pub dedupe_key: [u8; 16],
    /// The opaque consent token sent in `X-Consent`, if any.
    pub consent: Option<String>,
    /// The workspace whose api key authenticated the event, for usage counting.
    pub workspace: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names_are_trimmed_and_bounded() {
        assert_eq!(EventName::parse("  signup ").unwrap().as_str(), "signup");
        assert!(EventName::parse("pageview").unwrap().is_pageview());
        assert!(EventName::parse("   ").is_err());
        assert!(EventName::parse(&"x".repeat(121)).is_err());
        assert!(EventName::parse("a\u{0}b").is_err());
    }
}
