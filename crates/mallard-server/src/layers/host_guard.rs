//! Protection against DNS rebinding.
//!
//! A page on `evil.example` can make its host name resolve to 127.0.0.1 and then
//! talk to this server as if it were same-origin; its requests still name
//! `evil.example` in `Host`. So every endpoint except ingestion, the tracker and
//! health checks refuses a `Host` that is not a loopback name, an IP address
//! (a browser sends an IP host only to that IP's own origin), the configured
//! listening host, or a configured public host name.

use std::net::IpAddr;

use axum::extract::Request;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::AppState;

/// Paths that any host may reach: ingestion, the tracker and health checks.
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
    ) || path == "/health"
        || path.starts_with("/health/")
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
    let allowed = host
        .is_some_and(|host| host_allowed(host, &state.config.host, &state.config.public_hostnames));
    if allowed {
        None
    } else {
        metrics::counter!("mallard_host_rejected_total").increment(1);
        Some(ApiError::Forbidden("Host not allowed".into()).into_response())
    }
}

/// Whether a `Host` header value names this server.
pub fn host_allowed(host: &str, configured: &str, public: &[String]) -> bool {
    let name = strip_port(host.trim()).to_ascii_lowercase();
    let name = name.trim_end_matches('.');
    if name.is_empty() {
        return false;
    }
    let bare = name.trim_start_matches('[').trim_end_matches(']');
    name == "localhost"
        || name.ends_with(".localhost")
        || bare.parse::<IpAddr>().is_ok()
        || name.eq_ignore_ascii_case(configured)
        || public.iter().any(|p| p == name)
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
    fn loopback_ip_and_configured_hosts_pass_and_others_do_not() {
        let public = vec!["stats.example.com".to_owned()];
        for ok in [
            "localhost:8000",
            "127.0.0.1:8000",
            "[::1]:8000",
            "app.localhost",
            "192.168.1.5:8000",
            "stats.example.com",
            "STATS.example.com:443",
            "myhost:1",
        ] {
            assert!(host_allowed(ok, "myhost", &public), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:8000",
            "localhost.evil.example",
            "",
            "127.0.0.1.nip.io",
        ] {
            assert!(!host_allowed(bad, "myhost", &public), "{bad}");
        }
    }

    #[test]
    fn only_ingestion_tracker_and_health_are_open() {
        for open in [
            "/api/event",
            "/mallard.js",
            "/health",
            "/health/ready",
            "/events",
            "/v1/s2s/events",
            "/healthz",
        ] {
            assert!(is_open_path(open), "{open}");
        }
        for guarded in [
            "/",
            "/api/keys",
            "/api/auth/login",
            "/api/stats/main",
            "/metrics",
            "/healthcheck",
        ] {
            assert!(!is_open_path(guarded), "{guarded}");
        }
    }
}
