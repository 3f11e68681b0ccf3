//! Page URLs: host name, path and campaign parameters.
//!
//! The tracker sends `location.href`; this module splits it into the parts the
//! store keeps. The rules, which the property tests check on arbitrary input:
//!
//! - Only absolute `http` and `https` URLs of at most [`MAX_URL_LEN`] bytes are
//!   accepted; ports, `localhost` and IP hosts are fine (local development).
//! - [`PageUrl::hostname`] is never empty, has no upper-case ASCII letters, no
//!   port, no trailing dot and does not start with `www.`.
//! - [`PageUrl::pathname`] always starts with `/` and is at most
//!   [`MAX_PATHNAME_LEN`] bytes, hash route included. The query string is never
//!   part of it. A fragment is kept only when it is a hash route (`#/settings`
//!   or `#!/settings`), without the route's own query string.
//! - Campaign values are trimmed, at most [`MAX_PARAM_LEN`] characters, and
//!   `None` rather than empty.

use url::Url;

use crate::error::CoreError;
use crate::text::{clean_value, truncate_bytes};

/// The longest page URL accepted, in bytes.
pub const MAX_URL_LEN: usize = 8192;

/// The longest pathname kept, in bytes; longer ones are cut.
pub const MAX_PATHNAME_LEN: usize = 2048;

/// The longest UTM or `ref` value kept, in characters; longer ones are cut.
pub const MAX_PARAM_LEN: usize = 256;

/// The UTM campaign parameters of a landing page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Utm {
    /// `utm_source`, for example `newsletter`.
    pub source: Option<String>,
    /// `utm_medium`, for example `email`.
    pub medium: Option<String>,
    /// `utm_campaign`, for example `spring-sale`.
    pub campaign: Option<String>,
    /// `utm_term`, the paid search keyword.
    pub term: Option<String>,
    /// `utm_content`, to tell apart links in the same campaign.
    pub content: Option<String>,
}

impl Utm {
    /// Whether no UTM parameter is set.
    pub fn is_empty(&self) -> bool {
        self.source.is_none()
            && self.medium.is_none()
            && self.campaign.is_none()
            && self.term.is_none()
            && self.content.is_none()
    }
}

/// A page URL split into the parts the store keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageUrl {
    /// The host name, lower case, without port and without a leading `www.`.
    pub hostname: String,
    /// The path, percent-encoded, starting with `/`, plus a hash route if any.
    pub pathname: String,
    /// The UTM parameters of the query string.
    pub utm: Utm,
    /// The `ref` parameter of the query string, or else the `source` parameter.
    pub ref_param: Option<String>,
}

/// Parses a page URL as sent by the tracker.
///
/// See the module documentation for the exact rules. Errors are
/// [`CoreError::InvalidUrl`] with a message that can be shown to the API client.
pub fn parse_page_url(raw: &str) -> Result<PageUrl, CoreError> {
    if raw.len() > MAX_URL_LEN {
        return Err(CoreError::InvalidUrl(format!(
            "url must be at most {MAX_URL_LEN} bytes"
        )));
    }
    let url = Url::parse(raw.trim()).map_err(|e| CoreError::InvalidUrl(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(CoreError::InvalidUrl(
            "url must be an absolute http or https url".into(),
        ));
    }
    let hostname = url
        .host_str()
        .and_then(normalize_hostname)
        .ok_or_else(|| CoreError::InvalidUrl("url must have a host name".into()))?;

    let mut pathname = String::with_capacity(url.path().len());
    pathname.push_str(url.path());
    if !pathname.starts_with('/') {
        // The url crate always gives http(s) URLs a path starting with `/`; this
        // keeps the invariant even if that ever changes.
        pathname.insert(0, '/');
    }
    if let Some(route) = url.fragment().and_then(hash_route) {
        pathname.push('#');
        pathname.push_str(route);
    }
    let pathname = truncate_percent_encoded(&pathname, MAX_PATHNAME_LEN).to_owned();

    let mut utm = Utm::default();
    let mut ref_value = None;
    let mut source_value = None;
    for (key, value) in url.query_pairs() {
        let slot = if key.eq_ignore_ascii_case("utm_source") {
            &mut utm.source
        } else if key.eq_ignore_ascii_case("utm_medium") {
            &mut utm.medium
        } else if key.eq_ignore_ascii_case("utm_campaign") {
            &mut utm.campaign
        } else if key.eq_ignore_ascii_case("utm_term") {
            &mut utm.term
        } else if key.eq_ignore_ascii_case("utm_content") {
            &mut utm.content
        } else if key.eq_ignore_ascii_case("ref") {
            &mut ref_value
        } else if key.eq_ignore_ascii_case("source") {
            &mut source_value
        } else {
            continue;
        };
        // The first non-empty occurrence of a parameter wins.
        if slot.is_none() {
            *slot = clean_value(&value, MAX_PARAM_LEN);
        }
    }

    Ok(PageUrl {
        hostname,
        pathname,
        utm,
        ref_param: ref_value.or(source_value),
    })
}

/// Normalises a host name for display and comparison: lower case, without
/// trailing dots and without leading `www.` labels. Returns `None` when nothing
/// is left.
pub(crate) fn normalize_hostname(host: &str) -> Option<String> {
    let mut host = host.trim().trim_end_matches('.');
    // Stop before the last label, so that a host named just `www` survives.
    while let Some(rest) = strip_prefix_ignore_case(host, "www.") {
        if rest.is_empty() {
            break;
        }
        host = rest;
    }
    if host.is_empty() {
        None
    } else {
        Some(host.to_ascii_lowercase())
    }
}

/// `s` without `prefix`, compared ASCII-case-insensitively.
fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

/// The part of a fragment kept as a hash route: fragments starting with `/` or
/// `!/`, without their own query string. Other fragments are in-page anchors.
fn hash_route(fragment: &str) -> Option<&str> {
    if !(fragment.starts_with('/') || fragment.starts_with("!/")) {
        return None;
    }
    Some(fragment.split('?').next().unwrap_or(fragment))
}

/// Cuts a percent-encoded string to at most `max` bytes without leaving half of
/// a `%XX` escape at the end.
fn truncate_percent_encoded(s: &str, max: usize) -> &str {
    let cut = truncate_bytes(s, max);
    if cut.len() == s.len() {
        return cut;
    }
    let bytes = cut.as_bytes();
    let n = bytes.len();
    if n >= 1 && bytes[n - 1] == b'%' {
        return cut.get(..n - 1).unwrap_or(cut);
    }
    if n >= 2 && bytes[n - 2] == b'%' {
        return cut.get(..n - 2).unwrap_or(cut);
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(raw: &str) -> PageUrl {
        parse_page_url(raw).unwrap()
    }

    #[test]
    fn splits_host_path_and_drops_query() {
        let p = parse("https://www.Example.com/Pricing?plan=pro#faq");
        assert_eq!(p.hostname, "example.com");
        assert_eq!(p.pathname, "/Pricing");
        assert_eq!(p.utm, Utm::default());
        assert_eq!(p.ref_param, None);
    }

    #[test]
    fn accepts_local_development_urls() {
        let p = parse("http://localhost:3000/dashboard");
        assert_eq!(
            (p.hostname.as_str(), p.pathname.as_str()),
            ("localhost", "/dashboard")
        );
        assert_eq!(parse("http://127.0.0.1:8080").hostname, "127.0.0.1");
        assert_eq!(parse("http://127.0.0.1:8080").pathname, "/");
        assert_eq!(parse("http://[::1]:5173/x").hostname, "[::1]");
        assert_eq!(parse("https://example.com.").hostname, "example.com");
        assert_eq!(parse("  https://example.com/a  ").pathname, "/a");
    }

    #[test]
    fn refuses_non_http_and_relative_urls() {
        for raw in [
            "",
            "/pricing",
            "example.com/pricing",
            "localhost:3000/x",
            "ftp://example.com/",
            "file:///etc/passwd",
            "javascript:alert(1)",
            "data:text/html,hi",
            "chrome-extension://abc/page.html",
            "https://",
            "http://./",
        ] {
            assert!(
                matches!(parse_page_url(raw), Err(CoreError::InvalidUrl(_))),
                "{raw:?} should be refused"
            );
        }
    }

    #[test]
    fn refuses_over_long_urls_but_accepts_the_limit() {
        let base = "https://a.com/";
        let ok = format!("{base}{}", "a".repeat(MAX_URL_LEN - base.len()));
        assert!(parse_page_url(&ok).is_ok());
        let too_long = format!("{ok}a");
        assert!(parse_page_url(&too_long).is_err());
    }

    #[test]
    fn long_paths_are_cut_without_splitting_escapes() {
        let p = parse(&format!("https://a.com/{}", "a".repeat(3000)));
        assert_eq!(p.pathname.len(), MAX_PATHNAME_LEN);
        // Each non-ASCII character becomes a six-byte `%XX%XX` escape.
        let p = parse(&format!("https://a.com/x{}", "é".repeat(1000)));
        assert!(p.pathname.len() <= MAX_PATHNAME_LEN);
        let tail = &p.pathname[p.pathname.len() - 3..];
        assert!(tail.starts_with('%'), "{tail}");
    }

    #[test]
    fn keeps_hash_routes_only() {
        assert_eq!(parse("https://a.com/#/settings").pathname, "/#/settings");
        assert_eq!(
            parse("https://a.com/app#!/users/1").pathname,
            "/app#!/users/1"
        );
        assert_eq!(parse("https://a.com/#/search?q=x").pathname, "/#/search");
        assert_eq!(parse("https://a.com/docs#install").pathname, "/docs");
        assert_eq!(parse("https://a.com/docs#").pathname, "/docs");
    }

    #[test]
    fn reads_utm_and_ref_parameters() {
        let p = parse(
            "https://a.com/?utm_source=%20Newsletter%20&utm_medium=email&utm_campaign=spring+sale\
             &utm_term=&utm_content=top&ref=hn&source=ignored",
        );
        assert_eq!(p.utm.source.as_deref(), Some("Newsletter"));
        assert_eq!(p.utm.medium.as_deref(), Some("email"));
        assert_eq!(p.utm.campaign.as_deref(), Some("spring sale"));
        assert_eq!(p.utm.term, None);
        assert_eq!(p.utm.content.as_deref(), Some("top"));
        assert_eq!(p.ref_param.as_deref(), Some("hn"));
        assert!(!p.utm.is_empty());

        assert_eq!(
            parse("https://a.com/?source=producthunt")
                .ref_param
                .as_deref(),
            Some("producthunt")
        );
        assert_eq!(
            parse("https://a.com/?ref=%20&source=x")
                .ref_param
                .as_deref(),
            Some("x")
        );
        assert_eq!(
            parse("https://a.com/?utm_source=&utm_source=b")
                .utm
                .source
                .as_deref(),
            Some("b")
        );
        let long = parse(&format!("https://a.com/?utm_campaign={}", "c".repeat(500)));
        assert_eq!(long.utm.campaign.unwrap().chars().count(), MAX_PARAM_LEN);
    }

    #[test]
    fn hostnames_are_normalised() {
        assert_eq!(
            normalize_hostname("WWW.Example.COM").as_deref(),
            Some("example.com")
        );
        assert_eq!(
            normalize_hostname("www.www.a.com").as_deref(),
            Some("a.com")
        );
        assert_eq!(normalize_hostname("www").as_deref(), Some("www"));
        assert_eq!(normalize_hostname("www.").as_deref(), Some("www"));
        assert_eq!(normalize_hostname("wwwx.com").as_deref(), Some("wwwx.com"));
        assert_eq!(normalize_hostname("..."), None);
        assert_eq!(normalize_hostname(""), None);
        assert_eq!(normalize_hostname("wéw.x").as_deref(), Some("wéw.x"));
        assert_eq!(parse("https://bücher.de/").hostname, "xn--bcher-kva.de");
    }

    fn check_invariants(p: &PageUrl) -> Result<(), TestCaseError> {
        prop_assert!(!p.hostname.is_empty());
        prop_assert!(!p.hostname.chars().any(|c| c.is_ascii_uppercase()));
        prop_assert!(!p.hostname.starts_with("www."));
        prop_assert!(!p.hostname.ends_with('.'));
        prop_assert!(p.pathname.starts_with('/'));
        prop_assert!(p.pathname.len() <= MAX_PATHNAME_LEN);
        for value in [
            &p.utm.source,
            &p.utm.medium,
            &p.utm.campaign,
            &p.utm.term,
            &p.utm.content,
            &p.ref_param,
        ]
        .into_iter()
        .flatten()
        {
            prop_assert!(!value.is_empty());
            prop_assert_eq!(value.trim(), value.as_str());
            prop_assert!(value.chars().count() <= MAX_PARAM_LEN);
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_strings(raw in any::<String>()) {
            if let Ok(p) = parse_page_url(&raw) {
                check_invariants(&p)?;
            }
        }

        #[test]
        fn url_shaped_input_keeps_the_invariants(
            scheme in "(http|https|HTTP|ftp)",
            host in "(www\\.)?[a-zA-Z0-9.-]{0,20}(:[0-9]{1,5})?",
            path in "(/[^?#]{0,40}){0,5}",
            query in "(\\?(utm_[a-z]{0,8}|ref|source|x)=[^#&]{0,300}(&utm_source=[^#&]{0,20})?)?",
            fragment in "(#[!/]?[^ ]{0,40})?",
        ) {
            let raw = format!("{scheme}://{host}{path}{query}{fragment}");
            if let Ok(p) = parse_page_url(&raw) {
                check_invariants(&p)?;
            }
        }

        #[test]
        fn long_paths_stay_within_bounds(path in "/[a-zA-Z0-9/%é#!?=&]{0,5000}") {
            let raw = format!("https://example.com{path}");
            if let Ok(p) = parse_page_url(&raw) {
                check_invariants(&p)?;
            }
        }
    }
}
