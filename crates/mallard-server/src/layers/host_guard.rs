//! Protection against DNS rebinding.
//!
//! A page on `evil.example` can make its host name resolve to 127.0.0.1 and then
//! talk to this server as if it were same-origin; its requests still name
//! `evil.example` in `Host`. So every endpoint except ingestion, the tracker and
//! the collector's `/healthz` (which touches no state) refuses a `Host` that is
//! not one of:
//! - a loopback name (`localhost`, `*.localhost`) or loopback address
//!   (127.0.0.0/8, `::1`);
//! - the configured listening host (`host`), by name or by address;
//! - a configured public host name (`public_hostnames`, which may also list
//!   addresses, for example the public address of a NAT);
//! - when the server listens on every interface (`0.0.0.0` or `::`), any other
//!   IP address, but only for a request that open access does not cover (a
//!   password is set, or the client is not straight on this machine). The
//!   machine's own interface addresses cannot be listed without a new
//!   dependency; a browser sends an IP-literal `Host` only to that very
//!   address, so no rebinding is possible, and such a request gets no more
//!   than its credentials give it. This lets another machine open the
//!   first-run screen at `http://192.0.2.10:8000/` and set the password with
//!   the setup token.
//!
//! `/health`, `/health/ready` and `/health/detailed` are guarded too, so a
//! rebinding page learns nothing about the server.

use std::net::IpAddr;

use axum::extract::Request;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::AppState;

/// Paths that any host may reach: ingestion, the tracker and the collector's
/// liveness check (`{"status":"ok"}`, which orchestrators probe by address).
fn is_open_path(path: &str) -> bool {
    matches!(
        path,
        "/api/event"
            | "/mallard.js"
            | "/events"
            | "/v1/events"
            | "/s2s/events"
            | "/v1/s2s/events"
            | "/healthz"
            | "/v1/healthz"
    )
}

/// Refuses a request naming a foreign host: the 403 response with a JSON
/// body, or `None` when the request may go on.
pub fn refusal(state: &AppState, request: &Request) -> Option<Response> {
    if is_open_path(request.uri().path()) {
        return None;
    }
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()));
    let open_access = !state.auth.password_configured()
        && crate::auth::peer::request_is_direct_loopback(
            request.extensions(),
            request.headers(),
            &state.config.trusted_proxies,
        );
    let allowed = host.is_some_and(|host| {
        host_allowed(
            host,
            &state.config.host,
            &state.config.public_hostnames,
            open_access,
        )
    });
    if allowed {
        None
    } else {
        metrics::counter!("mallard_host_rejected_total").increment(1);
        Some(ApiError::Forbidden("Host not allowed".into()).into_response())
    }
}

/// Whether a `Host` header value names this server, which listens on
/// `configured` (a name or an address) and is also reached as `public`, for a
/// request that open access covers when `open_access` (see the module
/// documentation).
pub fn host_allowed(host: &str, configured: &str, public: &[String], open_access: bool) -> bool {
    let name = strip_port(host.trim()).to_ascii_lowercase();
    let name = name.trim_end_matches('.');
    if name.is_empty() {
        return false;
    }
    let configured = configured.trim().to_ascii_lowercase();
    let configured = configured.trim_start_matches('[').trim_end_matches(']');
    let listening = configured.parse::<IpAddr>().ok();
    if name == "localhost"
        || name.ends_with(".localhost")
        || (listening.is_none() && name == configured)
        || public.iter().any(|p| p.eq_ignore_ascii_case(name))
    {
        return true;
    }
    let bare = name.trim_start_matches('[').trim_end_matches(']');
    let Ok(address) = bare.parse::<IpAddr>() else {
        return false;
    };
    let wildcard = listening.is_some_and(|ip| ip.is_unspecified());
    crate::auth::peer::is_loopback(address)
        || (!wildcard && listening == Some(address))
        || (wildcard && !open_access)
}

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        // [v6]:port
        return rest
            .split_once(']')
            .map_or(host, |(v6, _)| &host[..v6.len() + 2]);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_configured_hosts_pass_and_others_do_not() {
        let public = vec!["stats.example.com".to_owned(), "198.51.100.4".to_owned()];
        for open_access in [false, true] {
            for ok in [
                "localhost:8000",
                "127.0.0.1:8000",
                "127.0.0.2",
                "[::1]:8000",
                "app.localhost",
                "stats.example.com",
                "STATS.example.com:443",
                "198.51.100.4:80",
                "myhost:1",
            ] {
                assert!(host_allowed(ok, "myhost", &public, open_access), "{ok}");
            }
            for bad in [
                "evil.example",
                "evil.example:8000",
                "localhost.evil.example",
                "",
                "127.0.0.1.nip.io",
                "1.2.3.4",
                "192.168.1.5:8000",
                "0.0.0.0:8000",
                "[2001:db8::1]:8000",
            ] {
                assert!(!host_allowed(bad, "myhost", &public, open_access), "{bad}");
            }
        }
    }

    #[test]
    fn addresses_pass_as_the_listening_one_or_on_a_wildcard_outside_open_access() {
        assert!(host_allowed("192.168.1.5:8000", "192.168.1.5", &[], true));
        assert!(!host_allowed("192.168.1.6:8000", "192.168.1.5", &[], false));
        assert!(host_allowed("[2001:db8::1]:8000", "2001:db8::1", &[], true));
        for wildcard in ["0.0.0.0", "::"] {
            assert!(!host_allowed("1.2.3.4", wildcard, &[], true), "{wildcard}");
            assert!(
                !host_allowed("0.0.0.0:8000", wildcard, &[], true),
                "{wildcard}"
            );
            assert!(
                host_allowed("192.168.1.5:8000", wildcard, &[], false),
                "{wildcard}"
            );
            assert!(
                !host_allowed("evil.example", wildcard, &[], false),
                "{wildcard}"
            );
        }
    }

    #[test]
    fn only_ingestion_tracker_and_collector_liveness_are_open() {
        for open in [
            "/api/event",
            "/mallard.js",
            "/events",
            "/v1/s2s/events",
            "/healthz",
            "/v1/healthz",
        ] {
            assert!(is_open_path(open), "{open}");
        }
        for guarded in [
            "/",
            "/api/keys",
            "/api/auth/login",
            "/api/stats/main",
            "/metrics",
            "/health",
            "/health/ready",
            "/health/detailed",
            "/healthcheck",
        ] {
            assert!(!is_open_path(guarded), "{guarded}");
        }
    }
}
