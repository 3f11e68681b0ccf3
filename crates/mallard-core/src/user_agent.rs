//! User agents: browser, operating system, device hints and bot detection.
//!
//! Parsing uses `woothee` for the browser and operating system and `isbot` (plus
//! woothee's crawler category) to recognise bots. Names are normalised to what a
//! dashboard shows (`macOS 10.15`, `Windows 10`, `Samsung Internet 23`), browser
//! versions are reduced to the major version and operating system versions to at
//! most two components. The raw user agent is never stored.
//!
//! A user agent can be megabytes of junk; only its first [`MAX_UA_BYTES`] bytes
//! are looked at, and every returned string is at most [`MAX_FIELD_CHARS`]
//! characters. [`UserAgentClassifier`] puts a bounded cache in front of the
//! parser, since the same few hundred user agents make up most traffic.

use std::sync::{Arc, LazyLock};

use isbot::Bots;
use quick_cache::sync::Cache;
use woothee::parser::Parser;

use crate::text::{truncate_bytes, truncate_chars};

/// The most of a user agent that is parsed, in bytes.
pub const MAX_UA_BYTES: usize = 1024;

/// The longest string kept in a [`UserAgentInfo`] field, in characters.
pub const MAX_FIELD_CHARS: usize = 64;

/// The number of user agents a default [`UserAgentClassifier`] caches.
pub const DEFAULT_CACHE_CAPACITY: usize = 10_000;

/// The largest cache capacity honoured; larger requests are lowered to it.
pub const MAX_CACHE_CAPACITY: usize = 1_000_000;

/// woothee's value for fields it could not determine.
const WOOTHEE_UNKNOWN: &str = "UNKNOWN";

/// The compiled bot patterns of `isbot`, built once on first use.
static BOTS: LazyLock<Bots> = LazyLock::new(Bots::default);

/// What a user agent says about the client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserAgentInfo {
    /// Browser family, for example `Chrome`, `Safari` or `Samsung Internet`.
    pub browser: Option<String>,
    /// Browser major version, for example `120`.
    pub browser_version: Option<String>,
    /// Operating system family: `Windows`, `macOS`, `iOS`, `Android`, `Linux`,
    /// `ChromeOS`, or another name woothee knows.
    pub os: Option<String>,
    /// Operating system version, at most two components, for example `10.15` or `17.1`.
    pub os_version: Option<String>,
    /// Whether the client is a crawler, a script or a headless browser, or sent no
    /// user agent at all.
    pub is_bot: bool,
    /// Whether the client is a phone. Tablets are not phones: at most one of
    /// `is_mobile` and `is_tablet` is set.
    pub is_mobile: bool,
    /// Whether the client is a tablet (iPad, Android without `Mobile`, or a
    /// `Tablet` token).
    pub is_tablet: bool,
}

/// Parses a user agent. Never fails: unknown parts are `None`.
///
/// An empty or blank user agent is a bot, since every browser sends one.
pub fn parse_user_agent(ua: &str) -> UserAgentInfo {
    let ua = truncate_bytes(ua, MAX_UA_BYTES).trim();
    if ua.is_empty() {
        return UserAgentInfo {
            is_bot: true,
            ..UserAgentInfo::default()
        };
    }
    let parsed = Parser::new().parse(ua);
    let (name, category, os_name, os_version, version) = match &parsed {
        Some(r) => (r.name, r.category, r.os, r.os_version.as_ref(), r.version),
        None => ("", "", "", "", ""),
    };

    let is_bot = category == "crawler" || BOTS.is_bot(ua);
    let (os, os_version) = normalize_os(os_name, os_version);
    let is_android = os.as_deref() == Some("Android") || ua.contains("Android");
    let is_tablet = os_name == "iPad"
        || (is_android && !ua.contains("Mobile"))
        || (ua.contains("Tablet") && !ua.contains("Tablet PC"));
    let is_mobile =
        !is_tablet && (matches!(category, "smartphone" | "mobilephone") || ua.contains("Mobi"));

    // woothee reports HTTP client libraries with the library's name as the
    // version (`HTTP Library`, `curl`); the library's name is the useful part.
    let (browser, browser_version) = if name == "HTTP Library" {
        (normalize_browser(version), None)
    } else {
        (normalize_browser(name), major_version(version))
    };

    UserAgentInfo {
        browser,
        browser_version,
        os,
        os_version,
        is_bot,
        is_mobile,
        is_tablet,
    }
}

/// A thread-safe, bounded cache in front of [`parse_user_agent`].
///
/// Cloning the returned `Arc` is all a cache hit costs. Entries are keyed by the
/// first [`MAX_UA_BYTES`] bytes of the user agent, so junk cannot make entries
/// large, and eviction keeps the cache within its capacity.
pub struct UserAgentClassifier {
    /// Parsed user agents by their (truncated) text.
    cache: Cache<String, Arc<UserAgentInfo>>,
}

impl UserAgentClassifier {
    /// Creates a classifier caching up to about `capacity` user agents; the
    /// capacity is raised to at least 1 and lowered to at most [`MAX_CACHE_CAPACITY`].
    pub fn new(capacity: usize) -> Self {
        Self {
            cache: Cache::new(capacity.clamp(1, MAX_CACHE_CAPACITY)),
        }
    }

    /// Parses `ua`, or returns the cached result of an earlier parse.
    pub fn classify(&self, ua: &str) -> Arc<UserAgentInfo> {
        let key = truncate_bytes(ua, MAX_UA_BYTES);
        if let Some(hit) = self.cache.get(key) {
            return hit;
        }
        let info = Arc::new(parse_user_agent(key));
        self.cache.insert(key.to_owned(), Arc::clone(&info));
        info
    }
}

impl Default for UserAgentClassifier {
    fn default() -> Self {
        Self::new(DEFAULT_CACHE_CAPACITY)
    }
}

impl std::fmt::Debug for UserAgentClassifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserAgentClassifier")
            .field("cached", &self.cache.len())
            .field("capacity", &self.cache.capacity())
            .finish()
    }
}

/// A field value from woothee, or `None` when woothee did not know it.
fn known(value: &str) -> Option<&str> {
    let value = value.trim();
    if value.is_empty() || value == WOOTHEE_UNKNOWN {
        None
    } else {
        Some(value)
    }
}

/// An owned copy of `value`, cut to [`MAX_FIELD_CHARS`] characters.
fn field(value: &str) -> String {
    truncate_chars(value, MAX_FIELD_CHARS).to_owned()
}

/// The dashboard name of a woothee browser name.
fn normalize_browser(name: &str) -> Option<String> {
    let name = known(name)?;
    Some(field(match name {
        "SamsungBrowser" => "Samsung Internet",
        "Webview" => "WebView",
        other => other,
    }))
}

/// The major version of a browser version: `120.0.6099.71` becomes `120`.
fn major_version(version: &str) -> Option<String> {
    let version = known(version)?;
    let major = version.split('.').next().unwrap_or(version).trim();
    if major.is_empty() {
        None
    } else {
        Some(field(major))
    }
}

/// At most the first two components of a version: `10.15.7` becomes `10.15`.
fn short_version(version: &str) -> Option<String> {
    let version = known(version)?;
    let mut parts = version.split('.');
    let major = parts.next().unwrap_or_default();
    if major.is_empty() {
        return None;
    }
    let short = match parts.next() {
        Some(minor) if !minor.is_empty() => format!("{major}.{minor}"),
        _ => major.to_owned(),
    };
    Some(field(&short))
}

/// The dashboard name and version of a woothee operating system.
fn normalize_os(name: &str, version: &str) -> (Option<String>, Option<String>) {
    let Some(name) = known(name) else {
        return (None, None);
    };
    match name {
        "Windows UNKNOWN Ver" => (Some(field("Windows")), None),
        "Windows Phone OS" => (Some(field("Windows Phone")), short_version(version)),
        "Windows CE" => (Some(field("Windows CE")), None),
        "Windows 10" | "Windows 8.1" | "Windows 8" | "Windows 7" | "Windows Vista"
        | "Windows XP" | "Windows 2000" | "Windows NT 4.0" | "Windows Me" | "Windows 98"
        | "Windows 95" => (
            Some(field("Windows")),
            name.strip_prefix("Windows ").map(field),
        ),
        "Mac OSX" => (Some(field("macOS")), short_version(version)),
        "Mac OS Classic" => (Some(field("Mac OS")), None),
        "iPhone" | "iPad" | "iPod" | "iOS" => (Some(field("iOS")), short_version(version)),
        "Android" => (Some(field("Android")), short_version(version)),
        "Linux" | "ChromeOS" | "BSD" => (Some(field(name)), None),
        other => (Some(field(other)), short_version(version)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A real user agent and what it must parse to:
    /// browser, version, os, os version, bot, mobile, tablet.
    type Case = (
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
        bool,
        bool,
        bool,
    );

    const CASES: &[Case] = &[
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/120.0.6099.71 Safari/537.36",
            Some("Chrome"),
            Some("120"),
            Some("Windows"),
            Some("10"),
            false,
            false,
            false,
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like \
             Gecko) Version/17.1 Safari/605.1.15",
            Some("Safari"),
            Some("17"),
            Some("macOS"),
            Some("10.15"),
            false,
            false,
            false,
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 \
             (KHTML, like Gecko) Version/17.1.2 Mobile/15E148 Safari/604.1",
            Some("Safari"),
            Some("17"),
            Some("iOS"),
            Some("17.1"),
            false,
            true,
            false,
        ),
        (
            "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like \
             Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
            Some("Safari"),
            Some("16"),
            Some("iOS"),
            Some("16.6"),
            false,
            false,
            true,
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
            Some("Firefox"),
            Some("121"),
            Some("Linux"),
            None,
            false,
            false,
            false,
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
            Some("Edge"),
            Some("120"),
            Some("Windows"),
            Some("10"),
            false,
            false,
            false,
        ),
        (
            "Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) \
             SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
            Some("Samsung Internet"),
            Some("23"),
            Some("Android"),
            Some("13"),
            false,
            true,
            false,
        ),
        (
            "Mozilla/5.0 (Linux; Android 12; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/120.0.6099.43 Safari/537.36",
            Some("Chrome"),
            Some("120"),
            Some("Android"),
            Some("12"),
            false,
            false,
            true,
        ),
        (
            "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/120.0.0.0 Safari/537.36",
            Some("Chrome"),
            Some("120"),
            Some("ChromeOS"),
            None,
            false,
            false,
            false,
        ),
        (
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            Some("Googlebot"),
            None,
            None,
            None,
            true,
            false,
            false,
        ),
        (
            "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
            Some("bingbot"),
            None,
            None,
            None,
            true,
            false,
            false,
        ),
        (
            "curl/8.0.1",
            Some("curl"),
            None,
            None,
            None,
            true,
            false,
            false,
        ),
        (
            "python-requests/2.31.0",
            None,
            None,
            None,
            None,
            true,
            false,
            false,
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
             HeadlessChrome/120.0.6099.109 Safari/537.36",
            Some("Chrome"),
            Some("120"),
            Some("Linux"),
            None,
            true,
            false,
            false,
        ),
        (
            "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
            Some("facebook"),
            None,
            None,
            None,
            true,
            false,
            false,
        ),
        ("", None, None, None, None, true, false, false),
        ("   ", None, None, None, None, true, false, false),
    ];

    #[test]
    fn real_user_agents_parse_as_expected() {
        for &(ua, browser, version, os, os_version, is_bot, is_mobile, is_tablet) in CASES {
            let info = parse_user_agent(ua);
            let expected = UserAgentInfo {
                browser: browser.map(str::to_owned),
                browser_version: version.map(str::to_owned),
                os: os.map(str::to_owned),
                os_version: os_version.map(str::to_owned),
                is_bot,
                is_mobile,
                is_tablet,
            };
            assert_eq!(info, expected, "{ua}");
        }
    }

    #[test]
    fn only_the_first_kilobyte_is_parsed() {
        let chrome = CASES[0].0;
        let junk = format!("{chrome}{}", "é".repeat(1_000_000));
        let info = parse_user_agent(&junk);
        assert_eq!(info.browser.as_deref(), Some("Chrome"));
        assert_eq!(info.os.as_deref(), Some("Windows"));
    }

    #[test]
    fn versions_are_shortened() {
        assert_eq!(major_version("120.0.6099.71").as_deref(), Some("120"));
        assert_eq!(major_version("UNKNOWN"), None);
        assert_eq!(major_version(".5"), None);
        assert_eq!(short_version("10.15.7").as_deref(), Some("10.15"));
        assert_eq!(short_version("14").as_deref(), Some("14"));
        assert_eq!(short_version("14.").as_deref(), Some("14"));
        assert_eq!(short_version(""), None);
        assert_eq!(
            normalize_os("Windows 8.1", "NT 6.3"),
            (Some("Windows".into()), Some("8.1".into()))
        );
        assert_eq!(normalize_os("UNKNOWN", "UNKNOWN"), (None, None));
    }

    #[test]
    fn the_classifier_caches_and_agrees_with_the_parser() {
        let classifier = UserAgentClassifier::new(2);
        for &(ua, ..) in CASES {
            let first = classifier.classify(ua);
            assert_eq!(*first, parse_user_agent(ua));
            assert_eq!(*classifier.classify(ua), *first);
        }
        let default = UserAgentClassifier::default();
        let a = default.classify(CASES[0].0);
        let b = default.classify(CASES[0].0);
        assert!(Arc::ptr_eq(&a, &b));
        assert!(format!("{default:?}").contains("UserAgentClassifier"));
        // A zero capacity is raised rather than refused.
        let tiny = UserAgentClassifier::new(0);
        assert_eq!(*tiny.classify("curl/8.0"), parse_user_agent("curl/8.0"));
    }

    #[test]
    fn the_classifier_is_shareable_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<UserAgentClassifier>();
        let classifier = Arc::new(UserAgentClassifier::default());
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let classifier = Arc::clone(&classifier);
                std::thread::spawn(move || {
                    let (ua, ..) = CASES[i % CASES.len()];
                    *classifier.classify(ua) == parse_user_agent(ua)
                })
            })
            .collect();
        for handle in handles {
            assert!(handle.join().unwrap());
        }
    }

    fn check_invariants(info: &UserAgentInfo) -> Result<(), TestCaseError> {
        prop_assert!(!(info.is_mobile && info.is_tablet));
        for value in [
            &info.browser,
            &info.browser_version,
            &info.os,
            &info.os_version,
        ]
        .into_iter()
        .flatten()
        {
            prop_assert!(!value.is_empty());
            prop_assert!(value.chars().count() <= MAX_FIELD_CHARS);
            prop_assert_ne!(value.as_str(), WOOTHEE_UNKNOWN);
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_strings(ua in any::<String>()) {
            let info = parse_user_agent(&ua);
            check_invariants(&info)?;
            if ua.trim().is_empty() {
                prop_assert!(info.is_bot);
            }
        }

        #[test]
        fn never_panics_on_user_agent_shaped_strings(
            ua in "Mozilla/5\\.0 \\((Windows NT [0-9.]{0,5}|Macintosh; Intel Mac OS X [0-9_]{0,8}|\
                   Linux; Android [0-9.]{0,5}[^)]{0,10}|iPhone; CPU iPhone OS [0-9_]{0,8} like Mac OS X|\
                   X11; CrOS [^)]{0,10}|compatible; [a-zA-Z]{0,10}bot/[0-9.]{0,4})\\) \
                   (AppleWebKit/[0-9.]{0,8} \\(KHTML, like Gecko\\) )?\
                   ((Chrome|Version|Firefox|Edg|OPR|SamsungBrowser|CriOS|FxiOS)/[0-9.]{0,12} ?){0,3}\
                   (Mobile ?)?(Safari/[0-9.]{0,6})?.{0,10}",
        ) {
            check_invariants(&parse_user_agent(&ua))?;
        }
    }
}
