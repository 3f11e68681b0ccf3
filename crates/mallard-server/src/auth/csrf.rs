//! CSRF protection for browser-authenticated state changes.
//!
//! A server on 127.0.0.1 is reachable from every page the user opens. A
//! state-changing request that a browser could have sent on the user's behalf
//! (authenticated by the session cookie, or in open-access mode) must come from
//! the dashboard itself: its `Origin` (or, without one, its `Referer`) must be
//! the server's own origin or the configured dashboard origin.
//!
//! A request with neither `Origin` nor `Referer` passes only when the caller
//! vouches for it ([`Headerless`]) and it carries no session cookie. Lacking
//! the headers proves nothing by itself: browsers send `Origin` on every
//! state-changing request today, but a privacy extension, an old browser or a
//! proxy can strip it. So the caller allows a header-less request only when
//! something a web page cannot supply authenticates it:
//! - an API key or the local admin token (those skip this check entirely);
//! - open access from a client straight on this machine, which can do
//!   everything anyway (any local program can also forge `Origin`);
//! - the valid one-time setup token (setup) or the password itself (login);
//!
//! and never when a session cookie came along (a browser sent it on the
//! user's behalf). Logout runs no check: it always answers 200 and ends the
//! session only when the request is not from a foreign origin.

use axum::http::{HeaderMap, Method, header};

use super::session_token;

/// Whether the caller vouches for a request that names no origin: see the
/// module documentation for when it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Headerless {
    /// Something a web page cannot supply authenticates the request.
    Vouched,
    /// Nothing does: a request without `Origin` and `Referer` is refused.
    Refused,
}

/// Whether a request with `method` and `headers` passes the CSRF check.
/// `extra_origin` is the configured dashboard origin, if any; `headerless`
/// decides a state change that names no origin.
pub fn allows(
    method: &Method,
    headers: &HeaderMap,
    extra_origin: Option<&str>,
    headerless: Headerless,
) -> bool {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return true;
    }
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let same_origin = |origin: &str| {
        let origin = origin.trim_end_matches('/');
        extra_origin.is_some_and(|extra| extra.trim_end_matches('/').eq_ignore_ascii_case(origin))
            || origin.split_once("://").is_some_and(|(_, authority)| {
                host.is_some_and(|h| h.eq_ignore_ascii_case(authority))
            })
    };
    if let Some(origin) = headers.get(header::ORIGIN) {
        return origin.to_str().is_ok_and(same_origin);
    }
    if let Some(referer) = headers.get(header::REFERER) {
        return referer
            .to_str()
            .ok()
            .and_then(referer_origin)
            .is_some_and(|o| same_origin(&o));
    }
    headerless == Headerless::Vouched && session_token(headers).is_none()
}

/// Whether the request names an origin other than the server's own or the
/// configured dashboard origin (a cross-site request). A request naming no
/// origin is not foreign.
pub fn is_foreign(headers: &HeaderMap, extra_origin: Option<&str>) -> bool {
    !allows(&Method::POST, headers, extra_origin, Headerless::Vouched)
        && (headers.contains_key(header::ORIGIN) || headers.contains_key(header::REFERER))
}

/// `scheme://authority` of a Referer URL.
fn referer_origin(referer: &str) -> Option<String> {
    let (scheme, rest) = referer.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    Some(format!("{scheme}://{authority}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    header::HeaderName::from_static(k),
                    HeaderValue::from_static(v),
                )
            })
            .collect()
    }

    fn allows(method: &Method, headers: &HeaderMap, extra: Option<&str>) -> bool {
        super::allows(method, headers, extra, Headerless::Vouched)
    }

    #[test]
    fn only_the_dashboard_origin_may_change_state_from_a_browser() {
        let post = Method::POST;
        let host = ("host", "127.0.0.1:8000");
        assert!(allows(
            &post,
            &headers(&[host, ("origin", "http://127.0.0.1:8000")]),
            None
        ));
        assert!(!allows(
            &post,
            &headers(&[host, ("origin", "https://evil.test")]),
            None
        ));
        assert!(!allows(&post, &headers(&[host, ("origin", "null")]), None));
        assert!(allows(
            &post,
            &headers(&[host, ("origin", "https://dash.example")]),
            Some("https://dash.example")
        ));
        assert!(allows(
            &post,
            &headers(&[host, ("referer", "http://127.0.0.1:8000/#/keys")]),
            None
        ));
        assert!(!allows(
            &post,
            &headers(&[host, ("referer", "https://evil.test/page")]),
            None
        ));
        assert!(!allows(
            &post,
            &headers(&[host, ("cookie", "mm_session=abc")]),
            None
        ));
        assert!(
            allows(&post, &headers(&[host]), None),
            "programs send neither header"
        );
        assert!(
            !super::allows(&post, &headers(&[host]), None, Headerless::Refused),
            "lacking both headers is no credential"
        );
        assert!(super::allows(
            &post,
            &headers(&[host, ("origin", "http://127.0.0.1:8000")]),
            None,
            Headerless::Refused
        ));
        assert!(allows(
            &Method::GET,
            &headers(&[host, ("origin", "https://evil.test")]),
            None
        ));
    }

    #[test]
    fn only_a_named_foreign_origin_is_foreign() {
        let host = ("host", "127.0.0.1:8000");
        assert!(is_foreign(
            &headers(&[host, ("origin", "https://evil.test")]),
            None
        ));
        assert!(is_foreign(
            &headers(&[host, ("referer", "https://evil.test/x")]),
            None
        ));
        assert!(!is_foreign(
            &headers(&[host, ("origin", "http://127.0.0.1:8000")]),
            None
        ));
        assert!(!is_foreign(
            &headers(&[host, ("cookie", "mm_session=abc")]),
            None
        ));
    }
}
