//! CSRF protection for browser-authenticated state changes.
//!
//! A server on 127.0.0.1 is reachable from every page the user opens. A
//! state-changing request that a browser could have sent on the user's behalf
//! (authenticated by the session cookie, or in open-access mode) must come from
//! the dashboard itself: its `Origin` (or, without one, its `Referer`) must be
//! the server's own origin or the configured dashboard origin. A browser always
//! sends `Origin` on such requests; a request with neither header and no
//! session cookie comes from a program (curl, scripts), not from a page.

use axum::http::{HeaderMap, Method, header};

use super::session_token;

/// Whether a request with `method` and `headers` passes the CSRF check.
/// `extra_origin` is the configured dashboard origin, if any.
pub fn allows(method: &Method, headers: &HeaderMap, extra_origin: Option<&str>) -> bool {
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
    session_token(headers).is_none()
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
        assert!(allows(
            &Method::GET,
            &headers(&[host, ("origin", "https://evil.test")]),
            None
        ));
    }
}
