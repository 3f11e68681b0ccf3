//! The client's IP address, taking trusted proxies into account.
//!
//! The address is used in memory only (visitor ids, rate limits) and is never
//! stored or logged.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use ipnet::IpNet;

use crate::state::AppState;

/// The IP address of the client that sent the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip());
        Ok(Self(resolve(
            peer,
            &parts.headers,
            &state.config.trusted_proxies,
        )))
    }
}

/// The client address, by one rule:
///
/// 1. A peer that is not a trusted proxy is the client; forwarding headers are
///    ignored.
/// 2. From a trusted proxy, when `X-Forwarded-For` is present (in one or more
///    header lines), it alone decides: its entries are walked from the right,
///    past trusted proxies, and the first untrusted address is the client. If
///    every entry is trusted, or an entry that is not an address is reached
///    first, the last trusted address walked past is the client (the peer if
///    there was none). `X-Real-IP` is not consulted.
/// 3. From a trusted proxy without `X-Forwarded-For`, a valid `X-Real-IP` is the
///    client; otherwise the peer is.
///
/// IPv4 addresses mapped into IPv6 are returned as IPv4.
pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut lines = headers.get_all("x-forwarded-for").iter().peekable();
    if lines.peek().is_none() {
        return headers
            .get("x-real-ip")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<IpAddr>().ok())
            .map_or(peer, |ip| ip.to_canonical());
    }
    let entries: Vec<&str> = lines
        .map(|value| value.to_str().unwrap_or(""))
        .flat_map(|value| value.split(','))
        .collect();
    let mut client = peer;
    for entry in entries.iter().rev() {
        let Ok(ip) = entry.trim().parse::<IpAddr>().map(|ip| ip.to_canonical()) else {
            break;
        };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn forwarded_headers_count_only_from_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let trusted = ["10.0.0.0/8".parse().unwrap()];
        let forwarded = headers(&[("x-forwarded-for", "198.51.100.7, 10.0.0.2")]);
        assert_eq!(
            resolve(proxy, &forwarded, &trusted),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(resolve(proxy, &forwarded, &[]), proxy);
        let stranger: IpAddr = "203.0.113.1".parse().unwrap();
        assert_eq!(resolve(stranger, &forwarded, &trusted), stranger);
        let real = headers(&[("x-real-ip", "198.51.100.8")]);
        assert_eq!(
            resolve(proxy, &real, &trusted),
            "198.51.100.8".parse::<IpAddr>().unwrap()
        );
        assert_eq!(resolve(stranger, &real, &trusted), stranger);
        let spoofed = headers(&[("x-forwarded-for", "1.1.1.1, 198.51.100.7")]);
        assert_eq!(
            resolve(proxy, &spoofed, &trusted),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn x_real_ip_counts_only_without_x_forwarded_for() {
        let proxy = ip("10.0.0.1");
        let trusted = ["10.0.0.0/8".parse().unwrap()];
        let both = headers(&[
            ("x-forwarded-for", "10.0.0.9"),
            ("x-real-ip", "198.51.100.8"),
        ]);
        assert_eq!(resolve(proxy, &both, &trusted), ip("10.0.0.9"));
        let garbage = headers(&[
            ("x-forwarded-for", "not-an-address"),
            ("x-real-ip", "198.51.100.8"),
        ]);
        assert_eq!(resolve(proxy, &garbage, &trusted), proxy);
        let bad_real = headers(&[("x-real-ip", "nope")]);
        assert_eq!(resolve(proxy, &bad_real, &trusted), proxy);
    }

    #[test]
    fn the_walk_stops_at_the_first_entry_that_is_not_an_address() {
        let proxy = ip("10.0.0.1");
        let trusted = ["10.0.0.0/8".parse().unwrap()];
        let forwarded = headers(&[("x-forwarded-for", "198.51.100.1, junk, 10.0.0.3, 10.0.0.2")]);
        assert_eq!(resolve(proxy, &forwarded, &trusted), ip("10.0.0.3"));
        let lines = headers(&[
            ("x-forwarded-for", "203.0.113.9"),
            ("x-forwarded-for", "198.51.100.1, 10.0.0.2"),
        ]);
        assert_eq!(resolve(proxy, &lines, &trusted), ip("198.51.100.1"));
    }

    #[test]
    fn mapped_ipv4_peers_and_entries_are_ipv4() {
        let trusted = ["127.0.0.1/32".parse().unwrap()];
        let forwarded = headers(&[("x-forwarded-for", "::ffff:198.51.100.1")]);
        assert_eq!(
            resolve(ip("::ffff:127.0.0.1"), &forwarded, &trusted),
            ip("198.51.100.1")
        );
    }
}
