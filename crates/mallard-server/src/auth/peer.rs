//! Whether a request comes straight from this machine.
//!
//! Open access (no admin password yet) is granted only to such requests: the
//! TCP peer is a loopback address (127.0.0.0/8 or ::1), the peer is not a
//! configured trusted proxy, and the request carries no forwarding header
//! (`Forwarded`, `X-Forwarded-For`, `X-Real-IP`). A reverse proxy on this
//! machine forwards other machines' requests from a loopback address; it
//! announces them with those headers (or is listed in `trusted_proxies`), so
//! they never count as local. A local proxy that neither adds the headers nor
//! is configured as trusted cannot be told apart: set the password before
//! putting the server behind one.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap};
use ipnet::IpNet;

use crate::state::AppState;

/// The headers with which a proxy names the client it forwards for.
const FORWARDING_HEADERS: [&str; 3] = ["forwarded", "x-forwarded-for", "x-real-ip"];

/// Whether the request came straight from a loopback client (see the module
/// documentation), extracted from the connection and the headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirectLoopback(pub bool);

impl FromRequestParts<AppState> for DirectLoopback {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(is_direct_loopback(
            parts,
            &state.config.trusted_proxies,
        )))
    }
}

/// Whether the request of `parts` came straight from a loopback client. A
/// request without connection information (no `ConnectInfo`) is not local.
pub fn is_direct_loopback(parts: &Parts, trusted_proxies: &[IpNet]) -> bool {
    request_is_direct_loopback(&parts.extensions, &parts.headers, trusted_proxies)
}

/// [`is_direct_loopback`] for a request's `extensions` and `headers`.
pub fn request_is_direct_loopback(
    extensions: &Extensions,
    headers: &HeaderMap,
    trusted_proxies: &[IpNet],
) -> bool {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|info| direct_loopback(info.0.ip(), headers, trusted_proxies))
}

/// Whether a request from `peer` with `headers` came straight from a loopback
/// client.
pub fn direct_loopback(peer: IpAddr, headers: &HeaderMap, trusted_proxies: &[IpNet]) -> bool {
    is_loopback(peer)
        && !trusted_proxies.iter().any(|net| net.contains(&peer))
        && !FORWARDING_HEADERS
            .iter()
            .any(|name| headers.contains_key(*name))
}

/// Whether `ip` is a loopback address, IPv4-mapped IPv6 included.
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn only_unforwarded_loopback_peers_are_local() {
        let none = HeaderMap::new();
        for local in ["127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1"] {
            assert!(direct_loopback(ip(local), &none, &[]), "{local}");
        }
        for remote in [
            "192.168.1.5",
            "0.0.0.0",
            "::",
            "203.0.113.9",
            "::ffff:10.0.0.1",
        ] {
            assert!(!direct_loopback(ip(remote), &none, &[]), "{remote}");
        }
        let proxy = ["127.0.0.0/8".parse().unwrap()];
        assert!(
            !direct_loopback(ip("127.0.0.1"), &none, &proxy),
            "a trusted proxy forwards other machines"
        );
        for header in FORWARDING_HEADERS {
            let mut headers = HeaderMap::new();
            headers.insert(header, HeaderValue::from_static("203.0.113.9"));
            assert!(!direct_loopback(ip("127.0.0.1"), &headers, &[]), "{header}");
        }
    }
}
